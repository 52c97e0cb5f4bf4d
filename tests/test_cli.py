"""The ``nodis`` command line, driven through ``nodis.cli.main`` as a user would type it."""
import json
import pickle
import xml.etree.ElementTree as ET

import networkx as nx
import numpy as np
import pytest
import torch
from PIL import Image

from nodis import __version__, export
from nodis.checkpoint import OFFICIAL_PREFIXES, load_checkpoint, read_header, save_checkpoint
from nodis.cli import main
from nodis.config import preset
from nodis.graph import SceneGraph
from nodis.model import NODIS
from nodis.predict import read_prediction
from nodis.vocab import vg150
from tests.helpers import make_image
from tests.test_predict import images, tiny_model


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """The random-init demo model with small caps, as a checkpoint for --weights (fast sgdet)."""
    return save_checkpoint(tiny_model(), tmp_path_factory.mktemp("w") / "tiny.safetensors")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_folder_writes_every_format_and_they_validate(tmp_path, capsys, tiny_weights):
    src = tmp_path / "photos"
    images(src, 1, size=(96, 72), names=["cat.png"])
    images(src / "more", 1, size=(120, 80), names=["dog.jpg"])
    out = tmp_path / "out"
    fmts = "json,vg,sgb,graphml,nodelink,csv,png,graph-png,svg,strip,jsonl"
    code, stdout, err = run(capsys, "predict", src, "--out", out, "--format", fmts, "--weights", tiny_weights,
                            "--times", "0:1.5:0.5", "--top-k", "8")
    assert code == 0, err
    assert "2 images: 2 done" in stdout and "Traceback" not in err
    for stem, size in (("cat", (96, 72)), ("dog", (120, 80))):
        doc = read_prediction(out / f"{stem}.json")
        assert doc.times == [0.0, 0.5, 1.0, 1.5] and doc.mode == "sgdet" and doc.model["weights"] == "tiny"
        assert all(isinstance(g, SceneGraph) and len(g.relations) <= 8 for g in doc.graphs)
        assert doc.graph_at().image_size == size and doc.nfe["object"] > 0
        raw = json.loads((out / f"{stem}.json").read_text())
        assert [SceneGraph.from_dict(g).t_obj for g in raw["graphs"]] == doc.times
        g = export.read_graphml(out / f"{stem}.graphml")
        assert isinstance(g, nx.MultiDiGraph) and g.number_of_nodes() == len(doc.graph_at().objects)
        assert g.number_of_edges() == len(doc.graph_at().relations)
        assert export.read_node_link(out / f"{stem}.nodelink.json").number_of_nodes() == g.number_of_nodes()
        with Image.open(out / f"{stem}.png") as im:
            assert im.format == "PNG" and im.size == size
        for name in (f"{stem}.graph.png", f"{stem}.strip.png"):
            with Image.open(out / name) as im:
                im.verify()
        assert ET.parse(out / f"{stem}.svg").getroot().tag.endswith("svg")
        assert (out / f"{stem}.csv").read_text().startswith("rank,subject_index,subject,predicate")
    vg = export.read_vg_scene_graphs(out / "scene_graphs.json")
    assert [e["image_id"] for e in vg] == [1, 2]
    assert all(0 <= o["x"] and o["x"] + o["w"] <= 120 for e in vg for o in e["objects"])
    pred, info = export.read_sgb(out)
    assert info["idx_to_files"] == [str(src / "cat.png"), str(src / "more" / "dog.jpg")]
    assert len(pred["0"]["rel_all_scores"][0]) == len(info["ind_to_predicates"]) == 22
    assert len((out / "scene_graphs.jsonl").read_text().splitlines()) == 2
    index = export.read_jsonl(out / "index.jsonl", strict=True)
    assert [r["status"] for r in index] == ["ok", "ok"]
    assert set(index[0]["outputs"]) == {"json", "graphml", "nodelink", "csv", "png", "graph-png", "svg", "strip"}
    assert all((out / p).exists() for r in index for p in r["outputs"].values())
    assert not list(out.glob("*.tmp")) and not (out / "errors.jsonl").exists()


