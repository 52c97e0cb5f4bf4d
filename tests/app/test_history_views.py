"""Issue 16 in the viewer, driven by real mouse and keyboard events: selecting plots the history of
the selection against t (time panel, Selection tab), the state-space view draws the ODE states as
paths, scrubbing moves the cursor and the dots, clicking the plot moves the slider, hovering a path
highlights its box and node, and both views export as PNG and SVG."""
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from .conftest import wait_done

L = Qt.MouseButton.LeftButton


def view_point(view, x: float, y: float) -> QPoint:
    return view.gv.mapFromScene(view.vb.mapViewToScene(QPointF(x, y)))


def box_point(w, oid: int) -> QPoint:
    o = next(o for o in w.image_view._objects if o.index == oid)
    return view_point(w.image_view, (o.box[0] + o.box[2]) / 2, (o.box[1] + o.box[3]) / 2)


def plot_point(canvas, pi, x: float, y: float) -> QPoint:
    """Viewport pixel of the data point (x, y) of a pyqtgraph plot item inside ``canvas``."""
    return canvas.mapFromScene(pi.vb.mapViewToScene(QPointF(x, y)))


def ready(qtbot, make_window, scene_with_gt, mode="sgcls"):
    """A window with the GT scene done in ``mode``, the grid decoded and the histories fetched."""
    w = make_window()
    w.state.set_mode(mode)
    w.open_paths([scene_with_gt])
    e = wait_done(qtbot, w, decoded=True)
    qtbot.waitUntil(lambda: w.traj_data.current() is not None and w.traj_data.current().decoded, timeout=30000)
    qtbot.waitUntil(w.image_loaded, timeout=5000)
    w.image_view.fit()
    w.activateWindow()
    QTest.qWait(50)
    return w, e


def smallest_object(w):
    return min(w.image_view._objects, key=lambda o: (o.box[2] - o.box[0]) * (o.box[3] - o.box[1]))


def test_clicking_a_box_plots_its_class_history(qtbot, make_window, scene_with_gt):
    w, e = ready(qtbot, make_window, scene_with_gt)
    tp, hp = w.time_panel, w.time_panel.history
    assert tp.tabs.currentWidget() is tp.plot  # nothing selected: the overview
    o = smallest_object(w)
    qtbot.mouseClick(w.image_view.gv.viewport(), L, pos=box_point(w, o.index))
    qtbot.waitUntil(lambda: w.state.selected_objects == {o.index}, timeout=2000)
    assert tp.tabs.currentWidget() is hp  # the selection's history comes to the front
    h = w.traj_data.current().histories.object(o.index)
    classes, probs = h.top(5)
    assert hp.items == [o.index] and len(hp.curves) == len(classes) == 5
    name = w.stable_labels(e, w.state.raw_graph())[o.index]
    cn = w.state.vocab.classes
    assert [c.name() for c in hp.curves] == [f"{name}: {cn[c]}" for c in classes]
    assert [lab.text for _, lab in hp.legend.items] == [c.name() for c in hp.curves]
    for j, c in enumerate(hp.curves):
        x, y = c.getData()
        np.testing.assert_allclose(x, e.times)
        np.testing.assert_allclose(y, probs[:, j], atol=1e-6)
    assert hp.curves[0].opts["pen"].style() == Qt.PenStyle.SolidLine  # the class at t_end
    assert hp.end_line.value() == pytest.approx(e.t_end)
    # the curve of the t_end class passes through the object's score at the current t
    gi = w.state.gi_obj
    assert hp.curves[0].getData()[1][gi] == pytest.approx(w.state.raw_graph().object_by_index(o.index).score, abs=1e-5)
    # clicking on empty image clears the selection: back to the overview
    qtbot.mouseClick(w.image_view.gv.viewport(), L, pos=QPoint(3, 3))
    qtbot.waitUntil(lambda: not w.state.selected_objects, timeout=2000)
    assert tp.tabs.currentWidget() is tp.plot and not hp.curves


