"""The demo-model notice: the status bar says when the demo model looks at an image from outside its world.

The rule (which model is a demo model, which image is from its world) is the library's,
:mod:`nodis.provenance`, the same as the CLI's note. The window calls :meth:`DemoNotice.set_model`
when a model is loaded and :meth:`DemoNotice.set_image` when the current image changes.

Deciding whether an image is from the world reads the file (``stat``, and the whole file is hashed when
its size is a bundled sample's), so with an :class:`nodis_viewer.io_thread.IOPool` that check runs on
the I/O threads: the notice appears when the answer arrives (each path is checked once) and the GUI
thread never reads the file.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QStatusBar

from nodis.provenance import demo_model_note, is_world_image, is_world_model


class DemoNotice:
    """A permanent status-bar label, shown while a demo (world) model shows an image not from its world;
    its tooltip is the full note (what the model is, where official weights come from)."""

    def __init__(self, status_bar: QStatusBar, io=None) -> None:
        self.status_bar = status_bar
        self.io = io  # IOPool: the file checks run there (None: on the calling thread)
        self._world: dict[Path, bool] = {}  # path -> is it from the world (checked)
        self._checking: set[Path] = set()
        self.label = QLabel("")
        self.label.setObjectName("demoNotice")
        self.label.setStyleSheet("QLabel#demoNotice { color: #f0b429; }")
        self.label.hide()
        status_bar.addPermanentWidget(self.label)
        self.model_name = ""
        self.world_model = False
        self._path: Path | None = None

    def set_model(self, model, name: str) -> None:
        self.world_model = is_world_model(model)
        self.model_name = getattr(model, "weights_name", None) or name
        self.label.setToolTip(demo_model_note(self.model_name) if self.world_model else "")
        self._check()
        self._update()

    def set_image(self, path: str | Path | None) -> None:
        self._path = Path(path) if path is not None else None
        self._check()
        self._update()

    def _check(self) -> None:
        """Find out (once per path) whether the current image is from the world; only a demo model needs to."""
        p = self._path
        if not self.world_model or p is None or p in self._world or p in self._checking:
            return
        if self.io is None:
            self._world[p] = is_world_image(p)
            return
        self._checking.add(p)
        self.io.submit(is_world_image, p, callback=lambda res, err, p=p: self._checked(p, res, err))

    def _checked(self, path: Path, result, err) -> None:
        self._checking.discard(path)
        self._world[path] = bool(result) if err is None else False
        if path == self._path:
            self._update()

    @property
    def checking(self) -> bool:
        """True while the current image's check is running on an I/O thread."""
        return self._path is not None and self._path in self._checking

    @property
    def active(self) -> bool:
        """True while the demo model shows an image that is not from its world (known once checked)."""
        return self.world_model and self._path is not None and self._world.get(self._path) is False

    def about_text(self) -> str:
        """Markdown for Help ▸ About (empty for a model that is not a demo model)."""
        if not self.world_model:
            return ""
        return ("**This is a demo model.** " + demo_model_note(self.model_name)[0].upper()
                + demo_model_note(self.model_name)[1:] + "\n\n")

    def _update(self) -> None:
        if self.active:
            self.label.setText(f"{self.model_name}: demo model, this image is not from its world")
            self.label.show()
        else:
            self.label.hide()
