import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nodis.checkpoint import load_checkpoint
from nodis.data.vg import VGDataset
from nodis.train import DetectorLoss, RelationLoss, TrainData, build_model, run_stage, train, train_preset
from tests.helpers import given, make_toy_dataset

TINY = dict(batch_size=2, workers=0, num_val_im=2, val_images=2, log_every=1)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_dataset(tmp_path_factory.mktemp("toy"))


def tiny_cfg(toy, out, **kw):
    return train_preset("demo", data=str(toy), out=str(out), **{**TINY, **kw})


def _fixed_loss(model, cfg, stage):
    """Loss on the same first training images, same sampling seed, eval mode: comparable across steps."""
    ds = VGDataset(cfg.data, "train", num_val_im=cfg.num_val_im, filter_non_overlap=False, seed=cfg.seed)
    data = TrainData(ds, model.cfg, train=False, seed=cfg.seed)
    batches = [[data[i], data[i + 1]] for i in range(0, min(8, len(data) - 1), 2)]
    loss_mod = DetectorLoss(model) if stage == "detector" else RelationLoss(model, cfg.bg_pairs, 0.0, seed=7)
    was_training = model.training
    model.eval()
    torch.manual_seed(0)
    total = 0.0
    with torch.no_grad():
        for b in batches:
            total += float(sum(v for k, v in loss_mod(b).items() if not k.startswith("nfe")))
    model.train(was_training)
    return total


def test_detector_and_relation_losses_fall(toy, tmp_path):
    # predcls/sgcls batches only in the relation stage: sgdet batches depend on what an
    # untrained detector proposes, which makes a 30-step loss curve too noisy to judge
    cfg = tiny_cfg(toy, tmp_path, det_lr=3e-3, rel_lr=3e-3, sgdet_fraction=0.0)
    model = build_model(cfg)
    before = _fixed_loss(model, cfg, "detector")
    run_stage(model, "detector", cfg, tmp_path / "det.pt", progress=False, max_steps=30)
    after = _fixed_loss(model, cfg, "detector")
    assert after < 0.8 * before, (before, after)
    before = _fixed_loss(model, cfg, "relation")
    run_stage(model, "relation", cfg, tmp_path / "rel.pt", progress=False, max_steps=30)
    after = _fixed_loss(model, cfg, "relation")
    assert after < 0.8 * before, (before, after)
    # the detector stayed frozen during the relation stage
    assert all(not p.requires_grad for p in model.detector.parameters())


def test_resume_continues_from_saved_step(toy, tmp_path):
    cfg = tiny_cfg(toy, tmp_path)
    model = build_model(cfg)
    r1 = run_stage(model, "relation", cfg, tmp_path / "rel.pt", progress=False, max_steps=3)
    assert r1["steps"] == 3
    saved = torch.load(tmp_path / "rel.pt", weights_only=True)
    assert saved["step"] == 3
    model2 = build_model(cfg)
    r2 = run_stage(model2, "relation", cfg, tmp_path / "rel.pt", progress=False, max_steps=5)
    assert r2["steps"] == 5 and r2["resumed_from"] == 3 and len(r2["history"]) == 2


def test_full_train_writes_a_checkpoint_for_all_modes(toy, tmp_path):
    cfg = tiny_cfg(toy, tmp_path, det_epochs=0.25, rel_epochs=0.25)
    path = train(cfg, progress=False)
    model = load_checkpoint(path)
    info = model.checkpoint_info
    assert info["train_config"]["preset"] == "demo" and "val" in info
    img = sorted((Path(toy) / "VG_100K").glob("*.jpg"))[-1]
    for mode in ("predcls", "sgcls", "sgdet"):
        g = model.predict(img, mode=mode, **given(mode, [[5, 5, 40, 40], [50, 20, 90, 70]], [1, 2])).graph_at(1.5)
        assert g.objects


@pytest.mark.slow
def test_two_process_ddp(toy, tmp_path):
    out = tmp_path / "ddp"
    script = (
        "import sys; sys.path.insert(0, %r)\n"
        "from nodis.train import train, train_preset\n"
        "cfg = train_preset('demo', data=%r, out=%r, batch_size=2, workers=0, num_val_im=2, val_images=2,"
        " det_epochs=0, rel_epochs=0.5)\n"
        "train(cfg, progress=False)\n" % (str(Path(__file__).resolve().parent.parent), str(toy), str(out))
    )
    env = dict(os.environ, OMP_NUM_THREADS="1")
    import socket

    with socket.socket() as sock:  # a free port: another run of this test may hold a fixed one
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port), "--no-python", sys.executable, "-c", script]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    log = json.loads((out / "train_log.json").read_text())
    assert log["world_size"] == 2
    assert (out / "model.safetensors").exists()


