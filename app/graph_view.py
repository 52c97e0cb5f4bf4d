"""The interactive scene graph (pyqtgraph): labelled nodes, curved directed edges with arrowheads
and predicate labels, draggable nodes, a layout that stays put while ``t`` moves.

Node positions live in *scene units*: the unit-square layout of :func:`nodis.render.graph_layout`
(``y`` up) scaled to ``SCENE_W x SCENE_H`` with ``y`` down. They are computed once per image over the
graphs of several ``t`` (so every object that ever appears has a place) and then only change when
the user drags a node or asks for a new layout. Nodes and labels are drawn at a constant screen
size (``ItemIgnoresTransformations``); edges are drawn in scene units and clipped to the node
outlines, so zooming keeps the drawing readable.
"""
from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QGraphicsItem, QLabel, QVBoxLayout, QWidget

from nodis.render import STATUS_COLORS, graph_layout, node_labels, object_color, text_color_for

from .image_view import ItemPool, Layer
from .theme import CanvasTheme
from .theme import current as current_theme

SCENE_W, SCENE_H = 1000.0, 750.0
CHANGED = QColor(255, 196, 0)
EDGE_DEFAULT_ALPHA = 230


def qcolor(rgb, alpha: int = 255) -> QColor:
    return QColor(int(rgb[0]), int(rgb[1]), int(rgb[2]), alpha)


def to_scene(x: float, y: float) -> tuple[float, float]:
    """Unit-square layout point (y up) -> scene units (y down)."""
    return float(x) * SCENE_W, (1.0 - float(y)) * SCENE_H


def to_unit(x: float, y: float) -> tuple[float, float]:
    """Scene units -> unit-square layout point (y up), the form :func:`nodis.render.draw_graph` takes."""
    return float(x) / SCENE_W, 1.0 - float(y) / SCENE_H


def compute_layout(graphs, size=(800, 600), seed: int = 0, existing: dict | None = None, gt=None,
                   spacing: tuple[float, float] = (110.0, 45.0)) -> dict:
    """Scene positions for every object of ``graphs`` (union), keeping ``existing`` positions.

    Only nodes not yet placed are laid out: when ``existing`` is empty the whole layout comes from
    :func:`nodis.render.graph_layout`. Otherwise each new node goes next to the nodes it is related
    to (the centre of its placed neighbours), or, with none, where its box is in the image mapped
    onto the extent of the layout; then to the nearest free spot on rings around that point, at
    least ``spacing`` (x, y scene units: a node's size on screen) from every node. So nodes that
    appear while ``t`` moves join their neighbours instead of piling up, and the shape stays."""
    existing = dict(existing or {})
    graphs = [g for g in graphs if g is not None]
    if not graphs:
        return existing
    if not existing:
        lay = graph_layout(graphs, seed=seed, size=size, gt=gt)
        return {n: to_scene(*xy) for n, xy in lay.items()}
    W, H = (max(1, v) for v in graphs[0].image_size)
    placed = np.array(list(existing.values()), dtype=np.float64).reshape(-1, 2)
    lo, hi = placed.min(0), placed.max(0)
    sx, sy = max(float(spacing[0]), 1.0), max(float(spacing[1]), 1.0)
    span = np.maximum(hi - lo, (2 * sx, 2 * sy))  # a layout of one node: room around it
    lo = (lo + hi) / 2 - span / 2

    def free(p) -> bool:
        d = (placed - p) / (sx, sy)
        return len(placed) == 0 or float(np.min(np.hypot(d[:, 0], d[:, 1]))) >= 1.0

    rings = [(r, a) for r in (0.0, 1.0, 1.6, 2.2, 2.9, 3.6, 4.4, 5.3)
             for a in (np.linspace(0, 2 * np.pi, 8 + int(4 * r), endpoint=False) if r else [0.0])]
    for g in graphs:
        nbrs: dict[int, set] = {}
        for r in g.relations:
            nbrs.setdefault(r.subject, set()).add(r.object)
            nbrs.setdefault(r.object, set()).add(r.subject)
        for o in sorted(g.objects, key=lambda o: -o.score):
            if o.index in existing:
                continue
            near = [existing[n] for n in nbrs.get(o.index, ()) if n in existing]
            if near:
                c = np.mean(np.asarray(near, dtype=np.float64), 0)
            else:
                x1, y1, x2, y2 = o.box
                c = lo + span * ((x1 + x2) / 2 / W, (y1 + y2) / 2 / H)
            p = c
            for r, a in rings:
                q = c + (r * sx * np.cos(a), r * sy * 1.6 * np.sin(a))
                if free(q):
                    p = q
                    break
            existing[o.index] = (float(p[0]), float(p[1]))
            placed = np.vstack([placed, np.asarray(p)[None]])
    return existing


