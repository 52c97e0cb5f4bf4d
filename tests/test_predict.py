"""nodis.predict: input expansion, naming, options, boxes files, the batch run (resume, shards,
interruption, failures) and the per-image document."""
import json
import os

import numpy as np
import pytest
import torch

from nodis import export
from nodis.config import preset
from nodis.data.world import world_vocabulary
from nodis.errors import ConfigError, InputError
from nodis.graph import SceneGraph
from nodis.model import NODIS
from nodis.predict import (
    SCHEMA,
    BoxSource,
    default_shard,
    expand_inputs,
    output_names,
    output_times,
    parse_formats,
    parse_shard,
    parse_times,
    predict_image,
    predict_paths,
    read_prediction,
)
from tests.helpers import make_image


def tiny_model() -> NODIS:
    """The random-init demo model with small caps (few objects) so that sgdet stays fast on 2 cores."""
    torch.manual_seed(0)
    v = world_vocabulary()
    cfg = preset("demo", num_classes=v.num_classes, num_predicates=v.num_predicates, max_objects=5,
                 rpn_post_nms=24, image_size=160)
    return NODIS(cfg, v).eval()


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def images(folder, n, size=(64, 48), names=None):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        p = folder / (names[k] if names else f"im{k}.png")
        make_image(*size, seed=k).save(p)
        paths.append(p)
    return paths


def index_lines(out):
    return export.read_jsonl(out / "index.jsonl", strict=True)


# ------------------------------------------------------------------------------------------ inputs
def test_expand_inputs_folders_lists_dedup_and_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    images(tmp_path / "photos" / "b", 1, names=["z.JPG"])
    images(tmp_path / "photos", 2, names=["b.png", "a.jpg"])
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    (tmp_path / "photos" / ".hidden.png").write_bytes(b"x")
    (tmp_path / "photos" / ".cache").mkdir()
    images(tmp_path / "photos" / ".cache", 1, names=["c.png"])
    images(tmp_path / "photos" / "out", 1, names=["old.png"])  # an earlier output folder inside the input
    (tmp_path / "list.txt").write_text("# my list\nphotos/a.jpg\n\n  photos/b.png  \nmissing.png\n")

    got = expand_inputs(["photos", "list.txt", "photos/a.jpg", "./photos/../photos/a.jpg"],
                        exclude=[tmp_path / "photos" / "out"])
    assert [p.as_posix() for p in got] == ["missing.png", "photos/a.jpg", "photos/b.png", "photos/b/z.JPG"]
    # list entries are relative to the list file, not to the current folder
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "l.txt").write_text("../photos/b.png\n")
    assert [p.name for p in expand_inputs(["sub/l.txt"])] == ["b.png"]
    with pytest.raises(InputError, match="nope.jpg: no such file"):
        expand_inputs(["photos", "nope.jpg"])


def test_output_names_are_distinct_and_deterministic(tmp_path):
    P = lambda s: tmp_path / s  # noqa: E731
    paths = [P("a/x.jpg"), P("b/x.jpg"), P("c/y.jpg"), P("c/y.png"), P("d/index.png"), P("d/solo.jpg"),
             P("e/X.jpg")]
    names = output_names(paths)
    assert names == ["a__x", "b__x", "y.jpg", "y.png", "index.png", "solo", "e__X"]
    assert len({n.lower() for n in names}) == len(names)
    assert output_names(paths) == names
    assert output_names([P("a/x.jpg")]) == ["x"]


# ------------------------------------------------------------------------------------------ options
def test_parse_times_and_output_times():
    grid = parse_times("0:2.5:0.05")
    assert len(grid) == 51 and grid[0] == 0.0 and grid[-1] == 2.5 and grid[1] == 0.05
    assert parse_times("0:1:0.3") == [0.0, 0.3, 0.6, 0.9]
    assert parse_times("0.5, 1.5") == [0.5, 1.5]
    assert parse_times("2") == [2.0]
    assert parse_times(None) is None
    assert output_times("0:1:0.3", 1.5) == [0.0, 0.3, 0.6, 0.9, 1.5]
    assert output_times(None, 1.5) == [1.5]
    assert output_times("1.5,0.5,0.5", 1.5) == [0.5, 1.5]
    for bad in ("0:1", "a:b:c", "1:0:0.1", "0:1:0", "-1", "", "0:1e9:1e-6"):
        with pytest.raises(InputError):
            parse_times(bad)


