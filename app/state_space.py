"""The state-space view: the ODEs' hidden states of the current image as paths in a plane.

One path per object (object ODE) or per selected pair (predicate ODE) from t = 0 to the end of the
grid, a dot at the current t coloured by the class (predicate) the state decodes to there, a small
square at t = 0 and a ring at ``t_end``. Projections (:mod:`nodis.statespace`):

* **PCA** of the shown items' states over every grid time;
* **decoder plane** (object ODE): the plane spanned by the decoder's weight vectors of two classes,
  with their decision boundary drawn (a state crossing it changes between the two classes);
* **logit plane** (predicate ODE, whose decoder is an MLP): two predicates' logits, boundary the diagonal.

Everything comes from the trajectory the worker already solved: :class:`TrajectoryData` fetches
``traj.histories(solve=False)`` and ``traj.state_space()`` once per result (and once more when the
grid is fully decoded), off the GUI thread; scrubbing only moves the dots. Hovering a path
highlights its box and node (``objectsHovered``).
"""
from __future__ import annotations

import colorsys
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from nodis.errors import NodisError
from nodis.render import object_color
from nodis.statespace import Projection, decoder_plane, logit_plane, pca

from .state import ViewerState
from .theme import current as current_theme
from .theme import style_legend, style_plot

log = logging.getLogger(__name__)

BACKGROUND = (30, 31, 34)
HOVER_PX = 8  # a path is hovered when the pointer is this close (pixels) to one of its points