class _Signals(QObject):
    nodeClicked = Signal(object, bool)
    nodeMoved = Signal(object, float, float)
    edgeClicked = Signal(int, int, bool)
    nodeContext = Signal(object, object)  # node key, QPoint (screen)
    nodeHovered = Signal(object)  # node key, or None when the pointer leaves it
    edgeContext = Signal(int, int, object)  # subject, object, QPoint (screen)


class NodeItem(QGraphicsItem):
    """A node: a rounded label box of constant screen size, draggable."""

    pixmap_cache = True  # small and text-heavy: painted once into a screen pixmap (see ItemPool)
    halo_color = QColor(255, 255, 255, 230)  # the hover halo (GraphView.apply_theme sets it)

    def __init__(self, key, text: str, fill: QColor, fg: QColor, border: QColor, signals: _Signals, font: QFont,
                 width: float = 1.5, dashed: bool = False, tooltip: str = "") -> None:
        super().__init__()
        self.key = key
        self.text, self.fill, self.fg, self.border, self.font = text, fill, fg, border, font
        self.signals = signals
        self.edges: list["EdgeItem"] = []
        self.pen_width = width
        self.dashed = dashed
        fm = QFontMetricsF(font)
        self.half_w = (fm.horizontalAdvance(text) + 18) / 2
        self.half_h = (fm.height() + 10) / 2
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptHoverEvents(True)
        if tooltip:
            self.setToolTip(tooltip)
        self._drag_offset = QPointF()

    def boundingRect(self) -> QRectF:
        m = self.pen_width + 6  # room for the hover halo
        return QRectF(-self.half_w - m, -self.half_h - m, 2 * (self.half_w + m), 2 * (self.half_h + m))

    hovered = False

    def set_hovered(self, on: bool) -> None:
        if on != self.hovered:
            self.hovered = on
            self.update()

    def hoverEnterEvent(self, ev) -> None:
        self.signals.nodeHovered.emit(self.key)
        super().hoverEnterEvent(ev)

    def hoverLeaveEvent(self, ev) -> None:
        self.signals.nodeHovered.emit(None)
        super().hoverLeaveEvent(ev)

    def shape(self) -> QPainterPath:
        p = QPainterPath()
        p.addRoundedRect(QRectF(-self.half_w, -self.half_h, 2 * self.half_w, 2 * self.half_h), 8, 8)
        return p

    def paint(self, p: QPainter, *args) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(self.border, self.pen_width)
        if self.dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.setBrush(self.fill)
        r = QRectF(-self.half_w, -self.half_h, 2 * self.half_w, 2 * self.half_h)
        if self.hovered:  # a white halo: the counterpart of a hovered box or table row
            p.save()
            p.setPen(QPen(self.halo_color, 3.0))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(r.adjusted(-4, -4, 4, 4), 11, 11)
            p.restore()
        p.drawRoundedRect(r, 8, 8)
        p.setPen(self.fg)
        p.setFont(self.font)
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, self.text)

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            additive = bool(ev.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier))
            self.signals.nodeClicked.emit(self.key, additive)
        elif ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            self.signals.nodeContext.emit(self.key, ev.screenPos().toPoint())
        else:
            ev.ignore()

    def mouseDragEvent(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        parent = self.parentItem()
        p = parent.mapFromScene(ev.scenePos())
        if ev.isStart():
            self._drag_offset = self.pos() - parent.mapFromScene(ev.buttonDownScenePos())
        self.setPos(p + self._drag_offset)
        for e in self.edges:
            e.update_geometry()
        if ev.isFinish():
            self.signals.nodeMoved.emit(self.key, float(self.pos().x()), float(self.pos().y()))


class EdgeLabel(QGraphicsItem):
    """The predicate label of an edge: a pill of constant screen size, clickable when it has a ``key``
    (subject, object). Its tooltip is built when the pointer first rests on it (``tip``: a callable)."""

    pixmap_cache = True

    def __init__(self, text: str, fg: QColor, bg: QColor, border: QColor | None, font: QFont,
                 signals: _Signals | None = None, key=None, tip=None) -> None:
        super().__init__()
        self.text, self.fg, self.bg, self.border, self.font = text, fg, bg, border, font
        self.signals, self.key = signals, key
        self.tip = tip
        fm = QFontMetricsF(font)
        self.w = fm.horizontalAdvance(text) + 10
        self.h = fm.height() + 2
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptHoverEvents(True)

    def tooltip_text(self) -> str:
        return (self.tip() if callable(self.tip) else self.tip) or ""

    def hoverEnterEvent(self, ev) -> None:
        self.setToolTip(self.tooltip_text())
        super().hoverEnterEvent(ev)

    def boundingRect(self) -> QRectF:
        return QRectF(-self.w / 2 - 2, -self.h / 2 - 2, self.w + 4, self.h + 4)

    def paint(self, p: QPainter, *args) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(-self.w / 2, -self.h / 2, self.w, self.h)
        p.setPen(QPen(self.border, 1.5) if self.border is not None else Qt.PenStyle.NoPen)
        p.setBrush(self.bg)
        p.drawRoundedRect(r, self.h / 2, self.h / 2)
        p.setPen(self.fg)
        p.setFont(self.font)
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, self.text)

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton and self.key is not None and self.signals is not None:
            ev.accept()
            additive = bool(ev.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier))
            self.signals.edgeClicked.emit(int(self.key[0]), int(self.key[1]), additive)
        elif ev.button() == Qt.MouseButton.RightButton and self.key is not None and self.signals is not None:
            ev.accept()
            self.signals.edgeContext.emit(int(self.key[0]), int(self.key[1]), ev.screenPos().toPoint())
        else:
            ev.ignore()


