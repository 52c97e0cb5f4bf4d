"""Hostile and damaged checkpoints: non-finite tensors, wrong dtypes, config values out of range
(refused before anything is allocated), hostile headers, corrupt official files (no --trust-pickle
advice), upper-case .TAR, file modes following the umask, temporary files of a killed save."""
import json
import os
import pickle
import time

import pytest
import torch
from safetensors.torch import load_file, save_file

import nodis
from nodis import export
from nodis.checkpoint import (
    FORMAT,
    OFFICIAL_SUFFIXES,
    is_official,
    load_checkpoint,
    read_header,
    read_official,
    save_checkpoint,
)
from nodis.config import preset
from nodis.errors import CheckpointError, ConfigError
from nodis.model import NODIS
from nodis.vocab import Vocabulary, vg150


def small_model():
    torch.manual_seed(0)
    v = Vocabulary("tiny", ("__background__", "a", "b"), ("__background__", "on", "near"))
    cfg = preset("demo", num_classes=3, num_predicates=3, hidden_dim=16, embed_dim=8, pos_dim=8, roi_dim=32,
                 feat_channels=16, image_size=64, max_objects=4, rpn_post_nms=16)
    return NODIS(cfg, v).eval()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return save_checkpoint(small_model(), tmp_path_factory.mktemp("c") / "m.safetensors")


def rewrite(src, dst, tensors=None, header=None, raw_header=None):
    """``src`` with some tensors and / or the nodis header replaced."""
    state = load_file(str(src))
    state.update(tensors or {})
    meta = raw_header if raw_header is not None else json.dumps(header if header is not None else read_header(src))
    save_file(state, str(dst), metadata={"nodis": meta})
    return dst


def test_non_finite_tensors_are_refused_naming_the_key(ckpt, tmp_path):
    state = load_file(str(ckpt))
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 3)
    for bad in (float("nan"), float("inf")):
        t = state[key].clone()
        t.view(-1)[2] = bad
        path = rewrite(ckpt, tmp_path / "bad.safetensors", {key: t})
        with pytest.raises(CheckpointError, match=f"{key}.*1 NaN or infinite value"):
            load_checkpoint(path)
    assert load_checkpoint(ckpt)  # the original is fine


def test_wrong_dtypes_are_refused_naming_the_key(ckpt, tmp_path):
    state = load_file(str(ckpt))
    key = next(k for k, v in state.items() if v.is_floating_point())
    path = rewrite(ckpt, tmp_path / "int.safetensors", {key: state[key].to(torch.int32)})
    with pytest.raises(CheckpointError, match=f"{key}.*dtype I32"):
        load_checkpoint(path)
    path = rewrite(ckpt, tmp_path / "bool.safetensors", {key: state[key] > 0})
    with pytest.raises(CheckpointError, match=f"{key}.*dtype BOOL"):
        load_checkpoint(path)
    # a float64 copy of a float32 model is converted, not refused
    path = rewrite(ckpt, tmp_path / "f64.safetensors", {key: state[key].double()})
    assert load_checkpoint(path).state_dict()[key].dtype == torch.float32


@pytest.mark.parametrize("field, value, needle", [
    ("hidden_dim", -5, "hidden_dim = -5 is outside"),
    ("hidden_dim", 200000, "hidden_dim = 200000 is outside"),
    ("rtol", "NaN", "rtol must be a finite number"),
    ("t_end", "Infinity", "t_end must be a finite number"),
    ("roi_dim", "abc", "roi_dim must be a whole number"),
    ("object_ode", "yes", "object_ode must be true or false"),
    ("anchor_ratios", 5, "anchor_ratios must be a list of numbers"),
    ("pixel_std", [0, 1, 1], "pixel_std must be finite numbers"),
    ("num_classes", 7, "7 classes"),
])
def test_config_values_are_validated_before_allocation(ckpt, tmp_path, field, value, needle):
    header = read_header(ckpt)
    raw = json.dumps(header).replace(f'"{field}": {json.dumps(header["config"][field])}', f'"{field}": '
                                     + (value if value in ("NaN", "Infinity") else json.dumps(value)), 1)
    path = rewrite(ckpt, tmp_path / "cfg.safetensors", raw_header=raw)
    with pytest.raises(CheckpointError, match=needle):
        load_checkpoint(path)


