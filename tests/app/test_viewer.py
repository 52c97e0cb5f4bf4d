"""End-to-end tests of nodis-viewer with real widgets (pytest-qt, offscreen) and a real (small) model."""
import json

import networkx as nx
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from nodis.graph import SceneGraph

from .conftest import drop_paths, wait_done


def test_window_appears_before_the_model_is_loaded(make_window, small_model):
    import threading

    gate = threading.Event()

    def slow_factory(weights, device):
        gate.wait(20)
        return small_model

    w = make_window(wait_model=False, model_factory=slow_factory)
    assert w.isVisible()
    assert w.engine.model is None
    assert "loading" in w.model_label.text() or w.model_label.text() == "model: –"
    gate.set()
    from pytestqt.qtbot import QtBot  # noqa: F401

    QApplication.processEvents()


def test_drop_runs_inference_and_draws(qtbot, make_window, noise_image):
    w = make_window()
    assert drop_paths(w, [noise_image])
    assert len(w.state.entries) == 1
    e = wait_done(qtbot, w)
    assert e.status == "done" and e.mode == "sgdet"
    assert e.times is not None and abs(e.times[w.state.index_of(1.5)] - 1.5) < 1e-6
    # every grid time decoded on the worker: (gi, gi) graphs and a summary each
    assert len({k for k in e.graphs if k[0] == k[1]}) == len(e.times)
    assert len(e.summaries) == len(e.times)
    g = w.current_display_graph()
    assert g is not None and g.t_obj == pytest.approx(1.5)
    # views show the displayed graph: with "only related" the objects of the top-K relations
    w.unrelated_box.setChecked(True)
    related = {r.subject for r in g.relations} | {r.object for r in g.relations}
    assert set(w.image_view.drawn_objects()) == related
    assert set(w.graph_view.nodes) == related
    w.unrelated_box.setChecked(False)
    assert sorted(w.image_view.drawn_objects()) == sorted(o.index for o in g.objects)
    assert set(w.graph_view.nodes) == {o.index for o in g.objects}
    w.unrelated_box.setChecked(True)
    assert len(w.graph_view.edge_labels()) == len(g.relations) <= w.state.top_k
    assert w.tables.obj_model.rowCount() == len(g.objects)
    assert w.tables.rel_model.rowCount() == len(g.relations)
    assert "NFE" in w.nfe_label.text() and "random-init" in w.model_label.text()
    assert "done" in w.image_list.row_texts()[0]


def test_slider_changes_graph_without_rerunning_the_model(qtbot, make_window, noise_image, small_model, monkeypatch):
    w = make_window()
    w.open_paths([noise_image])
    e = wait_done(qtbot, w)
    calls = []
    orig = small_model.predict
    monkeypatch.setattr(small_model, "predict", lambda *a, **k: calls.append(1) or orig(*a, **k))
    at_end = w.current_display_graph()
    rows_end = w.tables.relation_rows()
    w.time_panel.obj_slider.setValue(0)
    assert w.state.t_obj() == 0.0 and w.state.t_rel() == 0.0
    g0 = w.current_display_graph()
    assert g0.t_obj == 0.0 and g0 is not at_end
    raw0, raw_end = e.graphs[(0, 0)], e.graphs[(w.state.index_of(1.5),) * 2]
    assert [r.score for r in raw0.relations] != [r.score for r in raw_end.relations]
    assert w.tables.relation_rows() != rows_end  # the tables followed
    # display names do not renumber while t moves
    lab0, lab_end = w.stable_labels(e, g0), w.stable_labels(e, at_end)
    same = [o.index for o in g0.objects if any(p.index == o.index and p.name == o.name for p in at_end.objects)]
    assert same and all(lab0[i] == lab_end[i] for i in same)
    assert w.time_panel.obj_label.text().startswith("t = 0.00")
    # keyboard: E jumps back to t_end, Right steps one grid point
    w.act_t_end.trigger()
    assert w.state.t_obj() == pytest.approx(1.5)
    w.act_t_next.trigger()
    assert w.state.t_obj() == pytest.approx(1.55)
    assert "extrapolated" in w.time_panel.obj_label.text()
    # the plot has one point per grid time and a cursor at t
    series = w.time_panel.series()
    assert len(series["objects"][0]) == len(e.times)
    assert w.time_panel.cursor.value() == pytest.approx(1.55)
    # play advances t
    w.time_panel.set_playing(True)
    qtbot.waitUntil(lambda: w.state.t_obj() != pytest.approx(1.55), timeout=3000)
    w.time_panel.set_playing(False)
    assert calls == []  # moving t never ran the detector again


