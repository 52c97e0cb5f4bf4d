"""Honest about the demo model: which images are from its world, the CLI's note, `nodis info`, the docs (issue 13)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from nodis import assets
from nodis.cli import main
from nodis.provenance import count_outside_world, is_world_image, is_world_model
from tests.helpers import make_image

ROOT = Path(__file__).resolve().parents[1]


def _sample() -> Path:
    return sorted(assets.samples_dir().glob("*.jpg"))[0]


def test_world_image_rule(tmp_path):
    sample = _sample()
    assert is_world_image(sample)
    copy = tmp_path / "renamed.jpg"
    shutil.copyfile(sample, copy)
    assert is_world_image(copy)  # same bytes as a bundled sample, wherever it lies
    data = bytearray(sample.read_bytes())
    data[-3] ^= 0xFF
    (tmp_path / "changed.jpg").write_bytes(bytes(data))
    assert not is_world_image(tmp_path / "changed.jpg")  # one byte off: not a sample any more
    photo = tmp_path / "photo.png"
    make_image(160, 120, seed=3).save(photo)
    assert not is_world_image(photo) and not is_world_image(tmp_path / "missing.jpg")
    # a dataset written by `nodis world`: world.json at its root, images two levels down at most
    world = tmp_path / "myworld"
    (world / "VG_100K").mkdir(parents=True)
    make_image(160, 120, seed=4).save(world / "VG_100K" / "7.jpg")
    assert not is_world_image(world / "VG_100K" / "7.jpg")
    (world / "world.json").write_text(json.dumps({"generator": "nodis.data.world", "version": 1}))
    assert is_world_image(world / "VG_100K" / "7.jpg")
    other = tmp_path / "other"
    other.mkdir()
    (other / "world.json").write_text(json.dumps({"generator": "somebody else"}))
    make_image(80, 60, seed=5).save(other / "x.png")
    assert not is_world_image(other / "x.png")
    assert count_outside_world([sample, copy, photo, other / "x.png"]) == (2, 4)


def test_which_models_are_demo_models():
    from tests.test_predict import tiny_model

    world = tiny_model()
    world.weights_name = "nodis-demo"
    assert is_world_model(world)
    world.weights_name = "random-init"  # --weights random has its own, louder warning
    assert not is_world_model(world)
    from tests.helpers import make_model

    assert not is_world_model(make_model())  # a VG150 model (e.g. converted official weights)


@pytest.fixture(scope="module")
def world_weights(tmp_path_factory):
    """A small model of the world saved as a checkpoint (trained or not, it is a model of the world)."""
    from nodis.checkpoint import save_checkpoint
    from tests.test_predict import tiny_model

    return save_checkpoint(tiny_model(), tmp_path_factory.mktemp("ww") / "worldling.safetensors")


def test_predict_notes_once_when_a_demo_model_sees_images_from_elsewhere(tmp_path, capsys, world_weights):
    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(2):
        make_image(96, 72, seed=k).save(photos / f"p{k}.png")
    shutil.copyfile(_sample(), photos / "s.jpg")
    code = main(["predict", str(photos), "--out", str(tmp_path / "o"), "--weights", str(world_weights)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.count("nodis: note:") == 1
    note = err[err.index("nodis: note:"):].splitlines()[0]
    assert "the model worldling is a demo model" in note and "2 of 3 images are not from that world" in note
    assert "nodis convert" in note and assets.OFFICIAL_WEIGHTS_URL in note
    # only world images: no note; -q: no note
    code = main(["predict", str(photos / "s.jpg"), "--out", str(tmp_path / "o2"), "--weights", str(world_weights)])
    assert code == 0 and "note:" not in capsys.readouterr().err
    code = main(["predict", str(photos / "p0.png"), "--out", str(tmp_path / "o3"), "--weights", str(world_weights),
                 "-q"])
    assert code == 0 and capsys.readouterr().err == ""


def test_no_note_for_a_model_that_is_not_a_demo_model(tmp_path, capsys):
    from nodis.checkpoint import save_checkpoint
    from tests.helpers import make_model

    w = save_checkpoint(make_model(max_objects=4, rpn_post_nms=16, image_size=128), tmp_path / "vgmodel.safetensors")
    make_image(96, 72, seed=1).save(tmp_path / "p.png")
    code = main(["predict", str(tmp_path / "p.png"), "--out", str(tmp_path / "o"), "--weights", str(w)])
    assert code == 0 and "note:" not in capsys.readouterr().err


def test_info_names_the_demo_model_says_what_it_learned_and_shows_its_test_metrics(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines():
        key, _, value = line.partition("  ")
        rows[key.strip()] = value.strip()
    assert rows["name"] == "nodis-demo"
    assert rows["trained on"].startswith("the procedural scene world") and "demo model" in rows["trained on"]
    metrics = json.loads((assets.weights_dir() / "metrics.json").read_text())
    for mode in ("predcls", "sgcls", "sgdet"):
        m = metrics[mode]
        expect = " / ".join(f"{100 * m[f'R@{k}']:.1f}" for k in (20, 50, 100))
        assert rows[f"test {mode}"].startswith(f"R@20/50/100 {expect}"), rows[f"test {mode}"]
        assert f"mR@50 {100 * m['mR@50']:.1f}" in rows[f"test {mode}"]
    assert main(["info", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["name"] == "nodis-demo" and doc["test_metrics"]["sgdet"]["R@50"] == metrics["sgdet"]["R@50"]


def _first_command_index(text: str) -> int:
    return text.index("```bash")


def test_readme_is_honest_before_the_first_command():
    text = (ROOT / "README.md").read_text()
    head = text[:_first_command_index(text)]
    assert "nodis-demo" in head and "procedural" in head and "real photographs" in head
    assert "https://github.com/yrcong/NODIS" in head  # where the release publishes its checkpoints
    assert "nodis convert" in head


def test_readme_says_the_install_size_and_how_to_get_cpu_only_torch():
    text = (ROOT / "README.md").read_text()
    assert re.search(r"about 6 GB", text) and "CUDA build" in text
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in text
    # the README's test command is what CI runs
    ci = (ROOT / ".ci" / "run").read_text()
    cmd = 'python3 -m venv .venv && . .venv/bin/activate && pip install -q -e ".[test]" && pytest -q'
    assert cmd in text and cmd in ci


def test_user_docs_have_no_internal_wording():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    bad = re.compile(r"our machines?|goals? of (the )?issue|\(issue \d+\)|issue \d+\b", re.IGNORECASE)
    found = [(p.name, m.group(0)) for p in docs for m in bad.finditer(p.read_text())]
    assert not found, found


def test_default_output_folders_are_ignored_by_git():
    lines = {ln.strip() for ln in (ROOT / ".gitignore").read_text().splitlines()}
    assert {"/out/", "/runs/", "/data/"} <= lines


def test_metrics_beside_a_replaced_checkpoint_are_not_shown_as_its_own(tmp_path, capsys):
    """metrics.json records the sha256 of the file it measured; `nodis info` shows it only beside that file."""
    w = tmp_path / "model.safetensors"
    shutil.copyfile(assets.demo_weights(), w)
    metrics = json.loads((assets.weights_dir() / "metrics.json").read_text())
    assert metrics["checkpoint"]["sha256"] == assets.file_sha256(assets.demo_weights())  # the shipped pair agrees
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    assert main(["info", str(w)]) == 0
    out, err = capsys.readouterr()
    assert "test sgdet" in out and "note:" not in err
    with open(w, "r+b") as f:  # a retrained file in the same place: one byte of a tensor differs
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    assert assets.checkpoint_metrics(w) is None
    assert main(["info", str(w)]) == 0
    out, err = capsys.readouterr()
    assert "test sgdet" not in out and "measured on another file" in err
    # results without a recorded checkpoint (older files) are still shown
    metrics.pop("checkpoint")
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    assert assets.checkpoint_metrics(w)["sgdet"]["R@50"] == metrics["sgdet"]["R@50"]


def test_eval_json_records_the_checkpoint_it_measured(tmp_path, capsys):
    from nodis.checkpoint import save_checkpoint
    from tests.helpers import make_model, make_toy_dataset

    toy = make_toy_dataset(tmp_path / "toy", n_train=4, n_test=2)
    w = tmp_path / "m.safetensors"
    save_checkpoint(make_model(), w)
    code = main(["eval", "--data", str(toy), "--weights", str(w), "--mode", "predcls", "--json",
                 str(tmp_path / "metrics.json"), "-q"])
    assert code == 0, capsys.readouterr().err
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["checkpoint"] == {"file": "m.safetensors", "sha256": assets.file_sha256(w)}
    assert assets.checkpoint_metrics(w)["predcls"]["num_images"] == 2