def test_model_overrides_from_the_command_line():
    from nodis.commands import parse_model_overrides
    from nodis.errors import ConfigError

    assert parse_model_overrides(["object_ode=false", "predicate-ode=on", "t_end=1.0", "solver=rk4"]) == {
        "object_ode": False, "predicate_ode": True, "t_end": 1.0, "solver": "rk4"}
    for bad in (["nonsense=1"], ["object_ode"], ["object_ode=maybe"], ["t_end=soon"]):
        with pytest.raises(ConfigError):
            parse_model_overrides(bad)


def _tensors(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def test_resumed_training_equals_uninterrupted_bit_for_bit(toy, tmp_path):
    """Both stages, killed mid-stage and resumed, give exactly the tensors of an uninterrupted run
    (all RNG, sampler and loss-sampler states are saved with the training state)."""
    kw = dict(det_epochs=1.5, rel_epochs=1.5, sgdet_fraction=0.5)
    full = train(tiny_cfg(toy, tmp_path / "full", **kw), progress=False)
    # interrupted twice: once inside the detector stage, once inside the relation stage
    cfg = tiny_cfg(toy, tmp_path / "cut", **kw)
    (tmp_path / "cut").mkdir()
    model = build_model(cfg)
    run_stage(model, "detector", cfg, tmp_path / "cut" / "detector_state.pt", progress=False, max_steps=3)
    model = build_model(cfg)
    run_stage(model, "detector", cfg, tmp_path / "cut" / "detector_state.pt", progress=False)
    run_stage(model, "relation", cfg, tmp_path / "cut" / "relation_state.pt", progress=False, max_steps=2)
    cut = train(cfg, progress=False)
    a, b = _tensors(full), _tensors(cut)
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, differ[:5]


def test_same_command_writes_the_same_file(toy, tmp_path):
    cfg = tiny_cfg(toy, tmp_path / "run", det_epochs=0.5, rel_epochs=0.5)
    first = train(cfg, progress=False).read_bytes()
    import shutil

    shutil.rmtree(tmp_path / "run")
    second = train(cfg, progress=False).read_bytes()
    assert first == second


def test_split_smaller_than_a_batch_is_refused(toy, tmp_path):
    from nodis.errors import DatasetError

    cfg = tiny_cfg(toy, tmp_path, batch_size=10_000)
    model = build_model(cfg)
    with pytest.raises(DatasetError, match="fewer than one batch"):
        run_stage(model, "detector", cfg, tmp_path / "det.pt", progress=False)


def test_truncated_training_state_gives_a_clear_error(toy, tmp_path):
    from nodis.errors import CheckpointError

    cfg = tiny_cfg(toy, tmp_path)
    model = build_model(cfg)
    run_stage(model, "detector", cfg, tmp_path / "det.pt", progress=False, max_steps=1)
    data = (tmp_path / "det.pt").read_bytes()
    (tmp_path / "det.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged"):
        run_stage(build_model(cfg), "detector", cfg, tmp_path / "det.pt", progress=False)
    assert not list(tmp_path.glob(".*.tmp"))


def test_runaway_relation_solve_skips_the_batch_and_changes_nothing(toy, tmp_path):
    """A cap of one adaptive step: every relation batch's object ODE exceeds it, so every batch is
    skipped (counted, logged) and no parameter moves; without the cap the same steps train."""
    cfg = tiny_cfg(toy, tmp_path, sgdet_fraction=0.0, ode_max_steps=1)
    model = build_model(cfg)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    r = run_stage(model, "relation", cfg, tmp_path / "rel.pt", progress=False, max_steps=3)
    assert r["steps"] == 3 and r["skipped"] == 3
    assert all(rec.get("skipped") == 1.0 for rec in r["history"])
    # (batch-norm running statistics of the aborted forward pass may move; no parameter does)
    assert all(torch.equal(before[k], v) for k, v in model.named_parameters())
    # the cap is lifted after training: inference solves freely
    from nodis.model.ode import ODEBlock
    assert all(m.max_num_steps is None for m in model.modules() if isinstance(m, ODEBlock))
    cfg2 = tiny_cfg(toy, tmp_path / "free", sgdet_fraction=0.0, ode_max_steps=0)
    model2 = build_model(cfg2)
    before2 = {k: v.detach().clone() for k, v in model2.named_parameters()}
    r2 = run_stage(model2, "relation", cfg2, tmp_path / "free.pt", progress=False, max_steps=3)
    assert r2["skipped"] == 0
    assert any(not torch.equal(before2[k], v) for k, v in model2.named_parameters())


def test_ode_block_step_cap_raises_a_named_error():
    from nodis.model.ode import ODEBlock, SolverStepLimit

    class Stiff(torch.nn.Module):
        def forward(self, t, y):
            return -500.0 * (y - torch.cos(t))

    blk = ODEBlock(Stiff(), solver="dopri5", rtol=1e-6, atol=1e-6)
    y0 = torch.ones(4, 3)
    times = torch.tensor([0.0, 1.5])
    blk(y0, times)  # no cap: solves
    blk.max_num_steps = 5
    with pytest.raises(SolverStepLimit):
        blk(y0, times)