def test_unlinked_times_decode_on_demand(qtbot, make_window, noise_image):
    w = make_window()
    w.open_paths([noise_image])
    e = wait_done(qtbot, w)
    w.time_panel.link_box.setChecked(False)
    assert not w.state.linked and w.time_panel.rel_slider.isEnabled()
    w.time_panel.obj_slider.setValue(w.state.index_of(1.5))
    w.time_panel.rel_slider.setValue(2)
    key = w.state.time_key()
    assert key == (w.state.index_of(1.5), 2)
    qtbot.waitUntil(lambda: key in e.graphs, timeout=20000)
    qtbot.waitUntil(lambda: w.current_display_graph() is not None and w.tables.rel_model.rowCount() > 0, timeout=5000)
    g = e.graphs[key]
    assert g.t_obj == pytest.approx(1.5) and g.t_rel == pytest.approx(0.1)
    assert "t_rel = 0.10" in w.time_panel.rel_label.text()


def _send_mouse(widget, kind, pos, button, buttons):
    ev = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, buttons,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def drag_on_view(view, p0, p1, steps: int = 6):
    """A real left-button drag on a pyqtgraph view (image coordinates p0 -> p1)."""
    vp = view.gv.viewport()
    a = view.gv.mapFromScene(view.vb.mapViewToScene(QPointF(*p0)))
    b = view.gv.mapFromScene(view.vb.mapViewToScene(QPointF(*p1)))
    L, N = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _send_mouse(vp, QEvent.Type.MouseButtonPress, a, L, L)
    for k in range(1, steps + 1):
        p = QPoint(a.x() + (b.x() - a.x()) * k // steps, a.y() + (b.y() - a.y()) * k // steps)
        _send_mouse(vp, QEvent.Type.MouseMove, p, N, L)
    _send_mouse(vp, QEvent.Type.MouseButtonRelease, b, L, N)
    QTest.qWait(50)  # let the scene settle between gestures, as between two real drags


def test_predcls_draw_boxes_gives_relations(qtbot, make_window, noise_image):
    w = make_window()
    w.state.set_mode("predcls")
    w.open_paths([noise_image])
    e = w.state.current
    qtbot.waitUntil(lambda: e.status == "needs boxes", timeout=5000)
    assert "needs boxes" in w.image_list.row_texts()[0]
    QApplication.processEvents()
    w.image_view.fit()
    w.act_draw.setChecked(True)
    vocab = w.state.vocab
    w.label_combo.setCurrentText("dog")
    drag_on_view(w.image_view, (50, 40), (150, 120))
    qtbot.waitUntil(lambda: len(e.boxes) == 1, timeout=3000)
    w.label_combo.setCurrentText("man")
    drag_on_view(w.image_view, (120, 100), (260, 200))
    qtbot.waitUntil(lambda: len(e.boxes) == 2, timeout=3000)
    assert e.labels == [vocab.class_index("dog"), vocab.class_index("man")]
    assert e.boxes[0] == pytest.approx([50, 40, 150, 120], abs=3)
    assert len(w.image_view.rois) == 2
    e = wait_done(qtbot, w, decoded=False)
    g = w.current_display_graph()
    qtbot.waitUntil(lambda: w.current_display_graph() is not None and len(w.current_display_graph().objects) == 2,
                    timeout=20000)
    g = w.current_display_graph()
    assert g.mode == "predcls"
    assert [o.name for o in sorted(g.objects, key=lambda o: o.index)] == ["dog", "man"]
    # one edge per pair of objects by default (the better direction); "all pairs" shows both
    assert len(g.relations) == 1 and {(r.subject, r.object) for r in g.relations} <= {(0, 1), (1, 0)}
    assert len(w.graph_view.edge_labels()) == 1
    w.pairs_box.setChecked(True)
    g = w.current_display_graph()
    assert {(r.subject, r.object) for r in g.relations} == {(0, 1), (1, 0)}
    assert len(w.graph_view.edge_labels()) == 2
    w.pairs_box.setChecked(False)
    # relabel the selected box from the vocabulary and delete the other: the graph follows
    w.state.select(objects=[0])
    w.label_combo.setCurrentText("cat")
    w._label_picked()
    assert e.labels[0] == vocab.class_index("cat")
    qtbot.waitUntil(lambda: (g2 := w.current_display_graph()) is not None
                    and sorted(o.name for o in g2.objects) == ["cat", "man"], timeout=20000)
    w.remove_box(1)
    qtbot.waitUntil(lambda: (g3 := w.current_display_graph()) is not None and len(g3.objects) == 1
                    and e.status == "done", timeout=20000)
    assert w.current_display_graph().relations == []


def test_export_every_format_and_read_back(qtbot, make_window, scene_with_gt, tmp_path):
    from nodis.export import read_vg_scene_graphs

    w = make_window()
    w.open_paths([scene_with_gt])
    wait_done(qtbot, w)
    g = w.current_display_graph()
    out = tmp_path / "out"
    out.mkdir()
    written = {}
    for fmt, name in [("json", "g.json"), ("vg", "g.vg.json"), ("graphml", "g.graphml"), ("png", "img.png"),
                      ("graph-png", "g.graph.png"), ("svg", "g.svg"), ("strip", "g.strip.png")]:
        with qtbot.waitSignal(w.exporter.finished, timeout=60000):
            w.export_to(fmt, out / name)
        written[fmt] = out / name
        assert (out / name).is_file(), fmt
    back = SceneGraph.load(written["json"])
    assert [o.index for o in back.objects] == [o.index for o in w.export_item(w.state.current).graph.objects]
    assert back.t_obj == pytest.approx(1.5)
    vg = read_vg_scene_graphs(written["vg"])
    assert len(vg) == 1 and len(vg[0]["objects"]) == len(back.objects)
    G = nx.read_graphml(written["graphml"])
    assert G.number_of_nodes() == len(back.objects)
    assert G.number_of_edges() == len(back.relations)
    with Image.open(written["png"]) as im:
        assert im.size == Image.open(scene_with_gt).size
    for k in ("graph-png", "strip"):
        with Image.open(written[k]) as im:
            im.load()
            assert im.format == "PNG" and im.width > 100
    assert written["svg"].read_text().lstrip().startswith(("<?xml", "<svg"))
    assert not list(out.glob("*.tmp")) and not [p for p in out.iterdir() if p.name.startswith(".")]
    assert g is not None


def test_batch_export_and_failures_are_reported(qtbot, make_window, make_noise, tmp_path):
    w = make_window()
    a, b = make_noise("a.png", 1), make_noise("b.png", 2)
    w.open_paths([a, b])
    for e in list(w.state.entries):
        wait_done(qtbot, w, e, decoded=False)
    out = tmp_path / "batch"
    with qtbot.waitSignal(w.exporter.finished, timeout=60000):
        w.export_batch_to(out, ["json", "vg", "graphml", "png"])
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a.graphml", "a.json", "a.png", "b.graphml", "b.json", "b.png", "scene_graphs.json"]
    assert len(json.loads((out / "scene_graphs.json").read_text())) == 2
    # an export into a path that cannot exist fails with a message; the app carries on
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with qtbot.waitSignal(w.exporter.failed, timeout=20000):
        w.export_to("json", blocker / "sub" / "g.json")
    assert "Export failed" in w.last_error
    assert not (blocker / "sub").exists()
    w.state.step_current(1)
    assert w.current_display_graph() is not None


def test_corrupt_file_fails_its_row_and_the_app_lives(qtbot, make_window, noise_image, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 3)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    w = make_window()
    drop_paths(w, [bad, notes, noise_image])
    assert [e.name for e in w.state.entries] == ["broken.jpg", "noise.png"]  # the .txt was skipped
    e_bad, e_ok = w.state.entries
    qtbot.waitUntil(lambda: e_bad.status == "failed", timeout=30000)
    assert e_bad.message and "broken.jpg" in e_bad.message
    assert "failed" in w.image_list.row_texts()[0]
    assert "✗" in w.image_view.message.text()
    wait_done(qtbot, w, e_ok, decoded=False)
    w.state.set_current(e_ok.eid)
    assert w.current_display_graph() is not None


def test_folder_drop_next_prev_and_remove(qtbot, make_window, make_noise, tmp_path):
    make_noise("one.png", 1)
    make_noise("two.jpg", 2)
    (tmp_path / "readme.txt").write_text("not an image")
    w = make_window()
    drop_paths(w, [tmp_path])  # the folder is listed on an I/O thread
    qtbot.waitUntil(lambda: len(w.state.entries) == 2, timeout=5000)
    assert [e.name for e in w.state.entries] == ["one.png", "two.jpg"]
    first = w.state.current_id
    w.act_next.trigger()
    assert w.state.current_id != first
    w.act_prev.trigger()
    assert w.state.current_id == first
    n = len(w.state.entries)
    w.remove_current()
    assert len(w.state.entries) == n - 1
    w.cancel()
    QApplication.processEvents()
    assert all(e.status in ("cancelled", "done", "running", "queued") for e in w.state.entries)


def test_ground_truth_colours_and_recall(qtbot, make_window, scene_with_gt):
    from nodis.render import STATUS_COLORS, object_color

    w = make_window()
    w.open_paths([scene_with_gt])
    e = wait_done(qtbot, w)
    assert e.gt is not None and e.gt_source == "scene.gt.json"
    s = e.summaries[w.state.index_of(1.5)]
    assert set(s.recall) == {20, 50, 100}
    assert "R@20" in w.time_panel.recall_label.text()
    assert "R@20" in w.time_panel.series()
    assert not w.state.compare_gt  # ground-truth colouring is a click away, not the first view
    assert not [it for it in w.image_view._items if getattr(it, "ring", None) is not None]
    w.act_gt.trigger()  # on: each box keeps its object colour (its node's), the verdict is a ring
    assert w.state.compare_gt
    status_colours = {tuple(c) for c in STATUS_COLORS.values()}
    boxes = [it for it in w.image_view._items if type(it).__name__ == "BoxItem" and it.oid >= 0]
    assert boxes and all(b.pen.color().getRgb()[:3] == tuple(object_color(b.oid)) for b in boxes)
    assert all(b.ring.color().getRgb()[:3] in status_colours for b in boxes)
    nodes = w.graph_view.nodes
    assert all(nodes[b.oid].fill.getRgb()[:3] == tuple(object_color(b.oid)) for b in boxes if b.oid in nodes)
    w.act_gt.trigger()  # off again: no verdicts
    assert not w.state.compare_gt and not [it for it in w.image_view._items if getattr(it, "ring", None) is not None]


def test_selection_syncs_image_graph_and_tables(qtbot, make_window, noise_image):
    w = make_window()
    w.open_paths([noise_image])
    wait_done(qtbot, w, decoded=False)
    g = w.current_display_graph()
    r = g.relations[0]
    # click an edge in the graph -> both boxes highlighted, relation row selected
    w.graph_view.edgeClicked.emit(r.subject, r.object, False)
    qtbot.waitUntil(lambda: w.state.selected_relations == {(r.subject, r.object)}, timeout=2000)
    pens = w.image_view.box_pens()
    assert pens[r.subject].widthF() > pens[next(i for i in pens if i not in (r.subject, r.object))].widthF()
    sel_rows = w.tables.rel_view.selectionModel().selectedRows()
    assert len(sel_rows) >= 1
    # click inside a box on the image -> that object selected, node highlighted
    drawn = w.image_view._objects
    o = min(drawn, key=lambda o: (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]))
    cx, cy = (o.box[0] + o.box[2]) / 2, (o.box[1] + o.box[3]) / 2
    hit = w.image_view.object_at(cx, cy)
    w.image_view.objectClicked.emit(hit.index, False)
    qtbot.waitUntil(lambda: w.state.selected_objects == {hit.index}, timeout=2000)
    w.act_clear_sel.trigger()
    assert not w.state.selected_objects and not w.state.selected_relations
    # dragging a node keeps its new position across t
    key = next(iter(w.graph_view.nodes))
    w.graph_view.nodeMoved.emit(key, 123.0, 45.0)
    w.time_panel.obj_slider.setValue(0)
    assert w.state.current.layout[key] == (123.0, 45.0)


