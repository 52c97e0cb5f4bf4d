"""Object drawings: one function per drawing kind, each drawing an :class:`_Obj` inside its box.

People (:func:`_draw_person` in seven poses, and the figure geometry that templates use to place
hands, heads and seats), animals, vehicles, furniture, small things, nature and buildings.
:data:`_DRAW` maps a kind to its function. Look-alikes share one drawing: ``hat`` and ``bowl`` are
both a ``dome``, ``ball`` and ``sun`` both a ``disc``.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import ImageDraw

from .draw import _ell, _Frame, _line, _rect
from .palette import _shade
from .scene import _Obj

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
