"""Colours of the world: a palette per material, and picking, jittering and shading a colour.

Every colour of a scene is drawn from these lists with the scene's own random generator
(:func:`_pick`, :func:`_jit`): changing a list, or the order of the calls, changes the world.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

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