def test_settings_persist_between_windows(qtbot, make_window, noise_image):
    w1 = make_window()
    w1.topk_spin.setValue(7)
    w1.rel_thr.setValue(0.02)
    w1.obj_thr.setValue(0.3)
    w1.state.set_mode("sgcls")
    w1.open_paths([noise_image])
    w1.resize(790, 560)
    w1.close()
    w2 = make_window(resize=False)
    assert (w2.state.top_k, w2.state.rel_threshold, w2.state.obj_threshold) == (7, pytest.approx(0.02), pytest.approx(0.3))
    assert w2.topk_spin.value() == 7
    assert w2.state.mode == "sgcls" and w2.mode_combo.currentText() == "SGCls"
    assert w2.recent_files()[0] == str(noise_image.resolve())
    assert (w2.size().width(), w2.size().height()) == (790, 560)


def test_help_dialogs_and_cli(make_window, capsys):
    from nodis_viewer.dialogs import SHORTCUTS, AboutDialog, ShortcutsDialog
    from nodis_viewer.main import build_parser, main

    w = make_window()
    d = ShortcutsDialog(w)
    assert d.findChild(type(d).__mro__[0], None) is None or True
    assert len(SHORTCUTS) > 15
    a = AboutDialog("random-init", "cpu", None, w)
    assert "nodis-viewer" in a.text.toPlainText()
    with pytest.raises(SystemExit) as ex:
        main(["--help"])
    assert ex.value.code == 0
    assert "--weights" in capsys.readouterr().out
    args = build_parser().parse_args(["a.jpg", "--device", "cpu", "--weights", "w.safetensors"])
    assert args.images == ["a.jpg"] and args.device == "cpu"


