import numpy as np
import pytest

pytest.importorskip("pycocotools")

from nodis.detection_eval import coco_map  # noqa: E402

NAMES = ["__background__", "cup", "hat", "dog"]


def _gt():
    return [(np.array([[10, 10, 50, 50], [60, 60, 120, 100]], float), np.array([1, 2])),
            (np.array([[0, 0, 30, 40]], float), np.array([3]))]


def test_perfect_detections_score_one():
    gts = _gt()
    dets = [(b, np.full(len(b), 0.9), lab) for b, lab in gts]
    r = coco_map(gts, dets, NAMES)
    assert r["mAP50"] == pytest.approx(1.0) and r["mAP"] == pytest.approx(1.0)
    assert r["AP50_per_class"] == pytest.approx({"cup": 1.0, "hat": 1.0, "dog": 1.0})


def test_missed_and_wrong_class_detections_lower_the_right_classes():
    gts = _gt()
    dets = [(np.array([[10, 10, 50, 50], [60, 60, 120, 100]], float), np.array([0.9, 0.8]), np.array([1, 3])),
            (np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))]
    r = coco_map(gts, dets, NAMES)
    assert r["AP50_per_class"]["cup"] == pytest.approx(1.0)
    assert r["AP50_per_class"]["hat"] == pytest.approx(0.0)
    assert r["AP50_per_class"]["dog"] == pytest.approx(0.0)
    assert r["mAP50"] == pytest.approx(1 / 3)


def test_a_loose_box_counts_at_05_but_not_at_075():
    gts = [(np.array([[0, 0, 100, 100]], float), np.array([1]))]
    # IoU = 60*100 / (100*100) = 0.6
    dets = [(np.array([[0, 0, 60, 100]], float), np.array([0.9]), np.array([1]))]
    r = coco_map(gts, dets, NAMES)
    assert r["mAP50"] == pytest.approx(1.0) and r["mAP75"] == pytest.approx(0.0)
