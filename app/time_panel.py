"""The ODE time panel (after the paper's Fig. 4): scrub ``t`` over the solved grid 0 .. 2.5.

* one slider for the object-ODE time and one for the predicate-ODE time, linked by default;
* play / pause animates ``t`` (looping);
* **Overview**: a plot against ``t`` of the number of objects and relations above the thresholds, the
  mean object confidence, the mean predicate confidence of the shown top-K relations and, with ground
  truth, R@20 / R@50; the training end time ``t_end`` is marked, the cursor follows (and can drag) ``t``;
* **Selection** (:class:`HistoryPlot`, shown when something is selected): the top class
  probabilities of every selected box / node and the predicate probabilities of every selected edge
  against ``t``, from the trajectory's histories (``nodis.trajectory.Histories``); the cursor is at
  the current ``t``, ``t_end`` is marked, clicking the plot moves the slider; PNG / SVG export.

Moving a slider only changes :class:`nodis_viewer.state.ViewerState`'s time; the window then shows the
graph already decoded at that grid index (or asks the worker for it once).
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from nodis.errors import NodisError
from nodis.render import object_color

from .state import ViewerState
from .state_space import PlotExport, cache_static, export_button
from .theme import CanvasTheme, style_legend, style_plot, style_time_lines
from .theme import current as current_theme

CURVES = {  # name -> (colour, axis, dashed)
    "objects": ((100, 181, 246), "left", False),
    "relations": ((255, 167, 38), "left", False),
    "object conf.": ((129, 199, 132), "right", False),
    "predicate conf.": ((206, 147, 216), "right", False),
    "R@20": ((240, 98, 146), "right", True),
    "R@50": ((255, 241, 118), "right", True),
}


class TimeSlider(QSlider):
    """A horizontal slider over grid indices that paints a marker at ``t_end``."""

    def __init__(self, parent=None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.mark_index = -1
        self.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.setPageStep(5)

    def paintEvent(self, ev) -> None:
        super().paintEvent(ev)
        if self.mark_index < 0 or self.maximum() <= self.minimum():
            return
        from PySide6.QtGui import QPainter, QPen
        from PySide6.QtWidgets import QStyle, QStyleOptionSlider

        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderGroove, self)
        handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderHandle, self)
        span = groove.width() - handle.width()
        x = groove.x() + handle.width() / 2 + span * (self.mark_index - self.minimum()) / (self.maximum() - self.minimum())
        p = QPainter(self)
        p.setPen(QPen(QColor(255, 196, 0), 2))
        p.drawLine(int(x), 0, int(x), 5)
        p.drawLine(int(x), self.height() - 5, int(x), self.height())
        p.end()


#: line styles of an item's classes, best first (the class at t_end is solid)
_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine,
           Qt.PenStyle.DashDotDotLine)


class HistoryPlot(PlotExport, QWidget):
    """Probabilities of the selected items against ``t``: for each selected object its top classes
    (the class at ``t_end`` solid, the others dashed), for each selected edge its top predicates.
    Times where an edge is no candidate (or its conditioning is not solved yet) are gaps."""

    exported = Signal(str)
    exportFailed = Signal(str)

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.data = None  # nodis_viewer.state_space.TrajectoryData
        self.labels_for = None  # (entry, graph) -> {object id: display name}
        self.title = QLabel("")
        self.export_btn = export_button(self, "history plot", self._export_to)
        # the plot and, in a column to its right, the legend (so it never covers a curve near 1)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setMinimumHeight(90)
        pi = self.pi = self.canvas.addPlot(row=0, col=0)
        pi.showGrid(x=True, y=True, alpha=0.15)
        pi.setLabel("bottom", "ODE time t")
        pi.setLabel("left", "probability")
        pi.setMouseEnabled(x=False, y=False)
        pi.hideButtons()
        pi.setMenuEnabled(False)
        pi.setYRange(0, 1.02, padding=0)
        self.legend = pg.LegendItem(labelTextSize="8pt", verSpacing=-4, brush=pg.mkBrush(30, 31, 34, 0))
        self.canvas.addItem(self.legend, row=0, col=1)
        cache_static(pi.getAxis("left"), pi.getAxis("bottom"), self.legend)  # a step repaints the cursor only
        self.end_line = pg.InfiniteLine(pos=1.5, angle=90, movable=False,
                                        pen=pg.mkPen((255, 196, 0), width=1.5, style=Qt.PenStyle.DashLine),
                                        label="t_end", labelOpts={"position": 0.95, "color": (255, 196, 0),
                                                                  "fill": (30, 31, 34, 200)})
        pi.addItem(self.end_line, ignoreBounds=True)
        self.cursor = pg.InfiniteLine(pos=1.5, angle=90, movable=True, pen=pg.mkPen((240, 240, 240), width=2),
                                      hoverPen=pg.mkPen((255, 255, 255), width=3))
        self.cursor.sigDragged.connect(self._cursor_dragged)
        pi.addItem(self.cursor, ignoreBounds=True)
        self.rel_cursor = pg.InfiniteLine(pos=1.5, angle=90, movable=False,
                                          pen=pg.mkPen((240, 240, 240), width=1.5, style=Qt.PenStyle.DotLine),
                                          label="t_rel", labelOpts={"position": 0.05, "color": (240, 240, 240)})
        pi.addItem(self.rel_cursor, ignoreBounds=True)
        self.hint = pg.TextItem("", color=(154, 160, 166), anchor=(0.5, 0.5))
        pi.addItem(self.hint, ignoreBounds=True)
        self.curves: list[pg.PlotDataItem] = []
        self.items: list = []  # object ids and (subject, object) pairs plotted, in legend order
        self._entries: list[tuple] = []  # per legend entry: (item key, curve name, first of its item)
        self._hidden: frozenset | None = None  # plotted items not in the graph shown now (marked in the legend)
        self.apply_theme(current_theme())
        self._updating = False
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.title, 1)
        top.addWidget(self.export_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.canvas, 1)
        self.canvas.scene().sigMouseClicked.connect(self._clicked)
        state.selectionChanged.connect(self.rebuild)
        state.currentChanged.connect(lambda _: self.rebuild())
        state.modeChanged.connect(lambda _: self.rebuild())
        state.timeChanged.connect(self._time_changed)
        state.filtersChanged.connect(self.mark_hidden)
        self._linked = state.linked
        self._fixed_gi = -1

    def apply_theme(self, theme: CanvasTheme) -> None:
        """Background, axes, legend, cursor and t_end line in ``theme``'s colours."""
        self.theme = theme
        self.title.setStyleSheet(f"color: {theme.css(theme.muted)};")
        self.canvas.setBackground(QColor(*theme.background))
        style_plot(self.pi, theme, ("left", "bottom"))
        style_legend(self.legend, theme)
        style_time_lines(theme, self.cursor, self.end_line, self.rel_cursor)
        self.hint.setColor(QColor(*theme.muted))
        self._hidden = None
        self.mark_hidden()

    #: how the legend marks an item that is not in the graph shown now (below the thresholds or top-K
    #: at this t, or never shown)
    HIDDEN_MARK = "  (not in the graph now)"

    def _shown_now(self):
        """Object ids and (subject, object) pairs of the graph shown now; None while it is not decoded."""
        g = self.state.display_graph()
        if g is None:
            return None
        return {o.index for o in g.objects} | {(r.subject, r.object) for r in g.relations}

    def hidden_items(self) -> set:
        """The plotted objects / edges that the graph does not show now (marked in the legend)."""
        return set(self._hidden or ())

    def mark_hidden(self) -> None:
        """Legend entries of items that are not in the graph shown now get a note and a muted colour;
        the others name their item as the graph does. Only relabels when that set changes."""
        shown = self._shown_now()
        if shown is None:
            return
        hidden = frozenset(k for k in self.items if k not in shown)
        if hidden == self._hidden:
            return
        self._hidden = hidden
        th = self.theme
        for (key, name, first), (_sample, label) in zip(self._entries, self.legend.items):
            off = key in hidden
            text = name + (self.HIDDEN_MARK if off and first else "")
            label.setAttr("color", QColor(*(th.muted if off else th.text)))
            label.setAttr("italic", off)
            label.setText(text)

    def set_data(self, data, labels_for=None) -> None:
        self.data = data
        self.labels_for = labels_for
        data.changed.connect(lambda eid: eid == self.state.current_id and self.rebuild())
        self.rebuild()

    def _names(self) -> dict[int, str]:
        e = self.state.current
        out: dict[int, str] = {}
        if self.labels_for is None or e is None:
            return out
        # the names of the graph at t_end first (an object keeps the name it ends with while t moves,
        # as the box tags' "(t_end: …)" do), then those of the current graph; only of the objects the
        # graph shows (filtered as on screen): asking for the name of an object that is never shown
        # would give it a number, and the next object shown would be numbered after it
        for g in (e.graphs.get((self.state.index_of(e.t_end),) * 2), self.state.raw_graph()):
            g = self.state.filter_graph(g)
            if g is not None:
                for k, v in self.labels_for(e, g).items():
                    out.setdefault(k, v)
        return out

    def _show_hint(self, text: str) -> None:
        self.hint.setText(text)
        ts = self.state.times()
        x = 0.5 * (float(ts[0]) + float(ts[-1])) if ts is not None and len(ts) else 0.5
        self.hint.setPos(x, 0.5)

    def rebuild(self) -> None:
        """Redraw the curves of the current selection (selection, image or data changed)."""
        pi = self.pi
        for c in self.curves:
            pi.removeItem(c)
        self.curves, self.items, self._entries = [], [], []
        self.legend.clear()
        self._hidden = None
        self._linked = self.state.linked
        self._fixed_gi = self.state.gi_obj
        objs = sorted(self.state.selected_objects)
        rels = sorted(self.state.selected_relations)
        ts = self.state.times()
        if ts is not None and len(ts):
            pi.setXRange(float(ts[0]), float(ts[-1]), padding=0.02)
            self.end_line.setPos(self.state.current.t_end)
        if not objs and not rels:
            self.title.setText("Select boxes, nodes or edges to plot their probabilities over t")
            self._show_hint("select a box, node or edge")
            self._time_changed()
            return
        d = self.data.current() if self.data is not None else None
        if d is None:
            self.title.setText("")
            self._show_hint("reading the trajectory…" if self.state.current is not None else "")
            self._time_changed()
            return
        h = d.histories
        names = self._names()
        cn, pn = h.class_names, h.predicate_names
        k_top = 5 if len(objs) + len(rels) == 1 else 3
        ge = int(np.argmin(np.abs(h.times - h.t_end)))

        def nm(i: int) -> str:
            if i in names:
                return names[i]
            try:
                return f"{cn[h.object(i).labels[ge]]} #{i}"
            except NodisError:
                return f"#{i}"

        notes = []
        if objs and h.mode == "predcls":
            notes.append("PredCls gives the labels: each object keeps its given class at every t")
        for i in objs:
            try:
                oh = h.object(i)
            except NodisError:
                notes.append(f"{nm(i)}: no history")
                continue
            classes, probs = oh.top(k_top)
            self._add(i, object_color(i), [(f"{nm(i)}: {cn[c]}", probs[:, j]) for j, c in enumerate(classes)],
                      h.times)
        fixed = None
        if rels and not self.state.linked:
            fixed = self.data.fixed_relations(rels)
            if fixed is None:
                notes.append("reading the edges at this t_obj…")
        for r, (s, o) in enumerate(rels):
            try:
                rh = h.relation(s, o) if self.state.linked else (fixed or {}).get((s, o))
            except NodisError:
                rh = None
            if rh is None:
                if self.state.linked or fixed is not None:
                    notes.append(f"{nm(s)} → {nm(o)}: not a candidate pair")
                continue
            preds, probs = rh.top(k_top)
            rgb = object_color(1000 + 7 * r + s)
            self._add((s, o), rgb, [(f"{nm(s)} → {nm(o)}: {pn[p]}", probs[:, j]) for j, p in enumerate(preds)],
                      rh.times)
            if not rh.available.all():
                missing = int((~rh.available).sum())
                notes.append(f"{nm(s)} → {nm(o)}: {missing} of {len(rh.times)} times not available"
                             + ("" if d.decoded else " yet"))
        what = []
        if objs:
            what.append(f"{len(objs)} object{'s' * (len(objs) != 1)}: top classes")
        if rels:
            what.append(f"{len(rels)} edge{'s' * (len(rels) != 1)}: top predicates"
                        + ("" if self.state.linked else " (objects at t_obj)"))
        self.title.setText("; ".join(what) + (" — " + "; ".join(notes) if notes else ""))
        self._show_hint("" if self.curves else "nothing to plot")
        self._time_changed()
        self.mark_hidden()

    def _add(self, key, rgb, series, times) -> None:
        self.items.append(key)
        pi = self.pi
        for j, (name, values) in enumerate(series):
            alpha = 255 if j == 0 else max(120, 230 - 40 * j)
            pen = pg.mkPen((*rgb, alpha), width=2.6 if j == 0 else 1.6, style=_STYLES[min(j, len(_STYLES) - 1)])
            c = pg.PlotDataItem(np.asarray(times, np.float64), np.asarray(values, np.float64), pen=pen, name=name,
                                connect="finite")
            cache_static(c.curve)
            pi.addItem(c)
            self.legend.addItem(c, name)
            self._entries.append((key, name, j == 0))
            self.curves.append(c)

    def _time_changed(self) -> None:
        """Scrubbing: move the cursors (and fetch the edges' histories of a new t_obj when unlinked)."""
        ts = self.state.times()
        if ts is None or self.state.gi_obj < 0:
            return
        gi_o, gi_r = self.state.time_key()
        self._updating = True
        self.cursor.setPos(float(ts[gi_o]))
        self.rel_cursor.setPos(float(ts[gi_r]))
        self.rel_cursor.setVisible(not self.state.linked)
        self._updating = False
        if self.state.linked != self._linked or (not self.state.linked and self.state.selected_relations
                                                 and gi_o != self._fixed_gi):
            self.rebuild()
        elif self.items:
            self.mark_hidden()

    def _cursor_dragged(self) -> None:
        if not self._updating:
            self.state.set_time_index(gi_obj=self.state.index_of(self.cursor.value()))

    def _clicked(self, ev) -> None:
        vb = self.pi.vb
        if ev.button() != Qt.MouseButton.LeftButton or not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        if self.state.times() is None:
            return
        i = self.state.index_of(vb.mapSceneToView(ev.scenePos()).x())
        if not self.state.linked and self.state.selected_relations and not self.state.selected_objects:
            self.state.set_time_index(gi_rel=i)
        else:
            self.state.set_time_index(gi_obj=i)



