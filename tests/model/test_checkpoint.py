import pickle

import pytest
import torch

from nodis.checkpoint import (
    OFFICIAL_PREFIXES,
    import_official,
    load_checkpoint,
    map_official_keys,
    read_header,
    save_checkpoint,
)
from nodis.config import preset
from nodis.errors import CheckpointError
from nodis.model import NODIS
from nodis.vocab import vg150
from tests.helpers import given, make_model

# reduced-width variant of the official layout: exact key names, VGG16 backbone, smaller heads/image
SMALL_VG = dict(image_size=160, roi_dim=256, hidden_dim=64, embed_dim=32, pos_dim=16, rpn_post_nms=64, max_objects=12)


def to_official(model: NODIS) -> dict:
    """Our state dict renamed to the official NODIS names (inverse of the importer's mapping)."""
    inverse = {v: k for k, v in OFFICIAL_PREFIXES.items()}
    out = {}
    for k, v in model.state_dict().items():
        for ours, theirs in sorted(inverse.items(), key=lambda kv: -len(kv[0])):
            if k.startswith(ours):
                out[theirs + k[len(ours):]] = v.clone()
                break
        else:
            raise AssertionError(k)
    return out


def test_full_size_official_layout_maps_every_key():
    # the vg preset on the meta device: official names and exact shapes, no memory
    with torch.device("meta"):
        model = NODIS(preset("vg"), vg150())
    official = to_official(model)
    assert len(official) == 99
    expected = {
        "detector.features.0.weight": (64, 3, 3, 3), "detector.roi_fmap.0.weight": (4096, 25088),
        "detector.score_fc.weight": (151, 4096), "detector.bbox_fc.weight": (604, 4096),
        "detector.rpn_head.anchors": (37, 37, 20, 4), "detector.rpn_head.conv.2.weight": (120, 512, 1, 1),
        "context.obj_embed.weight": (151, 200), "context.pos_embed.1.weight": (128, 4),
        "context.decoder_lin1.weight": (1024, 4424),
        "context.decoder_lin2.odeFunc.lstm.weight_hh_l0_reverse": (2048, 512),
        "context.decoder_lin3.weight": (151, 1024), "union_boxes.conv.0.weight": (256, 2, 7, 7),
        "union_boxes.conv.6.running_var": (512,), "roi_fmap_obj.3.weight": (4096, 4096),
        "obj_embed2.weight": (151, 200), "lstm_visual.weight_ih_l0": (2048, 1536),
        "lstm_semantic.weight_ih_l0": (2048, 400), "odeBlock.odeFunc.lstm.weight_ih_l0": (2048, 1024),
        "fc_predicate.0.weight": (512, 1024), "fc_predicate.2.weight": (51, 512),
    }
    for k, shape in expected.items():
        assert tuple(official[k].shape) == shape, k
    assert sum(v.numel() for k, v in official.items() if "num_batches" not in k and "anchors" not in k
               and "running" not in k) == 284_525_797
    mapped = map_official_keys(official)
    assert set(mapped) == set(model.state_dict())


def test_import_official_reduced_checkpoint_runs_all_modes(tmp_path, rgb_image):
    torch.manual_seed(3)
    src = NODIS(preset("vg", **SMALL_VG), vg150()).eval()
    path = tmp_path / "vgrel-11-0.6543.tar"
    torch.save({"epoch": 11, "state_dict": to_official(src)}, path)
    model = import_official(path, cfg=preset("vg", **SMALL_VG))
    for k, v in src.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    for mode in ("predcls", "sgcls", "sgdet"):
        g = model.predict(rgb_image, mode=mode, **given(mode)).graph_at(1.5)
        assert g.relations or mode == "sgdet"
    # conversion to our format and back is bit-exact
    out = save_checkpoint(model, tmp_path / "converted.safetensors")
    again = load_checkpoint(out)
    for k, v in model.state_dict().items():
        assert torch.equal(again.state_dict()[k], v), k


def test_detector_checkpoint_copies_roi_fmap(tmp_path):
    torch.manual_seed(4)
    src = NODIS(preset("vg", **SMALL_VG), vg150())
    det = {k: v.clone() for k, v in src.detector.state_dict().items()}
    path = tmp_path / "vg-24.tar"
    torch.save({"epoch": 24, "state_dict": det, "optimizer": {"state": {}, "param_groups": []}}, path)
    model = import_official(path, cfg=preset("vg", **SMALL_VG))
    assert torch.equal(model.detector.features[0].weight, det["features.0.weight"])
    assert torch.equal(model.roi_fmap_obj[0].weight, det["roi_fmap.0.weight"])
    assert torch.equal(model.roi_fmap_obj[3].bias, det["roi_fmap.3.bias"])


def test_importer_names_bad_keys(tmp_path):
    src = NODIS(preset("vg", **SMALL_VG), vg150())
    off = to_official(src)
    bad = dict(off)
    bad["fc_predicate.2.weight"] = torch.zeros(7, 64)
    torch.save({"state_dict": bad}, tmp_path / "shape.tar")
    with pytest.raises(CheckpointError, match=r"fc_predicate\.2\.weight.*shape"):
        import_official(tmp_path / "shape.tar", cfg=preset("vg", **SMALL_VG))
    missing = {k: v for k, v in off.items() if not k.startswith("lstm_semantic.")}
    torch.save({"state_dict": missing}, tmp_path / "missing.tar")
    with pytest.raises(CheckpointError, match="lstm_semantic.*missing"):
        import_official(tmp_path / "missing.tar", cfg=preset("vg", **SMALL_VG))
    extra = dict(off, **{"freq_bias.obj_baseline.weight": torch.zeros(3)})
    torch.save({"state_dict": extra}, tmp_path / "extra.tar")
    with pytest.raises(CheckpointError, match="freq_bias"):
        import_official(tmp_path / "extra.tar", cfg=preset("vg", **SMALL_VG))


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_objects_need_explicit_trust(tmp_path):
    path = tmp_path / "legacy.tar"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": {"x": Evil()}}, f)
    with pytest.raises(CheckpointError, match="--trust-pickle"):
        import_official(path)
    (tmp_path / "junk.tar").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        import_official(tmp_path / "junk.tar")


def test_our_checkpoint_round_trip_and_errors(tmp_path):
    model = make_model(t_end=1.2, state_policy="reset")
    path = save_checkpoint(model, tmp_path / "m.safetensors", info={"seed": 7})
    header = read_header(path)
    assert header["config"]["t_end"] == 1.2 and header["vocab"]["classes"][78] == "man"
    assert header["info"] == {"seed": 7}
    again = load_checkpoint(path)
    assert again.cfg == model.cfg and again.vocab == model.vocab
    for k, v in model.state_dict().items():
        assert torch.equal(again.state_dict()[k], v)
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(CheckpointError, match="no such"):
        load_checkpoint(tmp_path / "nope.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint(tmp_path / "bad.safetensors")
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="header"):
        load_checkpoint(tmp_path / "plain.safetensors")
