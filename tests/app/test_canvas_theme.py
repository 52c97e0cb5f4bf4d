"""The canvases follow the theme, and the time plots' legends never cover data (rendered offscreen and
read back pixel by pixel, driven by real clicks)."""
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from .conftest import wait_done
from .test_history_views import box_point
from .test_interactions import activate, contrast, open_and_wait

L = Qt.MouseButton.LeftButton


def pixels(widget):
    """The widget rendered now, as an (H, W, 3) array."""
    img = widget.grab().toImage().convertToFormat(widget.grab().toImage().Format.Format_RGB888)
    w, h = img.width(), img.height()
    arr = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h).reshape(h, img.bytesPerLine())
    return arr[:, : 3 * w].reshape(h, w, 3).copy()


def corner_lightness(widget) -> float:
    a = pixels(widget).astype(np.float64)
    return float(a[2:8, 2:8].mean())


@pytest.fixture
def light(qapp):
    from nodis_viewer.main import apply_palette

    apply_palette(qapp, "light")  # what --light / --theme light / a light desktop give
    yield
    apply_palette(qapp, "dark")


def canvases(w):
    return {"image": w.image_view.gv.viewport(), "graph": w.graph_view.gv.viewport(),
            "overview": w.time_panel.plot.viewport(), "history": w.time_panel.history.canvas.viewport(),
            "state space": w.state_space.canvas.viewport()}


def test_light_theme_canvases_plots_and_edge_labels(qtbot, make_window, scene_with_gt, light):
    w = make_window()
    w.state.set_mode("predcls")  # given boxes: relations between all of them, so edge labels are drawn
    open_and_wait(qtbot, w, [scene_with_gt])
    w.space_dock.raise_()
    w.time_panel.tabs.setCurrentWidget(w.time_panel.history)
    QTest.qWait(100)
    for name, vp in canvases(w).items():
        assert corner_lightness(vp) > 200, name  # a light canvas, not the dark one
    # axis text and the legend are dark on the light plots
    for pi in (w.time_panel.plot.getPlotItem(), w.time_panel.history.pi, w.state_space.pi):
        for ax in ("left", "bottom"):
            assert pi.getAxis(ax).textPen().color().lightness() < 100
    assert w.time_panel.legend.opts["labelTextColor"].lightness() < 100
    # the predicate labels are drawn dark on light: read the rendered pixels inside each label
    gv = w.graph_view
    rects = gv.label_rects()
    assert rects
    arr = pixels(gv.gv.viewport()).astype(np.float64).mean(axis=2)
    for r in rects[:4]:
        box = arr[int(r.top()) + 1:int(r.bottom()) - 1, int(r.left()) + 2:int(r.right()) - 2]
        assert box.mean() > 170 and box.min() < 90, (box.mean(), box.min())  # light pill, dark text
    e = gv.edges[0]
    assert contrast(e.label.fg, e.label.bg) >= 4.5
    # the desktop switches to dark while the viewer runs: the canvases follow
    from nodis_viewer.main import apply_palette

    apply_palette(QApplication.instance(), "dark")
    w.set_scheme("dark")
    QTest.qWait(100)
    for name, vp in canvases(w).items():
        assert corner_lightness(vp) < 60, name
    assert gv.edges and gv.edges[0].label.bg.lightness() < 80


def test_overview_legend_sits_outside_the_plot_area(qtbot, make_window, scene_with_gt):
    w = make_window()
    open_and_wait(qtbot, w, [scene_with_gt], decoded=True)
    tp = w.time_panel
    pi = tp.plot.getPlotItem()
    names = [lab.text for _, lab in tp.legend.items]
    assert names[:4] == ["objects", "relations", "object conf.", "predicate conf."]  # every curve drawn is named
    assert tp.legend.isVisible()
    plot_area = pi.vb.sceneBoundingRect()
    legend = tp.legend.sceneBoundingRect()
    assert legend.height() > 5 and not legend.intersects(plot_area), (legend, plot_area)
    assert legend.bottom() <= plot_area.top() + 0.5  # a row above the curves
    # a small screen: the legend wraps rather than pushing the right axis out of the plot
    for size in ((1280, 720), (1000, 700)):
        w.resize(*size)
        QTest.qWait(100)
        QApplication.processEvents()
        plot_area, legend = pi.vb.sceneBoundingRect(), tp.legend.sceneBoundingRect()
        assert not legend.intersects(plot_area) and legend.right() <= tp.plot.width() + 0.5, size
        assert pi.getAxis("right").sceneBoundingRect().right() <= tp.plot.width() + 0.5, size