class TimePanel(QWidget):
    """Sliders, play/pause and the per-t plot, bound to a :class:`ViewerState`."""

    playingChanged = Signal(bool)

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._updating = False
        self.play_btn = QToolButton()
        self.play_btn.setText("▶")
        self.play_btn.setToolTip("Play / pause the ODE time (Space)")
        self.play_btn.setCheckable(True)
        self.play_btn.setFixedWidth(34)
        self.play_btn.toggled.connect(self.set_playing)
        self.end_btn = QToolButton()
        self.end_btn.setText("t_end")
        self.end_btn.setToolTip("Jump to the training end time (E)")
        self.end_btn.clicked.connect(self.jump_to_end)
        self.obj_slider = TimeSlider()
        self.obj_slider.setToolTip("ODE time t (object ODE; also the predicate ODE while linked). ←/→ step, Home/End")
        self.rel_slider = TimeSlider()
        self.rel_slider.setToolTip("Predicate-ODE time (enabled when unlinked)")
        self.obj_label = QLabel("t = –")
        self.rel_label = QLabel("")
        for lab in (self.obj_label, self.rel_label):
            lab.setMinimumWidth(150)
            f = lab.font()
            f.setBold(True)
            lab.setFont(f)
        self.link_box = QCheckBox("link O-ODE and P-ODE times")
        self.link_box.setChecked(True)
        self.link_box.setToolTip("Unlink to decode objects and predicates at different ODE times (L)")
        self.link_box.toggled.connect(self.state.set_linked)
        self.obj_slider.valueChanged.connect(self._obj_moved)
        self.rel_slider.valueChanged.connect(self._rel_moved)

        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(90)
        pi = self.plot.getPlotItem()
        pi.showGrid(x=True, y=True, alpha=0.15)
        pi.setLabel("bottom", "ODE time t")
        pi.setLabel("left", "count")
        pi.showAxis("right")
        pi.setLabel("right", "confidence / recall")
        pi.setMouseEnabled(x=False, y=False)
        pi.hideButtons()
        pi.setMenuEnabled(False)
        self.right_vb = pg.ViewBox()
        self.right_vb.setMouseEnabled(False, False)
        pi.scene().addItem(self.right_vb)
        pi.getAxis("right").linkToView(self.right_vb)
        self.right_vb.setXLink(pi)
        self.right_vb.setYRange(0, 1.22, padding=0)
        pi.vb.sigResized.connect(self._sync_views)
        # the legend is a row above the plot area (in the plot's title row), never over a curve
        self.legend = pg.LegendItem(labelTextSize="8pt", colCount=6, verSpacing=-6, horSpacing=6)
        pi.layout.removeItem(pi.titleLabel)
        pi.titleLabel.setVisible(False)
        pi.layout.addItem(self.legend, 0, 1)
        self.curves: dict[str, pg.PlotDataItem] = {}
        for name, (rgb, axis, dashed) in CURVES.items():
            pen = pg.mkPen(rgb, width=2, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
            item = pg.PlotDataItem([], [], pen=pen, name=name, connect="finite")
            if axis == "left":
                pi.addItem(item)
            else:
                self.right_vb.addItem(item)
            self.curves[name] = item
        self._legend_names: tuple = ()
        self.end_line = pg.InfiniteLine(pos=1.5, angle=90, movable=False,
                                        pen=pg.mkPen((255, 196, 0), width=1.5, style=Qt.PenStyle.DashLine),
                                        label="t_end", labelOpts={"position": 0.72, "color": (255, 196, 0), "fill": (30, 31, 34, 200)})
        pi.addItem(self.end_line, ignoreBounds=True)
        self.cursor = pg.InfiniteLine(pos=1.5, angle=90, movable=True, pen=pg.mkPen((240, 240, 240), width=2),
                                      hoverPen=pg.mkPen((255, 255, 255), width=3))
        self.cursor.setToolTip("drag to move t")
        self.cursor.sigDragged.connect(self._cursor_dragged)
        pi.addItem(self.cursor, ignoreBounds=True)
        self.log_counts = False
        self.apply_theme(current_theme())
        self.recall_label = QLabel("")
        self.recall_label.setToolTip("Recall of the ground-truth relations at the current t (graph constraint)")

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.play_btn, 0, 0)
        grid.addWidget(QLabel("O-ODE"), 0, 1)
        grid.addWidget(self.obj_slider, 0, 2)
        grid.addWidget(self.obj_label, 0, 3)
        grid.addWidget(self.end_btn, 1, 0)
        grid.addWidget(QLabel("P-ODE"), 1, 1)
        grid.addWidget(self.rel_slider, 1, 2)
        grid.addWidget(self.rel_label, 1, 3)
        grid.setColumnStretch(2, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.link_box)
        bottom.addStretch(1)
        bottom.addWidget(self.recall_label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addLayout(grid)
        lay.addLayout(bottom)
        self.history = HistoryPlot(state)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.plot, "Overview")
        self.tabs.addTab(self.history, "Selection")
        self.tabs.setTabToolTip(1, "Class / predicate probabilities of the selected boxes, nodes and edges over t")
        lay.addWidget(self.tabs, 1)
        state.selectionChanged.connect(self._selection_changed)

        self.timer = QTimer(self)
        self.timer.setInterval(120)
        self.timer.timeout.connect(self._tick)

        state.timeChanged.connect(self.refresh_time)
        state.currentChanged.connect(lambda _: self.refresh())
        state.resultChanged.connect(self._result_changed)
        state.filtersChanged.connect(self.refresh_curves)
        self.refresh()

    def apply_theme(self, theme: CanvasTheme) -> None:
        """The overview plot (and the Selection tab's) in ``theme``'s colours."""
        self.theme = theme
        self.plot.setBackground(QColor(*theme.background))
        pi = self.plot.getPlotItem()
        style_plot(pi, theme)
        style_legend(self.legend, theme)
        style_time_lines(theme, self.cursor, self.end_line)
        for name, (rgb, _axis, dashed) in CURVES.items():  # the pastel curves a shade darker on light
            c = QColor(*rgb).darker(150 if theme.name == "light" else 100)
            self.curves[name].setPen(pg.mkPen(c, width=2, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine))
        if hasattr(self, "history"):
            self.history.apply_theme(theme)

    def _sync_legend(self) -> None:
        """The legend lists the curves drawn (R@K only with ground truth), as many per row as fit."""
        names = tuple(n for n, item in self.curves.items() if item.isVisible())
        width = self.plot.width()
        if names == self._legend_names and width == getattr(self, "_legend_width", None):
            return
        self._legend_names, self._legend_width = names, width
        self.legend.clear()
        self.legend.setColumnCount(len(names) or 1)
        for n in names:
            self.legend.addItem(self.curves[n], n)
        style_legend(self.legend, self.theme)
        # one row when it fits beside the axes, else two (a legend wider than the plot would push
        # the right axis out of view)
        if self.legend.layout.preferredWidth() > width - 30 and len(names) > 1:
            self.legend.setColumnCount((len(names) + 1) // 2)
        self.legend.updateGeometry()  # the plot takes the legend's new size now (its width was the floor)
        self.plot.getPlotItem().setGeometry(self.plot.range)

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        QTimer.singleShot(0, self._sync_legend)  # once the plot has its new width

    def set_data(self, data, labels_for=None) -> None:
        """Give the Selection tab its source of histories (:class:`nodis_viewer.state_space.TrajectoryData`)
        and the display names (``labels_for(entry, graph)``)."""
        self.history.set_data(data, labels_for)

    def _selection_changed(self) -> None:
        """Something selected: show its history; nothing selected: back to the overview."""
        has = bool(self.state.selected_objects or self.state.selected_relations)
        self.tabs.setCurrentWidget(self.history if has else self.plot)

    # ------------------------------------------------------------------ refresh
    def _sync_views(self) -> None:
        self.right_vb.setGeometry(self.plot.getPlotItem().vb.sceneBoundingRect())
        self.right_vb.linkedViewChanged(self.plot.getPlotItem().vb, self.right_vb.XAxis)

    def _result_changed(self, eid: int) -> None:
        if eid == self.state.current_id:
            self.refresh()

    def refresh(self) -> None:
        ts = self.state.times()
        has = ts is not None and len(ts) > 0
        self._updating = True
        for s in (self.obj_slider, self.rel_slider):
            s.setEnabled(has)
            s.setRange(0, len(ts) - 1 if has else 0)
            s.setTickInterval(10)
        if has:
            e = self.state.current
            iend = self.state.index_of(e.t_end)
            self.obj_slider.mark_index = self.rel_slider.mark_index = iend
            self.end_line.setPos(e.t_end)
            self.plot.getPlotItem().setXRange(float(ts[0]), float(ts[-1]), padding=0.02)
        self._updating = False
        self.play_btn.setEnabled(has)
        self.end_btn.setEnabled(has)
        self.refresh_time()
        self.refresh_curves()

    def refresh_time(self) -> None:
        ts = self.state.times()
        self._updating = True
        self.link_box.setChecked(self.state.linked)
        self.rel_slider.setEnabled(ts is not None and not self.state.linked)
        if ts is None or self.state.gi_obj < 0:
            self.obj_label.setText("t = –")
            self.rel_label.setText("")
        else:
            gi_o, gi_r = self.state.time_key()
            self.obj_slider.setValue(gi_o)
            self.rel_slider.setValue(gi_r)
            t_end = self.state.current.t_end

            def mark(t: float) -> str:
                return "  ★ t_end" if abs(t - t_end) < 1e-6 else ("  (extrapolated)" if t > t_end + 1e-6 else "")

            to, tr = float(ts[gi_o]), float(ts[gi_r])
            if self.state.linked:
                self.obj_label.setText(f"t = {to:.2f}{mark(to)}")
                self.rel_label.setText("(linked)")
            else:
                self.obj_label.setText(f"t_obj = {to:.2f}{mark(to)}")
                self.rel_label.setText(f"t_rel = {tr:.2f}{mark(tr)}")
            self.cursor.setPos(to)
            self._update_recall_label()
        self._updating = False

    def _update_recall_label(self) -> None:
        e = self.state.current
        text = ""
        if e is not None and self.state.linked:
            s = e.summaries.get(self.state.gi_obj)
            if s is not None and s.recall:
                text = "  ".join(f"R@{k} {v * 100:.1f}" for k, v in sorted(s.recall.items()) if v is not None)
        elif e is not None and e.gt is not None:
            text = "recall: link the times"
        self.recall_label.setText(text)

    def series(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The plotted curves (t, value) for the current image and filters."""
        e = self.state.current
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if e is None or e.times is None:
            return out
        idx = sorted(e.summaries)
        t = np.array([e.times[i] for i in idx], dtype=np.float64)
        vals = {k: [] for k in CURVES}
        for i in idx:
            s = e.summaries[i]
            n_o, n_r, mo, mp = s.counts(self.state.obj_threshold, self.state.rel_threshold, self.state.top_k,
                                      self.state.all_pairs)
            vals["objects"].append(n_o)
            vals["relations"].append(n_r)
            vals["object conf."].append(mo)
            vals["predicate conf."].append(mp)
            for k in (20, 50):
                v = s.recall.get(k) if s.recall else None
                vals[f"R@{k}"].append(np.nan if v is None else v)
        for k, v in vals.items():
            arr = np.asarray(v, dtype=np.float64)
            if k.startswith("R@") and np.all(np.isnan(arr)):
                continue
            out[k] = (t, arr)
        return out

    def refresh_curves(self) -> None:
        data = self.series()
        pi = self.plot.getPlotItem()
        counts = [v for k, (_, v) in data.items() if CURVES[k][1] == "left" and len(v)]
        finite = [v[np.isfinite(v)] for v in counts]
        top = max([float(v.max()) for v in finite if len(v)] + [1.0])
        low = min([float(v[v > 0].min()) for v in finite if (v > 0).any()] + [top])
        # counts of objects and of candidate relations differ by orders of magnitude: log axis then
        self.log_counts = top >= 50 and top / max(low, 1.0) >= 8
        pi.setLogMode(False, self.log_counts)
        pi.getAxis("right").setLogMode(False, False)  # confidences and recall stay linear
        pi.setLabel("left", "count (log)" if self.log_counts else "count")
        for name, item in self.curves.items():
            if name in data:
                t, v = data[name]
                if self.log_counts and CURVES[name][1] == "left":
                    v = np.where(v > 0, v, np.nan)
                item.setData(t, v)
                item.setVisible(True)
            else:
                item.setData([], [])
                item.setVisible(False)
        if self.log_counts:
            pi.setYRange(0, np.log10(top) * 1.22 + 0.05, padding=0)
        else:
            pi.setYRange(0, top * 1.22 + 0.5, padding=0)
        self._sync_legend()
        self._update_recall_label()

    # ------------------------------------------------------------------ interaction
    def _obj_moved(self, v: int) -> None:
        if not self._updating:
            self.state.set_time_index(gi_obj=v)

    def _rel_moved(self, v: int) -> None:
        if not self._updating and not self.state.linked:
            self.state.set_time_index(gi_rel=v)

    def _cursor_dragged(self) -> None:
        if not self._updating:
            self.state.set_time_index(gi_obj=self.state.index_of(self.cursor.value()))

    def jump_to_end(self) -> None:
        e = self.state.current
        if e is not None and e.times is not None:
            i = self.state.index_of(e.t_end)
            self.state.set_time_index(gi_obj=i, gi_rel=i)

    def step(self, delta: int) -> None:
        ts = self.state.times()
        if ts is None:
            return
        self.state.set_time_index(gi_obj=(self.state.gi_obj + delta) % len(ts) if delta else self.state.gi_obj)

    def set_playing(self, on: bool) -> None:
        if on and self.state.times() is None:
            on = False
        if self.play_btn.isChecked() != on:
            self.play_btn.setChecked(on)
            return
        self.play_btn.setText("❚❚" if on else "▶")
        if on:
            self.timer.start()
        else:
            self.timer.stop()
        self.playingChanged.emit(on)

    def toggle_play(self) -> None:
        self.set_playing(not self.timer.isActive())

    def _tick(self) -> None:
        ts = self.state.times()
        if ts is None:
            self.set_playing(False)
            return
        e = self.state.current
        # while playing, wait for the next grid time to be decoded instead of skipping it
        nxt = (self.state.gi_obj + 1) % len(ts)
        if e is not None and (nxt, nxt) not in e.graphs and self.state.linked:
            return
        self.state.set_time_index(gi_obj=nxt)
