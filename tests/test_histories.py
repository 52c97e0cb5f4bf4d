"""Per-object / per-relation histories over the grid and the ODE states (issue 16): read from the
states already solved, equal to the scene graphs at every grid time, no ODE integrated again."""
import numpy as np
import pytest
import torch

import nodis.model.nodis as nodis_model
from nodis.errors import InputError
from nodis.statespace import decoder_plane, logit_plane, pca
from tests.helpers import BOXES, LABELS, make_model


class SolveCounter:
    """Counts ODE solves and ODE-function evaluations of both ODEs of ``model``."""

    def __init__(self, model, monkeypatch) -> None:
        self.solves = {"object": 0, "predicate": 0}
        self.nfe = {"object": 0, "predicate": 0}
        for name, owner in (("object", model.context), ("predicate", model.relation)):
            self._wrap_solve(monkeypatch, owner, name)
            block = owner.decoder_lin2 if name == "object" else owner.odeBlock
            self._wrap_func(monkeypatch, block.odeFunc, name)

    def _wrap_solve(self, monkeypatch, owner, name):
        orig = owner.solve

        def solve(*a, **k):
            self.solves[name] += 1
            return orig(*a, **k)

        monkeypatch.setattr(owner, "solve", solve)

    def _wrap_func(self, monkeypatch, func, name):
        orig = func.forward

        def forward(*a, **k):
            self.nfe[name] += 1
            return orig(*a, **k)

        monkeypatch.setattr(func, "forward", forward)

    def total(self):
        return sum(self.solves.values()), sum(self.nfe.values())


def inputs(mode):
    """The boxes / labels a mode takes."""
    return {"sgdet": {}, "sgcls": {"boxes": BOXES}, "predcls": {"boxes": BOXES, "labels": LABELS}}[mode]


@pytest.fixture
def counter(demo_model, monkeypatch):
    return SolveCounter(demo_model, monkeypatch)


@pytest.mark.parametrize("mode", ["sgcls", "sgdet", "predcls"])
def test_histories_equal_the_graph_at_every_grid_time_without_a_new_solve(demo_model, rgb_image, counter, mode):
    traj = demo_model.predict(rgb_image, mode=mode, times=np.arange(0, 2.51, 0.25), **inputs(mode))
    assert counter.solves["object"] == (0 if mode == "predcls" else 1)
    traj.precompute()  # every conditioning solved, as the viewer's background decoding does
    before = counter.total()
    assert counter.solves["predicate"] >= 1
    hist = traj.histories()
    oh = traj.object_history(int(hist.object_ids[0]))
    g_end = traj.graph_at(traj.t_end)
    r_end = g_end.relations[0]
    rh = traj.relation_history(r_end.subject, r_end.object)
    assert counter.total() == before  # no ODE solve, no ODE-function evaluation
    assert hist.object_probs.shape == (len(traj.times), len(hist.object_ids), 151)
    for g, t in enumerate(traj.times):
        graph = traj.graph_at(t)
        for o in graph.objects:
            k = int(np.nonzero(hist.object_ids == o.index)[0][0])
            assert hist.object_present[g, k]
            assert hist.object_labels[g, k] == o.label
            assert hist.object_scores[g, k] == pytest.approx(o.score, abs=1e-6)
            np.testing.assert_allclose(hist.object_boxes[g, k], o.box, atol=1e-3)
            if o.class_scores is not None:
                np.testing.assert_allclose(hist.object_probs[g, k], o.class_scores, atol=1e-6)
        shown = {o.index for o in graph.objects}
        assert set(hist.object_ids[hist.object_present[g]].tolist()) == shown
        for rank, r in enumerate(graph.relations, start=1):
            k = int(np.nonzero((hist.pairs[:, 0] == r.subject) & (hist.pairs[:, 1] == r.object))[0][0])
            assert hist.relation_available[g, k] and hist.relation_ranks[g, k] == rank
            assert hist.relation_predicates[g, k] == r.predicate
            assert hist.relation_scores[g, k] == pytest.approx(r.score, abs=1e-6)
            np.testing.assert_allclose(hist.relation_probs[g, k], r.predicate_scores, atol=1e-6)
        assert hist.relation_available[g].sum() == len(graph.relations)
    # one item's history is the bulk's column
    np.testing.assert_array_equal(oh.labels, hist.object(oh.index).labels)
    np.testing.assert_allclose(rh.probs, hist.relation(r_end.subject, r_end.object).probs)
    assert rh.predicate_end == r_end.predicate and rh.ranks[traj.index_of(traj.t_end)] == 1
    assert rh.subject_labels[traj.index_of(traj.t_end)] == g_end.object_by_index(r_end.subject).label
    assert counter.total() == before


