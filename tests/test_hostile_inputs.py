"""Hostile inputs to nodis predict and load_image: FIFOs, devices, symbolic link loops, broken links,
a huge file that is no image (never read whole), prefetch memory bounded by pixels, damaged
resume indexes, temporary files of killed runs, and a format failing for one image."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

from nodis import export, predict
from nodis.config import preset
from nodis.data.transforms import image_size, load_image
from nodis.errors import ImageError
from nodis.model import NODIS
from nodis.predict import _Item, _prefetch, predict_paths
from nodis.vocab import vg150
from tests.helpers import make_image


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = preset("demo", num_classes=151, num_predicates=51, max_objects=4, rpn_post_nms=16, image_size=128)
    return NODIS(cfg, vg150()).eval()


def images(folder, names, size=(48, 40)):
    folder.mkdir(parents=True, exist_ok=True)
    for k, n in enumerate(names):
        make_image(*size, seed=k).save(folder / n)
    return folder


def finishes(fn, *args):
    """Run ``fn`` in a daemon thread; the value, or a failure if it blocks (a FIFO would block forever)."""
    box = {}

    def run():
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(120)
    assert not t.is_alive(), f"{fn.__name__} blocked"
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_special_files_and_links_are_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo.jpg")
    with pytest.raises(ImageError, match="is a FIFO, not a regular file"):
        finishes(load_image, tmp_path / "fifo.jpg")
    assert finishes(image_size, tmp_path / "fifo.jpg") is None
    if os.path.exists("/dev/zero"):
        with pytest.raises(ImageError, match="is a device"):
            finishes(load_image, "/dev/zero")
    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    with pytest.raises(ImageError, match="symbolic link loop"):
        load_image(tmp_path / "loop.jpg")
    (tmp_path / "broken.jpg").symlink_to(tmp_path / "nowhere.jpg")
    with pytest.raises(ImageError, match="no such file .*broken symbolic link"):
        load_image(tmp_path / "broken.jpg")
    (tmp_path / "dir.jpg").mkdir()
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path / "dir.jpg")


def test_a_run_with_fifos_and_link_loops_fails_those_images_only(model, tmp_path):
    src = images(tmp_path / "in", ["a.png", "c.png"])
    os.mkfifo(src / "b.jpg")
    (src / "d.jpg").symlink_to(src / "d.jpg")
    (src / "sub").mkdir()
    (src / "sub" / "up").symlink_to(src, target_is_directory=True)  # a folder loop: not followed
    for workers in (0, 2):
        out = tmp_path / f"out{workers}"
        s = finishes(lambda o=out, w=workers: predict_paths(model, [src], o, workers=w))
        assert s.done == 2 and sorted(s.failed) == [str(src / "b.jpg"), str(src / "d.jpg")]
        assert "FIFO" in s.failed[str(src / "b.jpg")] and "link loop" in s.failed[str(src / "d.jpg")]
        assert sorted(p.name for p in out.glob("*.json")) == ["a.json", "c.json"]


def test_a_huge_file_that_is_no_image_is_not_read(tmp_path):
    big = tmp_path / "huge.jpg"
    with open(big, "wb") as f:  # sparse: 3 GB that take no disk space
        f.write(b"\x00garbage that is no image header")
        f.truncate(3 * 2**30)
    code = (
        "import resource, sys\n"
        "from nodis.data.transforms import load_image\n"
        "from nodis.errors import ImageError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        f"    load_image({str(big)!r})\n"
        "except ImageError as e:\n"
        "    print('refused:', e)\n"
        "print('grew_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       cwd=os.path.dirname(os.path.dirname(__file__)))
    assert r.returncode == 0, r.stderr
    assert "refused:" in r.stdout and "not an image file" in r.stdout
    grew_kb = int(r.stdout.split("grew_kb")[1])
    assert grew_kb < 100 * 1024, f"reading it grew the process by {grew_kb} kB"


def test_prefetch_holds_images_by_pixels_not_by_count(tmp_path, monkeypatch):
    sizes = [(400, 300), (1200, 1000), (1300, 1100), (50, 40), (60, 50), (1250, 1000), (70, 50), (80, 60)]
    items = []
    for k, (w, h) in enumerate(sizes):
        p = tmp_path / f"im{k}.png"
        make_image(w, h, seed=k).save(p)
        items.append(_Item(p, f"im{k}", k, str(p)))
    lock = threading.Lock()
    live = {"px": 0, "max": 0}
    real = predict.load_image

    def counting(path):
        im = real(path)
        with lock:
            live["px"] += im.width * im.height
            live["max"] = max(live["max"], live["px"])
        return im

    monkeypatch.setattr(predict, "load_image", counting)
    budget = 1_500_000
    largest = max(w * h for w, h in sizes)
    got = []
    for it, im, err in _prefetch(items, workers=3, budget=budget):
        assert err is None
        time.sleep(0.01)  # the model's turn: the decoders run ahead meanwhile
        got.append(it.name)
        with lock:
            live["px"] -= im.width * im.height
    assert got == [f"im{k}" for k in range(len(sizes))]
    # decoded and not yet handed over, plus the one in use: never more than the budget plus one image
    assert live["max"] <= budget + largest
    assert live["px"] == 0


def test_resume_survives_a_damaged_index(model, tmp_path):
    src = images(tmp_path / "in", ["a.png", "b.png", "c.png"])
    out = tmp_path / "out"
    assert predict_paths(model, [src], out, workers=0).done == 3
    with open(out / "index.jsonl", "ab") as f:
        f.write(b"\xff\xfe not utf-8\n[1, 2]\n5\n\"text\"\n{\"image\": 7, \"outputs\": \"x\"}\n"
                b"{\"resolved\": \"/etc/passwd\", \"status\": \"ok\", \"outputs\": {\"json\": \"../../x\"}}\n{\"trunc")
    (out / "b.json").unlink()
    s = predict_paths(model, [src], out, resume=True, workers=0)
    assert (s.done, s.skipped, s.failed) == (1, 2, {})
    assert sorted(p.name for p in out.glob("*.json")) == ["a.json", "b.json", "c.json"]


def test_temporary_files_of_a_killed_run_are_removed(model, tmp_path):
    src = images(tmp_path / "in", ["a.png"])
    out = tmp_path / "out"
    out.mkdir()
    dead = [out / ".a.json.k1l2e3d4.tmp", out / ".scene_graphs.json.abcdefgh.tmp", out / ".a.png.x_y_z_12.tmp"]
    keep = [out / ".notes.txt.abcdefgh.tmp", out / "a.json.tmp", out / ".a.json.short.tmp"]  # not nodis' own
    past = time.time() - 3600
    for p in dead + keep:
        p.write_bytes(b"x" * 100)
        os.utime(p, (past, past))
    fd, live = export.temp_file(out / "b.json")  # another process is writing this one right now
    os.utime(live, (past, past))
    try:
        predict_paths(model, [src], out, workers=0)
        assert not any(p.exists() for p in dead)
        assert all(p.exists() for p in keep) and os.path.exists(live)
    finally:
        os.close(fd)
        os.unlink(live)


def test_outputs_follow_the_umask(model, tmp_path):
    src = images(tmp_path / "in", ["a.png"])
    old = os.umask(0o027)
    saved = export._UMASK
    export._UMASK = 0o027
    try:
        predict_paths(model, [src], tmp_path / "out", formats="json,csv,vg", workers=0)
    finally:
        os.umask(old)
        export._UMASK = saved
    for name in ("a.json", "a.csv", "scene_graphs.json"):
        assert (tmp_path / "out" / name).stat().st_mode & 0o777 == 0o640, name


def test_a_failing_format_leaves_none_of_that_images_files(model, tmp_path, monkeypatch):
    src = images(tmp_path / "in", ["a.png", "b.png", "c.png"])
    out = tmp_path / "out"
    real = export.FORMATS["csv"].writer

    def flaky(graph, path, **kw):
        if "b" in path.name:
            raise ValueError("csv writer failed for b")
        return real(graph, path, **kw)

    monkeypatch.setitem(export.FORMATS, "csv", export.FormatSpec(".csv", flaky))
    s = predict_paths(model, [src], out, formats="json,graphml,csv,svg", workers=0)
    assert s.done == 2 and list(s.failed) == [str(src / "b.png")]
    names = sorted(p.name for p in out.iterdir() if p.is_file())
    assert not [n for n in names if n.startswith("b.")]
    assert [n for n in names if n.startswith("a.")] == ["a.csv", "a.graphml", "a.json", "a.svg"]
    status = {r["name"]: r["status"] for r in export.read_jsonl(out / "index.jsonl", strict=True)}
    assert status == {"a": "ok", "b": "error", "c": "ok"}


def test_header_sizes_are_read_without_decoding(tmp_path):
    make_image(300, 200).save(tmp_path / "x.png")
    (tmp_path / "x.txt.jpg").write_bytes(b"not an image" * 10)
    assert image_size(tmp_path / "x.png") == (300, 200)
    assert image_size(tmp_path / "x.txt.jpg") is None
    # formats nodis does not decode are refused even where Pillow has a plugin (EPS runs Ghostscript)
    (tmp_path / "x.eps.jpg").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(ImageError, match="not an image file"):
        load_image(tmp_path / "x.eps.jpg")
    make_image(30, 20).save(tmp_path / "x.ico.jpg", format="ICO")
    with pytest.raises(ImageError, match="not an image file"):
        load_image(tmp_path / "x.ico.jpg")
    arr = np.asarray(load_image(tmp_path / "x.png"))
    assert arr.shape == (200, 300, 3)
