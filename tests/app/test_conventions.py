"""What users of napari, labelme and Netron expect, driven with real keys and clicks: node search,
cursor and zoom in the status bar, show/hide toggles, the desktop's light/dark scheme, a model picker
that shows the model card before loading, and edited boxes saved as ground truth the viewer reads back.
(Undo/redo and Ctrl+C are in test_interactions.py.)"""
import json

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog

from .conftest import wait_done
from .test_interactions import L, activate, open_and_wait
from .test_viewer import drag_on_view


def test_node_search(qtbot, make_window, scene_with_gt):
    w = make_window()
    w.obj_thr.setValue(0.0)
    e = open_and_wait(qtbot, w, [scene_with_gt])
    activate(qtbot, w)
    names = w.stable_labels(e, w._last_drawn)
    target = sorted(names.values())[0]
    part = target.split()[0][:3]
    QTest.keyClick(w, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(w.search.hasFocus, timeout=2000)
    QTest.keyClicks(w.search, part)
    want = {k for k, n in names.items() if part.lower() in n.lower()}
    assert want and w.state.selected_objects == want
    center = w.graph_view.vb.viewRect().center()
    first = w._found[0]
    p = w.graph_view.nodes[first].pos()
    assert abs(p.x() - center.x()) < 1 and abs(p.y() - center.y()) < 1  # brought into the middle
    if len(want) > 1:
        QTest.keyClick(w.search, Qt.Key.Key_Return)  # Enter: the next match
        p2 = w.graph_view.nodes[w._found[1]].pos()
        c2 = w.graph_view.vb.viewRect().center()
        assert abs(p2.x() - c2.x()) < 1
    QTest.keyClick(w.search, Qt.Key.Key_Escape)
    assert not w.search.hasFocus()
    QTest.keyClicks(w.search, "zzzz")  # nothing by that name: the selection stays
    assert w.state.selected_objects == want


def test_status_bar_shows_cursor_pixel_and_zoom(qtbot, make_window, noise_image):
    w = make_window()
    open_and_wait(qtbot, w, [noise_image])
    activate(qtbot, w)
    vp = w.image_view.gv.viewport()
    from .test_interactions import view_point

    QTest.mouseMove(vp, view_point(w.image_view, 100.4, 60.7))
    qtbot.waitUntil(lambda: w.cursor_label.text().startswith("x 100  y 60"), timeout=3000)
    z0 = w.image_view.zoom_percent()
    assert w.cursor_label.text().endswith(f"· {z0:.0f}%")
    QTest.keyClick(w, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)  # zoom in
    qtbot.waitUntil(lambda: w.image_view.zoom_percent() > z0 * 1.2, timeout=2000)
    assert w.cursor_label.text().endswith(f"{w.image_view.zoom_percent():.0f}%")


def test_show_hide_toggles(qtbot, make_window, noise_image):
    w = make_window()
    w.obj_thr.setValue(0.0)
    open_and_wait(qtbot, w, [noise_image])
    activate(qtbot, w)
    iv, gv = w.image_view, w.graph_view
    assert iv.tag_rects() and gv.label_rects() and iv._layer.isVisible()
    QTest.keyClick(w, Qt.Key.Key_T)  # box tags off
    assert not iv.tag_rects() and iv._layer.isVisible()
    QTest.keyClick(w, Qt.Key.Key_P)  # predicate labels off
    assert not gv.label_rects() and gv.edges
    QTest.keyClick(w, Qt.Key.Key_H)  # boxes off
    assert not iv._layer.isVisible()
    w.time_panel.obj_slider.setValue(0)  # stays off while t moves
    assert not iv.tag_rects() and not gv.label_rects() and not iv._layer.isVisible()
    for k in (Qt.Key.Key_T, Qt.Key.Key_P, Qt.Key.Key_H):
        QTest.keyClick(w, k)
    assert iv.tag_rects() and gv.label_rects() and iv._layer.isVisible()
    assert "Show" in [m.title().replace("&", "") for m in w.menuBar().findChildren(type(w.recent_menu))]


def test_palette_follows_the_desktop_scheme(qtbot, make_window, monkeypatch):
    from nodis_viewer import main as entry
    from PySide6.QtGui import QGuiApplication

    app = QApplication.instance()
    w = make_window(wait_model=False)
    hints = QGuiApplication.styleHints()
    if not hasattr(hints, "colorSchemeChanged"):
        pytest.skip("this Qt does not report the desktop's colour scheme")
    scheme = {"now": "light"}
    monkeypatch.setattr(entry, "system_scheme", lambda: scheme["now"])
    try:
        assert entry.follow_system_scheme(app, w)
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
        assert app.palette().base().color().lightness() > 200 and app.property("nodis_scheme") == "light"
        scheme["now"] = "dark"
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        assert app.palette().base().color().lightness() < 80 and app.property("nodis_scheme") == "dark"
    finally:
        entry.apply_palette(app, "dark")


def test_model_picker_shows_the_card_before_loading(qtbot, make_window, small_model, monkeypatch):
    import nodis

    weights = nodis.WEIGHTS_DIR / "nodis-demo.safetensors"
    if not weights.is_file():
        pytest.skip("the demo model is not present")
    loads = []

    def factory(path, device):
        loads.append(path)
        return small_model

    w = make_window(model_factory=factory)
    n = len(loads)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(weights), ""))
    w.act_weights.trigger()  # Run ▸ Load weights…
    dlg = w.model_picker
    qtbot.waitUntil(lambda: "preset" in dlg.text.toPlainText(), timeout=10000)
    text = dlg.text.toPlainText()
    assert "demo" in text and "object classes" in text and "Model card" in text
    assert len(loads) == n  # nothing loaded yet
    dlg.reject()
    assert len(loads) == n and w.weights != str(weights)
    w.act_weights.trigger()
    dlg = w.model_picker
    qtbot.waitUntil(lambda: "preset" in dlg.text.toPlainText(), timeout=10000)
    qtbot.mouseClick(dlg.load_button, L)
    qtbot.waitUntil(lambda: len(loads) == n + 1, timeout=10000)
    assert loads[-1] == str(weights) and w.weights == str(weights)
    # a broken file says so in the picker
    bad = weights.parent / "does-not-exist.safetensors"
    assert "Cannot read" in __import__("nodis_viewer.dialogs", fromlist=["model_summary"]).model_summary(bad)


