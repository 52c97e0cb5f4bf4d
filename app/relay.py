"""Hand results from worker threads to the GUI thread without calling Qt from those threads.

A Qt signal emitted from a Python thread with a queued connection takes Qt's signal-slot lock,
releases the GIL, and then needs the GIL again to copy its Python arguments. If the GUI thread holds
the GIL meanwhile and destroys a ``QObject`` whose destructor needs the same lock, both threads wait
forever. This is the same kind of lock/GIL cycle as the one traced in the test suite's hang (there the
worker's garbage collector destroyed widgets; see :mod:`.gui_gc`), so the worker threads make no Qt
call at all.

:class:`GuiRelay` avoids it: a worker thread only appends ``(fn, args)`` to a Python deque and writes
one byte to a socket pair (the self-pipe trick: no Qt call, no Qt lock). A ``QSocketNotifier`` on
the GUI thread wakes at once, drains the deque and runs each ``fn(*args)`` in order, on the GUI
thread. Calls made on the GUI thread itself run immediately.
"""
from __future__ import annotations

import socket
import sys
import threading
from collections import deque
from typing import Any, Callable

from PySide6.QtCore import QObject, QSocketNotifier


class GuiRelay(QObject):
    """``post(fn, *args)`` from any thread runs ``fn(*args)`` on the thread that made the relay."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._gui = threading.get_ident()
        self._items: deque[tuple[Callable[..., Any], tuple]] = deque()
        self._lock = threading.Lock()
        self._closed = False
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)
        self._notifier = QSocketNotifier(self._r.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)

    def on_gui_thread(self) -> bool:
        return threading.get_ident() == self._gui

    def post(self, fn: Callable[..., Any], *args) -> None:
        """Run ``fn(*args)`` on the GUI thread: now when called there, else as soon as it wakes.
        Dropped after :meth:`close`."""
        if self._closed:
            return
        if self.on_gui_thread():
            fn(*args)
            return
        with self._lock:
            if self._closed:
                return
            self._items.append((fn, args))
            try:
                self._w.send(b"\0")
            except BlockingIOError:  # the buffer is full of wake-ups already: the GUI will drain
                pass
            except OSError:  # closed under us
                pass

    def pending(self) -> int:
        with self._lock:
            return len(self._items)

    def _drain(self, *_) -> int:
        try:
            while self._r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        n = 0
        while True:
            with self._lock:
                if not self._items or self._closed:
                    return n
                fn, args = self._items.popleft()
            n += 1
            try:
                fn(*args)
            except Exception:  # reported as Qt reports a failing slot; the others still run
                sys.excepthook(*sys.exc_info())

    def close(self) -> None:
        """Drop what is posted from now on and release the sockets."""
        with self._lock:
            self._closed = True
            self._items.clear()
        self._notifier.setEnabled(False)
        for s in (self._r, self._w):
            try:
                s.close()
            except OSError:
                pass
