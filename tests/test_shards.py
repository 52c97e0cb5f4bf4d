"""Sharded runs: each shard keeps its own run-level files, the last one to finish merges (under a
lock), `nodis predict --merge DIR` merges explicitly, and `torchrun --nproc-per-node 2` shards by
rank with rank 0 merging after a barrier (gloo, CPU)."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nodis import export
from nodis.checkpoint import save_checkpoint
from nodis.cli import main
from nodis.config import preset
from nodis.errors import InputError
from nodis.model import NODIS
from nodis.predict import merge_shards, predict_paths
from nodis.vocab import vg150
from tests.helpers import make_image

ROOT = Path(__file__).resolve().parent.parent


def tiny():
    torch.manual_seed(0)
    cfg = preset("demo", num_classes=151, num_predicates=51, max_objects=4, rpn_post_nms=16, image_size=128)
    return NODIS(cfg, vg150()).eval()


@pytest.fixture(scope="module")
def model():
    return tiny()


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_checkpoint(tiny(), tmp_path_factory.mktemp("w") / "tiny.safetensors")


def images(folder, n, bad=()):
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        make_image(40, 32, seed=k).save(folder / f"im{k:02d}.png")
    for name in bad:
        (folder / name).write_bytes(b"not an image")
    return folder


def check_merged(out, n_ok, n_failed=0, formats=("vg", "jsonl")):
    index = export.read_jsonl(out / "index.jsonl", strict=True)
    assert len(index) == n_ok + n_failed and len({r["resolved"] for r in index}) == len(index)
    assert sum(r["status"] == "ok" for r in index) == n_ok
    if "vg" in formats:
        assert len(export.read_vg_scene_graphs(out / "scene_graphs.json")) == n_ok
    if "jsonl" in formats:
        assert len(export.read_jsonl(out / "scene_graphs.jsonl", strict=True)) == n_ok
    if n_failed:
        assert len(export.read_jsonl(out / "errors.jsonl", strict=True)) == n_failed
    else:
        assert not (out / "errors.jsonl").exists()


def run_cli(*argv, env=None, timeout=600):
    e = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        if not env or k not in env:
            e.pop(k, None)
    return subprocess.run([sys.executable, *map(str, argv)], capture_output=True, text=True, env=e,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_concurrent_shards_share_an_output_folder(weights, tmp_path):
    src = images(tmp_path / "in", 13, bad=["zz.jpg"])
    out = tmp_path / "out"
    procs = [subprocess.Popen([sys.executable, "-m", "nodis.cli", "predict", str(src), "--out", str(out),
                               "--weights", str(weights), "--format", "json,vg,jsonl", "--shard", f"{i}/2",
                               "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT) for i in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (stdout, _) in zip(procs, results):
        # exit 1 for the shard holding zz.jpg, and for the shard that merged the run (it has a failure)
        expect = 1 if ("1 failed" in stdout.split("\n")[0] or "merged" in stdout) else 0
        assert p.returncode == expect, results
    assert sum("merged 2 shards: 14 images, 13 done, 1 failed" in out_ for out_, _ in results) == 1, results
    check_merged(out, 13, 1)
    for i in range(2):
        own = export.read_jsonl(out / "shards" / f"{i}-of-2" / "index.jsonl", strict=True)
        assert len(own) == 7


def test_merge_on_demand_and_incomplete_shards(model, tmp_path, capsys):
    src = images(tmp_path / "in", 5)
    out = tmp_path / "out"
    s0 = predict_paths(model, [src], out, shard="0/3", formats="json,vg,jsonl", merge=False, workers=0)
    assert s0.merged is None and not (out / "index.jsonl").exists()
    with pytest.raises(InputError, match=r"1 of 3 shards have finished; waiting for shard\(s\) 1/3, 2/3"):
        merge_shards(out)
    code = main(["predict", "--merge", str(out)])
    assert code == 2 and "waiting for shard(s) 1/3, 2/3" in capsys.readouterr().err
    for i in (1, 2):
        predict_paths(model, [src], out, shard=f"{i}/3", formats="json,vg,jsonl", merge=False, workers=0)
    assert not (out / "index.jsonl").exists()
    code = main(["predict", "--merge", str(out)])
    assert code == 0 and "merged 3 shards: 5 images, 5 done" in capsys.readouterr().out
    check_merged(out, 5)
    index = export.read_jsonl(out / "index.jsonl")
    assert [r["name"] for r in index] == [f"im{k:02d}" for k in range(5)]  # input order, not shard order
    # merging again is harmless; a rerun of one shard with --resume skips everything and re-merges
    assert merge_shards(out).done == 5
    s = predict_paths(model, [src], out, shard="1/3", formats="json,vg,jsonl", resume=True, workers=0)
    assert (s.done, s.skipped) == (0, 2) and s.merged is not None and s.merged.done == 5
    code = main(["predict", "--merge", str(tmp_path / "empty")])
    assert code == 2 and "nothing to merge" in capsys.readouterr().err
    code = main(["predict", str(src), "--merge", str(out)])
    assert code == 2 and "takes no INPUT" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_shards_by_rank_and_rank0_merges(weights, tmp_path):
    src = images(tmp_path / "in", 6)
    out = tmp_path / "out"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run_cli("-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2", "--master-addr",
                "127.0.0.1", "--master-port", str(port), "-m", "nodis.cli", "predict", src, "--out", out,
                "--weights", weights, "--format", "json,vg", "--workers", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("merged 2 shards: 6 images, 6 done") == 1, r.stdout
    assert "3 images (shard 0/2)" in r.stdout and "3 images (shard 1/2)" in r.stdout
    check_merged(out, 6, formats=("vg",))
    assert sorted(p.name for p in (out / "shards").iterdir() if p.is_dir()) == ["0-of-2", "1-of-2"]


def test_slurm_array_shard(monkeypatch):
    from nodis.predict import parse_shard

    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "12")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "10")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MAX", "13")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "4")
    assert parse_shard("slurm") == (2, 4)
    monkeypatch.setenv("SLURM_ARRAY_TASK_STEP", "2")
    with pytest.raises(InputError, match="consecutive"):
        parse_shard("slurm")
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
    with pytest.raises(InputError, match="not a SLURM job array"):
        parse_shard("slurm")
