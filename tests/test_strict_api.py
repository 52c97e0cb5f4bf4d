"""The Python API refuses what the CLI refuses, with the same kind of error (issue 13)."""
from __future__ import annotations

import math

import pytest

from nodis.errors import InputError, NodisError
from nodis.graph import check_score_threshold
from tests.helpers import BOXES, LABELS


def test_sgdet_refuses_boxes_and_labels(demo_model, rgb_image):
    with pytest.raises(InputError, match="sgdet detects its own boxes"):
        demo_model.predict(rgb_image, mode="sgdet", boxes=BOXES)
    with pytest.raises(InputError, match="sgdet detects its own boxes"):
        demo_model.predict(rgb_image, mode="sgdet", labels=LABELS)
    with pytest.raises(InputError, match="needs boxes"):
        demo_model.predict(rgb_image, mode="sgcls")


def test_graph_at_outside_the_solved_grid_is_an_error(demo_model, rgb_image):
    traj = demo_model.predict(rgb_image, mode="predcls", boxes=BOXES, labels=LABELS, times=[0.0, 1.5, 2.5])
    assert traj.graph_at(2.5).t_obj == pytest.approx(2.5)
    assert traj.graph_at(0.0).t_obj == pytest.approx(0.0)
    assert traj.graph_at(1.4).t_obj == pytest.approx(1.5)  # inside the grid: the nearest solved time
    for bad in (3.0, 2.6, -0.1, math.nan):
        with pytest.raises(InputError, match="outside the solved ODE grid"):
            traj.graph_at(bad)
    with pytest.raises(InputError, match="outside the solved ODE grid"):
        traj.graph_at(1.5, t_rel=3.0)
    # a grid that reaches t = 3 answers there
    longer = demo_model.predict(rgb_image, mode="predcls", boxes=BOXES, labels=LABELS, times=[0.0, 1.5, 3.0])
    assert longer.graph_at(3.0).t_obj == pytest.approx(3.0)


def test_thresholds_outside_0_1_are_refused_everywhere(demo_model, rgb_image, tmp_path):
    for ok in (0, 0.0, 0.5, 1, "0.25"):
        assert check_score_threshold(ok) == float(ok)
    for bad in (2, -0.1, 1.0001, math.nan, math.inf, "x", None):
        with pytest.raises(InputError):
            check_score_threshold(bad)
    g = demo_model.predict(rgb_image, mode="predcls", boxes=BOXES, labels=LABELS, times=[0.0, 1.5]).graph_at(1.5)
    assert len(g.filtered(threshold=0.0).relations) == len(g.relations)
    assert g.filtered(threshold=1.0).relations == [r for r in g.relations if r.score >= 1.0]
    with pytest.raises(InputError, match="threshold must be in"):
        g.filtered(threshold=2)
    with pytest.raises(InputError, match="object_threshold must be in"):
        g.filtered(object_threshold=-0.5)
    # the batch API refuses before writing anything
    from PIL import Image

    from nodis.predict import predict_paths

    img = tmp_path / "a.png"
    Image.new("RGB", (60, 40), (1, 2, 3)).save(img)
    with pytest.raises(NodisError, match=r"threshold.*must be in \[0, 1\]"):
        predict_paths(demo_model, [img], tmp_path / "out", threshold=2)
    assert not (tmp_path / "out").exists()
