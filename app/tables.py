"""Sortable object and relation tables of the displayed scene graph (QTableView + proxy models)."""
from __future__ import annotations

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QTabWidget

from nodis.render import STATUS_COLORS, node_labels, object_color

from .theme import current as current_theme

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
GT_TEXT = {"tp": "✓ match", "fp": "✗ wrong", "missed": "missed"}


class _Model(QAbstractTableModel):
    headers: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple] = []  # (display values..., sort values..., key, colour, status, changed)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return len(self.headers)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.headers[section]
        return None

    def set_rows(self, rows) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        c = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            v = row["values"][c]
            return f"{v:.3f}" if isinstance(v, float) else str(v)
        if role == SORT_ROLE:
            return row["values"][c]
        if role == Qt.ItemDataRole.DecorationRole and c == 0:
            return QColor(*row["color"])
        if role == Qt.ItemDataRole.ForegroundRole:
            st = row.get("status")
            if st and self.headers[c] == "GT":
                return QColor(*STATUS_COLORS[st])
            if row.get("changed") and self.headers[c] in ("label", "predicate", "vs t_end"):
                return QColor(*current_theme().accent)  # amber, darker on a light table
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(row["values"][c], (int, float)):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.get("tooltip")
        if role == Qt.ItemDataRole.BackgroundRole and self.hover is not None and self.hover in row.get("objects", ()):
            return QColor(*current_theme().halo, 45)  # the counterpart of a hovered box or node (a tint)
        return None

    hover = None  # object id highlighted in the rows (hovered elsewhere)

    def set_hover(self, oid) -> None:
        if oid != self.hover:
            self.hover = oid
            if self.rows:
                self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, self.columnCount() - 1),
                                      [Qt.ItemDataRole.BackgroundRole])


class ObjectModel(_Model):
    headers = ("id", "label", "score", "vs t_end", "GT", "box (x1, y1, x2, y2)")


class RelationModel(_Model):
    headers = ("rank", "subject", "predicate", "object", "score", "pred. score", "vs t_end", "GT")


class _View(QTableView):
    def __init__(self, model: _Model) -> None:
        super().__init__()
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setSortRole(SORT_ROLE)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(22)
        self.horizontalHeader().setStretchLastSection(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)


class TablesWidget(QTabWidget):
    """Objects and Relations tabs. Emits the keys of rows the user selects."""

    objectsSelected = Signal(list)  # object ids
    relationsSelected = Signal(list)  # (subject, object) pairs
    objectHovered = Signal(int)  # object id of the row under the pointer (Objects tab), -1 when none

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.obj_model, self.rel_model = ObjectModel(), RelationModel()
        self.obj_view, self.rel_view = _View(self.obj_model), _View(self.rel_model)
        self.addTab(self.obj_view, "Objects")
        self.addTab(self.rel_view, "Relations")
        self._syncing = False
        self.obj_view.selectionModel().selectionChanged.connect(self._obj_sel)
        self.rel_view.selectionModel().selectionChanged.connect(self._rel_sel)
        self.obj_view.setMouseTracking(True)
        self.obj_view.entered.connect(self._row_entered)
        self.obj_view.viewport().installEventFilter(self)

    def _row_entered(self, idx) -> None:
        src = self.obj_view.proxy.mapToSource(idx)
        if 0 <= src.row() < len(self.obj_model.rows):
            self.objectHovered.emit(int(self.obj_model.rows[src.row()]["key"]))

    def eventFilter(self, obj, ev) -> bool:
        if obj is self.obj_view.viewport() and ev.type() == QEvent.Type.Leave:
            self.objectHovered.emit(-1)
        return super().eventFilter(obj, ev)

    def set_hover(self, oid: int) -> None:
        """Tint the rows of object ``oid`` (and of its relations); -1: none."""
        key = oid if oid is not None and oid >= 0 else None
        self.obj_model.set_hover(key)
        self.rel_model.set_hover(key)

    def set_graph(self, graph, reference=None, match=None, labels: dict | None = None) -> None:
        if graph is None:
            self.obj_model.set_rows([])
            self.rel_model.set_rows([])
            self._retitle()
            return
        labels = labels or node_labels(graph)
        ref_o = {o.index: o for o in reference.objects} if reference is not None else None
        ref_r = {(r.subject, r.object): r for r in reference.relations} if reference is not None else None
        rows = []
        for o in graph.objects:
            vs = ""
            if ref_o is not None:
                if o.index not in ref_o:
                    vs = "new"
                elif ref_o[o.index].label != o.label:
                    vs = f"was {ref_o[o.index].name}"
            st = match.object_status.get(o.index) if match is not None else None
            x1, y1, x2, y2 = o.box
            rows.append({"values": (o.index, labels[o.index], float(o.score), vs, GT_TEXT.get(st, ""),
                                    f"{x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}"),
                         "key": o.index, "color": object_color(o.index), "status": st, "changed": bool(vs),
                         "objects": (o.index,)})
        self.obj_model.set_rows(rows)
        rows = []
        for k, r in enumerate(graph.relations):
            vs = ""
            if ref_r is not None:
                was = ref_r.get((r.subject, r.object))
                vs = "new" if was is None else ("" if was.predicate == r.predicate else f"was {was.name}")
            st = match.relation_status[k] if match is not None and k < len(match.relation_status) else None
            rows.append({"values": (k + 1, labels.get(r.subject, str(r.subject)), r.name,
                                    labels.get(r.object, str(r.object)), float(r.score), float(r.predicate_score),
                                    vs, GT_TEXT.get(st, "")),
                         "key": (r.subject, r.object), "color": object_color(r.subject), "status": st,
                         "changed": bool(vs), "objects": (r.subject, r.object)})
        self.rel_model.set_rows(rows)
        self._retitle()

    def _retitle(self) -> None:
        self.setTabText(0, f"Objects ({self.obj_model.rowCount()})")
        self.setTabText(1, f"Relations ({self.rel_model.rowCount()})")

    # ------------------------------------------------------------------ selection sync
    def _keys(self, view: _View, model: _Model) -> list:
        keys = []
        for idx in view.selectionModel().selectedRows():
            src = view.proxy.mapToSource(idx)
            keys.append(model.rows[src.row()]["key"])
        return keys

    def _obj_sel(self, *_):
        if not self._syncing:
            self.objectsSelected.emit(self._keys(self.obj_view, self.obj_model))

    def _rel_sel(self, *_):
        if not self._syncing:
            self.relationsSelected.emit(self._keys(self.rel_view, self.rel_model))

    def show_selection(self, objects: set, relations: set) -> None:
        """Select the rows of ``objects`` / ``relations`` without emitting."""
        self._syncing = True
        try:
            for view, model, keys in ((self.obj_view, self.obj_model, objects),
                                      (self.rel_view, self.rel_model, relations)):
                sel = QItemSelection()
                first = None
                for r, row in enumerate(model.rows):
                    if row["key"] in keys:
                        idx = view.proxy.mapFromSource(model.index(r, 0))
                        sel.select(idx, idx)
                        first = first or idx
                flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
                view.selectionModel().select(sel, flags)
                if first is not None:
                    view.scrollTo(first)
        finally:
            self._syncing = False

    def relation_rows(self) -> list[tuple]:
        return [row["values"] for row in self.rel_model.rows]

    def object_rows(self) -> list[tuple]:
        return [row["values"] for row in self.obj_model.rows]