def test_fixed_t_obj_history_reads_the_t_end_solve_only(demo_model, rgb_image, counter):
    traj = demo_model.predict(rgb_image, mode="sgcls", boxes=BOXES)
    g_end = traj.graph_at(traj.t_end)  # the one relation solve a first graph makes
    before = counter.total()
    r = g_end.relations[0]
    rh = traj.relation_history(r.subject, r.object, t_obj=traj.t_end)
    assert counter.total() == before
    solve = traj.relation_solve(traj.objects_at(traj.t_end))
    row = int(np.nonzero((solve.pairs[:, 0] == r.subject) & (solve.pairs[:, 1] == r.object))[0][0])
    np.testing.assert_allclose(rh.probs, solve.probs[:, row].numpy(), atol=1e-7)
    assert rh.available.all() and rh.t_obj == traj.t_end
    labels = {o.index: o.label for o in g_end.objects}
    assert rh.condition_labels == (labels[r.subject], labels[r.object])
    # separate times: the graph at (t_end, t) is this history at t
    g = traj.graph_at(t_obj=traj.t_end, t_rel=0.5)
    rel = next(x for x in g.relations if (x.subject, x.object) == (r.subject, r.object))
    assert rh.predicates[traj.index_of(0.5)] == rel.predicate
    assert rh.scores[traj.index_of(0.5)] == pytest.approx(rel.score, abs=1e-6)


def test_linked_history_without_solving_leaves_unsolved_times_unavailable(demo_model, rgb_image, counter):
    traj = demo_model.predict(rgb_image, mode="sgcls", boxes=BOXES, times=[0.0, 0.5, 1.0, 1.5, 2.0])
    traj.graph_at(traj.t_end)
    before = counter.total()
    hist = traj.histories(solve=False)
    assert counter.total() == before
    end_key = traj.objects_at(traj.t_end).key
    assert len({traj.objects_at(t).key for t in traj.times}) > 1  # labels change over t: some times unsolved
    for g, t in enumerate(traj.times):
        solved = traj.objects_at(t).key == end_key
        assert hist.relation_available[g].any() == solved
        assert np.isnan(hist.relation_probs[g]).all() != solved
    with pytest.raises(InputError, match="not a relation candidate"):
        traj.relation_history(0, 0)
    # solve=True (the default) solves the missing conditionings once, as graph_at would
    full = traj.histories()
    assert full.relation_available.all() and counter.solves["predicate"] > before[0]


def test_object_history_top_classes_and_changes():
    from nodis.trajectory import ObjectHistory

    times = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    probs = np.zeros((5, 5), np.float32)
    probs[:, 0] = 0.1
    probs[:, 1] = [0.8, 0.5, 0.2, 0.1, 0.1]  # bowl at first
    probs[:, 2] = [0.05, 0.3, 0.6, 0.7, 0.75]  # hat from t = 1
    probs[:, 3] = [0.05, 0.1, 0.1, 0.1, 0.05]
    labels = probs[:, 1:].argmax(1) + 1
    h = ObjectHistory(4, times, 1.5, probs, labels, probs.max(1), np.ones(5, bool), np.zeros((5, 4)),
                      ["bg", "bowl", "hat", "cup", "sun"])
    assert h.label_start == 1 and h.label_end == 2
    assert h.changes() == [(1.0, 1, 2)]
    cls, p = h.top(2)
    assert cls.tolist() == [2, 1] and p.shape == (5, 2)
    assert h.top(3)[0].tolist() == [2, 1, 3]


