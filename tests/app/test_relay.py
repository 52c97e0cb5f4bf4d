"""Worker and I/O threads hand results to the GUI thread without calling Qt (app/relay.py)."""
import sys
import threading
import time

from nodis_viewer.io_thread import IOPool
from nodis_viewer.relay import GuiRelay


def test_posts_from_threads_run_on_the_gui_thread_in_order(qtbot):
    relay = GuiRelay()
    gui = threading.get_ident()
    got = []

    def worker(k):
        for i in range(300):
            relay.post(lambda k, i: got.append((k, i, threading.get_ident())), k, i)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    qtbot.waitUntil(lambda: len(got) == 900, timeout=5000)
    assert {g[2] for g in got} == {gui}
    for k in range(3):  # each thread's posts arrive in the order it made them
        assert [i for kk, i, _ in got if kk == k] == list(range(300))
    relay.post(got.append, "now")  # on the GUI thread: runs at once
    assert got[-1] == "now"
    relay.close()


def test_a_failing_handler_is_reported_and_the_rest_still_run(qtbot, monkeypatch):
    relay = GuiRelay()
    seen, errors = [], []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: errors.append(exc[1]))

    def boom():
        raise ValueError("handler broke")

    t = threading.Thread(target=lambda: [relay.post(seen.append, 1), relay.post(boom), relay.post(seen.append, 2)])
    t.start()
    t.join()
    qtbot.waitUntil(lambda: seen == [1, 2], timeout=5000)
    assert [str(e) for e in errors] == ["handler broke"]
    relay.close()


def test_nothing_runs_after_close(qtbot):
    relay = GuiRelay()
    got = []
    t = threading.Thread(target=lambda: relay.post(got.append, 1))
    t.start()
    t.join()
    relay.close()
    t = threading.Thread(target=lambda: relay.post(got.append, 2))  # a late worker: dropped, no error
    t.start()
    t.join()
    qtbot.wait(50)
    assert got == [] and relay.pending() == 0


def test_io_pool_delivers_on_the_gui_thread_and_its_threads_end_on_close(qtbot):
    pool = IOPool(2)
    gui = threading.get_ident()
    out = []
    for i in range(20):
        pool.submit(lambda i: (i, threading.get_ident()), i, callback=lambda r, e: out.append((r, e, threading.get_ident())))
    pool.submit(lambda: 1 / 0, callback=lambda r, e: out.append((r, e, threading.get_ident())))
    qtbot.waitUntil(lambda: pool.pending() == 0, timeout=5000)
    assert len(out) == 21 and {o[2] for o in out} == {gui}
    assert all(r[1] != gui for r, e, _ in out if r is not None)  # the work ran off the GUI thread
    assert [e for r, e, _ in out if e] == ["division by zero"]
    pool.close()
    deadline = time.monotonic() + 5
    while any(t.is_alive() for t in pool._threads) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(t.is_alive() for t in pool._threads)
    pool.submit(lambda: 1, callback=lambda r, e: out.append(r))  # after close: ignored
    qtbot.wait(50)
    assert len(out) == 21


def test_garbage_is_collected_on_the_gui_thread_only_while_a_window_is_open(qtbot):
    import gc

    from nodis_viewer import gui_gc

    assert gc.isenabled()
    gui_gc.acquire()
    gui_gc.acquire()  # two windows
    assert not gc.isenabled() and gui_gc.active()
    collected_in = []

    class Cycle:
        def __del__(self):
            collected_in.append(threading.get_ident())

    def make_garbage():
        for _ in range(2000):  # cycles made and dropped on a worker thread
            a = Cycle()
            a.self = a
            del a

    t = threading.Thread(target=make_garbage)
    t.start()
    t.join()
    assert collected_in == []  # the worker never collected
    qtbot.waitUntil(lambda: len(collected_in) == 2000, timeout=5000)  # the GUI-thread timer did
    assert set(collected_in) == {threading.get_ident()}
    gui_gc.release()
    assert not gc.isenabled()  # one window still open
    gui_gc.release()
    assert gc.isenabled() and not gui_gc.active()
