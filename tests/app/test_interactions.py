"""What a user does with the mouse and the keyboard: each test drives the real widgets with real
events (QTest mouse / key events, QMimeData drops) and checks what the viewer then shows."""
import json
import os

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QHelpEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu, QPushButton, QToolTip

from .conftest import drop_paths, wait_done

L, R = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton


def activate(qtbot, w):
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=3000)


def view_point(view, x: float, y: float) -> QPoint:
    """Viewport pixel of the view coordinate (x, y) (image pixels / graph scene units)."""
    return view.gv.mapFromScene(view.vb.mapViewToScene(QPointF(x, y)))


def box_point(w, oid: int) -> QPoint:
    o = next(o for o in w.image_view._objects if o.index == oid)
    return view_point(w.image_view, (o.box[0] + o.box[2]) / 2, (o.box[1] + o.box[3]) / 2)


def smallest_object(w):
    return min(w.image_view._objects, key=lambda o: (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]))


def open_and_wait(qtbot, w, paths, decoded=False):
    w.open_paths(paths)
    e = wait_done(qtbot, w, decoded=decoded)
    qtbot.waitUntil(w.image_loaded, timeout=5000)
    w.image_view.fit()
    QTest.qWait(50)
    return e


def popup_menu() -> QMenu | None:
    m = QApplication.activePopupWidget()
    return m if isinstance(m, QMenu) else None


def test_box_tooltip_stays_while_the_pointer_rests(qtbot, make_window, noise_image):
    w = make_window()
    open_and_wait(qtbot, w, [noise_image])
    activate(qtbot, w)
    o = smallest_object(w)
    vp = w.image_view.gv.viewport()
    p = box_point(w, o.index)
    QTest.mouseMove(vp, p)
    qtbot.waitUntil(QToolTip.isVisible, timeout=3000)
    assert f"#{o.index} {o.name}" in QToolTip.text() and "background" in QToolTip.text()  # top-5 classes
    # Qt asks the view for its tooltip when the pointer has rested 0.7 s: the box's stays up
    QApplication.sendEvent(vp, QHelpEvent(QEvent.Type.ToolTip, p, vp.mapToGlobal(p)))
    QTest.qWait(1500)
    assert QToolTip.isVisible() and f"#{o.index} {o.name}" in QToolTip.text()
    # off the boxes, nothing to show
    QTest.mouseMove(vp, QPoint(2, 2))
    QApplication.sendEvent(vp, QHelpEvent(QEvent.Type.ToolTip, QPoint(2, 2), vp.mapToGlobal(QPoint(2, 2))))
    qtbot.waitUntil(lambda: not QToolTip.isVisible(), timeout=3000)


@pytest.mark.parametrize("mode", ["sgcls", "predcls"])
def test_click_delete_and_undo_given_boxes(qtbot, make_window, scene_with_gt, mode):
    w = make_window()
    w.state.set_mode(mode)
    e = open_and_wait(qtbot, w, [scene_with_gt])
    assert e.boxes_from_gt and len(w.image_view.rois) == len(e.boxes)
    activate(qtbot, w)
    o = smallest_object(w)
    qtbot.mouseClick(w.image_view.gv.viewport(), L, pos=box_point(w, o.index))
    qtbot.waitUntil(lambda: w.state.selected_objects == {o.index}, timeout=2000)
    assert w.image_view.box_pens()[o.index].widthF() > 2.0  # drawn highlighted
    n = len(e.boxes)
    removed = list(e.boxes[o.index])
    QTest.keyClick(w, Qt.Key.Key_Delete)
    assert len(e.boxes) == n - 1 and removed not in e.boxes
    assert len(w.image_view.rois) == n - 1
    QTest.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo
    assert len(e.boxes) == n and e.boxes[o.index] == removed
    QTest.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)  # redo
    assert len(e.boxes) == n - 1
    QTest.keyClick(w, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)  # nothing left to redo
    assert len(e.boxes) == n - 1
    # the image runs again on the edited boxes
    qtbot.waitUntil(lambda: e.status == "done" and e.has_result and len(w.state.raw_graph().objects) == n - 1,
                    timeout=30000)


