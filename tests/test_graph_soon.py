"""A graph on demand solves the predicate ODE only as far as it needs (Trajectory.graph_soon), with the
values of the whole grid's solve; a background solve can be interrupted and leaves nothing behind."""
import numpy as np
import pytest

from nodis.model.ode import SolveInterrupted, interruptible
from tests.helpers import given, make_image, make_model

GRID = np.round(np.arange(0, 2.501, 0.25), 6)  # 11 times: t_end = 1.5 is index 6


@pytest.fixture(scope="module")
def model():
    return make_model()


class Solves:
    """Counts predicate-ODE solves and the last output grid each one was given."""

    def __init__(self, model, monkeypatch) -> None:
        self.n, self.grids = 0, []
        orig = model.relation.solve

        def solve(seq, times):
            self.n += 1
            self.grids.append(times.numpy().round(6).tolist())
            return orig(seq, times)

        monkeypatch.setattr(model.relation, "solve", solve)


def other_times(traj) -> list[int]:
    """Grid indices whose objects (and so the predicate ODE's conditioning) differ from those at t_end."""
    end = traj.objects_at(traj.t_end).key
    return [gi for gi, t in enumerate(traj.times) if traj.objects_at(t).key != end]


def assert_same_graph(a, b, meta=True) -> None:
    assert [(o.index, o.label, o.score, o.box) for o in a.objects] == [(o.index, o.label, o.score, o.box) for o in b.objects]
    assert [(r.subject, r.object, r.predicate) for r in a.relations] == [(r.subject, r.object, r.predicate)
                                                                        for r in b.relations]
    np.testing.assert_allclose([r.score for r in a.relations], [r.score for r in b.relations], rtol=0, atol=1e-6)
    np.testing.assert_allclose([r.predicate_scores for r in a.relations], [r.predicate_scores for r in b.relations],
                               rtol=0, atol=1e-6)
    assert (a.t_obj, a.t_rel) == (b.t_obj, b.t_rel)
    if meta:
        assert a.meta == b.meta


