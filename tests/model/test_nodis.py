import numpy as np
import pytest

from nodis.errors import InputError
from nodis.model import default_times
from tests.helpers import BOXES, LABELS, given, make_model


@pytest.mark.parametrize("mode", ["sgdet", "sgcls", "predcls"])
def test_shapes_per_mode(demo_model, rgb_image, mode):
    traj = demo_model.predict(rgb_image, mode=mode, **given(mode))
    g = traj.graph_at(1.5)
    G = len(default_times(1.5))
    assert traj.times.shape == (G,) and traj.times[0] == 0 and 1.5 in traj.times.tolist()
    if mode == "sgdet":
        assert 1 <= len(g.objects) <= demo_model.cfg.max_objects
        assert traj.obj_probs.shape[0] == G and traj.obj_probs.shape[2] == 151
    else:
        assert [o.index for o in g.objects] == [0, 1, 2, 3]
        assert len(g.relations) == 4 * 3  # all ordered pairs
    if mode == "predcls":
        assert [o.label for o in g.objects] == LABELS and all(o.score == 1.0 for o in g.objects)
        assert traj.nfe["object"] == 0
    for o in g.objects:
        x1, y1, x2, y2 = o.box
        assert 0 <= x1 <= x2 <= 320 and 0 <= y1 <= y2 <= 240  # original-image pixels
    scores = [r.score for r in g.relations]
    assert scores == sorted(scores, reverse=True)
    ids = {o.index for o in g.objects}
    for r in g.relations:
        assert r.subject in ids and r.object in ids and r.subject != r.object
        assert r.predicate >= 1 and len(r.predicate_scores) == 51
        assert abs(sum(r.predicate_scores) - 1) < 1e-4
        assert r.predicate_score == max(r.predicate_scores[1:])
        s = g.object_by_index(r.subject).score * g.object_by_index(r.object).score
        assert abs(r.score - s * r.predicate_score) < 1e-6
    assert traj.nfe["predicate"] >= 8


@pytest.mark.parametrize("policy", ["carry", "reset"])
@pytest.mark.parametrize("mode", ["sgcls", "sgdet"])
def test_grid_equals_two_point_solve_at_t_end(rgb_image, policy, mode):
    model = make_model(state_policy=policy)
    full = model.predict(rgb_image, mode=mode, **given(mode)).graph_at(1.5)
    two = model.predict(rgb_image, mode=mode, times=[0.0, 1.5], **given(mode)).graph_at(1.5)
    for g in (full, two):  # the NFE differ: the grid solve goes on to t = 2.5
        g.meta.pop("nfe_object"), g.meta.pop("nfe_predicate")
    assert full.to_dict() == two.to_dict()


def test_time_changes_the_graph_and_linked_vs_separate(demo_model, rgb_image):
    traj = demo_model.predict(rgb_image, mode="sgcls", boxes=BOXES)
    g0, g15 = traj.graph_at(0.0), traj.graph_at(1.5)
    assert [o.class_scores for o in g0.objects] != [o.class_scores for o in g15.objects]
    sep = traj.graph_at(t_obj=1.5, t_rel=0.5)
    assert sep.t_obj == 1.5 and sep.t_rel == 0.5
    assert [o.label for o in sep.objects] == [o.label for o in g15.objects]
    assert [r.predicate_scores for r in sep.relations] != [r.predicate_scores for r in g15.relations]
    assert traj.graph_at(1.5) is g15  # cached
    assert traj.graph_at(1.52) is g15  # snapped to the grid


def test_ablation_switches_change_outputs(rgb_image):
    base = make_model().predict(rgb_image, mode="sgcls", boxes=BOXES).graph_at(1.5)
    no_o = make_model(object_ode=False).predict(rgb_image, mode="sgcls", boxes=BOXES)
    no_p = make_model(predicate_ode=False).predict(rgb_image, mode="sgcls", boxes=BOXES)
    assert no_o.nfe["object"] == 0 and no_p.nfe["predicate"] == 0
    assert [o.class_scores for o in no_o.graph_at(1.5).objects] != [o.class_scores for o in base.objects]
    assert [r.predicate_scores for r in no_p.graph_at(1.5).relations] != [r.predicate_scores for r in base.relations]
    # without an ODE the state does not move with t
    assert no_o.graph_at(0.0).objects[0].class_scores == no_o.graph_at(2.5).objects[0].class_scores


