"""Scene templates (street, park, dining, stable, beach, room) and the helpers they compose.

A template function fills a :class:`_Scene` with objects and the relations between them; the
helpers place the sky, trees, people (pose, outfit, held things), vehicles with wheels, animals,
balls and kites. :data:`TEMPLATES` gives each template's share of the images and
:data:`_TEMPLATE_FN` its function.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .objects import _person_geom, _person_hand, _person_part
from .palette import (
    CLOTH,
    DOME,
    FLOWER,
    FUR_CAT,
    FUR_DOG,
    FUR_HORSE,
    HAIR,
    PANTS,
    SKIN,
    VEHICLE,
    WOOD,
    _jit,
    _pick,
    _shade,
)
from .scene import _overlap_frac, _Scene

#: Template name -> share of the images (the template of an image is drawn with these weights).
TEMPLATES: dict[str, float] = {"street": 0.2, "park": 0.2, "dining": 0.17, "stable": 0.13, "beach": 0.15, "room": 0.15}


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

