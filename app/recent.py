"""*File ▸ Open recent*: the last files and folders opened, kept in the settings."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMenu

from .settings import ViewerSettings

MAX_RECENT = 10
KEY = "files/recent"


class RecentFiles(QObject):
    """The recent-files list (newest first, at most ``MAX_RECENT``) and the menu that shows it."""

    changed = Signal()

    def __init__(self, prefs: ViewerSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.prefs = prefs
        self._menu: QMenu | None = None
        self._open: Callable[[list[str]], object] | None = None

    def files(self) -> list[str]:
        return self.prefs.get_str_list(KEY, MAX_RECENT)

    def add(self, paths) -> None:
        rec = self.files()
        for p in paths:
            p = os.path.abspath(str(p))  # no resolve(): it may stat a path on a hung mount
            if p in rec:
                rec.remove(p)
            rec.insert(0, p)
        self.prefs.set(KEY, rec[:MAX_RECENT])
        self.prefs.sync()
        self.changed.emit()

    def clear(self) -> None:
        self.prefs.set(KEY, [])
        self.prefs.sync()
        self.changed.emit()

    def attach(self, menu: QMenu, open_paths: Callable[[list[str]], object]) -> None:
        """Keep ``menu`` filled with the list; choosing an entry calls ``open_paths([path])``."""
        self._menu, self._open = menu, open_paths
        self.changed.connect(self._fill)
        self._fill()

    def _fill(self) -> None:
        m = self._menu
        if m is None:
            return
        m.clear()
        rec = self.files()
        for p in rec:
            a = m.addAction(Path(p).name or p)
            a.setToolTip(p)
            a.setStatusTip(p)
            a.triggered.connect(lambda _=False, p=p: self._open([p]))
        if not rec:
            m.addAction("(none)").setEnabled(False)
        else:
            m.addSeparator()
            m.addAction("Clear list", self.clear)