def test_a_config_describing_a_huge_model_is_refused_from_its_size(ckpt, tmp_path):
    header = read_header(ckpt)
    header["config"].update(hidden_dim=16384, roi_dim=65536, embed_dim=8192)
    path = rewrite(ckpt, tmp_path / "huge.safetensors", header=header)
    with pytest.raises(CheckpointError, match="billion values"):
        load_checkpoint(path)


@pytest.mark.parametrize("raw, needle", [
    ("[]", "not an object"),
    ("null", "not an object"),
    ('"text"', "not an object"),
    ("{not json", "corrupt nodis header"),
    ("[" * 100000 + "]" * 100000, "corrupt nodis header"),
    (json.dumps({"format": FORMAT, "config": None, "vocab": {}}), "'config' is NoneType"),
    (json.dumps({"format": FORMAT, "config": {}, "vocab": None}), "'vocab' is NoneType"),
    (json.dumps({"format": 5}), "unsupported checkpoint format"),
])
def test_hostile_headers_give_one_line_errors(ckpt, tmp_path, raw, needle):
    path = rewrite(ckpt, tmp_path / "h.safetensors", raw_header=raw)
    with pytest.raises(CheckpointError, match=needle) as e:
        load_checkpoint(path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("vocab, needle", [
    (None, "'vocab' is NoneType, not an object"),
    ({"classes": None, "predicates": ["__background__", "on"]}, "classes must be a list"),
    ({"classes": ["__background__", "a", "b"], "predicates": ["__background__", 3, "x"]}, r"predicates\[1\]"),
    ({"classes": ["__background__", "a", "a"], "predicates": ["__background__", "on", "near"]}, "twice"),
    ({"classes": ["x", "a", "b"], "predicates": ["__background__", "on", "near"]}, "__background__"),
])
def test_hostile_vocabularies(ckpt, tmp_path, vocab, needle):
    header = read_header(ckpt)
    header["vocab"] = vocab
    path = rewrite(ckpt, tmp_path / "v.safetensors", header=header)
    with pytest.raises(CheckpointError, match=needle):
        load_checkpoint(path)


def test_special_files_are_not_checkpoints(tmp_path):
    fifo = tmp_path / "w.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_checkpoint(fifo)  # would block forever if it were opened
    with pytest.raises(CheckpointError, match="not a regular file"):
        read_official(tmp_path / "w.safetensors")
    loop = tmp_path / "loop.tar"
    loop.symlink_to(loop)
    with pytest.raises(CheckpointError, match="cannot read"):
        read_official(loop)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_corrupt_official_files_do_not_advise_trust_pickle(tmp_path):
    good = tmp_path / "good.tar"
    torch.save({"state_dict": {"a": torch.zeros(3)}}, good)
    raw = good.read_bytes()
    cases = {"truncated.tar": raw[: len(raw) // 2], "random.tar": os.urandom(4096), "text.tar": b"hello" * 50}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError) as e:
            read_official(tmp_path / name, trust_pickle=False)
        assert "--trust-pickle" not in str(e.value) and "damaged" in str(e.value), name
        with pytest.raises(CheckpointError):  # and --trust-pickle does not unpickle a damaged file either
            read_official(tmp_path / name, trust_pickle=True)
    (tmp_path / "empty.tar").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        read_official(tmp_path / "empty.tar")
    # a file that really holds other pickled objects still gets the advice
    with open(tmp_path / "evil.tar", "wb") as f:
        pickle.dump({"state_dict": {"x": Evil()}}, f)
    with pytest.raises(CheckpointError, match="--trust-pickle"):
        read_official(tmp_path / "evil.tar")
    torch.save({"state_dict": {"a": torch.zeros(3)}, "cfg": Evil()}, tmp_path / "evil_zip.tar")
    with pytest.raises(CheckpointError, match="--trust-pickle"):
        read_official(tmp_path / "evil_zip.tar")
    assert read_official(good)["a"].shape == (3,)


def test_upper_case_tar_is_an_official_checkpoint(tmp_path):
    from nodis.checkpoint import OFFICIAL_PREFIXES

    assert all(is_official(f"x{s.upper()}") for s in OFFICIAL_SUFFIXES) and not is_official("x.safetensors")
    model = NODIS(preset("vg", image_size=160, roi_dim=256, hidden_dim=64, embed_dim=32, pos_dim=16,
                         rpn_post_nms=64, max_objects=12), vg150())
    inverse = {v: k for k, v in OFFICIAL_PREFIXES.items()}
    state = {}
    for k, v in model.state_dict().items():
        ours = max((o for o in inverse if k.startswith(o)), key=len)
        state[inverse[ours] + k[len(ours):]] = v
    path = tmp_path / "VGREL.TAR"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError, match="shape"):  # read as an official file (vg sizes), not as safetensors
        nodis.load_model(path)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_checkpoint_mode_follows_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        export._UMASK = umask  # what the module saw at import
        path = save_checkpoint(small_model(), tmp_path / "m.safetensors")
    finally:
        os.umask(old)
        export._UMASK = old
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_removes_temporary_files_of_a_killed_save_but_not_live_ones(tmp_path):
    dead = tmp_path / ".m.safetensors.abcd1234.tmp"
    dead.write_bytes(b"x" * 1000)
    legacy = tmp_path / "m.safetensors.wxyz5678.tmp"  # the name older versions used
    legacy.write_bytes(b"x")
    other = tmp_path / ".notes.txt.abcd1234.tmp"  # not ours: never touched
    other.write_bytes(b"x")
    past = time.time() - 3600
    for p in (dead, legacy, other):
        os.utime(p, (past, past))
    fd, live = export.temp_file(tmp_path / "m.safetensors")  # a save in progress elsewhere: locked
    os.utime(live, (past, past))
    try:
        save_checkpoint(small_model(), tmp_path / "m.safetensors")
        assert not dead.exists() and not legacy.exists()
        assert other.exists() and os.path.exists(live)
    finally:
        os.close(fd)
        os.unlink(live)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.txt.abcd1234.tmp", "m.safetensors"]


def test_convert_option_errors_are_one_line(tmp_path, capsys):
    from nodis.cli import main

    good = tmp_path / "good.tar"
    torch.save({"state_dict": {"detector.x": torch.zeros(1)}}, good)
    (tmp_path / "null.json").write_text('{"classes": null, "predicates": ["__background__", "on"]}')
    (tmp_path / "bad.json").write_text("{")
    cases = [
        (["--vocab", tmp_path / "null.json"], "--vocab"),
        (["--vocab", tmp_path / "bad.json"], "not valid JSON"),
        (["--vocab", tmp_path / "missing.json"], "cannot read"),
        (["--set", "hidden_dim=abc"], "hidden_dim must be a whole number"),
        (["--set", "hidden_dim=-5"], "hidden_dim = -5"),
        (["--set", "rtol=NaN"], "rtol must be a finite number"),
        (["--set", "anchor_ratios=5"], "anchor_ratios must be a list"),
        (["--set", "nope=1"], "nope"),
        (["--set", "novalue"], "KEY=VALUE"),
        (["--t-end", "nan"], "t_end"),
    ]
    for extra, needle in cases:
        code = main(["convert", str(good), str(tmp_path / "o.safetensors"), *map(str, extra)])
        out, err = capsys.readouterr()
        assert code == 2 and err.startswith("nodis: error: ") and needle in err and err.count("\n") == 1, (extra, err)
        assert "Traceback" not in err
    code = main(["convert", str(tmp_path / "null.json"), str(tmp_path / "o.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and "--trust-pickle" not in err and "damaged" in err


def test_model_config_rejects_hostile_values_directly():
    with pytest.raises(ConfigError, match="must be a JSON object"):
        nodis.ModelConfig.from_dict(["x"])
    with pytest.raises(ConfigError):
        preset("vg", det_nms=0.0)
