"""Every drawing of a scene graph: annotated images, graph drawings and the paper's t-strip (Fig. 4).

Shared by the CLI exporters (:mod:`nodis.export`) and the Qt viewer; nothing here imports Qt or
``matplotlib.pyplot`` (figures are built from :class:`matplotlib.figure.Figure` with the Agg canvas,
so no display is needed and no global backend is switched).

Colours: :func:`object_color` gives object ``i`` the same colour in the image (its box) and in the
graph (its node). With ground truth (:class:`GroundTruthView`, or any object with ``boxes``,
``labels``, ``relations``) the colours switch to the paper's evaluation colouring: matched
predictions green, false positives red, missed ground truth orange and dashed with a ``-GT`` suffix.

Boxes are ``(x1, y1, x2, y2)`` in pixels of the original image; when the image handed to a drawing
function has another size (a thumbnail), boxes are scaled to it.
"""
from __future__ import annotations

import colorsys
import io
import math
import re
import unicodedata
import warnings
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import InputError
from .graph import SceneGraph

__all__ = [
    "PALETTE", "object_color", "object_color_hex", "text_color_for", "STATUS_COLORS",
    "GroundTruthView", "GroundTruthMatch", "match_ground_truth", "node_labels",
    "draw_boxes", "graph_layout", "graph_figure", "draw_graph", "draw_t_strip", "focus_graph", "get_font",
    "display_text",
]

# -------------------------------------------------------------------------------------------- text
# a label in a script the font lacks is drawn with placeholder boxes; matplotlib's warning about it
# would reach the user once per glyph and drawing
warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from (current )?font", category=UserWarning)
#: Longest label drawn (characters); longer names are cut with an ellipsis.
MAX_LABEL_CHARS = 120
_LINE_BREAKS = re.compile("[\t\n\r\v\f\x1c-\x1e\x85\u2028\u2029]+")


def _unprintable(c: str) -> bool:
    o = ord(c)
    return (unicodedata.category(c) in ("Cc", "Cs") or 0xFDD0 <= o <= 0xFDEF or (o & 0xFFFE) == 0xFFFE)


def display_text(text: Any) -> str:
    """``text`` as it is drawn (image tags, graph nodes and edges, titles; also the viewer's labels):
    line breaks and tabs become spaces, other control characters, lone surrogates and Unicode
    non-characters (U+FFFE ...) become U+FFFD, and labels longer than :data:`MAX_LABEL_CHARS` are
    cut. The result is valid in XML (SVG), laid out by every text engine, and drawn by matplotlib as
    plain text (no ``$...$`` mathtext: the drawings pass ``parse_math=False``)."""
    s = _LINE_BREAKS.sub(" ", str(text))
    if any(_unprintable(c) for c in s):
        s = "".join("\ufffd" if _unprintable(c) else c for c in s)
    if len(s) > MAX_LABEL_CHARS:
        s = s[: MAX_LABEL_CHARS - 1] + "\u2026"
    return s


# ----------------------------------------------------------------------------------------- colours
#: 20 well separated colours (matplotlib tab10 followed by its lighter tab20 partners, reordered
#: so that neighbours differ in hue). Beyond 20 objects, hues follow the golden angle.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
    (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
)

#: Colours of the ground-truth evaluation mode (paper Fig. 4/5, neural-motifs ``_visualize.py``).
STATUS_COLORS: dict[str, tuple[int, int, int]] = {
    "tp": (0, 158, 60),      # matched prediction
    "fp": (214, 39, 40),     # false positive (wrong class, no overlapping GT, or wrong triplet)
    "missed": (255, 140, 0),  # ground truth not found ("-GT")
}


def object_color(i: int) -> tuple[int, int, int]:
    """A distinct RGB colour for object index ``i`` (stable: the same index always gets the same colour)."""
    i = int(i)
    if 0 <= i < len(PALETTE):
        return PALETTE[i]
    h = (abs(i) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.75, 0.85)
    return int(r * 255), int(g * 255), int(b * 255)


def object_color_hex(i: int) -> str:
    """:func:`object_color` as ``"#rrggbb"``."""
    return "#%02x%02x%02x" % object_color(i)