@pytest.mark.parametrize("frontend", ["fc", "gcnn"])
def test_frontends_run(rgb_image, frontend):
    g = make_model(frontend=frontend).predict(rgb_image, mode="predcls", boxes=BOXES, labels=LABELS).graph_at(1.5)
    assert len(g.relations) == 12


def test_determinism_under_fixed_seed(rgb_image):
    a = make_model().predict(rgb_image, mode="sgdet").graph_at(1.5).to_dict()
    b = make_model().predict(rgb_image, mode="sgdet").graph_at(1.5).to_dict()
    assert a == b


def test_precompute_makes_every_time_a_cache_hit(demo_model, rgb_image):
    traj = demo_model.predict(rgb_image, mode="sgdet")
    n = traj.precompute()
    assert n >= 1
    solves = dict(traj._relations)
    for t in traj.times:
        traj.graph_at(t)
    assert traj._relations == solves  # no new relation solve


def test_input_validation(demo_model, rgb_image):
    with pytest.raises(InputError, match="needs boxes"):
        demo_model.predict(rgb_image, mode="sgcls")
    with pytest.raises(InputError, match="one label per box"):
        demo_model.predict(rgb_image, mode="predcls", boxes=BOXES, labels=[1])
    with pytest.raises(InputError, match="unknown object label"):
        demo_model.predict(rgb_image, mode="predcls", boxes=BOXES[:1], labels=["unicorn"])
    with pytest.raises(InputError, match="x2 < x1"):
        demo_model.predict(rgb_image, mode="sgcls", boxes=[[100, 10, 50, 60]])
    with pytest.raises(InputError, match="unknown mode"):
        demo_model.predict(rgb_image, mode="detect")
    with pytest.raises(InputError, match="at most"):
        demo_model.predict(rgb_image, mode="sgcls", boxes=[[0, 0, 10, 10]] * 200)
    g = demo_model.predict(rgb_image, mode="predcls", boxes=[[1, 1, 50, 50]], labels=["man"]).graph_at(1.5)
    assert len(g.objects) == 1 and g.relations == []  # a single object: no pairs
    g = demo_model.predict(rgb_image, mode="sgcls", boxes=np.zeros((0, 4))).graph_at(1.5)
    assert g.objects == [] and g.relations == []


def test_zero_detections_and_caps(rgb_image):
    model = make_model(det_thresh=1.0)  # no class can score above 1.0: nothing is detected
    traj = model.predict(rgb_image, mode="sgdet")
    g = traj.graph_at(1.5)
    assert g.objects == [] and g.relations == []
    assert traj.graph_at(0.0).objects == []
    capped = make_model(max_objects=3, det_thresh=0.0).predict(rgb_image, mode="sgdet").graph_at(1.5)
    assert len(capped.objects) <= 3


def test_tiny_and_huge_aspect_images(demo_model):
    from PIL import Image

    for size in ((1, 1), (2000, 8), (8, 900)):
        g = demo_model.predict(Image.new("RGB", size, (90, 120, 200)), mode="sgdet").graph_at(1.5)
        for o in g.objects:
            assert 0 <= o.box[0] <= o.box[2] <= size[0] and 0 <= o.box[1] <= o.box[3] <= size[1]


def test_relation_solve_decodes_lazily_and_equals_the_eager_decoding(demo_model, rgb_image):
    import torch

    traj = demo_model.predict(rgb_image, mode="predcls", boxes=BOXES, labels=LABELS)
    g = traj.graph_at(1.5)
    solve = traj.relation_solve(traj.objects_at(1.5))
    assert solve.decoded_times == 1  # one graph = one grid time decoded
    # eager decoding of the same states, in the given pair order
    pairs = torch.as_tensor(solve.pairs)
    labels = torch.as_tensor(LABELS)
    states, _ = demo_model.relation_states(traj.fmap, traj.rois, labels, [pairs], traj._times_t)
    with torch.inference_mode():
        eager = torch.softmax(demo_model.relation.decode(states), -1)
    lazy = solve.probs
    assert lazy.shape == eager.shape and solve.decoded_times == len(traj.times)
    assert (lazy - eager).abs().max().item() < 1e-6
    assert solve._states is None  # all times decoded: the states are freed
    assert g.relations[0].predicate_scores == pytest.approx(
        lazy[traj.index_of(1.5)][[tuple(p) for p in solve.pairs.tolist()].index((g.relations[0].subject, g.relations[0].object))].tolist())


