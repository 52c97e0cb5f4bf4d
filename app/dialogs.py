"""Help > Keyboard shortcuts, Help > About, and the batch-export dialog."""
from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
)

import nodis

#: (keys, what they do) — the single source for the Help dialog and docs/viewer.md
SHORTCUTS: list[tuple[str, str]] = [
    ("Ctrl+O", "Open image(s)"),
    ("Ctrl+Shift+O", "Open folder"),
    ("D / PgDown", "Next image"),
    ("A / PgUp", "Previous image"),
    ("Ctrl+R", "Re-run inference on the current image"),
    ("Ctrl+Shift+R", "Run all images in the current mode"),
    ("Ctrl+.", "Cancel queued and running inference"),
    ("1 / 2 / 3", "Mode: SGDet / SGCls / PredCls"),
    ("Right / Left", "ODE time t: next / previous grid point"),
    ("Shift+Right / Shift+Left", "ODE time t: ±0.25"),
    ("Home / End", "t = 0 / last t (2.5)"),
    ("E", "Jump to t_end (training end time, 1.5)"),
    ("Space", "Play / pause the ODE time"),
    ("L", "Link / unlink object-ODE and predicate-ODE times"),
    ("B", "Draw-box tool (SGCls / PredCls)"),
    ("Del", "Remove the selected box (SGCls / PredCls)"),
    ("Ctrl+Z", "Undo a box edit"),
    ("Ctrl+Shift+Z / Ctrl+Y", "Redo a box edit"),
    ("Ctrl+Shift+G", "Save the boxes and labels as this image's ground truth"),
    ("Ctrl+C", "Copy the selected triplets (all shown ones when nothing is selected)"),
    ("Ctrl+F", "Find a node by name (Enter: next match, Esc: done)"),
    ("G", "Colour by ground truth on / off"),
    ("H", "Show / hide the boxes"),
    ("T", "Show / hide the box tags"),
    ("P", "Show / hide the predicate labels"),
    ("F", "Fit image and graph to their views"),
    ("Ctrl+= / Ctrl++ / Ctrl+-", "Zoom the image in / out (mouse wheel also zooms, drag pans)"),
    ("Esc", "Clear the selection (in the label or search box: back to the image)"),
    ("Ctrl+S", "Export the scene graph (nodis JSON)"),
    ("Ctrl+Shift+E", "Export the graph drawing (PNG)"),
    ("Ctrl+Shift+S", "Batch export all images"),
    ("F1 / ?", "This list"),
    ("Ctrl+Q", "Quit"),
]


