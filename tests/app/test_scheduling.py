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


def test_a_request_during_a_long_call_is_served_before_the_call_ends(qtbot, make_window, make_noise):
    """A call (e.g. the histories of a fresh result) that calls ``serve_request`` between its parts
    decodes a slider request made meanwhile at once, not after the whole call."""
    import threading
    import time

    w = make_window()
    w.open_paths([make_noise("a.png", 0)])
    e = w.state.entries[0]
    wait_done(qtbot, w, e, decoded=False)
    eng = w.engine
    events = []
    direct = Qt.ConnectionType.DirectConnection
    eng.graphReady.connect(lambda eid, jid, go, gr, g: events.append(("graph", go, gr)), direct)
    eng.callDone.connect(lambda token, result: events.append(("done", token, result)), direct)
    started = threading.Event()

    def long_call(engine):
        started.set()
        deadline = time.monotonic() + 10
        while engine._request is None and time.monotonic() < deadline:  # the first part of the call
            time.sleep(0.01)
        engine.serve_request()
        return "rest of the call"

    token = eng.call(long_call)
    assert started.wait(10)
    n0 = len(events)
    gi = 1  # decoded late in the coarse-to-fine order, and no step runs during the call
    eng.request(e.eid, e.jid, gi, gi)
    qtbot.waitUntil(lambda: ("done", token, "rest of the call") in events, timeout=20000)
    k = events.index(("done", token, "rest of the call"))
    assert ("graph", gi, gi) in events[n0:k]
    assert eng._request is None
    qtbot.waitUntil(lambda: (gi, gi) in e.graphs, timeout=5000)
