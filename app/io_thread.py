"""File I/O off the GUI thread: reading images, thumbnails, ground truth and folder listings.

The GUI thread never opens or reads a path the user gave (a FIFO named ``x.jpg``, a hung network
mount or a huge folder must not freeze the window). :class:`IOPool` runs such work on a few daemon
threads (separate from the inference worker, so I/O never waits behind a model run) and hands each
result back on the GUI thread. Readers check that a path is a regular file before opening it.
"""
from __future__ import annotations

import logging
import os
import queue
import stat
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject

from .relay import GuiRelay

log = logging.getLogger(__name__)


def regular_file(path: str | Path) -> str:
    """'' when ``path`` is a regular file, else why not (for a message). Only ``stat``: never blocks
    on a FIFO or device."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "no such file"
    except OSError as e:
        return f"cannot read file ({e.strerror or e})"
    if stat.S_ISDIR(st.st_mode):
        return "is a folder, not an image"
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device"
        return f"is {kind}, not a regular file"
    return ""


class IOPool(QObject):
    """A few daemon threads running ``fn(*args)``; ``callback(result, error)`` runs on the GUI thread.

    The threads make no Qt call: results come back through a :class:`~.relay.GuiRelay`."""

    def __init__(self, threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._q: queue.Queue = queue.Queue()
        self._relay = GuiRelay(self)
        self._pending = 0
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [threading.Thread(target=self._run, name=f"nodis-viewer-io-{k}", daemon=True)
                         for k in range(threads)]
        for t in self._threads:
            t.start()

    def submit(self, fn: Callable[..., Any], *args, callback: Callable[[Any, str | None], None] | None = None) -> None:
        if self._closed:
            return
        with self._lock:
            self._pending += 1
        self._q.put((fn, args, callback))

    def pending(self) -> int:
        """Tasks submitted and not delivered yet."""
        with self._lock:
            return self._pending

    def close(self) -> None:
        """Deliver nothing more and let the threads end: each ends after its current task (a read
        stuck on a hung mount keeps its daemon thread until the process exits)."""
        self._closed = True
        self._relay.close()
        for _ in self._threads:
            self._q.put(None)

    def _run(self) -> None:
        while True:
            task = self._q.get()
            if task is None or self._closed:
                return
            fn, args, cb = task
            try:
                result, err = fn(*args), None
            except Exception as e:  # reported to the callback, never fatal
                log.debug("I/O task failed: %s", traceback.format_exc())
                result, err = None, str(e) or type(e).__name__
            self._relay.post(self._deliver, cb, result, err)

    def _deliver(self, cb, result, err) -> None:
        with self._lock:
            self._pending -= 1
        if cb is not None and not self._closed:
            cb(result, err)
