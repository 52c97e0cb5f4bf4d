"""A procedural scene world for training and testing NODIS without Visual Genome.

Every image is composed from a scene template (street, park, dining, stable, beach, room), drawn
with Pillow and annotated with boxes, labels and relations derived from the composition, so the
annotations agree with the pixels. The world is deterministic: image ``i`` of a world with seed
``s`` is rendered from its own seed derived from ``(s, i)``, whatever the number of workers.

It is built to be learnable yet Visual-Genome-like in difficulty:

- look-alike objects told apart by context: ``hat`` and ``bowl`` share one dome drawing (on a head
  vs. on a table), ``ball`` and ``sun`` share a plain disc (on the ground vs. in the sky);
- predicates with overlapping meaning, sampled per relation (``on`` / ``sitting on`` / ``standing
  on`` / ``walking on``; ``wearing`` / ``has``; ``carrying`` / ``holding``), and occasional
  duplicate annotations of one pair with two predicates;
- about 30% of the true relations are dropped from the train annotations (test keeps all);
- a long-tailed predicate distribution;
- :data:`ZERO_SHOT_TRIPLETS` never occur in train (train scenes containing them are recomposed)
  and are written to ``zeroshot_triplets.json`` for zero-shot recall.

Use :func:`generate_world` for a dataset in the VG-SGG layout and :func:`render_scene` for one scene.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import json
import logging
import math
import multiprocessing as mp
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..errors import InputError
from ..export import atomic_write_bytes
from ..vocab import BACKGROUND, Vocabulary
from .vg import IMAGE_DIR, ImageRecord, _atomic_write_json, write_vg

log = logging.getLogger(__name__)

WORLD_VERSION = 1

CLASSES: tuple[str, ...] = tuple(sorted((
    "bag", "ball", "beach", "bench", "bike", "bird", "boat", "bowl", "building", "bus", "car", "cat",
    "chair", "child", "cloud", "cup", "dog", "flower", "grass", "hat", "helmet", "horse", "kite",
    "lamp", "man", "pizza", "plate", "shirt", "street", "sun", "table", "tree", "umbrella", "water",
    "wheel", "window", "woman",
)))
PREDICATES: tuple[str, ...] = tuple(sorted((
    "above", "behind", "carrying", "eating", "growing on", "has", "holding", "in", "in front of",
    "lying on", "near", "of", "on", "parked on", "playing with", "riding", "sitting on",
    "standing on", "under", "walking on", "wearing",
)))
#: (subject, predicate, object) triplets that never appear in the train split.
ZERO_SHOT_TRIPLETS: tuple[tuple[str, str, str], ...] = (
    ("cat", "lying on", "table"),
    ("child", "riding", "horse"),
    ("dog", "sitting on", "bench"),
    ("horse", "standing on", "beach"),
    ("woman", "holding", "kite"),
)
#: Fraction of true relations dropped from the train annotations.
TRAIN_DROP_RATE = 0.3
MAX_OBJECTS = 15
MIN_OBJECTS = 3
TEMPLATES: dict[str, float] = {"street": 0.2, "park": 0.2, "dining": 0.17, "stable": 0.13, "beach": 0.15, "room": 0.15}
JPEG_QUALITY = 90


def world_vocabulary() -> Vocabulary:
    """The world's vocabulary: classes and predicates in alphabetical order after ``__background__``."""
    return Vocabulary("world", (BACKGROUND, *CLASSES), (BACKGROUND, *PREDICATES))


def zeroshot_triplets() -> list[tuple[str, str, str]]:
    """The held-out (subject, predicate, object) triplets by name."""
    return [tuple(t) for t in ZERO_SHOT_TRIPLETS]  # type: ignore[misc]


@dataclass
class SceneAnnotation(ImageRecord):
    """An :class:`ImageRecord` of a rendered scene with its template name (full relation list)."""

    template: str = ""

    def triplets(self, vocab: Vocabulary | None = None) -> list[tuple[str, str, str]]:
        """Relations as (subject class, predicate, object class) names."""
        v = vocab or world_vocabulary()
        return [(v.classes[self.labels[s]], v.predicates[p], v.classes[self.labels[o]]) for s, o, p in self.relations]


# =============================================================================================
# palettes

Color = tuple[int, int, int]

SKIN: list[Color] = [(250, 218, 186), (236, 188, 150), (204, 142, 104), (150, 98, 64), (98, 64, 44)]
HAIR: list[Color] = [(35, 28, 22), (92, 60, 32), (196, 160, 86), (18, 18, 18), (150, 76, 36), (130, 130, 130)]
CLOTH: list[Color] = [
    (200, 40, 40), (40, 80, 190), (40, 150, 70), (240, 200, 50), (240, 240, 240), (30, 30, 30),
    (150, 60, 160), (240, 130, 40), (90, 180, 210), (230, 120, 160), (120, 80, 50), (110, 120, 130),
]
PANTS: list[Color] = [(40, 50, 90), (30, 30, 30), (110, 90, 70), (80, 80, 85), (60, 90, 140), (170, 150, 110)]
DOME: list[Color] = [(150, 40, 40), (50, 70, 160), (235, 235, 230), (120, 80, 45), (40, 40, 40), (200, 170, 90),
                     (60, 130, 90), (220, 120, 60)]
VEHICLE: list[Color] = [(190, 30, 30), (30, 60, 160), (230, 230, 230), (40, 40, 45), (150, 150, 160),
                        (230, 190, 40), (40, 120, 60), (120, 40, 110), (230, 120, 30)]
FUR_DOG: list[Color] = [(140, 90, 50), (40, 34, 30), (235, 225, 205), (210, 160, 90), (110, 110, 110)]
FUR_CAT: list[Color] = [(120, 120, 125), (225, 140, 60), (35, 35, 35), (240, 240, 235), (170, 130, 90)]
FUR_HORSE: list[Color] = [(120, 70, 35), (50, 35, 25), (235, 230, 220), (160, 100, 50), (90, 90, 95)]
WOOD: list[Color] = [(130, 85, 45), (160, 110, 60), (95, 60, 35), (190, 150, 100), (60, 110, 70)]
FLOWER: list[Color] = [(220, 40, 60), (240, 120, 170), (250, 220, 50), (245, 245, 245), (150, 70, 190), (250, 140, 40)]


def _jit(rng: np.random.Generator, c: Sequence[int], amount: int = 18) -> Color:
    d = rng.integers(-amount, amount + 1, 3)
    return tuple(int(v) for v in np.clip(np.asarray(c) + d, 0, 255))  # type: ignore[return-value]


def _shade(c: Sequence[int], f: float) -> Color:
    return tuple(int(max(0, min(255, v * f))) for v in c)  # type: ignore[return-value]


def _pick(rng: np.random.Generator, seq: Sequence[Any]) -> Any:
    return seq[int(rng.integers(len(seq)))]


# =============================================================================================
# scene description


@dataclass
class _Obj:
    label: str | None  # None: decoration, never annotated
    kind: str | None  # drawing function, None: drawn by another object or the background
    box: list[float]  # x1, y1, x2, y2 in pixels (drawing extent)
    z: float  # drawing order, larger = nearer
    prio: int = 5  # which annotations survive the object cap (higher first)
    p: dict = field(default_factory=dict)
    annotated: bool = True


class _Scene:
    """A composition under construction: objects, relations and background regions."""

    def __init__(self, rng: np.random.Generator, width: int, height: int, template: str) -> None:
        self.rng = rng
        self.W = width
        self.H = height
        self.template = template
        self.objs: list[_Obj] = []
        self.rels: list[tuple[int, int, str]] = []
        self.bg: list[tuple] = []
        self.overlays: list[tuple] = []  # background line work (lane marks, waves, stripes)
        self.horizon = height * 0.5
        self.S = min(height, 1.25 * width)  # size unit: object sizes scale with it

    # -- objects and relations ----------------------------------------------------------------
    def add(self, label: str | None, kind: str | None, box: Sequence[float], z: float, prio: int = 5, **p: Any) -> int:
        self.objs.append(_Obj(label, kind, [float(v) for v in box], float(z), prio, p, label is not None))
        return len(self.objs) - 1

    def rel(self, s: int, o: int, choices: str | Sequence[tuple], dup_p: float = 0.08) -> None:
        """Relate ``s`` to ``o``. ``choices``: a predicate or ``[(pred, weight[, reversed]), ...]``;
        one is sampled; with ``dup_p`` a second same-direction synonym is also annotated."""
        if isinstance(choices, str):
            self.rels.append((s, o, choices))
            return
        w = np.array([c[1] for c in choices], dtype=float)
        k = int(self.rng.choice(len(choices), p=w / w.sum()))
        pred, rev = choices[k][0], len(choices[k]) > 2 and choices[k][2]
        self.rels.append((o, s, pred) if rev else (s, o, pred))
        if len(choices) > 1 and self.rng.random() < dup_p:
            alts = [c for j, c in enumerate(choices) if j != k and (len(c) > 2 and c[2]) == rev]
            if alts:
                self.rels.append((o, s, alts[0][0]) if rev else (s, o, alts[0][0]))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def u(self, a: float, b: float) -> float:
        return float(self.rng.uniform(a, b))

    def ri(self, a: int, b: int) -> int:
        """Random int in [a, b] inclusive."""
        return int(self.rng.integers(a, b + 1))

    def depth_scale(self, y: float) -> float:
        """Perspective scale of something standing at image row ``y`` (0.3 at the horizon, 1 at the bottom)."""
        t = (y - self.horizon) / max(1.0, self.H - self.horizon)
        return 0.3 + 0.7 * min(1.0, max(0.0, t))

    def ground_y(self, lo: float = 0.1, hi: float = 1.0) -> float:
        return self.horizon + (self.H - self.horizon) * self.u(lo, hi)

    def free_x(self, w: float, y1: float, y2: float, max_overlap: float = 0.25, tries: int = 10,
               strict: bool = False) -> float | None:
        """A horizontal centre for a ``w``-wide box on rows ``y1..y2`` that keeps it inside the
        image where it fits and avoids covering the solid objects placed so far. Where no such
        place is found, the least covering one, or None with ``strict``."""
        best, best_ov = self.W / 2, 2.0
        for _ in range(tries):
            cx = self.u(w / 2, self.W - w / 2) if w < self.W else self.W / 2 + self.u(-0.15, 0.15) * w
            box = (cx - w / 2, y1, cx + w / 2, y2)
            ov = max((_overlap_frac(box, o.box) for o in self.objs if o.label in _SOLID), default=0.0)
            if ov <= max_overlap:
                return cx
            if ov < best_ov:
                best, best_ov = cx, ov
        return None if strict else best

    def region(self, label: str, y0: float, y1: float, prio: int = 3) -> int:
        return self.add(label, None, (0, y0, self.W, y1), z=-100, prio=prio)


# =============================================================================================
# drawing helpers


