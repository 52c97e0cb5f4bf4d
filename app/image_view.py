"""The image with its boxes: zoom, pan, fit; hover tooltips; click to select; box editing.

Rendering is pyqtgraph: an :class:`pyqtgraph.ImageItem` in a :class:`ImageViewBox` (aspect locked,
y down, so view coordinates are image pixels). Each object of the displayed graph is a
:class:`BoxItem` outlined in its :func:`nodis.render.object_color` (or its ground-truth status
colour), with a label tag that keeps its screen size while zooming.

In SGCls and PredCls the given boxes are editable :class:`EditableBox` handles: drag to move,
drag a corner to resize, click to select; with the draw tool on, drag on the image to add a box.
Edits are reported through :attr:`ImageView.boxDrawn` / :attr:`ImageView.boxChanged`; right-clicks
through :attr:`ImageView.contextRequested` (the window shows its own context menu).
"""
from __future__ import annotations

import html
import logging

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QLabel, QToolTip, QVBoxLayout, QWidget

from nodis.render import STATUS_COLORS, node_labels, object_color, text_color_for

from .theme import current as current_theme

log = logging.getLogger(__name__)

FADED_ALPHA = 70


def qcolor(rgb, alpha: int = 255) -> QColor:
    return QColor(int(rgb[0]), int(rgb[1]), int(rgb[2]), alpha)


class ImageViewBox(pg.ViewBox):
    """A ViewBox that reports clicks and, with ``draw_enabled``, turns left-drags into new boxes."""

    clicked = Signal(object, object)  # QPointF (view coords), Qt.KeyboardModifiers
    contextClicked = Signal(object, object)  # QPointF (view coords), QPoint (screen)
    boxDrawn = Signal(object)  # QRectF (view coords)

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.01)
        self.draw_enabled = False
        self._rubber: pg.QtWidgets.QGraphicsRectItem | None = None
        self._start: QPointF | None = None

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.clicked.emit(self.mapToView(ev.pos()), ev.modifiers())
        elif ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            self.contextClicked.emit(self.mapToView(ev.pos()), ev.screenPos().toPoint())
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None) -> None:
        if not (self.draw_enabled and ev.button() == Qt.MouseButton.LeftButton):
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        p = self.mapToView(ev.pos())
        if ev.isStart():
            self._start = self.mapToView(ev.buttonDownPos())
            self._rubber = pg.QtWidgets.QGraphicsRectItem()
            pen = QPen(QColor(255, 255, 255), 0)
            pen.setStyle(Qt.PenStyle.DashLine)
            self._rubber.setPen(pen)
            self._rubber.setBrush(QBrush(QColor(255, 255, 255, 40)))
            self.addItem(self._rubber, ignoreBounds=True)
        if self._start is None or self._rubber is None:
            return
        rect = QRectF(self._start, p).normalized()
        self._rubber.setRect(rect)
        if ev.isFinish():
            self.removeItem(self._rubber)
            self._rubber, self._start = None, None
            if rect.width() >= 2 and rect.height() >= 2:
                self.boxDrawn.emit(rect)