class EdgeItem(QGraphicsItem):
    """A directed edge ``src -> dst`` in scene units, bent when the reverse edge exists."""

    pixmap_cache = True  # an antialiased curve: drawn once per geometry, blitted while t moves

    def __init__(self, src: NodeItem, dst: NodeItem, color: QColor, width: float, bend: float, label: EdgeLabel | None,
                 dashed: bool = False, key=None, signals: _Signals | None = None) -> None:
        super().__init__()
        self.src, self.dst, self.color, self.width, self.bend, self.label = src, dst, color, width, bend, label
        self.dashed = dashed
        self.key = key
        self.signals = signals
        self.vb = None  # set by GraphView: the ViewBox whose pixel size scales arrowheads and clipping
        self._path = QPainterPath()
        self._head = QPolygonF()
        self._rect = QRectF()
        self._geom_key = None
        self.setAcceptHoverEvents(True)

    def hoverEnterEvent(self, ev) -> None:
        lab = self.label
        if lab is not None:
            self.setToolTip(lab.tooltip_text() or lab.text)
            if not lab.isVisible():  # a label that did not fit: shown while the edge is hovered
                lab.setPos(self._path.pointAtPercent(0.5))
                lab.setZValue(200)
                lab.setVisible(True)
                self._showing_hidden = True
        super().hoverEnterEvent(ev)

    def hoverLeaveEvent(self, ev) -> None:
        if getattr(self, "_showing_hidden", False) and self.label is not None:
            self._showing_hidden = False
            self.label.setVisible(False)
        super().hoverLeaveEvent(ev)

    def path_point(self, f: float) -> QPointF:
        return self._path.pointAtPercent(f)

    def _px(self) -> float:
        vb = self.vb
        if vb is None:
            return 1.0
        try:
            px = vb.viewPixelSize()
            return float(max(px[0], px[1])) or 1.0
        except Exception:
            return 1.0

    @staticmethod
    def _clip(center: QPointF, toward: QPointF, hw: float, hh: float) -> QPointF:
        """Where the ray center->toward leaves the axis-aligned box of half sizes (hw, hh)."""
        dx, dy = toward.x() - center.x(), toward.y() - center.y()
        if abs(dx) < 1e-9 and abs(dy) < 1e-9:
            return center
        s = min(hw / abs(dx) if abs(dx) > 1e-9 else math.inf, hh / abs(dy) if abs(dy) > 1e-9 else math.inf)
        s = min(s, 1.0)
        return QPointF(center.x() + dx * s, center.y() + dy * s)

    def update_geometry(self, px: float | None = None) -> None:
        """Recompute the curve for the current node positions and view scale (``px``: scene units per
        screen pixel; looked up when not given). Nothing is done when neither changed."""
        px = self._px() if px is None else px
        a, b = self.src.pos(), self.dst.pos()
        key = (a.x(), a.y(), b.x(), b.y(), px, self.src.half_w, self.src.half_h, self.dst.half_w, self.dst.half_h)
        if key == self._geom_key:
            return
        self._geom_key = key
        mid = (a + b) / 2
        dx, dy = b.x() - a.x(), b.y() - a.y()
        dist = math.hypot(dx, dy) or 1.0
        nx, ny = -dy / dist, dx / dist
        ctrl = QPointF(mid.x() + nx * self.bend * px, mid.y() + ny * self.bend * px)
        start = self._clip(a, ctrl, (self.src.half_w + 2) * px, (self.src.half_h + 2) * px)
        end = self._clip(b, ctrl, (self.dst.half_w + 3) * px, (self.dst.half_h + 3) * px)
        path = QPainterPath(start)
        path.quadTo(ctrl, end)
        # arrowhead at end, along the tangent of the curve
        tx, ty = end.x() - ctrl.x(), end.y() - ctrl.y()
        tl = math.hypot(tx, ty) or 1.0
        tx, ty = tx / tl, ty / tl
        L, Wd = 11 * px, 5 * px
        base = QPointF(end.x() - tx * L, end.y() - ty * L)
        head = QPolygonF([end, QPointF(base.x() - ty * Wd, base.y() + tx * Wd),
                          QPointF(base.x() + ty * Wd, base.y() - tx * Wd)])
        self.prepareGeometryChange()
        self._path, self._head = path, head
        self._rect = path.boundingRect().united(head.boundingRect()).adjusted(-4 * px, -4 * px, 4 * px, 4 * px)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def shape(self) -> QPainterPath:
        st = QPainterPathStroker()
        st.setWidth(8 * self._px())
        return st.createStroke(self._path)

    def paint(self, p: QPainter, *args) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(self.color, self.width)
        pen.setCosmetic(True)
        if self.dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(self._path)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self.color)
        p.drawPolygon(self._head)

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton and self.key is not None and self.signals is not None:
            ev.accept()
            additive = bool(ev.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier))
            self.signals.edgeClicked.emit(int(self.key[0]), int(self.key[1]), additive)
        elif ev.button() == Qt.MouseButton.RightButton and self.key is not None and self.signals is not None:
            ev.accept()
            self.signals.edgeContext.emit(int(self.key[0]), int(self.key[1]), ev.screenPos().toPoint())
        else:
            ev.ignore()