def test_feature_cache_reuse_gives_the_uncached_result(demo_model, rgb_image):
    import torch

    traj = demo_model.predict(rgb_image, mode="predcls", boxes=BOXES, labels=LABELS)
    pairs = demo_model.candidate_pairs(traj.rois[:, 1:], False)
    times = traj._times_t
    cache: dict = {}
    a = demo_model.solve_relations(traj.fmap, traj.rois, torch.as_tensor(LABELS), pairs, times, cache=cache)
    assert len(cache) == 1
    other = torch.as_tensor([5, 7, 9, 11])
    b = demo_model.solve_relations(traj.fmap, traj.rois, other, pairs, times, cache=cache)  # cache hit
    c = demo_model.solve_relations(traj.fmap, traj.rois, other, pairs, times)  # computed from scratch
    assert len(cache) == 1
    assert torch.equal(b.probs, c.probs)
    assert not torch.equal(a.probs, b.probs)  # the labels matter


def test_half_precision_is_cuda_only(demo_model, rgb_image, caplog):
    assert demo_model.set_half_precision(True) is False  # CPU: warning, stays float32
    assert "CUDA" in caplog.text
    traj = demo_model.predict(rgb_image, mode="predcls", boxes=BOXES, labels=LABELS)
    assert traj.fmap.dtype.is_floating_point and str(traj.fmap.dtype) == "torch.float32"


def test_split_bilstm_directions_equal_the_fused_lstm():
    import torch

    from nodis.model import ode

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(32, 16, bidirectional=True)
    x = torch.randn(300, 2, 32)
    hx = (torch.randn(2, 2, 16), torch.randn(2, 2, 16))
    with torch.inference_mode():
        a, (ha, ca) = lstm(x, hx)
        b, (hb, cb) = ode.bilstm_split(lstm, x, hx)
        b0, _ = ode.bilstm_split(lstm, x, None)
        a0, _ = lstm(x)
    for u, v in ((a, b), (ha, hb), (ca, cb), (a0, b0)):
        assert (u - v).abs().max().item() < 1e-6


def test_ode_solve_with_split_directions_matches_the_plain_solve(monkeypatch):
    import torch

    from nodis.model import ode

    torch.manual_seed(1)
    block = ode.ODEBlock(ode.LSTMODEFunc(16, 8, "carry"))
    x = torch.randn(400, 1, 16)
    times = torch.tensor([0.0, 0.5, 1.5])
    real = torch.get_num_threads()
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # the split needs >= 2 intra-op threads
    monkeypatch.setattr(ode, "SPLIT_MIN_WORK", 0)  # and enough work per call (this LSTM is tiny)
    try:
        with torch.inference_mode():
            monkeypatch.setattr(ode, "SPLIT_DIRECTIONS", False)
            plain, nfe_a = block(x, times)
            monkeypatch.setattr(ode, "SPLIT_DIRECTIONS", True)
            assert ode.split_directions_active(block.odeFunc.lstm, x)
            split, nfe_b = block(x, times)
    finally:
        torch.set_num_threads(real)
    assert nfe_a == nfe_b and (plain - split).abs().max().item() < 1e-5


def test_split_only_for_calls_worth_a_second_thread(monkeypatch):
    import torch

    from nodis.model import ode

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    small, vg = torch.nn.LSTM(16, 8, bidirectional=True), torch.nn.LSTM(1024, 512, bidirectional=True)
    with torch.inference_mode():
        assert not ode.split_directions_active(small, torch.zeros(400, 1, 16))
        assert ode.split_directions_active(vg, torch.zeros(2, 1, 1024))
        monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
        assert not ode.split_directions_active(vg, torch.zeros(2, 1, 1024))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert not ode.split_directions_active(vg, torch.zeros(2, 1, 1024))  # autograd on: never
