"""The release's box rules (ModelConfig.box_rules = "release", the default): +1-pixel IoU and NMS in
the released kernels' float32 order, and the config switch."""
import numpy as np
import pytest
import torch
import torchvision

from nodis.config import ModelConfig, preset
from nodis.errors import ConfigError
from nodis.model.box_ops import iou_plus_one, label_nms_mask, nms_by_class, nms_plus_one

WIDEN = torch.tensor([0.0, 0.0, 1.0, 1.0])


def random_boxes(n, seed, size=300.0, max_wh=80.0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    return torch.cat([xy, xy + torch.rand(n, 2, generator=g) * max_wh + 0.5], 1), torch.rand(n, generator=g)


def test_release_rules_are_the_default_and_old_configs_get_them():
    assert preset("vg").box_rules == "release" and preset("demo").box_rules == "release"
    d = preset("demo").to_dict()
    del d["box_rules"]  # a checkpoint written before the field existed
    assert ModelConfig.from_dict(d).box_rules == "release"
    assert ModelConfig.from_dict({**d, "box_rules": "torchvision"}).box_rules == "torchvision"
    with pytest.raises(ConfigError, match="box_rules"):
        preset("vg", box_rules="plus_two")


def test_plus_one_overlap_and_strict_threshold():
    a = torch.tensor([[0.0, 0.0, 9.0, 9.0]])
    assert iou_plus_one(a, torch.tensor([[9.0, 0.0, 19.0, 9.0]])).item() > 0  # they share the column x = 9
    assert iou_plus_one(a, torch.tensor([[10.0, 0.0, 19.0, 9.0]])).item() == 0
    assert torchvision.ops.box_iou(a, torch.tensor([[9.0, 0.0, 19.0, 9.0]])).item() == 0
    half = torch.tensor([[0.0, 0.0, 9.0, 9.0], [0.0, 0.0, 9.0, 4.0]])  # +1 IoU exactly 0.5
    assert nms_plus_one(half, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0, 1]  # not > 0.5: both kept
    assert nms_plus_one(half, torch.tensor([0.9, 0.8]), 0.49).tolist() == [0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nms_plus_one_is_greedy_nms_on_plus_one_boxes(seed):
    boxes, scores = random_boxes(800, seed)
    keep = nms_plus_one(boxes, scores, 0.5, pre_nms=600, post_nms=150)
    top = scores.argsort(descending=True)[:600]
    expect = top[torchvision.ops.nms(boxes[top] + WIDEN, scores[top], 0.5)][:150]
    assert torch.equal(keep, expect)
    assert len(keep) == 150


def test_per_class_and_label_nms_follow_the_single_class_rule():
    boxes, scores = random_boxes(120, 5, size=150.0)
    classes = torch.randint(1, 6, (120,), generator=torch.Generator().manual_seed(5))
    keep = nms_by_class(boxes, scores, classes, 0.3, "release", post_nms=7)
    for c in range(1, 6):
        idx = (classes == c).nonzero(as_tuple=True)[0]
        assert torch.equal(keep[classes[keep] == c], idx[nms_plus_one(boxes[idx], scores[idx], 0.3)][:7])
    # label NMS: every class of K boxes at once
    K, C = 30, 8
    g = torch.Generator().manual_seed(6)
    cboxes = torch.cat([random_boxes(K * C, 6, size=100.0)[0]]).view(K, C, 4)
    probs = torch.softmax(torch.randn(K, C, generator=g) * 2, 1)
    mask = label_nms_mask(cboxes, probs, 0.5)
    assert (mask[:, 0] == 0).all()
    for c in range(1, C):
        kept = torch.zeros(K)
        kept[nms_plus_one(cboxes[:, c], probs[:, c], 0.5)] = 1
        assert torch.equal(mask[:, c], kept)


def test_sgdet_pairs_use_the_plus_one_overlap(demo_model):
    touching = torch.tensor([[0.0, 0.0, 9.0, 9.0], [9.0, 0.0, 19.0, 9.0], [40.0, 40.0, 50.0, 50.0]])
    pairs = demo_model.candidate_pairs(touching, True)
    assert pairs.tolist() == [[0, 1], [1, 0]]
    from tests.helpers import make_model

    modern = make_model(box_rules="torchvision")
    assert modern.candidate_pairs(touching, True).shape[0] == 0
    assert np.array_equal(demo_model.candidate_pairs(touching, False).numpy(),
                          np.array([[0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 1]]))