def test_scrubbing_moves_the_cursor_and_clicking_the_plot_moves_the_slider(qtbot, make_window, scene_with_gt):
    w, e = ready(qtbot, make_window, scene_with_gt)
    o = smallest_object(w)
    qtbot.mouseClick(w.image_view.gv.viewport(), L, pos=box_point(w, o.index))
    qtbot.waitUntil(lambda: w.state.selected_objects == {o.index}, timeout=2000)
    hp = w.time_panel.history
    slider = w.time_panel.obj_slider
    slider.setFocus()
    start = slider.value()
    QTest.keyClick(slider, Qt.Key.Key_Home)
    QTest.keyClick(slider, Qt.Key.Key_Right)
    QTest.keyClick(slider, Qt.Key.Key_Right)
    assert w.state.gi_obj == 2 != start
    assert hp.cursor.value() == pytest.approx(e.times[2])
    # a click on the plot at t = 2.0 moves the slider there
    QTest.qWait(50)
    p = plot_point(hp.canvas, hp.pi, 2.0, 0.5)
    qtbot.mouseClick(hp.canvas.viewport(), L, pos=p)
    target = int(np.argmin(np.abs(e.times - 2.0)))
    qtbot.waitUntil(lambda: w.state.gi_obj == target, timeout=2000)
    assert slider.value() == target and hp.cursor.value() == pytest.approx(e.times[target])


def test_edges_and_objects_together_with_display_names(qtbot, make_window, scene_with_gt):
    w, e = ready(qtbot, make_window, scene_with_gt)
    g = w.state.raw_graph()
    r = g.relations[0]
    gv = w.graph_view
    edge = next(ed for ed in gv.edges if ed.key == (r.subject, r.object))
    qtbot.mouseClick(gv.gv.viewport(), L, pos=gv.gv.mapFromScene(edge.label.mapToScene(0, 0)))
    qtbot.waitUntil(lambda: w.state.selected_relations == {(r.subject, r.object)}, timeout=2000)
    hp = w.time_panel.history
    names = w.stable_labels(e, g)
    pn = w.state.vocab.predicates
    rh = w.traj_data.current().histories.relation(r.subject, r.object)
    preds, probs = rh.top(5)
    assert preds[0] == r.predicate
    assert [c.name() for c in hp.curves] == [f"{names[r.subject]} → {names[r.object]}: {pn[p]}" for p in preds]
    gi = w.state.gi_obj
    assert hp.curves[0].getData()[1][gi] == pytest.approx(r.predicate_score, abs=1e-5)
    # Ctrl+click a box: the object joins the edge in the plot, 3 curves each
    o = smallest_object(w)
    qtbot.mouseClick(w.image_view.gv.viewport(), L, Qt.KeyboardModifier.ControlModifier, pos=box_point(w, o.index))
    qtbot.waitUntil(lambda: o.index in w.state.selected_objects and bool(w.state.selected_relations), timeout=2000)
    assert hp.items == [o.index, (r.subject, r.object)] and len(hp.curves) == 6
    assert {c.name().split(":")[0] for c in hp.curves} == {names[o.index], f"{names[r.subject]} → {names[r.object]}"}


def test_state_space_paths_dots_hover_and_projections(qtbot, make_window, scene_with_gt):
    w, e = ready(qtbot, make_window, scene_with_gt)
    w.space_dock.raise_()
    sv = w.state_space
    qtbot.waitUntil(lambda: len(sv._paths) > 0, timeout=5000)
    d = w.traj_data.current()
    ids = d.space.object_ids.tolist()
    assert sv._keys == ids and len(sv._paths) == len(ids)  # SGCls: every given box, one path each
    G = len(e.times)
    x, y = sv._paths[0].getData()
    assert len(x) == G  # t = 0 .. end of the grid
    np.testing.assert_allclose(np.c_[x, y], sv.projection(d.space.object_states[:, 0]), atol=1e-6)
    # the dots sit at the current t, coloured by the class there; scrubbing moves them
    def dots():
        return np.array([[p.x(), p.y()] for p in (s.pos() for s in sv._dots.points())])
    gi = w.state.gi_obj
    np.testing.assert_allclose(dots(), sv._coords[gi], atol=1e-6)
    w.time_panel.obj_slider.setFocus()
    QTest.keyClick(w.time_panel.obj_slider, Qt.Key.Key_Home)
    assert w.state.gi_obj == 0
    np.testing.assert_allclose(dots(), sv._coords[0], atol=1e-6)
    labels0 = d.histories.object_labels[0]
    assert [s.brush().color().getRgb()[:3] for s in sv._dots.points()] == [
        __import__("nodis_viewer.state_space", fromlist=["class_color"]).class_color(int(c)) for c in labels0]
    # hovering a path highlights its box and node
    k = len(ids) - 1
    QTest.qWait(50)
    px = np.array([[[q.x(), q.y()] for q in (plot_point(sv.canvas, sv.pi, *sv._coords[g, j]) for j in range(len(ids)))]
                   for g in range(G)], float)  # (G, K, 2) viewport pixels
    others = np.delete(px, k, axis=1).reshape(-1, 2)
    sep = [np.min(np.hypot(*(others - px[g, k]).T)) for g in range(G)]
    g_best = int(np.argmax(sep))  # the point of path k farthest from every other path
    assert sep[g_best] > 8
    p = plot_point(sv.canvas, sv.pi, *sv._coords[g_best, k])
    QTest.mouseMove(sv.canvas.viewport(), p)
    QTest.qWait(100)  # (offscreen QPA: let the move event be delivered before anything else happens)
    qtbot.waitUntil(lambda: w.state.hovered_objects == {ids[k]}, timeout=2000)
    assert sv.hovered_key() == ids[k]
    assert w.image_view.box_pens()[ids[k]].widthF() > 2.0  # drawn highlighted
    QTest.mouseMove(sv.canvas.viewport(), QPoint(1, 1))
    qtbot.waitUntil(lambda: not w.state.hovered_objects, timeout=2000)
    # the decoder plane of two classes: the boundary separates their logits exactly
    sv.proj_combo.setFocus()
    QTest.keyClick(sv.proj_combo, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: sv.projection is not None and sv.projection.boundary is not None, timeout=3000)
    a, b = sv.a_combo.currentIndex() + 1, sv.b_combo.currentIndex() + 1
    assert a != b
    W, bias = d.space.object_weight, d.space.object_bias
    X = d.space.object_states.reshape(-1, W.shape[1])
    uv = sv.projection(X)
    al, be, ga = sv.projection.boundary
    np.testing.assert_allclose(al * uv[:, 0] + be * uv[:, 1] + ga, (X @ W.T + bias)[:, a] - (X @ W.T + bias)[:, b],
                               atol=1e-4)
    bx, by = sv._boundary.getData()
    assert bx is not None and len(bx) == 2