def test_bad_checkpoint_is_reported_and_app_carries_on(qtbot, make_window, tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a checkpoint")
    from nodis_viewer.worker import load_model

    w = make_window(model_factory=load_model, wait_model=False, weights=str(bad))
    qtbot.waitUntil(lambda: "failed" in w.model_label.text(), timeout=30000)
    assert "could not be loaded" in w.last_error
    assert w.isVisible()


def test_real_mouse_on_graph_and_image(qtbot, make_window, noise_image):
    from .conftest import wait_done as _wait

    w = make_window()
    w.open_paths([noise_image])
    _wait(qtbot, w, decoded=False)
    QTest.qWait(100)
    gv = w.graph_view
    gv.fit()
    QTest.qWait(50)
    key, node = next(iter(gv.nodes.items()))
    start = (node.pos().x(), node.pos().y())
    # drag a node 80 scene units to the right: it moves, its edges follow, the layout remembers it
    drag_on_view(gv, start, (start[0] + 80, start[1] + 10))
    moved = w.state.current.layout[key]
    assert moved[0] == pytest.approx(start[0] + 80, abs=8) and moved[1] == pytest.approx(start[1] + 10, abs=8)
    assert gv.nodes[key].pos().x() == pytest.approx(moved[0])
    # click a predicate label: that relation is selected
    edge = next(e for e in gv.edges if e.key is not None)
    vp = gv.gv.viewport()
    p = gv.gv.mapFromScene(edge.label.mapToScene(0, 0))
    L = Qt.MouseButton.LeftButton
    _send_mouse(vp, QEvent.Type.MouseButtonPress, p, L, L)
    _send_mouse(vp, QEvent.Type.MouseButtonRelease, p, L, Qt.MouseButton.NoButton)
    qtbot.waitUntil(lambda: w.state.selected_relations == {edge.key}, timeout=2000)
    # hovering a box on the image reports that object
    hovered = []
    w.image_view.objectHovered.connect(hovered.append)
    g = w.image_view._objects
    o = min(g, key=lambda o: (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]))
    cx, cy = (o.box[0] + o.box[2]) / 2, (o.box[1] + o.box[3]) / 2
    q = w.image_view.gv.mapFromScene(w.image_view.vb.mapViewToScene(QPointF(cx, cy)))
    _send_mouse(w.image_view.gv.viewport(), QEvent.Type.MouseMove, q, Qt.MouseButton.NoButton, Qt.MouseButton.NoButton)
    qtbot.waitUntil(lambda: bool(hovered) and hovered[-1] == w.image_view.object_at(cx, cy).index, timeout=3000)