def test_history_legend_beside_the_plot_and_marks_objects_not_in_the_graph(qtbot, make_window, scene_with_gt):
    w = make_window()
    w.state.set_mode("sgcls")
    w.open_paths([scene_with_gt])
    wait_done(qtbot, w, decoded=True)
    qtbot.waitUntil(lambda: w.traj_data.current() is not None and w.traj_data.current().decoded, timeout=30000)
    qtbot.waitUntil(w.image_loaded, timeout=5000)
    w.image_view.fit()
    activate(qtbot, w)
    QTest.qWait(50)
    g = w.current_display_graph()
    o = min(g.objects, key=lambda o: o.score)
    qtbot.mouseClick(w.image_view.gv.viewport(), L, pos=box_point(w, o.index))
    qtbot.waitUntil(lambda: w.state.selected_objects == {o.index}, timeout=2000)
    hp = w.time_panel.history
    qtbot.waitUntil(lambda: bool(hp.curves), timeout=10000)
    texts = [lab.text for _, lab in hp.legend.items]
    assert texts == [c.name() for c in hp.curves] and not any(hp.HIDDEN_MARK in t for t in texts)
    assert not hp.legend.sceneBoundingRect().intersects(hp.pi.vb.sceneBoundingRect())  # beside the curves
    # raise the object threshold above the selected object's score (typed, as a user would)
    activate(qtbot, w)
    w.obj_thr.setFocus()
    w.obj_thr.selectAll()
    v = min(0.99, o.score + 0.01)
    QTest.keyClicks(w.obj_thr, f"{v:.2f}")
    QTest.keyClick(w.obj_thr, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.state.obj_threshold == pytest.approx(round(v, 2)), timeout=2000)
    assert o.index not in {x.index for x in w.current_display_graph().objects}
    qtbot.waitUntil(lambda: hp.hidden_items() == {o.index}, timeout=2000)
    texts = [lab.text for _, lab in hp.legend.items]
    assert texts[0] == hp.curves[0].name() + hp.HIDDEN_MARK  # said so, in the legend
    assert all(not t.endswith(hp.HIDDEN_MARK) for t in texts[1:])
    # back below: named as the graph names it, unmarked
    w.obj_thr.selectAll()
    QTest.keyClicks(w.obj_thr, "0.00")
    QTest.keyClick(w.obj_thr, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not hp.hidden_items(), timeout=2000)
    assert [lab.text for _, lab in hp.legend.items] == [c.name() for c in hp.curves]


def test_history_names_only_objects_the_graph_shows(qtbot, make_window, noise_image):
    """An object selected while the graph does not show it (e.g. from before a threshold change) is
    plotted, marked as not in the graph, and asking for the legend's names never numbers objects that
    are not shown (that would push the numbers of the objects shown later)."""
    w = make_window()
    w.obj_thr.setValue(1.0)  # nothing passes: every object stays off the graph
    open_and_wait(qtbot, w, [noise_image], decoded=True)
    qtbot.waitUntil(lambda: w.traj_data.current() is not None, timeout=20000)
    e = w.state.current
    assert not w.current_display_graph().objects
    oid = w.state.raw_graph().objects[0].index
    w.state.select(objects=[oid])
    hp = w.time_panel.history
    qtbot.waitUntil(lambda: bool(hp.curves), timeout=10000)
    assert not e.names  # nobody was given a display name
    assert hp.hidden_items() == {oid}
    texts = [lab.text for _, lab in hp.legend.items]
    assert f"#{oid}" in texts[0]  # never shown: no display name, its id
    assert texts[0].endswith(hp.HIDDEN_MARK)


def test_plot_export_background_follows_the_theme(qtbot, make_window, tmp_path, light):
    from PySide6.QtGui import QImage

    w = make_window()
    p = w.time_panel.history.export_image(tmp_path / "h.png")
    img = QImage(str(p))
    assert img.pixelColor(2, 2).lightness() > 200