@pytest.mark.parametrize("mode", ["sgcls", "sgdet"])
def test_a_graph_soon_solves_the_prefix_and_equals_the_whole_grids_graph(model, monkeypatch, mode):
    img = make_image()
    fresh = model.predict(img, mode=mode, times=GRID, **given(mode))  # reference: whole-grid solves
    traj = model.predict(img, mode=mode, times=GRID, **given(mode))
    solves = Solves(model, monkeypatch)
    todo = other_times(traj)
    assert len(todo) >= 2 and todo[0] < len(GRID) - 1
    for gi in (todo[0], todo[len(todo) // 2]):
        if gi == len(GRID) - 1:
            continue
        t = float(GRID[gi])
        before = solves.n
        g, complete = traj.graph_soon(t)
        assert not complete and solves.n == before + 1
        assert solves.grids[-1] == GRID[: max(gi + 1, 2)].tolist()  # solved up to t only (a grid has 2 times)
        assert g.meta["solved_to"] == max(t, GRID[1]) and g.meta["nfe_predicate_t_end"] is None
        ref = fresh.graph_at(t)
        assert len(ref.relations) > 0
        assert_same_graph(g, ref, meta=False)
        assert g.meta["nfe_predicate"] <= ref.meta["nfe_predicate"]
        # later the whole grid is solved: graph_at's graph, cached, the prefix solve dropped
        full = traj.graph_at(t)
        assert solves.grids[-1] == GRID.tolist()
        assert_same_graph(full, ref)
        assert traj.objects_at(t).key not in traj._prefix_solves
        again, complete = traj.graph_soon(t)
        assert complete and again is full


def test_a_prefix_solve_is_reused_for_earlier_times_only(model, monkeypatch):
    img = make_image()
    fresh = model.predict(img, mode="sgcls", times=GRID, **given("sgcls"))
    traj = model.predict(img, mode="sgcls", times=GRID, **given("sgcls"))
    t_obj = float(GRID[other_times(traj)[0]])
    ref = {t: fresh.graph_at(t_obj, t) for t in (1.0, 0.5, 2.0, 2.5, 0.25)}
    solves = Solves(model, monkeypatch)
    g, complete = traj.graph_soon(t_obj, 1.0)  # unlinked: the objects at t_obj, the predicate ODE up to t_rel
    assert not complete and solves.n == 1 and solves.grids[-1][-1] == 1.0
    assert_same_graph(g, ref[1.0], meta=False)
    g, complete = traj.graph_soon(t_obj, 0.5)  # earlier: read from the same prefix solve
    assert not complete and solves.n == 1 and g.meta["solved_to"] == 1.0
    assert_same_graph(g, ref[0.5], meta=False)
    g, complete = traj.graph_soon(t_obj, 2.0)  # later: the prefix does not reach it, solved further
    assert not complete and solves.n == 2 and solves.grids[-1][-1] == 2.0
    assert_same_graph(g, ref[2.0], meta=False)
    g, complete = traj.graph_soon(t_obj, 2.5)  # the last time: the whole grid's solve, cached
    assert complete and solves.n == 3 and solves.grids[-1] == GRID.tolist()
    assert_same_graph(g, ref[2.5])
    g, complete = traj.graph_soon(t_obj, 0.25)
    assert complete and solves.n == 3
    assert_same_graph(g, ref[0.25])


def test_the_conditioning_of_t_end_is_never_solved_short(model, monkeypatch):
    traj = model.predict(make_image(), mode="sgcls", times=GRID, **given("sgcls"))
    solves = Solves(model, monkeypatch)
    g, complete = traj.graph_soon(traj.t_end, 0.5)  # solved over the whole grid by predict's first graph
    assert complete and g is traj.graph_at(traj.t_end, 0.5)
    traj2 = model.predict(make_image(), mode="sgcls", times=GRID, **given("sgcls"))
    g, complete = traj2.graph_soon(0.0 if 0 not in other_times(traj2) else traj2.t_end, 0.25)
    assert complete and all(grid == GRID.tolist() for grid in solves.grids)
    assert traj2._prefix_solves == {}


def test_an_interrupted_solve_keeps_nothing_and_a_later_solve_is_whole(model):
    img = make_image()
    fresh = model.predict(img, mode="sgdet", times=GRID)
    traj = model.predict(img, mode="sgdet", times=GRID)
    t = float(GRID[other_times(traj)[0]])
    calls = []

    def check():  # true from the fourth function evaluation on: stops mid-solve
        calls.append(1)
        return len(calls) > 3

    relations = dict(traj._relations)
    with interruptible(check), pytest.raises(SolveInterrupted):
        traj.graph_at(t)
    assert len(calls) == 4
    assert traj._relations == relations and traj._graphs.keys() == {k for k in traj._graphs if k[0] != k[1] or
                                                                     traj.times[k[0]] != t}
    assert_same_graph(traj.graph_at(t), fresh.graph_at(t))  # outside the block: solved, whole, as before
    assert len(calls) == 4


def test_interruptible_is_per_thread_and_restored(model):
    import threading

    traj = model.predict(make_image(), mode="sgdet", times=GRID)
    keys: dict = {}  # one grid time per conditioning other than t_end's
    for gi in other_times(traj):
        keys.setdefault(traj.objects_at(float(GRID[gi])).key, gi)
    gis = list(keys.values())
    assert len(gis) >= 3
    out = {}

    def other():  # another thread's solve is not affected by this thread's check
        out["g"] = traj.graph_at(float(GRID[gis[0]]))

    with interruptible(lambda: True):
        th = threading.Thread(target=other)
        th.start()
        th.join()
        with interruptible(lambda: False):
            traj.graph_at(float(GRID[gis[1]]))  # the inner check applies
        with pytest.raises(SolveInterrupted):
            traj.graph_at(float(GRID[gis[2]]))  # the outer one is back
    assert len(out["g"].relations) > 0
    traj.graph_at(float(GRID[gis[2]]))