def test_tooltips_and_helpers():
    from nodis_viewer.graph_view import compute_layout, to_scene, to_unit
    from nodis_viewer.image_view import class_tooltip, smallest_box_at

    from nodis.export import example_scene_graph

    g = example_scene_graph()
    man = g.object_by_index(0)
    man.class_scores = [0.05] + [0.0] * 150
    man.class_scores[g.class_names.index("man")] = 0.7
    man.class_scores[g.class_names.index("person")] = 0.25
    tip = class_tooltip(man, g.class_names)
    assert "man" in tip and "0.700" in tip and "person" in tip and "background" in tip
    hat = g.object_by_index(2)
    assert smallest_box_at(g.objects, 290, 60).index == hat.index
    assert smallest_box_at(g.objects, 5, 470) is None
    assert to_unit(*to_scene(0.25, 0.75)) == pytest.approx((0.25, 0.75))
    lay = compute_layout([g])
    assert set(lay) == {o.index for o in g.objects}
    # existing positions are kept; new objects are added
    lay2 = compute_layout([g], existing={0: (1.0, 2.0)})
    assert lay2[0] == (1.0, 2.0) and set(lay2) == set(lay)


def test_keyboard_shortcuts(qtbot, make_window, make_noise):
    w = make_window()
    w.open_paths([make_noise("a.png", 1), make_noise("b.png", 2)])
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=3000)
    first = w.state.current_id
    QTest.keyClick(w, Qt.Key.Key_D)
    assert w.state.current_id != first
    QTest.keyClick(w, Qt.Key.Key_A)
    assert w.state.current_id == first
    QTest.keyClick(w, Qt.Key.Key_3)
    assert w.state.mode == "predcls"
    QTest.keyClick(w, Qt.Key.Key_1)
    assert w.state.mode == "sgdet"
    wait_done(qtbot, w, decoded=False)
    QTest.keyClick(w, Qt.Key.Key_Home)
    assert w.state.t_obj() == 0.0
    QTest.keyClick(w, Qt.Key.Key_E)
    assert w.state.t_obj() == pytest.approx(1.5)
    QTest.keyClick(w, Qt.Key.Key_L)
    assert not w.state.linked
    QTest.keyClick(w, Qt.Key.Key_G)
    assert w.state.compare_gt
    QTest.keyClick(w, Qt.Key.Key_G)
    assert not w.state.compare_gt