class _ClickViewBox(pg.ViewBox):
    backgroundClicked = Signal()
    backgroundContext = Signal(object)  # QPoint (screen)

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.06)

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.backgroundClicked.emit()
        elif ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            self.backgroundContext.emit(ev.screenPos().toPoint())
        else:
            super().mouseClickEvent(ev)


def predicate_tooltip(rel, predicate_names, names: dict[int, str], k: int = 5) -> str:
    s, o = names.get(rel.subject, rel.subject), names.get(rel.object, rel.object)
    lines = [f"<b>{html.escape(str(s))} — {html.escape(rel.name)} → {html.escape(str(o))}</b>",
             f"triplet score {rel.score:.4f} &nbsp; predicate {rel.predicate_score:.3f}"]
    if rel.predicate_scores and predicate_names:
        ps = np.asarray(rel.predicate_scores, dtype=np.float64)
        order = np.argsort(-ps[1:])[:k] + 1
        rows = "".join(f"<tr><td>{html.escape(predicate_names[i])}</td><td align=right>{ps[i]:.3f}</td></tr>"
                       for i in order)
        rows += f"<tr><td><i>no relation</i></td><td align=right>{ps[0]:.3f}</td></tr>"
        lines.append(f"<table cellspacing=0 cellpadding=1>{rows}</table>")
    return "<br>".join(lines)


class _RelationTip:
    """Builds a relation's tooltip when it is first shown (callable)."""

    __slots__ = ("rel", "names", "labels", "changed", "was")

    def __init__(self, rel, predicate_names, labels, changed: bool, was) -> None:
        self.rel, self.names, self.labels, self.changed, self.was = rel, predicate_names, labels, changed, was

    def __call__(self) -> str:
        tip = predicate_tooltip(self.rel, self.names, self.labels)
        if self.changed:
            tip += "<br><i>new since t_end</i>" if self.was is None else f"<br><i>t_end: {html.escape(self.was.name)}</i>"
        return tip


