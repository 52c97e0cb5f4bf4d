"""The main window: lays out the views and composes the controllers.

Layout: image list (left dock) | image view and scene-graph view (centre, side by side) |
ODE time panel and the object / relation tables (bottom docks). The window appears at once; the
model loads on the worker thread and the status bar says when it is ready.

The window itself only builds widgets, actions and menus and draws the current image. The work is
done by small controllers, each usable without the others (napari separates its window from its
controllers the same way):

* :class:`nodis_viewer.opener.ImageOpener` — opened and dropped paths into the list, folders listed
  and ground truth looked up on the I/O threads, each image queued;
* :class:`nodis_viewer.run_queue.RunQueue` — what runs in which mode, results from the worker;
* :class:`nodis_viewer.box_editing.BoxEditor` — given boxes and labels, with undo / redo;
* :class:`nodis_viewer.export_controller.ExportController` — exports and their dialogs;
* :class:`nodis_viewer.settings.ViewerSettings` — validated persistent settings;
* :class:`nodis_viewer.recent.RecentFiles` — *File ▸ Open recent*.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QCompleter,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStyle,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from nodis.data.transforms import IMAGE_SUFFIXES, load_image
from nodis.errors import NodisError
from nodis.render import display_text, focus_graph, match_ground_truth, node_labels

from . import gui_gc, qtfix
from .box_editing import BoxEditor
from .demo_notice import DemoNotice
from .dialogs import AboutDialog, ModelPickerDialog, ShortcutsDialog, model_summary
from .export_controller import ExportController
from .exporting import SINGLE_EXPORTS
from .graph_view import GraphView, compute_layout
from .image_list import ImageList
from .image_view import ImageView
from .io_thread import IOPool
from .opener import ImageOpener, expand_paths  # noqa: F401  (expand_paths: public name kept)
from .recent import MAX_RECENT, RecentFiles  # noqa: F401  (MAX_RECENT: public name kept)
from .run_queue import RunQueue
from .settings import SETTINGS_APP, SETTINGS_ORG, ViewerSettings, settings  # noqa: F401
from .state import (
    CANCELLED,
    DEFAULT_FILTERS,
    DONE,
    FAILED,
    MODE_TITLES,
    MODES,
    NEEDS_BOXES,
    QUEUED,
    RUNNING,
    ImageEntry,
    ViewerState,
)
from .state_space import StateSpaceView, TrajectoryData
from .tables import TablesWidget
from .theme import theme_for
from .time_panel import TimePanel
from .worker import Engine

log = logging.getLogger(__name__)

TABLES_SETTLE_MS = 200  # tables refresh this long after the last time-slider move of a scrub
DEFAULT_SIZE = (1500, 940)


class MainWindow(QMainWindow):
    def __init__(self, weights: str | None = None, device: str | None = None, model_factory=None,
                 load: bool = True) -> None:
        super().__init__()
        qtfix.install()
        gui_gc.acquire()  # Python's cyclic GC on the GUI thread only while the window exists
        self._gc_held = True
        self.setWindowTitle("nodis-viewer")
        self.setAcceptDrops(True)
        self.prefs = ViewerSettings()
        self.state = ViewerState(self)
        self.engine = Engine(self, model_factory=model_factory)
        self.io = IOPool(2, self)  # file reads off the GUI thread
        self.runs = RunQueue(self.state, self.engine, default_label=self._current_label, parent=self)
        self.boxes = BoxEditor(self.state, self.runs, self)
        self.recent = RecentFiles(self.prefs, self)
        self.opener = ImageOpener(self.state, self.io, self.runs, self.recent, self)
        self.exporter = ExportController(self.state, self.engine, self.prefs, labels_for=self.stable_labels,
                                         parent_widget=self)
        self.weights = weights
        self.device = device
        self._image_cache: tuple[Path, np.ndarray] | None = None
        self._image_error = ""
        self._last_drawn = None
        self._busy = False
        # while the time slider is being scrubbed the tables follow when it rests (TABLES_SETTLE_MS)
        self._last_time_move = 0.0
        self._scrubbing = False
        self._tables_args = None
        self._tables_timer = QTimer(self)
        self._tables_timer.setSingleShot(True)
        self._tables_timer.setInterval(TABLES_SETTLE_MS)
        self._tables_timer.timeout.connect(self._flush_tables)
        self.last_error = ""  # last message shown in a box (tests read it)
        self.last_menu: QMenu | None = None  # last context menu shown (tests read it)
        self.quiet = False  # True: errors go to the status bar only (tests, batch runs)

        # ---------------------------------------------------------------- views
        self.image_view = ImageView()
        self.graph_view = GraphView()
        self.graph_panel = self._build_graph_panel()
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.image_view)
        self.split.addWidget(self.graph_panel)
        self.split.setStretchFactor(0, 5)
        self.split.setStretchFactor(1, 4)
        self.setCentralWidget(self.split)

        self.image_list = ImageList(self.state, io=self.io)
        self.list_dock = self._dock("Images", self.image_list, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.time_panel = TimePanel(self.state)
        self.time_dock = self._dock("ODE time", self.time_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tables = TablesWidget()
        self.table_dock = self._dock("Objects and relations", self.tables, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.splitDockWidget(self.time_dock, self.table_dock, Qt.Orientation.Horizontal)
        # histories of the selection (time panel's Selection tab) and the state-space view (a tab
        # beside the tables), both from the trajectory's histories and ODE states (worker thread)
        self.traj_data = TrajectoryData(self.state, self.engine, self)
        self.time_panel.set_data(self.traj_data, self.stable_labels)
        self.state_space = StateSpaceView(self.state, self.traj_data, self.stable_labels)
        self.space_dock = self._dock("State space", self.state_space, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.table_dock, self.space_dock)
        self.table_dock.raise_()
        for w in (self.state_space, self.time_panel.history):
            w.exported.connect(lambda p: self.statusBar().showMessage(f"Exported {p}", 5000))
            w.exportFailed.connect(lambda m: self.error("Export failed", m))
        self.resizeDocks([self.list_dock], [230], Qt.Orientation.Horizontal)
        self.resizeDocks([self.time_dock, self.table_dock], [700, 560], Qt.Orientation.Horizontal)
        self.resizeDocks([self.time_dock], [300], Qt.Orientation.Vertical)

        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status()

        # ---------------------------------------------------------------- wiring
        st = self.state
        st.currentChanged.connect(self._on_current)
        st.timeChanged.connect(self._on_time_moved)  # before redraw: marks a scrub in progress
        st.timeChanged.connect(self.redraw)
        st.filtersChanged.connect(self._on_filters)
        st.selectionChanged.connect(self._on_selection)
        st.hoverChanged.connect(self._on_hover)
        self.state_space.objectsHovered.connect(st.set_hovered)
        st.modeChanged.connect(self._on_mode)
        st.compareChanged.connect(lambda _: self.redraw())
        st.entryChanged.connect(self._on_entry_changed)
        self.image_list.currentRequested.connect(st.set_current)
        # clicks change the selection after the mouse event is done (the redraw replaces the clicked item)
        self.image_view.objectClicked.connect(lambda i, add: QTimer.singleShot(0, lambda: self._object_clicked(i, add)))
        self.image_view.objectHovered.connect(self._object_hovered)
        self.graph_view.nodeHovered.connect(self._object_hovered)
        self.tables.objectHovered.connect(self._object_hovered)
        self.image_view.boxDrawn.connect(lambda box: self.boxes.add(box, self._current_label()))
        self.image_view.boxChanged.connect(self.boxes.move)
        self.graph_view.nodeClicked.connect(lambda i, add: QTimer.singleShot(0, lambda: self._object_clicked(i, add)))
        self.graph_view.edgeClicked.connect(
            lambda s, o, add: QTimer.singleShot(0, lambda: st.select(relations=[(s, o)], add=add)))
        self.graph_view.nodeMoved.connect(self._node_moved)
        self.image_view.contextRequested.connect(self._image_context)
        self.image_view.cursorMoved.connect(self._cursor_moved)
        self.image_view.zoomChanged.connect(lambda z: self._cursor_moved(*self._cursor[:3]))
        self.graph_view.contextRequested.connect(self._graph_context)
        self.tables.objectsSelected.connect(lambda ids: st.select(objects=ids))
        self.tables.relationsSelected.connect(lambda rels: st.select(relations=rels))

        eng = self.engine
        eng.modelLoading.connect(lambda what: self._set_model_label(f"loading {what}…"))
        eng.modelLoaded.connect(self._on_model_loaded)
        eng.modelFailed.connect(self._on_model_failed)
        eng.busyChanged.connect(self._on_busy)
        runs = self.runs
        runs.graphArrived.connect(self._on_graph)
        runs.resultBegun.connect(self._on_result_begun)
        runs.runFailed.connect(lambda eid: eid == self.state.current_id and self.redraw())
        runs.boxesSeeded.connect(lambda eid: eid == self.state.current_id and self._refresh_editing())
        self.boxes.edited.connect(self._on_boxes_edited)
        self.boxes.message.connect(lambda m: self.statusBar().showMessage(m, 4000))
        self.exporter.message.connect(lambda m, ms: self.statusBar().showMessage(m, ms))
        self.exporter.failed.connect(self.error)
        self.opener.message.connect(lambda m, ms: self.statusBar().showMessage(m, ms))
        self.opener.failed.connect(self.error)
        self.opener.editingChanged.connect(self._refresh_editing)
        self.opener.listChanged.connect(self._update_title)

        self.restore_settings()
        self._on_mode(self.state.mode)
        if load:
            self.load_model(self.weights, self.device)

    # ================================================================ construction
    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(title.replace(" ", "_").lower() + "_dock")
        if widget is getattr(self, "time_panel", None):
            # in a scroll area: the panel's minimum size does not set the window's (small screens, narrow
            # windows); it scrolls instead when squeezed below it
            sc = QScrollArea()
            sc.setWidgetResizable(True)
            sc.setFrameShape(QFrame.Shape.NoFrame)
            sc.setWidget(widget)
            sc.setMinimumSize(160, 120)
            widget = sc
        d.setWidget(widget)
        F = QDockWidget.DockWidgetFeature
        features = F.DockWidgetMovable | F.DockWidgetFloatable | F.DockWidgetClosable
        if area == Qt.DockWidgetArea.BottomDockWidgetArea:  # title on the side: the image keeps the height
            features |= F.DockWidgetVerticalTitleBar
        d.setFeatures(features)
        self.addDockWidget(area, d)
        return d

    def _build_graph_panel(self) -> QWidget:
        w = QWidget()
        self.topk_spin = QSpinBox()
        self.topk_spin.setRange(0, 500)
        self.topk_spin.setSpecialValueText("all")
        self.topk_spin.setToolTip("Show the top-K relations by triplet score (0 = all)")
        self.rel_thr = QDoubleSpinBox()
        self.rel_thr.setRange(0.0, 1.0)
        self.rel_thr.setDecimals(3)
        self.rel_thr.setSingleStep(0.005)
        self.rel_thr.setToolTip("Minimum triplet score (subject × object × predicate)")
        self.obj_thr = QDoubleSpinBox()
        self.obj_thr.setRange(0.0, 1.0)
        self.obj_thr.setDecimals(2)
        self.obj_thr.setSingleStep(0.05)
        self.obj_thr.setToolTip("Minimum object score (boxes, nodes)")
        self.unrelated_box = QCheckBox("only related")
        self.unrelated_box.setToolTip("Hide objects that are in none of the shown relations (image and graph)")
        self.pairs_box = QCheckBox("all pairs")
        self.pairs_box.setToolTip("Show the relations of both directions of a pair (a → b and b → a), up to top-K; "
                                  "off: one edge per pair of objects (the better one) and at most one "
                                  "relation per object shown")
        fit = QToolButton()
        fit.setText("Fit")
        fit.setToolTip("Fit the graph to the view (F)")
        fit.clicked.connect(self.graph_view.fit)
        relayout = QToolButton()
        relayout.setText("Re-layout")
        relayout.setToolTip("Compute a new layout over the graphs at several t (forgets dragged positions)")
        relayout.clicked.connect(self.relayout)
        # a tool bar: controls that do not fit a narrow panel go behind its » button
        row = QToolBar("Graph filters")
        row.setMovable(False)
        row.setFloatable(False)
        row.setStyleSheet("QToolBar { border: none; spacing: 3px; }")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Find node (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(120)
        self.search.setMaximumWidth(160)
        self.search.setToolTip("Objects whose name contains this are selected; Enter: the next one; Esc: done")
        self.search.textChanged.connect(self.find_nodes)
        self.search.returnPressed.connect(lambda: self.find_nodes(self.search.text(), step=1))
        self.search.installEventFilter(self)
        row.addWidget(self.search)  # first: never behind the » overflow button (Ctrl+F)
        for lab, wid in (("top-K ", self.topk_spin), (" rel ≥ ", self.rel_thr), (" obj ≥ ", self.obj_thr)):
            row.addWidget(QLabel(lab))
            row.addWidget(wid)
        row.addWidget(self.unrelated_box)
        row.addWidget(self.pairs_box)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        row.addWidget(spacer)
        row.addWidget(relayout)
        row.addWidget(fit)
        self.graph_bar = row
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(row)
        lay.addWidget(self.graph_view, 1)
        self.topk_spin.valueChanged.connect(lambda v: self.state.set_filters(top_k=int(v)))
        self.rel_thr.valueChanged.connect(lambda v: self.state.set_filters(rel_threshold=float(v)))
        self.obj_thr.valueChanged.connect(lambda v: self.state.set_filters(obj_threshold=float(v)))
        self.unrelated_box.toggled.connect(lambda v: self.state.set_filters(hide_unrelated=bool(v)))
        self.pairs_box.toggled.connect(lambda v: self.state.set_filters(all_pairs=bool(v)))
        return w

    def _action(self, text: str, slot, shortcut=None, tip: str = "", checkable: bool = False) -> QAction:
        a = QAction(text, self)
        if shortcut:
            if isinstance(shortcut, (list, tuple)):
                a.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(tip)
        a.setCheckable(checkable)
        if checkable:
            a.toggled.connect(slot)
        else:
            a.triggered.connect(lambda *_: slot())
        self.addAction(a)
        return a

    def _build_actions(self) -> None:
        A = self._action
        self.act_open = A("&Open image…", self.open_images_dialog, QKeySequence.StandardKey.Open, "Open image files")
        self.act_open_dir = A("Open &folder…", self.open_folder_dialog, "Ctrl+Shift+O", "Open every image in a folder")
        self.act_quit = A("&Quit", self.close, ["Ctrl+Q"])
        self.act_next = A("Next image", lambda: self.state.step_current(1), ["D", "PgDown"])
        self.act_prev = A("Previous image", lambda: self.state.step_current(-1), ["A", "PgUp"])
        self.act_remove = A("Remove image from list", self.remove_current, None)
        self.act_rerun = A("Re-run", self.rerun_current, "Ctrl+R", "Re-run inference on the current image")
        self.act_run_all = A("Run all images in this mode", self.run_all, "Ctrl+Shift+R")
        self.act_cancel = A("Cancel", self.cancel, "Ctrl+.", "Cancel queued and running inference")
        self.act_fit = A("Fit views", self.fit, "F")
        self.act_zoom_in = A("Zoom in", lambda: self.image_view.zoom(1.25), ["Ctrl+=", "Ctrl++"])
        self.act_zoom_out = A("Zoom out", lambda: self.image_view.zoom(0.8), "Ctrl+-")
        self.act_clear_sel = A("Clear selection", self.state.clear_selection, "Esc")
        self.act_copy = A("&Copy triplets", self.copy_triplets, QKeySequence.StandardKey.Copy,
                          "Copy the selected triplets (all shown ones when nothing is selected) as tab-separated text")
        self.act_t_next = A("t: next grid point", lambda: self.time_panel.step(1), "Right")
        self.act_t_prev = A("t: previous grid point", lambda: self.time_panel.step(-1), "Left")
        self.act_t_next5 = A("t: +0.25", lambda: self.time_panel.step(5), "Shift+Right")
        self.act_t_prev5 = A("t: −0.25", lambda: self.time_panel.step(-5), "Shift+Left")
        self.act_t_home = A("t = 0", lambda: self.state.set_time_index(gi_obj=0, gi_rel=0), "Home")
        self.act_t_last = A("t = last", self._time_last, "End")
        self.act_t_end = A("t = t_end", self.time_panel.jump_to_end, "E")
        self.act_play = A("Play / pause", self.time_panel.toggle_play, "Space")
        self.act_link = A("Link O-ODE / P-ODE times", self.state.set_linked, "L", checkable=True)
        self.act_link.setChecked(True)
        self.state.timeChanged.connect(lambda: self.act_link.setChecked(self.state.linked))
        self.act_gt = A("Ground truth", self.state.set_compare_gt, "G",
                        "Colour correct / wrong / missed boxes and relations when ground truth exists", checkable=True)
        self.act_gt.setChecked(False)
        self.act_draw = A("Draw box", self.image_view.set_draw_enabled, "B",
                          "Drag on the image to add a box (SGCls / PredCls)", checkable=True)
        self.act_delete_box = A("Remove selected box", self.remove_selected_boxes, "Del")
        self.act_clear_boxes = A("Remove all boxes", self.clear_boxes)
        self.act_save_gt = A("Save boxes as ground truth…", self.save_ground_truth_dialog, "Ctrl+Shift+G",
                             "Write the boxes, labels and shown relations as this image's ground truth (<name>.gt.json)")
        self.act_find = A("Find node…", self.focus_search, QKeySequence.StandardKey.Find, "Find objects by name in the graph")
        self.act_show_boxes = A("Boxes", lambda on: self.image_view.set_layers(boxes=on), "H",
                                "Show the boxes on the image", checkable=True)
        self.act_show_tags = A("Box tags", lambda on: self.image_view.set_layers(tags=on), "T",
                               "Show the name and score tags of the boxes", checkable=True)
        self.act_show_labels = A("Predicate labels", self.graph_view.set_edge_labels_shown, "P",
                                 "Show the predicate on each edge of the graph", checkable=True)
        for a in (self.act_show_boxes, self.act_show_tags, self.act_show_labels):
            a.setChecked(True)
        self.act_gt_boxes = A("GT boxes", self.use_gt_boxes, None, "Use the ground-truth boxes (and labels) of this image")
        self.act_det_boxes = A("Detections as boxes", self.use_detection_boxes, None,
                               "Use the boxes (and labels) currently detected in SGDet")
        self.act_undo = self.boxes.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QKeySequence.StandardKey.Undo)
        self.act_redo = self.boxes.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.addAction(self.act_undo)
        self.addAction(self.act_redo)
        self.mode_group = QActionGroup(self)
        self.mode_actions = {}
        for k, m in enumerate(MODES):
            a = A(MODE_TITLES[m], (lambda on, m=m: on and self.state.set_mode(m)), str(k + 1), checkable=True)
            self.mode_group.addAction(a)
            self.mode_actions[m] = a
        self.act_shortcuts = A("&Keyboard shortcuts", self.show_shortcuts, ["F1", "?"])
        self.act_about = A("&About nodis-viewer", self.show_about)
        self.act_weights = A("Load &weights…", self.choose_weights, None, "Load a .safetensors checkpoint or an official NODIS .tar")
        self.act_default_model = A("Use the default demo model", lambda: self.load_model(None, self.device))
        self.export_actions = {}
        for fmt, title, _filt in SINGLE_EXPORTS:
            self.export_actions[fmt] = A(title, lambda fmt=fmt: self.exporter.export_dialog(fmt))
        self.export_actions["json"].setShortcut(QKeySequence("Ctrl+S"))
        self.export_actions["graph-png"].setShortcut(QKeySequence("Ctrl+Shift+E"))
        self.act_batch = A("&Batch export all images…", self.exporter.batch_export_dialog, "Ctrl+Shift+S")

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        f.addAction(self.act_open)
        f.addAction(self.act_open_dir)
        self.recent_menu = f.addMenu("Open &recent")
        self.recent.attach(self.recent_menu, self.open_paths)
        f.addSeparator()
        ex = f.addMenu("&Export")
        for fmt, _t, _f in SINGLE_EXPORTS:
            ex.addAction(self.export_actions[fmt])
        ex.addSeparator()
        ex.addAction(self.act_batch)
        f.addSeparator()
        f.addAction(self.act_remove)
        f.addSeparator()
        f.addAction(self.act_quit)
        ed = mb.addMenu("&Edit")
        ed.addAction(self.act_undo)
        ed.addAction(self.act_redo)
        ed.addSeparator()
        ed.addAction(self.act_copy)
        ed.addAction(self.act_clear_sel)
        v = mb.addMenu("&View")
        v.addAction(self.act_fit)
        v.addAction(self.act_zoom_in)
        v.addAction(self.act_zoom_out)
        v.addAction(self.act_gt)
        show = v.addMenu("&Show")
        for a in (self.act_show_boxes, self.act_show_tags, self.act_show_labels):
            show.addAction(a)
        v.addAction(self.act_find)
        v.addSeparator()
        for d in (self.list_dock, self.time_dock, self.table_dock, self.space_dock):
            v.addAction(d.toggleViewAction())
        r = mb.addMenu("&Run")
        for m in MODES:
            r.addAction(self.mode_actions[m])
        r.addSeparator()
        r.addAction(self.act_rerun)
        r.addAction(self.act_run_all)
        r.addAction(self.act_cancel)
        r.addSeparator()
        r.addAction(self.act_next)
        r.addAction(self.act_prev)
        r.addSeparator()
        r.addAction(self.act_weights)
        r.addAction(self.act_default_model)
        self.device_menu = r.addMenu("&Device")
        self.device_group = QActionGroup(self)
        for dev in ("auto", "cpu", "cuda"):
            a = QAction(dev, self, checkable=True)
            a.triggered.connect(lambda _=False, d=dev: self.load_model(self.weights, None if d == "auto" else d))
            self.device_group.addAction(a)
            self.device_menu.addAction(a)
        t = mb.addMenu("&Time")
        for a in (self.act_play, self.act_t_end, self.act_t_next, self.act_t_prev, self.act_t_next5, self.act_t_prev5,
                  self.act_t_home, self.act_t_last, self.act_link):
            t.addAction(a)
        b = mb.addMenu("&Boxes")
        for a in (self.act_draw, self.act_delete_box, self.act_clear_boxes, self.act_gt_boxes, self.act_det_boxes):
            b.addAction(a)
        b.addSeparator()
        b.addAction(self.act_save_gt)
        h = mb.addMenu("&Help")
        h.addAction(self.act_shortcuts)
        h.addAction(self.act_about)

    def _build_toolbar(self) -> None:
        tb = self.addToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        sp = QStyle.StandardPixmap
        for act, icon in ((self.act_open, sp.SP_DialogOpenButton), (self.act_open_dir, sp.SP_DirOpenIcon),
                          (self.act_rerun, sp.SP_BrowserReload), (self.act_cancel, sp.SP_BrowserStop),
                          (self.act_gt_boxes, sp.SP_FileDialogDetailedView), (self.act_det_boxes, sp.SP_FileDialogContentsView),
                          (self.act_gt, sp.SP_DialogApplyButton)):
            act.setIcon(self.style().standardIcon(icon))
        tb.addAction(self.act_open)
        tb.addAction(self.act_open_dir)
        tb.addSeparator()
        tb.addWidget(QLabel(" Mode "))
        self.mode_combo = QComboBox()
        for m in MODES:
            self.mode_combo.addItem(MODE_TITLES[m], m)
        self.mode_combo.setToolTip("SGDet: image only · SGCls: your boxes, predicted labels · PredCls: boxes and labels given")
        self.mode_combo.currentIndexChanged.connect(lambda i: self.state.set_mode(self.mode_combo.itemData(i)))
        tb.addWidget(self.mode_combo)
        tb.addSeparator()
        self.box_actions = [self.act_draw, self.act_delete_box, self.act_gt_boxes, self.act_det_boxes]
        tb.addAction(self.act_draw)
        self.label_combo = QComboBox()
        self.label_combo.setEditable(True)
        self.label_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.label_combo.setMinimumContentsLength(12)
        self.label_combo.setToolTip("PredCls: label of new boxes; changing it relabels the selected boxes")
        self.label_combo.activated.connect(self._label_picked)
        self.label_combo.lineEdit().returnPressed.connect(self._label_entered)
        self._label_edit = self.label_combo.lineEdit()
        self._label_edit.installEventFilter(self)  # Esc: back to the image
        self.label_action = tb.addWidget(self.label_combo)
        tb.addAction(self.act_gt_boxes)
        tb.addAction(self.act_det_boxes)
        tb.addSeparator()
        tb.addAction(self.act_rerun)
        tb.addAction(self.act_cancel)
        tb.addSeparator()
        tb.addAction(self.act_gt)
        self.toolbar = tb

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(170)
        self.progress.setMaximumHeight(16)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_btn = QToolButton()
        self.cancel_btn.setText("Cancel")
        self.cancel_btn.clicked.connect(self.cancel)
        self.cancel_btn.hide()
        self.model_label = QLabel("model: –")
        self.cursor_label = QLabel("")  # image pixel under the pointer and the zoom (napari's status bar)
        self.cursor_label.setToolTip("Image pixel under the pointer · zoom of the image view")
        self.time_label = QLabel("")
        self.nfe_label = QLabel("")
        for w in (self.cursor_label, self.progress, self.cancel_btn, self.time_label, self.nfe_label, self.model_label):
            sb.addPermanentWidget(w)
        # the demo model on an image not from its world (nodis.provenance); the file is checked on the I/O threads
        self.demo_notice = DemoNotice(sb, io=self.io)

    # ================================================================ settings
    def restore_settings(self) -> None:
        """Window layout, filters, mode and model from the settings; unusable values are ignored."""
        p = self.prefs
        geo = p.get_bytes("window/geometry")
        if geo is None or not self.restoreGeometry(geo):
            self.resize(*DEFAULT_SIZE)
        ws = p.get_bytes("window/state")
        self._layout_restored = ws is not None and self.restoreState(ws)
        sp = p.get_bytes("window/splitter")
        if sp is None or not self.split.restoreState(sp):
            self.split.setSizes([700, 560])
        D = DEFAULT_FILTERS
        top_k = p.get_int("filters/top_k", D["top_k"], 0, self.topk_spin.maximum())
        rel = p.get_float("filters/rel_threshold", D["rel_threshold"], 0.0, 1.0)
        obj = p.get_float("filters/obj_threshold", D["obj_threshold"], 0.0, 1.0)
        hide = p.get_bool("filters/hide_unrelated", D["hide_unrelated"])
        pairs = p.get_bool("filters/all_pairs", D["all_pairs"])
        self.topk_spin.setValue(top_k)
        self.rel_thr.setValue(rel)
        self.obj_thr.setValue(obj)
        self.unrelated_box.setChecked(hide)
        self.pairs_box.setChecked(pairs)
        self.state.set_filters(top_k=top_k, rel_threshold=rel, obj_threshold=obj, hide_unrelated=hide,
                               all_pairs=pairs)
        self.state.mode = p.get_str("run/mode", "sgdet", MODES)
        self.act_gt.setChecked(p.get_bool("view/compare_gt", False))
        for key, a in (("view/show_boxes", self.act_show_boxes), ("view/show_tags", self.act_show_tags),
                       ("view/show_predicates", self.act_show_labels)):
            a.setChecked(p.get_bool(key, True))
        if self.weights is None:
            self.weights = p.get_str("model/weights", "") or None
        if self.device is None:
            d = p.get_str("model/device", "auto", ("auto", "cpu", "cuda"))
            self.device = None if d == "auto" else d
        for a in self.device_group.actions():
            a.setChecked(a.text() == (self.device or "auto"))

    def save_settings(self) -> None:
        p = self.prefs
        p.set("window/geometry", self.saveGeometry())
        p.set("window/state", self.saveState())
        p.set("window/splitter", self.split.saveState())
        p.set("filters/top_k", self.state.top_k)
        p.set("filters/rel_threshold", self.state.rel_threshold)
        p.set("filters/obj_threshold", self.state.obj_threshold)
        p.set("filters/hide_unrelated", self.state.hide_unrelated)
        p.set("filters/all_pairs", self.state.all_pairs)
        p.set("run/mode", self.state.mode)
        p.set("view/compare_gt", self.state.compare_gt)
        p.set("view/show_boxes", self.act_show_boxes.isChecked())
        p.set("view/show_tags", self.act_show_tags.isChecked())
        p.set("view/show_predicates", self.act_show_labels.isChecked())
        p.set("model/weights", self.weights or "")
        p.set("model/device", self.device or "auto")
        p.sync()

    def showEvent(self, ev) -> None:
        super().showEvent(ev)
        if not self._layout_restored and not getattr(self, "_docks_sized", False):
            self._docks_sized = True
            self.size_docks()

    def size_docks(self) -> None:
        """Dock sizes for the window's size, when it is first shown without a saved layout:
        the bottom docks take about a quarter of the height, the image list a sixth of the width, so
        that the image and the graph keep most of a small screen (1280 x 720)."""
        w, h = self.width(), self.height()
        self.resizeDocks([self.list_dock], [int(min(240, max(150, 0.16 * w)))], Qt.Orientation.Horizontal)
        need = self.time_panel.minimumSizeHint().height() + 4  # the time panel without scrolling, if it can
        self.resizeDocks([self.time_dock], [int(min(max(170, 0.25 * h, need), 0.4 * h, 320))], Qt.Orientation.Vertical)
        rest = max(400, w - self.list_dock.width())
        self.resizeDocks([self.time_dock, self.table_dock], [int(rest * 0.55), int(rest * 0.45)],
                         Qt.Orientation.Horizontal)

    def recent_files(self) -> list[str]:
        return self.recent.files()

    def closeEvent(self, ev) -> None:
        self.time_panel.set_playing(False)
        self.save_settings()
        self.io.close()
        self.engine.cancel()
        self.engine.shutdown(3000)
        super().closeEvent(ev)
        if self._gc_held:
            self._gc_held = False
            gui_gc.release()

    # ================================================================ model
    def load_model(self, weights: str | None = None, device: str | None = None) -> None:
        self.weights, self.device = (str(weights) if weights else None), device
        self.engine.load(self.weights, self.device)

    def choose_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load weights", self.prefs.get_dir("model/last_dir"),
                                              "Checkpoints (*.safetensors *.tar *.pth *.pt *.ckpt);;All files (*)")
        if path:
            self.prefs.set("model/last_dir", str(Path(path).parent))
            self.pick_model(path)

    def pick_model(self, path: str | Path, exec_dialog: bool = True) -> ModelPickerDialog:
        """Show the model card and header of ``path`` (read on an I/O thread) and load it when the user
        says so (napari / Netron: look before you load)."""
        dlg = ModelPickerDialog(path, parent=self)
        self.model_picker = dlg
        self.io.submit(model_summary, path, callback=lambda md, err: dlg.set_summary(md if err is None else
                                                                                      f"Cannot read {path}: {err}"))
        dlg.accepted.connect(lambda: self.load_model(str(path), self.device))
        if exec_dialog:
            dlg.open()
        return dlg

    def _set_model_label(self, text: str) -> None:
        self.model_label.setText(text)

    def _on_model_loaded(self, model, name: str, device: str) -> None:
        self.state.set_model(name, device, model.vocab, float(model.cfg.t_end))
        self._set_model_label(f"model: {name} · {device}")
        self.model_label.setToolTip(f"weights: {self.weights or 'default demo model'}")
        self.demo_notice.set_model(model, name)
        self.label_combo.clear()
        self.label_combo.addItems(list(model.vocab.classes[1:]))
        comp = QCompleter(list(model.vocab.classes[1:]), self.label_combo)
        comp.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        comp.setFilterMode(Qt.MatchFlag.MatchContains)
        self.label_combo.setCompleter(comp)
        self.statusBar().showMessage(f"Model ready: {name} on {device}", 5000)
        # ground truth needs the vocabulary; results of an older model are stale: look up ground truth
        # (I/O thread), then run each image again
        for e in self.state.entries:
            self._prepare(e, rerun=True)
        self._refresh_editing()

    def _on_model_failed(self, msg: str) -> None:
        self.state.model_error = msg
        self._set_model_label("model: failed to load")
        self.error("The model could not be loaded", msg + "\n\nUse Run ▸ Load weights… to pick another checkpoint, "
                   "or Run ▸ Use the default demo model.")

    # ================================================================ opening images
    def open_images_dialog(self) -> None:
        pats = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images", self.prefs.get_dir("files/last_dir"),
                                                f"Images ({pats});;All files (*)")
        if paths:
            self.prefs.set("files/last_dir", str(Path(paths[0]).parent))
            self.open_paths(paths)

    def open_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open folder", self.prefs.get_dir("files/last_dir"))
        if d:
            self.prefs.set("files/last_dir", d)
            self.open_paths([d])

    def open_paths(self, paths) -> list[ImageEntry]:
        """Add images (files or folders) to the list and queue them for inference (see
        :meth:`ImageOpener.open_paths`)."""
        return self.opener.open_paths(paths)

    def _prepare(self, e: ImageEntry, rerun: bool = False) -> None:
        self.opener.prepare(e, rerun)

    def dragEnterEvent(self, ev) -> None:
        if ev.mimeData().hasUrls() and any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()
        else:
            ev.ignore()

    def dragMoveEvent(self, ev) -> None:
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if paths:
            ev.acceptProposedAction()
            self.open_paths(paths)

    def remove_current(self) -> None:
        e = self.state.current
        if e is not None:
            self.engine.forget(e.eid)
            self.state.remove(e.eid)
            self._update_title()

    # ================================================================ running (RunQueue)
    def schedule(self, e: ImageEntry, mode: str | None = None) -> bool:
        """Queue inference for ``e`` (see :meth:`RunQueue.schedule`)."""
        ok = self.runs.schedule(e, mode)
        if e.eid == self.state.current_id:
            self._refresh_editing()
        return ok

    def rerun_current(self) -> None:
        self.runs.rerun_current()
        self._refresh_editing()

    def run_all(self) -> None:
        self.runs.run_all()
        self._refresh_editing()

    def cancel(self) -> None:
        self.runs.cancel()
        self.statusBar().showMessage("Cancelled", 3000)

    @property
    def _pending_request(self):
        return self.runs.pending_request

    def _on_result_begun(self, eid: int) -> None:
        if eid == self.state.current_id:
            self._update_run_labels()

    def _on_graph(self, eid: int, key) -> None:
        e = self.state.entry(eid)
        if e is None:
            return
        graph = e.graphs.get(key)
        if not e.layout or any(o.index not in e.layout for o in self.state.filter_graph(graph).objects):
            self._extend_layout(e, graph)
        if eid == self.state.current_id and key == self.state.time_key():
            self.redraw()

    def _on_busy(self, busy: bool) -> None:
        self._busy = busy
        self._update_progress()

    def _on_entry_changed(self, eid: int) -> None:
        self._update_progress()
        if eid == self.state.current_id:
            self._update_run_labels()
            e = self.state.current
            if e is not None and e.status in (FAILED, NEEDS_BOXES, QUEUED, RUNNING) and not e.has_result:
                self._show_placeholder(e)

    def _update_progress(self) -> None:
        entries = self.state.entries
        todo = [e for e in entries if e.status in (QUEUED, RUNNING)]
        cur = self.state.current
        decoding = cur is not None and cur.status == DONE and cur.progress[1] and cur.progress[0] < cur.progress[1]
        if todo:
            n_done = sum(1 for e in entries if e.status in (DONE, FAILED, CANCELLED))
            self.progress.setRange(0, len(entries))
            self.progress.setValue(n_done)
            self.progress.setFormat("images %v/%m")
            self.progress.show()
            self.cancel_btn.show()
        elif decoding:
            self.progress.setRange(0, cur.progress[1])
            self.progress.setValue(cur.progress[0])
            self.progress.setFormat("decoding t %v/%m")
            self.progress.show()
            self.cancel_btn.hide()
        else:
            self.progress.hide()
            self.cancel_btn.hide()

    def _update_run_labels(self) -> None:
        e = self.state.current
        if e is None or not e.info:
            self.time_label.setText("")
            self.nfe_label.setText("")
            return
        secs = e.info.get("seconds")
        mode = e.result_mode or e.mode
        self.time_label.setText(f"{MODE_TITLES.get(mode, mode)} · {secs:.2f} s/image" if secs is not None else "")
        nfe = e.info.get("nfe", {})
        self.nfe_label.setText(f"NFE O-ODE {nfe.get('object', 0)} · P-ODE {nfe.get('predicate', 0)}")
        self.nfe_label.setToolTip("Function evaluations of the object ODE and of the predicate ODE (solve at t_end's objects)")

    # ================================================================ exports (ExportController)
    def export_item(self, e: ImageEntry):
        return self.exporter.export_item(e)

    def export_to(self, fmt: str, path: str | Path) -> int | None:
        return self.exporter.export_to(fmt, path)

    def export_batch_to(self, folder: str | Path, formats: list[str]) -> int | None:
        return self.exporter.export_batch_to(folder, formats)

    @property
    def last_result(self):
        return self.exporter.last_result

    # ================================================================ current image and drawing
    def _on_current(self, eid: int) -> None:
        self.engine.set_current(eid)
        e = self.state.current
        self.demo_notice.set_image(e.path if e is not None else None)
        self._last_drawn = None
        self._load_current_image()
        self._update_title()
        self._update_run_labels()
        self._update_progress()
        self._refresh_editing()
        self.redraw()
        if e is not None and self.engine.model is not None and (
                (not e.has_result and (e.status == CANCELLED or (e.status == NEEDS_BOXES and self.state.mode == "sgdet")))
                or (e.result_mode and e.result_mode != self.state.mode and e.status not in (QUEUED, RUNNING))):
            self.schedule(e, self.state.mode)  # looking at it: run it (in the mode on screen)

    def _load_current_image(self) -> None:
        """Show the current image: from the cache, else read on an I/O thread (shown when read)."""
        e = self.state.current
        self._image_error = ""
        if e is None:
            self.image_view.set_image(None)
            return
        if self._image_cache is not None and self._image_cache[0] == e.path:
            self.image_view.set_image(self._image_cache[1])
            return
        self.image_view.set_image(None)
        self._image_loading = e.path
        self.io.submit(lambda p: np.asarray(load_image(p)), e.path,
                       callback=lambda arr, err, eid=e.eid, path=e.path: self._image_read(eid, path, arr, err))

    def _image_read(self, eid: int, path: Path, arr, err) -> None:
        if eid != self.state.current_id or getattr(self, "_image_loading", None) != path:
            return
        self._image_loading = None
        if err is not None:
            self._image_error = err
            self.image_view.set_image(None)
        else:
            self._image_cache = (path, arr)
            self.image_view.set_image(arr)
        self.redraw()

    def image_loaded(self) -> bool:
        """True when the current image is shown (or could not be read)."""
        return getattr(self, "_image_loading", None) is None

    def _show_placeholder(self, e: ImageEntry) -> None:
        if e.status == FAILED:
            self.image_view.set_message(f"✗ {e.name}\n{e.message}")
        elif self._image_error:
            self.image_view.set_message(f"✗ {e.name}\n{self._image_error}")
        elif e.status == NEEDS_BOXES:
            self.image_view.set_message("")
            self.graph_view.show_message(f"{MODE_TITLES[self.state.mode]} needs boxes: press B and drag on the image,\n"
                                         "or use Boxes ▸ GT boxes")
        elif e.status in (QUEUED, RUNNING):
            self.image_view.set_message("" if self.image_view._image_shape else "…")
            self.graph_view.show_message("running inference…" if e.status == RUNNING else
                                         ("waiting for the model…" if self.engine.model is None else "queued…"))

    def redraw(self) -> None:
        e = self.state.current
        if e is None:
            self.image_view.clear_boxes()
            self.graph_view.clear()
            self.graph_view.show_message("")
            self._tables_args = None
            self._tables_timer.stop()
            self.tables.set_graph(None)
            self.image_view.set_message("Drop images or folders here, or use File ▸ Open (Ctrl+O)")
            return
        self.image_view.set_message(f"✗ {e.name}\n{self._image_error}" if self._image_error else "")
        raw = self.state.raw_graph() if e.result_mode == self.state.mode else None
        note = ""
        if raw is None and e.has_result and e.result_mode == self.state.mode:
            key = self.state.time_key()
            self.runs.request(e, key)
            near = self.nearest_decoded(e, key)
            if near is None:
                return  # keep the previous drawing until the graph arrives
            raw = e.graphs[near]  # meanwhile the nearest decoded time, said so
            ts = e.times
            note = f"decoding t = {ts[key[0]]:.2f}… (showing t = {ts[near[0]]:.2f})"
        self.graph_view.set_note(note)
        if raw is None:
            self.image_view.clear_boxes()
            self.graph_view.clear()
            self._tables_args = None
            self._tables_timer.stop()
            self.tables.set_graph(None)
            self._show_placeholder(e)
            return
        g = self.state.filter_graph(raw)
        ref = None if self.state.is_at_t_end() else self.state.reference_graph()
        match = None
        gt = e.gt if (self.state.compare_gt and e.gt is not None) else None
        if gt is not None:
            try:
                match = match_ground_truth(g, gt)
            except NodisError as err:
                log.info("ground truth not comparable: %s", err)
                gt = None
        hl = self.state.highlighted_objects()
        shown = self._focus(g, hl) if self.state.hide_unrelated else g
        ghosts = None
        if ref is not None:
            now = {o.index for o in g.objects}
            ref_shown = self._focus(ref) if self.state.hide_unrelated else ref
            ghosts = [o for o in ref_shown.objects if o.index not in now]
        labels = self.stable_labels(e, g)
        self.image_view.set_graph(shown, reference=ref, highlight=hl, match=match, gt=gt, labels=labels,
                                  ghosts=ghosts)
        self.graph_view.set_graph(g, e.layout, hide_unrelated=self.state.hide_unrelated, reference=ref,
                                  highlight_objects=hl, selected_relations=self.state.selected_relations,
                                  match=match, gt=gt, fit_key=(e.eid, e.jid, gt is not None), labels=labels)
        self._tables_args = (g, ref, match, labels)
        if self._scrubbing:  # a scrub in progress: refresh the tables once the slider rests
            self._tables_timer.start()
        else:
            self._flush_tables()
        self._scrubbing = False
        self._last_drawn = g
        if self.image_view.shown_boxes() != (e.boxes or []) and self.state.mode != "sgdet":
            self._refresh_editing()

    @staticmethod
    def nearest_decoded(e: ImageEntry, key: tuple[int, int]):
        """The decoded grid key nearest to ``key`` (same object time for an unlinked pair), or None."""
        cands = [k for k in e.graphs if (k[0] == k[1]) == (key[0] == key[1])] or list(e.graphs)
        if not cands:
            return None
        return min(cands, key=lambda k: (abs(k[0] - key[0]) + abs(k[1] - key[1]), k))

    def _on_time_moved(self) -> None:
        now = time.monotonic()
        self._scrubbing = now - self._last_time_move < TABLES_SETTLE_MS / 1000.0
        self._last_time_move = now

    def _flush_tables(self) -> None:
        self._tables_timer.stop()
        if self._tables_args is None:
            return
        g, ref, match, labels = self._tables_args
        self._tables_args = None
        self.tables.set_graph(g, reference=ref, match=match, labels=labels)
        self.tables.show_selection(self.state.selected_objects, self.state.selected_relations)

    def stable_labels(self, e: ImageEntry, g) -> dict[int, str]:
        """Display names of the objects of ``g`` that never change once given (not while ``t`` moves,
        not while more times are decoded) and are the names in exported drawings. The first view
        numbers the classes with several objects by score ("table 1" is the best table); an object
        first seen later gets the next number of its class ("cloud 2")."""
        if g is None:
            return {}
        if e is None:
            return node_labels(g)
        names, counts = e.names, e.name_counts
        new = [o for o in g.objects if (o.index, o.name) not in names]
        if new:
            first = not names
            by_class: dict[str, list] = {}
            for o in sorted(new, key=lambda o: (-o.score, o.index)):
                by_class.setdefault(o.name, []).append(o)
            for name, objs in by_class.items():
                numbered = counts.get(name, 0) > 0 or (first and len(objs) > 1)
                for o in objs:
                    counts[name] = counts.get(name, 0) + 1
                    names[(o.index, o.name)] = f"{name} {counts[name]}" if numbered or counts[name] > 1 else name
        return {o.index: display_text(names[(o.index, o.name)]) for o in g.objects}

    @staticmethod
    def _focus(g, keep=()):
        """The objects of the shown relations (plus ``keep``); all objects when there are no relations."""
        if not g.relations:
            return g
        used = {r.subject for r in g.relations} | {r.object for r in g.relations} | set(keep)
        f = g.filtered()
        f.objects = [o for o in g.objects if o.index in used]
        return f

    def current_display_graph(self):
        """The filtered graph on screen (None while not decoded)."""
        return self.state.display_graph()

    def _node_spacing(self) -> tuple[float, float]:
        """A node's size on screen (about 110 x 40 px) in graph scene units at the current zoom."""
        try:
            px = self.graph_view.vb.viewPixelSize()
            k = float(max(px[0], px[1]))
        except Exception:
            k = 0.0
        if not (0.2 < k < 20):
            k = 1000.0 / max(300, self.graph_view.width())
        return 110.0 * k, 40.0 * k

    def _extend_layout(self, e: ImageEntry, graph) -> None:
        """Positions for the objects of ``graph`` not laid out yet (the first graph lays out all)."""
        g = self.state.filter_graph(graph)
        size = (max(300, self.graph_view.width()), max(240, self.graph_view.height()))
        if not e.layout:
            focus = focus_graph(g, self.state.top_k or None)
            gt = e.gt if e.gt is not None and len(np.asarray(e.gt.labels)) else None
            try:
                e.layout = compute_layout([focus], size=size, gt=gt)
            except NodisError:
                e.layout = compute_layout([focus], size=size)
        shown = self._focus(g) if self.state.hide_unrelated else g  # the nodes drawn, near their neighbours
        e.layout = compute_layout([shown, g], existing=e.layout, spacing=self._node_spacing())

    def relayout(self) -> None:
        e = self.state.current
        if e is None or not e.graphs:
            return
        keys = sorted(k for k in e.graphs if k[0] == k[1])
        pick = keys[:: max(1, len(keys) // 6)]
        gs = [focus_graph(self.state.filter_graph(e.graphs[k]), self.state.top_k or None) for k in pick]
        size = (max(300, self.graph_view.width()), max(240, self.graph_view.height()))
        gt = e.gt if e.gt is not None and len(np.asarray(e.gt.labels)) else None
        try:
            e.layout = compute_layout(gs, size=size, gt=gt)
        except NodisError:
            e.layout = compute_layout(gs, size=size)
        for g in e.graphs.values():
            e.layout = compute_layout([self.state.filter_graph(g)], existing=e.layout, spacing=self._node_spacing())
        self.graph_view._fitted_for = None
        self.redraw()

    def _node_moved(self, key, x: float, y: float) -> None:
        e = self.state.current
        if e is not None:
            e.layout[key] = (x, y)

    def _on_filters(self) -> None:
        for w, v in ((self.topk_spin, self.state.top_k), (self.rel_thr, self.state.rel_threshold),
                     (self.obj_thr, self.state.obj_threshold)):
            if w.value() != v:
                w.blockSignals(True)
                w.setValue(v)
                w.blockSignals(False)
        e = self.state.current
        if e is not None:
            for g in list(e.graphs.values())[:1]:
                self._extend_layout(e, g)
        self.redraw()

    def _on_selection(self) -> None:
        self.redraw()

    def _object_clicked(self, oid: int, additive: bool) -> None:
        if oid < 0:
            if not additive:
                self.state.clear_selection()
            return
        if additive and oid in self.state.selected_objects:
            self.state.select(objects=self.state.selected_objects - {oid}, relations=self.state.selected_relations)
        else:
            self.state.select(objects=[oid], add=additive)
        if self.state.mode == "predcls" and self.state.current is not None:
            e = self.state.current
            if 0 <= oid < len(e.labels) and self.state.vocab is not None:
                self.label_combo.setCurrentText(self.state.vocab.classes[e.labels[oid]])

    def _on_hover(self) -> None:
        """Something is hovered (a box, a node, a table row, a state-space path): its counterparts are
        highlighted everywhere, without redrawing."""
        ids = self.state.hovered_objects
        oid = next(iter(ids)) if len(ids) == 1 else -1
        self.image_view.set_hover(oid)
        self.graph_view.set_hover(oid)
        self.tables.set_hover(oid)

    def _object_hovered(self, oid: int) -> None:
        self.state.set_hovered([oid] if oid >= 0 else [])
        g = self._last_drawn
        if g is None or oid < 0:
            return
        try:
            o = g.object_by_index(oid)
        except KeyError:
            return
        self.statusBar().showMessage(f"#{o.index} {o.name}  score {o.score:.3f}", 3000)

    def fit(self) -> None:
        self.image_view.fit()
        self.graph_view.fit()

    def _time_last(self) -> None:
        ts = self.state.times()
        if ts is not None:
            self.state.set_time_index(gi_obj=len(ts) - 1, gi_rel=len(ts) - 1)

    def _update_title(self) -> None:
        e = self.state.current
        n = len(self.state.entries)
        if e is None:
            self.setWindowTitle("nodis-viewer")
        else:
            self.setWindowTitle(f"nodis-viewer — {e.name} [{self.state.row_of(e.eid) + 1}/{n}]")

    # ================================================================ modes and boxes (BoxEditor)
    def _on_mode(self, mode: str) -> None:
        i = MODES.index(mode)
        if self.mode_combo.currentIndex() != i:
            self.mode_combo.blockSignals(True)
            self.mode_combo.setCurrentIndex(i)
            self.mode_combo.blockSignals(False)
        self.mode_actions[mode].setChecked(True)
        editing = mode != "sgdet"
        for a in self.box_actions:
            a.setEnabled(editing)
        self.label_action.setVisible(mode == "predcls")
        if not editing:
            self.act_draw.setChecked(False)
        if self.engine.model is not None:
            # every image follows the mode on screen (the current one first): a result of another mode
            # is never shown or exported under this mode's name
            self.runs.run_all(only_stale=True)
        self._refresh_editing()
        self.redraw()

    def _refresh_editing(self) -> None:
        e = self.state.current
        editing = e is not None and self.state.mode != "sgdet"
        boxes = e.boxes if editing else None
        if self.image_view.shown_boxes() != (boxes or []):
            self.image_view.set_editable_boxes(boxes)

    def _on_boxes_edited(self, eid: int) -> None:
        if eid == self.state.current_id:
            self._refresh_editing()
            e = self.state.current
            if e is not None and not e.boxes:
                self.redraw()

    def _current_label(self) -> int:
        v = self.state.vocab
        if v is None:
            return 1
        name = self.label_combo.currentText().strip()
        try:
            return v.class_index(name)
        except NodisError:
            return 1

    def _label_picked(self, *_):
        if self.state.current is not None and self.state.mode == "predcls":
            self.boxes.relabel_selected(self._current_label())
        self._focus_views()

    def _label_entered(self) -> None:
        """Enter in the label box: use the label (when it names a class) and give the keyboard back."""
        v = self.state.vocab
        name = self.label_combo.currentText().strip()
        if v is not None and name:
            try:
                idx = v.class_index(name)
            except NodisError:
                self.statusBar().showMessage(f"'{name}' is not a class of this model", 4000)
                return
            self.label_combo.setCurrentText(v.classes[idx])
            self._label_picked()
        self._focus_views()

    def _focus_views(self) -> None:
        """Keyboard focus back to the image, so single-key shortcuts work again."""
        self.image_view.gv.setFocus(Qt.FocusReason.OtherFocusReason)

    def eventFilter(self, obj, ev) -> bool:
        if obj in (getattr(self, "_label_edit", None), getattr(self, "search", None)) and obj is not None \
                and ev.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) and ev.key() == Qt.Key.Key_Escape:
            if ev.type() == QEvent.Type.ShortcutOverride:
                ev.accept()  # Esc is for the label box here, not "clear the selection"
                return False
            self._focus_views()
            return True
        return super().eventFilter(obj, ev)

    def relabel_dialog(self, oid: int) -> None:
        """Context menu ▸ Relabel…: select the box and put the cursor in the label box (type, Enter)."""
        self.state.select(objects=[oid])
        e = self.state.current
        if e is not None and 0 <= oid < len(e.labels) and self.state.vocab is not None:
            self.label_combo.setCurrentText(self.state.vocab.classes[e.labels[oid]])
        le = self.label_combo.lineEdit()
        le.setFocus(Qt.FocusReason.PopupFocusReason)
        le.selectAll()
        self.statusBar().showMessage("Type a label and press Enter (Esc: keep it)", 6000)

    # ================================================================ context menus, clipboard
    def _popup(self, menu: QMenu, pos) -> QMenu:
        self.last_menu = menu
        menu.popup(pos)
        return menu

    def object_menu(self, oid: int) -> QMenu:
        """What a right-click on an object (box or node) offers."""
        m = QMenu(self)
        g = self._last_drawn
        name = self.stable_labels(self.state.current, g).get(oid, f"#{oid}") if g is not None else f"#{oid}"
        m.addSection(name)
        m.addAction("Show in graph", lambda: self.show_in_graph(oid))
        m.addAction("Copy triplets", lambda: self.copy_triplets(objects={oid}))
        editing = self.state.mode != "sgdet" and self.state.current is not None and oid < len(self.state.current.boxes)
        a = m.addAction("Relabel…", lambda: self.relabel_dialog(oid))
        a.setEnabled(editing and self.state.mode == "predcls")
        a = m.addAction("Delete box", lambda: self.boxes.remove(oid))
        a.setEnabled(editing)
        return m

    def _image_context(self, oid: int, pos) -> None:
        if oid >= 0:
            self._object_clicked(oid, False)
            self._popup(self.object_menu(oid), pos)
            return
        m = QMenu(self)
        for a in (self.act_fit, self.act_draw, self.act_gt_boxes, self.act_copy):
            m.addAction(a)
        self._popup(m, pos)

    def _graph_context(self, key, pos) -> None:
        if isinstance(key, int):
            self._object_clicked(key, False)
            self._popup(self.object_menu(key), pos)
        elif isinstance(key, tuple) and key and key[0] == "edge":
            s, o = key[1], key[2]
            self.state.select(relations=[(s, o)])
            m = QMenu(self)
            m.addAction("Copy triplet", lambda: self.copy_triplets(relations={(s, o)}))
            m.addAction("Show subject in image", lambda: self.show_in_image(s))
            m.addAction("Show object in image", lambda: self.show_in_image(o))
            self._popup(m, pos)
        else:
            m = QMenu(self)
            m.addAction("Fit", self.graph_view.fit)
            m.addAction("Re-layout", self.relayout)
            m.addAction(self.act_copy)
            self._popup(m, pos)

    def show_in_graph(self, oid: int) -> None:
        self.state.select(objects=[oid])
        self.graph_view.center_on(oid)

    def show_in_image(self, oid: int) -> None:
        self.state.select(objects=[oid])
        self.image_view.center_on(oid)

    def triplet_rows(self, objects=None, relations=None) -> list[tuple[str, str, str, float]]:
        """(subject, predicate, object, score) of the shown relations: those in ``relations``, else those
        touching ``objects``, else the selected ones, else all shown — with the names on screen."""
        g = self._last_drawn
        e = self.state.current
        if g is None or e is None:
            return []
        if relations is None and objects is None:
            relations, objects = self.state.selected_relations, self.state.selected_objects
        rels = list(g.relations)
        if relations:
            rels = [r for r in rels if (r.subject, r.object) in relations]
        elif objects:
            rels = [r for r in rels if r.subject in objects or r.object in objects]
        names = self.stable_labels(e, g)
        return [(names.get(r.subject, str(r.subject)), r.name, names.get(r.object, str(r.object)), float(r.score))
                for r in rels]

    def copy_triplets(self, objects=None, relations=None) -> str:
        """Copy triplets (see :meth:`triplet_rows`) to the clipboard as tab-separated lines."""
        rows = self.triplet_rows(objects, relations)
        text = "".join(f"{s}\t{p}\t{o}\t{sc:.4f}\n" for s, p, o, sc in rows)
        QApplication.clipboard().setText(text)
        self.statusBar().showMessage(f"Copied {len(rows)} triplet(s)", 3000)
        return text

    def remove_box(self, k: int) -> None:
        self.boxes.remove(k)

    def remove_selected_boxes(self) -> None:
        self.boxes.remove_selected()

    def clear_boxes(self) -> None:
        self.boxes.clear()

    def use_gt_boxes(self) -> None:
        self.boxes.use_gt()

    def use_detection_boxes(self) -> None:
        self.boxes.use_detections(self._last_drawn)

    # ================================================================ node search, cursor, ground truth
    def focus_search(self) -> None:
        """Ctrl+F: the node search box gets the keyboard."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def find_nodes(self, text: str, step: int = 0) -> list[int]:
        """Select the shown objects whose display name contains ``text`` (case-insensitive) and bring
        the ``step``-th next one into the middle of the graph. Returns the matches."""
        e, g = self.state.current, self._last_drawn
        text = (text or "").strip().lower()
        if e is None or g is None or not text:
            self._found = []
            return []
        names = self.stable_labels(e, g)
        found = [o.index for o in sorted(g.objects, key=lambda o: names.get(o.index, "")) if text in names[o.index].lower()]
        if found != getattr(self, "_found", None):
            self._found, self._found_at = found, 0
        elif step:
            self._found_at = (self._found_at + step) % len(found)
        if found:
            self.state.select(objects=found)
            key = found[self._found_at % len(found)]
            self.graph_view.center_on(key)
            self.statusBar().showMessage(f"{len(found)} object(s) match '{text}' · {names[key]}", 4000)
        else:
            self.statusBar().showMessage(f"No object named like '{text}'", 3000)
        return found

    _cursor = (0.0, 0.0, False)

    def _cursor_moved(self, x: float, y: float, inside: bool) -> None:
        self._cursor = (x, y, inside)
        zoom = f"{self.image_view.zoom_percent():.0f}%"
        self.cursor_label.setText(f"x {int(x)}  y {int(y)} · {zoom}" if inside else zoom)

    def ground_truth_graph(self, e: ImageEntry | None = None):
        """The image's given boxes (or, in SGDet, the shown objects) with their labels and the relations
        shown now among them, as a scene graph to be saved as ground truth (scores 1)."""
        from nodis.graph import ObjectNode, Relation, SceneGraph

        e = e or self.state.current
        if e is None or self.state.vocab is None:
            return None
        v = self.state.vocab
        g = self._last_drawn
        shown = {o.index: o for o in g.objects} if g is not None else {}
        if e.boxes:
            labels = [e.labels[k] if k < len(e.labels) and self.state.mode == "predcls"
                      else (shown[k].label if k in shown else 0) for k in range(len(e.boxes))]
            items = [(k, b, lab) for k, (b, lab) in enumerate(zip(e.boxes, labels)) if lab > 0]
        else:
            items = [(o.index, list(o.box), o.label) for o in (g.objects if g is not None else [])]
        if not items:
            return None
        new_id = {k: n for n, (k, _, _) in enumerate(items)}
        objs = [ObjectNode(new_id[k], tuple(float(x) for x in b), int(lab), v.classes[int(lab)], 1.0)
                for k, b, lab in items]
        rels = [Relation(new_id[r.subject], new_id[r.object], r.predicate, r.name, 1.0, 1.0)
                for r in (g.relations if g is not None else []) if r.subject in new_id and r.object in new_id]
        size = tuple(g.image_size) if g is not None else (int(self.image_view._image_shape[1]), int(self.image_view._image_shape[0]))
        return SceneGraph(objs, rels, size, mode="gt", image=str(e.path), class_names=list(v.classes),
                          predicate_names=list(v.predicates))

    def save_ground_truth(self, path: str | Path | None = None) -> Path | None:
        """Write :meth:`ground_truth_graph` as nodis JSON (default ``<stem>.gt.json`` beside the image,
        which the viewer reads back as this image's ground truth) and use it at once."""
        from nodis.export import atomic_write_text

        e = self.state.current
        g = self.ground_truth_graph(e)
        if g is None:
            self.error("Nothing to save", "Give the image boxes (and labels) first: PredCls or SGCls, draw or edit boxes.")
            return None
        path = Path(path) if path else e.path.with_name(e.path.stem + ".gt.json")
        try:
            atomic_write_text(path, g.to_json())
        except (OSError, NodisError) as err:
            self.error("Could not save the ground truth", f"{path}: {err}")
            return None
        self.statusBar().showMessage(f"Saved {len(g.objects)} objects and {len(g.relations)} relations to {path.name}", 6000)
        e.gt, e.gt_source, e.gt_error = None, "", ""
        self._prepare(e, rerun=True)  # read back (as any ground truth) and run again with it
        return path

    def save_ground_truth_dialog(self) -> None:
        e = self.state.current
        if e is None:
            return
        default = e.path.with_name(e.path.stem + ".gt.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save boxes as ground truth", str(default),
                                              "nodis ground truth (*.gt.json);;All files (*)")
        if path:
            self.save_ground_truth(path)

    # ================================================================ dialogs
    def error(self, title: str, msg: str) -> None:
        """Report a problem and carry on (a message box, or the status bar when ``quiet``)."""
        self.last_error = f"{title}: {msg}"
        log.warning("%s: %s", title, msg)
        if self.quiet or os.environ.get("NODIS_VIEWER_QUIET"):
            self.statusBar().showMessage(f"{title}: {msg.splitlines()[0] if msg else ''}", 10000)
            return
        QMessageBox.warning(self, title, msg)

    def set_scheme(self, scheme: str) -> None:
        """The canvases (image, graph, time and state-space plots) in the colours of ``scheme``
        ('light' / 'dark'); the widgets follow the application palette (``main.apply_palette``)."""
        theme = theme_for(scheme)
        for view in (self.image_view, self.graph_view, self.time_panel, self.state_space):
            view.apply_theme(theme)
        for table in (self.tables.obj_view, self.tables.rel_view):  # amber and hover tints of the rows
            table.viewport().update()
        self.redraw()

    def show_shortcuts(self) -> None:
        ShortcutsDialog(self).exec()

    def show_about(self) -> None:
        AboutDialog(self.state.model_name, self.state.model_device, self.weights, self,
                    demo_note=self.demo_notice.about_text()).exec()
