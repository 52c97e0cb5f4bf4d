"""Workaround for a reference-count bug in PySide6 6.12.0 (as installed here, CPython 3.11).

Calls into PySide6 that hand back the ``None``/``True`` singletons do so without taking a new
reference: ``SignalInstance.emit()`` (returns ``True``), methods returning no object
(``QGraphicsItem.parentItem()``, ``QListWidget.currentItem()``, ``QTimer.singleShot`` ...) and
slots called from C++ (``toggled``, ``valueChanged`` ...). Every such call drops one reference to
the singleton. On CPython < 3.12, where these objects are not immortal, a session eventually
takes a count to zero and the interpreter aborts with "Fatal Python error: bool_dealloc" or
"none_dealloc" (in a test run: at exit).

:func:`install` probes for the bug once; only when it is present, it tops the counts of ``None``,
``True`` and ``False`` up (``Py_IncRef`` through ctypes, references that are never released) and
keeps doing so from a timer. Nothing happens with PySide6 builds without the bug or on Pythons
with immortal singletons.
"""
from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_LOW, _HIGH = 200_000, 400_000
_state = {"checked": False, "buggy": False, "timer": None}


SINGLETONS = (None, True, False)


def drops_references() -> bool:
    """True when PySide6 calls lose references to ``None`` or ``True`` (probed with 20 calls each)."""
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QGraphicsRectItem

    class _Probe(QObject):
        sig = Signal()

    p = _Probe()
    item = QGraphicsRectItem()
    before = [sys.getrefcount(o) for o in SINGLETONS]
    for _ in range(20):
        p.sig.emit()
        item.parentItem()
    after = [sys.getrefcount(o) for o in SINGLETONS]
    return any(a <= b - 15 for a, b in zip(after, before))


def top_up() -> None:
    """Give ``None``/``True``/``False`` enough (leaked, harmless) references to survive many more calls."""
    incref = ctypes.pythonapi.Py_IncRef
    incref.argtypes = [ctypes.py_object]
    for obj in SINGLETONS:
        n = sys.getrefcount(obj)
        if n >= _LOW:
            continue
        for _ in range(_HIGH - n):
            incref(obj)


def install(interval_ms: int = 500) -> bool:
    """Apply the workaround if needed (idempotent). Returns whether the bug is present."""
    if sys.version_info >= (3, 12):  # immortal True: the bug cannot crash the interpreter
        return False
    if not _state["checked"]:
        _state["checked"] = True
        try:
            _state["buggy"] = drops_references()
        except Exception:  # pragma: no cover - never let the probe break start-up
            _state["buggy"] = False
        if _state["buggy"]:
            log.info("PySide6 reference-count bug detected; compensating")
    if _state["buggy"]:
        top_up()
        if _state["timer"] is None:
            from PySide6.QtCore import QCoreApplication, QTimer

            app = QCoreApplication.instance()
            if app is not None:
                t = QTimer(app)
                t.setInterval(interval_ms)
                t.timeout.connect(top_up)
                t.start()
                _state["timer"] = t
    return _state["buggy"]
