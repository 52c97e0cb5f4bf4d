"""Drawings: annotated images, graph drawings, the t-strip; colours, layout, ground-truth colouring."""
from __future__ import annotations

import io
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from nodis import render
from nodis.errors import InputError
from nodis.export import example_scene_graph
from nodis.graph import ObjectNode, SceneGraph
from nodis.render import STATUS_COLORS, GroundTruthView, object_color


@pytest.fixture
def graph() -> SceneGraph:
    return example_scene_graph()


@pytest.fixture
def image() -> Image.Image:
    return Image.new("RGB", (640, 480), (128, 128, 128))


def _pixel_near(im: Image.Image, xy: tuple[float, float], color: tuple[int, int, int], radius: int = 3) -> bool:
    x0, y0 = int(round(xy[0])), int(round(xy[1]))
    for dx in range(-radius, radius + 1):
        for dy in range(-radius, radius + 1):
            x, y = x0 + dx, y0 + dy
            if 0 <= x < im.width and 0 <= y < im.height and im.getpixel((x, y)) == tuple(color):
                return True
    return False


def _gt_for(graph: SceneGraph) -> GroundTruthView:
    """GT = the man, horse and hat of the example (exact boxes) plus a missed 'dog', and the
    relations man-riding-horse (predicted) and man-holding-dog (missed)."""
    P = graph.predicate_names
    boxes = [graph.objects[k].box for k in (0, 1, 2)] + [(20.0, 300.0, 120.0, 420.0)]
    labels = [graph.objects[k].label for k in (0, 1, 2)] + [graph.class_names.index("dog")]
    rels = [[0, 1, P.index("riding")], [0, 3, P.index("holding")]]
    return GroundTruthView(np.array(boxes), np.array(labels), np.array(rels))


# ---------------------------------------------------------------------------------------- colours
def test_object_colors_distinct_and_stable():
    colors = [object_color(i) for i in range(64)]
    assert len(set(colors)) == 64
    assert colors == [object_color(i) for i in range(64)]
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in colors)
    assert render.object_color_hex(0) == "#1f77b4"
    assert render.text_color_for((255, 255, 255)) == (0, 0, 0)
    assert render.text_color_for((0, 0, 80)) == (255, 255, 255)


def test_node_labels_number_duplicates():
    objs = [ObjectNode(i, (0, 0, 1, 1), 1, n, 0.5) for i, n in enumerate(["man", "tree", "man"])]
    labels = render.node_labels(SceneGraph(objs, [], (10, 10)))
    assert labels == {0: "man 1", 1: "tree", 2: "man 2"}


# --------------------------------------------------------------------------------- annotated image
def test_draw_boxes_colours_and_size(graph, image):
    before = image.copy()
    out = render.draw_boxes(image, graph)
    assert out.size == image.size and out.mode == "RGB"
    assert image.tobytes() == before.tobytes()  # input untouched
    for o in graph.objects:  # each box outline carries its object's colour
        x1, _y1, x2, y2 = o.box
        assert _pixel_near(out, ((x1 + x2) / 2, y2), object_color(o.index)), o.name


def test_draw_boxes_scales_to_thumbnail(graph):
    small = Image.new("RGB", (320, 240), (128, 128, 128))
    out = render.draw_boxes(small, graph, show_scores=False)
    x1, _y1, x2, y2 = graph.objects[1].box  # the horse, bottom edge
    assert _pixel_near(out, ((x1 + x2) / 4, y2 / 2), object_color(1))


def test_draw_boxes_highlight_and_array_input(graph, image):
    out = render.draw_boxes(np.asarray(image), graph, highlight=0)
    x1, y1, x2, y2 = graph.objects[0].box
    assert _pixel_near(out, ((x1 + x2) / 2, y2), object_color(0))
    # a faded box is blended with the background, not drawn in its pure colour
    x1, y1, x2, y2 = graph.objects[4].box
    assert not _pixel_near(out, (x2, (y1 + y2) / 2), object_color(4), radius=1)