def test_main_entry_point_opens_images_and_quits(qtbot, small_model, noise_image, monkeypatch):
    import nodis_viewer.worker
    from nodis_viewer import main as entry
    from nodis_viewer.window import MainWindow
    from PySide6.QtCore import QEventLoop, QTimer

    monkeypatch.setattr(nodis_viewer.worker, "load_model", lambda weights=None, device=None: small_model)
    # run main()'s event loop as a nested loop: QApplication.exec() returning would mark the shared
    # test QApplication as closing and stop cross-thread signals for the tests that follow
    loop = QEventLoop()
    monkeypatch.setattr(QApplication, "exec", lambda *a: loop.exec())

    def no_exit(code):  # main() leaves with os._exit only when the worker is still busy
        raise AssertionError(f"os._exit({code}) called: the worker was still running")

    monkeypatch.setattr(entry.os, "_exit", no_exit)
    seen = {}

    def finish():
        wins = [x for x in QApplication.topLevelWidgets() if isinstance(x, MainWindow) and x.isVisible()]
        if (not wins or not wins[-1].state.entries or wins[-1].state.entries[0].status != "done"
                or wins[-1].engine.is_busy()):
            QTimer.singleShot(100, finish)
            return
        w = wins[-1]
        seen.update(mode=w.state.mode, names=[e.name for e in w.state.entries], model=w.model_label.text())
        w.close()
        loop.quit()

    QTimer.singleShot(100, finish)
    assert entry.main([str(noise_image), "--device", "cpu", "--mode", "sgdet", "--light"]) == 0
    assert seen["names"] == ["noise.png"] and seen["mode"] == "sgdet" and "random-init" in seen["model"]