def test_corrupt_file_in_the_middle_of_a_folder(tmp_path, capsys, tiny_weights):
    src = tmp_path / "imgs"
    images(src, 2, names=["a.png", "c.png"])
    (src / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "predict", src, "--out", out, "--weights", tiny_weights, "-q")
    assert code == 1
    assert stdout == "" and "Traceback" not in err
    errs = export.read_jsonl(out / "errors.jsonl", strict=True)
    assert len(errs) == 1 and errs[0]["image"] == str(src / "b.jpg") and errs[0]["type"] == "ImageError"
    assert "b.jpg" in errs[0]["error"]
    assert (out / "a.json").exists() and (out / "c.json").exists() and not (out / "b.json").exists()
    # resume: the good ones are skipped, the bad one is tried again and fails again
    code, stdout, err = run(capsys, "predict", src, "--out", out, "--weights", tiny_weights, "--resume")
    assert code == 1 and "3 images: 0 done, 2 already complete, 1 failed" in stdout


def test_predcls_boxes_on_a_resized_image_and_random_init_warning(tmp_path, capsys):
    big = tmp_path / "big.png"
    make_image(1200, 900, seed=5).save(big)
    boxes = {"big.png": {"boxes": [[10, 20, 600, 500], [500, 300, 1190, 890]], "labels": ["man", "horse"]}}
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    out = tmp_path / "out"
    # default weights: the random-init demo model (no shipped weights in a fresh checkout)
    code, stdout, err = run(capsys, "predict", big, "--out", out, "--mode", "predcls", "--boxes",
                            tmp_path / "boxes.json", "--format", "json,png")
    assert code == 0, err
    g = read_prediction(out / "big.json").graph_at()
    assert g.image_size == (1200, 900)
    assert np.allclose([o.box for o in g.objects], boxes["big.png"]["boxes"], atol=1e-3)
    assert [o.name for o in g.objects] == ["man", "horse"] and len(g.relations) == 2
    if g.meta.get("model") == "random-init":
        assert "RANDOMLY INITIALISED" in err and err.count("randomly initialised") == 0
    with Image.open(out / "big.png") as im:
        assert im.size == (1200, 900)


def test_usage_errors_are_one_line_with_exit_code_2(tmp_path, capsys, tiny_weights):
    img = images(tmp_path, 1)[0]
    code, _, err = run(capsys, "predict", img, "--out", tmp_path / "o", "--weights", tmp_path / "nope.safetensors")
    assert code == 2
    assert err.startswith("nodis: error: ") and "nope.safetensors" in err and "no such" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    for argv, needle in [
        (["--mode", "predcls"], "needs --boxes"),
        (["--times", "1:0:0.1"], "bad times"),
        (["--shard", "3/3"], "bad shard"),
        (["--format", "json,bmp"], "unknown format 'bmp'"),
        (["--weights", tiny_weights, "--device", "tpu"], "unknown device"),
    ]:
        code, _, err = run(capsys, "predict", img, "--out", tmp_path / "o", *argv)
        assert code == 2 and err.startswith("nodis: error: ") and needle in err, (argv, err)
    code, _, err = run(capsys, "predict", tmp_path / "missing_dir", "--out", tmp_path / "o", "--weights", tiny_weights)
    assert code == 2 and "no such file or folder" in err
    code, _, err = run(capsys, "predict", tmp_path, "--out", tmp_path, "--weights", tiny_weights)
    assert code == 2 and "also an input folder" in err
    code, _, err = run(capsys, "predict", img)  # --out missing (INPUT and --out, or --merge DIR)
    assert code == 2 and "needs INPUT... and --out DIR" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and __version__ in capsys.readouterr().out