def class_color(c: int) -> tuple[int, int, int]:
    """A colour per class / predicate index for the dots: 24 hues, consecutive indices 7 hues apart,
    two lightness levels (pastel, so they read apart from the saturated object colours of the paths)."""
    c = int(c)
    h = ((c * 7) % 24) / 24.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.45 if (c // 24) % 2 == 0 else 0.75, 1.0 if (c // 24) % 2 == 0 else 0.8)
    return int(r * 255), int(g * 255), int(b * 255)


# ------------------------------------------------------------------------------------ worker side
@dataclass
class TrajData:
    """What the views need of one result: histories and ODE states (plain numpy, no torch)."""

    eid: int
    jid: int
    histories: Any  # nodis.trajectory.Histories
    space: Any  # nodis.trajectory.StateSpace
    decoded: bool  # the whole grid was decoded when this was fetched (relation histories complete)


def fetch_trajectory_data(engine, eid: int, jid: int, decoded: bool) -> TrajData | None:
    """(worker thread) Histories and states of image ``eid`` from its live trajectory; no ODE solve."""
    traj = engine.trajectory(eid, jid)
    if traj is None:
        return None
    serve = getattr(engine, "serve_request", lambda: None)
    for t in traj.times:  # the objects of every time (SGDet: NMS per time), a slider request served between two
        serve()
        traj.objects_at(t)
    serve()
    hist = traj.histories(solve=False)
    serve()
    return TrajData(eid, jid, hist, traj.state_space(), decoded)


def fetch_fixed_relations(engine, eid: int, jid: int, pairs: list, t_obj: float):
    """(worker thread) Relation histories conditioned on the objects at ``t_obj`` (separate times)."""
    traj = engine.trajectory(eid, jid)
    out = {}
    if traj is not None:
        for s, o in pairs:
            try:
                out[(int(s), int(o))] = traj.relation_history(int(s), int(o), t_obj=t_obj, solve=False)
            except NodisError:
                pass
    return out


class TrajectoryData(QObject):
    """Fetches :class:`TrajData` of the current image from the worker and keeps a few of them."""

    changed = Signal(int)  # eid

    def __init__(self, state: ViewerState, engine, parent: QObject | None = None, keep: int = 8) -> None:
        super().__init__(parent)
        self.state = state
        self.engine = engine
        self._keep = keep
        self._data: dict[int, TrajData] = {}
        self._pending: dict[int, tuple] = {}  # token -> what
        self._fixed: dict[tuple, dict] = {}  # (eid, jid, gi_obj) -> {pair: RelationHistory}
        engine.callDone.connect(self._done)
        engine.callFailed.connect(self._failed)
        state.currentChanged.connect(lambda _: self.refresh())
        state.entryChanged.connect(self._entry_changed)
        state.resultChanged.connect(self._entry_changed)
        state.modeChanged.connect(lambda _: self.refresh())

    def _usable(self, e) -> bool:
        return e is not None and e.has_result and e.result_mode == self.state.mode

    def current(self) -> TrajData | None:
        """The data of the current image's current result, or None (not fetched yet / none)."""
        e = self.state.current
        if not self._usable(e):
            return None
        d = self._data.get(e.eid)
        return d if d is not None and d.jid == e.jid else None

    def _entry_changed(self, eid: int) -> None:
        if eid == self.state.current_id:
            self.refresh()

    def refresh(self) -> None:
        """Fetch the current image's data unless it is here (or on its way) already."""
        e = self.state.current
        if not self._usable(e):
            return
        decoded = e.progress[1] > 0 and e.progress[0] >= e.progress[1]
        d = self._data.get(e.eid)
        if d is not None and d.jid == e.jid and (d.decoded or not decoded):
            return
        if any(w[:4] == ("data", e.eid, e.jid, decoded) for w in self._pending.values()):
            return
        token = self.engine.call(fetch_trajectory_data, e.eid, e.jid, decoded)
        self._pending[token] = ("data", e.eid, e.jid, decoded)

    def fixed_relations(self, pairs) -> dict | None:
        """Histories of ``pairs`` conditioned on the objects at the current ``t_obj`` (fetched on
        first use; None until they arrive)."""
        e = self.state.current
        if not self._usable(e) or self.state.gi_obj < 0:
            return None
        key = (e.eid, e.jid, self.state.gi_obj)
        have = self._fixed.get(key)
        want = {tuple(p) for p in pairs}
        if have is not None and want <= set(have) | have.get("_missing", set()):
            return have
        if not any(w[0] == "fixed" and w[1] == key for w in self._pending.values()):
            token = self.engine.call(fetch_fixed_relations, e.eid, e.jid, sorted(want), float(e.times[self.state.gi_obj]))
            self._pending[token] = ("fixed", key, frozenset(want))
        return None

    def _done(self, token: int, result) -> None:
        what = self._pending.pop(token, None)
        if what is None:
            return
        if what[0] == "data":
            if result is None:
                return
            self._data.pop(result.eid, None)
            self._data[result.eid] = result
            while len(self._data) > self._keep:
                self._data.pop(next(iter(self._data)))
            self.changed.emit(result.eid)
            self.refresh()  # the grid may have finished decoding meanwhile
        else:
            key, want = what[1], what[2]
            got = dict(self._fixed.get(key, {}))
            got.update(result)
            got["_missing"] = set(got.get("_missing", set())) | (set(want) - set(result))
            self._fixed[key] = got
            while len(self._fixed) > 64:
                self._fixed.pop(next(iter(self._fixed)))
            self.changed.emit(key[0])

    def _failed(self, token: int, msg: str) -> None:
        if self._pending.pop(token, None) is not None:
            log.warning("trajectory data not available: %s", msg)


# ------------------------------------------------------------------------------------ export
def _svg_bytes(item) -> bytes:
    """pyqtgraph's SVG export of ``item`` (text stays text, clipped to the plot).

    pyqtgraph 0.14 rewrites every path's coordinates and cannot parse the close-path command ``Z``
    that Qt 6 writes, so every export fails; the ``Z`` tokens are dropped before that rewrite (the
    paths Qt writes end on their first point already, and SVG closes filled paths by itself)."""
    import sys

    from pyqtgraph.exporters import SVGExporter

    mod = sys.modules[SVGExporter.__module__]
    orig = mod.correctCoordinates

    def correct(node, defs, it, options):
        for p in node.getElementsByTagName("path"):
            d = p.getAttribute("d")
            if "Z" in d or "z" in d:
                p.setAttribute("d", " ".join(t for t in d.split() if t not in ("Z", "z")))
        return orig(node, defs, it, options)

    mod.correctCoordinates = correct
    try:
        text = SVGExporter(item).export(toBytes=True).decode("utf-8")
    finally:
        mod.correctCoordinates = orig
    # explicit size: the background rectangle of "100%" and an <svg> without width / height are drawn
    # at a wrong size by some renderers (Qt's own among them)
    m = re.search(r'viewBox ?="0 0 ([\d.]+) ([\d.]+)"', text)
    if m:
        w, h = m.group(1), m.group(2)
        text = text.replace('<svg ', f'<svg width="{w}" height="{h}" ', 1)
        text = text.replace('<rect width="100%" height="100%"', f'<rect x="0" y="0" width="{w}" height="{h}"', 1)
    return text.encode("utf-8")


def export_plot(item, path: str | Path) -> Path:
    """Write a pyqtgraph item (a ``PlotItem`` or layout) as PNG or SVG, chosen by the suffix, atomically."""
    from PySide6.QtWidgets import QGraphicsItem

    from nodis.errors import ExportError
    from nodis.export import atomic_write_bytes

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".svg", ".png"):
        raise ExportError(f"cannot export a plot as {path.name}: use a .png or .svg file name")
    # the pixmap caches of the screen (cache_static) must not end up scaled in the file: draw afresh
    cached = [it for it in item.scene().items() if it.cacheMode() != QGraphicsItem.CacheMode.NoCache]
    for it in cached:
        it.setCacheMode(QGraphicsItem.CacheMode.NoCache)
    try:
        data = _plot_bytes(item, suffix)
    finally:
        for it in cached:
            it.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    return atomic_write_bytes(path, data)


