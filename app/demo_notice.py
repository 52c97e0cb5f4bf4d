"""The demo-model notice: the status bar says when the demo model looks at an image from outside its world.

The rule (which model is a demo model, which image is from its world) is the library's,
:mod:`nodis.provenance`, the same as the CLI's note. The window calls :meth:`DemoNotice.set_model`
when a model is loaded and :meth:`DemoNotice.set_image` when the current image changes.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QStatusBar

from nodis.provenance import demo_model_note, is_world_image, is_world_model


class DemoNotice:
    """A permanent status-bar label, shown while a demo (world) model shows an image not from its world;
    its tooltip is the full note (what the model is, where official weights come from)."""

    def __init__(self, status_bar: QStatusBar) -> None:
        self.status_bar = status_bar
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
        self._update()

    def set_image(self, path: str | Path | None) -> None:
        self._path = Path(path) if path is not None else None
        self._update()

    @property
    def active(self) -> bool:
        """True while the demo model shows an image that is not from its world."""
        return self.world_model and self._path is not None and not is_world_image(self._path)

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