def test_mode_switch_seeds_boxes_from_ground_truth_or_detections(qtbot, make_window, scene_with_gt, noise_image):
    w = make_window()
    w.open_paths([scene_with_gt, noise_image])
    e_gt, e_noise = w.state.entries
    wait_done(qtbot, w, e_gt, decoded=False)
    # PredCls on an image with ground truth: its boxes and labels, and recall per t
    w.state.set_mode("predcls")
    qtbot.waitUntil(lambda: e_gt.mode == "predcls" and e_gt.status == "done" and bool(e_gt.summaries), timeout=30000)
    assert e_gt.boxes_from_gt and len(e_gt.boxes) == len(e_gt.gt.labels)
    assert e_gt.labels == [int(v) for v in e_gt.gt.labels]
    g = w.current_display_graph()
    assert g.mode == "predcls" and {o.name for o in g.objects} <= {w.state.vocab.classes[i] for i in e_gt.labels}
    s = next(iter(e_gt.summaries.values()))
    assert set(s.recall) == {20, 50, 100}
    assert len(w.image_view.rois) == len(e_gt.boxes)
    # SGCls on an image without ground truth: the boxes shown in SGDet become the given boxes
    w.state.set_mode("sgdet")
    w.state.set_current(e_noise.eid)
    qtbot.waitUntil(lambda: e_noise.mode == "sgdet" and e_noise.status == "done" and bool(e_noise.graphs), timeout=30000)
    drawn = set(w.image_view.drawn_objects())  # the boxes shown on the image
    shown = {tuple(round(v, 3) for v in o.box) for o in w.current_display_graph().objects if o.index in drawn}
    w.state.set_mode("sgcls")
    qtbot.waitUntil(lambda: e_noise.mode == "sgcls" and e_noise.status == "done" and bool(e_noise.graphs), timeout=30000)
    assert {tuple(round(v, 3) for v in b) for b in e_noise.boxes} == shown
    g = w.current_display_graph()
    assert g.mode == "sgcls" and len(g.objects) == len(shown)
    # removing every box leaves the image waiting for boxes
    w.clear_boxes()
    assert e_noise.status == "needs boxes" and w.current_display_graph() is None


def test_ground_truth_files_next_to_images(tmp_path):
    import shutil

    from nodis_viewer.gt import find_ground_truth

    from nodis.data.world import world_vocabulary
    from nodis.export import example_scene_graph

    v = world_vocabulary()
    root = __import__("pathlib").Path(__file__).resolve().parents[2] / "resources" / "samples"
    if not (root / "scene_graphs.json").is_file():
        pytest.skip("samples not present")
    # a VG scene_graphs.json in the folder: the entry whose image_id is the file stem
    shutil.copy(root / "scene_graphs.json", tmp_path / "scene_graphs.json")
    img = tmp_path / "4003.jpg"
    shutil.copy(root / "4003.jpg", img)
    gt, src = find_ground_truth(img, v.classes, v.predicates)
    entry = next(e for e in json.loads((root / "scene_graphs.json").read_text()) if e["image_id"] == 4003)
    assert src == "scene_graphs.json" and len(gt.labels) == len(entry["objects"])
    assert len(gt.relations) == len(entry["relationships"])
    # no entry for this stem -> none
    other = tmp_path / "photo.jpg"
    shutil.copy(root / "4003.jpg", other)
    assert find_ground_truth(other, v.classes, v.predicates) == (None, "")
    # a nodis scene graph sidecar wins; names outside the vocabulary are dropped
    g = example_scene_graph()  # VG150 names: man, horse, hat, shirt, tree
    (tmp_path / "photo.gt.json").write_text(g.to_json())
    gt, src = find_ground_truth(other, v.classes, v.predicates)
    assert src == "photo.gt.json"
    assert sorted(v.classes[i] for i in gt.labels) == sorted(n for n in ("man", "horse", "hat", "shirt", "tree")
                                                              if n in v.classes)
    # a broken sidecar is ignored (logged), not fatal
    (tmp_path / "photo.gt.json").write_text("{ not json")
    assert find_ground_truth(other, v.classes, v.predicates) == (None, "")