def _plot_bytes(item, suffix: str) -> bytes:
    from PySide6.QtCore import QBuffer, QIODevice, QRectF
    from PySide6.QtGui import QImage, QPainter

    if suffix == ".svg":
        return _svg_bytes(item)
    # PNG: the scene drawn at 2x (or more, for at least 1200 px) device-pixel ratio, so that lines, text
    # and dots all keep their on-screen proportions (pyqtgraph's ImageExporter enlarges the axes' text
    # but not the legend's)
    src = item.sceneBoundingRect()
    w, h = max(1, int(round(src.width()))), max(1, int(round(src.height())))
    ratio = max(2.0, 1200.0 / w)
    img = QImage(int(round(w * ratio)), int(round(h * ratio)), QImage.Format.Format_ARGB32)
    img.setDevicePixelRatio(ratio)
    img.fill(QColor(*current_theme().background))
    p = QPainter(img)
    try:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        item.scene().render(p, QRectF(0, 0, w, h), src)
    finally:
        p.end()
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    img.save(buf, "PNG")
    return bytes(buf.data())


def export_button(parent: QWidget, what: str, do_export: Callable[[str], Any]) -> QToolButton:
    """A tool button with 'PNG…' / 'SVG…' that asks for a file name and calls ``do_export(path)``."""
    btn = QToolButton(parent)
    btn.setText("Export")
    btn.setToolTip(f"Export the {what} as PNG or SVG")
    btn.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    menu = QMenu(btn)
    for fmt in ("PNG", "SVG"):
        def ask(_=False, fmt=fmt):
            path, _f = QFileDialog.getSaveFileName(parent, f"Export the {what} ({fmt})", f"{what.replace(' ', '_')}.{fmt.lower()}",
                                                   f"{fmt} (*.{fmt.lower()})")
            if path:
                if not path.lower().endswith("." + fmt.lower()):
                    path += "." + fmt.lower()
                do_export(path)
        menu.addAction(f"{fmt}…", ask)
    btn.setMenu(menu)
    return btn


# ------------------------------------------------------------------------------------ the view
class PlotExport:
    """Export of a widget's plot (``self.canvas``, a pyqtgraph GraphicsLayoutWidget) with its legend;
    the widget has ``exported(str)`` and ``exportFailed(str)`` signals."""

    def export_image(self, path: str | Path) -> Path:
        """PNG or SVG (by suffix) of the plot and its legend as shown."""
        return export_plot(self.canvas.ci, path)

    def _export_to(self, path: str) -> None:
        try:
            self.exported.emit(str(self.export_image(path)))
        except NodisError as e:
            self.exportFailed.emit(str(e))


