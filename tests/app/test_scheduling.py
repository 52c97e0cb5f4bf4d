"""No waiting in line: every image's t_end result before any time grid, the current image's grid
next, other grids only when idle (the order is checked, not the timing)."""
from nodis_viewer.worker import coarse_to_fine
from PySide6.QtCore import Qt

from .conftest import wait_done


def test_coarse_to_fine_covers_the_grid_evenly():
    order = coarse_to_fine(51, 30)
    assert sorted(order) == [i for i in range(51) if i != 30]
    assert order[:3] == [0, 50, 25]
    first8 = sorted(order[:8] + [30])
    assert max(b - a for a, b in zip(first8, first8[1:])) <= 13  # no big hole after a few steps


def test_every_first_result_before_any_grid_and_the_current_grid_next(qtbot, make_window, make_noise, monkeypatch):
    import time

    from nodis.trajectory import Trajectory

    real = Trajectory.graph_at

    def slow(self, *a, **k):  # each grid time takes a while, as with a real model
        time.sleep(0.02)
        return real(self, *a, **k)

    monkeypatch.setattr(Trajectory, "graph_at", slow)
    w = make_window()
    events = []
    eng = w.engine
    # recorded on the worker thread as it emits (queued delivery to the GUI may lag behind)
    direct = Qt.ConnectionType.DirectConnection
    eng.jobFinished.connect(lambda eid, jid, *a: events.append(("result", eid)), direct)
    eng.progress.connect(lambda eid, jid, done, total: done > 1 and events.append(("step", eid)), direct)
    w.open_paths([make_noise(f"{k}.png", k) for k in range(4)])
    a, b, c, d = w.state.entries
    assert w.state.current_id == a.eid
    for e in (a, b, c, d):
        wait_done(qtbot, w, e, decoded=False)
    qtbot.waitUntil(lambda: any(ev[0] == "step" for ev in events), timeout=20000)
    first_step = next(k for k, ev in enumerate(events) if ev[0] == "step")
    assert {ev[1] for ev in events[:first_step] if ev[0] == "result"} == {a.eid, b.eid, c.eid, d.eid}
    assert events[first_step] == ("step", a.eid)  # then the current image's grid
    # moving on: the new current image's grid goes first, the old one waits for idle time
    a_done = a.progress[0] >= a.progress[1]
    w.state.set_current(c.eid)
    switch = len(events)
    wait_done(qtbot, w, c, decoded=True)
    after = [ev[1] for ev in events[switch:] if ev[0] == "step"]
    idx = [k for k, x in enumerate(after) if x == c.eid]
    assert idx[0] <= 1  # at most the step already running for the old image
    assert idx == list(range(idx[0], idx[-1] + 1))  # then c's whole grid, nothing in between
    # idle: the others' grids are decoded too, the most recently viewed first (a, then b and d)
    for e in (a, b, d):
        wait_done(qtbot, w, e, decoded=True)
    rest = [ev[1] for ev in events[switch + idx[-1] + 1:] if ev[0] == "step"]
    assert set(rest) <= {a.eid, b.eid, d.eid}
    if not a_done:
        assert rest[0] == a.eid