def test_match_ground_truth(graph):
    gt = _gt_for(graph)
    m = render.match_ground_truth(graph, gt)
    assert m.object_status == {0: "tp", 1: "tp", 2: "tp", 3: "fp", 4: "fp"}
    assert m.gt_of_object == {0: 0, 1: 1, 2: 2}
    assert m.missed_objects == [3]
    riding = [k for k, r in enumerate(graph.relations) if r.name == "riding"]
    assert [m.relation_status[k] for k in riding] == ["tp"]
    assert m.relation_status.count("tp") == 1
    assert m.missed_relations == [1]
    # a wrong class is a false positive even when the box is exact
    graph.objects[1].label = graph.class_names.index("dog")
    assert render.match_ground_truth(graph, gt).object_status[1] == "fp"
    with pytest.raises(InputError):
        render.match_ground_truth(graph, GroundTruthView(np.zeros((2, 4)), np.zeros(3)))


def test_draw_boxes_ground_truth_mode(graph, image):
    gt = _gt_for(graph)
    out = render.draw_boxes(image, graph, gt=gt)
    x1, y1, x2, y2 = graph.objects[0].box
    assert _pixel_near(out, ((x1 + x2) / 2, y2), STATUS_COLORS["tp"])
    x1, y1, x2, y2 = graph.objects[4].box  # the tree: not in the GT
    assert _pixel_near(out, (x2, (y1 + y2) / 2), STATUS_COLORS["fp"])
    # the missed dog: dashed orange outline (some orange, some background along the edge)
    edge = [out.getpixel((x, 420)) for x in range(30, 110)]
    assert STATUS_COLORS["missed"] in edge and (128, 128, 128) in edge


# ------------------------------------------------------------------------------------------ layout
def test_graph_layout_deterministic_and_inside(graph):
    a = render.graph_layout(graph, seed=0)
    assert a == render.graph_layout(graph, seed=0)
    assert set(a) == {o.index for o in graph.objects}
    xy = np.array(list(a.values()))
    assert xy.min() >= -0.1 and xy.max() <= 1.1
    # no two nodes on top of each other
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy))
    assert d.min() > 0.05


def test_graph_layout_union_is_stable(graph):
    early = graph.filtered(top_k=2)
    lay = render.graph_layout([early, graph])
    assert set(lay) == {o.index for o in graph.objects}
    assert render.graph_layout([]) == {}
    one = SceneGraph([ObjectNode(3, (0, 0, 5, 5), 1, "a", 1.0)], [], (10, 10))
    assert render.graph_layout(one) == {3: (0.5, 0.5)}


def test_focus_graph(graph):
    f = render.focus_graph(graph, 1)
    assert len(f.relations) == 1
    assert {o.index for o in f.objects} == {f.relations[0].subject, f.relations[0].object}
    assert render.focus_graph(graph, None) is graph
    # with GT, matched objects stay even when they are in no top relation
    f = render.focus_graph(graph, 1, _gt_for(graph))
    assert {0, 1, 2} <= {o.index for o in f.objects}


# ---------------------------------------------------------------------------------- graph drawing
def test_draw_graph_png_svg_pdf(graph):
    png = render.draw_graph(graph, size=(640, 400))
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size == (640, 400)
        im = im.convert("RGB")
        colors = set(map(tuple, np.asarray(im).reshape(-1, 3).tolist()))
    for o in graph.objects:  # nodes are filled with their objects' colours
        assert object_color(o.index) in colors, o.name
    svg = render.draw_graph(graph, fmt="svg")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    texts = "".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    for r in graph.relations:  # text stays text: predicates and names are searchable / editable
        assert r.name in texts
    assert "man" in texts and "horse" in texts
    assert render.draw_graph(graph, fmt="svg") == svg  # deterministic bytes
    assert render.draw_graph(graph, fmt="pdf").startswith(b"%PDF")
    with pytest.raises(InputError):
        render.draw_graph(graph, fmt="bmp")


