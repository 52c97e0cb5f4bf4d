"""The scene description under construction: objects (:class:`_Obj`) and relations (:class:`_Scene`).

A template adds objects (label, drawing kind, box, depth, drawing parameters) to a :class:`_Scene`
and relates them; the scene's random generator drives every choice. Nothing is drawn here: see
:mod:`.render`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Labels that :meth:`_Scene.free_x` keeps new objects from covering.
_SOLID = {"man", "woman", "child", "dog", "cat", "horse", "car", "bus", "bike", "bench", "chair", "table", "umbrella", "boat"}


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


def _overlap_frac(a: Sequence[float], b: Sequence[float]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / max(1e-6, min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])))