class StateSpaceView(PlotExport, QWidget):
    """Paths of ODE hidden states in a 2-D projection, bound to a :class:`ViewerState`."""

    objectsHovered = Signal(object)  # set of object ids under the pointer (empty: none)
    exported = Signal(str)  # path written
    exportFailed = Signal(str)  # message

    OBJECTS, PREDICATES = "Object ODE", "Predicate ODE"
    PCA, PLANE = "PCA", "Decoder plane"

    def __init__(self, state: ViewerState, data: TrajectoryData,
                 labels_for: Callable[[Any, Any], dict[int, str]] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.data = data
        self.labels_for = labels_for
        self.ode_combo = QComboBox()
        self.ode_combo.addItems([self.OBJECTS, self.PREDICATES])
        self.ode_combo.setToolTip("Object ODE: every shown object. Predicate ODE: the selected edges "
                                  "(conditioned on the objects at t_end)")
        self.proj_combo = QComboBox()
        self.proj_combo.addItems([self.PCA, self.PLANE])
        self.proj_combo.setToolTip("PCA of the shown states over every t, or the plane of two classes' decoder "
                                   "weights (their decision boundary is a line there)")
        self.a_combo = QComboBox()
        self.b_combo = QComboBox()
        for c in (self.a_combo, self.b_combo):
            c.setMinimumContentsLength(8)
            c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            c.setToolTip("the two classes (predicates) whose plane is shown")
        self.vs_label = QLabel("vs")
        self.export_btn = export_button(self, "state space", self._export_to)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        # the plot and, in a column to its right, the legend of the dots' classes
        self.canvas = pg.GraphicsLayoutWidget()
        pi = self.pi = self.canvas.addPlot(row=0, col=0)
        pi.showGrid(x=True, y=True, alpha=0.12)
        pi.hideButtons()
        pi.setMenuEnabled(False)
        self.legend = pg.LegendItem(labelTextSize="8pt", verSpacing=-4, brush=pg.mkBrush(30, 31, 34, 0))
        self.canvas.addItem(self.legend, row=0, col=1)
        cache_static(pi.getAxis("left"), pi.getAxis("bottom"), self.legend)
        self._paths: list[pg.PlotCurveItem] = []
        self._starts = pg.ScatterPlotItem(size=7, symbol="s", pxMode=True)
        self._ends = pg.ScatterPlotItem(size=13, symbol="o", pxMode=True, brush=pg.mkBrush(0, 0, 0, 0))
        self._dots = pg.ScatterPlotItem(size=12, pxMode=True, pen=pg.mkPen(245, 245, 245, width=1.2))
        self._boundary = pg.PlotCurveItem(pen=pg.mkPen((255, 196, 0), width=1.5, style=Qt.PenStyle.DashLine))
        self._side_labels = [pg.TextItem("", color=(255, 196, 0), anchor=(0.5, 0.5)) for _ in range(2)]
        self._hover_text = pg.TextItem("", color=(240, 240, 240), anchor=(0, 1), fill=pg.mkBrush(30, 31, 34, 210))
        for it in (self._boundary, self._starts, self._ends, self._dots):
            pi.addItem(it)
        cache_static(self._boundary, self._starts, self._ends)
        for t in (*self._side_labels, self._hover_text):
            pi.addItem(t, ignoreBounds=True)
        self.apply_theme(current_theme())
        self._legend_key: tuple = ()
        # what is drawn
        self._keys: list = []  # object id or (subject, object) per path
        self._coords = np.zeros((0, 0, 2))  # (G, K, 2)
        self._labels = np.zeros((0, 0), np.int64)  # (G, K) class / predicate per time
        self._names: list[str] = []
        self._class_names: list[str] = []
        self._hover = -1
        self.projection: Projection | None = None

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.ode_combo)
        top.addWidget(self.proj_combo)
        top.addWidget(self.a_combo)
        top.addWidget(self.vs_label)
        top.addWidget(self.b_combo)
        top.addStretch(1)
        top.addWidget(self.export_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addLayout(top)
        lay.addWidget(self.info)
        lay.addWidget(self.canvas, 1)

        self._rebuild_timer = QTimer(self)
        self._rebuild_timer.setSingleShot(True)
        self._rebuild_timer.setInterval(0)
        self._rebuild_timer.timeout.connect(self.rebuild)
        self.ode_combo.currentIndexChanged.connect(self._ode_changed)
        self.proj_combo.currentIndexChanged.connect(lambda _: self._schedule(reset_classes=False))
        self.a_combo.currentIndexChanged.connect(self._classes_picked)
        self.b_combo.currentIndexChanged.connect(self._classes_picked)
        state.timeChanged.connect(self.update_time)
        state.currentChanged.connect(lambda _: self._schedule(reset_classes=True))
        state.selectionChanged.connect(lambda: self._schedule())
        state.filtersChanged.connect(lambda: self._schedule())
        state.modeChanged.connect(lambda _: self._schedule(reset_classes=True))
        data.changed.connect(lambda eid: eid == state.current_id and self._schedule())
        self.canvas.scene().sigMouseMoved.connect(self._mouse_moved)
        self._auto_classes = True
        self._ode_changed()

    def apply_theme(self, theme) -> None:
        """Background, axes, legend, boundary and the dots' outline in ``theme``'s colours."""
        self.theme = theme
        self.info.setStyleSheet(f"color: {theme.css(theme.muted)};")
        self.canvas.setBackground(QColor(*theme.background))
        style_plot(self.pi, theme, ("left", "bottom"))
        style_legend(self.legend, theme)
        self._dot_pen = pg.mkPen(*theme.dot_pen, width=1.2)
        self._dots.setPen(self._dot_pen)
        self._boundary.setPen(pg.mkPen(theme.accent, width=1.5, style=Qt.PenStyle.DashLine))
        for t in self._side_labels:
            t.setColor(QColor(*theme.accent))
        self._hover_text.setColor(QColor(*theme.text))
        self._hover_text.fill = pg.mkBrush(*theme.background, 210)
        self._legend_key = None  # the legend's dots take the new outline
        if getattr(self, "_class_names", None):
            self._schedule()

    # ------------------------------------------------------------------ building
    def _schedule(self, reset_classes: bool = False) -> None:
        if reset_classes:
            self._auto_classes = True
        self._rebuild_timer.start()

    def _classes_picked(self, *_) -> None:
        """The user chose a class: keep the choice until the image, the mode or the ODE changes."""
        self._auto_classes = False
        self._schedule()

    def _ode_changed(self, *_) -> None:
        objects = self.ode_combo.currentText() == self.OBJECTS
        self.proj_combo.blockSignals(True)
        self.proj_combo.setItemText(1, self.PLANE if objects else "Logit plane")
        self.proj_combo.blockSignals(False)
        self._auto_classes = True
        self._schedule()

    def is_objects(self) -> bool:
        return self.ode_combo.currentText() == self.OBJECTS

    def _display_names(self, ids) -> dict[int, str]:
        e = self.state.current
        names: dict[int, str] = {}
        if self.labels_for is not None and e is not None:
            # the names of the graph at t_end first (an object keeps the name it ends with while t moves,
            # as the box tags' "(t_end: …)" do), then those of the current graph; only of the objects
            # shown (filtered): naming one that is never shown would give it a number
            for g in (e.graphs.get((self.state.index_of(e.t_end),) * 2), self.state.raw_graph()):
                g = self.state.filter_graph(g)
                if g is not None:
                    for k, v in self.labels_for(e, g).items():
                        names.setdefault(k, v)
        return names

    def _fill_classes(self, names: list[str], a: int, b: int) -> None:
        for combo, v in ((self.a_combo, a), (self.b_combo, b)):
            combo.blockSignals(True)
            if [combo.itemText(i) for i in range(combo.count())] != names[1:]:
                combo.clear()
                combo.addItems(names[1:])
            combo.setCurrentIndex(max(0, v - 1))
            combo.blockSignals(False)

    def _shown_objects(self, h) -> list[int]:
        """Objects of the t_end graph as displayed (filters, focus) plus the selection; all when none."""
        ids = set(h.object_ids.tolist())
        ref = self.state.reference_graph()
        shown: set[int] = set()
        if ref is not None:
            if self.state.hide_unrelated and ref.relations:
                shown = {r.subject for r in ref.relations} | {r.object for r in ref.relations}
            else:
                shown = {o.index for o in ref.objects}
        shown |= self.state.highlighted_objects()
        shown &= ids
        return sorted(shown or ids)

    def _default_pair(self, labels_end: np.ndarray, labels_start: np.ndarray, probs_end: np.ndarray) -> tuple[int, int]:
        """Two classes worth comparing: a selected item's label at t = 0 and at t_end when they
        differ (a look-alike resolved over t), else its two best classes at t_end."""
        for k in range(len(labels_end)):
            if labels_start[k] != labels_end[k]:
                return int(labels_end[k]), int(labels_start[k])
        if len(labels_end):
            a = int(labels_end[0])
            order = [int(c) for c in np.argsort(-probs_end[0, 1:], kind="stable") + 1 if int(c) != a]
            return a, (order[0] if order else (2 if a == 1 else 1))
        return 1, 2

    def rebuild(self) -> None:
        pi = self.pi
        for c in self._paths:
            pi.removeItem(c)
        self._paths = []
        self._keys, self._names = [], []
        self._coords = np.zeros((0, 0, 2))
        self._labels = np.zeros((0, 0), np.int64)
        if self._hover >= 0:
            self.objectsHovered.emit(set())
        self._hover = -1
        self._hover_text.setText("")
        self.projection = None
        d = self.data.current()
        objects = self.is_objects()
        plane = self.proj_combo.currentIndex() == 1
        self.a_combo.setVisible(plane)
        self.b_combo.setVisible(plane)
        self.vs_label.setVisible(plane)
        if d is None:
            e = self.state.current
            self.info.setText("" if e is None else ("waiting for the result…" if not self.data._usable(e)
                                                    else "reading the ODE states…"))
            self._finish(None)
            return
        h, sp = d.histories, d.space
        G = len(sp.times)
        if objects:
            if sp.object_weight is None or sp.object_states.shape[1] == 0:
                self.info.setText("PredCls takes the given labels: the object ODE is not solved, so it has no states. "
                                  "Switch to the predicate ODE." if h.mode == "predcls" else "no objects")
                self._finish(None)
                return
            keys = self._shown_objects(h)
            hcol = {int(i): k for k, i in enumerate(h.object_ids.tolist())}
            scol = {int(i): k for k, i in enumerate(sp.object_ids.tolist())}
            keys = [i for i in keys if i in scol and i in hcol]
            X = sp.object_states[:, [scol[i] for i in keys]]
            labels = h.object_labels[:, [hcol[i] for i in keys]]
            class_names = list(h.class_names)
            names = self._display_names(keys)
            self._names = [names.get(i, f"{class_names[labels[-1, k]]} #{i}") for k, i in enumerate(keys)]
            sel = [k for k, i in enumerate(keys) if i in self.state.highlighted_objects()] or list(range(len(keys)))
            ge = int(np.argmin(np.abs(sp.times - sp.t_end)))
            probs_end = h.object_probs[ge][[hcol[keys[k]] for k in sel]]
            default = self._default_pair(labels[ge, sel], labels[0, sel], probs_end)
            self.info.setText(f"{len(keys)} object{'s' * (len(keys) != 1)}: hidden state of the object ODE "
                              f"(width {X.shape[-1]}) from t = 0 to {sp.times[-1]:g}; dot = class at the current t")
        else:
            pairs = [tuple(p) for p in sp.pairs.tolist()]
            col = {p: k for k, p in enumerate(pairs)}
            want = sorted(self.state.selected_relations)
            keys = [p for p in want if p in col]
            missing = [p for p in want if p not in col]
            if not keys:
                ge = int(np.argmin(np.abs(h.times - h.t_end)))
                hk = {tuple(p): r for r, p in enumerate(h.pairs.tolist())}
                ranked = sorted((h.relation_ranks[ge, hk[p]], p) for p in pairs if p in hk and h.relation_ranks[ge, hk[p]] > 0)
                keys = [p for _, p in ranked[:5]]
            X = sp.relation_states[:, [col[p] for p in keys]]
            logits = sp.relation_logits[:, [col[p] for p in keys]]
            labels = (logits[..., 1:].argmax(-1) + 1) if len(keys) else np.zeros((G, 0), np.int64)
            class_names = list(sp.predicate_names)
            names = self._display_names([i for p in keys for i in p])
            cn = list(h.class_names)
            hl_end = {int(i): int(h.object_labels[-1, k]) for k, i in enumerate(h.object_ids.tolist())}

            def nm(i):
                return names.get(i, f"{cn[hl_end.get(i, 0)]} #{i}")
            self._names = [f"{nm(s)} → {nm(o)}" for s, o in keys]
            lg_end = logits[int(np.argmin(np.abs(sp.times - sp.t_end)))] if len(keys) else np.zeros((0, len(class_names)))
            ge = int(np.argmin(np.abs(sp.times - sp.t_end)))
            default = self._default_pair(labels[ge, :1], labels[0, :1], lg_end[:1])
            note = "" if want and not missing else (
                "select edges to follow them; showing the best pairs at t_end. " if not want else
                f"{len(missing)} selected edge(s) keep no P-ODE states (not among the best 100 relations of the t_end objects). ")
            self.info.setText(note + f"{len(keys)} pair{'s' * (len(keys) != 1)}: hidden state of the predicate ODE "
                                     "conditioned on the objects at t_end; dot = predicate at the current t")
        self._keys = keys
        self._class_names = class_names
        if self._auto_classes:
            self._fill_classes(class_names, *default)
        if not keys:
            self._finish(None)
            return
        a, b = self.a_combo.currentIndex() + 1, self.b_combo.currentIndex() + 1
        try:
            if not plane:
                proj = pca(X.reshape(-1, X.shape[-1]))
                coords = proj(X)
            elif objects:
                proj = decoder_plane(sp.object_weight, sp.object_bias, a, b, class_names)
                coords = proj(X)
            else:
                proj = logit_plane(len(class_names), a, b, class_names)
                coords = proj(logits)
        except NodisError as e:
            self.info.setText(str(e))
            self._finish(None)
            return
        self.projection = proj
        self._coords = coords
        self._labels = labels
        hl = self.state.highlighted_objects()
        for k, key in enumerate(keys):
            oid = key if objects else key[0]
            rgb = object_color(oid)
            on = (key in hl) if objects else (key in self.state.selected_relations)
            c = pg.PlotCurveItem(coords[:, k, 0], coords[:, k, 1],
                                 pen=pg.mkPen((*rgb, 235 if on else 150), width=2.6 if on else 1.5))
            cache_static(c)
            pi.addItem(c)
            self._paths.append(c)
        ge = int(np.argmin(np.abs(sp.times - sp.t_end)))
        self._starts.setData(pos=coords[0], brush=[pg.mkBrush(*object_color(k if objects else k[0])) for k in keys],
                             pen=None)
        self._ends.setData(pos=coords[ge], pen=[pg.mkPen(*object_color(k if objects else k[0]), width=1.6) for k in keys])
        pi.setLabel("bottom", proj.axis_labels[0])
        pi.setLabel("left", proj.axis_labels[1])
        self._set_legend(sorted(set(int(c) for c in np.unique(labels))))  # every class a dot takes at some t
        self._finish(proj)

    def _finish(self, proj: Projection | None) -> None:
        pi = self.pi
        if proj is None:
            for it in (self._starts, self._ends, self._dots):
                it.setData([])
            self._boundary.setData([], [])
            for t in self._side_labels:
                t.setText("")
            self._set_legend([])
            return
        pi.enableAutoRange()
        pts = self._coords.reshape(-1, 2)
        lo, hi = pts.min(0), pts.max(0)
        pad = np.maximum((hi - lo) * 0.08, 1e-3)
        lo, hi = lo - pad, hi + pad
        pi.setRange(xRange=(lo[0], hi[0]), yRange=(lo[1], hi[1]), padding=0)
        seg = proj.boundary_segment((lo[0], lo[1]), (hi[0], hi[1]))
        if seg is not None:
            self._boundary.setData(seg[:, 0], seg[:, 1])
            a, b, c = proj.boundary
            mid = seg.mean(0)
            normal = np.array([a, b]) / (np.hypot(a, b) or 1.0)
            span = float(np.hypot(*(hi - lo))) * 0.12
            ia, ib = self.a_combo.currentIndex() + 1, self.b_combo.currentIndex() + 1
            names = self._class_names
            for t, sign, cls in ((self._side_labels[0], 1, ia), (self._side_labels[1], -1, ib)):
                t.setText(f"{names[cls]} wins" if cls < len(names) else "")
                t.setPos(*(mid + sign * normal * span))
        else:
            self._boundary.setData([], [])
            for t in self._side_labels:
                t.setText("")
        self.update_time()

    # ------------------------------------------------------------------ time
    def current_index(self) -> int:
        gi_o, gi_r = self.state.time_key()
        return gi_o if self.is_objects() else gi_r

    def update_time(self) -> None:
        """Move the dots to the current t (the only work a slider step does here)."""
        if not self._keys or self._coords.shape[0] == 0:
            self._dots.setData([])
            return
        g = int(np.clip(self.current_index(), 0, self._coords.shape[0] - 1))
        labs = self._labels[g]
        self._dots.setData(pos=self._coords[g], brush=[_brush(int(c)) for c in labs], data=list(range(len(self._keys))))
        if self._hover >= 0:
            self._show_hover(self._hover)

    def _set_legend(self, classes: list[int]) -> None:
        key = tuple(classes)
        if key == self._legend_key:
            return
        self._legend_key = key
        self.legend.clear()
        for c in classes:
            if 0 <= c < len(self._class_names):
                item = pg.ScatterPlotItem(size=10, brush=_brush(c), pen=pg.mkPen(*self.theme.dot_pen, width=1))
                self.legend.addItem(item, self._class_names[c])

    # ------------------------------------------------------------------ hover
    def _mouse_moved(self, pos) -> None:
        vb = self.pi.vb
        k = -1
        if self._keys and vb.sceneBoundingRect().contains(pos):
            p = vb.mapSceneToView(pos)
            px, py = vb.viewPixelSize()
            d = ((self._coords[..., 0] - p.x()) / (px or 1.0)) ** 2 + ((self._coords[..., 1] - p.y()) / (py or 1.0)) ** 2
            g, kk = np.unravel_index(int(np.argmin(d)), d.shape)
            if d[g, kk] <= HOVER_PX ** 2:
                k = int(kk)
        self.set_hover(k)

    def set_hover(self, k: int) -> None:
        """Highlight path ``k`` (-1: none) and tell the window which objects it belongs to."""
        if k == self._hover:
            return
        old, self._hover = self._hover, k
        for j in (old, k):
            if 0 <= j < len(self._paths):
                pen = self._paths[j].opts["pen"]
                c = pen.color()
                c.setAlpha(255 if j == k else 150)
                self._paths[j].setPen(pg.mkPen(c, width=4.0 if j == k else 1.5))
        if k < 0:
            self._hover_text.setText("")
            self.objectsHovered.emit(set())
            return
        self._show_hover(k)
        key = self._keys[k]
        self.objectsHovered.emit({key} if self.is_objects() else set(key))

    def _show_hover(self, k: int) -> None:
        g = int(np.clip(self.current_index(), 0, self._coords.shape[0] - 1))
        c = int(self._labels[g, k])
        self._hover_text.setText(f"{self._names[k]}: {self._class_names[c]} at t = {self.data.current().space.times[g]:.2f}"
                                 if self.data.current() is not None else self._names[k])
        self._hover_text.setPos(*self._coords[g, k])

    def hovered_key(self):
        return self._keys[self._hover] if 0 <= self._hover < len(self._keys) else None



def cache_static(*items) -> None:
    """Keep pixmaps of items that do not change while t moves (axes with their grid, legends, curves),
    so a slider step repaints the cursor / dots and blits the rest (measured: the axes' grid replay was
    most of a plot's repaint)."""
    from PySide6.QtWidgets import QGraphicsItem

    for it in items:
        it.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


_BRUSHES: dict[int, Any] = {}


def _brush(c: int):
    b = _BRUSHES.get(c)
    if b is None:
        b = _BRUSHES[c] = pg.mkBrush(*class_color(c))
    return b