def test_parse_shard_formats_and_torchrun_default(monkeypatch):
    assert parse_shard("2/3") == (2, 3)
    for bad in ("3/3", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(InputError):
            parse_shard(bad)
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert default_shard() is None
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert default_shard() == (1, 4)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert default_shard() is None
    assert parse_formats("png, GRAPHML,png") == ["json", "png", "graphml"]
    with pytest.raises(ConfigError, match="unknown format 'tiff'"):
        parse_formats("json,tiff")


# ------------------------------------------------------------------------------------------ boxes
def test_box_source_forms_and_matching(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    mapping = {"a/x.jpg": {"boxes": [[1, 2, 30, 40]], "labels": ["man"]},
               "b/x.jpg": {"boxes": [[5, 5, 9, 9], [0, 0, 3, 3]], "labels": [3, "dog"]},
               "solo.png": {"boxes": [[0, 0, 10, 10]]},
               "bad.png": {"boxes": [[0, 0, 10]]}}
    f = tmp_path / "boxes.json"
    f.write_text(json.dumps(mapping))
    src = BoxSource.load(f)
    assert src.lookup("a/x.jpg") == ([[1.0, 2.0, 30.0, 40.0]], ["man"])
    assert src.lookup(tmp_path / "b" / "x.jpg")[1] == [3, "dog"]
    assert src.lookup("elsewhere/solo.png") == ([[0.0, 0.0, 10.0, 10.0]], None)  # unique file name
    with pytest.raises(InputError, match="2 entries .* named x.jpg"):
        src.lookup("c/x.jpg")
    with pytest.raises(InputError, match="no boxes for other.png"):
        src.lookup("other.png")
    with pytest.raises(InputError, match="box 0 must be four numbers"):
        src.lookup("bad.png")
    # a list with "image" keys; keys relative to the boxes file's folder
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / "list.json").write_text(json.dumps([{"image": "../a/x.jpg", "boxes": [[0, 0, 4, 4]]}]))
    assert BoxSource.load(tmp_path / "meta" / "list.json").lookup(tmp_path / "a" / "x.jpg")[0] == [[0, 0, 4, 4]]
    # our own scene graphs as the source
    g = export.example_scene_graph()
    g.image = "a/horse.jpg"
    g.save(tmp_path / "horse.json")
    boxes, labels = BoxSource.load(tmp_path / "horse.json").lookup("a/horse.jpg")
    assert boxes == [list(o.box) for o in g.objects] and labels == [o.name for o in g.objects]
    with pytest.raises(InputError, match="not valid JSON"):
        (tmp_path / "broken.json").write_text("{")
        BoxSource.load(tmp_path / "broken.json")


# ------------------------------------------------------------------------------------------ documents
def test_predict_image_document_round_trip(model, tmp_path):
    doc, traj = predict_image(model, make_image(80, 60), times="0:1:0.5", top_k=3, name="x.png")
    assert doc.times == [0.0, 0.5, 1.0, 1.5] and doc.t_end == 1.5
    assert [g.t_obj for g in doc.graphs] == doc.times
    assert all(len(g.relations) <= 3 for g in doc.graphs)
    # distributions only at t_end by default
    end = doc.graph_at()
    assert all(o.class_scores is not None for o in end.objects)
    assert all(o.class_scores is None for o in doc.graph_at(0.5).objects)
    assert doc.nfe["object"] > 0 and doc.model["weights"] == "random-init"
    path = tmp_path / "x.json"
    export.atomic_write_text(path, doc.to_json())
    back = read_prediction(path)
    assert back.to_dict() == json.loads(path.read_text())
    assert back.graph_at(1.0).to_dict() == doc.graph_at(1.0).to_dict()
    assert json.loads(path.read_text())["schema"] == SCHEMA
    with pytest.raises(InputError, match="no graph at t = 0.25"):
        back.graph_at(0.25)
    # the graph equals the trajectory's own decoding at t_end (filtered)
    ref = traj.graph_at(1.5).filtered(3)
    assert [r.to_dict() for r in ref.relations] == [r.to_dict() for r in end.relations]
    # object threshold: low-scoring objects and their relations go, indices are kept
    full = traj.graph_at(1.5)
    cut = float(np.median([o.score for o in full.objects]))
    doc2, _ = predict_image(model, make_image(80, 60), object_threshold=cut, distributions="none")
    g2 = doc2.graph_at()
    assert {o.index for o in g2.objects} == {o.index for o in full.objects if o.score >= cut}
    assert all(r.subject in {o.index for o in g2.objects} and r.object in {o.index for o in g2.objects}
               for r in g2.relations)
    assert all(o.class_scores is None for o in g2.objects) and doc2.filter["object_threshold"] == cut


# ------------------------------------------------------------------------------------------ the run
def test_resume_processes_only_what_is_missing(model, tmp_path):
    src = tmp_path / "imgs"
    images(src, 2)
    out = tmp_path / "out"
    s1 = predict_paths(model, [src], out, formats="json,csv")
    assert (s1.done, s1.skipped, s1.failed) == (2, 0, {})
    first = (out / "im0.json").read_text()
    # "interruption": a third image appears, one output of im1 is lost
    images(src, 3)
    (out / "im1.csv").unlink()
    s2 = predict_paths(model, [src], out, formats="json,csv", resume=True)
    assert (s2.done, s2.skipped) == (2, 1)
    recs = index_lines(out)
    assert [r["name"] for r in recs] == ["im0", "im1", "im1", "im2"]
    assert (out / "im0.json").read_text() == first  # untouched
    assert all((out / f"im{k}.csv").exists() for k in range(3))
    # nothing left to do
    s3 = predict_paths(model, [src], out, formats="json,csv", resume=True)
    assert (s3.done, s3.skipped) == (0, 3)
    # other settings (or a new format): the earlier outputs do not count as complete
    s4 = predict_paths(model, [src], out, formats="json,csv,graphml", resume=True, top_k=2)
    assert (s4.done, s4.skipped) == (3, 0)
    assert all((out / f"im{k}.graphml").exists() for k in range(3))
    assert all(len(read_prediction(out / f"im{k}.json").graph_at().relations) <= 2 for k in range(3))


def test_interrupted_run_leaves_only_complete_outputs(model, tmp_path, monkeypatch):
    src = tmp_path / "imgs"
    images(src, 3)
    out = tmp_path / "out"
    real = export.save_graph
    calls = {"n": 0}

    def flaky(graph, path, format=None, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # Ctrl-C while writing the second image's graphml
            raise KeyboardInterrupt
        return real(graph, path, format=format, **kw)

    monkeypatch.setattr(export, "save_graph", flaky)
    with pytest.raises(KeyboardInterrupt):
        predict_paths(model, [src], out, formats="json,graphml")
    monkeypatch.setattr(export, "save_graph", real)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert [r["name"] for r in index_lines(out)] == ["im0"]  # im1's JSON exists but is not indexed as done
    s = predict_paths(model, [src], out, formats="json,graphml", resume=True)
    assert (s.done, s.skipped) == (2, 1)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["index.jsonl"] + [f"im{k}{x}" for k in range(3) for x in (".json", ".graphml")])


def test_shards_cover_every_input_exactly_once(model, tmp_path):
    src = tmp_path / "imgs"
    images(src, 7, size=(40, 32))
    out = tmp_path / "out"
    totals, merged = [], []
    for i in range(3):
        s = predict_paths(model, [src], out, shard=f"{i}/3", formats="json,vg", workers=1)
        assert not s.failed
        totals.append(s.total)
        merged.append(s.merged)
        # a shard never writes the run-level files of DIR: only its own, in DIR/shards/I-of-3/
        names = [r["name"] for r in export.read_jsonl(out / "shards" / f"{i}-of-3" / "index.jsonl", strict=True)]
        assert names == [f"im{k}" for k in range(i, 7, 3)]  # shard i took positions i, i+3, ...
        assert (out / "shards" / f"{i}-of-3" / "scene_graphs.json").is_file()
        assert (out / "index.jsonl").exists() == (i == 2)
    assert totals == [3, 2, 2]
    # the last shard to finish merged the run: index and run-level files in input order
    assert merged[:2] == [None, None] and (merged[2].done, merged[2].total, merged[2].shards) == (7, 7, 3)
    assert [r["name"] for r in index_lines(out)] == [f"im{k}" for k in range(7)]
    vg = export.read_vg_scene_graphs(out / "scene_graphs.json")
    assert [e["image_id"] for e in vg] == list(range(1, 8))


def test_failures_are_recorded_and_the_run_goes_on(model, tmp_path):
    src = tmp_path / "imgs"
    images(src, 3, names=["a.png", "c.png", "d.png"])
    (src / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # truncated
    (src / "e.jpg").write_bytes(b"")
    out = tmp_path / "out"
    s = predict_paths(model, [src], out, formats="json,png")
    assert s.done == 3 and sorted(s.failed) == [str(src / "b.png"), str(src / "e.jpg")]
    errs = export.read_jsonl(out / "errors.jsonl", strict=True)
    assert [e["name"] for e in errs] == ["b", "e"]
    assert "corrupt or truncated" in errs[0]["error"] or "not an image" in errs[0]["error"]
    assert "empty" in errs[1]["error"] and errs[1]["type"] == "ImageError"
    status = {r["name"]: r["status"] for r in index_lines(out)}
    assert status == {"a": "ok", "b": "error", "c": "ok", "d": "ok", "e": "error"}
    assert not (out / "b.json").exists()


def test_boxes_in_original_pixels_for_resized_images(model, tmp_path):
    big = tmp_path / "big.jpg"
    make_image(1200, 900, seed=3).save(big, quality=92)
    out = tmp_path / "out"
    s = predict_paths(model, [big], out)
    assert s.done == 1
    doc = read_prediction(out / "big.json")
    g = doc.graph_at()
    assert g.image_size == (1200, 900) and doc.image_size == (1200, 900)
    boxes = np.array([o.box for o in g.objects])
    assert len(boxes) and (boxes[:, [0, 2]] >= 0).all() and (boxes[:, [0, 2]] <= 1200).all()
    assert (boxes[:, [1, 3]] >= 0).all() and (boxes[:, [1, 3]] <= 900).all()
    assert boxes[:, 2].max() > 160  # not in the 160-px network frame
    given = {"big.jpg": {"boxes": [[100, 50, 700, 600], [650, 400, 1150, 880], [20, 30, 400, 300]],
                         "labels": ["man", "horse", 3]}}
    (tmp_path / "boxes.json").write_text(json.dumps(given))
    s = predict_paths(model, [big], tmp_path / "pc", mode="predcls", boxes=tmp_path / "boxes.json")
    g = read_prediction(tmp_path / "pc" / "big.json").graph_at()
    assert np.allclose([o.box for o in g.objects], given["big.jpg"]["boxes"], atol=1e-3)
    assert [o.name for o in g.objects] == ["man", "horse", model.vocab.classes[3]]
    assert len(g.relations) == 6
    # sgcls without an entry for the image: recorded as that image's error
    (tmp_path / "other.json").write_text(json.dumps({"x.jpg": {"boxes": [[0, 0, 5, 5]]}}))
    s = predict_paths(model, [big], tmp_path / "sc", mode="sgcls", boxes=tmp_path / "other.json")
    assert "no boxes for big.jpg" in s.failed[str(big)]
    with pytest.raises(ConfigError, match="needs --boxes"):
        predict_paths(model, [big], tmp_path / "sc", mode="predcls")


def test_previous_output_as_box_source_and_worker_determinism(model, tmp_path):
    src = tmp_path / "imgs"
    images(src, 2)
    a = predict_paths(model, [src], tmp_path / "a", workers=0, formats="json,jsonl")
    b = predict_paths(model, [src], tmp_path / "b", workers=3)
    assert a.done == b.done == 2
    for k in range(2):
        da, db = (json.loads((tmp_path / x / f"im{k}.json").read_text()) for x in "ab")
        da.pop("seconds"), db.pop("seconds")
        assert da == db
    lines = (tmp_path / "a" / "scene_graphs.jsonl").read_text().splitlines()
    assert [SceneGraph.from_dict(json.loads(x)).image for x in lines] == [str(src / f"im{k}.png") for k in range(2)]
    # the sgdet output folder gives boxes and labels for predcls
    s = predict_paths(model, [src], tmp_path / "c", mode="predcls", boxes=tmp_path / "a")
    assert s.done == 2
    for k in range(2):
        before = read_prediction(tmp_path / "a" / f"im{k}.json").graph_at()
        after = read_prediction(tmp_path / "c" / f"im{k}.json").graph_at()
        assert [o.name for o in after.objects] == [o.name for o in before.objects]
        # given boxes are clipped to the image, [0, W] x [0, H], by the model
        want = np.clip([o.box for o in before.objects], 0, [64, 48, 64, 48])
        assert np.allclose([o.box for o in after.objects], want, atol=1e-3)


def test_unwritable_output_folder_is_a_clear_error(model, tmp_path):
    (tmp_path / "file").write_text("x")
    img = images(tmp_path, 1)[0]
    with pytest.raises(Exception) as e:
        predict_paths(model, [img], tmp_path / "file" / "out")
    assert "cannot create the output folder" in str(e.value)
    if os.name == "posix" and os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(Exception, match="permission denied"):
                predict_paths(model, [img], ro)
        finally:
            ro.chmod(0o700)


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(model, tmp_path):
    """Two unsharded runs into one --out would interleave their indexes: the second is refused at once
    (naming the holder's process), nothing of the first is touched, and the folder is free afterwards."""
    import subprocess
    import sys
    import textwrap

    from nodis.errors import ExportError

    src = tmp_path / "imgs"
    images(src, 2)
    out = tmp_path / "out"
    predict_paths(model, [src], out, formats="json")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # another process holds the run lock, as a running `nodis predict` does
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import fcntl, os, sys, time
        fd = os.open({str(out / '.nodis-run.lock')!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX); os.ftruncate(fd, 0); os.write(fd, str(os.getpid()).encode())
        print("held", flush=True); sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ExportError, match=f"another nodis predict is writing to .*process {holder.pid}"):
            predict_paths(model, [src], out, formats="json,csv")
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".nodis-run.lock"} == before
        # a different shard has its own run folder: not blocked
        s = predict_paths(model, [src], out, formats="json", shard=(0, 2), merge=False)
        assert s.done == 1
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    s = predict_paths(model, [src], out, formats="json,csv")  # released when the holder ends
    assert s.done == 2 and not (out / ".nodis-run.lock").exists()  # our own lock is removed at the end