def test_predicate_state_space_follows_the_selected_edge(qtbot, make_window, scene_with_gt):
    w, e = ready(qtbot, make_window, scene_with_gt)
    w.space_dock.raise_()
    sv = w.state_space
    sv.ode_combo.setFocus()
    QTest.keyClick(sv.ode_combo, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: not sv.is_objects() and bool(sv._keys) and isinstance(sv._keys[0], tuple), timeout=3000)
    assert "select edges" in sv.info.text() and len(sv._paths) <= 5
    r = w.state.raw_graph().relations[0]
    gv = w.graph_view
    edge = next(ed for ed in gv.edges if ed.key == (r.subject, r.object))
    qtbot.mouseClick(gv.gv.viewport(), L, pos=gv.gv.mapFromScene(edge.label.mapToScene(0, 0)))
    qtbot.waitUntil(lambda: sv._keys == [(r.subject, r.object)], timeout=3000)
    gi = w.state.gi_obj
    assert int(sv._labels[gi, 0]) == r.predicate  # the dot's colour is the edge's predicate at t_end
    pairs = [tuple(p) for p in w.traj_data.current().space.pairs.tolist()]
    x, _ = sv._paths[0].getData()
    assert len(x) == len(e.times) and (r.subject, r.object) in pairs


def test_history_and_state_space_export_png_and_svg(qtbot, make_window, scene_with_gt, tmp_path):
    w, e = ready(qtbot, make_window, scene_with_gt)
    o = smallest_object(w)
    qtbot.mouseClick(w.image_view.gv.viewport(), L, pos=box_point(w, o.index))
    qtbot.waitUntil(lambda: w.state.selected_objects == {o.index}, timeout=2000)
    hp, sv = w.time_panel.history, w.state_space
    qtbot.waitUntil(lambda: len(sv._paths) > 0, timeout=5000)
    name = w.stable_labels(e, w.state.raw_graph())[o.index]
    for widget, stem in ((hp, "history"), (sv, "space")):
        png = widget.export_image(tmp_path / f"{stem}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        from PIL import Image

        assert Image.open(png).width >= 1200
        svg = widget.export_image(tmp_path / f"{stem}.svg")
        text = svg.read_text()
        assert text.lstrip().startswith("<?xml") and "<svg" in text
        import xml.etree.ElementTree as ET

        ET.fromstring(text)  # well-formed
    assert f"{name}:" in (tmp_path / "history.svg").read_text()  # the legend is part of the figure
    from nodis.errors import ExportError

    with pytest.raises(ExportError):
        hp.export_image(tmp_path / "history.jpg")
    assert QApplication.activeModalWidget() is None