def test_edited_boxes_saved_as_ground_truth_and_read_back(qtbot, make_window, noise_image, monkeypatch):
    w = make_window()
    w.state.set_mode("predcls")
    w.open_paths([noise_image])
    e = w.state.current
    qtbot.waitUntil(lambda: e.status == "needs boxes" and w.image_loaded(), timeout=10000)
    w.image_view.fit()
    activate(qtbot, w)
    QTest.keyClick(w, Qt.Key.Key_B)  # draw tool
    v = w.state.vocab
    for name, a, b in (("dog", (50, 40), (150, 120)), ("man", (120, 100), (260, 200))):
        w.label_combo.setCurrentText(name)
        drag_on_view(w.image_view, a, b)
    qtbot.waitUntil(lambda: len(e.boxes) == 2, timeout=3000)
    QTest.keyClick(w, Qt.Key.Key_B)
    w.pairs_box.setChecked(True)
    qtbot.waitUntil(lambda: e.status == "done" and w._last_drawn is not None and len(w._last_drawn.objects) == 2,
                    timeout=30000)
    shown = {(r.subject, r.object, r.name) for r in w._last_drawn.relations}
    path = noise_image.with_name("noise.gt.json")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    QTest.keyClick(w, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert path.is_file()
    d = json.loads(path.read_text())
    assert [o["name"] for o in d["objects"]] == ["dog", "man"]
    assert {(r["subject"], r["object"], r["name"]) for r in d["relations"]} == shown
    # the viewer reads it back as this image's ground truth (and PredCls takes its boxes)
    qtbot.waitUntil(lambda: e.gt is not None and e.gt_source == "noise.gt.json", timeout=10000)
    assert [v.classes[i] for i in e.gt.labels] == ["dog", "man"]
    np.testing.assert_allclose(np.asarray(e.gt.boxes), np.asarray(e.boxes), atol=1e-6)
    w.close()
    w2 = make_window()
    w2.state.set_mode("predcls")
    w2.open_paths([noise_image])
    e2 = w2.state.current
    wait_done(qtbot, w2, e2, decoded=False)
    assert e2.boxes_from_gt and e2.labels == [v.class_index("dog"), v.class_index("man")]
    assert e2.gt is not None and len(e2.gt.relations) == len(shown)


def test_every_shortcut_and_menu_is_documented(make_window):
    """docs/viewer.md and Help ▸ Keyboard shortcuts list every shortcut and every menu item."""
    from pathlib import Path

    from nodis_viewer.dialogs import SHORTCUTS
    from PySide6.QtGui import QKeySequence

    w = make_window(wait_model=False)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "viewer.md").read_text(encoding="utf-8")
    keys = {k.strip() for ks, _ in SHORTCUTS for k in ks.split(" / ")}
    table = {cell.strip() for line in doc.splitlines() if line.startswith("| ") for cell in line.split("|")[1:2]}
    doc_keys = {k.strip() for cell in table for k in cell.split(" / ")}
    missing_help, missing_doc, items = [], [], []

    def walk(menu, path):
        for a in menu.actions():
            if a.isSeparator() or not a.text():
                continue
            name = a.text().replace("&", "")
            if a.menu() is not None:
                walk(a.menu(), path + [name])
                continue
            items.append((path, name))
            for sc in a.shortcuts():
                k = sc.toString(QKeySequence.SequenceFormat.PortableText)
                if k not in keys:
                    missing_help.append(f"{name}: {k}")
                if k not in doc_keys:
                    missing_doc.append(f"{name}: {k}")

    for m in w.menuBar().actions():
        walk(m.menu(), [m.text().replace("&", "")])
    assert not missing_help and not missing_doc, (missing_help, missing_doc)
    menus = {line.split("|")[1].strip().strip("*"): line for line in doc.splitlines()
             if line.startswith("| **")}
    undocumented = [f"{' ▸ '.join(p)} ▸ {n}" for p, n in items
                    if p[0] in menus and n not in menus[p[0]] and p[-1] != "Open recent"]
    assert len(items) > 50 and not undocumented, undocumented
