"""Object accuracy and confidence at one ODE time (the model card's story of t)."""
from types import SimpleNamespace

import numpy as np

from nodis.evaluate import _object_stats
from nodis.graph import ObjectNode, SceneGraph

SAMPLE = SimpleNamespace(boxes=np.array([[0, 0, 10, 10], [20, 20, 40, 40]], float), labels=np.array([3, 5]))


def _graph(objs, mode):
    return SceneGraph(objects=objs, relations=[], image_size=(50, 50), mode=mode)


def test_given_boxes_are_judged_against_their_own_labels():
    acc = [0, 0, 0.0, 0]
    g = _graph([ObjectNode(0, (0, 0, 10, 10), 3, "a", 0.9), ObjectNode(1, (20, 20, 40, 40), 4, "b", 0.5)], "sgcls")
    _object_stats(acc, g, SAMPLE, "sgcls")
    assert acc == [1, 2, 1.4, 2]


def test_detections_are_judged_only_where_they_overlap_ground_truth():
    acc = [0, 0, 0.0, 0]
    objs = [ObjectNode(0, (21, 21, 40, 40), 5, "b", 0.8),  # IoU > 0.5 with box 1, right label
            ObjectNode(1, (0, 0, 11, 10), 2, "x", 0.6),  # overlaps box 0, wrong label
            ObjectNode(2, (45, 45, 49, 49), 3, "a", 0.2)]  # no ground truth there: not judged
    _object_stats(acc, _graph(objs, "sgdet"), SAMPLE, "sgdet")
    assert acc[:2] == [1, 2] and acc[3] == 3 and abs(acc[2] - 1.6) < 1e-9