def text_color_for(rgb: Sequence[int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on background ``rgb`` (WCAG relative luminance)."""
    def lin(c: float) -> float:
        c = c / 255.0
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(float(c)) for c in rgb[:3])
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (0, 0, 0) if lum > 0.34 else (255, 255, 255)


def _mpl(rgb: Sequence[int]) -> tuple[float, float, float]:
    return (rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0)


# ------------------------------------------------------------------------------------------- fonts
@lru_cache(maxsize=64)
def get_font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A scalable font of ``size`` pixels: DejaVu Sans (shipped with matplotlib, so image tags match
    the graph drawings), else Pillow's built-in scalable font (Pillow >= 10.1), else the bitmap default."""
    size = max(6, int(round(size)))
    try:
        import matplotlib

        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)
    except Exception:  # pragma: no cover - matplotlib is a dependency; keep going without it
        pass
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow < 10.1
        return ImageFont.load_default()


def _text_size(draw: ImageDraw.ImageDraw, text: str, font: Any) -> tuple[int, int, int]:
    """(width, height, y-offset of the ink) of ``text``."""
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    return x1 - x0, y1 - y0, y0


# ------------------------------------------------------------------------------------- ground truth
@dataclass
class GroundTruthView:
    """Ground truth of one image for drawing.

    ``boxes``: (N, 4) float, ``x1, y1, x2, y2`` in pixels of the same image frame as the predicted
    graph; ``labels``: (N,) class indices (0 = background is never used); ``relations``: (R, 3)
    ``(subject, object, predicate)`` rows indexing ``boxes``. ``class_names`` / ``predicate_names``
    name the labels (optional: the predicted graph's vocabularies are used otherwise).
    :class:`nodis.evaluation.GroundTruth` or anything with these attributes works the same.
    """

    boxes: Any
    labels: Any
    relations: Any = field(default_factory=lambda: np.zeros((0, 3), dtype=np.int64))
    class_names: Sequence[str] | None = None
    predicate_names: Sequence[str] | None = None


@dataclass
class GroundTruthMatch:
    """How a predicted graph compares with the ground truth.

    ``object_status[index]`` is ``"tp"`` (same class and IoU >= threshold with a GT box, one-to-one,
    greedy by score) or ``"fp"``; ``gt_of_object[index]`` the matched GT box; ``missed_objects`` the GT
    boxes no prediction matched. ``relation_status[k]`` is ``"tp"`` when relation ``k`` of the graph
    matches a GT triplet under the recall rule (subject, object and predicate classes equal and both
    boxes IoU >= threshold), else ``"fp"``; ``missed_relations`` are the GT relation rows no relation
    of the graph matched.
    """

    object_status: dict[int, str]
    gt_of_object: dict[int, int]
    missed_objects: list[int]
    relation_status: list[str]
    missed_relations: list[int]

    @property
    def object_of_gt(self) -> dict[int, int]:
        return {g: o for o, g in self.gt_of_object.items()}


def _gt_arrays(gt: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        boxes = np.asarray(_to_numpy(gt.boxes), dtype=np.float64).reshape(-1, 4)
        labels = np.asarray(_to_numpy(gt.labels), dtype=np.int64).reshape(-1)
        rels = getattr(gt, "relations", None)
        rels = np.zeros((0, 3), np.int64) if rels is None else np.asarray(_to_numpy(rels), dtype=np.int64).reshape(-1, 3)
    except (AttributeError, ValueError, TypeError) as e:
        raise InputError(f"ground truth needs boxes (N,4), labels (N,) and relations (R,3): {e}") from e
    if len(boxes) != len(labels):
        raise InputError(f"ground truth has {len(boxes)} boxes but {len(labels)} labels")
    if len(rels) and (rels[:, :2].min() < 0 or rels[:, :2].max() >= len(boxes)):
        raise InputError("ground-truth relations index boxes that do not exist")
    return boxes, labels, rels


def _to_numpy(x: Any) -> Any:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch
        return x.detach().cpu().numpy()
    return x


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (N,4) against (M,4) xyxy boxes (continuous coordinates)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_ground_truth(graph: SceneGraph, gt: Any, iou_threshold: float = 0.5) -> GroundTruthMatch:
    """Compare ``graph`` (all its objects and relations) with ground truth ``gt``; see :class:`GroundTruthMatch`."""
    gboxes, glabels, grels = _gt_arrays(gt)
    objs = list(graph.objects)
    pboxes = np.array([o.box for o in objs], dtype=np.float64).reshape(-1, 4)
    iou = _iou_matrix(pboxes, gboxes)
    same = np.array([[o.label == int(g) for g in glabels] for o in objs], dtype=bool).reshape(len(objs), len(glabels))
    ok = (iou >= iou_threshold) & same

    status: dict[int, str] = {}
    gt_of: dict[int, int] = {}
    taken: set[int] = set()
    for p in sorted(range(len(objs)), key=lambda k: -objs[k].score):
        cands = [g for g in np.flatnonzero(ok[p]) if int(g) not in taken]
        if cands:
            g = max(cands, key=lambda g: iou[p, g])
            taken.add(int(g))
            gt_of[objs[p].index] = int(g)
            status[objs[p].index] = "tp"
        else:
            status[objs[p].index] = "fp"
    missed_objects = [g for g in range(len(gboxes)) if g not in taken]

    pos = {o.index: k for k, o in enumerate(objs)}
    rel_status: list[str] = []
    hit: set[int] = set()
    for r in graph.relations:
        ps, po = pos.get(r.subject), pos.get(r.object)
        found = False
        if ps is not None and po is not None:
            for j, (gs, go, gp) in enumerate(grels):
                if int(gp) == r.predicate and ok[ps, gs] and ok[po, go]:
                    hit.add(j)
                    found = True
        rel_status.append("tp" if found else "fp")
    missed_relations = [j for j in range(len(grels)) if j not in hit]
    return GroundTruthMatch(status, gt_of, missed_objects, rel_status, missed_relations)


def _shown_gt_nodes(match: GroundTruthMatch, grels: np.ndarray) -> set[int]:
    """GT objects drawn as their own ``-GT`` node: missed ones, and endpoints of missed GT relations
    that no detection matched."""
    shown = set(match.missed_objects)
    obj_of_gt = match.object_of_gt
    for j in match.missed_relations:
        shown.update(int(x) for x in grels[j][:2] if int(x) not in obj_of_gt)
    return shown


def _gt_name(gt: Any, labels: np.ndarray, j: int, class_names: Sequence[str] | None) -> str:
    names = getattr(gt, "class_names", None) or class_names
    lab = int(labels[j])
    if names is not None and 0 <= lab < len(names):
        return display_text(names[lab])
    return f"class {lab}"


def _gt_predicate(gt: Any, p: int, predicate_names: Sequence[str] | None) -> str:
    names = getattr(gt, "predicate_names", None) or predicate_names
    if names is not None and 0 <= p < len(names):
        return display_text(names[p])
    return f"predicate {p}"


# ------------------------------------------------------------------------------------------- labels
def node_labels(graph: SceneGraph, names: dict[int, str] | None = None) -> dict[int, str]:
    """Display label per object index: its name (:func:`display_text`), numbered (``"man 1"``,
    ``"man 2"``) when several objects share a name, so image tags and graph nodes can be told apart.
    ``names`` (object index -> label) gives the labels of those objects instead (the viewer passes the
    names it shows, so exported drawings match the screen)."""
    if names:
        auto = node_labels(graph)
        return {o.index: display_text(names[o.index]) if o.index in names else auto[o.index] for o in graph.objects}
    shown = {o.index: display_text(o.name) for o in graph.objects}
    counts: dict[str, int] = {}
    for o in graph.objects:
        counts[shown[o.index]] = counts.get(shown[o.index], 0) + 1
    seen: dict[str, int] = {}
    out: dict[int, str] = {}
    for o in sorted(graph.objects, key=lambda o: o.index):
        name = shown[o.index]
        if counts[name] > 1:
            seen[name] = seen.get(name, 0) + 1
            out[o.index] = f"{name} {seen[name]}"
        else:
            out[o.index] = name
    return out


def focus_graph(graph: SceneGraph, top_k: int | None, gt: Any = None, iou_threshold: float = 0.5) -> SceneGraph:
    """The top-``top_k`` relations and only the objects they connect (the top-``top_k`` objects by
    score when there are no relations). With ``gt``, objects that match a ground-truth box are kept
    too, so that a detected object is not reported as missed just because it is in no top relation.
    ``top_k=None`` returns ``graph`` unchanged."""
    if top_k is None:
        return graph
    g = graph.filtered(top_k=top_k)
    used = {r.subject for r in g.relations} | {r.object for r in g.relations}
    if gt is not None:
        m = match_ground_truth(graph, gt, iou_threshold)
        used |= {i for i, st in m.object_status.items() if st == "tp"}
    if used:
        g.objects = [o for o in g.objects if o.index in used]
    else:
        g.objects = sorted(g.objects, key=lambda o: -o.score)[: max(0, int(top_k))]
        g.objects.sort(key=lambda o: o.index)
    return g


# ----------------------------------------------------------------------------------- annotated image
def _as_image(image: Any) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, np.ndarray):
        arr = image
        if arr.dtype != np.uint8:
            arr = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        return Image.fromarray(arr)
    raise InputError(f"expected a PIL image or a numpy array, got {type(image).__name__}")


def _dashed_rect(draw: ImageDraw.ImageDraw, box: Sequence[float], color: tuple, width: int, dash: int) -> None:
    x1, y1, x2, y2 = box
    for (ax, ay, bx, by) in ((x1, y1, x2, y1), (x2, y1, x2, y2), (x2, y2, x1, y2), (x1, y2, x1, y1)):
        length = math.hypot(bx - ax, by - ay)
        if length == 0:
            continue
        n = max(1, int(length // (2 * dash)))
        step = length / (2 * n)
        for k in range(n):
            s, e = 2 * k * step / length, (2 * k + 1) * step / length
            draw.line([(ax + (bx - ax) * s, ay + (by - ay) * s), (ax + (bx - ax) * e, ay + (by - ay) * e)],
                      fill=color, width=width)


def _ordered(x1: float, y1: float, x2: float, y2: float) -> tuple[float, float, float, float]:
    """A box with ``x1 <= x2`` and ``y1 <= y2`` (Pillow refuses others)."""
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def _overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def draw_boxes(image: Any, graph: SceneGraph, *, show_scores: bool = True,
               highlight: int | Iterable[int] | None = None, gt: Any = None,
               iou_threshold: float = 0.5, line_width: int | None = None,
               font_size: int | None = None, labels: dict[int, str] | None = None) -> Image.Image:
    """The image with one outlined box and a label tag (``"name score"``) per object of ``graph``.

    ``image``: PIL image (or HxWx3 uint8 array) of the original picture, or a resized copy (boxes are
    scaled from ``graph.image_size`` to it). ``highlight``: object index or indices drawn thicker while
    the others fade. ``gt``: ground truth (:class:`GroundTruthView` or duck-typed) switches to the
    evaluation colouring: matched = green, false positive = red, missed GT = orange dashed ``name-GT``.
    Line width and font scale with the image size. Returns a new RGB image; ``image`` is not modified.
    """
    base = _as_image(image).convert("RGB")
    W, H = base.size
    gw, gh = graph.image_size if graph.image_size and graph.image_size[0] > 0 else (W, H)
    sx, sy = W / float(gw), H / float(gh)
    short = min(W, H)
    lw = line_width or max(2, int(round(short / 220)))
    fsize = font_size or max(11, int(round(short / 38)))
    font = get_font(fsize)
    labels = node_labels(graph, labels)

    hl: set[int] | None = None
    if highlight is not None:
        hl = {int(highlight)} if isinstance(highlight, (int, np.integer)) else {int(h) for h in highlight}

    match = gt_arrays = None
    if gt is not None:
        match = match_ground_truth(graph, gt, iou_threshold)
        gt_arrays = _gt_arrays(gt)

    # (box in image pixels, colour, tag text, dashed, faded)
    items: list[tuple[tuple[float, float, float, float], tuple[int, int, int], str, bool, bool]] = []
    for o in sorted(graph.objects, key=lambda o: o.score):  # best score drawn last (on top)
        x1, y1, x2, y2 = o.box
        box = _ordered(x1 * sx, y1 * sy, x2 * sx, y2 * sy)
        color = STATUS_COLORS[match.object_status[o.index]] if match else object_color(o.index)
        text = labels[o.index] + (f" {o.score:.2f}" if show_scores else "")
        items.append((box, color, text, False, hl is not None and o.index not in hl))
    if match is not None and gt_arrays is not None:
        gboxes, glabels, _ = gt_arrays
        for j in match.missed_objects:
            x1, y1, x2, y2 = gboxes[j]
            name = _gt_name(gt, glabels, j, graph.class_names)
            items.append((_ordered(x1 * sx, y1 * sy, x2 * sx, y2 * sy), STATUS_COLORS["missed"], f"{name}-GT", True,
                          hl is not None))

    # label tags, placed greedily (best score first) so that they do not cover one another
    probe = ImageDraw.Draw(base)
    pad = max(2, fsize // 5)
    placed: list[tuple[float, float, float, float]] = []
    tags: list[tuple[float, float, float, float] | None] = [None] * len(items)
    for k in reversed(range(len(items))):
        box, _color, text, _dashed, _faded = items[k]
        tw, th, _ = _text_size(probe, text, font)
        w, h = tw + 2 * pad, th + 2 * pad
        x1, y1, x2, y2 = box
        x = min(max(0.0, x1), max(0.0, W - w))
        rect = None
        for cy in [y1 - h, y1, y2 - h, y2] + [y1 + m * h for m in range(1, 8)]:
            cy = min(max(0.0, cy), max(0.0, H - h))
            r = (x, cy, x + w, cy + h)
            if not any(_overlaps(r, p) for p in placed):
                rect = r
                break
        if rect is None:
            cy = min(max(0.0, y1 - h), max(0.0, H - h))
            rect = (x, cy, x + w, cy + h)
        placed.append(rect)
        tags[k] = rect

    def paint(draw: ImageDraw.ImageDraw, faded_pass: bool) -> None:
        alpha = (110,) if faded_pass else ()
        for (box, color, _t, dashed, faded) in items:
            if faded != faded_pass:
                continue
            width = lw if hl is None or faded else 2 * lw
            if dashed:
                _dashed_rect(draw, box, tuple(color) + alpha, width, dash=max(4, 3 * width))
            else:  # a thin dark halo keeps bright boxes visible on bright images
                draw.rectangle(box, outline=(30, 30, 30) + alpha, width=width + 2)
                draw.rectangle(box, outline=tuple(color) + alpha, width=width)
        for (_box, color, text, _dashed, faded), rect in zip(items, tags):
            if faded != faded_pass or rect is None:
                continue
            _, _, yoff = _text_size(draw, text, font)
            draw.rectangle(rect, fill=tuple(color) + alpha)
            draw.text((rect[0] + pad, rect[1] + pad - yoff), text, font=font,
                      fill=tuple(text_color_for(color)) + alpha)

    out = base.copy()
    if any(it[4] for it in items):
        overlay = Image.new("RGBA", out.size, (0, 0, 0, 0))
        paint(ImageDraw.Draw(overlay), True)
        out = Image.alpha_composite(out.convert("RGBA"), overlay).convert("RGB")
    paint(ImageDraw.Draw(out), False)
    return out


# -------------------------------------------------------------------------------------------- layout
LayoutNode = Hashable  # object index (int), or ("gt", j) for a ground-truth-only node


def _layout_graph(graphs: Sequence[SceneGraph], gt: Any = None, show_scores: bool = False):
    import networkx as nx

    G = nx.Graph()
    init: dict[Any, list[float]] = {}
    label_len: dict[Any, int] = {}
    for g in graphs:
        W, H = (max(1, g.image_size[0]), max(1, g.image_size[1])) if g.image_size else (1, 1)
        labels = node_labels(g)
        for o in g.objects:
            x1, y1, x2, y2 = o.box
            c = init.setdefault(o.index, [0.0, 0.0, 0])
            c[0] += ((x1 + x2) / 2) / W
            c[1] += 1.0 - ((y1 + y2) / 2) / H
            c[2] += 1
            G.add_node(o.index)
            label_len[o.index] = max(label_len.get(o.index, 0), len(labels[o.index]) + (5 if show_scores else 0))
        for r in g.relations:
            if r.subject != r.object and G.has_node(r.subject) and G.has_node(r.object):
                G.add_edge(r.subject, r.object)
    if gt is not None and graphs:
        gboxes, glabels, grels = _gt_arrays(gt)
        W, H = (max(1, v) for v in graphs[0].image_size)
        boxes = {o.index: o.box for g in graphs for o in g.objects}
        idx = sorted(boxes)
        iou = _iou_matrix(np.array([boxes[i] for i in idx], dtype=np.float64).reshape(-1, 4), gboxes)
        shown: set[int] = set()  # GT objects drawn as "-GT" nodes in at least one graph
        for g in graphs:
            shown |= _shown_gt_nodes(match_ground_truth(g, gt), grels)
        for j in sorted(shown):
            x1, y1, x2, y2 = gboxes[j]
            n = ("gt", j)
            G.add_node(n)
            init[n] = [((x1 + x2) / 2) / W, 1.0 - ((y1 + y2) / 2) / H, 1]
            label_len[n] = len(_gt_name(gt, glabels, j, graphs[0].class_names)) + 3
            if len(idx) and iou[:, j].max() >= 0.5:  # keep a GT node next to the detection it overlaps
                G.add_edge(n, idx[int(iou[:, j].argmax())])
        for s, o, _p in grels:
            if s != o and int(s) in shown and int(o) in shown:
                G.add_edge(("gt", int(s)), ("gt", int(o)))
    pos0 = {n: (v[0] / v[2], v[1] / v[2]) for n, v in init.items()}
    return G, pos0, label_len


#: Limits of the drawing area in layout units (the layout fills the unit square).
_XLIM = (-0.1, 1.1)
_YLIM = (-0.08, 1.08)


def _node_font_pt(size: tuple[int, int], dpi: int, font_scale: float = 1.0) -> float:
    """Node label font size (points) for a drawing of ``size`` pixels: 12 pt at 800x600 and 100 dpi."""
    w, h = size
    return max(6.0, 12.0 * min(w / 800.0, h / 600.0) ** 0.5 * 100.0 / dpi * font_scale)


def _label_extent(size: tuple[int, int], dpi: int, font_scale: float) -> tuple[float, float]:
    """(width of one character, height of a node box) in layout units for a drawing of ``size``."""
    px = _node_font_pt(size, dpi, font_scale) * dpi / 72.0
    w, h = size
    return 0.64 * px * (_XLIM[1] - _XLIM[0]) / w, 2.1 * px * (_YLIM[1] - _YLIM[0]) / h


def graph_layout(graph: SceneGraph | Sequence[SceneGraph], seed: int = 0, *, gt: Any = None,
                 size: tuple[int, int] = (800, 600), dpi: int = 100, font_scale: float = 1.0,
                 show_scores: bool = False) -> dict[LayoutNode, tuple[float, float]]:
    """Deterministic node positions in the unit square (``y`` up) for one graph or the union of
    several (e.g. the graphs of all ``t`` of a trajectory, so the layout stays put while ``t`` moves).

    Nodes start at their box centres (so the drawing resembles the picture), are spread by a
    force-directed layout (``networkx.kamada_kawai_layout``; ``seed`` jitters equal centres) and then pushed apart until
    their labels, sized for a drawing of ``size`` pixels, do not overlap. With ``gt``, ground-truth
    objects get nodes ``("gt", j)`` placed next to the detection they overlap.
    The same input and seed always give the same layout.
    """
    import networkx as nx

    graphs = [graph] if isinstance(graph, SceneGraph) else list(graph)
    G, pos0, label_len = _layout_graph(graphs, gt, show_scores)
    nodes = sorted(G.nodes, key=lambda n: (1, n[1]) if isinstance(n, tuple) else (0, n))
    if not nodes:
        return {}
    if len(nodes) == 1:
        return {nodes[0]: (0.5, 0.5)}
    # Kamada-Kawai from the box centres (deterministic jitter separates equal centres). Distances are
    # graph distances; pairs in different components get about half the diameter plus one, so
    # unconnected objects stay near the rest instead of flying off.
    rng = np.random.default_rng(seed)
    start = {n: np.asarray(pos0[n], dtype=np.float64) + rng.normal(0, 0.02, 2) for n in nodes}
    H = nx.Graph()
    H.add_nodes_from(nodes)
    H.add_edges_from(sorted(G.edges, key=repr))
    sp = dict(nx.all_pairs_shortest_path_length(H))
    diam = max([d for row in sp.values() for d in row.values()] + [1])
    far = 1.0 + math.ceil(diam / 2)
    dist = {u: {v: float(sp[u].get(v, far)) for v in nodes} for u in nodes}
    pos = nx.kamada_kawai_layout(H, dist=dist, pos=start, weight=None)
    P = _normalise(np.array([pos[n] for n in nodes], dtype=np.float64))
    cw, ch = _label_extent(size, dpi, font_scale)
    # label boxes plus room around them for an arrow and its predicate between neighbours
    half_w = (np.array([label_len[n] for n in nodes], dtype=np.float64) + 4.0) * cw / 2
    half_h = np.full(len(nodes), ch / 2 * 1.9)
    where = {n: k for k, n in enumerate(nodes)}
    linked = np.zeros((len(nodes), len(nodes)), dtype=bool)
    for u, v in H.edges:
        linked[where[u], where[v]] = linked[where[v], where[u]] = True
    for _ in range(8):  # push apart, fit the labels into the drawing area, until nothing overlaps
        P = _remove_overlaps(P, half_w, half_h, linked)
        P[:, 0] = _fit_axis(P[:, 0], half_w, -_XLIM[0] * 0.8)
        P[:, 1] = _fit_axis(P[:, 1], half_h, -_YLIM[0] * 0.8)
        if not _any_overlap(P, half_w, half_h):
            break
    return {n: (float(x), float(y)) for n, (x, y) in zip(nodes, P)}


def _normalise(P: np.ndarray) -> np.ndarray:
    lo, hi = P.min(axis=0), P.max(axis=0)
    span = np.where(hi - lo > 1e-9, hi - lo, 1.0)
    Q = (P - lo) / span
    Q[:, (hi - lo) <= 1e-9] = 0.5
    return Q


def _fit_axis(x: np.ndarray, half: np.ndarray, margin: float) -> np.ndarray:
    """Map centres ``x`` affinely (as large as possible) so that every label ``[x - half, x + half]``
    lies within ``[-margin, 1 + margin]``."""
    lo, hi = x.min(), x.max()
    if hi - lo < 1e-9:
        return np.full_like(x, 0.5)
    u = (x - lo) / (hi - lo)

    def need(b: float) -> float:  # width needed when the centres span b
        return float(np.max(half - b * u) + np.max(half + b * u))

    a_lo, a_hi = 0.0, 1.0 + 2 * margin
    if need(a_hi) <= 1 + 2 * margin:
        b = a_hi
    else:
        for _ in range(40):
            mid = (a_lo + a_hi) / 2
            a_lo, a_hi = (mid, a_hi) if need(mid) <= 1 + 2 * margin else (a_lo, mid)
        b = a_lo
    a = -margin + float(np.max(half - b * u))
    return a + b * u


def _any_overlap(P: np.ndarray, half_w: np.ndarray, half_h: np.ndarray) -> bool:
    dx = np.abs(P[:, None, 0] - P[None, :, 0])
    dy = np.abs(P[:, None, 1] - P[None, :, 1])
    ov = (dx < half_w[:, None] + half_w[None, :]) & (dy < half_h[:, None] + half_h[None, :])
    np.fill_diagonal(ov, False)
    return bool(ov.any())


def _remove_overlaps(P: np.ndarray, half_w: np.ndarray, half_h: np.ndarray, linked: np.ndarray | None = None,
                     iterations: int = 300) -> np.ndarray:
    """Push apart overlapping label rectangles (centres ``P``, half sizes) along the cheaper axis,
    all pairs at once per iteration. ``linked`` pairs (an edge between them) keep a wider gap so the
    arrow and its predicate stay visible."""
    n = len(P)
    P = P.copy()
    iu = np.triu_indices(n, 1)
    grow = 1.0 if linked is None else np.where(linked[iu], 1.5, 1.0)
    sw = (half_w[:, None] + half_w[None, :])[iu] * grow
    sh = (half_h[:, None] + half_h[None, :])[iu] * grow
    # tie-break direction for coincident centres: deterministic, alternating
    tie = np.where((iu[0] + iu[1]) % 2 == 0, 1.0, -1.0)
    for _ in range(iterations):
        d = P[iu[1]] - P[iu[0]]
        ox = sw - np.abs(d[:, 0])
        oy = sh - np.abs(d[:, 1])
        hit = (ox > 0) & (oy > 0)
        if not hit.any():
            break
        horiz = hit & (ox / sw < oy / sh)  # the axis needing the smaller relative move
        vert = hit & ~horiz
        sx = np.where(d[:, 0] != 0, np.sign(d[:, 0]), tie)
        sy = np.where(d[:, 1] != 0, np.sign(d[:, 1]), tie)
        move = np.zeros((len(sw), 2))
        move[horiz, 0] = sx[horiz] * (ox[horiz] / 2 + 1e-3)
        move[vert, 1] = sy[vert] * (oy[vert] / 2 + 1e-3)
        delta = np.zeros_like(P)
        np.add.at(delta, iu[1], move * 0.5)  # half steps: several overlaps of one node add up
        np.add.at(delta, iu[0], -move * 0.5)
        P += delta
    return P


# --------------------------------------------------------------------------------------- graph figure
def graph_figure(graph: SceneGraph, *, layout: dict | None = None, top_k: int | None = None,
                 size: tuple[int, int] = (800, 600), dpi: int = 100, show_scores: bool = False,
                 gt: Any = None, iou_threshold: float = 0.5, highlight: int | Iterable[int] | None = None,
                 title: str | None = None, font_scale: float = 1.0, seed: int = 0,
                 labels: dict[int, str] | None = None):
    """A :class:`matplotlib.figure.Figure` (Agg canvas attached) drawing ``graph``: one labelled node
    per object, coloured like its box; one arrow per relation (subject -> object) labelled with the
    predicate (and its score with ``show_scores``). ``top_k`` keeps the best relations and the objects
    they connect (see :func:`focus_graph`). ``layout`` maps node -> (x, y) in the unit square (default
    :func:`graph_layout` with ``seed``); nodes missing from it go where the automatic layout puts them.
    With ``gt``: nodes/edges green (matched), red (wrong), missed GT objects and relations orange dashed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch

    g = focus_graph(graph, top_k, gt, iou_threshold)
    w, h = int(size[0]), int(size[1])
    if w <= 0 or h <= 0:
        raise InputError(f"figure size must be positive, got {size!r}")
    fig = Figure(figsize=(w / dpi, h / dpi), dpi=dpi, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    top = 1.0 - (0.09 if title else 0.0)
    ax = fig.add_axes((0.0, 0.0, 1.0, top))
    ax.set_axis_off()
    ax.set_xlim(*_XLIM)
    ax.set_ylim(*_YLIM)
    node_fs = _node_font_pt((w, h), dpi, font_scale)
    edge_fs = node_fs * 0.85
    scale = node_fs / 12.0
    if title:
        fig.text(0.5, 0.985, display_text(title), ha="center", va="top", fontsize=node_fs * 1.15, fontweight="bold",
                 parse_math=False)

    match = match_ground_truth(g, gt, iou_threshold) if gt is not None else None
    gt_arr = _gt_arrays(gt) if gt is not None else None

    nodes: list[tuple[Any, str, tuple[int, int, int], bool]] = []  # (id, label, colour, dashed)
    labels = node_labels(g, labels)
    for o in g.objects:
        col = STATUS_COLORS[match.object_status[o.index]] if match else object_color(o.index)
        nodes.append((o.index, labels[o.index] + (f" {o.score:.2f}" if show_scores else ""), col, False))
    edges: list[tuple[Any, Any, str, tuple[int, int, int], bool]] = []  # (u, v, text, colour, dashed)
    for k, r in enumerate(g.relations):
        if r.subject == r.object:
            continue
        col = STATUS_COLORS[match.relation_status[k]] if match else (60, 60, 60)
        text = display_text(r.name) + (f" {r.predicate_score:.2f}" if show_scores else "")
        edges.append((r.subject, r.object, text, col, False))
    if match is not None and gt_arr is not None:
        _gboxes, glabels, grels = gt_arr
        obj_of_gt = match.object_of_gt
        for j in sorted(_shown_gt_nodes(match, grels)):
            nodes.append((("gt", j), _gt_name(gt, glabels, j, g.class_names) + "-GT", STATUS_COLORS["missed"], True))
        for j in match.missed_relations:
            s, o_, p = (int(v) for v in grels[j])
            u = obj_of_gt.get(s, ("gt", s))
            v = obj_of_gt.get(o_, ("gt", o_))
            if u != v:
                edges.append((u, v, _gt_predicate(gt, p, g.predicate_names), STATUS_COLORS["missed"], True))

    if not nodes:
        ax.text(0.5, 0.5, "no objects", ha="center", va="center", fontsize=node_fs, color="0.5", parse_math=False)
        return fig

    pos = dict(layout) if layout else {}
    missing = [n for n, *_ in nodes if n not in pos]
    if missing:
        auto = graph_layout(g, seed=seed, gt=gt, size=(w, h), dpi=dpi, font_scale=font_scale,
                            show_scores=show_scores)
        if pos:  # place newcomers where the automatic layout puts them, nudged off existing nodes
            for n in missing:
                pos[n] = auto.get(n, (0.5, 0.5))
        else:
            pos = auto
            for n in missing:
                pos.setdefault(n, (0.5, 0.5))

    hl: set | None = None
    if highlight is not None:
        hl = {highlight} if isinstance(highlight, (int, np.integer)) else set(highlight)

    texts: dict[Any, Any] = {}
    for n, text, col, dashed in nodes:
        faded = hl is not None and n not in hl
        fc = _mpl(col) if not dashed else (1.0, 1.0, 1.0)
        tc = _mpl(text_color_for(col)) if not dashed else _mpl(col)
        t = ax.text(pos[n][0], pos[n][1], text, ha="center", va="center", fontsize=node_fs, color=tc,
                    fontweight="bold", zorder=4, alpha=0.35 if faded else 1.0, parse_math=False,
                    bbox=dict(boxstyle="round,pad=0.4", fc=fc, ec=_mpl(col) if dashed else "0.15",
                              lw=(2.5 if hl is not None and not faded else 1.2) * max(0.6, scale),
                              ls="--" if dashed else "-", alpha=0.35 if faded else 1.0))
        texts[n] = t
    canvas.draw()  # positions the label boxes so arrows can be clipped to them

    # group parallel / antiparallel edges to bend them apart
    groups: dict[tuple, list[int]] = {}
    for k, (u, v, *_r) in enumerate(edges):
        groups.setdefault((u, v), []).append(k)
    to_disp = ax.transData.transform
    for (u, v), ks in groups.items():
        if u not in texts or v not in texts:
            continue
        reverse = (v, u) in groups
        for m, k in enumerate(ks):
            _, _, text, col, dashed = edges[k]
            rad = (0.3 if reverse else 0.0) + (m - (0 if reverse else (len(ks) - 1) / 2)) * 0.25
            faded = hl is not None and u not in hl and v not in hl
            alpha = 0.3 if faded else 1.0
            arrow = FancyArrowPatch(
                pos[u], pos[v], patchA=texts[u].get_bbox_patch(), patchB=texts[v].get_bbox_patch(),
                shrinkA=2, shrinkB=3, arrowstyle="-|>", mutation_scale=16 * max(0.6, scale),
                connectionstyle=f"arc3,rad={rad:.3f}", color=_mpl(col), lw=1.6 * max(0.6, scale),
                linestyle="--" if dashed else "-", zorder=2, alpha=alpha)
            ax.add_patch(arrow)
            # label at the middle of the (quadratic Bezier) arc, computed in display space
            p1, p2 = to_disp(pos[u]), to_disp(pos[v])
            d = p2 - p1
            mid = (p1 + p2) / 2 + 0.5 * rad * np.array([d[1], -d[0]])
            mx, my = ax.transData.inverted().transform(mid)
            ax.text(mx, my, text, ha="center", va="center", fontsize=edge_fs, zorder=3, alpha=alpha, parse_math=False,
                    color=_mpl(col) if (match or dashed) else "0.1", style="italic",
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.85 * alpha))
    return fig


def _figure_bytes(fig, fmt: str) -> bytes:
    import matplotlib

    fmt = fmt.lower()
    if fmt not in ("png", "svg", "pdf"):
        raise InputError(f"unknown drawing format {fmt!r}; use png, svg or pdf")
    buf = io.BytesIO()
    # text stays text in SVG (editable in Inkscape / Illustrator), TrueType in PDF (journals reject
    # Type 3 fonts), no dates or random ids: the same graph gives the same bytes
    rc = {"svg.fonttype": "none", "svg.hashsalt": "nodis", "pdf.fonttype": 42}
    meta = {"png": {"Software": "nodis"}, "svg": {"Date": None, "Creator": "nodis"},
            "pdf": {"CreationDate": None, "Creator": "nodis"}}[fmt]
    if fmt == "png":  # no rcParams involved: safe to call from several threads at once
        fig.canvas.print_figure(buf, format=fmt, dpi=fig.dpi, facecolor="white", metadata=meta)
    else:
        # vector backends draw in points (72 per inch). Arrows are clipped to the node boxes as last
        # drawn, and the nodes are drawn after the arrows: lay the boxes out at 72 dpi first, or the
        # arrows end inside the boxes (pixel positions read as points) and their heads are hidden
        dpi = fig.dpi
        fig.set_dpi(72)
        try:
            fig.canvas.draw()
            with matplotlib.rc_context(rc):
                fig.canvas.print_figure(buf, format=fmt, dpi=72, facecolor="white", metadata=meta)
        finally:
            fig.set_dpi(dpi)
    return buf.getvalue()


def draw_graph(graph: SceneGraph, *, layout: dict | None = None, top_k: int | None = None,
               fmt: str = "png", size: tuple[int, int] = (800, 600), **kwargs: Any) -> bytes:
    """The scene graph drawn as ``fmt`` (``"png"``, ``"svg"`` or ``"pdf"``) bytes of ``size`` pixels
    (at 100 dpi). Keyword arguments as :func:`graph_figure` (``show_scores``, ``gt``, ``title``, ...)."""
    fig = graph_figure(graph, layout=layout, top_k=top_k, size=size, **kwargs)
    return _figure_bytes(fig, fmt)


# ------------------------------------------------------------------------------------------ t-strip
def draw_t_strip(image: Any, graphs_at_t: Sequence[SceneGraph], *, t_end: float = 1.5, top_k: int | None = 10,
                 layout: dict | None = None, gt: Any = None, cell_width: int = 360,
                 orientation: str = "columns", show_scores: bool = False, seed: int = 0,
                 labels: Sequence[dict[int, str] | None] | None = None) -> Image.Image:
    """The paper's Fig. 4: for each graph (decoded at one ODE time ``t``) the annotated image above its
    scene graph, titled ``"t = 0.50"``; the column at ``t_end`` (training end time) is framed.

    The time of a graph is its ``t_rel`` (``t_obj`` in the title too when they differ). One layout,
    computed over the union of all graphs (or given), keeps every node in place across ``t``.
    ``top_k`` relations (and the objects they connect) are drawn per ``t``. ``orientation="rows"``
    puts one ``t`` per row (image left, graph right) instead. ``labels``: display names per graph (a
    list parallel to ``graphs_at_t`` of object index -> name dicts, see :func:`node_labels`).
    """
    if orientation not in ("columns", "rows"):
        raise InputError(f"orientation must be 'columns' or 'rows', got {orientation!r}")
    graphs = list(graphs_at_t)
    if not graphs:
        raise InputError("draw_t_strip needs at least one scene graph")
    base = _as_image(image).convert("RGB")
    focused = [focus_graph(g, top_k, gt) for g in graphs]

    cw = int(cell_width)
    ih = max(1, int(round(base.height * cw / base.width)))
    small = base.resize((cw, ih), Image.LANCZOS)
    gh = int(round(cw * 0.85))
    fs = 1.15  # slightly larger text: strip panels are small
    lay = dict(layout) if layout else graph_layout(focused, seed=seed, gt=gt, size=(cw, gh), font_scale=fs,
                                                   show_scores=show_scores)
    title_font = get_font(max(12, cw // 17), bold=True)
    pad = max(6, cw // 30)
    probe = ImageDraw.Draw(small)
    title_h = _text_size(probe, "t = 0.00", title_font)[1] + 2 * pad

    panels: list[Image.Image] = []
    end_k = min(range(len(graphs)), key=lambda k: abs(graphs[k].t_rel - t_end))
    if abs(graphs[end_k].t_rel - t_end) > 1e-6:
        end_k = -1
    names_at = list(labels) if labels is not None else [None] * len(graphs)
    if len(names_at) != len(graphs):
        raise InputError(f"{len(graphs)} graphs but {len(names_at)} label dicts")
    for k, (g, fg) in enumerate(zip(graphs, focused)):
        boxes = draw_boxes(small, fg, show_scores=show_scores, gt=gt, labels=names_at[k])
        gimg = Image.open(io.BytesIO(draw_graph(fg, layout=lay, fmt="png", size=(cw, gh), gt=gt,
                                                show_scores=show_scores, font_scale=fs,
                                                labels=names_at[k]))).convert("RGB")
        t_txt = f"t = {g.t_rel:.2f}" if abs(g.t_obj - g.t_rel) < 1e-9 else f"t = {g.t_obj:.2f} / {g.t_rel:.2f}"
        if k == end_k:
            t_txt += "  (t_end)"
        if orientation == "columns":
            panel = Image.new("RGB", (cw + 2 * pad, title_h + ih + gh + 2 * pad), "white")
            panel.paste(boxes, (pad, title_h))
            panel.paste(gimg, (pad, title_h + ih + pad))
        else:
            panel = Image.new("RGB", (2 * cw + 3 * pad, title_h + max(ih, gh) + pad), "white")
            panel.paste(boxes, (pad, title_h + (max(ih, gh) - ih) // 2))
            panel.paste(gimg, (2 * pad + cw, title_h + (max(ih, gh) - gh) // 2))
        d = ImageDraw.Draw(panel)
        tw, _th, yoff = _text_size(d, t_txt, title_font)
        frame = (31, 119, 180)
        d.text(((panel.width - tw) // 2, pad - yoff), t_txt, font=title_font,
               fill=frame if k == end_k else (20, 20, 20))
        if k == end_k:
            fw = max(3, pad // 2)
            d.rectangle((0, 0, panel.width - 1, panel.height - 1), outline=frame, width=fw)
        panels.append(panel)

    if orientation == "columns":
        W = sum(p.width for p in panels)
        H = max(p.height for p in panels)
        out = Image.new("RGB", (W, H), "white")
        x = 0
        for p in panels:
            out.paste(p, (x, 0))
            x += p.width
    else:
        W = max(p.width for p in panels)
        H = sum(p.height for p in panels)
        out = Image.new("RGB", (W, H), "white")
        y = 0
        for p in panels:
            out.paste(p, (0, y))
            y += p.height
    return out
