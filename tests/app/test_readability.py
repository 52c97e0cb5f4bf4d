"""Readable at first sight: defaults, no overlapping text, a graph that keeps its shape while t moves,
display names that never renumber, and hover linking box <-> node <-> table row (real mouse events)."""
import itertools
import re

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from .conftest import wait_done
from .test_interactions import activate, box_point, open_and_wait


def disjoint(rects) -> bool:
    return not any(a.intersects(b) for a, b in itertools.combinations(rects, 2))


def test_first_view_defaults(qtbot, make_window, scene_with_gt):
    w = make_window()
    st = w.state
    assert (st.top_k, st.rel_threshold, st.obj_threshold, st.all_pairs, st.compare_gt) == (10, 0.0, 0.3, False, False)
    assert (w.topk_spin.value(), w.obj_thr.value(), w.pairs_box.isChecked(), w.act_gt.isChecked()) == (10, 0.3, False, False)
    st.set_mode("predcls")  # the case: 5 given objects, 20 ordered pairs
    e = open_and_wait(qtbot, w, [scene_with_gt])
    raw = st.raw_graph()
    assert len(raw.relations) == 20
    g = w.current_display_graph()
    pairs = [frozenset((r.subject, r.object)) for r in g.relations]
    # one edge per pair of objects (the better direction), and no more edges than objects: 5, not all
    # 10 pairs of the 5 given boxes
    assert len(g.objects) == 5 and len(pairs) == len(set(pairs)) == 5
    best_per_pair = {}
    for x in raw.relations:  # ranked best first
        best_per_pair.setdefault(frozenset((x.subject, x.object)), x)
    ranked = sorted(best_per_pair.values(), key=lambda x: -x.score)
    assert [(r.subject, r.object) for r in g.relations] == [(x.subject, x.object) for x in ranked[:5]]
    for r in g.relations:
        back = next(x for x in raw.relations if (x.subject, x.object) == (r.object, r.subject))
        assert r.score >= back.score
    # "all pairs" (a click on the box) lifts both: top-K 10 of the 20 ordered pairs
    activate(qtbot, w)
    qtbot.mouseClick(w.pairs_box, Qt.MouseButton.LeftButton, pos=QPoint(8, w.pairs_box.height() // 2))
    assert w.state.all_pairs
    assert len(w.current_display_graph().relations) == 10 == len(w.graph_view.edge_labels())
    qtbot.mouseClick(w.pairs_box, Qt.MouseButton.LeftButton, pos=QPoint(8, w.pairs_box.height() // 2))
    assert not w.state.all_pairs and len(w.current_display_graph().relations) == 5
    assert not [it for it in w.image_view._items if getattr(it, "ring", None) is not None]  # no GT colouring
    assert e.gt is not None  # ... though it is there, a click (G) away


def test_tags_and_edge_labels_never_overlap(qtbot, make_window, noise_image):
    w = make_window()
    w.obj_thr.setValue(0.0)  # crowded on purpose: every box, many relations
    w.topk_spin.setValue(40)
    w.unrelated_box.setChecked(False)
    open_and_wait(qtbot, w, [noise_image])
    activate(qtbot, w)
    iv, gv = w.image_view, w.graph_view
    g = w._last_drawn
    assert len(g.objects) >= 8
    tags = iv.tag_rects()
    assert tags and disjoint(list(tags.values()))
    best = max(g.objects, key=lambda o: o.score)
    assert best.index in tags  # the top detection's tag is never the hidden one
    # zooming keeps them apart
    iv.zoom(1.6)
    QTest.qWait(50)
    assert disjoint(list(iv.tag_rects().values()))
    iv.fit()
    QTest.qWait(50)
    # a hidden tag shows while its box is hovered
    hidden = iv.hidden_tags()
    if hidden:
        oid = hidden[0]
        QTest.mouseMove(iv.gv.viewport(), box_point(w, oid))
        qtbot.waitUntil(lambda: oid in iv.tag_rects(), timeout=2000)
    # predicate labels: no two overlap, none covers a node
    gv.fit()
    QTest.qWait(50)
    labels, nodes = gv.label_rects(), list(gv.node_rects().values())
    assert labels and disjoint(labels)
    assert not any(lab.intersects(n) for lab in labels for n in nodes)
    assert len(labels) + len(gv.hidden_labels()) == len(gv.edge_labels())


def test_graph_keeps_its_shape_while_scrubbing(qtbot, make_window, noise_image):
    w = make_window()
    w.obj_thr.setValue(0.0)
    w.topk_spin.setValue(15)
    e = open_and_wait(qtbot, w, [noise_image], decoded=True)
    activate(qtbot, w)
    gv = w.graph_view
    QTest.keyClick(w, Qt.Key.Key_Home)  # t = 0, then step through every grid time with the arrow key
    seen = {}
    for _ in range(len(e.times)):
        QApplication.processEvents()
        assert gv.nodes_in_view(), f"a node outside the view at t = {w.state.t_obj()}"
        pos = gv.node_positions()
        for k, p in pos.items():  # a node never moves while t moves
            if k in seen:
                assert seen[k] == p
            seen[k] = p
        pts = np.array(list(pos.values()))
        if len(pts) > 1:  # nodes do not pile onto each other
            d = np.hypot(*(pts[:, None] - pts[None]).transpose(2, 0, 1))
            np.fill_diagonal(d, np.inf)
            assert d.min() > 20
        QTest.keyClick(w, Qt.Key.Key_Right)


def test_display_names_never_renumber_and_match_exports(qtbot, make_window, make_noise, tmp_path):
    w = make_window()
    w.obj_thr.setValue(0.0)
    w.topk_spin.setValue(30)
    w.unrelated_box.setChecked(False)
    w.open_paths([make_noise("a.png", 3)])
    e = wait_done(qtbot, w, decoded=False)  # shown at once, before the other times are decoded
    qtbot.waitUntil(lambda: w._last_drawn is not None, timeout=5000)
    first = dict(w.stable_labels(e, w._last_drawn))
    first_keys = {(o.index, o.name): first[o.index] for o in w._last_drawn.objects}
    wait_done(qtbot, w, decoded=True)
    for gi in range(len(e.times)):  # every time decoded, every name looked at
        w.time_panel.obj_slider.setValue(gi)
    w.act_t_end.trigger()
    now = w.stable_labels(e, w._last_drawn)
    assert {(o.index, o.name): now[o.index] for o in w._last_drawn.objects} == first_keys
    names = list(now.values())
    assert len(names) == len(set(names))  # every shown object has its own name
    # an exported drawing uses the names on screen
    path = tmp_path / "g.svg"
    with qtbot.waitSignal(w.exporter.finished, timeout=60000):
        w.export_to("svg", path)
    svg_text = " ".join(re.findall(r">([^<>]+)</text>", path.read_text()))
    g = w.export_item(e).graph
    related = {r.subject for r in g.relations} | {r.object for r in g.relations}
    assert len(related) >= 3
    for o in g.objects:  # the drawing shows the objects of the relations
        if o.index in related:
            assert now[o.index] in svg_text


def test_hover_links_box_node_and_table_row(qtbot, make_window, noise_image):
    w = make_window()
    open_and_wait(qtbot, w, [noise_image])
    activate(qtbot, w)
    g = w._last_drawn
    r = g.relations[0]
    oid = r.subject
    # pointer on the box -> its node and its table row light up
    o = next(o for o in w.image_view._objects if o.index == oid)
    target = w.image_view.object_at((o.box[0] + o.box[2]) / 2, (o.box[1] + o.box[3]) / 2).index  # the smallest box there
    QTest.mouseMove(w.image_view.gv.viewport(), box_point(w, oid))
    qtbot.waitUntil(lambda: w.state.hovered_objects == {target}, timeout=3000)
    assert w.graph_view.nodes[target].hovered
    row = next(k for k, rw in enumerate(w.tables.obj_model.rows) if rw["key"] == target)
    bg = w.tables.obj_model.data(w.tables.obj_model.index(row, 1), Qt.ItemDataRole.BackgroundRole)
    assert bg is not None
    # pointer on a node -> its box is drawn highlighted
    QTest.mouseMove(w.image_view.gv.viewport(), QPoint(1, 1))
    gv = w.graph_view
    gv.fit()
    QTest.qWait(50)
    other = next(k for k in gv.nodes if isinstance(k, int) and k != target)
    p = gv.gv.mapFromScene(gv.vb.mapViewToScene(QPointF(gv.nodes[other].pos())))
    QTest.mouseMove(gv.gv.viewport(), p)
    qtbot.waitUntil(lambda: w.state.hovered_objects == {other}, timeout=3000)
    box = next(it for it in w.image_view._items if type(it).__name__ == "BoxItem" and it.oid == other)
    assert box.hovered and not gv.nodes[target].hovered
    QTest.mouseMove(gv.gv.viewport(), QPoint(1, 1))
    qtbot.waitUntil(lambda: not w.state.hovered_objects, timeout=3000)
    assert not box.hovered


def test_new_nodes_join_their_neighbours_without_piling_up():
    from nodis_viewer.graph_view import compute_layout

    from nodis.graph import ObjectNode, Relation, SceneGraph

    objs = [ObjectNode(i, (10.0 * i, 10.0, 10.0 * i + 8, 18.0), 1, "a", 0.9) for i in range(4)]
    existing = {0: (100.0, 100.0), 1: (400.0, 100.0), 2: (100.0, 400.0), 3: (400.0, 400.0)}
    new = [ObjectNode(7, (300.0, 300.0, 320.0, 320.0), 1, "b", 0.5), ObjectNode(8, (0.0, 0.0, 5.0, 5.0), 1, "c", 0.4),
           ObjectNode(9, (1.0, 1.0, 4.0, 4.0), 1, "c", 0.3)]
    rels = [Relation(7, 3, 1, "on", 0.3, 0.5), Relation(8, 9, 1, "on", 0.2, 0.5)]
    g = SceneGraph(objs + new, rels, (400, 400))
    lay = compute_layout([g], existing=existing, spacing=(110.0, 45.0))
    assert all(lay[k] == v for k, v in existing.items())  # placed nodes never move
    p = np.array([lay[k] for k in sorted(lay)])
    d = (p[:, None] - p[None]) / (110.0, 45.0)
    dist = np.hypot(d[..., 0], d[..., 1])
    np.fill_diagonal(dist, np.inf)
    assert dist.min() >= 1.0  # nobody on top of anybody
    assert np.hypot(*(np.subtract(lay[7], existing[3]) / (110.0, 45.0))) < 2.5  # next to its neighbour
    lo, hi = np.min(list(existing.values()), 0), np.max(list(existing.values()), 0)
    for k in (8, 9):  # no neighbour placed: where its box is, within the layout's extent (give or take a node)
        assert np.all(np.asarray(lay[k]) >= lo - (220, 90)) and np.all(np.asarray(lay[k]) <= hi + (220, 90))
