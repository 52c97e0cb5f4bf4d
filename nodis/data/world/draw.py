"""Drawing primitives: the unit-coordinate frame of an object's box and guarded Pillow calls.

:class:`_Frame` maps an object's own (u, v) coordinates to pixels, mirrored or turned a quarter;
:func:`_ell`, :func:`_rect` and :func:`_line` draw with Pillow and skip shapes under a pixel.
"""
from __future__ import annotations

from collections.abc import Sequence

from PIL import ImageDraw

from .palette import Color


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
