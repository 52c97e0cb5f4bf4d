"""What an install provides: package names, entry points, package data (issue 13)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image


def _run_outside(code: str, tmp_path) -> subprocess.CompletedProcess:
    """Run ``python -c code`` from a folder outside the checkout, so only installed packages import."""
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"}, timeout=120)


def test_viewer_installs_as_nodis_viewer_and_app_is_not_installed(tmp_path):
    r = _run_outside("import nodis_viewer.main as m, nodis_viewer.window; print(m.main.__module__)", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "nodis_viewer.main"
    r = _run_outside("import app", tmp_path)
    assert r.returncode != 0 and "No module named 'app'" in r.stderr


def test_viewer_entry_point_targets_nodis_viewer():
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points(group="console_scripts") if ep.name.startswith("nodis")}
    assert eps["nodis-viewer"] == "nodis_viewer.main:main"
    assert eps["nodis"] == "nodis.cli:main"


# ------------------------------------------------------------------------------------------ package data
def test_shipped_files_are_package_data_found_through_importlib_resources():
    from importlib.resources import files

    from nodis import assets, load_model  # noqa: F401
    from nodis.vocab import vg150

    base = files("nodis") / "_assets"
    assert (base / "weights" / assets.DEMO_FILE).is_file()
    for rel in ("weights/MODEL_CARD.md", "weights/metrics.json", "resources/vocab_vg150.json",
                "resources/samples/scene_graphs.json"):
        assert (base / rel).is_file(), rel
    assert assets.demo_weights() == assets.asset("weights", "nodis-demo.safetensors")
    assert vg150().num_classes == 151 and vg150().classes[78] == "man"
    metrics = assets.checkpoint_metrics()
    assert set(metrics) >= {"predcls", "sgcls", "sgdet"} and 0 < metrics["predcls"]["R@50"] <= 1
    # the top-level folders are the source of truth: the package reaches the same files
    root = Path(__file__).resolve().parents[1]
    if (root / "weights" / assets.DEMO_FILE).is_file():
        assert assets.demo_weights().resolve() == (root / "weights" / assets.DEMO_FILE).resolve()


def test_a_missing_demo_model_is_an_error_never_a_random_model(tmp_path, monkeypatch, capsys):
    import nodis
    from nodis import assets
    from nodis.cli import main
    from nodis.errors import CheckpointError

    monkeypatch.setattr(assets, "demo_weights", lambda: None)
    with pytest.raises(CheckpointError, match="missing from this install.*random"):
        nodis.load_model()
    img = tmp_path / "a.png"
    Image.new("RGB", (64, 48), (90, 120, 30)).save(img)
    code = main(["predict", str(img), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("nodis: error: the shipped demo model is missing") and "--weights random" in err
    assert not (tmp_path / "out").exists()
    assert main(["info"]) == 2
    # the explicit request still works, loudly
    model = nodis.load_model("random")
    assert model.weights_name == "random-init" and model.vocab.name == "world"


# ------------------------------------------------------------------------------------------ a real wheel
def _copy_worktree(src: Path, dst: Path) -> None:
    """The files git would commit (tracked + untracked, not ignored), symbolic links kept as links."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=src,
                         capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, out):
        s, d = src / rel, dst / rel
        if not s.exists() and not s.is_symlink():
            continue  # deleted in the working tree
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_symlink():
            d.symlink_to(os.readlink(s))
        else:
            shutil.copy2(s, d)


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_predicts_with_the_trained_demo_model(tmp_path):
    """Build the wheel, install it (no deps: they come from this environment) into a fresh venv and run
    it from a folder outside the checkout. .ci/run does the same with a full dependency install."""
    root = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("needs the git checkout")
    src = tmp_path / "src"
    _copy_worktree(root, src)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True, timeout=600)
    wheel = next((tmp_path / "dist").glob("nodis-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert {"nodis/_assets/weights/nodis-demo.safetensors", "nodis/_assets/resources/vocab_vg150.json",
            "nodis/_assets/weights/MODEL_CARD.md", "nodis/_assets/weights/metrics.json",
            "nodis_viewer/main.py"} <= names
    assert not any(n.startswith("app/") for n in names)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    site = next(venv.glob("lib/python*/site-packages"))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    # dependencies from this environment, appended after the venv's own site-packages (no .pth of it runs,
    # so the editable nodis of this environment stays invisible)
    import sysconfig

    (site / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONNOUSERSITE": "1"}

    def run(*argv, check_rc=0):
        r = subprocess.run(list(argv), cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == check_rc, (argv, r.stdout, r.stderr)
        return r

    r = run(str(venv / "bin" / "python"), "-c",
            "import nodis, nodis_viewer.main; from nodis.assets import demo_weights, samples_dir; "
            "print(nodis.__file__); print(demo_weights()); print(samples_dir())")
    mod, weights, samples = r.stdout.split()
    for p in (mod, weights, samples):
        assert p.startswith(str(venv)), p  # the installed copy, not the checkout
    run(str(venv / "bin" / "python"), "-c", "import app", check_rc=1)
    assert "usage: nodis convert" in run(str(venv / "bin" / "nodis"), "convert", "--help").stdout
    info = run(str(venv / "bin" / "nodis"), "info").stdout
    assert "nodis-demo" in info and "test sgdet" in info
    # two samples of the world, sgdet: the trained model finds their objects; a random one would not
    gt = {d["image_id"]: d for d in json.loads((Path(samples) / "scene_graphs.json").read_text())}
    imgs = sorted(Path(samples).glob("*.jpg"))[:2]
    r = run(str(venv / "bin" / "nodis"), "predict", *map(str, imgs), "--out", "out")
    assert "RANDOM" not in r.stderr and "note:" not in r.stderr  # samples are from the world: no note
    hits = 0
    for img in imgs:
        doc = json.loads((work / "out" / f"{img.stem}.json").read_text())
        assert doc["model"]["weights"] == "nodis-demo"
        objs = doc["graphs"][-1]["objects"]
        truth = [(o["names"][0], (o["x"], o["y"], o["x"] + o["w"], o["y"] + o["h"])) for o in gt[int(img.stem)]["objects"]]
        hits += sum(any(o["name"] == name and _iou(o["box"], box) >= 0.5 for name, box in truth) for o in objs[:20])
    assert hits >= 2, hits
    # the same install without its model refuses to run (exit 2) instead of inventing one
    Path(weights).unlink()
    r = run(str(venv / "bin" / "nodis"), "predict", str(imgs[0]), "--out", "out2", check_rc=2)
    assert "missing from this install" in r.stderr and not (work / "out2").exists()


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