def test_right_click_menus_are_the_viewers(qtbot, make_window, scene_with_gt):
    w = make_window()
    w.state.set_mode("predcls")
    e = open_and_wait(qtbot, w, [scene_with_gt])
    activate(qtbot, w)
    o = smallest_object(w)
    vp = w.image_view.gv.viewport()
    qtbot.mouseClick(vp, R, pos=box_point(w, o.index))
    qtbot.waitUntil(lambda: popup_menu() is not None, timeout=2000)
    menu = popup_menu()
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts[:1] == [w.stable_labels(e, w._last_drawn)[o.index]]  # a section naming the object
    assert {"Show in graph", "Copy triplets", "Relabel…", "Delete box"} <= set(texts)
    assert not any("ROI" in t or "Export" in t for t in texts)  # not pyqtgraph's menu
    assert w.state.selected_objects == {o.index}
    # Relabel…: the label box gets the keyboard; type a class, Enter; the box is relabelled
    relabel = next(a for a in menu.actions() if a.text() == "Relabel…")
    menu.close()
    relabel.trigger()
    le = w.label_combo.lineEdit()
    qtbot.waitUntil(le.hasFocus, timeout=2000)
    target = next(c for c in w.state.vocab.classes[1:] if w.state.vocab.class_index(c) != e.labels[o.index])
    QTest.keyClicks(le, target)
    QTest.keyClick(le, Qt.Key.Key_Return)
    assert e.labels[o.index] == w.state.vocab.class_index(target)
    assert not le.hasFocus()
    # Delete box from the menu
    n = len(e.boxes)
    qtbot.mouseClick(vp, R, pos=box_point(w, o.index))
    qtbot.waitUntil(lambda: popup_menu() is not None, timeout=2000)
    delete = next(a for a in popup_menu().actions() if a.text() == "Delete box")
    popup_menu().close()
    delete.trigger()
    assert len(e.boxes) == n - 1
    # on a graph node: the same menu; on an edge label: copy the triplet
    qtbot.waitUntil(lambda: e.status == "done" and w.state.raw_graph() is not None
                    and len(w.state.raw_graph().objects) == n - 1 and bool(w.graph_view.edges), timeout=30000)
    QTest.qWait(50)
    gv = w.graph_view
    gv.fit()
    QTest.qWait(50)
    key, node = next((k, nd) for k, nd in gv.nodes.items() if isinstance(k, int))
    qtbot.mouseClick(gv.gv.viewport(), R, pos=gv.gv.mapFromScene(node.mapToScene(0, 0)))
    qtbot.waitUntil(lambda: popup_menu() is not None, timeout=2000)
    assert "Show in graph" in [a.text() for a in popup_menu().actions()]
    popup_menu().close()
    edge = next(ed for ed in gv.edges if ed.key is not None)
    qtbot.mouseClick(gv.gv.viewport(), R, pos=gv.gv.mapFromScene(edge.label.mapToScene(0, 0)))
    qtbot.waitUntil(lambda: popup_menu() is not None, timeout=2000)
    copy = next(a for a in popup_menu().actions() if a.text() == "Copy triplet")
    popup_menu().close()
    copy.trigger()
    s, ob = edge.key
    names = w.stable_labels(e, w._last_drawn)
    line = QApplication.clipboard().text().splitlines()
    assert len(line) == 1 and line[0].split("\t")[:3] == [names[s], edge.label.text, names[ob]]


