"""The CLI answers at once: help and usage errors never import torch or load a model (issue 13).

Each case runs ``nodis.cli.main`` in a fresh interpreter and reports whether torch got imported;
speed itself is measured in docs/benchmarks.md, not here."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from nodis.cli import build_parser

COMMANDS = sorted(next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices)
PROBE = """
import sys
from nodis.cli import main
try:
    rc = main(sys.argv[1:])
except SystemExit as e:
    rc = e.code
sys.stdout.flush()
print("TORCH_IMPORTED=%s" % ("torch" in sys.modules), file=sys.stderr)
sys.exit(rc)
"""


def nodis(*argv, cwd=None) -> tuple[int, str, str, bool]:
    """(exit code, stdout, stderr without the probe line, whether torch was imported)."""
    r = subprocess.run([sys.executable, "-c", PROBE, *map(str, argv)], cwd=cwd, capture_output=True, text=True,
                       timeout=300)
    lines = r.stderr.splitlines()
    probe = [ln for ln in lines if ln.startswith("TORCH_IMPORTED=")]
    assert probe, r.stderr
    err = "\n".join(ln for ln in lines if not ln.startswith("TORCH_IMPORTED="))
    return r.returncode, r.stdout, err, probe[-1] == "TORCH_IMPORTED=True"


def test_help_and_version_do_not_import_torch():
    from nodis import __version__

    code, out, _, torch_in = nodis("--version")
    assert code == 0 and out.strip() == f"nodis {__version__}" and not torch_in
    code, out, _, torch_in = nodis("--help")
    assert code == 0 and all(c in out for c in COMMANDS) and not torch_in
    for cmd in COMMANDS:
        code, out, _, torch_in = nodis(cmd, "--help")
        assert code == 0 and out.startswith(f"usage: nodis {cmd}") and not torch_in, cmd


def test_predict_help_lists_the_run_formats_predict_writes():
    from nodis.export import BATCH_FORMATS
    from nodis.predict import RUN_FORMATS

    assert set(BATCH_FORMATS) == set(RUN_FORMATS)


def test_bad_paths_and_options_fail_before_torch_and_the_model(tmp_path):
    img = tmp_path / "a.png"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(img)
    (tmp_path / "file.txt").write_text("not a folder")
    cases = [
        (["predict", tmp_path / "missing_dir", "--out", tmp_path / "o"], "missing_dir: no such file or folder"),
        (["predict", img, "--out", tmp_path / "file.txt"], "is a file, not a folder"),
        (["predict", img, "--out", tmp_path / "file.txt" / "sub"], "is a file"),
        (["predict", img, "--out", tmp_path / "o", "--weights", tmp_path / "nope.safetensors"],
         "nope.safetensors: no such checkpoint file"),
        (["predict", img, "--out", tmp_path / "o", "--mode", "sgcls", "--boxes", tmp_path / "nope.json"], "nope.json"),
        (["predict", img, "--out", tmp_path / "o", "--threshold", "2"], "must be in [0, 1]"),
        (["predict", img, "--out", tmp_path / "o", "--object-threshold", "-0.1"], "must be in [0, 1]"),
        (["predict", img, "--out", tmp_path / "o", "--times", "1:0:0.1"], "bad times"),
        (["predict", tmp_path, "--out", tmp_path], "also an input folder"),
        (["eval", "--data", tmp_path / "nodata"], "no such dataset folder"),
        (["eval", "--data", tmp_path, "--weights", tmp_path / "nope.safetensors"], "no such checkpoint file"),
        (["eval", "--data", tmp_path, "--predictions", tmp_path / "nope"], "no such file or folder"),
        (["eval", "--data", tmp_path, "--predictions", tmp_path, "--times", "0:1:0.5"], "only used when evaluating a model"),
        (["convert", tmp_path / "none.tar", tmp_path / "x.safetensors"], "no such file"),
        (["convert", img, tmp_path], "is a folder"),
        (["info", tmp_path / "nope.safetensors"], "no such checkpoint file"),
        (["world", tmp_path / "file.txt"], "is a file, not a folder"),
    ]
    for argv, needle in cases:
        code, out, err, torch_in = nodis(*argv)
        assert code == 2 and needle in err and not torch_in, (argv, err)
        assert "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing created by a refused run


@pytest.mark.parametrize("cmd", COMMANDS)
def test_quiet_and_verbose_on_every_command(cmd):
    """-q / -v after the subcommand (as docs/cli.md says) and before it, for every subcommand."""
    required = {"predict": ["x.jpg", "--out", "o"], "convert": ["a.tar", "b.safetensors"], "info": [],
                "world": ["w"], "train": [], "eval": ["--data", "d"]}.get(cmd, [])
    p = build_parser()
    for flags, quiet, verbose in ((["-q"], True, 0), (["-v"], False, 1), (["-vv"], False, 2)):
        a = p.parse_args([cmd, *required, *flags])
        assert (a.quiet, a.verbose) == (quiet, verbose), (cmd, flags)
        a = p.parse_args([*flags, cmd, *required])
        assert (a.quiet, a.verbose) == (quiet, verbose), (cmd, flags)


def test_quiet_world_prints_nothing_and_still_writes(tmp_path):
    code, out, err, _ = nodis("world", tmp_path / "w", "--train", "2", "--test", "1", "--workers", "1", "-q")
    assert code == 0 and out == "" and err == ""
    assert (tmp_path / "w" / "VG-SGG.h5").is_file() and len(list((tmp_path / "w" / "VG_100K").glob("*.jpg"))) == 3


def test_eval_of_saved_predictions_never_imports_torch(tmp_path):
    from nodis.data.vg import VGDataset
    from nodis.graph import ObjectNode, Relation, SceneGraph
    from tests.helpers import make_toy_dataset

    toy = make_toy_dataset(tmp_path / "toy", n_train=4, n_test=3)
    ds = VGDataset(toy, "test")
    vocab = ds.vocab
    lines = []
    for i in range(len(ds)):  # predictions that are the ground truth: recall must be 100
        s = ds[i]
        objs = [ObjectNode(k, tuple(map(float, b)), int(lab), vocab.classes[int(lab)], 1.0)
                for k, (b, lab) in enumerate(zip(s.boxes, s.labels))]
        rels = [Relation(int(a), int(b), int(p), vocab.predicates[int(p)], 1.0, 1.0) for a, b, p in s.relations]
        g = SceneGraph(objs, rels, (100, 100), "predcls", 1.5, 1.5, str(s.image_path), list(vocab.classes),
                       list(vocab.predicates))
        lines.append(json.dumps(g.to_dict()))
    (tmp_path / "preds.jsonl").write_text("\n".join(lines))
    code, out, err, torch_in = nodis("eval", "--data", toy, "--predictions", tmp_path / "preds.jsonl",
                                     "--mode", "predcls", "--json", tmp_path / "res.json", "-q")
    assert code == 0, err
    assert not torch_in
    res = json.loads((tmp_path / "res.json").read_text())
    assert res["predcls"]["R@50"] == pytest.approx(1.0) and res["predcls"]["matched_images"] == 3


def test_readme_command_paths_exist():
    root = Path(__file__).resolve().parents[1]
    assert (root / "resources" / "samples").is_dir()