class _Frame:
    """Maps unit coordinates (u right, v down) of an object's box to pixels, with mirroring
    (``flip``) and a quarter turn (``rot``: v maps to x, used for lying figures)."""

    def __init__(self, box: Sequence[float], flip: bool = False, rot: bool = False) -> None:
        self.x1, self.y1, x2, y2 = box
        self.w = x2 - self.x1
        self.h = y2 - self.y1
        self.flip = flip
        self.rot = rot

    def pt(self, u: float, v: float) -> tuple[float, float]:
        if self.rot:
            u, v = v, 1.0 - u
        if self.flip:
            u = 1.0 - u
        return (self.x1 + u * self.w, self.y1 + v * self.h)

    def pts(self, uv: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [self.pt(u, v) for u, v in uv]

    def rect(self, u1: float, v1: float, u2: float, v2: float) -> list[float]:
        (a, b), (c, d) = self.pt(u1, v1), self.pt(u2, v2)
        return [min(a, c), min(b, d), max(a, c), max(b, d)]

    @property
    def length(self) -> float:
        """The object's own vertical extent in pixels (its width when rotated)."""
        return self.w if self.rot else self.h


def _ell(d: ImageDraw.ImageDraw, r: Sequence[float], fill: Color | None, outline: Color | None = None, width: int = 1) -> None:
    if r[2] - r[0] >= 1 and r[3] - r[1] >= 1:
        d.ellipse(list(r), fill=fill, outline=outline, width=width)


def _rect(d: ImageDraw.ImageDraw, r: Sequence[float], fill: Color | None, outline: Color | None = None, width: int = 1) -> None:
    if r[2] - r[0] >= 0.5 and r[3] - r[1] >= 0.5:
        d.rectangle(list(r), fill=fill, outline=outline, width=width)


def _line(d: ImageDraw.ImageDraw, pts: Sequence[tuple[float, float]], fill: Color, width: float) -> None:
    w = max(1, round(width))
    d.line(list(pts), fill=fill, width=w, joint="curve" if w > 3 else None)
    if w > 3:
        r = w / 2 - 0.5
        for x, y in (pts[0], pts[-1]):
            d.ellipse([x - r, y - r, x + r, y + r], fill=fill)


# ---------------------------------------------------------------------------------------------
# people. Geometry in unit coordinates of the figure's box, facing right for side poses.

_POSES = ("stand", "walk", "sit_side", "sit_front", "ride", "upper", "lie")


def _person_geom(kind: str, pose: str) -> dict:
    """Unit-coordinate geometry of a person: head box, torso polygon, shoulders, default hands,
    leg polylines (hip, knee, foot) and the box aspect (width / height, before rotation)."""
    child = kind == "child"
    hf = 0.22 if child else 0.155  # head height fraction
    if pose in ("stand", "walk", "lie"):
        tb = 0.58 if child else 0.53
        g = {
            "aspect": (0.46 if child else 0.4) if pose != "walk" else (0.52 if child else 0.46),
            "head": (0.5 - hf * 1.15, 0.0, 0.5 + hf * 1.15, hf) if child else (0.3, 0.0, 0.7, hf),
            "torso": [(0.17, hf + 0.02), (0.83, hf + 0.02), (0.75, tb), (0.25, tb)],
            "shoulders": [(0.21, hf + 0.05), (0.79, hf + 0.05)],
            "hands": [(0.1, tb - 0.02), (0.9, tb - 0.02)],
            "legs": [[(0.38, tb - 0.02), (0.37, 0.96)], [(0.62, tb - 0.02), (0.63, 0.96)]],
            "side": False,
        }
        if pose == "walk":
            g["legs"] = [[(0.4, tb - 0.02), (0.35, 0.77), (0.16, 0.96)], [(0.6, tb - 0.02), (0.7, 0.77), (0.84, 0.96)]]
            g["hands"] = [(0.05, tb - 0.06), (0.95, tb - 0.08)]
        return g
    if pose == "sit_side":
        return {
            "aspect": 0.66 if child else 0.62,
            "head": (0.16, 0.0, 0.56, 0.25) if child else (0.2, 0.0, 0.47, 0.17),
            "torso": [(0.15, 0.22), (0.5, 0.22), (0.47, 0.6), (0.19, 0.6)],
            "shoulders": [(0.33, 0.26), (0.33, 0.26)],
            "hands": [(0.66, 0.5), (0.66, 0.5)],
            "legs": [[(0.3, 0.58), (0.8, 0.6), (0.82, 0.96)]],
            "side": True,
        }
    if pose == "sit_front":
        return {
            "aspect": 0.5 if child else 0.46,
            "head": (0.26, 0.0, 0.74, 0.25) if child else (0.3, 0.0, 0.7, 0.19),
            "torso": [(0.15, 0.21), (0.85, 0.21), (0.78, 0.6), (0.22, 0.6)],
            "shoulders": [(0.2, 0.25), (0.8, 0.25)],
            "hands": [(0.22, 0.63), (0.78, 0.63)],
            "legs": [[(0.37, 0.6), (0.36, 0.68), (0.36, 0.97)], [(0.63, 0.6), (0.64, 0.68), (0.64, 0.97)]],
            "thighs": (0.22, 0.57, 0.78, 0.7),
            "side": False,
        }
    if pose == "ride":
        return {
            "aspect": 0.62,
            "head": (0.22, 0.0, 0.22 + hf * 2.2, hf * 1.3) if child else (0.24, 0.0, 0.6, 0.19),
            "torso": [(0.22, 0.21), (0.58, 0.21), (0.55, 0.58), (0.27, 0.58)],
            "shoulders": [(0.42, 0.25), (0.42, 0.25)],
            "hands": [(0.86, 0.46), (0.86, 0.46)],
            "legs": [[(0.42, 0.56), (0.66, 0.72), (0.55, 0.97)]],
            "side": True,
        }
    if pose == "upper":  # upper body behind a table
        hb = 0.34 if child else 0.27
        return {
            "aspect": 0.62,
            "head": (0.28, 0.0, 0.72, hb) if child else (0.33, 0.0, 0.67, hb),
            "torso": [(0.14, hb + 0.02), (0.86, hb + 0.02), (0.8, 1.0), (0.2, 1.0)],
            "shoulders": [(0.2, hb + 0.07), (0.8, hb + 0.07)],
            "hands": [(0.1, 0.98), (0.9, 0.98)],
            "legs": [],
            "side": False,
        }
    raise ValueError(pose)


def _person_frame(o: _Obj) -> _Frame:
    return _Frame(o.p.get("draw_box", o.box), flip=o.p.get("flip", False), rot=o.p["pose"] == "lie")


def _person_part(o: _Obj, name: str) -> list[float]:
    """Pixel box of a person's ``head`` or ``torso``."""
    f = _person_frame(o)
    g = _person_geom(o.p["who"], o.p["pose"])
    if name == "head":
        return f.rect(*g["head"])
    us = [u for u, _ in g["torso"]]
    vs = [v for _, v in g["torso"]]
    return f.rect(min(us), min(vs), max(us), max(vs))


def _person_hand(o: _Obj, which: int = 1) -> tuple[float, float]:
    f = _person_frame(o)
    g = _person_geom(o.p["who"], o.p["pose"])
    hands = o.p.get("hands") or g["hands"]
    return f.pt(*hands[which])


def _draw_person(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    p = o.p
    f = _person_frame(o)
    g = _person_geom(p["who"], p["pose"])
    L = f.length
    skin, hair, shirt, pants = p["skin"], p["hair"], p["shirt"], p["pants"]
    woman = p["who"] == "woman"
    limb = max(2.0, L * (0.085 if p["pose"] != "upper" else 0.1))
    arm = max(2.0, limb * 0.72)
    hu1, hv1, hu2, hv2 = g["head"]
    hu, hv = hu2 - hu1, hv2 - hv1
    side = g["side"]
    if woman:  # long hair behind head and shoulders
        long = (hu1 - 0.06 * hu, hv1 + 0.05 * hv, hu1 + 0.62 * hu, hv2 + 0.85 * hv) if side else \
            (hu1 - 0.14 * hu, hv1 - 0.02 * hv, hu2 + 0.14 * hu, hv2 + 0.75 * hv)
        _ell(d, f.rect(*long), hair)
    # legs
    for leg in g["legs"]:
        pts = f.pts(leg)
        colour = skin if (woman and p.get("dress")) else pants
        _line(d, pts, colour, limb)
        foot = pts[-1]
        fw = limb * 0.95
        dx = fw * (1 if (g["side"] and not f.flip) else -1 if g["side"] else 0)
        _ell(d, [foot[0] - fw + dx * 0.6, foot[1] - fw * 0.55, foot[0] + fw + dx * 0.6, foot[1] + fw * 0.45], p["shoe"])
    if "thighs" in g:
        _rect(d, f.rect(*g["thighs"]), skin if (woman and p.get("dress")) else pants)
    # torso (shirt) and dress
    torso = f.pts(g["torso"])
    d.polygon(torso, fill=shirt)
    if woman and p.get("dress"):
        (a, b), (c, e) = g["torso"][3], g["torso"][2]
        if g["side"]:
            hip, knee = g["legs"][0][0], g["legs"][0][1]
            poly = [(a - 0.02, b - 0.08), (c + 0.02, e - 0.08), (knee[0] + 0.04, knee[1] - 0.05),
                    (knee[0] + 0.04, knee[1] + 0.1), (hip[0] - 0.08, hip[1] + 0.1)]
        elif p["pose"] == "upper":
            poly = []
        else:
            bottom = 0.8 if p["pose"] != "sit_front" else 0.74
            poly = [(a, b - 0.06), (c, e - 0.06), (min(1.0, c + 0.12), bottom), (max(0.0, a - 0.12), bottom)]
        if poly:
            d.polygon(f.pts(poly), fill=p["dress"])
    # arms with hands
    hands = p.get("hands") or g["hands"]
    for sh, hd in zip(g["shoulders"], hands):
        a, b = f.pt(*sh), f.pt(*hd)
        _line(d, [a, b], _shade(shirt, 0.82), arm)
        r = arm * 0.62
        _ell(d, [b[0] - r, b[1] - r, b[0] + r, b[1] + r], skin)
    # head: face, hair cap, eyes (unit coordinates, so lying figures rotate with the frame)
    _ell(d, f.rect(*g["head"]), skin)
    if side:
        cap = _arc_pts(hu1 - 0.03 * hu, hv1 - 0.05 * hv, hu2 + 0.02 * hu, hv2, 140, 315)
        eyes = [(hu1 + 0.76 * hu, hv1 + 0.5 * hv)]
    else:
        cap = _arc_pts(hu1 - 0.03 * hu, hv1 - 0.06 * hv, hu2 + 0.03 * hu, hv1 + (0.95 if woman else 0.75) * hv, 180, 360)
        if woman:
            cap += [(hu2 + 0.03 * hu, hv1 + 0.75 * hv), (hu2 - 0.1 * hu, hv1 + 0.42 * hv), (hu1 + 0.1 * hu, hv1 + 0.42 * hv),
                    (hu1 - 0.03 * hu, hv1 + 0.75 * hv)]
        eyes = [(hu1 + 0.33 * hu, hv1 + 0.58 * hv), (hu1 + 0.67 * hu, hv1 + 0.58 * hv)]
    d.polygon(f.pts(cap), fill=hair)
    er = max(1.0, min(hu * f.w, hv * f.h) * 0.065) if not f.rot else max(1.0, min(hu * f.h, hv * f.w) * 0.065)
    for eu, ev in eyes:
        ex, ey = f.pt(eu, ev)
        _ell(d, [ex - er, ey - er, ex + er, ey + er], (30, 25, 25))


def _arc_pts(u1: float, v1: float, u2: float, v2: float, a0: float, a1: float, n: int = 14) -> list[tuple[float, float]]:
    """Points on the ellipse inscribed in (u1, v1, u2, v2) from angle a0 to a1 (degrees, clockwise from +u)."""
    cu, cv, ru, rv = (u1 + u2) / 2, (v1 + v2) / 2, (u2 - u1) / 2, (v2 - v1) / 2
    return [(cu + ru * math.cos(math.radians(a)), cv + rv * math.sin(math.radians(a))) for a in np.linspace(a0, a1, n)]


# ---------------------------------------------------------------------------------------------
# animals (side views facing right)


def _draw_dog(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    p = o.p
    f = _Frame(o.box, p.get("flip", False))
    c, dark = p["color"], _shade(p["color"], 0.7)
    lw = max(2.0, f.h * 0.1)
    pose = p.get("pose", "stand")
    if pose == "stand":
        _line(d, f.pts([(0.22, 0.42), (0.05, 0.12)]), c, lw * 0.7)
        for u, dv in ((0.26, 0), (0.36, 0.02), (0.62, 0), (0.72, 0.02)):
            _line(d, f.pts([(u, 0.6), (u + 0.01, 0.97 - dv)]), c if dv else dark, lw)
        _ell(d, f.rect(0.16, 0.3, 0.8, 0.7), c)
        _ell(d, f.rect(0.66, 0.06, 0.96, 0.44), c)
        _ell(d, f.rect(0.86, 0.22, 1.0, 0.4), c)
        _ell(d, f.rect(0.94, 0.22, 1.0, 0.29), (25, 20, 20))
        d.polygon(f.pts([(0.7, 0.1), (0.8, 0.08), (0.77, 0.38), (0.69, 0.32)]), fill=dark)
        eye = f.pt(0.86, 0.2)
    elif pose == "sit":
        _ell(d, f.rect(0.05, 0.55, 0.6, 1.0), dark)
        _ell(d, f.rect(0.18, 0.3, 0.72, 0.92), c)
        for u in (0.55, 0.66):
            _line(d, f.pts([(u, 0.55), (u + 0.02, 0.98)]), c, lw)
        _ell(d, f.rect(0.45, 0.0, 0.86, 0.38), c)
        _ell(d, f.rect(0.78, 0.16, 1.0, 0.34), c)
        _ell(d, f.rect(0.93, 0.16, 1.0, 0.23), (25, 20, 20))
        d.polygon(f.pts([(0.5, 0.04), (0.62, 0.02), (0.57, 0.34), (0.48, 0.28)]), fill=dark)
        _line(d, f.pts([(0.1, 0.9), (0.0, 0.98)]), c, lw * 0.6)
        eye = f.pt(0.78, 0.15)
    else:  # lie
        _line(d, f.pts([(0.12, 0.75), (0.0, 0.95)]), c, lw * 0.5)
        _ell(d, f.rect(0.08, 0.42, 0.76, 1.0), c)
        _line(d, f.pts([(0.62, 0.9), (0.98, 0.94)]), dark, lw * 0.5)
        _ell(d, f.rect(0.62, 0.1, 0.9, 0.62), c)
        _ell(d, f.rect(0.82, 0.3, 1.0, 0.55), c)
        _ell(d, f.rect(0.94, 0.3, 1.0, 0.4), (25, 20, 20))
        d.polygon(f.pts([(0.65, 0.14), (0.74, 0.1), (0.72, 0.5), (0.64, 0.42)]), fill=dark)
        eye = f.pt(0.82, 0.28)
    r = max(1.0, f.h * 0.03)
    _ell(d, [eye[0] - r, eye[1] - r, eye[0] + r, eye[1] + r], (20, 15, 15))


def _draw_cat(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    p = o.p
    f = _Frame(o.box, p.get("flip", False))
    c, dark = p["color"], _shade(p["color"], 0.72)
    lw = max(1.5, f.h * 0.07)
    pose = p.get("pose", "stand")
    if pose == "stand":
        _line(d, f.pts([(0.2, 0.5), (0.06, 0.35), (0.08, 0.05)]), c, lw)
        for u in (0.24, 0.34, 0.6, 0.7):
            _line(d, f.pts([(u, 0.62), (u, 0.98)]), c, lw)
        _ell(d, f.rect(0.15, 0.38, 0.76, 0.78), c)
        hb = (0.6, 0.12, 0.94, 0.5)
    elif pose == "sit":
        _line(d, f.pts([(0.2, 0.9), (0.02, 0.98)]), c, lw)
        _ell(d, f.rect(0.12, 0.38, 0.82, 1.0), c)
        _line(d, f.pts([(0.64, 0.6), (0.64, 0.98)]), dark, lw)
        hb = (0.3, 0.06, 0.82, 0.5)
    else:  # lie
        _ell(d, f.rect(0.04, 0.45, 0.78, 1.0), c)
        _line(d, f.pts([(0.08, 0.9), (0.0, 0.98), (0.25, 1.0)]), c, lw)
        hb = (0.62, 0.18, 0.96, 0.78)
    u1, v1, u2, v2 = hb
    hu, hv = u2 - u1, v2 - v1
    d.polygon(f.pts([(u1 + hu * 0.04, v1 + hv * 0.4), (u1 + hu * 0.12, v1 - hv * 0.2), (u1 + hu * 0.45, v1 + hv * 0.15)]), fill=dark)
    d.polygon(f.pts([(u2 - hu * 0.45, v1 + hv * 0.15), (u2 - hu * 0.1, v1 - hv * 0.2), (u2 - hu * 0.02, v1 + hv * 0.4)]), fill=dark)
    _ell(d, f.rect(*hb), c)
    for dv in (0.55, 0.7):
        _line(d, f.pts([(u1 + hu * 0.5, v1 + hv * 0.65), (u2 + hu * 0.25, v1 + hv * dv)]), (30, 30, 30), 1)
    for du in (0.32, 0.68):
        e = f.pt(u1 + hu * du, v1 + hv * 0.42)
        r = max(1.0, f.h * hv * 0.09)
        _ell(d, [e[0] - r, e[1] - r, e[0] + r, e[1] + r], (60, 150, 60))


def _draw_horse(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    p = o.p
    f = _Frame(o.box, p.get("flip", False))
    c, dark = p["color"], _shade(p["color"], 0.6)
    mane = p.get("mane", dark)
    lw = max(2.0, f.h * 0.075)
    d.polygon(f.pts([(0.22, 0.36), (0.12, 0.45), (0.06, 0.78), (0.14, 0.8), (0.2, 0.52)]), fill=mane)
    for u, far in ((0.28, True), (0.37, False), (0.68, True), (0.77, False)):
        col = _shade(c, 0.8) if far else c
        _line(d, f.pts([(u, 0.55), (u - 0.01, 0.8), (u, 0.96)]), col, lw)
        h0 = f.pt(u, 0.96)
        _rect(d, [h0[0] - lw * 0.6, h0[1] - lw * 0.3, h0[0] + lw * 0.6, h0[1] + lw * 0.5], (40, 35, 30))
    _ell(d, f.rect(0.18, 0.3, 0.82, 0.64), c)
    if p.get("pose") == "eat":
        d.polygon(f.pts([(0.66, 0.36), (0.78, 0.32), (0.98, 0.82), (0.88, 0.86), (0.64, 0.5)]), fill=c)
        d.polygon(f.pts([(0.86, 0.78), (0.98, 0.76), (1.0, 1.0), (0.9, 1.0)]), fill=c)
        _line(d, f.pts([(0.72, 0.31), (0.94, 0.76)]), mane, lw * 0.8)
        eye = f.pt(0.94, 0.84)
    else:
        d.polygon(f.pts([(0.66, 0.42), (0.76, 0.3), (0.86, 0.06), (0.94, 0.08), (0.86, 0.32), (0.8, 0.46)]), fill=c)
        d.polygon(f.pts([(0.84, 0.02), (0.92, 0.0), (1.0, 0.2), (0.97, 0.26), (0.9, 0.24), (0.83, 0.12)]), fill=c)
        _line(d, f.pts([(0.7, 0.36), (0.83, 0.06)]), mane, lw * 0.9)
        d.polygon(f.pts([(0.86, 0.02), (0.86, -0.04), (0.89, 0.01)]), fill=c)
        eye = f.pt(0.91, 0.08)
    r = max(1.0, f.h * 0.022)
    _ell(d, [eye[0] - r, eye[1] - r, eye[0] + r, eye[1] + r], (20, 15, 15))


def _draw_bird(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    p = o.p
    f = _Frame(o.box, p.get("flip", False))
    c, wing = p["color"], _shade(p["color"], 0.65)
    if p.get("pose") == "fly":
        d.polygon(f.pts([(0.42, 0.5), (0.18, 0.0), (0.3, 0.04), (0.56, 0.5)]), fill=wing)
        _ell(d, f.rect(0.2, 0.42, 0.8, 0.78), c)
        d.polygon(f.pts([(0.22, 0.55), (0.0, 0.45), (0.02, 0.72)]), fill=wing)
        _ell(d, f.rect(0.7, 0.36, 0.9, 0.62), c)
        d.polygon(f.pts([(0.88, 0.46), (1.0, 0.5), (0.88, 0.56)]), fill=(240, 170, 30))
        d.polygon(f.pts([(0.48, 0.55), (0.72, 0.08), (0.8, 0.12), (0.6, 0.58)]), fill=wing)
    else:
        lw = max(1.0, f.h * 0.05)
        for u in (0.42, 0.52):
            _line(d, f.pts([(u, 0.75), (u, 1.0)]), (200, 120, 40), lw)
        d.polygon(f.pts([(0.22, 0.5), (0.0, 0.42), (0.02, 0.7)]), fill=wing)
        _ell(d, f.rect(0.12, 0.3, 0.74, 0.82), c)
        _ell(d, f.rect(0.25, 0.4, 0.6, 0.68), wing)
        _ell(d, f.rect(0.56, 0.1, 0.9, 0.5), c)
        d.polygon(f.pts([(0.86, 0.24), (1.0, 0.32), (0.86, 0.38)]), fill=(240, 170, 30))
        e = f.pt(0.76, 0.26)
        r = max(1.0, f.h * 0.05)
        _ell(d, [e[0] - r, e[1] - r, e[0] + r, e[1] + r], (15, 15, 15))


# ---------------------------------------------------------------------------------------------
# vehicles


def _draw_car(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    p = o.p
    f = _Frame(o.box, p.get("flip", False))
    c = p["color"]
    glass = (160, 200, 225)
    d.polygon(f.pts([(0.2, 0.42), (0.32, 0.04), (0.7, 0.04), (0.86, 0.42)]), fill=c)
    d.polygon(f.pts([(0.27, 0.4), (0.36, 0.12), (0.5, 0.12), (0.5, 0.4)]), fill=glass)
    d.polygon(f.pts([(0.54, 0.4), (0.54, 0.12), (0.67, 0.12), (0.79, 0.4)]), fill=glass)
    d.rounded_rectangle(f.rect(0.0, 0.38, 1.0, 0.84), radius=max(1, int(f.h * 0.12)), fill=c)
    _line(d, f.pts([(0.52, 0.42), (0.52, 0.78)]), _shade(c, 0.6), max(1, f.h * 0.02))
    _rect(d, f.rect(0.94, 0.46, 1.0, 0.56), (250, 240, 160))
    _rect(d, f.rect(0.0, 0.46, 0.04, 0.56), (200, 30, 30))
    _rect(d, f.rect(0.02, 0.66, 0.98, 0.72), _shade(c, 0.75))


def _draw_bus(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    p = o.p
    f = _Frame(o.box, p.get("flip", False))
    c = p["color"]
    d.rounded_rectangle(f.rect(0.0, 0.0, 1.0, 0.86), radius=max(1, int(f.h * 0.08)), fill=c)
    n = p.get("windows", 5)
    for k in range(n):
        u0 = 0.05 + k * 0.78 / n
        _rect(d, f.rect(u0, 0.12, u0 + 0.78 / n - 0.025, 0.45), (150, 190, 215))
    _rect(d, f.rect(0.86, 0.12, 0.96, 0.8), (120, 160, 190))
    _line(d, f.pts([(0.91, 0.12), (0.91, 0.8)]), _shade(c, 0.5), max(1, f.h * 0.02))
    _rect(d, f.rect(0.0, 0.55, 0.84, 0.62), p.get("stripe", (240, 240, 240)))
    _rect(d, f.rect(0.97, 0.62, 1.0, 0.72), (250, 240, 160))


def _draw_bike(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    p = o.p
    f = _Frame(o.box, p.get("flip", False))
    c = p["color"]
    lw = max(1.5, f.h * 0.05)
    r_u, r_v = 0.19, 0.29
    for cu in (0.2, 0.8):
        _ell(d, f.rect(cu - r_u, 0.7 - r_v, cu + r_u, 0.7 + r_v), None, (25, 25, 25), max(1, int(lw * 1.1)))
        for a in range(0, 180, 45):
            du, dv = r_u * math.cos(math.radians(a)), r_v * math.sin(math.radians(a))
            _line(d, f.pts([(cu - du, 0.7 - dv), (cu + du, 0.7 + dv)]), (150, 150, 150), 1)
    rear, front, pedal, seat, bar = (0.2, 0.7), (0.8, 0.7), (0.46, 0.72), (0.38, 0.3), (0.72, 0.25)
    for a, b in ((rear, pedal), (pedal, seat), (seat, rear), (seat, (0.7, 0.34)), (pedal, (0.7, 0.34)), ((0.7, 0.34), front)):
        _line(d, f.pts([a, b]), c, lw)
    _line(d, f.pts([(0.7, 0.34), bar]), (60, 60, 60), lw)
    _line(d, f.pts([(0.66, 0.22), (0.8, 0.2)]), (40, 40, 40), lw)
    _line(d, f.pts([(0.3, 0.26), (0.44, 0.26)]), (30, 30, 30), lw * 1.4)


def _draw_boat(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    p = o.p
    f = _Frame(o.box, p.get("flip", False))
    c = p["color"]
    if p.get("sail", True):
        _line(d, f.pts([(0.48, 0.0), (0.48, 0.6)]), (90, 70, 50), max(1, f.h * 0.03))
        d.polygon(f.pts([(0.51, 0.02), (0.51, 0.56), (0.92, 0.56)]), fill=p.get("sail_color", (245, 245, 240)))
        d.polygon(f.pts([(0.45, 0.1), (0.45, 0.56), (0.16, 0.56)]), fill=_shade(p.get("sail_color", (245, 245, 240)), 0.9))
    else:
        _rect(d, f.rect(0.28, 0.3, 0.66, 0.6), (235, 235, 235))
        _rect(d, f.rect(0.34, 0.36, 0.6, 0.48), (120, 160, 190))
    d.polygon(f.pts([(0.0, 0.58), (1.0, 0.58), (0.86, 1.0), (0.1, 1.0)]), fill=c)
    _rect(d, f.rect(0.03, 0.58, 0.97, 0.66), _shade(c, 1.3))


def _draw_wheel(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    x1, y1, x2, y2 = o.box
    w = x2 - x1
    _ell(d, o.box, (28, 28, 30))
    _ell(d, [x1 + w * 0.27, y1 + w * 0.27, x2 - w * 0.27, y2 - w * 0.27], (175, 175, 180))
    _ell(d, [x1 + w * 0.43, y1 + w * 0.43, x2 - w * 0.43, y2 - w * 0.43], (90, 90, 95))


# ---------------------------------------------------------------------------------------------
# furniture and things


def _draw_chair(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    p = o.p
    f = _Frame(o.box, p.get("flip", False))
    c = p["color"]
    lw = max(2.0, f.w * 0.08)
    if p.get("view") == "front":
        _rect(d, f.rect(0.1, 0.0, 0.9, 0.56), c)
        _rect(d, f.rect(0.2, 0.08, 0.8, 0.45), _shade(c, 0.8))
        for u in (0.12, 0.88):
            _line(d, f.pts([(u, 0.6), (u, 1.0)]), _shade(c, 0.8), lw)
        _rect(d, f.rect(0.0, 0.54, 1.0, 0.64), _shade(c, 1.15))
    else:
        for u in (0.1, 0.88):
            _line(d, f.pts([(u, 0.56), (u, 1.0)]), _shade(c, 0.8), lw)
        _rect(d, f.rect(0.04, 0.0, 0.18, 0.58), c)
        _rect(d, f.rect(0.02, 0.5, 0.98, 0.6), _shade(c, 1.15))


def _draw_bench(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    p = o.p
    f = _Frame(o.box)
    c, dark = p["color"], (50, 50, 55)
    lw = max(2.0, f.h * 0.08)
    for u in (0.08, 0.92):
        _line(d, f.pts([(u, 0.05), (u, 1.0)]), dark, lw)
    for v in (0.04, 0.2):
        _rect(d, f.rect(0.02, v, 0.98, v + 0.12), c)
    _rect(d, f.rect(0.0, 0.5, 1.0, 0.62), _shade(c, 1.1))
    _rect(d, f.rect(0.0, 0.62, 1.0, 0.66), _shade(c, 0.6))


def _draw_table(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    p = o.p
    f = _Frame(o.box)
    c = p["color"]
    top = p.get("top", 0.22)
    lw = max(3.0, f.w * 0.03)
    if p.get("cloth"):
        cl = p["cloth"]
        d.polygon(f.pts([(0.04, 0.0), (0.96, 0.0), (1.0, top), (0.0, top)]), fill=cl)
        d.polygon(f.pts([(0.0, top), (1.0, top), (1.0, 0.8), (0.0, 0.8)]), fill=_shade(cl, 0.85))
        for k in range(1, 8):
            u = k / 8
            _line(d, f.pts([(u, top + 0.04), (u, 0.8)]), _shade(cl, 0.75), max(1, f.w * 0.004))
        for u in (0.06, 0.94):
            _line(d, f.pts([(u, 0.8), (u, 1.0)]), _shade(c, 0.8), lw)
    else:
        for u in (0.05, 0.95, 0.18, 0.82):
            _line(d, f.pts([(u, top), (u, 1.0 if u in (0.05, 0.95) else 0.9)]), _shade(c, 0.7 if u in (0.18, 0.82) else 0.85), lw)
        d.polygon(f.pts([(0.05, 0.0), (0.95, 0.0), (1.0, top), (0.0, top)]), fill=_shade(c, 1.12))
        _rect(d, f.rect(0.0, top, 1.0, top + 0.08), _shade(c, 0.8))


def _draw_dome(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    """The shared drawing of ``hat`` and ``bowl``: a rounded dome on a rim."""
    x1, y1, x2, y2 = o.box
    w, h = x2 - x1, y2 - y1
    c = o.p["color"]
    d.chord([x1 + w * 0.14, y1, x2 - w * 0.14, y1 + h * 1.5], 180, 360, fill=c)
    _rect(d, [x1 + w * 0.14, y1 + h * 0.56, x2 - w * 0.14, y1 + h * 0.72], o.p.get("band", _shade(c, 0.6)))
    _ell(d, [x1, y1 + h * 0.62, x2, y2], _shade(c, 0.85))


def _draw_helmet(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    x1, y1, x2, y2 = o.box
    w, h = x2 - x1, y2 - y1
    c = o.p["color"]
    flip = o.p.get("flip", False)
    d.chord([x1 + w * 0.06, y1, x2 - w * 0.06, y1 + h * 1.8], 180, 360, fill=c)
    _rect(d, [x1 + w * 0.06, y1 + h * 0.78, x2 - w * 0.06, y2], _shade(c, 0.7))
    vx = (x2 - w * 0.06, x2 + w * 0.02) if not flip else (x1 - w * 0.02, x1 + w * 0.06)
    _rect(d, [min(vx) - w * 0.12 * (not flip), y1 + h * 0.68, max(vx) + w * 0.12 * flip, y2 - h * 0.06], (40, 40, 40))
    _line(d, [(x1 + w * 0.5, y1 + h * 0.04), (x1 + w * 0.5, y1 + h * 0.75)], _shade(c, 1.35), max(1, w * 0.07))
    _ell(d, [x1 + w * 0.25, y1 + h * 0.15, x1 + w * 0.4, y1 + h * 0.35], _shade(c, 1.5))


def _draw_plate(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    x1, y1, x2, y2 = o.box
    w, h = x2 - x1, y2 - y1
    c = o.p["color"]
    _ell(d, o.box, c, _shade(c, 0.7))
    _ell(d, [x1 + w * 0.16, y1 + h * 0.2, x2 - w * 0.16, y2 - h * 0.2], _shade(c, 0.92))


def _draw_pizza(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    x1, y1, x2, y2 = o.box
    w, h = x2 - x1, y2 - y1
    rng = np.random.default_rng(o.p["seed"])
    cheese, crust, pep = (245, 190, 70), (190, 120, 50), (190, 40, 30)
    if o.p.get("whole"):
        _ell(d, o.box, crust)
        _ell(d, [x1 + w * 0.07, y1 + h * 0.12, x2 - w * 0.07, y2 - h * 0.12], cheese)
        for _ in range(6):
            cx, cy = x1 + w * rng.uniform(0.2, 0.8), y1 + h * rng.uniform(0.3, 0.7)
            r = max(1.0, h * 0.1)
            _ell(d, [cx - r * 1.4, cy - r, cx + r * 1.4, cy + r], pep)
        return
    f = _Frame(o.box, o.p.get("flip", False))
    if o.p.get("held"):  # tip towards the eater's mouth, crust outwards
        d.polygon(f.pts([(0.0, 0.55), (0.92, 0.0), (0.92, 1.0)]), fill=cheese)
        _line(d, f.pts([(0.92, 0.0), (0.92, 1.0)]), crust, max(2, w * 0.14))
        for u, v in ((0.45, 0.5), (0.7, 0.3), (0.72, 0.7)):
            cx, cy = f.pt(u, v)
            r = max(1.0, min(w, h) * 0.08)
            _ell(d, [cx - r, cy - r, cx + r, cy + r], pep)
        return
    d.polygon(f.pts([(0.0, 0.12), (1.0, 0.0), (0.4, 1.0)]), fill=cheese)
    _line(d, f.pts([(0.0, 0.12), (1.0, 0.0)]), crust, max(2, h * 0.14))
    for u, v in ((0.4, 0.3), (0.6, 0.22), (0.45, 0.6)):
        cx, cy = f.pt(u, v)
        r = max(1.0, min(w, h) * 0.08)
        _ell(d, [cx - r, cy - r, cx + r, cy + r], pep)


def _draw_cup(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    f = _Frame(o.box, o.p.get("flip", False))
    c = o.p["color"]
    _ell(d, f.rect(0.55, 0.25, 1.0, 0.72), None, _shade(c, 0.85), max(1, int(f.w * 0.1)))
    d.polygon(f.pts([(0.0, 0.1), (0.76, 0.1), (0.68, 1.0), (0.08, 1.0)]), fill=c)
    _ell(d, f.rect(0.0, 0.02, 0.76, 0.2), _shade(c, 0.6))


def _draw_bag(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    f = _Frame(o.box)
    c = o.p["color"]
    _ell(d, f.rect(0.22, 0.0, 0.78, 0.7), None, _shade(c, 0.6), max(1, int(f.w * 0.08)))
    d.rounded_rectangle(f.rect(0.0, 0.32, 1.0, 1.0), radius=max(1, int(f.w * 0.12)), fill=c)
    _rect(d, f.rect(0.0, 0.32, 1.0, 0.5), _shade(c, 0.8))
    _rect(d, f.rect(0.44, 0.46, 0.56, 0.56), (220, 200, 90))


def _draw_umbrella(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    f = _Frame(o.box)
    c, c2 = o.p["color"], o.p.get("color2", o.p["color"])
    canopy = o.p.get("canopy", 0.42)
    lw = max(1.5, f.w * 0.025)
    _line(d, f.pts([(0.5, 0.05), (0.5, 1.0)]), (70, 60, 55), lw)
    if o.p.get("hook", True):
        x, y = f.pt(0.5, 1.0)
        r = f.w * 0.06
        d.arc([x - 2 * r, y - r, x, y + r], 0, 180, fill=(70, 60, 55), width=max(1, int(lw)))
    box = f.rect(0.0, 0.0, 1.0, canopy * 2)
    n = 6
    for k in range(n):
        d.pieslice(box, 180 + k * 180 / n, 180 + (k + 1) * 180 / n, fill=c if k % 2 == 0 else c2)
    for k in range(n):
        cx = f.pt((k + 0.5) / n, canopy)[0]
        r = f.w / n / 2
        d.chord([cx - r, f.pt(0, canopy)[1] - r * 0.35, cx + r, f.pt(0, canopy)[1] + r * 0.35], 0, 180, fill=_shade(c, 0.75))


def _draw_kite(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    f = _Frame(o.box)
    c, c2 = o.p["color"], o.p["color2"]
    pts = f.pts([(0.5, 0.0), (1.0, 0.26), (0.5, 0.72), (0.0, 0.26)])
    d.polygon(pts, fill=c)
    d.polygon([pts[0], pts[1], f.pt(0.5, 0.26)], fill=c2)
    d.polygon([pts[2], pts[3], f.pt(0.5, 0.26)], fill=c2)
    tail = f.pts([(0.5, 0.72), (0.62, 0.8), (0.42, 0.9), (0.56, 1.0)])
    _line(d, tail, (60, 60, 60), 1)
    for x, y in tail[1:]:
        r = f.w * 0.07
        d.polygon([(x - r, y - r * 0.6), (x + r, y + r * 0.6), (x + r, y - r * 0.6), (x - r, y + r * 0.6)], fill=c2)


def _draw_disc(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    """``ball`` and ``sun``: a disc; balls may carry stripes, suns may carry rays."""
    x1, y1, x2, y2 = o.box
    w = x2 - x1
    c = o.p["color"]
    if o.p.get("rays"):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        for k in range(10):
            a = math.radians(k * 36 + o.p.get("phase", 0))
            _line(d, [(cx + math.cos(a) * w * 0.36, cy + math.sin(a) * w * 0.36),
                      (cx + math.cos(a) * w * 0.5, cy + math.sin(a) * w * 0.5)], c, max(1, w * 0.05))
        _ell(d, [x1 + w * 0.18, y1 + w * 0.18, x2 - w * 0.18, y2 - w * 0.18], c)
        return
    _ell(d, o.box, c)
    if o.p.get("stripes"):
        c2 = o.p["color2"]
        d.pieslice(list(o.box), 300, 340, fill=c2)
        d.pieslice(list(o.box), 120, 160, fill=c2)
        d.pieslice(list(o.box), 210, 250, fill=(245, 245, 245))
        d.pieslice(list(o.box), 30, 70, fill=(245, 245, 245))
        _ell(d, [x1 + w * 0.42, y1 + w * 0.42, x2 - w * 0.42, y2 - w * 0.42], (245, 245, 245))


def _draw_cloud(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    f = _Frame(o.box)
    c = o.p["color"]
    for (u1, v1, u2, v2) in o.p["puffs"]:
        _ell(d, f.rect(u1, v1, u2, v2), _shade(c, 0.93))
    for (u1, v1, u2, v2) in o.p["puffs"]:
        _ell(d, f.rect(u1 + 0.02, v1 + 0.03, u2 - 0.02, v2 - 0.06), c)


def _draw_tree(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    f = _Frame(o.box)
    leaf = o.p["color"]
    _rect(d, f.rect(0.43, 0.45, 0.57, 1.0), (100, 70, 45))
    if o.p.get("conifer"):
        for k in range(3):
            v0 = 0.08 + k * 0.2
            d.polygon(f.pts([(0.5, v0 - 0.08), (0.95 - 0.1 * (2 - k) * 0.5, v0 + 0.3), (0.05 + 0.1 * (2 - k) * 0.5, v0 + 0.3)]),
                      fill=_shade(leaf, 0.8 + 0.1 * k))
    else:
        for (u1, v1, u2, v2), s in zip(o.p["puffs"], (0.8, 0.9, 1.0, 1.1, 0.95, 1.05)):
            _ell(d, f.rect(u1, v1, u2, v2), _shade(leaf, s))


def _draw_flower(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    f = _Frame(o.box)
    c = o.p["color"]
    _line(d, f.pts([(0.5, 0.35), (0.5, 1.0)]), (50, 130, 50), max(1, f.w * 0.1))
    _ell(d, f.rect(0.5, 0.55, 0.95, 0.7), (60, 150, 60))
    cx, cy = f.pt(0.5, 0.22)
    r = f.w * 0.2
    for k in range(6):
        a = math.radians(60 * k)
        px, py = cx + math.cos(a) * r * 1.2, cy + math.sin(a) * r * 1.2
        _ell(d, [px - r, py - r, px + r, py + r], c)
    _ell(d, [cx - r * 0.8, cy - r * 0.8, cx + r * 0.8, cy + r * 0.8], (240, 200, 40) if c != (250, 220, 50) else (150, 90, 30))


def _draw_lamp(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    f = _Frame(o.box)
    style = o.p.get("style", "street")
    c = o.p["color"]
    light = (255, 240, 170)
    if style == "street":
        lw = max(2.0, f.w * 0.12)
        _line(d, f.pts([(0.5, 0.12), (0.5, 1.0)]), c, lw)
        _rect(d, f.rect(0.3, 0.96, 0.7, 1.0), c)
        d.polygon(f.pts([(0.15, 0.04), (0.85, 0.04), (0.72, 0.16), (0.28, 0.16)]), fill=c)
        _rect(d, f.rect(0.28, 0.1, 0.72, 0.16), light)
        _ell(d, f.rect(0.35, 0.0, 0.65, 0.06), c)
    elif style == "pendant":
        _line(d, [f.pt(0.5, 0.0), f.pt(0.5, 0.4)], (40, 40, 40), max(1, f.w * 0.03))
        d.chord(f.rect(0.0, 0.3, 1.0, 1.7), 180, 360, fill=c)
        _ell(d, f.rect(0.3, 0.88, 0.7, 1.0), light)
    else:  # table / floor lamp
        lw = max(2.0, f.w * 0.08)
        _line(d, f.pts([(0.5, 0.4), (0.5, 0.94)]), (70, 70, 70), lw)
        _ell(d, f.rect(0.2, 0.9, 0.8, 1.0), (60, 60, 60))
        d.polygon(f.pts([(0.24, 0.0), (0.76, 0.0), (1.0, 0.42), (0.0, 0.42)]), fill=c)
        _rect(d, f.rect(0.1, 0.38, 0.9, 0.44), light)


def _draw_window(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    f = _Frame(o.box)
    frame, glass = o.p["frame"], o.p["glass"]
    _rect(d, f.rect(0, 0, 1, 1), frame)
    _rect(d, f.rect(0.1, 0.08, 0.9, 0.92), glass)
    _rect(d, f.rect(0.1, 0.08, 0.5, 0.35), _shade(glass, 1.12))
    lw = max(1.0, f.w * 0.06)
    _line(d, f.pts([(0.5, 0.08), (0.5, 0.92)]), frame, lw)
    if o.p.get("cross", True):
        _line(d, f.pts([(0.1, 0.5), (0.9, 0.5)]), frame, lw)
    if o.p.get("curtain"):
        cc = o.p["curtain"]
        d.polygon(f.pts([(-0.12, -0.04), (0.22, -0.04), (0.06, 1.05), (-0.12, 1.05)]), fill=cc)
        d.polygon(f.pts([(0.78, -0.04), (1.12, -0.04), (1.12, 1.05), (0.94, 1.05)]), fill=cc)


def _draw_building(d: ImageDraw.ImageDraw, o: _Obj) -> None:
    f = _Frame(o.box)
    p = o.p
    c = p["color"]
    roof = p.get("roof", 0.0)
    if roof:
        d.polygon(f.pts([(-0.04, roof), (0.5, 0.0), (1.04, roof)]), fill=p.get("roof_color", (150, 60, 50)))
    else:
        _rect(d, f.rect(-0.02, 0.0, 1.02, 0.04), _shade(c, 0.7))
    _rect(d, f.rect(0.0, roof or 0.03, 1.0, 1.0), c)
    for wb in p["windows"]:
        _draw_window(d, _Obj(None, "window", wb, 0, p={"frame": p["frame"], "glass": p["glass"], "cross": p.get("cross", True)}))
    if p.get("door"):
        _rect(d, p["door"], _shade(c, 0.5))


_DRAW: dict[str, Callable[[ImageDraw.ImageDraw, _Obj], None]] = {
    "person": _draw_person, "dog": _draw_dog, "cat": _draw_cat, "horse": _draw_horse, "bird": _draw_bird,
    "car": _draw_car, "bus": _draw_bus, "bike": _draw_bike, "boat": _draw_boat, "wheel": _draw_wheel,
    "chair": _draw_chair, "bench": _draw_bench, "table": _draw_table, "dome": _draw_dome, "helmet": _draw_helmet,
    "plate": _draw_plate, "pizza": _draw_pizza, "cup": _draw_cup, "bag": _draw_bag, "umbrella": _draw_umbrella,
    "kite": _draw_kite, "disc": _draw_disc, "cloud": _draw_cloud, "tree": _draw_tree, "flower": _draw_flower,
    "lamp": _draw_lamp, "window": _draw_window, "building": _draw_building,
}


# =============================================================================================
# backgrounds: precomputed noise tiles (per process) added to cheap gradients

_TILE = 704


@functools.lru_cache(maxsize=1)
def _tiles() -> dict[str, Image.Image]:
    rng = np.random.default_rng(90210)

    def smooth(h: int, w: int) -> np.ndarray:
        small = rng.standard_normal((h, w)).astype(np.float32)
        img = Image.fromarray(((small * 40) + 128).clip(0, 255).astype(np.uint8)).resize((_TILE, _TILE), Image.BILINEAR)
        a = np.asarray(img, np.float32)
        return (a - a.mean()) / (a.std() + 1e-6)

    fine = rng.standard_normal((_TILE, _TILE)).astype(np.float32)
    low = smooth(24, 24)
    vstreak = smooth(60, _TILE)
    hstreak = smooth(_TILE, 40)

    def mk(*terms: tuple[np.ndarray, float, tuple[float, float, float]]) -> Image.Image:
        acc = np.full((_TILE, _TILE, 3), 128.0, np.float32)
        for n, amp, w in terms:
            acc += n[..., None] * (amp * np.asarray(w, np.float32))
        return Image.fromarray(acc.clip(0, 255).astype(np.uint8))

    return {
        "sky": mk((low, 5, (0.8, 0.9, 1.0))),
        "grass": mk((vstreak, 16, (0.7, 1.0, 0.5)), (fine, 9, (0.8, 1.0, 0.6)), (low, 12, (0.6, 1.0, 0.5))),
        "road": mk((fine, 8, (1, 1, 1)), (low, 7, (1, 1, 1))),
        "sand": mk((fine, 10, (1, 0.95, 0.8)), (low, 9, (1, 0.95, 0.8))),
        "water": mk((hstreak, 14, (0.5, 0.8, 1.0)), (fine, 4, (1, 1, 1))),
        "wall": mk((low, 5, (1, 1, 1)), (fine, 3, (1, 1, 1))),
        "wood": mk((hstreak, 13, (1, 0.8, 0.6)), (fine, 5, (1, 1, 1))),
        "dirt": mk((fine, 12, (1, 0.85, 0.7)), (low, 15, (1, 0.85, 0.7))),
    }


def _gradient(w: int, h: int, top: Sequence[int], bottom: Sequence[int]) -> Image.Image:
    col = np.linspace(top, bottom, max(1, h)).astype(np.uint8)[:, None, :]
    return Image.fromarray(col).resize((w, max(1, h)), Image.NEAREST)


def _draw_background(img: Image.Image, sc: _Scene) -> None:
    from PIL import ImageChops

    tiles = _tiles()
    rng = np.random.default_rng(sc.rng.integers(1 << 31))
    for tex, y0, y1, top, bottom in sc.bg:
        y0, y1 = round(y0), round(y1)
        h = y1 - y0
        if h <= 0:
            continue
        base = _gradient(sc.W, h, top, bottom)
        ox, oy = int(rng.integers(0, _TILE - sc.W + 1)), int(rng.integers(0, _TILE - h + 1))
        noise = tiles[tex].crop((ox, oy, ox + sc.W, oy + h))
        img.paste(ImageChops.add(base, noise, 1.0, -128), (0, y0))
    d = ImageDraw.Draw(img)
    for kind, *args in sc.overlays:
        if kind == "line":
            pts, colour, width = args
            _line(d, pts, colour, width)
        elif kind == "rect":
            r, colour = args
            _rect(d, r, colour)
        elif kind == "poly":
            pts, colour = args
            d.polygon(pts, fill=colour)


# =============================================================================================
# composition helpers


def _sky(sc: _Scene, y1: float) -> None:
    style = sc.rng.random()
    if style < 0.6:
        top, bottom = _jit(sc.rng, (70, 130, 210), 20), _jit(sc.rng, (175, 210, 240), 12)
    elif style < 0.85:
        top, bottom = _jit(sc.rng, (150, 155, 165), 15), _jit(sc.rng, (205, 205, 210), 10)
    else:
        top, bottom = _jit(sc.rng, (90, 100, 170), 15), _jit(sc.rng, (250, 180, 120), 15)
    sc.bg.append(("sky", 0, y1, top, bottom))


def _sky_things(sc: _Scene, sun_p: float = 0.4, clouds: tuple[int, int] = (0, 2), birds_p: float = 0.2) -> list[int]:
    """Sun, clouds and flying birds in the sky band above the horizon; returns their indices."""
    out = []
    sky_h = sc.horizon
    if sky_h < 40:
        return out
    if sc.chance(sun_p):
        r = sc.u(0.035, 0.06) * sc.S
        cx, cy = sc.u(r, sc.W - r), sc.u(r, max(r + 1, sky_h * 0.5))
        rays = sc.chance(0.5)
        s = r * (1.5 if rays else 1.0)
        out.append(sc.add("sun", "disc", (cx - s, cy - s, cx + s, cy + s), z=-90, prio=4,
                          color=_jit(sc.rng, _pick(sc.rng, [(250, 215, 60), (250, 190, 50), (252, 235, 120)]), 8),
                          rays=rays, phase=sc.u(0, 36)))
    for _ in range(sc.ri(*clouds)):
        w = sc.u(0.14, 0.3) * sc.W
        h = w * sc.u(0.32, 0.5)
        x = sc.u(0, sc.W - w)
        y = sc.u(2, max(3, sky_h * 0.75 - h))
        n = sc.ri(3, 5)
        puffs = []
        for k in range(n):
            cu = (k + 0.5) / n
            rw = sc.u(0.22, 0.34)
            puffs.append((cu - rw, sc.u(0.0, 0.35), cu + rw, 1.0))
        out.append(sc.add("cloud", "cloud", (x, y, x + w, y + h), z=-89, prio=2,
                          color=_jit(sc.rng, (246, 246, 250), 6), puffs=puffs))
    if sc.chance(birds_p):
        for _ in range(sc.ri(1, 2)):
            w = sc.u(0.04, 0.07) * sc.S
            x, y = sc.u(0, sc.W - w * 1.8), sc.u(4, max(5, sky_h * 0.8 - w))
            out.append(sc.add("bird", "bird", (x, y, x + w * 1.8, y + w), z=-80, prio=3, pose="fly",
                              color=_pick(sc.rng, [(40, 40, 45), (90, 80, 70), (240, 240, 240)]), flip=sc.chance(0.5)))
    return out


def _tree(sc: _Scene, x: float, foot: float, height: float, z: float | None = None) -> int:
    w = height * sc.u(0.55, 0.8)
    conifer = sc.chance(0.3)
    puffs = []
    if not conifer:
        for _ in range(sc.ri(4, 6)):
            cu, cv, r = sc.u(0.25, 0.75), sc.u(0.15, 0.45), sc.u(0.2, 0.3)
            puffs.append((cu - r, cv - r * 0.9, cu + r, cv + r * 0.9))
        puffs.append((0.1, 0.1, 0.9, 0.62))
        puffs = [puffs[-1]] + puffs[:-1]
    leaf = _jit(sc.rng, _pick(sc.rng, [(60, 140, 60), (40, 110, 50), (110, 160, 60), (200, 120, 40)]), 12)
    return sc.add("tree", "tree", (x - w / 2, foot - height, x + w / 2, foot), z=z if z is not None else foot - 30, prio=4,
                  color=leaf, conifer=conifer, puffs=puffs)


def _outfit(sc: _Scene, kind: str) -> dict:
    shirt = _jit(sc.rng, _pick(sc.rng, CLOTH), 14)
    o = {
        "skin": _jit(sc.rng, _pick(sc.rng, SKIN), 6),
        "hair": _jit(sc.rng, _pick(sc.rng, HAIR if kind != "child" else HAIR[:5]), 8),
        "shirt": shirt,
        "pants": _jit(sc.rng, _pick(sc.rng, PANTS), 10),
        "shoe": _jit(sc.rng, _pick(sc.rng, [(30, 30, 30), (90, 60, 40), (230, 230, 230), (150, 30, 30)]), 6),
    }
    if kind == "woman" and sc.chance(0.65):
        o["dress"] = _jit(sc.rng, _pick(sc.rng, CLOTH), 14)
    if kind == "child" and sc.chance(0.3):
        o["pants"] = _jit(sc.rng, _pick(sc.rng, CLOTH), 14)
    return o


def _free_person_x(sc: _Scene, kind: str, pose: str, bottom: float, adult_h: float) -> float:
    h = adult_h * _PERSON_HEIGHT[kind] * _POSE_HEIGHT[pose]
    return sc.free_x(h * _person_geom(kind, pose)["aspect"], bottom - h, bottom)


def _person_kind(sc: _Scene, weights: tuple[float, float, float] = (0.42, 0.36, 0.22)) -> str:
    return str(sc.rng.choice(["man", "woman", "child"], p=np.asarray(weights) / sum(weights)))


_PERSON_HEIGHT = {"man": 1.0, "woman": 0.94, "child": 0.64}
_POSE_HEIGHT = {"stand": 1.0, "walk": 0.98, "sit_side": 0.74, "sit_front": 0.74, "ride": 0.72, "upper": 0.5, "lie": 1.0}


def _person(sc: _Scene, kind: str, cx: float, bottom: float, adult_h: float, pose: str = "stand", *,
            flip: bool = False, z: float | None = None, prio: int = 8, shirt_p: float = 0.45,
            hat_p: float = 0.18, helmet_p: float = 0.0, hands: list | None = None) -> int:
    """Add a person (``man``/``woman``/``child``) whose box bottom is at ``bottom`` and horizontal
    centre at ``cx``; ``adult_h`` is the standing height of a man at that depth. Adds annotated
    shirt / hat / helmet parts with their relations."""
    g = _person_geom(kind, pose)
    h = adult_h * _PERSON_HEIGHT[kind] * _POSE_HEIGHT[pose]
    w = h * g["aspect"]
    if pose == "lie":
        w, h = h, h * g["aspect"]
    box = (cx - w / 2, bottom - h, cx + w / 2, bottom)
    z = bottom if z is None else z
    idx = sc.add(kind, "person", box, z=z, prio=prio, who=kind, pose=pose, flip=flip, hands=hands, **_outfit(sc, kind))
    o = sc.objs[idx]
    if sc.chance(shirt_p):
        t = _person_part(o, "torso")
        s = sc.add("shirt", None, t, z=z + 0.01, prio=prio - 3)
        sc.rel(idx, s, [("wearing", 0.62), ("has", 0.23), ("on", 0.15, True)])
    head = _person_part(o, "head")
    hw, hh = head[2] - head[0], head[3] - head[1]
    if pose == "lie":
        return idx
    if sc.chance(helmet_p):
        box = (head[0] - hw * 0.1, head[1] - hh * 0.22, head[2] + hw * 0.1, head[1] + hh * 0.45)
        hi = sc.add("helmet", "helmet", box, z=z + 0.02, prio=prio - 2,
                    color=_jit(sc.rng, _pick(sc.rng, [(230, 230, 230), (200, 30, 30), (30, 70, 170), (240, 200, 30), (30, 30, 30)]), 10),
                    flip=flip)
        sc.rel(idx, hi, [("wearing", 0.7), ("has", 0.15), ("on", 0.15, True)])
    elif sc.chance(hat_p):
        box = (head[0] - hw * 0.24, head[1] - hh * 0.34, head[2] + hw * 0.24, head[1] + hh * 0.4)
        hi = sc.add("hat", "dome", box, z=z + 0.02, prio=prio - 2, color=_jit(sc.rng, _pick(sc.rng, DOME), 12))
        sc.rel(idx, hi, [("wearing", 0.64), ("has", 0.18), ("on", 0.18, True)])
    return idx


def _held(sc: _Scene, person: int, label: str, kind: str, size: tuple[float, float], which: int = 1,
          anchor: str = "top", **p: Any) -> int:
    """An object held in a person's hand; ``anchor`` says which part of it sits at the hand."""
    hx, hy = _person_hand(sc.objs[person], which)
    w, h = size
    if anchor == "top":
        box = (hx - w / 2, hy - h * 0.1, hx + w / 2, hy + h * 0.9)
    elif anchor == "bottom":
        box = (hx - w / 2, hy - h, hx + w / 2, hy)
    else:
        box = (hx - w / 2, hy - h / 2, hx + w / 2, hy + h / 2)
    return sc.add(label, kind, box, z=sc.objs[person].z + 0.05, prio=sc.objs[person].prio - 1, **p)


def _wheels(sc: _Scene, vehicle: int, centres: Sequence[float], v: float, dia: float, p_annot: float) -> None:
    o = sc.objs[vehicle]
    x1, y1, x2, y2 = o.box
    for cu in centres:
        cu = 1 - cu if o.p.get("flip") else cu
        cx, cy = x1 + cu * (x2 - x1), y1 + v * (y2 - y1)
        wi = sc.add("wheel", "wheel", (cx - dia / 2, cy - dia / 2, cx + dia / 2, cy + dia / 2), z=o.z + 0.01,
                    prio=2)
        if sc.chance(p_annot):
            sc.rel(vehicle, wi, [("has", 0.6), ("of", 0.4, True)])
        elif sc.chance(0.5):
            sc.objs[wi].annotated = False


def _vehicle(sc: _Scene, label: str, cx: float, bottom: float, scale: float, street: int | None,
             flip: bool | None = None) -> int:
    flip = sc.chance(0.5) if flip is None else flip
    if label == "car":
        h = 0.2 * sc.S * scale
        w = h * sc.u(2.1, 2.5)
        vi = sc.add("car", "car", (cx - w / 2, bottom - h, cx + w / 2, bottom), z=bottom, prio=7,
                    color=_jit(sc.rng, _pick(sc.rng, VEHICLE), 12), flip=flip)
        _wheels(sc, vi, (0.2, 0.8), 0.8, h * 0.4, 0.45)
    else:
        h = 0.32 * sc.S * scale
        w = h * sc.u(2.4, 3.0)
        vi = sc.add("bus", "bus", (cx - w / 2, bottom - h, cx + w / 2, bottom), z=bottom, prio=7,
                    color=_jit(sc.rng, _pick(sc.rng, [(230, 190, 30), (200, 40, 40), (40, 90, 170), (235, 235, 235), (60, 140, 80)]), 10),
                    flip=flip, windows=sc.ri(4, 6), stripe=_pick(sc.rng, [(240, 240, 240), (30, 30, 30), (200, 40, 40)]))
        _wheels(sc, vi, (0.16, 0.8), 0.86, h * 0.3, 0.35)
    if street is not None:
        sc.rel(vi, street, [("parked on", 0.55), ("on", 0.45)])
    return vi


def _stand_on(sc: _Scene, who: int, ground: int, pose: str) -> None:
    if pose == "walk":
        sc.rel(who, ground, [("walking on", 0.6), ("on", 0.25), ("standing on", 0.15)])
    else:
        sc.rel(who, ground, [("standing on", 0.6), ("on", 0.4)])


def _dog(sc: _Scene, cx: float, bottom: float, scale: float, pose: str = "stand", flip: bool | None = None,
         z: float | None = None) -> int:
    h = 0.16 * sc.S * scale * {"stand": 1.0, "sit": 1.2, "lie": 0.6}[pose]
    w = h * {"stand": 1.35, "sit": 0.85, "lie": 2.0}[pose]
    flip = sc.chance(0.5) if flip is None else flip
    return sc.add("dog", "dog", (cx - w / 2, bottom - h, cx + w / 2, bottom), z=bottom if z is None else z, prio=7,
                  color=_jit(sc.rng, _pick(sc.rng, FUR_DOG), 10), pose=pose, flip=flip)


def _cat(sc: _Scene, cx: float, bottom: float, scale: float, pose: str = "stand", z: float | None = None) -> int:
    h = 0.11 * sc.S * scale * {"stand": 1.0, "sit": 1.35, "lie": 0.7}[pose]
    w = h * {"stand": 1.3, "sit": 0.8, "lie": 2.0}[pose]
    return sc.add("cat", "cat", (cx - w / 2, bottom - h, cx + w / 2, bottom), z=bottom if z is None else z, prio=7,
                  color=_jit(sc.rng, _pick(sc.rng, FUR_CAT), 10), pose=pose, flip=sc.chance(0.5))


def _ball(sc: _Scene, cx: float, bottom: float, scale: float) -> int:
    r = 0.035 * sc.S * scale * sc.u(0.8, 1.3)
    plain = sc.chance(0.45)
    color = (250, 215, 60) if plain and sc.chance(0.5) else _jit(sc.rng, _pick(sc.rng, [(220, 40, 40), (40, 90, 200), (250, 215, 60), (245, 130, 30)]), 8)
    return sc.add("ball", "disc", (cx - r, bottom - 2 * r, cx + r, bottom), z=bottom, prio=6, color=color,
                  stripes=not plain, color2=_jit(sc.rng, _pick(sc.rng, [(220, 40, 40), (40, 90, 200), (40, 160, 70)]), 8))


def _kite(sc: _Scene, holder: int) -> int:
    o = sc.objs[holder]
    hx, hy = _person_hand(o, 1)
    w = 0.07 * sc.S * sc.u(0.8, 1.3)
    h = w * 1.6
    x = float(np.clip(hx + sc.u(-0.3, 0.3) * sc.W, 2, sc.W - w - 2))
    y = sc.u(4, max(5, min(sc.horizon, hy) - h - 20))
    ki = sc.add("kite", "kite", (x, y, x + w, y + h), z=-50, prio=6,
                color=_jit(sc.rng, _pick(sc.rng, CLOTH), 10), color2=_jit(sc.rng, _pick(sc.rng, CLOTH), 10))
    sc.overlays.append(("line", [(x + w / 2, y + h * 0.36), (hx, hy)], (70, 70, 70), 1))
    sc.objs[holder].p["hands"] = [(_person_geom(o.p["who"], o.p["pose"])["hands"][0]), (0.98, 0.2)]
    sc.rel(holder, ki, [("holding", 1.0)])
    if sc.chance(0.4):
        sc.rel(ki, holder, "above")
    return ki


# =============================================================================================
# templates


def _street(sc: _Scene) -> None:
    sc.horizon = sc.H * sc.u(0.4, 0.58)
    _sky(sc, sc.horizon)
    side_h = sc.H * 0.05
    sc.bg.append(("road", sc.horizon, sc.horizon + side_h, _jit(sc.rng, (175, 170, 160), 10), _jit(sc.rng, (165, 160, 150), 10)))
    street = sc.region("street", sc.horizon + side_h, sc.H, prio=6)
    base = _jit(sc.rng, (95, 95, 100), 15)
    sc.bg.append(("road", sc.horizon + side_h, sc.H, _shade(base, 0.85), base))
    lane_y = sc.horizon + side_h + (sc.H - sc.horizon - side_h) * sc.u(0.45, 0.6)
    colour = _pick(sc.rng, [(240, 240, 240), (240, 200, 50)])
    x = sc.u(-40, 0)
    while x < sc.W:
        sc.overlays.append(("rect", [x, lane_y, x + sc.W * 0.08, lane_y + max(2, sc.H * 0.012)], colour))
        x += sc.W * 0.14
    # buildings on the horizon
    x = sc.u(-0.1, 0.05) * sc.W
    nb = 0
    while x < sc.W and nb < 3:
        w = sc.u(0.28, 0.5) * sc.W
        top = sc.u(0.05, 0.6) * sc.horizon
        bottom = sc.horizon + side_h * 0.2
        roof = sc.u(0.12, 0.22) if sc.chance(0.3) else 0.0
        _building(sc, x, top, x + w, bottom, roof, n_annot=sc.ri(0, 2))
        nb += 1
        x += w + sc.u(0.0, 0.12) * sc.W
    if sc.chance(0.45):
        _tree(sc, sc.u(0.05, 0.95) * sc.W, sc.horizon + side_h, sc.S * sc.u(0.25, 0.4), z=sc.horizon)
    if sc.chance(0.45):
        lx = sc.u(0.05, 0.95) * sc.W
        lh = sc.S * sc.u(0.35, 0.5)
        li = sc.add("lamp", "lamp", (lx - lh * 0.12, sc.horizon + side_h - lh, lx + lh * 0.12, sc.horizon + side_h),
                    z=sc.horizon + 1, prio=4, style="street", color=_jit(sc.rng, (50, 55, 60), 10))
        if sc.chance(0.3):
            bx, by = sc.objs[li].box[0], sc.objs[li].box[1]
            w = lh * 0.14
            bi = sc.add("bird", "bird", (bx + lh * 0.12 - w * 0.9, by - w, bx + lh * 0.12 + w * 0.9, by), z=sc.horizon + 2,
                        prio=5, color=(40, 40, 45), flip=sc.chance(0.5))
            sc.rel(bi, li, "on")
    _sky_things(sc, 0.3, (0, 2), 0.15)
    # vehicles
    for _ in range(sc.ri(0, 2)):
        y = sc.ground_y(0.25, 1.0)
        s = sc.depth_scale(y)
        _vehicle(sc, "car", sc.free_x(0.5 * sc.S * s, y - 0.2 * sc.S * s, y), y, s, street)
    if sc.chance(0.3):
        y = sc.ground_y(0.2, 0.6)
        s = sc.depth_scale(y)
        _vehicle(sc, "bus", sc.free_x(0.9 * sc.S * s, y - 0.32 * sc.S * s, y), y, s, street)
    # people
    people = []
    for _ in range(sc.ri(1, 3)):
        y = sc.ground_y(0.25, 1.0)
        s = sc.depth_scale(y)
        pose = "walk" if sc.chance(0.5) else "stand"
        kind = _person_kind(sc)
        pi = _person(sc, kind, _free_person_x(sc, kind, pose, y, 0.55 * sc.S * s), y, 0.55 * sc.S * s, pose, flip=sc.chance(0.5))
        _stand_on(sc, pi, street, pose)
        people.append(pi)
        r = sc.rng.random()
        if r < 0.25:
            bh = sc.objs[pi].box[3] - sc.objs[pi].box[1]
            bag = _held(sc, pi, "bag", "bag", (bh * 0.2, bh * 0.2), color=_jit(sc.rng, _pick(sc.rng, CLOTH), 12))
            sc.rel(pi, bag, [("carrying", 0.5), ("holding", 0.3), ("has", 0.2)])
        elif r < 0.4:
            bh = sc.objs[pi].box[3] - sc.objs[pi].box[1]
            sc.objs[pi].p["hands"] = [_person_geom(kind, pose)["hands"][0], (0.9, 0.42)]
            um = _held(sc, pi, "umbrella", "umbrella", (bh * 0.75, bh * 0.7), anchor="bottom",
                       color=_jit(sc.rng, _pick(sc.rng, CLOTH), 10), color2=_jit(sc.rng, _pick(sc.rng, CLOTH), 10))
            o = sc.objs[um]
            hx = _person_hand(sc.objs[pi], 1)[0]
            pc = (sc.objs[pi].box[0] + sc.objs[pi].box[2]) / 2
            shift = pc - hx
            o.box = [o.box[0] + shift, o.box[1] + bh * 0.05, o.box[2] + shift, o.box[3] + bh * 0.05]
            sc.rel(pi, um, [("holding", 0.8), ("has", 0.2)])
            if sc.chance(0.5):
                sc.rel(pi, um, "under")
    # a cyclist
    if sc.chance(0.3):
        y = sc.ground_y(0.4, 1.0)
        s = sc.depth_scale(y)
        _cyclist(sc, sc.free_x(0.51 * sc.S * s, y - 0.5 * sc.S * s, y), y, s, street)
    if people and sc.chance(0.25):
        owner = sc.objs[people[0]]
        y = owner.box[3] + sc.u(-0.02, 0.05) * sc.H
        dg = _dog(sc, owner.box[2] + (owner.box[2] - owner.box[0]) * 0.6, min(sc.H - 1, y), sc.depth_scale(y))
        sc.rel(dg, people[0], "near")
        if sc.chance(0.5):
            _stand_on(sc, dg, street, "stand")


def _cyclist(sc: _Scene, cx: float, y: float, s: float, ground: int | None) -> int:
    flip = sc.chance(0.5)
    bh = 0.3 * sc.S * s
    bw = bh * 1.7
    bike = sc.add("bike", "bike", (cx - bw / 2, y - bh, cx + bw / 2, y), z=y, prio=7,
                  color=_jit(sc.rng, _pick(sc.rng, VEHICLE), 10), flip=flip)
    kind = _person_kind(sc, (0.5, 0.25, 0.25))
    rider = _mount(sc, kind, bike, (0.37, 0.27), 0.55 * sc.S * s, helmet_p=0.5, hat_p=0.1)
    sc.rel(rider, bike, [("riding", 0.8), ("on", 0.2)])
    if ground is not None and sc.chance(0.4):
        sc.rel(bike, ground, "on")
    return rider


def _mount(sc: _Scene, kind: str, vehicle: int, seat: tuple[float, float], adult_h: float, **kw: Any) -> int:
    """A rider whose hip sits at ``seat`` (unit coordinates of the vehicle, facing right)."""
    v = sc.objs[vehicle]
    flip = bool(v.p.get("flip", False))
    x1, y1, x2, y2 = v.box
    su = 1 - seat[0] if flip else seat[0]
    sx, sy = x1 + su * (x2 - x1), y1 + seat[1] * (y2 - y1)
    g = _person_geom(kind, "ride")
    rh = adult_h * _PERSON_HEIGHT[kind] * _POSE_HEIGHT["ride"]
    rw = rh * g["aspect"]
    hip_u, hip_v = g["legs"][0][0]
    cx = sx + rw * (0.5 - hip_u) * (-1 if flip else 1)
    return _person(sc, kind, cx, sy + rh * (1 - hip_v), adult_h, "ride", flip=flip, z=v.z + 0.5, **kw)


def _building(sc: _Scene, x1: float, y1: float, x2: float, y2: float, roof: float, n_annot: int) -> int:
    colour = _jit(sc.rng, _pick(sc.rng, [(180, 90, 70), (200, 190, 170), (150, 150, 155), (220, 200, 150), (170, 120, 90),
                                         (120, 140, 160)]), 12)
    frame = _pick(sc.rng, [(240, 240, 240), (60, 60, 60), (120, 80, 50)])
    glass = _jit(sc.rng, (140, 180, 210), 15)
    w, h = x2 - x1, y2 - y1
    body_top = y1 + roof * h
    cols = max(1, int(w / max(14.0, min(w, h) * 0.18)))
    rows = max(1, int((y2 - body_top) / max(14.0, min(w, h) * 0.22)) - 1)
    cw, rh = w / cols, (y2 - body_top) / (rows + 1)
    wins = []
    for r in range(rows):
        for c in range(cols):
            wins.append([x1 + c * cw + cw * 0.25, body_top + r * rh + rh * 0.3, x1 + (c + 1) * cw - cw * 0.25, body_top + (r + 1) * rh])
    door = [x1 + w * 0.42, y2 - rh * 0.95, x1 + w * 0.58, y2] if sc.chance(0.6) else None
    bi = sc.add("building", "building", (x1, y1, x2, y2), z=y2 - 1000, prio=5, color=colour, roof=roof,
                roof_color=_jit(sc.rng, (150, 60, 50), 20), windows=wins, frame=frame, glass=glass, door=door,
                cross=sc.chance(0.6))
    visible = [k for k, wb in enumerate(wins) if wb[0] > 0 and wb[2] < sc.W and wb[1] > 0 and (wb[2] - wb[0]) > 6]
    for k in sc.rng.permutation(visible)[:n_annot]:
        wi = sc.add("window", None, wins[int(k)], z=y2 - 999, prio=3)
        sc.rel(wi, bi, [("of", 0.45), ("on", 0.3), ("has", 0.25, True)])
    return bi


def _park(sc: _Scene) -> None:
    sc.horizon = sc.H * sc.u(0.3, 0.5)
    _sky(sc, sc.horizon)
    grass = sc.region("grass", sc.horizon, sc.H, prio=6)
    g = _jit(sc.rng, (80, 150, 60), 15)
    sc.bg.append(("grass", sc.horizon, sc.H, _shade(g, 0.8), g))
    trees = []
    for _ in range(sc.ri(1, 3)):
        foot = sc.horizon + sc.u(0.0, 0.12) * (sc.H - sc.horizon)
        trees.append(_tree(sc, sc.u(0.0, 1.0) * sc.W, foot, sc.S * sc.u(0.35, 0.55) * sc.depth_scale(foot) / 0.4, z=foot - 5))
    for t in trees:
        if sc.chance(0.3):
            sc.rel(t, grass, [("on", 0.5), ("growing on", 0.3), ("in", 0.2)], dup_p=0)
    if trees and sc.chance(0.25):
        t = sc.objs[trees[0]]
        w = (t.box[2] - t.box[0]) * 0.16
        bx, by = sc.u(t.box[0] + w, t.box[2] - 2 * w), sc.u(t.box[1] + w, t.box[1] + (t.box[3] - t.box[1]) * 0.35)
        bi = sc.add("bird", "bird", (bx, by, bx + w * 1.3, by + w), z=t.z + 0.5, prio=5,
                    color=_pick(sc.rng, [(200, 40, 40), (40, 40, 45), (80, 120, 200)]), flip=sc.chance(0.5))
        sc.rel(bi, trees[0], [("in", 0.6), ("on", 0.4)])
    _sky_things(sc, 0.45, (0, 2), 0.2)
    # bench with sitters
    if sc.chance(0.6):
        y = sc.ground_y(0.3, 0.8)
        s = sc.depth_scale(y)
        bh = 0.2 * sc.S * s
        bw = bh * sc.u(2.4, 3.0)
        bx = sc.free_x(bw, y - bh, y)
        bench = sc.add("bench", "bench", (bx - bw / 2, y - bh, bx + bw / 2, y), z=y, prio=7,
                       color=_jit(sc.rng, _pick(sc.rng, WOOD), 10))
        if sc.chance(0.5):
            sc.rel(bench, grass, "on", dup_p=0)
        if trees and sc.chance(0.2):
            sc.rel(bench, trees[0], [("under", 0.5), ("near", 0.5)])
        slots = [0.28, 0.72]
        sc.rng.shuffle(slots)
        for k in range(sc.ri(0, 2)):
            kind = _person_kind(sc)
            pi = _person(sc, kind, bx - bw / 2 + slots[k] * bw, y, 0.55 * sc.S * s, "sit_front", z=y + 0.5)
            sc.rel(pi, bench, [("sitting on", 0.7), ("on", 0.3)])
        if sc.chance(0.22):
            dg = _dog(sc, bx + bw * 0.05, y - bh * 0.42, s * 0.85, pose="sit", z=y + 0.6)
            sc.rel(dg, bench, [("sitting on", 0.6), ("on", 0.4)])
        elif sc.chance(0.15):
            bw2 = bh * 0.3
            bi = sc.add("bird", "bird", (bx + bw * 0.3, y - bh * 0.42 - bw2, bx + bw * 0.3 + bw2 * 1.3, y - bh * 0.42),
                        z=y + 0.6, prio=5, color=(70, 70, 75), flip=sc.chance(0.5))
            sc.rel(bi, bench, "on")
    # people playing
    people = []
    kite = sc.chance(0.3)
    n_people = sc.ri(1, 2)
    for k in range(n_people):
        y = sc.ground_y(0.3, 1.0)
        kite_holder = kite and k == n_people - 1
        kind = _person_kind(sc, (0.3, 0.25, 0.45) if kite_holder else (0.3, 0.3, 0.4))
        pose = "stand" if kite_holder or sc.chance(0.65) else "walk"
        ah = 0.55 * sc.S * sc.depth_scale(y)
        pi = _person(sc, kind, _free_person_x(sc, kind, pose, y, ah), y, ah, pose, flip=sc.chance(0.5))
        people.append(pi)
        _stand_on(sc, pi, grass, pose)
    if people and sc.chance(0.45):
        p0 = sc.objs[people[0]]
        y = min(sc.H - 1, p0.box[3] + sc.u(-0.02, 0.04) * sc.H)
        ba = _ball(sc, p0.box[2] + sc.u(0.1, 0.6) * (p0.box[2] - p0.box[0]), y, sc.depth_scale(y))
        sc.rel(people[0], ba, [("playing with", 0.7), ("near", 0.3)])
        if sc.chance(0.5):
            sc.rel(ba, grass, "on", dup_p=0)
    if kite:
        _kite(sc, people[-1])
    if sc.chance(0.45):
        y = sc.ground_y(0.3, 1.0)
        pose = _pick(sc.rng, ["stand", "stand", "sit", "lie"])
        dg = _dog(sc, sc.free_x(0.22 * sc.S * sc.depth_scale(y), y - 0.16 * sc.S * sc.depth_scale(y), y), y, sc.depth_scale(y), pose=pose)
        if pose == "stand":
            _stand_on(sc, dg, grass, "stand")
        else:
            sc.rel(dg, grass, [("sitting on", 0.6), ("on", 0.4)] if pose == "sit" else [("lying on", 0.65), ("on", 0.35)])
        if people and sc.chance(0.5):
            sc.rel(dg, people[0], "near")
    for _ in range(sc.ri(0, 3)):
        y = sc.ground_y(0.2, 1.0)
        fh = 0.11 * sc.S * sc.depth_scale(y) * sc.u(0.8, 1.2)
        fx = sc.u(0.03, 0.97) * sc.W
        fi = sc.add("flower", "flower", (fx - fh * 0.25, y - fh, fx + fh * 0.25, y), z=y, prio=4,
                    color=_jit(sc.rng, _pick(sc.rng, FLOWER), 8))
        sc.rel(fi, grass, [("growing on", 0.3), ("in", 0.35), ("on", 0.35)])
    if sc.chance(0.25):
        lx = sc.u(0.05, 0.95) * sc.W
        foot = sc.horizon + sc.u(0.05, 0.3) * (sc.H - sc.horizon)
        lh = sc.S * 0.45 * sc.depth_scale(foot) / 0.5
        sc.add("lamp", "lamp", (lx - lh * 0.12, foot - lh, lx + lh * 0.12, foot), z=foot, prio=4,
               style="street", color=_jit(sc.rng, (40, 60, 50), 10))


def _tabletop_items(sc: _Scene, table: int, people: list[int]) -> None:
    """Plates (maybe with pizza), cups and bowls on a table; the bowls share the hat's drawing."""
    t = sc.objs[table]
    x1, y1, x2, y2 = t.box
    tw, th = x2 - x1, y2 - y1
    top = t.p.get("top", 0.22)
    surf_y0, surf_y1 = y1 + th * 0.02, y1 + th * top
    unit = tw * 0.12
    items = []
    n = sc.ri(2, 5)
    for _ in range(n):
        kind = str(sc.rng.choice(["plate", "cup", "bowl"], p=[0.45, 0.3, 0.25]))
        by = sc.u(surf_y0 + th * 0.05, surf_y1)
        depth = 0.75 + 0.25 * (by - surf_y0) / max(1.0, surf_y1 - surf_y0)
        u = unit * depth * sc.u(0.85, 1.15)
        if kind == "plate":
            w, h = u * 1.5, u * 0.42
        elif kind == "cup":
            w, h = u * 0.55, u * 0.6
        else:
            w, h = u * 0.95, u * 0.62
        bx = sc.u(x1 + tw * 0.06 + w / 2, x2 - tw * 0.06 - w / 2)
        box = [bx - w / 2, by - h, bx + w / 2, by]
        if any(_overlap_frac(box, sc.objs[i].box) > 0.25 for i in items):
            continue
        z = t.z + 0.1 + by / 10000
        if kind == "plate":
            it = sc.add("plate", "plate", box, z=z, prio=6, color=_jit(sc.rng, _pick(sc.rng, [(245, 245, 245), (230, 225, 210), (200, 220, 235)]), 6))
            if sc.chance(0.45):
                pw, ph = w * 0.72, h * 0.62
                pz = sc.add("pizza", "pizza", (bx - pw / 2, by - h * 0.2 - ph, bx + pw / 2, by - h * 0.2), z=z + 0.001,
                            prio=6, whole=True, seed=int(sc.rng.integers(1 << 30)))
                sc.rel(pz, it, [("on", 0.85), ("in", 0.15)], dup_p=0)
        elif kind == "cup":
            it = sc.add("cup", "cup", box, z=z, prio=6, color=_jit(sc.rng, _pick(sc.rng, DOME + [(245, 245, 245)]), 10),
                        flip=sc.chance(0.5))
        else:
            it = sc.add("bowl", "dome", box, z=z, prio=6, color=_jit(sc.rng, _pick(sc.rng, DOME), 12))
        items.append(it)
        sc.rel(it, table, [("on", 0.92), ("in", 0.08)] if kind != "bowl" else "on", dup_p=0)
        if people and sc.chance(0.15):
            sc.rel(it, _pick(sc.rng, people), [("near", 0.7), ("in front of", 0.3)], dup_p=0)


def _overlap_frac(a: Sequence[float], b: Sequence[float]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / max(1e-6, min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])))


def _indoor(sc: _Scene, wall_frac: float) -> tuple[float, int | None]:
    sc.horizon = sc.H * wall_frac
    wall = _jit(sc.rng, _pick(sc.rng, [(225, 215, 190), (200, 215, 225), (235, 225, 225), (190, 205, 180), (215, 190, 160)]), 10)
    sc.bg.append(("wall", 0, sc.horizon, _shade(wall, 0.92), wall))
    if sc.chance(0.45):
        period = sc.u(0.03, 0.07) * sc.W
        x = sc.u(0, period)
        while x < sc.W:
            sc.overlays.append(("rect", [x, 0, x + period * 0.35, sc.horizon], _shade(wall, 0.93)))
            x += period
    floor = _jit(sc.rng, _pick(sc.rng, [(150, 105, 65), (120, 80, 50), (180, 150, 110), (110, 110, 115)]), 10)
    sc.bg.append(("wood", sc.horizon, sc.H, _shade(floor, 0.8), floor))
    y = sc.horizon
    gap = (sc.H - sc.horizon) * 0.12
    while y < sc.H:
        sc.overlays.append(("line", [(0, y), (sc.W, y)], _shade(floor, 0.6), 1))
        gap *= 1.25
        y += gap
    sc.overlays.append(("rect", [0, sc.horizon - max(2, sc.H * 0.015), sc.W, sc.horizon], _shade(wall, 0.7)))
    win = None
    if sc.chance(0.7):
        ww = sc.u(0.16, 0.28) * sc.W
        wh = ww * sc.u(0.9, 1.3)
        wx = sc.u(0.03, 0.97) * sc.W - ww / 2
        wy = sc.u(0.06, 0.2) * sc.H
        curtain = _jit(sc.rng, _pick(sc.rng, CLOTH), 10) if sc.chance(0.4) else None
        win = sc.add("window", "window", (wx, wy, wx + ww, min(wy + wh, sc.horizon - 10)), z=-200, prio=5,
                     frame=_pick(sc.rng, [(245, 245, 245), (120, 80, 50)]), glass=_jit(sc.rng, (150, 195, 230), 12),
                     curtain=curtain)
    return sc.horizon, win


def _dining(sc: _Scene) -> None:
    _indoor(sc, sc.u(0.45, 0.6))
    tw = sc.u(0.6, 0.95) * sc.W
    tx = sc.u(0.0, 1.0) * (sc.W - tw)
    ty = sc.u(0.5, 0.66) * sc.H
    tb = min(sc.H - 2, ty + sc.u(0.3, 0.45) * sc.H)
    cloth = _jit(sc.rng, _pick(sc.rng, [(240, 240, 240), (200, 60, 60), (70, 110, 170), (230, 210, 150)]), 10) if sc.chance(0.5) else None
    table = sc.add("table", "table", (tx, ty, tx + tw, tb), z=tb, prio=9, color=_jit(sc.rng, _pick(sc.rng, WOOD[:4]), 10),
                   cloth=cloth, top=sc.u(0.18, 0.28))
    people = []
    slots = list(sc.rng.permutation([0.2, 0.5, 0.8]))
    for k in range(sc.ri(1, 3)):
        kind = _person_kind(sc)
        adult_h = sc.S * sc.u(0.75, 0.95)
        cx = tx + tw * slots[k] + sc.u(-0.05, 0.05) * tw
        bottom = ty + (tb - ty) * 0.12
        chair_w = adult_h * 0.3
        ch = None
        if sc.chance(0.75):
            ch = sc.add("chair", "chair", (cx - chair_w / 2, bottom - adult_h * 0.45, cx + chair_w / 2, tb - (tb - ty) * 0.15),
                        z=ty - 2, prio=6, color=_jit(sc.rng, _pick(sc.rng, WOOD), 10), view="front")
        eating = sc.chance(0.3)
        pi = _person(sc, kind, cx, bottom, adult_h, "upper", z=ty - 1, hat_p=0.3, shirt_p=0.5,
                     hands=[(0.1, 0.98), (0.74, 0.3)] if eating else None)
        people.append(pi)
        if ch is not None:
            sc.rel(pi, ch, [("sitting on", 0.6), ("on", 0.25), ("in", 0.15)])
            if sc.chance(0.3):
                sc.rel(ch, table, [("near", 0.5), ("behind", 0.5)], dup_p=0)
        if sc.chance(0.35):
            sc.rel(pi, table, [("near", 0.45), ("behind", 0.55)], dup_p=0)
        if eating:
            hx, hy = _person_hand(sc.objs[pi], 1)
            s = (sc.objs[pi].box[3] - sc.objs[pi].box[1]) * 0.2
            pz = sc.add("pizza", "pizza", (hx - s * 0.15, hy - s * 0.65, hx + s * 0.85, hy + s * 0.2), z=ty - 0.9, prio=7,
                        seed=int(sc.rng.integers(1 << 30)), held=True)
            sc.rel(pi, pz, [("eating", 0.7), ("holding", 0.3)])
    _tabletop_items(sc, table, people)
    if sc.chance(0.45):
        lw = sc.u(0.12, 0.2) * sc.W
        lx = tx + tw * sc.u(0.3, 0.7)
        ly = sc.u(0.02, 0.12) * sc.H
        li = sc.add("lamp", "lamp", (lx - lw / 2, ly, lx + lw / 2, ly + lw * 0.6), z=-150, prio=5, style="pendant",
                    color=_jit(sc.rng, _pick(sc.rng, [(240, 230, 200), (60, 60, 60), (200, 60, 40), (40, 90, 60)]), 10))
        sc.overlays.append(("line", [(lx, 0), (lx, ly)], (40, 40, 40), 1))
        sc.rel(li, table, "above")
    r = sc.rng.random()
    if r < 0.5:
        where = sc.rng.random()
        if where < 0.45:
            ci = _cat(sc, sc.u(tx + tw * 0.15, tx + tw * 0.85), sc.u(tb - 0.05 * sc.H, sc.H - 2), 1.5, "sit" if sc.chance(0.5) else "stand",
                      z=tb + 1)
            sc.rel(ci, table, [("under", 0.6), ("near", 0.4)])
        else:
            y = ty + (tb - ty) * sc.u(0.1, 0.2)
            ci = _cat(sc, sc.u(tx + tw * 0.15, tx + tw * 0.85), y, 1.35, "lie", z=sc.objs[table].z + 0.5)
            sc.rel(ci, table, [("lying on", 0.7), ("on", 0.3)])
    elif r < 0.65:
        dg = _dog(sc, sc.u(0.15, 0.85) * sc.W, sc.u(tb, sc.H - 2), 1.2, "sit" if sc.chance(0.5) else "lie", z=tb + 1)
        sc.rel(dg, table, [("under", 0.5), ("near", 0.5)])


def _stable(sc: _Scene) -> None:
    sc.horizon = sc.H * sc.u(0.35, 0.52)
    _sky(sc, sc.horizon)
    on_beach = sc.chance(0.25)
    if on_beach:
        wy = sc.horizon + (sc.H - sc.horizon) * sc.u(0.15, 0.3)
        sc.bg.append(("water", sc.horizon, wy, _jit(sc.rng, (60, 110, 170), 10), _jit(sc.rng, (90, 150, 190), 10)))
        ground = sc.region("beach", wy, sc.H, prio=6)
        sand = _jit(sc.rng, (225, 205, 160), 10)
        sc.bg.append(("sand", wy, sc.H, _shade(sand, 0.92), sand))
        lo = (wy - sc.horizon) / (sc.H - sc.horizon)
    else:
        dirt = sc.chance(0.35)
        ground = sc.region("grass", sc.horizon, sc.H, prio=6) if not dirt else None
        g = _jit(sc.rng, (90, 150, 60), 15) if not dirt else _jit(sc.rng, (150, 115, 80), 12)
        sc.bg.append(("grass" if not dirt else "dirt", sc.horizon, sc.H, _shade(g, 0.8), g))
        lo = 0.1
        bw = sc.u(0.3, 0.5) * sc.W
        bx = sc.u(-0.1, 0.9) * sc.W
        _building(sc, bx, sc.horizon * sc.u(0.25, 0.6), bx + bw, sc.horizon + 4, sc.u(0.2, 0.35), n_annot=sc.ri(0, 1))
        if sc.chance(0.5):
            _tree(sc, sc.u(0, 1) * sc.W, sc.horizon + 6, sc.S * sc.u(0.3, 0.45), z=sc.horizon)
    _sky_things(sc, 0.4, (0, 2), 0.15)
    horses = []
    for k in range(sc.ri(1, 3)):
        y = sc.ground_y(max(lo + 0.1, 0.3), 1.0)
        s = sc.depth_scale(y)
        h = 0.5 * sc.S * s
        w = h * 1.25
        cx = sc.free_x(w, y - h, y, max_overlap=0.2, strict=k > 0)
        if cx is None:
            continue
        flip = sc.chance(0.5)
        eat = not on_beach and ground is not None and sc.chance(0.3)
        hi = sc.add("horse", "horse", (cx - w / 2, y - h, cx + w / 2, y), z=y, prio=8,
                    color=_jit(sc.rng, _pick(sc.rng, FUR_HORSE), 10), flip=flip, pose="eat" if eat else "stand",
                    mane=_jit(sc.rng, _pick(sc.rng, HAIR), 10))
        horses.append(hi)
        if ground is not None:
            sc.rel(hi, ground, [("standing on", 0.6), ("on", 0.4)])
        if eat:
            sc.rel(hi, ground, "eating", dup_p=0)
        elif k == 0 and sc.chance(0.75):
            kind = _person_kind(sc, (0.45, 0.3, 0.25))
            rider = _mount(sc, kind, hi, (0.45, 0.34), 0.55 * sc.S * s, helmet_p=0.55, hat_p=0.2)
            sc.rel(rider, hi, [("riding", 0.85), ("on", 0.15)])
    if sc.chance(0.5):
        y = sc.ground_y(max(lo + 0.1, 0.4), 1.0)
        kind = _person_kind(sc, (0.5, 0.3, 0.2))
        pose = "walk" if sc.chance(0.4) else "stand"
        ah = 0.55 * sc.S * sc.depth_scale(y)
        pi = _person(sc, kind, _free_person_x(sc, kind, pose, y, ah), y, ah, pose, flip=sc.chance(0.5))
        if ground is not None:
            _stand_on(sc, pi, ground, pose)
        sc.rel(pi, horses[0], [("near", 0.8), ("behind", 0.1), ("in front of", 0.1)])
    if sc.chance(0.3):
        y = sc.ground_y(max(lo + 0.1, 0.5), 1.0)
        dg = _dog(sc, sc.free_x(0.22 * sc.S * sc.depth_scale(y), y - 0.16 * sc.S * sc.depth_scale(y), y), y, sc.depth_scale(y))
        sc.rel(dg, _pick(sc.rng, horses), "near")


def _beach(sc: _Scene) -> None:
    sc.horizon = sc.H * sc.u(0.3, 0.45)
    _sky(sc, sc.horizon)
    wy = sc.horizon + (sc.H - sc.horizon) * sc.u(0.25, 0.45)
    water = sc.region("water", sc.horizon, wy, prio=6)
    sc.bg.append(("water", sc.horizon, wy, _jit(sc.rng, (40, 90, 160), 10), _jit(sc.rng, (80, 150, 190), 10)))
    beach = sc.region("beach", wy, sc.H, prio=6)
    sand = _jit(sc.rng, (230, 210, 165), 10)
    sc.bg.append(("sand", wy, sc.H, _shade(sand, 0.93), sand))
    for k in range(3):
        yy = wy - (wy - sc.horizon) * (0.1 + 0.25 * k)
        pts = [(x, yy + math.sin(x / (12 + 6 * k)) * 2) for x in np.linspace(0, sc.W, 24)]
        sc.overlays.append(("line", pts, (230, 240, 245), 1 + (k == 0)))
    _sky_things(sc, 0.55, (0, 2), 0.3)
    for _ in range(sc.ri(0, 2)):
        y = sc.horizon + (wy - sc.horizon) * sc.u(0.3, 0.9)
        s = 0.6 * sc.depth_scale(y)
        h = 0.2 * sc.S * s / 0.5
        w = h * 1.5
        x = sc.u(0.05, 0.95) * sc.W
        bo = sc.add("boat", "boat", (x - w / 2, y - h, x + w / 2, y), z=y, prio=7, color=_jit(sc.rng, _pick(sc.rng, VEHICLE), 10),
                    sail=sc.chance(0.6), flip=sc.chance(0.5), sail_color=_jit(sc.rng, _pick(sc.rng, [(245, 245, 240), (230, 80, 60), (250, 210, 60)]), 6))
        sc.rel(bo, water, [("on", 0.5), ("in", 0.5)])
    people = []
    if sc.chance(0.6):
        ux = sc.u(0.1, 0.9) * sc.W
        uy = sc.u(wy + 0.3 * (sc.H - wy), sc.H - 4)
        uh = sc.S * 0.42 * sc.depth_scale(uy)
        um = sc.add("umbrella", "umbrella", (ux - uh * 0.55, uy - uh, ux + uh * 0.55, uy), z=uy, prio=6, hook=False,
                    canopy=0.3, color=_jit(sc.rng, _pick(sc.rng, CLOTH), 10), color2=(245, 245, 245))
        sc.rel(um, beach, [("on", 0.7), ("in", 0.3)])
        if sc.chance(0.7):
            kind = _person_kind(sc)
            lw = 0.55 * sc.S * sc.depth_scale(uy) * _PERSON_HEIGHT[kind]
            lx = float(np.clip(ux + sc.u(-0.1, 0.1) * uh, lw / 2 + 2, sc.W - lw / 2 - 2)) if lw < sc.W - 4 else sc.W / 2
            pi = _person(sc, kind, lx, uy + sc.u(0.0, 0.08) * sc.S, 0.55 * sc.S * sc.depth_scale(uy), "lie",
                         flip=sc.chance(0.5), z=uy + 1)
            sc.rel(pi, beach, [("lying on", 0.7), ("on", 0.3)])
            sc.rel(pi, um, "under")
            people.append(pi)
    kite = sc.chance(0.3)
    standers: list[int] = []
    n_people = sc.ri(1 if kite else 0, 2)
    for k in range(n_people):
        y = sc.u(wy + 0.15 * (sc.H - wy), sc.H - 2)
        kite_holder = kite and k == 0
        kind = _person_kind(sc, (0.3, 0.3, 0.4) if kite_holder else (0.35, 0.35, 0.3))
        pose = "stand" if kite_holder or sc.chance(0.6) else "walk"
        ah = 0.55 * sc.S * sc.depth_scale(y)
        pi = _person(sc, kind, _free_person_x(sc, kind, pose, y, ah), y, ah, pose, flip=sc.chance(0.5), shirt_p=0.35)
        _stand_on(sc, pi, beach, pose)
        people.append(pi)
        standers.append(pi)
    if sc.chance(0.3):
        y = sc.horizon + (wy - sc.horizon) * sc.u(0.6, 1.0)
        kind = _person_kind(sc)
        s = sc.depth_scale(y)
        pi = _person(sc, kind, sc.u(0.1, 0.9) * sc.W, y, 0.55 * sc.S * s, "stand", shirt_p=0.2, hat_p=0.05)
        # standing in the water: cover the legs with a water band
        o = sc.objs[pi]
        cut = o.box[1] + (o.box[3] - o.box[1]) * 0.55
        sc.add(None, "waterband", (o.box[0] - 4, cut, o.box[2] + 4, min(wy, o.box[3] + 2)), z=o.z + 0.03)
        o.p["draw_box"] = list(o.box)  # drawn whole, annotated down to the water line
        o.box[3] = cut
        sc.rel(pi, water, [("in", 0.8), ("near", 0.2)])
    if sc.chance(0.4):
        y = sc.u(wy + 0.1 * (sc.H - wy), sc.H - 2)
        ba = _ball(sc, sc.u(0.05, 0.95) * sc.W, y, sc.depth_scale(y))
        sc.rel(ba, beach, "on", dup_p=0)
        if people and sc.chance(0.6):
            sc.rel(people[-1], ba, [("playing with", 0.6), ("near", 0.4)])
    if kite:
        _kite(sc, standers[0])
    if sc.chance(0.3):
        y = sc.u(wy + 0.1 * (sc.H - wy), sc.H - 2)
        pose = "stand" if sc.chance(0.6) else "lie"
        dg = _dog(sc, sc.free_x(0.22 * sc.S * sc.depth_scale(y), y - 0.16 * sc.S * sc.depth_scale(y), y), y, sc.depth_scale(y), pose)
        sc.rel(dg, beach, [("standing on", 0.5), ("on", 0.5)] if pose == "stand" else [("lying on", 0.6), ("on", 0.4)])
    if sc.chance(0.25):
        y = sc.u(wy + 0.1 * (sc.H - wy), sc.H - 2)
        bs = 0.09 * sc.S * sc.depth_scale(y)
        x = sc.u(0.05, 0.95) * sc.W
        bg = sc.add("bag", "bag", (x - bs / 2, y - bs, x + bs / 2, y), z=y, prio=5, color=_jit(sc.rng, _pick(sc.rng, CLOTH), 10))
        sc.rel(bg, beach, "on", dup_p=0)


def _room(sc: _Scene) -> None:
    _, win = _indoor(sc, sc.u(0.5, 0.65))
    seats = []
    for _ in range(sc.ri(1, 2)):
        y = sc.ground_y(0.4, 0.95)
        s = sc.depth_scale(y) * 1.7
        ch_h = 0.3 * sc.S * s
        cx = sc.free_x(ch_h * 1.1, y - ch_h, y, max_overlap=0.05)
        flip = sc.chance(0.5)
        ch = sc.add("chair", "chair", (cx - ch_h * 0.3, y - ch_h, cx + ch_h * 0.3, y), z=y, prio=7,
                    color=_jit(sc.rng, _pick(sc.rng, WOOD + [(180, 40, 40), (40, 80, 150)]), 10), flip=flip)
        seats.append((ch, cx, y, s, flip))
    for ch, cx, y, s, flip in seats:
        r = sc.rng.random()
        c = sc.objs[ch]
        seat_y = c.box[1] + (c.box[3] - c.box[1]) * 0.55
        if r < 0.55:
            kind = _person_kind(sc)
            adult_h = (c.box[3] - c.box[1]) / 0.55 * 0.9
            pi = _person(sc, kind, cx + (c.box[2] - c.box[0]) * 0.18 * (-1 if flip else 1), y, adult_h, "sit_side",
                         flip=flip, z=y + 0.5, hat_p=0.12)
            sc.rel(pi, ch, [("sitting on", 0.7), ("on", 0.3)])
            if sc.chance(0.25):
                hx, hy = _person_hand(sc.objs[pi], 1)
                cs = adult_h * 0.08
                cu = sc.add("cup", "cup", (hx - cs / 2, hy - cs * 0.8, hx + cs / 2, hy + cs * 0.3), z=y + 0.6, prio=6,
                            color=_jit(sc.rng, _pick(sc.rng, DOME), 10), flip=flip)
                sc.rel(pi, cu, "holding")
        elif r < 0.8:
            pose = "lie" if sc.chance(0.6) else "sit"
            ci = _cat(sc, (c.box[0] + c.box[2]) / 2, seat_y, s * 0.65, pose, z=y + 0.5)
            sc.rel(ci, ch, [("lying on", 0.65), ("on", 0.35)] if pose == "lie" else [("sitting on", 0.6), ("on", 0.4)])
        else:
            bs = (c.box[3] - c.box[1]) * 0.28
            bx = (c.box[0] + c.box[2]) / 2
            bg = sc.add("bag", "bag", (bx - bs / 2, seat_y - bs, bx + bs / 2, seat_y), z=y + 0.5, prio=5,
                        color=_jit(sc.rng, _pick(sc.rng, CLOTH), 10))
            sc.rel(bg, ch, "on")
    if sc.chance(0.6):
        y = sc.ground_y(0.1, 0.6)
        s = sc.depth_scale(y) * 1.7
        th = 0.22 * sc.S * s
        tw = th * sc.u(1.2, 1.8)
        tx = sc.free_x(tw, y - th, y, max_overlap=0.15)
        table = sc.add("table", "table", (tx - tw / 2, y - th, tx + tw / 2, y), z=y, prio=7,
                       color=_jit(sc.rng, _pick(sc.rng, WOOD[:4]), 10), top=0.2)
        t = sc.objs[table]
        if sc.chance(0.6):
            lh = th * sc.u(0.7, 0.9)
            lx = sc.u(t.box[0] + tw * 0.25, t.box[2] - tw * 0.25)
            li = sc.add("lamp", "lamp", (lx - lh * 0.3, t.box[1] + th * 0.12 - lh, lx + lh * 0.3, t.box[1] + th * 0.12), z=y + 0.1,
                        prio=5, style="table", color=_jit(sc.rng, _pick(sc.rng, [(240, 230, 200), (200, 60, 40), (60, 100, 150)]), 10))
            sc.rel(li, table, "on", dup_p=0)
        if sc.chance(0.6):
            cs = th * 0.28
            cx = sc.u(t.box[0] + tw * 0.1, t.box[2] - tw * 0.1)
            kind = str(sc.rng.choice(["cup", "bowl", "flower"], p=[0.5, 0.3, 0.2]))
            base = t.box[1] + th * 0.14
            if kind == "cup":
                it = sc.add("cup", "cup", (cx - cs * 0.45, base - cs, cx + cs * 0.45, base), z=y + 0.2, prio=6,
                            color=_jit(sc.rng, _pick(sc.rng, DOME), 10), flip=sc.chance(0.5))
            elif kind == "bowl":
                it = sc.add("bowl", "dome", (cx - cs * 0.8, base - cs * 0.55, cx + cs * 0.8, base), z=y + 0.2, prio=6,
                            color=_jit(sc.rng, _pick(sc.rng, DOME), 12))
            else:
                it = sc.add("flower", "flower", (cx - cs * 0.5, base - cs * 2, cx + cs * 0.5, base), z=y + 0.2, prio=5,
                            color=_jit(sc.rng, _pick(sc.rng, FLOWER), 8))
            sc.rel(it, table, "on", dup_p=0)
        if sc.chance(0.2):
            ci = _cat(sc, tx, t.box[1] + th * 0.15, s * 0.8, "lie", z=y + 0.3)
            sc.rel(ci, table, [("lying on", 0.65), ("on", 0.35)])
    elif sc.chance(0.5):
        y = sc.ground_y(0.05, 0.3)
        lh = sc.S * 0.5 * sc.depth_scale(y) * 1.7
        lx = sc.u(0.05, 0.95) * sc.W
        sc.add("lamp", "lamp", (lx - lh * 0.16, y - lh, lx + lh * 0.16, y), z=y, prio=5, style="floor",
               color=_jit(sc.rng, _pick(sc.rng, [(240, 230, 200), (200, 60, 40), (60, 100, 150)]), 10))
    if sc.chance(0.35):
        y = sc.ground_y(0.5, 1.0)
        pose = "lie" if sc.chance(0.5) else "stand"
        dg = _dog(sc, sc.free_x(0.35 * sc.S * sc.depth_scale(y), y - 0.25 * sc.S * sc.depth_scale(y), y), y, sc.depth_scale(y) * 1.6, pose)
        if seats:
            sc.rel(dg, seats[0][0], "near")
    if win is not None and sc.chance(0.15):
        w = sc.objs[win]
        cs = (w.box[3] - w.box[1]) * 0.3
        cx = (w.box[0] + w.box[2]) / 2
        ci = _cat(sc, cx, w.box[3] - (w.box[3] - w.box[1]) * 0.08, cs / (0.11 * sc.S * 1.35), "sit", z=-199)
        sc.rel(ci, win, [("in", 0.7), ("on", 0.3)])


_TEMPLATE_FN: dict[str, Callable[[_Scene], None]] = {
    "street": _street, "park": _park, "dining": _dining, "stable": _stable, "beach": _beach, "room": _room,
}


# =============================================================================================
# geometry relations, finishing


_PARTS = {"shirt", "wheel", "window", "hat", "helmet"}
_SOLID = {"man", "woman", "child", "dog", "cat", "horse", "car", "bus", "bike", "bench", "chair", "table", "umbrella", "boat"}
_REGIONS = {"street", "grass", "beach", "water"}


def _geometric(a: _Obj, b: _Obj) -> str | None:
    """A geometric predicate for ``a`` -> ``b`` that the pixels support, or None."""
    ax1, ay1, ax2, ay2 = a.box
    bx1, by1, bx2, by2 = b.box
    aw, ah, bw, bh = ax2 - ax1, ay2 - ay1, bx2 - bx1, by2 - by1
    ox = min(ax2, bx2) - max(ax1, bx1)
    if ox > 0.3 * min(aw, bw):
        if ay2 <= by1 + 0.05 * bh:
            return "above"
        if by2 <= ay1 + 0.05 * ah:
            return "under"
    if _overlap_frac(a.box, b.box) > 0.12 and abs(a.z - b.z) > 1:
        return "in front of" if a.z > b.z else "behind"
    gap = max(0.0, max(ax1, bx1) - min(ax2, bx2)) + max(0.0, max(ay1, by1) - min(ay2, by2))
    if gap < 0.5 * max(aw, ah, bw, bh) and abs(ay2 - by2) < 0.5 * max(ah, bh):
        return "near"
    return None


def _finish(sc: _Scene) -> tuple[list[int], list[tuple[int, int, str]]]:
    """Clip boxes, cap the object count, add geometric relations. Returns the annotated object
    indices (in scene order) and the relations between them."""
    W, H = sc.W, sc.H
    for o in sc.objs:
        if not o.annotated or o.label is None:
            continue
        x1, y1, x2, y2 = o.box
        area = max(1e-6, (x2 - x1) * (y2 - y1))
        cx1, cy1, cx2, cy2 = max(0.0, x1), max(0.0, y1), min(W - 1.0, x2), min(H - 1.0, y2)
        if cx2 - cx1 < 4 or cy2 - cy1 < 4 or (cx2 - cx1) * (cy2 - cy1) < 0.4 * area:
            o.annotated = False
    keep = [i for i, o in enumerate(sc.objs) if o.annotated and o.label is not None]
    if len(keep) > MAX_OBJECTS:
        order = sorted(keep, key=lambda i: (-sc.objs[i].prio, i))
        keep = sorted(order[:MAX_OBJECTS])
    kept = set(keep)
    rels = [(s, o, p) for s, o, p in sc.rels if s in kept and o in kept and s != o]
    # a few geometric relations between salient objects (what annotators add on their own)
    related = {(s, o) for s, o, _ in rels} | {(o, s) for s, o, _ in rels}
    cands = [i for i in keep if sc.objs[i].label not in _PARTS and sc.objs[i].label not in _REGIONS]
    pairs = [(a, b) for a in cands for b in cands if a < b and (a, b) not in related]
    sc.rng.shuffle(pairs)
    want = sc.ri(1, 3) if rels else sc.ri(2, 4)
    for a, b in pairs:
        if want <= 0:
            break
        if sc.chance(0.5):
            a, b = b, a
        pred = _geometric(sc.objs[a], sc.objs[b])
        if pred is not None:
            rels.append((a, b, pred))
            want -= 1
    seen = set()
    out = []
    for r in rels:
        if r not in seen:
            seen.add(r)
            out.append(r)
    return keep, out


def _image_size(rng: np.random.Generator, template: str) -> tuple[int, int]:
    long_side = int(rng.integers(320, 641))
    aspect = float(rng.uniform(0.56, 1.0))
    short = round(long_side * aspect)
    portrait = rng.random() < (0.3 if template in ("room", "dining") else 0.2)
    return (short, long_side) if portrait else (long_side, short)


def _compose(seed: int) -> _Scene:
    rng = np.random.default_rng(seed)
    names = list(TEMPLATES)
    w = np.array([TEMPLATES[n] for n in names])
    template = names[int(rng.choice(len(names), p=w / w.sum()))]
    W, H = _image_size(rng, template)
    sc = _Scene(rng, W, H, template)
    _TEMPLATE_FN[template](sc)
    return sc


def _draw(sc: _Scene) -> Image.Image:
    img = Image.new("RGB", (sc.W, sc.H))
    _draw_background(img, sc)
    background = img.copy() if any(o.kind == "waterband" for o in sc.objs) else None
    d = ImageDraw.Draw(img)
    for o in sorted(sc.objs, key=lambda o: o.z):
        if o.kind is None:
            continue
        if o.kind == "waterband":
            # the water in front of a wading figure: the background pixels themselves
            x1, y1, x2, y2 = (round(v) for v in o.box)
            img.paste(background.crop((x1, y1, x2, y2)), (x1, y1))  # type: ignore[union-attr]
            _line(d, [(x1 + 3, y1), (x2 - 3, y1)], (225, 238, 245), 1)
            continue
        _DRAW[o.kind](d, o)
    return img


def _annotation(sc: _Scene, keep: list[int], rels: list[tuple[int, int, str]], image_id: int) -> SceneAnnotation:
    vocab = world_vocabulary()
    local = {g: k for k, g in enumerate(keep)}
    boxes = np.array([sc.objs[i].box for i in keep], dtype=np.float64).reshape(-1, 4)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, sc.W - 1)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, sc.H - 1)
    labels = np.array([vocab.class_index(sc.objs[i].label) for i in keep], dtype=np.int64)  # type: ignore[arg-type]
    relations = np.array([(local[s], local[o], vocab.predicate_index(p)) for s, o, p in rels], dtype=np.int64).reshape(-1, 3)
    return SceneAnnotation(image_id=image_id, width=sc.W, height=sc.H, boxes=boxes, labels=labels, relations=relations,
                           template=sc.template)


def _scene(seed: int, image_id: int = 0) -> tuple[_Scene, SceneAnnotation]:
    for attempt in range(20):
        sc = _compose(seed if attempt == 0 else _derive(seed, 7919, attempt))
        keep, rels = _finish(sc)
        if len(keep) >= MIN_OBJECTS and rels:
            return sc, _annotation(sc, keep, rels, image_id)
    return sc, _annotation(sc, keep, rels, image_id)  # pragma: no cover - practically unreachable


def render_scene(seed: int, image_id: int = 0) -> tuple[Image.Image, SceneAnnotation]:
    """Compose and draw one scene from ``seed``. Returns the RGB image and its full annotation
    (boxes in pixels, every true relation; no train-time dropping)."""
    sc, ann = _scene(int(seed), image_id)
    return _draw(sc), ann


# =============================================================================================
# the dataset


def _derive(*key: int) -> int:
    return int(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in key]).generate_state(1)[0])


def _heldout_ids() -> set[tuple[int, int, int]]:
    v = world_vocabulary()
    return {(v.class_index(s), v.predicate_index(p), v.class_index(o)) for s, p, o in ZERO_SHOT_TRIPLETS}


def _world_scene(seed: int, index: int, image_id: int, split: str) -> tuple[_Scene, SceneAnnotation, SceneAnnotation]:
    """Image ``index`` of the world ``seed``: its scene, the full annotation and the annotation
    as published for ``split``. Train scenes are recomposed (up to 30 times) until they hold no
    held-out triplet, any left are removed, and :data:`TRAIN_DROP_RATE` of the relations are
    dropped (at least one kept)."""
    held = _heldout_ids()
    for attempt in range(30):
        sc, full = _scene(_derive(seed, index, attempt), image_id)
        trip = {(int(full.labels[s]), int(p), int(full.labels[o])) for s, o, p in full.relations}
        if split == "test" or not (trip & held):
            break
    rels = full.relations
    if split == "train":
        ok = np.array([(int(full.labels[s]), int(p), int(full.labels[o])) not in held for s, o, p in rels], dtype=bool)
        rels = rels[ok.reshape(-1)]
        rng = np.random.default_rng(_derive(seed, index, 104729))
        keep = rng.random(len(rels)) >= TRAIN_DROP_RATE
        if len(rels) and not keep.any():
            keep[int(rng.integers(len(rels)))] = True
        rels = rels[keep]
    published = dataclasses.replace(full, relations=rels.reshape(-1, 3).copy())
    return sc, full, published


def world_image(seed: int, index: int, split: str = "test") -> tuple[Image.Image, SceneAnnotation]:
    """Image ``index`` (0-based; image id ``index + 1``) of the world generated with ``seed``, with
    the annotation that :func:`generate_world` publishes for ``split`` ("train" or "test")."""
    if split not in ("train", "test"):
        raise InputError(f"unknown split {split!r}; choose 'train' or 'test'")
    sc, _, ann = _world_scene(int(seed), int(index), int(index) + 1, split)
    return _draw(sc), ann


def _make_image(task: tuple[int, int, int, str]) -> tuple[SceneAnnotation, bytes]:
    seed, index, image_id, split = task
    sc, _, ann = _world_scene(seed, index, image_id, split)
    buf = io.BytesIO()
    _draw(sc).save(buf, "JPEG", quality=JPEG_QUALITY)
    return ann, buf.getvalue()


def _render_to_file(args: tuple[Path, tuple[int, int, int, str]]) -> SceneAnnotation:
    root, task = args
    ann, data = _make_image(task)
    atomic_write_bytes(root / IMAGE_DIR / f"{ann.image_id}.jpg", data)
    return ann


def generate_world(root: str | Path, num_train: int, num_test: int, seed: int = 0, workers: int = 1,
                   progress: bool = False) -> Path:
    """Render a world of ``num_train + num_test`` images into ``root`` in the VG-SGG layout.

    Images are ``root/VG_100K/{image_id}.jpg`` with ids 1..N (train first, split code 0; then test,
    code 2). Also writes ``zeroshot_triplets.json`` (a list of [subject, predicate, object] names)
    and ``world.json`` (generator settings). The output does not depend on ``workers``.
    Returns ``root``.
    """
    if num_train < 0 or num_test < 0 or num_train + num_test == 0:
        raise InputError("a world needs num_train >= 0, num_test >= 0 and at least one image")
    if workers < 1:
        raise InputError("workers must be at least 1")
    root = Path(root)
    (root / IMAGE_DIR).mkdir(parents=True, exist_ok=True)
    tasks = [(root, (int(seed), i, i + 1, "train" if i < num_train else "test")) for i in range(num_train + num_test)]
    it: Iterator[SceneAnnotation]
    pool = None
    if workers > 1:
        pool = mp.get_context("spawn").Pool(workers)  # spawn: safe from threaded (GUI, torch) parents
        it = pool.imap(_render_to_file, tasks, chunksize=8)
    else:
        it = map(_render_to_file, tasks)
    try:
        if progress:
            from tqdm import tqdm

            it = tqdm(it, total=len(tasks), desc="rendering world", unit="img")
        anns = list(it)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    splits = [0] * num_train + [2] * num_test
    write_vg(root, anns, world_vocabulary(), splits)
    _atomic_write_json(root / "zeroshot_triplets.json", [list(t) for t in ZERO_SHOT_TRIPLETS])
    info = {"generator": "nodis.data.world", "version": WORLD_VERSION, "seed": int(seed), "num_train": num_train,
            "num_test": num_test, "train_drop_rate": TRAIN_DROP_RATE, "templates": TEMPLATES}
    atomic_write_bytes(root / "world.json", json.dumps(info, indent=2).encode())
    log.info("generated world at %s: %d train + %d test images", root, num_train, num_test)
    return root