class Layer(QGraphicsItem):
    """An invisible parent for many light items: adding or removing it is one scene operation
    (adding each item to a pyqtgraph ViewBox separately costs far more)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents)

    def boundingRect(self) -> QRectF:
        return QRectF()

    def paint(self, *args) -> None:  # pragma: no cover - no contents
        pass


class ItemPool:
    """The items of one view, kept between redraws under a key.

    :meth:`get` returns the item drawn last time under ``key`` when its ``spec`` (everything that
    decides how it looks) is unchanged, so moving ``t`` touches only what really changed: unchanged
    items cause no scene operation and no repaint. Changed or unused items are removed; removed ones
    stay referenced until the next redraw (a mouse event being delivered may still point at one).

    Removed items are first kept hidden as spares (the ``SPARE`` most recent), each under its key and
    spec: a slider jump back to a time shown before gets its boxes, tags, nodes and labels back with
    their painted pixmaps instead of building and painting them again. :meth:`clear` drops the spares."""

    SPARE = 1500  # hidden items kept for reuse per view

    def __init__(self, layer: QGraphicsItem) -> None:
        self.layer = layer
        self.items: dict = {}
        self.retired: list = []
        self._used: set = set()
        self._spare: dict = {}  # key -> [item, ...] (hidden; newest last)
        self._spare_n = 0

    def begin(self) -> None:
        self.retired = []
        self._used = set()

    def get(self, key, spec: tuple, cls, /, *args, **kwargs):
        """``(item, created)``: the kept item for ``key`` when its spec is ``spec``, else a new
        ``cls(*args, **kwargs)``."""
        it = self.items.get(key)
        self._used.add(key)
        if it is not None and it._pool_spec == spec:
            return it, False
        if it is not None:
            self._keep(key, it)
        spares = self._spare.get(key)
        if spares:
            for k, sp in enumerate(spares):
                if sp._pool_spec == spec:  # drawn like this before: shown again as it was
                    del spares[k]
                    if not spares:
                        del self._spare[key]
                    self._spare_n -= 1
                    sp.setVisible(True)
                    self.items[key] = sp
                    return sp, False
        it = cls(*args, **kwargs)
        it._pool_spec = spec
        if getattr(cls, "pixmap_cache", False):  # painted once into a screen pixmap, blitted after
            it.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        it.setParentItem(self.layer)
        self.items[key] = it
        return it, True

    def end(self) -> None:
        """Remove the items not asked for since :meth:`begin` (kept hidden as spares)."""
        for k in [k for k in self.items if k not in self._used]:
            self._keep(k, self.items.pop(k))

    def clear(self) -> None:
        self.begin()
        for k in list(self.items):
            self._drop(self.items.pop(k))
        for spares in self._spare.values():
            for it in spares:
                self._drop(it)
        self._spare, self._spare_n = {}, 0

    def spares(self) -> list:
        """The hidden items kept for reuse (tests)."""
        return [it for spares in self._spare.values() for it in spares]

    def _keep(self, key, it) -> None:
        """Hide ``it`` as a spare of ``key``; beyond ``SPARE`` spares the oldest are removed."""
        it.setVisible(False)
        self._spare.setdefault(key, []).append(it)
        self._spare_n += 1
        while self._spare_n > self.SPARE:
            old_key = next(iter(self._spare))
            spares = self._spare[old_key]
            self._drop(spares.pop(0))
            self._spare_n -= 1
            if not spares:
                del self._spare[old_key]

    def _drop(self, it) -> None:
        sc = it.scene()
        if sc is not None:
            sc.removeItem(it)
        else:
            it.setParentItem(None)
        self.retired.append(it)


class BoxItem(QGraphicsItem):
    """One object's box in image coordinates (cosmetic pens: constant screen width). ``ring``: a
    second colour drawn around the box line (the ground-truth verdict), so the box keeps its object
    colour, the colour of its graph node."""

    def __init__(self, oid: int, box, color: QColor, width: float = 2.0, dashed: bool = False,
                 ring: QColor | None = None) -> None:
        super().__init__()
        self.oid = oid
        x1, y1, x2, y2 = box
        self.rect = QRectF(x1, y1, max(0.5, x2 - x1), max(0.5, y2 - y1))
        self.pen = QPen(color, width)
        self.pen.setCosmetic(True)
        if dashed:
            self.pen.setStyle(Qt.PenStyle.DashLine)
        self.ring = None
        if ring is not None:
            self.ring = QPen(ring, width + 3)
            self.ring.setCosmetic(True)
        self.hovered = False

    def boundingRect(self) -> QRectF:
        return self.rect.adjusted(-1, -1, 1, 1)

    def set_hovered(self, on: bool) -> None:
        if on != self.hovered:
            self.hovered = on
            self.pen.setWidthF(self.pen.widthF() + (1.5 if on else -1.5))
            self.update()

    def paint(self, p: QPainter, *args) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.setBrush(Qt.BrushStyle.NoBrush)
        if self.hovered:  # a white halo, a thicker line: the counterpart of a hovered node or table row
            halo = QPen(QColor(255, 255, 255, 230), self.pen.widthF() + (8 if self.ring is not None else 5))
            halo.setCosmetic(True)
            p.setPen(halo)
            p.drawRect(self.rect)
        if self.ring is not None:
            p.setPen(self.ring)
            p.drawRect(self.rect)
        p.setPen(self.pen)
        p.drawRect(self.rect)


class TagItem(QGraphicsItem):
    """A label tag ("dog 0.93") at an image point (its top-left corner), drawn at constant screen size;
    where it goes is decided by :func:`place_tags`."""

    pixmap_cache = True  # small and text-heavy: blitting a cached pixmap is cheaper than drawing text

    def __init__(self, text: str, bg: QColor, fg: QColor, font: QFont, border: QColor | None = None,
                 below: bool = False) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.text, self.bg, self.fg, self.font, self.border = text, bg, fg, font, border
        fm = QFontMetricsF(font)
        self.w = fm.horizontalAdvance(text) + 8
        self.h = fm.height() + 2
        self.below = below  # kept for callers; the origin is always the top-left corner
        self.oid = None
        self.placed = True

    def boundingRect(self) -> QRectF:
        return QRectF(-1, -1, self.w + 2, self.h + 2)

    def paint(self, p: QPainter, *args) -> None:
        r = QRectF(0, 0, self.w, self.h)
        p.setPen(QPen(self.border, 2.0) if self.border is not None else Qt.PenStyle.NoPen)
        p.setBrush(self.bg)
        p.drawRect(r)
        p.setPen(self.fg)
        p.setFont(self.font)
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, self.text)


class _Grid:
    """Rectangles in a uniform grid of cells, for fast "does this overlap anything placed?" tests."""

    def __init__(self, cell: float = 64.0) -> None:
        self.cell, self.cells = cell, {}

    def _keys(self, r: QRectF):
        c = self.cell
        for gx in range(int(r.left() // c), int(r.right() // c) + 1):
            for gy in range(int(r.top() // c), int(r.bottom() // c) + 1):
                yield gx, gy

    def hits(self, r: QRectF) -> bool:
        return any(q.intersects(r) for k in self._keys(r) for q in self.cells.get(k, ()))

    def add(self, r: QRectF) -> None:
        for k in self._keys(r):
            self.cells.setdefault(k, []).append(r)


def place_tags(tags, bounds: QRectF) -> list[tuple[QPointF | None, int]]:
    """Where each tag goes, in screen (scene) coordinates, so that no two tags overlap.

    ``tags``: ``(box QRectF in screen coordinates, tag width, tag height)`` in priority order (the
    first is placed first: the best detection is never hidden by another's tag). Each tag tries, in
    order: above the box's top-left corner, inside it at the top-left, below its bottom-left corner,
    inside it at the bottom-left, then the same on the right side; it must stay inside ``bounds``.
    Returns ``(top-left point, candidate index)`` per tag, ``(None, -1)`` for a tag that fits nowhere
    (it is hidden and shown when its box is hovered or selected)."""
    grid = _Grid()
    out = []
    for box, w, h in tags:
        x1, y1, x2, y2 = box.left(), box.top(), box.right(), box.bottom()
        cands = ((x1, y1 - h), (x1, y1), (x1, y2), (x1, y2 - h), (x2 - w, y1 - h), (x2 - w, y1),
                 (x2 - w, y2), (x2 - w, y2 - h))
        best = (None, -1)
        for k, (x, y) in enumerate(cands):
            x = min(max(x, bounds.left()), bounds.right() - w)  # slide along the edge into view
            r = QRectF(x, y, w, h)
            if r.top() < bounds.top() - 0.5 or r.bottom() > bounds.bottom() + 0.5:
                continue
            if not grid.hits(r.adjusted(1, 1, -1, -1)):
                grid.add(r)
                best = (QPointF(x, y), k)
                break
        out.append(best)
    return out


def class_tooltip(obj, class_names, k: int = 5) -> str:
    """HTML tooltip: the object's label and score and its top-``k`` class probabilities."""
    lines = [f"<b>#{obj.index} {html.escape(obj.name)}</b> &nbsp; score {obj.score:.3f}"]
    x1, y1, x2, y2 = obj.box
    lines.append(f"<span style='color:gray'>box ({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f})</span>")
    if obj.class_scores and class_names:
        cs = np.asarray(obj.class_scores, dtype=np.float64)
        order = np.argsort(-cs[1:])[:k] + 1
        rows = "".join(f"<tr><td>{html.escape(class_names[i])}</td><td align=right>{cs[i]:.3f}</td></tr>"
                       for i in order)
        bg = f"<tr><td><i>background</i></td><td align=right>{cs[0]:.3f}</td></tr>"
        lines.append(f"<table cellspacing=0 cellpadding=1>{rows}{bg}</table>")
    return "<br>".join(lines)


def smallest_box_at(objects, x: float, y: float):
    """The smallest box (by area) containing ``(x, y)``, or None."""
    best, area = None, None
    for o in objects:
        x1, y1, x2, y2 = o.box
        if x1 <= x <= x2 and y1 <= y <= y2:
            a = (x2 - x1) * (y2 - y1)
            if area is None or a < area:
                best, area = o, a
    return best


class EditableBox(pg.RectROI):
    """A given box (SGCls / PredCls): drag to move, drag the corner handle to resize. A click selects
    its object and a right-click asks for the viewer's context menu (not pyqtgraph's own)."""

    def __init__(self, view: "ImageView", k: int, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.view, self.k = view, k

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            additive = bool(ev.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier))
            self.view.objectClicked.emit(self.k, additive)
        elif ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            self.view.contextRequested.emit(self.k, ev.screenPos().toPoint())
        else:
            ev.ignore()

    def getMenu(self):  # pragma: no cover - pyqtgraph's menu is never shown
        return None


class ImageView(QWidget):
    """Image + boxes. Emits object clicks, hovers and box edits; owns no state."""

    objectClicked = Signal(int, bool)  # object id (-1 = background), additive
    objectHovered = Signal(int)  # object id or -1
    contextRequested = Signal(int, object)  # object id (-1: none under the pointer), QPoint (screen)
    cursorMoved = Signal(float, float, bool)  # image pixel x, y under the pointer; inside the picture
    zoomChanged = Signal(float)  # zoom_percent() after a zoom or resize
    boxDrawn = Signal(list)  # [x1, y1, x2, y2] image pixels
    boxChanged = Signal(int, list)  # index of a given box, its new [x1, y1, x2, y2] (moved / resized)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gv = pg.GraphicsView()
        # one rectangle around what changed is repainted (pyqtgraph's default, the minimal region, adds up many
        # small rects when a slider jump changes most items): 4001.jpg random jumps, same process under the training
        # load, p50 14.9 -> 9.7 ms, p90 43.5 -> 21.0 ms
        self.gv.setViewportUpdateMode(self.gv.ViewportUpdateMode.BoundingRectViewportUpdate)
        self.vb = ImageViewBox()
        self.gv.setCentralItem(self.vb)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        # the scaled picture is kept as a screen pixmap: a redraw of the boxes blits it instead of
        # scaling the whole image again
        self.image_item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.vb.addItem(self.image_item)
        self.message = QLabel("", self)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.apply_theme(current_theme())
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.gv)
        self._items: list[QGraphicsItem] = []
        self._shown_boxes: list[list[float]] = []
        self._layer = Layer()
        self._layer.setZValue(10)
        self.vb.addItem(self._layer, ignoreBounds=True)
        self._pool = ItemPool(self._layer)
        self._rois: list[pg.RectROI] = []
        self._objects = []
        self._class_names = None
        self._hover = -1  # object under the pointer on this view
        self._hover_oid = -1  # object highlighted as hovered (here or in another view)
        self._tags: list = []
        self._image_shape: tuple[int, int] | None = None
        self.tag_font = QFont()
        self.tag_font.setPointSizeF(9.0)
        self.tag_font.setBold(True)
        self.vb.sigTransformChanged.connect(self.place_tags)  # zoom / pan: tags keep clear of each other
        self.vb.sigTransformChanged.connect(lambda *_: self.zoomChanged.emit(self.zoom_percent()))
        self.show_boxes = True  # View ▸ Show: the box layer, the tags
        self.show_tags = True
        self.vb.clicked.connect(self._on_click)
        self.vb.contextClicked.connect(self._on_context)
        self.vb.boxDrawn.connect(self._on_drawn)
        # Qt asks for a tooltip 0.7 s after the pointer rests; the scene would answer "none" (our boxes
        # have no item tooltips) and hide the one shown on hover: answer with the box's instead
        self.gv.viewport().installEventFilter(self)
        self._mouse_proxy = pg.SignalProxy(self.gv.scene().sigMouseMoved, rateLimit=30, slot=self._on_move)
        self.set_message("Drop images or folders here, or use File ▸ Open (Ctrl+O)")

    def apply_theme(self, theme) -> None:
        """The canvas around the picture and the empty-canvas message in ``theme``'s colours (the boxes
        and tags are drawn over the picture and keep theirs)."""
        self.theme = theme
        self.gv.setBackground(QColor(*theme.background))
        self.message.setStyleSheet(f"color: {theme.css(theme.message)}; font-size: 14px; background: transparent;")

    # ------------------------------------------------------------------ image
    def set_image(self, arr: np.ndarray | None) -> None:
        """Show an ``HxWx3`` uint8 array (None clears)."""
        if arr is None:
            self.image_item.clear()
            self._image_shape = None
            return
        first = self._image_shape != arr.shape[:2]
        self.image_item.setImage(arr, autoLevels=False, levels=(0, 255))
        self._image_shape = arr.shape[:2]
        if first:
            self.fit()

    def fit(self) -> None:
        if self._image_shape is not None:
            h, w = self._image_shape
            self.vb.setRange(QRectF(0, 0, w, h), padding=0.01)

    def center_on(self, oid: int) -> bool:
        """Pan (zooming out if needed) so that object ``oid``'s box is in the middle of the view."""
        o = next((o for o in self._objects if o.index == oid), None)
        if o is None:
            return False
        x1, y1, x2, y2 = o.box
        r = self.vb.viewRect()
        if r.width() < (x2 - x1) * 1.2 or r.height() < (y2 - y1) * 1.2:
            self.vb.setRange(QRectF(x1, y1, x2 - x1, y2 - y1), padding=0.3)
        else:
            c = r.center()
            self.vb.translateBy(x=(x1 + x2) / 2 - c.x(), y=(y1 + y2) / 2 - c.y())
        return True

    def zoom(self, factor: float) -> None:
        self.vb.scaleBy((1 / factor, 1 / factor))

    def set_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))
        self._place_message()

    def resizeEvent(self, ev) -> None:
        super().resizeEvent(ev)
        self._place_message()

    def _place_message(self) -> None:
        self.message.setGeometry(20, self.height() // 2 - 60, max(10, self.width() - 40), 120)
        self.message.raise_()

    # ------------------------------------------------------------------ boxes
    def clear_boxes(self) -> None:
        self._pool.clear()
        self._items = []
        self._objects = []
        self._tags = []

    def set_graph(self, graph, reference=None, highlight: set[int] | None = None, match=None, gt=None,
                  show_scores: bool = True, labels: dict | None = None, ghosts=None) -> None:
        """Draw the objects of ``graph``. ``reference``: the graph at t_end (objects whose label changed
        are tagged, objects absent at t_end dashed); ``ghosts``: objects shown at t_end that are gone now
        (drawn as grey dotted outlines). ``match``: a :class:`nodis.render.GroundTruthMatch` adds the
        verdicts: a ring in the status colour around each box (which keeps its object colour, the colour
        of its graph node), ✓ / ✗ in its tag, and the missed ground truth as orange dashed ``name-GT``
        boxes (``gt`` names them). ``labels``: display names per object id.

        Tags are placed so that none covers another (:func:`place_tags`; the best detections first).
        Items whose look is unchanged since the last call are kept (:class:`ItemPool`)."""
        if graph is None:
            self.clear_boxes()
            return
        pool = self._pool
        pool.begin()
        self._items = []
        self._objects = list(graph.objects)
        self._class_names = graph.class_names
        labels = labels or node_labels(graph)
        ref = {o.index: o for o in reference.objects} if reference is not None else None
        highlight = highlight or set()
        font = self.tag_font
        tags = []  # (priority, tag, box)
        # big boxes first so small ones stay visible on top
        order = sorted(graph.objects, key=lambda o: -(o.box[2] - o.box[0]) * (o.box[3] - o.box[1]))
        for z, o in enumerate(order):
            faded = bool(highlight) and o.index not in highlight
            alpha = FADED_ALPHA if faded else 255
            rgb = object_color(o.index)
            status = match.object_status.get(o.index, "fp") if match is not None else None
            ring = qcolor(STATUS_COLORS[status], alpha) if status is not None else None
            changed = ref is not None and (o.index not in ref or ref[o.index].label != o.label)
            width = 3.5 if o.index in highlight else 2.0
            box = tuple(float(v) for v in o.box)
            color = qcolor(rgb, alpha)
            dashed = ref is not None and o.index not in ref
            item, _ = pool.get(("box", o.index), (box, color, width, dashed, ring),
                               BoxItem, o.index, box, color, width, dashed=dashed, ring=ring)
            item.setZValue(10 + z)
            item.set_hovered(o.index == self._hover_oid)
            self._items.append(item)
            text = labels[o.index] + (f" {o.score:.2f}" if show_scores else "")
            if status is not None:
                text = ("✓ " if status == "tp" else "✗ ") + text
            if changed and o.index in ref:
                text += f"  (t_end: {ref[o.index].name})"
            elif changed:
                text = "+ " + text
            border = QColor(255, 200, 0) if changed else ring
            bg = qcolor(rgb, 220 if not faded else FADED_ALPHA)
            fg = qcolor(text_color_for(rgb), 255 if not faded else 120)
            tag, _ = pool.get(("tag", o.index), (text, bg, fg, border), TagItem, text, bg, fg, font, border)
            tag.oid = o.index
            tags.append(((0 if o.index in highlight else 1, -o.score), tag, box, 1000 + z))
            self._items.append(tag)
        for o in ghosts or ():  # objects present at t_end but not now: ghost outlines
            box = tuple(float(v) for v in o.box)
            item, _ = pool.get(("ghost", o.index), (box,),
                               BoxItem, -1000 - o.index, box, QColor(200, 200, 200, 150), 1.0, dashed=True)
            item.setZValue(5)
            self._items.append(item)
            text = f"− {o.name} (t_end)"
            tag, _ = pool.get(("ghost-tag", o.index), (text,),
                              TagItem, text, QColor(60, 60, 60, 170), QColor(220, 220, 220), font)
            tags.append(((3, -o.score), tag, box, 900))
            self._items.append(tag)
        if match is not None and gt is not None:  # missed ground truth: orange dashed "-GT"
            names = getattr(gt, "class_names", None) or graph.class_names or []
            gboxes, glabels = np.asarray(gt.boxes), np.asarray(gt.labels)
            rgb = STATUS_COLORS["missed"]
            for j in match.missed_objects:
                b = tuple(float(v) for v in gboxes[j])
                lab = int(glabels[j])
                item, _ = pool.get(("gt", j), (b,), BoxItem, -1 - j, b, qcolor(rgb), 2.0, dashed=True)
                item.setZValue(6)
                self._items.append(item)
                name = names[lab] if 0 <= lab < len(names) else str(lab)
                text = f"{name}-GT"
                tag, _ = pool.get(("gt-tag", j), (text,),
                                  TagItem, text, qcolor(rgb, 200), QColor(0, 0, 0), font)
                tags.append(((2, j), tag, b, 950))
                self._items.append(tag)
        pool.end()
        tags.sort(key=lambda t: t[0])
        self._tags = [(tag, box, z) for _, tag, box, z in tags]
        self.place_tags()

    def set_layers(self, boxes: bool | None = None, tags: bool | None = None) -> None:
        """Show or hide the boxes (tags go with them) and the tags."""
        if boxes is not None:
            self.show_boxes = bool(boxes)
        if tags is not None:
            self.show_tags = bool(tags)
        self._layer.setVisible(self.show_boxes)
        self.place_tags()

    def place_tags(self, *_) -> None:
        """Put every tag where it overlaps no other (screen space; again after a zoom or pan)."""
        tags = getattr(self, "_tags", None)
        if not tags:
            return
        if not self.show_tags:
            for tag, _, _ in tags:
                tag.setVisible(False)
            return
        vb = self.vb
        bounds = vb.sceneBoundingRect()
        if self._image_shape is not None:
            h, w = self._image_shape
            bounds = bounds.intersected(vb.mapViewToScene(QRectF(0, 0, w, h)).boundingRect())
        boxes = [vb.mapViewToScene(QRectF(b[0], b[1], b[2] - b[0], b[3] - b[1])).boundingRect() for _, b, _ in tags]
        hover = self._hover_oid
        spots = place_tags([(r, t.w, t.h) for (t, _, _), r in zip(tags, boxes)], bounds)
        for (tag, _, z), r, (pt, _k) in zip(tags, boxes, spots):
            shown = pt is not None or tag.oid == hover
            tag.placed = pt is not None
            if pt is None and shown:  # a hidden tag of the hovered box: above its box, on top of the others
                pt = QPointF(max(bounds.left(), min(r.left(), bounds.right() - tag.w)), max(bounds.top(), r.top() - tag.h))
            if shown:
                tag.setPos(vb.mapSceneToView(pt))
            tag.setZValue(5000 if tag.oid == hover and tag.oid is not None else z)
            tag.setVisible(shown)

    def hidden_tags(self) -> list[int]:
        """Object ids whose tag did not fit anywhere (shown only while the box is hovered)."""
        return [t.oid for t, _, _ in getattr(self, "_tags", []) if t.oid is not None and not t.placed]

    def tag_rects(self) -> dict:
        """Screen rectangles of the visible tags (tests)."""
        out = {}
        for t, _, _ in getattr(self, "_tags", []):
            if t.isVisible():
                c = self.vb.mapViewToScene(t.pos())
                out[t.oid if t.oid is not None else id(t)] = QRectF(c.x() + 1, c.y() + 1, t.w - 2, t.h - 2)
        return out

    def set_hover(self, oid: int) -> None:
        """Highlight object ``oid`` (-1: none) as the counterpart of something hovered elsewhere:
        a white halo around its box and its tag in front (shown even when it did not fit)."""
        if oid == self._hover_oid:
            return
        self._hover_oid = oid
        for it in self._items:
            if isinstance(it, BoxItem):
                it.set_hovered(it.oid == oid and oid >= 0)
        self.place_tags()

    def drawn_objects(self) -> list[int]:
        """Object ids currently drawn (for tests and exports)."""
        return [it.oid for it in self._items if isinstance(it, BoxItem) and it.oid >= 0]

    def box_pens(self) -> dict[int, QPen]:
        return {it.oid: it.pen for it in self._items if isinstance(it, BoxItem)}

    # ------------------------------------------------------------------ editable given boxes
    def set_editable_boxes(self, boxes: list | None) -> None:
        """Show ``boxes`` (x1y1x2y2) as editable ROIs; None removes the handles."""
        for r in self._rois:
            self.vb.removeItem(r)
        self._rois = []
        self._shown_boxes = [list(b) for b in boxes] if boxes else []
        if not boxes:
            return
        for k, b in enumerate(boxes):
            x1, y1, x2, y2 = b
            pen = QPen(QColor(255, 255, 255, 180), 1)
            pen.setStyle(Qt.PenStyle.DotLine)
            pen.setCosmetic(True)
            roi = EditableBox(self, k, (x1, y1), (max(2.0, x2 - x1), max(2.0, y2 - y1)), pen=pen, removable=False,
                              hoverPen=pg.mkPen((255, 230, 120), width=2), rotatable=False, antialias=False)
            roi.setZValue(2000 + k)
            roi.translatable = not self.vb.draw_enabled  # while drawing, drags over a box draw a new one
            roi.sigRegionChangeFinished.connect(self._roi_changed)
            self.vb.addItem(roi, ignoreBounds=True)
            self._rois.append(roi)

    def _roi_box(self, r) -> list[float]:
        x, y = r.pos()
        w, h = r.size()
        x1, y1, x2, y2 = (min(x, x + w), min(y, y + h), max(x, x + w), max(y, y + h))
        if self._image_shape is not None:
            H, W = self._image_shape
            x1, x2 = float(np.clip(x1, 0, W - 1)), float(np.clip(x2, 0, W - 1))
            y1, y2 = float(np.clip(y1, 0, H - 1)), float(np.clip(y2, 0, H - 1))
        return [float(x1), float(y1), float(x2), float(y2)]

    def editable_boxes(self) -> list[list[float]]:
        return [self._roi_box(r) for r in self._rois]

    def shown_boxes(self) -> list[list[float]]:
        """The boxes last given to :meth:`set_editable_boxes`, updated when a handle is dragged
        (cheap: no ROI queries, called on every redraw)."""
        return self._shown_boxes

    @property
    def rois(self) -> list:
        return list(self._rois)

    def _roi_changed(self, roi) -> None:
        if roi in self._rois:
            i = self._rois.index(roi)
            box = self._roi_box(roi)
            if i < len(self._shown_boxes):
                self._shown_boxes[i] = list(box)
            self.boxChanged.emit(i, box)

    def set_draw_enabled(self, on: bool) -> None:
        self.vb.draw_enabled = bool(on)
        for r in self._rois:
            r.translatable = not on
        self.gv.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)

    # ------------------------------------------------------------------ mouse
    def _on_drawn(self, rect: QRectF) -> None:
        b = [rect.left(), rect.top(), rect.right(), rect.bottom()]
        if self._image_shape is not None:
            H, W = self._image_shape
            b = [float(np.clip(b[0], 0, W - 1)), float(np.clip(b[1], 0, H - 1)),
                 float(np.clip(b[2], 0, W - 1)), float(np.clip(b[3], 0, H - 1))]
        if b[2] - b[0] >= 2 and b[3] - b[1] >= 2:
            self.boxDrawn.emit(b)

    def _on_context(self, p: QPointF, screen) -> None:
        o = smallest_box_at(self._objects, p.x(), p.y())
        self.contextRequested.emit(-1 if o is None else o.index, screen)

    def eventFilter(self, obj, ev) -> bool:
        if ev.type() == QEvent.Type.ToolTip and obj is self.gv.viewport():
            o = self._object_under(ev.pos())
            if o is not None:
                QToolTip.showText(ev.globalPos(), class_tooltip(o, self._class_names), self.gv)
                return True
        return super().eventFilter(obj, ev)

    def _object_under(self, viewport_pos):
        p = self.vb.mapSceneToView(self.gv.mapToScene(viewport_pos))
        return smallest_box_at(self._objects, p.x(), p.y())

    def _on_click(self, p: QPointF, mods) -> None:
        o = smallest_box_at(self._objects, p.x(), p.y())
        additive = bool(mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier))
        self.objectClicked.emit(-1 if o is None else o.index, additive)

    def object_at(self, x: float, y: float):
        return smallest_box_at(self._objects, x, y)

    def zoom_percent(self) -> float:
        """Screen pixels per image pixel, in percent (100: the picture at its own size)."""
        px = self.vb.viewPixelSize()
        return 100.0 / max(px[0], 1e-9)

    def _on_move(self, args) -> None:
        pos = args[0]
        if not self.vb.sceneBoundingRect().contains(pos):
            return
        p = self.vb.mapSceneToView(pos)
        if self._image_shape is not None:
            h, w = self._image_shape
            inside = 0 <= p.x() < w and 0 <= p.y() < h
            self.cursorMoved.emit(float(p.x()), float(p.y()), inside)
        o = smallest_box_at(self._objects, p.x(), p.y())
        oid = -1 if o is None else o.index
        if oid != self._hover:
            self._hover = oid
            self.objectHovered.emit(oid)
        if o is not None:
            gp = self.gv.mapToGlobal(self.gv.mapFromScene(pos))
            QToolTip.showText(gp, class_tooltip(o, self._class_names), self.gv)
        else:
            QToolTip.hideText()
