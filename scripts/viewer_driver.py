"""Driving a real nodis-viewer main window from a script (the screenshot scripts): open it, process
events until a condition holds, grab PNGs. Needs a QApplication and the viewer's palette set up."""
from __future__ import annotations

import time
from pathlib import Path


def open_window(weights: str | None, size: str):
    """The main window at ``size`` ("WxH"), shown, its notices quiet."""
    from nodis_viewer.window import MainWindow

    w, h = (int(v) for v in size.lower().split("x"))
    win = MainWindow(weights=weights)
    win.quiet = True
    win.resize(w, h)
    win.show()
    return win


class Driver:
    """``pump``, ``wait`` and ``shot`` for ``win`` in ``app``, writing PNGs into ``out``."""

    def __init__(self, app, win, out: str | Path, settle: float = 0.4) -> None:
        self.app, self.win, self.out, self.settle = app, win, Path(out), settle
        self.out.mkdir(parents=True, exist_ok=True)

    def pump(self, seconds: float = 0.3) -> None:
        """Process events for ``seconds``."""
        end = time.time() + seconds
        while time.time() < end:
            self.app.processEvents()
            time.sleep(0.01)

    def wait(self, cond, what: str, timeout: float = 900.0) -> None:
        """Process events until ``cond()``; exits naming ``what`` after ``timeout`` seconds."""
        end = time.time() + timeout
        while not cond():
            self.app.processEvents()
            time.sleep(0.02)
            if time.time() > end:
                raise SystemExit(f"timed out waiting for {what}")

    def shot(self, name: str, widget=None) -> Path:
        """Let the window settle, then save ``widget`` (default: the window) as ``out/name``."""
        self.pump(self.settle)
        path = self.out / name
        (widget or self.win).grab().save(str(path))
        print("wrote", path)
        return path