def test_ctrl_c_copies_the_selected_triplets(qtbot, make_window, noise_image):
    w = make_window()
    e = open_and_wait(qtbot, w, [noise_image])
    activate(qtbot, w)
    g = w._last_drawn
    QTest.keyClick(w, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)  # nothing selected: every shown one
    rows = [ln.split("\t") for ln in QApplication.clipboard().text().splitlines()]
    assert len(rows) == len(g.relations) > 0
    r = g.relations[0]
    names = w.stable_labels(e, g)
    assert rows[0][:3] == [names[r.subject], r.name, names[r.object]] and float(rows[0][3]) == pytest.approx(r.score, abs=1e-4)
    # select one relation with a click on its predicate label, then Ctrl+C
    gv = w.graph_view
    edge = next(ed for ed in gv.edges if ed.key == (r.subject, r.object))
    qtbot.mouseClick(gv.gv.viewport(), L, pos=gv.gv.mapFromScene(edge.label.mapToScene(0, 0)))
    qtbot.waitUntil(lambda: w.state.selected_relations == {(r.subject, r.object)}, timeout=2000)
    QTest.keyClick(w, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.clipboard().text().splitlines() == ["\t".join(rows[0])]


def test_typing_a_label_gives_the_keyboard_back(qtbot, make_window, make_noise):
    w = make_window()
    w.state.set_mode("predcls")
    w.open_paths([make_noise("a.png", 1), make_noise("b.png", 2)])
    activate(qtbot, w)
    first = w.state.current_id
    le = w.label_combo.lineEdit()
    qtbot.mouseClick(le, L)
    qtbot.waitUntil(le.hasFocus, timeout=2000)
    le.selectAll()
    QTest.keyClicks(le, "dog")
    QTest.keyClick(le, Qt.Key.Key_Return)
    assert w.label_combo.currentText() == "dog" and not le.hasFocus()
    QTest.keyClick(QApplication.focusWidget() or w, Qt.Key.Key_D)  # a shortcut, not text
    assert w.state.current_id != first and w.label_combo.currentText() == "dog"
    # Esc in the label box also gives the keyboard back
    qtbot.mouseClick(le, L)
    qtbot.waitUntil(le.hasFocus, timeout=2000)
    QTest.keyClick(le, Qt.Key.Key_Escape)
    assert not le.hasFocus()
    QTest.keyClick(QApplication.focusWidget() or w, Qt.Key.Key_A)
    assert w.state.current_id == first


def test_mode_switch_never_shows_or_exports_another_modes_result(qtbot, make_window, scene_with_gt, make_noise,
                                                                  tmp_path):
    other = tmp_path / "other.jpg"
    import shutil

    shutil.copy(scene_with_gt, other)
    shutil.copy(tmp_path / "scene.gt.json", tmp_path / "other.gt.json")
    w = make_window()
    w.open_paths([scene_with_gt, other])
    a, b = w.state.entries
    for e in (a, b):
        wait_done(qtbot, w, e, decoded=False)
    assert a.result_mode == b.result_mode == "sgdet"
    activate(qtbot, w)
    QTest.keyClick(w, Qt.Key.Key_3)  # PredCls
    assert w.state.mode == "predcls"
    # the other image's SGDet result is gone at once, not shown as PredCls
    assert not b.has_result and b.status in ("queued", "running") and b.mode == "predcls"
    drawn = []
    w.graph_view.set_graph = (lambda f: (lambda g, *a, **k: (drawn.append(g.mode), f(g, *a, **k))))(w.graph_view.set_graph)
    row = w.image_list.list.visualItemRect(w.image_list.list.item(1)).center()
    qtbot.mouseClick(w.image_list.list.viewport(), L, pos=row)
    assert w.state.current_id == b.eid
    qtbot.waitUntil(lambda: b.status == "done" and b.result_mode == "predcls" and b.has_result, timeout=30000)
    qtbot.waitUntil(lambda: w._last_drawn is not None and w._last_drawn.mode == "predcls", timeout=5000)
    assert drawn and set(drawn) == {"predcls"}
    assert "PredCls" in w.image_list.row_texts()[1]
    qtbot.waitUntil(lambda: a.result_mode == "predcls" and a.status == "done", timeout=30000)
    out = tmp_path / "out"
    with qtbot.waitSignal(w.exporter.finished, timeout=60000):
        w.exporter.export_batch_to(out, ["json"], show_progress=False)
    modes = {json.loads(p.read_text())["mode"] for p in out.glob("*.json")}
    assert modes == {"predcls"} and len(list(out.glob("*.json"))) == 2


def test_needs_boxes_message_names_the_mode_on_screen(qtbot, make_window, noise_image):
    w = make_window()
    activate(qtbot, w)
    QTest.keyClick(w, Qt.Key.Key_3)
    w.open_paths([noise_image])
    e = w.state.current
    qtbot.waitUntil(lambda: e.status == "needs boxes", timeout=5000)
    assert w.graph_view.empty_text.toPlainText().startswith("PredCls needs boxes")
    QTest.keyClick(w, Qt.Key.Key_2)
    qtbot.waitUntil(lambda: w.graph_view.empty_text.toPlainText().startswith("SGCls needs boxes"), timeout=5000)


def test_svg_export_has_arrowheads(qtbot, make_window, scene_with_gt, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from tests.test_render import svg_arrows_and_boxes

    w = make_window()
    open_and_wait(qtbot, w, [scene_with_gt])
    path = tmp_path / "g.svg"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    with qtbot.waitSignal(w.exporter.finished, timeout=60000):
        w.export_actions["svg"].trigger()  # File ▸ Export ▸ Graph drawing (SVG)…
    tips, boxes = svg_arrows_and_boxes(path.read_bytes())
    assert tips and boxes
    for tip in tips:
        assert not [b for b in boxes if b[0] + 0.5 < tip[0] < b[2] - 0.5 and b[1] + 0.5 < tip[1] < b[3] - 0.5]


def test_vg_export_reads_back_as_ground_truth(qtbot, make_window, make_noise, tmp_path):
    """A batch VG export names each image, so the viewer's own loader finds each entry again."""
    from nodis_viewer.gt import find_ground_truth

    w = make_window()
    a, b = make_noise("a.png", 1), make_noise("b.png", 2)
    w.open_paths([a, b])
    for e in list(w.state.entries):
        wait_done(qtbot, w, e, decoded=False)
    out = tmp_path / "vg"
    with qtbot.waitSignal(w.exporter.finished, timeout=60000):
        w.exporter.export_batch_to(out, ["vg"], show_progress=False)
    data = json.loads((out / "scene_graphs.json").read_text())
    assert [d["image"] for d in data] == ["a.png", "b.png"]
    v = w.state.vocab
    for e, entry in zip(w.state.entries, data):
        os.link(e.path, out / e.path.name)
        gt, src = find_ground_truth(out / e.path.name, v.classes, v.predicates)
        assert src == "scene_graphs.json" and len(gt.labels) == len(entry["objects"])


def test_light_palette_keeps_the_image_list_readable(qtbot, make_window, make_noise):
    from nodis_viewer.main import apply_palette

    app = QApplication.instance()
    try:
        apply_palette(app, "light")  # what --light / --theme light / a light desktop give
        w = make_window()
        w.open_paths([make_noise("a.png", 1), make_noise("b.png", 2)])
        wait_done(qtbot, w, w.state.entries[1], decoded=False)
        lst = w.image_list.list
        it = lst.item(1)  # not the current row (that one is drawn in the highlight colours)
        fg = it.foreground().color() if it.foreground().style() != Qt.BrushStyle.NoBrush else lst.palette().text().color()
        bg = lst.palette().base().color()
        assert contrast(fg, bg) >= 4.5, (fg.name(), bg.name())
        r = lst.visualItemRect(it)
        img = lst.viewport().grab().toImage()  # the row's text is drawn: dark pixels on the light list
        text_x = r.left() + lst.iconSize().width() + 8
        dark = sum(1 for x in range(text_x, min(r.right(), text_x + 120)) for y in range(r.top(), r.bottom())
                   if img.pixelColor(x, y).lightness() < 110)
        assert dark > 30
    finally:
        apply_palette(app, "dark")


def contrast(a, b) -> float:
    def lum(c):
        def ch(v):
            v = v / 255
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * ch(c.red()) + 0.7152 * ch(c.green()) + 0.0722 * ch(c.blue())

    la, lb = sorted((lum(a), lum(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_small_screen_leaves_room_for_the_image_and_the_graph(qtbot):
    from nodis_viewer.window import MainWindow

    w = MainWindow(load=False)
    qtbot.addWidget(w)
    w.resize(1280, 720)
    w.show()
    QTest.qWait(100)
    assert w.image_view.height() >= 0.53 * 720 and w.graph_view.height() >= 0.5 * 720  # was 320 px
    assert w.image_view.width() >= 500 and w.graph_view.width() >= 400
    w.close()


def test_batch_export_shows_progress_and_cancels(qtbot, make_window, make_noise, tmp_path, monkeypatch):
    import threading

    import nodis_viewer.exporting as exporting

    w = make_window()
    w.open_paths([make_noise(f"{k}.png", k) for k in range(4)])
    for e in list(w.state.entries):
        wait_done(qtbot, w, e, decoded=False)
    gate = threading.Event()
    real = exporting.export.save_formats

    def slow(graph, *a, **k):  # the second image waits until the test has pressed Cancel
        if "1" in str(a[0].name):
            gate.wait(20)
        return real(graph, *a, **k)

    monkeypatch.setattr(exporting.export, "save_formats", slow)
    out = tmp_path / "batch"
    w.exporter.export_batch_to(out, ["json", "vg"])
    dlg = w.exporter.progress_dialog
    assert dlg is not None and dlg.isVisible() and dlg.maximum() == 4
    qtbot.waitUntil(lambda: dlg.value() >= 1, timeout=30000)
    button = next(b for b in dlg.findChildren(QPushButton) if b.text() == "Cancel")
    with qtbot.waitSignal(w.exporter.finished, timeout=30000) as sig:
        qtbot.mouseClick(button, L)
        QTimer.singleShot(100, gate.set)
    rep = sig.args[0]
    assert rep.cancelled and rep.done == 2
    assert sorted(p.name for p in out.iterdir()) == ["0.json", "1.json"]  # complete files only, no VG file
    assert w.exporter.progress_dialog is None and "cancelled" in w.statusBar().currentMessage()


def test_corrupt_ground_truth_and_fifo_are_per_image_errors(qtbot, make_window, noise_image, tmp_path):
    deep = tmp_path / "deep.png"
    deep.write_bytes(noise_image.read_bytes())
    (tmp_path / "deep.gt.json").write_text("[" * 100000 + "]" * 100000)
    fifo = tmp_path / "x.jpg"
    os.mkfifo(fifo)
    w = make_window()
    assert drop_paths(w, [fifo, deep])
    e_fifo, e_deep = w.state.entries
    # the GUI thread never blocks on the FIFO: it keeps handling events while the images run
    ticks = []
    t = QTimer()
    t.timeout.connect(lambda: ticks.append(1))
    t.start(20)
    qtbot.waitUntil(lambda: e_fifo.status == "failed", timeout=30000)
    assert "FIFO" in e_fifo.message and "failed" in w.image_list.row_texts()[0]
    qtbot.waitUntil(w.image_loaded, timeout=5000)
    assert "x.jpg" in w.image_view.message.text()
    wait_done(qtbot, w, e_deep, decoded=False)  # runs, without ground truth, and says why
    assert e_deep.gt is None and "nested too deeply" in e_deep.gt_error
    assert "GT unreadable" in w.image_list.row_texts()[1]
    t.stop()
    assert len(ticks) > 5
