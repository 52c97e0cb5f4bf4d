"""Python's cyclic garbage collector runs on the GUI thread only, while a viewer window is open.

The collector runs in whichever thread happens to allocate when a generation's threshold is crossed.
When that is the inference worker and the garbage holds PySide widgets (a closed window's menus and
actions form reference cycles), the worker destroys Qt widgets: their destructors take Qt locks and
call back into Python for the GIL, while the GUI thread, holding the GIL, waits for one of those
locks. Both wait forever. The test suite hung this way (traced: the worker thread in
``gc_collect_main`` → ``QMenu::~QMenu`` → ``GilState::acquire``, the GUI thread in ``QObject::~QObject``
waiting on a mutex).

So while a window exists, automatic collection is off and a timer on the GUI thread collects with
the same generation thresholds (the way pyqtgraph's ``GarbageCollector`` does). When the last window
closes, a final collection runs on the GUI thread and automatic collection is switched back on.
"""
from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QCoreApplication, QObject, QTimer

INTERVAL_MS = 500


class _Collector(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.users = 0
        self.was_enabled = gc.isenabled()
        self.threshold = gc.get_threshold()
        self.timer = QTimer(self)
        self.timer.setInterval(INTERVAL_MS)
        self.timer.timeout.connect(self.check)

    def check(self) -> None:
        """Collect the generations whose thresholds were crossed since the last check."""
        c0, c1, c2 = gc.get_count()
        t0, t1, t2 = self.threshold
        if c0 > t0:
            gen = 2 if (c1 > t1 and c2 > t2) else 1 if c1 > t1 else 0
            gc.collect(gen)


_collector: _Collector | None = None
_lock = threading.Lock()


def acquire() -> None:
    """(GUI thread) A window opened: collect only on the GUI thread from now on."""
    global _collector
    with _lock:
        if _collector is None:
            if QCoreApplication.instance() is None:
                return
            _collector = _Collector()
        _collector.users += 1
        if _collector.users == 1:
            _collector.was_enabled = gc.isenabled()
            gc.disable()
            _collector.timer.start()


def release() -> None:
    """(GUI thread) A window closed: the last one collects once here and restores automatic collection."""
    with _lock:
        c = _collector
        if c is None or c.users == 0:
            return
        c.users -= 1
        if c.users:
            return
        c.timer.stop()
    gc.collect()
    if c.was_enabled:
        gc.enable()


def reset() -> None:
    """(GUI thread) Forget every window (tests): collect once and restore automatic collection."""
    with _lock:
        c = _collector
        if c is None or c.users == 0:
            return
        c.users = 1
    release()


def active() -> bool:
    """Whether collection is currently confined to the GUI thread."""
    return _collector is not None and _collector.users > 0