def test_shards_through_the_cli_and_torchrun_env(tmp_path, capsys, tiny_weights, monkeypatch):
    src = tmp_path / "imgs"
    images(src, 4, size=(40, 30))
    code, stdout, _ = run(capsys, "predict", src, "--out", tmp_path / "s", "--weights", tiny_weights, "--shard", "2/3")
    assert code == 0 and "1 image (shard 2/3): 1 done" in stdout
    assert [p.name for p in (tmp_path / "s").glob("*.json")] == ["im2.json"]
    # under torchrun the shard comes from RANK / WORLD_SIZE
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    code, stdout, _ = run(capsys, "predict", src, "--out", tmp_path / "t", "--weights", tiny_weights)
    assert code == 0 and "2 images (shard 1/2)" in stdout
    assert sorted(p.name for p in (tmp_path / "t").glob("*.json")) == ["im1.json", "im3.json"]


# ------------------------------------------------------------------------------------------ convert / info
# reduced-width official layout (as tests/model/test_checkpoint.py): exact key names, smaller sizes
SMALL_VG = dict(image_size=160, roi_dim=256, hidden_dim=64, embed_dim=32, pos_dim=16, rpn_post_nms=64, max_objects=12)


def to_official(model):
    inverse = {v: k for k, v in OFFICIAL_PREFIXES.items()}
    out = {}
    for k, v in model.state_dict().items():
        ours = max((o for o in inverse if k.startswith(o)), key=len)
        out[inverse[ours] + k[len(ours):]] = v.clone()
    return out


def test_convert_and_info(tmp_path, capsys):
    torch.manual_seed(2)
    src = NODIS(preset("vg", **SMALL_VG), vg150()).eval()
    tar = tmp_path / "vgrel-11-0.6543.tar"
    torch.save({"epoch": 11, "state_dict": to_official(src)}, tar)
    out = tmp_path / "nodis-vg.safetensors"
    sets = [x for k, v in SMALL_VG.items() for x in ("--set", f"{k}={v}")]
    code, stdout, err = run(capsys, "convert", tar, out, "--t-end", "1.2", *sets)
    assert code == 0, err
    assert f"wrote {out}" in stdout and "t_end 1.2" in stdout
    model = load_checkpoint(out)
    for k, v in src.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    header = read_header(out)
    assert header["config"]["t_end"] == 1.2 and header["info"]["converted_from"] == tar.name
    code, stdout, _ = run(capsys, "info", out)
    assert code == 0
    lines = dict(line.split(None, 1) for line in stdout.splitlines())
    assert lines["preset"].startswith("vg (backbone vgg16, input 160 px")
    assert lines["t_end"] == "1.2" and "150 object classes, 50 predicates" in lines["vocabulary"]
    assert "dopri5, rtol 0.01, atol 0.01, state policy carry" in lines["ODE"]
    assert "tensors" in lines["file"] and lines["info.converted_from"] == tar.name
    code, stdout, _ = run(capsys, "info", out, "--json")
    assert json.loads(stdout)["vocab"]["classes"][78] == "man"
    code, stdout, _ = run(capsys, "info", tar)
    assert code == 0 and "official NODIS checkpoint" in stdout and "nodis convert" in stdout
    # no weights argument: the shipped demo model, or a note that it is random-init
    code, stdout, _ = run(capsys, "info")
    assert code == 0 and "preset" in stdout


def test_convert_errors(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    legacy = tmp_path / "legacy.tar"
    with open(legacy, "wb") as f:
        pickle.dump({"state_dict": {"x": Evil()}}, f)
    code, out, err = run(capsys, "convert", legacy, tmp_path / "x.safetensors")
    assert code == 2 and "--trust-pickle" in err and "pwned" not in out + err
    code, _, err = run(capsys, "convert", tmp_path / "none.tar", tmp_path / "x.safetensors")
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, "convert", legacy, tmp_path / "x.tar")
    assert code == 2 and "safetensors" in err
    torch.save({"state_dict": to_official(NODIS(preset("vg", **SMALL_VG), vg150()))}, tmp_path / "small.tar")
    code, _, err = run(capsys, "convert", tmp_path / "small.tar", tmp_path / "x.safetensors")  # wrong sizes
    assert code == 2 and "shape" in err and err.count("\n") == 1
    code, _, err = run(capsys, "convert", tmp_path / "small.tar", tmp_path / "x.safetensors", "--set", "nope=1")
    assert code == 2 and "nope" in err
    assert not list(tmp_path.glob("x.safetensors*"))