def test_object_states_decode_to_the_object_probabilities(demo_model, rgb_image):
    for mode in ("sgcls", "sgdet"):
        traj = demo_model.predict(rgb_image, mode=mode, **inputs(mode))
        ids = traj.object_ids_over_grid()
        states = traj.object_states()
        assert states.shape == (len(traj.times), len(ids), demo_model.cfg.state_dim)
        w, b = traj.object_decoder()
        probs = torch.softmax(torch.from_numpy(states @ w.T + b), -1).numpy()
        np.testing.assert_allclose(probs, traj.obj_probs[:, torch.as_tensor(ids)].numpy(), atol=1e-5)
        assert not np.allclose(states[0], states[-1])  # the ODE moved them
    # sgdet keeps the states of the objects of some grid time only
    never = sorted(set(range(traj.num_objects_in)) - set(ids.tolist()))
    assert traj._obj_states.shape[1] == len(ids) < traj.num_objects_in
    if never:
        with pytest.raises(InputError, match="not an object at any grid time"):
            traj.object_states([never[0]])
    with pytest.raises(InputError, match="object ODE is not solved"):
        demo_model.predict(rgb_image, mode="predcls", boxes=BOXES, labels=LABELS).object_states()


def test_relation_states_are_kept_for_the_best_pairs_of_the_t_end_solve(rgb_image, monkeypatch, counter):
    model = make_model()
    monkeypatch.setattr(nodis_model, "RETAIN_TOP", 2)
    traj = model.predict(rgb_image, mode="sgcls", boxes=BOXES)
    g_end = traj.graph_at(traj.t_end)
    solve = traj.relation_solve(traj.objects_at(traj.t_end))
    assert solve.pinned
    pairs, states = traj.relation_states()
    assert solve._states is None  # fully decoded: only the kept rows remain
    top = {(r.subject, r.object) for r in g_end.relations[:2]}
    assert top <= {tuple(p) for p in pairs.tolist()} and len(pairs) < len(solve.pairs)
    rows = [int(np.nonzero((solve.pairs[:, 0] == a) & (solve.pairs[:, 1] == b))[0][0]) for a, b in pairs.tolist()]
    probs = torch.softmax(torch.from_numpy(traj.relation_logits(states)), -1).numpy()
    np.testing.assert_allclose(probs, solve.probs[:, rows].numpy(), atol=1e-5)
    out = next(tuple(p) for p in solve.pairs.tolist() if tuple(p) not in {tuple(q) for q in pairs.tolist()})
    with pytest.raises(InputError, match="not kept"):
        traj.relation_states([out])
    space = traj.state_space()
    assert space.object_states.shape[1] == len(BOXES) and space.relation_logits.shape == (len(traj.times), len(pairs), 51)


def test_pca_projection_is_deterministic_and_ordered():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)) * np.array([5.0, 2.0, 0.1, 0.1, 0.1, 0.1])
    p = pca(x)
    uv = p(x)
    assert uv.shape == (200, 2)
    assert abs(uv[:, 0].mean()) < 1e-9 and uv[:, 0].var() > uv[:, 1].var() > 0.5
    assert p.explained[0] > p.explained[1] and sum(p.explained) < 1
    np.testing.assert_allclose(np.abs(p.basis[0]), [1, 0, 0, 0, 0, 0], atol=0.05)
    np.testing.assert_array_equal(pca(x).basis, p.basis)
    assert (pca(-x).basis == p.basis).all()  # signs fixed, not left to the SVD


def test_decoder_plane_boundary_separates_the_two_classes_exactly():
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=(5, 8)), rng.normal(size=5)
    proj = decoder_plane(w, b, 2, 4, ["bg", "a", "hat", "c", "bowl"])
    x = rng.normal(size=(500, 8)) * 3
    uv = proj(x)
    a, bb, c = proj.boundary
    side = a * uv[:, 0] + bb * uv[:, 1] + c
    logits = x @ w.T + b
    np.testing.assert_allclose(side, logits[:, 2] - logits[:, 4], atol=1e-9)
    np.testing.assert_allclose(proj.basis @ proj.basis.T, np.eye(2), atol=1e-12)
    seg = proj.boundary_segment((-50, -50), (50, 50))
    assert seg is not None and np.allclose(a * seg[:, 0] + bb * seg[:, 1] + c, 0)
    with pytest.raises(InputError):
        decoder_plane(w, b, 2, 2)
    lp = logit_plane(5, 1, 3)
    np.testing.assert_array_equal(lp(logits)[:, 1], logits[:, 3])
