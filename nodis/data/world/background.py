"""Backgrounds: precomputed noise tiles (per process) added to cheap gradients, then line work.

:func:`_draw_background` paints a scene's background bands (sky, grass, road, sand, water, wall,
wood, dirt) and its overlays (lane marks, waves, stripes) before any object is drawn.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .draw import _line, _rect
from .scene import _Scene

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