class GraphView(QWidget):
    """Draws one scene graph with fixed node positions; reports clicks and node drags."""

    nodeClicked = Signal(int, bool)  # object id (-1: background), additive
    edgeClicked = Signal(int, int, bool)  # subject id, object id, additive
    nodeMoved = Signal(object, float, float)  # node key, scene x, y
    nodeHovered = Signal(int)  # object id under the pointer, -1 when it leaves
    contextRequested = Signal(object, object)  # object id, ("edge", subject, object) or None (background); QPoint

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gv = pg.GraphicsView()
        # one rectangle around what changed is repainted (pyqtgraph's default, the minimal region, adds up many
        # small rects when a slider jump changes most items): 4001.jpg random jumps, same process under the training
        # load, p50 14.9 -> 9.7 ms, p90 43.5 -> 21.0 ms
        self.gv.setViewportUpdateMode(self.gv.ViewportUpdateMode.BoundingRectViewportUpdate)
        self.theme = current_theme()
        self.gv.setBackground(QColor(*self.theme.background))
        self.vb = _ClickViewBox()
        self.gv.setCentralItem(self.vb)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.gv)
        self.signals = _Signals()
        self.signals.nodeClicked.connect(lambda k, a: self.nodeClicked.emit(int(k) if isinstance(k, int) else -1, a))
        self.signals.nodeMoved.connect(self.nodeMoved)
        self.signals.nodeHovered.connect(lambda k: self.nodeHovered.emit(k if isinstance(k, int) else -1))
        self.signals.edgeClicked.connect(self.edgeClicked)
        self.signals.nodeContext.connect(lambda k, p: self.contextRequested.emit(k if isinstance(k, int) else None, p))
        self.signals.edgeContext.connect(lambda s, o, p: self.contextRequested.emit(("edge", s, o), p))
        self.vb.backgroundContext.connect(lambda p: self.contextRequested.emit(None, p))
        self.vb.backgroundClicked.connect(lambda: self.nodeClicked.emit(-1, False))
        self.vb.sigTransformChanged.connect(self._relayout_edges)
        self.nodes: dict = {}
        self.edges: list[EdgeItem] = []
        self._items: list = []
        self._layer = Layer()
        self.vb.addItem(self._layer)
        self._pool = ItemPool(self._layer)
        self.node_font = QFont()
        self.node_font.setPointSizeF(10.0)
        self.node_font.setBold(True)
        self.edge_font = QFont()
        self.edge_font.setPointSizeF(8.5)
        self._fitted_for = None
        self._layout: dict = {}
        self.note = QLabel("", self)  # e.g. "decoding t = 0.35… (showing t = 0.40)"
        self.note.setStyleSheet(self.theme.note_css)
        self.note.move(6, 6)
        self.note.hide()
        self.empty_text = pg.TextItem("", color=self.theme.message, anchor=(0.5, 0.5))
        self.vb.addItem(self.empty_text, ignoreBounds=True)
        self.empty_text.setPos(SCENE_W / 2, SCENE_H / 2)
        NodeItem.halo_color = QColor(*self.theme.halo, 230)

    def apply_theme(self, theme: CanvasTheme) -> None:
        """Canvas colours of ``theme`` (background, labels, halos); the next ``set_graph`` draws with them."""
        self.theme = theme
        self.gv.setBackground(QColor(*theme.background))
        self.note.setStyleSheet(theme.note_css)
        self.empty_text.setColor(QColor(*theme.message))
        NodeItem.halo_color = QColor(*theme.halo, 230)
        self.clear()  # every item is drawn again in the new colours

    # ------------------------------------------------------------------ drawing
    def clear(self) -> None:
        self._pool.clear()
        self._items, self.nodes, self.edges = [], {}, []

    def set_note(self, text: str) -> None:
        """A small line over the top-left corner of the graph (empty: hidden)."""
        if text != self.note.text():
            self.note.setText(text)
            self.note.adjustSize()
        self.note.setVisible(bool(text))
        if text:
            self.note.raise_()

    def show_message(self, text: str) -> None:
        self.empty_text.setText(text)
        self.empty_text.setVisible(bool(text))

    def set_graph(self, graph, layout: dict, *, hide_unrelated: bool = True, reference=None,
                  highlight_objects: set | None = None, selected_relations: set | None = None,
                  match=None, gt=None, fit_key=None, labels: dict | None = None) -> None:
        """Draw ``graph`` (already filtered) with node positions from ``layout`` (scene units).

        ``reference``: the graph at t_end; relations that are new or whose predicate changed get an
        amber label outline, relations shown at t_end but gone now are drawn as dashed ghosts.
        ``match``/``gt``: ground-truth colouring (tp green, fp red, missed orange dashed).
        ``fit_key``: the view is fitted when this changes (a new image).

        Nodes, edges and labels whose look is unchanged since the last call are kept as they are
        (:class:`ItemPool`), so scrubbing ``t`` redraws only what changed."""
        if graph is None:
            self.clear()
            return
        pool = self._pool
        pool.begin()
        self._items, self.nodes, self.edges = [], {}, []
        self.show_message("" if graph.objects else "no objects above the threshold")
        hl = highlight_objects or set()
        sel_rel = selected_relations or set()
        labels = labels or node_labels(graph)
        related = {r.subject for r in graph.relations} | {r.object for r in graph.relations}
        objs = [o for o in graph.objects if (not hide_unrelated or o.index in related or o.index in hl)]
        if hide_unrelated and not graph.relations:
            objs = sorted(graph.objects, key=lambda o: -o.score)[:10]
        any_sel = bool(hl) or bool(sel_rel)
        ref_obj = {r.index: r for r in reference.objects} if reference is not None else None
        font, efont, sig = self.node_font, self.edge_font, self.signals
        th = self.theme
        halo = QColor(*th.halo)
        light = th.name == "light"
        for o in objs:
            pos = layout.get(o.index)
            if pos is None:
                continue
            rgb = object_color(o.index)
            faded = any_sel and o.index not in hl
            border = halo if o.index in hl else qcolor(rgb).darker(160)
            width = 3.0 if o.index in hl else 1.5
            if match is not None:
                border = qcolor(STATUS_COLORS[match.object_status.get(o.index, "fp")])
                width = 3.5 if o.index in hl else 3.0
            fill = qcolor(rgb, 90 if faded else 255)
            fg = qcolor(text_color_for(rgb), 110 if faded else 255)
            tip = f"<b>#{o.index} {html.escape(o.name)}</b> score {o.score:.3f}"
            if ref_obj is not None and (o.index not in ref_obj or ref_obj[o.index].label != o.label):
                border, width = CHANGED, 3.0
                tip += ("<br>new since t_end" if o.index not in ref_obj else f"<br>t_end: {html.escape(ref_obj[o.index].name)}")
            text = labels[o.index]
            node, _ = pool.get(("node", o.index), (text, fill, fg, border, width), NodeItem, o.index, text, fill, fg,
                               border, sig, font, width)
            self._place_node(node, o.index, pos, 40, tip)
        # missed ground-truth objects
        if match is not None and gt is not None:
            names = getattr(gt, "class_names", None) or graph.class_names or []
            gl = np.asarray(gt.labels)
            gb = np.asarray(gt.boxes)
            W, H = (max(1, v) for v in graph.image_size)
            orange = qcolor(STATUS_COLORS["missed"])
            for j in match.missed_objects:
                key = ("gt", j)
                pos = layout.get(key)
                if pos is None:
                    x1, y1, x2, y2 = gb[j]
                    pos = ((x1 + x2) / 2 / W * SCENE_W, (y1 + y2) / 2 / H * SCENE_H)
                lab = int(gl[j])
                name = (names[lab] if 0 <= lab < len(names) else str(lab)) + "-GT"
                fill = QColor(*th.missed_fill)
                node, _ = pool.get(("node", key), (name, fill), NodeItem, key, name, fill, orange.darker(130 if light else 100),
                                   orange, sig, font, 2.0, dashed=True)
                self._place_node(node, key, pos, 39, "missed ground-truth object")
        pairs = {(r.subject, r.object) for r in graph.relations}
        ref_rel = {}
        if reference is not None:
            ref_rel = {(r.subject, r.object): r for r in reference.relations}
        pnames = graph.predicate_names
        for k, r in enumerate(graph.relations):
            src, dst = self.nodes.get(r.subject), self.nodes.get(r.object)
            if src is None or dst is None:
                continue
            bend = 28.0 if (r.object, r.subject) in pairs else 0.0
            selected = (r.subject, r.object) in sel_rel or (not sel_rel and (r.subject in hl or r.object in hl))
            faded = any_sel and not selected
            rgb = object_color(r.subject)
            if match is not None:
                rgb = STATUS_COLORS[match.relation_status[k]] if k < len(match.relation_status) else rgb
            color = qcolor(rgb, 60 if faded else EDGE_DEFAULT_ALPHA)
            if light:  # the object colours are bright: a little darker to read on a light canvas
                color = color.darker(125)
            was = ref_rel.get((r.subject, r.object))
            changed = reference is not None and (was is None or was.predicate != r.predicate)
            border = (CHANGED.darker(125) if light else CHANGED) if changed else (halo if selected and any_sel else None)
            lfg = QColor(*th.label_fg, 110 if faded else 255)
            lbg = QColor(*th.label_bg, 120 if faded else 225)
            tip = _RelationTip(r, pnames, labels, changed, was)
            key = (r.subject, r.object)
            label, _ = pool.get(("label", key), (r.name, lfg, lbg, border), EdgeLabel, r.name, lfg, lbg, border, efont,
                                sig, key)
            label.tip = tip
            self._place_edge(("edge", key), label, 30, src, dst, color, 3.0 if selected and any_sel else 1.8, bend,
                             10, key=key)
        if reference is not None:  # relations at t_end that are not shown now
            grey, ghost_bg = QColor(*th.ghost), QColor(*th.ghost_bg, 160)
            for (s, o), r in ref_rel.items():
                if (s, o) in pairs:
                    continue
                src, dst = self.nodes.get(s), self.nodes.get(o)
                if src is None or dst is None:
                    continue
                text = f"({r.name})"
                label, _ = pool.get(("ghost-label", s, o), (text,), EdgeLabel, text, grey, ghost_bg, None, efont,
                                    tip=f"shown at t_end: {html.escape(r.name)}")
                self._place_edge(("ghost-edge", s, o), label, 25, src, dst, QColor(*th.ghost, 120), 1.2,
                                 -28.0 if (o, s) in pairs else 0.0, 5, dashed=True)
        if match is not None and gt is not None:  # missed ground-truth relations
            gr = np.asarray(gt.relations).reshape(-1, 3)
            gpn = getattr(gt, "predicate_names", None) or graph.predicate_names or []
            obj_of_gt = match.object_of_gt
            orange = qcolor(STATUS_COLORS["missed"])
            for j in match.missed_relations:
                s, o, p = (int(v) for v in gr[j])
                ks = obj_of_gt.get(s, ("gt", s))
                ko = obj_of_gt.get(o, ("gt", o))
                src, dst = self.nodes.get(ks), self.nodes.get(ko)
                if src is None or dst is None:
                    continue
                name = (gpn[p] if 0 <= p < len(gpn) else str(p)) + "-GT"
                label, _ = pool.get(("gt-label", j), (name, th.name), EdgeLabel, name, orange.darker(130 if light else 100),
                                    QColor(*th.label_bg, 200), orange,
                                    efont, tip="missed ground-truth relation")
                self._place_edge(("gt-edge", j), label, 26, src, dst, orange, 1.5, -20.0, 6, dashed=True)
        pool.end()
        self._layout = layout
        if fit_key is not None and fit_key != self._fitted_for:
            self._fitted_for = fit_key
            self.fit()
        elif not self.nodes_in_view():  # a node outside the view: widen the view to it (never shrink:
            self.grow_to_nodes()       # the graph keeps its place while t moves)
        self._relayout_edges()

    def _place_node(self, node: NodeItem, key, pos, z: float, tip: str) -> None:
        node.edges = []
        node.set_hovered(key == getattr(self, "_hover_key", None))
        node.setPos(*pos)
        node.setZValue(z)
        if node.toolTip() != tip:
            node.setToolTip(tip)
        self.nodes[key] = node
        self._items.append(node)

    def _place_edge(self, pool_key, label: EdgeLabel, label_z: float, src: NodeItem, dst: NodeItem, color: QColor,
                    width: float, bend: float, z: float, dashed: bool = False, key=None) -> None:
        spec = (id(src), id(dst), id(label), color, width, bend, dashed)
        edge, _ = self._pool.get(pool_key, spec, EdgeItem, src, dst, color, width, bend, label, dashed=dashed, key=key,
                                 signals=self.signals if key is not None else None)
        edge.vb = self.vb
        src.edges.append(edge)
        dst.edges.append(edge)
        label.setZValue(label_z)
        edge.setZValue(z)
        self.edges.append(edge)
        self._items += [edge, label]

    def _relayout_edges(self, *_):
        if not self.edges:
            return
        try:
            px = self.vb.viewPixelSize()
            px = float(max(px[0], px[1])) or 1.0
        except Exception:
            px = 1.0
        for e in self.edges:
            e.update_geometry(px)
        self.place_labels()

    #: where along its edge a predicate label may go (fraction of the curve), best first
    LABEL_SPOTS = (0.5, 0.38, 0.62, 0.28, 0.72, 0.2, 0.8)

    show_edge_labels = True  # View ▸ Show ▸ Predicate labels

    def set_edge_labels_shown(self, on: bool) -> None:
        self.show_edge_labels = bool(on)
        self.place_labels()

    def place_labels(self) -> None:
        """Put each predicate label on its edge where it covers no node and no other label (screen
        space, in rank order: selected relations, then by score); a label that fits nowhere is
        hidden and shown while its edge is hovered (its tooltip has the predicate too)."""
        from .image_view import _Grid

        if not self.show_edge_labels:
            for e in self.edges:
                if e.label is not None:
                    e.label.placed = False
                    e.label.setVisible(False)
            return

        vb = self.vb
        grid = _Grid()
        for n in self.nodes.values():
            c = vb.mapViewToScene(n.pos())
            grid.add(QRectF(c.x() - n.half_w, c.y() - n.half_h, 2 * n.half_w, 2 * n.half_h))
        order = sorted(range(len(self.edges)), key=lambda k: (0 if self.edges[k].width >= 3.0 else 1, k))
        for k in order:
            e = self.edges[k]
            lab = e.label
            if lab is None:
                continue
            spot = None
            for f in self.LABEL_SPOTS:
                p = e.path_point(f)
                c = vb.mapViewToScene(p)
                r = QRectF(c.x() - lab.w / 2, c.y() - lab.h / 2, lab.w, lab.h)
                if not grid.hits(r.adjusted(1, 1, -1, -1)):
                    grid.add(r)
                    spot = p
                    break
            lab.placed = spot is not None
            if spot is not None:
                lab.setPos(spot)
            lab.setVisible(spot is not None)

    def hidden_labels(self) -> list:
        """Keys of the edges whose predicate label did not fit (tests)."""
        return [e.key for e in self.edges if e.label is not None and not getattr(e.label, "placed", True)]

    def label_rects(self) -> list[QRectF]:
        """Screen rectangles of the visible predicate labels (tests)."""
        out = []
        for e in self.edges:
            lab = e.label
            if lab is not None and lab.isVisible():
                c = self.vb.mapViewToScene(lab.pos())
                out.append(QRectF(c.x() - lab.w / 2 + 1, c.y() - lab.h / 2 + 1, lab.w - 2, lab.h - 2))
        return out

    def node_rects(self) -> dict:
        out = {}
        for k, n in self.nodes.items():
            c = self.vb.mapViewToScene(n.pos())
            out[k] = QRectF(c.x() - n.half_w, c.y() - n.half_h, 2 * n.half_w, 2 * n.half_h)
        return out

    def set_hover(self, key) -> None:
        """Highlight node ``key`` (None or -1: none) as the counterpart of something hovered elsewhere."""
        self._hover_key = key if key not in (None, -1) else None
        for k, n in self.nodes.items():
            n.set_hovered(k == self._hover_key)

    def fit(self, layout: dict | None = None) -> None:
        """Fit the view to the shown nodes (and the positions in ``layout``, when given)."""
        pts = [(n.pos().x(), n.pos().y()) for n in self.nodes.values()]
        if layout:
            pts += [tuple(v) for v in layout.values()]
        if not pts:
            self.vb.setRange(QRectF(0, 0, SCENE_W, SCENE_H), padding=0.05)
            return
        pts = np.array(pts, dtype=np.float64)
        lo, hi = pts.min(0), pts.max(0)
        r = QRectF(lo[0] - 60, lo[1] - 30, max(120.0, hi[0] - lo[0] + 120), max(60.0, hi[1] - lo[1] + 60))
        self.vb.setRange(r, padding=0.05)
        self._relayout_edges()

    def grow_to_nodes(self) -> None:
        """Widen the view (keeping what it shows) until every shown node is inside it."""
        rect = self.vb.viewRect()
        px = self.vb.viewPixelSize()
        for n in self.nodes.values():
            p = n.pos()
            w, h = (n.half_w + 12) * px[0], (n.half_h + 12) * px[1]
            rect = rect.united(QRectF(p.x() - w, p.y() - h, 2 * w, 2 * h))
        self.vb.setRange(rect, padding=0.0)

    def nodes_in_view(self) -> bool:
        """True when every shown node lies wholly inside the view."""
        view = self.vb.sceneBoundingRect()
        return all(view.contains(r) for r in self.node_rects().values())

    def center_on(self, key) -> bool:
        """Pan (keeping the zoom) so that node ``key`` is in the middle of the view."""
        node = self.nodes.get(key)
        if node is None:
            return False
        c = self.vb.viewRect().center()
        p = node.pos()
        self.vb.translateBy(x=p.x() - c.x(), y=p.y() - c.y())
        return True

    # ------------------------------------------------------------------ introspection (tests, exports)
    def node_positions(self) -> dict:
        return {k: (n.pos().x(), n.pos().y()) for k, n in self.nodes.items()}

    def edge_labels(self) -> list[tuple[int, int, str]]:
        return [(e.key[0], e.key[1], e.label.text) for e in self.edges if e.key is not None and e.label is not None]