def svg_arrows_and_boxes(svg: bytes):
    """(arrow tips, node boxes) of a graph drawing: each arrow's end point (where its filled head
    points) and each node label box (x1, y1, x2, y2), in SVG user units."""
    import re

    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"

    def points(d: str) -> np.ndarray:
        return np.array([float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]).reshape(-1, 2)

    tips, boxes = [], []
    for g in root.iter(ns + "g"):
        gid = g.get("id", "")
        paths = g.findall(ns + "path")
        if gid.startswith("patch_") and len(paths) == 2 and "fill: none" in paths[0].get("style", ""):
            tips.append(points(paths[0].get("d"))[-1])  # the shaft ends at the tip of its head
        if gid.startswith("text_"):
            for p in g.iter(ns + "path"):
                if "stroke:" in p.get("style", ""):  # node boxes are outlined, predicate pills are not
                    pts = points(p.get("d"))
                    boxes.append((*pts.min(0), *pts.max(0)))
    return tips, boxes


def test_graph_drawing_arrowheads_end_at_the_node_boxes(graph):
    """Every arrow stops just outside its target's box, so its head shows (SVG too: the boxes are laid
    out at the vector backend's 72 dpi before the arrows are clipped to them)."""
    svg = render.draw_graph(graph, fmt="svg", size=(800, 600))
    tips, boxes = svg_arrows_and_boxes(svg)
    assert len(tips) == len(graph.relations) and len(boxes) == len(graph.objects)
    for tip in tips:
        inside = [b for b in boxes if b[0] + 0.5 < tip[0] < b[2] - 0.5 and b[1] + 0.5 < tip[1] < b[3] - 0.5]
        assert not inside, f"arrow tip {tip} hidden under a node box"
        gap = min(max(b[0] - tip[0], tip[0] - b[2], b[1] - tip[1], tip[1] - b[3]) for b in boxes)
        assert gap < 8, f"arrow tip {tip} does not reach a node ({gap:.1f} away)"


def test_draw_graph_top_k_gt_and_empty(graph):
    gt = _gt_for(graph)
    svg = render.draw_graph(graph, fmt="svg", top_k=2, gt=gt, show_scores=True, title="t = 1.50")
    root = ET.fromstring(svg)
    texts = [t.text or "" for t in root.iter() if t.tag.endswith("text")]
    joined = " ".join(texts)
    assert "dog-GT" in joined and "holding" in joined  # missed GT object and relation
    assert "t = 1.50" in joined
    assert sum("in front of" in t for t in texts) == 0  # rank 5 relation is cut by top_k=2
    empty = SceneGraph([], [], (100, 100))
    with Image.open(io.BytesIO(render.draw_graph(empty, size=(200, 100)))) as im:
        assert im.size == (200, 100)


def test_draw_graph_keeps_given_layout(graph):
    lay = {o.index: (0.1 * o.index, 0.5) for o in graph.objects}
    fig = render.graph_figure(graph, layout=lay)
    ax = fig.axes[0]
    pos = {t.get_text(): t.get_position() for t in ax.texts}
    assert pos["horse"] == pytest.approx((0.1, 0.5))


# ----------------------------------------------------------------------------------------- t-strip
def test_t_strip(graph, image):
    graphs = []
    for t in (0.5, 1.5, 2.5):
        g = example_scene_graph()
        g.t_obj = g.t_rel = t
        graphs.append(g)
    strip = render.draw_t_strip(image, graphs, cell_width=200, top_k=3)
    pad = max(6, 200 // 30)
    assert strip.width == 3 * (200 + 2 * pad)
    # the t_end (middle) column is framed, the others are not
    frame = (31, 119, 180)
    assert strip.getpixel((200 + 2 * pad + 1, strip.height // 2)) == frame
    assert strip.getpixel((1, strip.height // 2)) != frame
    rows = render.draw_t_strip(image, graphs, cell_width=200, orientation="rows", gt=_gt_for(graph))
    assert rows.height > rows.width
    with pytest.raises(InputError):
        render.draw_t_strip(image, [])


# ------------------------------------------------------------------------------------- isolation
def test_no_qt_no_pyplot():
    code = ("import sys; from nodis import render, export; g = export.example_scene_graph();"
            "render.draw_graph(g, fmt='svg'); from PIL import Image;"
            "render.draw_boxes(Image.new('RGB', (64, 48)), g);"
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'PyQt', 'matplotlib.pyplot'))];"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