def _drawing(view) -> list:
    """What a view shows: one description per item under its layer (type, look, position, z)."""
    out = []
    spare = set(map(id, view._pool.spares()))  # hidden, kept for reuse: not part of the drawing
    for it in view._layer.childItems():
        if id(it) in spare:
            continue
        pos = (round(it.pos().x(), 3), round(it.pos().y(), 3))
        geom = getattr(it, "_path", None)
        look = getattr(it, "_pool_spec", None)
        if type(it).__name__ == "EdgeItem":  # its spec names the node and label items by id
            look = (it.src.key, it.dst.key, it.label.text, it.color.getRgb(), it.width, it.bend, it.dashed)
        out.append((type(it).__name__, repr(look), pos, it.zValue(), getattr(it, "text", None), it.toolTip(),
                    round(geom.length(), 3) if geom is not None else None))
    return sorted(out, key=repr)


def test_a_jump_back_shows_the_very_items_it_showed_before(qtbot, make_window, scene_with_gt):
    w = make_window()
    w.open_paths([scene_with_gt])
    e = wait_done(qtbot, w)
    views = (w.image_view, w.graph_view)
    s = w.time_panel.obj_slider

    def shown():
        QApplication.processEvents()
        return {id(it) for v in views for it in v._pool.items.values()}, tuple(_drawing(v) for v in views)

    s.setValue(0)
    ids0, drawing0 = shown()
    s.setValue(len(e.times) - 1)
    ids1, _ = shown()
    assert ids1 != ids0  # some boxes, tags, nodes or edges differ between the two times
    s.setValue(0)
    ids2, drawing2 = shown()
    assert ids2 == ids0 and drawing2 == drawing0  # the hidden spares came back as they were


def test_scrubbing_reuses_items_and_matches_a_fresh_drawing(qtbot, make_window, scene_with_gt):
    w = make_window()
    w.open_paths([scene_with_gt])
    e = wait_done(qtbot, w)
    w.act_gt.setChecked(True)
    assert e.gt is not None and w.state.compare_gt
    n = len(e.times)
    before = set(map(id, w.graph_view._layer.childItems())) | set(map(id, w.image_view._layer.childItems()))
    kept = 0
    for gi in (0, n // 3, n - 1, 1, n // 2, w.state.index_of(1.5)):
        w.time_panel.obj_slider.setValue(gi)
        QApplication.processEvents()
        now = set(map(id, w.graph_view._layer.childItems())) | set(map(id, w.image_view._layer.childItems()))
        kept += len(now & before)
        before = now
        scrubbed = (_drawing(w.image_view), _drawing(w.graph_view))
        # nothing left behind: the layers hold exactly the pooled items and the hidden spares
        for view in (w.image_view, w.graph_view):
            spares = view._pool.spares()
            assert not any(it.isVisible() for it in spares)
            assert len(view._layer.childItems()) == len(view._pool.items) + len(spares)
        w.image_view.clear_boxes()
        w.graph_view.clear()
        w.redraw()
        assert (_drawing(w.image_view), _drawing(w.graph_view)) == scrubbed, f"grid time {gi}"
        before = set(map(id, w.graph_view._layer.childItems())) | set(map(id, w.image_view._layer.childItems()))
    assert kept > 0  # unchanged boxes, tags and nodes were kept, not rebuilt
    # edge labels build their tooltips when first hovered
    lab = next(it for it in w.graph_view._layer.childItems() if type(it).__name__ == "EdgeLabel")
    assert lab.tooltip_text()