class ShortcutsDialog(QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        table = QTableWidget(len(SHORTCUTS), 2)
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        for r, (k, v) in enumerate(SHORTCUTS):
            table.setItem(r, 0, QTableWidgetItem(k))
            table.setItem(r, 1, QTableWidgetItem(v))
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        hint = QLabel("Mouse: wheel zooms, drag pans; click a box, node, edge or table row to select "
                      "(Ctrl/Shift adds); right-click a box, node or edge for its menu; drag graph nodes to "
                      "rearrange; hover for class and predicate probabilities (the counterparts light up). "
                      "Drop images or folders anywhere on the window.")
        hint.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(table)
        lay.addWidget(hint)
        lay.addWidget(buttons)
        self.resize(560, 640)


def model_card_text(weights: str | Path | None = None) -> str:
    """Markdown of the model card next to the weights (``MODEL_CARD.md``), or ''."""
    cands = []
    if weights:
        cands.append(Path(weights).with_name("MODEL_CARD.md"))
    cands.append(nodis.WEIGHTS_DIR / "MODEL_CARD.md")
    for c in cands:
        if c.is_file():
            try:
                return c.read_text(encoding="utf-8")
            except OSError:
                continue
    return ""


class AboutDialog(QDialog):
    def __init__(self, model_name: str, device: str, weights: str | None, parent=None, demo_note: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("About nodis-viewer")
        text = QTextBrowser()
        text.setOpenExternalLinks(True)
        card = model_card_text(weights)
        md = (f"# nodis-viewer {nodis.__version__}\n\n"
              "Neural-ODE scene graph generation (NODIS, Cong et al., ECCV 2020): drop images, see boxes beside "
              "an interactive scene graph and scrub the ODE time *t* to watch objects and relations get "
              "classified.\n\n"
              f"**Model:** {model_name or 'not loaded'}  \n**Device:** {device or '–'}  \n"
              f"**Weights:** {weights or 'default demo model'}\n\n" + demo_note + "---\n\n")
        md += card if card else "*No model card found (weights/MODEL_CARD.md).*"
        text.setMarkdown(md)
        self.text = text
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        lay.addWidget(buttons)
        self.resize(640, 560)


BATCH_FORMATS = [  # (key, label)
    ("json", "nodis JSON (one per image)"),
    ("vg", "Visual Genome scene_graphs.json (one file)"),
    ("graphml", "GraphML (one per image)"),
    ("png", "Annotated image PNG"),
    ("graph-png", "Graph drawing PNG"),
    ("svg", "Graph drawing SVG"),
    ("strip", "t-strip PNG (image + graph at t = 0 … 2.5)"),
]


class BatchExportDialog(QDialog):
    """Pick a folder and formats for exporting every image's graph at the current t."""

    def __init__(self, folder: str, formats: list[str], n_done: int, n_total: int, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch export")
        self.folder = QLineEdit(folder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(QLabel("Folder:"))
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        grid = QGridLayout()
        self.boxes: dict[str, QCheckBox] = {}
        for k, (key, label) in enumerate(BATCH_FORMATS):
            cb = QCheckBox(label)
            cb.setChecked(key in formats)
            self.boxes[key] = cb
            grid.addWidget(cb, k // 2, k % 2)
        note = QLabel(f"{n_done} of {n_total} images have results; each is exported at the current ODE time "
                      "with the current thresholds and top-K.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addLayout(grid)
        lay.addWidget(note)
        lay.addWidget(buttons)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if d:
            self.folder.setText(d)

    def selected_formats(self) -> list[str]:
        return [k for k, cb in self.boxes.items() if cb.isChecked()]


def model_summary(path: str | Path) -> str:
    """(any thread) Markdown describing the checkpoint ``path`` before it is loaded: what the file is,
    the model it holds (preset, vocabulary sizes, what its header says about its training) and its
    model card (``MODEL_CARD.md`` or ``<stem>.md`` next to it). Reads only the header, never tensors."""
    from nodis.checkpoint import is_official, read_header
    from nodis.errors import NodisError

    p = Path(path)
    lines = [f"# {p.name}", ""]
    try:
        size = p.stat().st_size
        lines.append(f"`{p}` · {size / 2**20:.1f} MiB")
    except OSError as e:
        return f"# {p.name}\n\nCannot read this file: {e.strerror or e}."
    lines.append("")
    if p.suffix.lower() == ".safetensors":
        try:
            h = read_header(p)
        except NodisError as e:
            lines.append(f"**This file cannot be loaded:** {e}")
            return "\n".join(lines)
        cfg, vocab, info = h.get("config", {}), h.get("vocab", {}), h.get("info", {}) or {}
        classes, preds = vocab.get("classes") or [], vocab.get("predicates") or []
        lines += ["## Model", "",
                  f"* preset: **{cfg.get('preset', '?')}**, t_end {cfg.get('t_end', '?')}, solver {cfg.get('solver', '?')}",
                  f"* vocabulary: {max(0, len(classes) - 1)} object classes, {max(0, len(preds) - 1)} predicates"
                  + (f" ({', '.join(map(str, classes[1:8]))}, …)" if len(classes) > 1 else "")]
        for k, v in list(info.items())[:12]:
            text = json.dumps(v) if isinstance(v, (dict, list)) else str(v)
            lines.append(f"* {k}: {text[:200]}")
    elif is_official(p):
        lines += ["An official NODIS release checkpoint (a PyTorch `.tar`). It is imported when loaded; "
                  "`nodis convert` turns it into a `.safetensors` file once and for all."]
    else:
        lines += ["Not a `.safetensors` checkpoint nor an official release `.tar`: loading will most likely fail."]
    card = ""
    for c in (p.with_name("MODEL_CARD.md"), p.with_suffix(".md")):
        try:
            if c.is_file():
                card = c.read_text(encoding="utf-8")[:60000]
                break
        except OSError:
            continue
    lines += ["", "---", "", card if card else "*No model card next to this file (MODEL_CARD.md).*"]
    return "\n".join(lines)


class ModelPickerDialog(QDialog):
    """*Run ▸ Load weights…* after the file is chosen: its model card and header, then Load or Cancel."""

    def __init__(self, path: str | Path, summary: str | None = None, parent=None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.setWindowTitle(f"Load {self.path.name}?")
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(True)
        self.set_summary(summary if summary is not None else f"# {self.path.name}\n\nReading the checkpoint…")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.load_button = self.buttons.addButton("Load this model", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text)
        lay.addWidget(self.buttons)
        self.resize(680, 600)

    def set_summary(self, md: str) -> None:
        self.text.setMarkdown(md)
