"""The two evaluation frames of `nodis eval` (docs/evaluation.md): the release's (BOX_SCALE 1024,
``load_graphs`` decoding, predictions scaled from the model input) and original-image pixels."""
import numpy as np
import pytest

from nodis.data.vg import VGDataset
from nodis.errors import InputError
from nodis.evaluate import evaluate_model
from nodis.evaluation import Evaluator, GroundTruth, Prediction
from nodis.train import build_model, train_preset
from tests.helpers import make_toy_dataset


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_dataset(tmp_path_factory.mktemp("toy_frame"), n_train=4, n_test=3, seed=3)


def test_release_decoding_truncates_half_widths(toy):
    ds = VGDataset(toy, "test")
    for i in range(len(ds)):
        exact, release = ds.boxes_1024(i, "exact"), ds.boxes_1024(i)
        w = exact[:, 2:] - exact[:, :2]
        assert np.array_equal(release[:, 2:] - release[:, :2], w)  # same sizes
        xc = exact[:, :2] + w // 2  # what the file stores
        assert np.array_equal(release[:, :2], np.trunc(xc - w / 2))
        shift = exact[:, :2] - release[:, :2]
        assert np.array_equal(shift, (w % 2 == 1) & (xc - w / 2 >= 0.5))  # odd sizes: one pixel left/up
    assert any((ds.boxes_1024(i, "exact") != ds.boxes_1024(i)).any() for i in range(len(ds)))


def test_the_frame_decides_a_borderline_match():
    """The +1-pixel IoU is not scale-invariant: a detection that misses at BOX_SCALE 1024 (the
    release) matches in the pixels of a 256-px image."""
    gt1024 = np.array([[100.0, 100.0, 109.0, 109.0], [300.0, 300.0, 340.0, 340.0]])
    det1024 = np.array([[100.0, 104.0, 109.0, 113.0], [300.0, 300.0, 340.0, 340.0]])
    rel = np.array([[0, 1, 1]])
    scores = np.array([[0.0, 1.0]])

    def recall(scale):
        ev = Evaluator(2)
        ev.add(GroundTruth(gt1024 * scale, [1, 2], rel), Prediction(det1024 * scale, [1, 2], [1, 1], [[0, 1]], scores))
        return ev.summary()["R@20"]

    assert recall(1.0) == 0.0  # IoU (+1) = 60 / 140 = 0.43
    assert recall(0.25) == 1.0  # 3.25 x 2.25 / (2 * 3.25^2 - 7.31) = 0.53


def test_evaluate_model_frames(toy, monkeypatch):
    model = build_model(train_preset("demo", data=str(toy)))
    ds = VGDataset(toy, "test", filter_duplicate_rels=False)
    seen = []
    real = model.predict

    def spy(path, mode="sgdet", boxes=None, **kw):
        seen.append(None if boxes is None else np.asarray(boxes, np.float64))
        return real(path, mode=mode, boxes=boxes, **kw)

    monkeypatch.setattr(model, "predict", spy)
    rel = evaluate_model(model, toy, "predcls", limit=2)
    assert rel["frame"] == "release" and rel["num_images"] == 2
    for i in range(2):  # the model sees the release's ground-truth boxes
        s = ds[i]
        assert np.allclose(seen[i], ds.boxes_1024(i) * max(s.width, s.height) / 1024)
    seen.clear()
    img = evaluate_model(model, toy, "predcls", limit=2, frame="image")
    assert img["frame"] == "image" and np.allclose(seen[0], ds[0].boxes)
    det = evaluate_model(model, toy, "sgdet", limit=2)
    assert det["frame"] == "release" and det["num_images"] == 2
    with pytest.raises(InputError, match="frame"):
        evaluate_model(model, toy, "sgdet", frame="pixels")


def test_release_frame_scales_sgdet_boxes_from_the_model_input(toy):
    from nodis.evaluate import _frame_prediction

    model = build_model(train_preset("demo", data=str(toy)))
    s = VGDataset(toy, "test")[0]
    traj = model.predict(s.image_path, mode="sgdet", times=[0.0, model.cfg.t_end])
    g = traj.graph_at(traj.t_end)
    objs = traj.objects_at(traj.t_end)
    p = _frame_prediction(traj, g, traj.t_end, model.cfg.num_predicates, "release")
    expect = objs.model_boxes.astype(np.float32) * np.float32(1024) / np.float32(model.cfg.image_size)
    assert np.array_equal(p.boxes, expect.astype(np.float64))
    q = _frame_prediction(traj, g, traj.t_end, model.cfg.num_predicates, "image")
    assert np.allclose(q.boxes * 1024 / max(s.width, s.height), p.boxes, atol=0.05)  # same boxes, other frame
