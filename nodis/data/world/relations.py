"""Finishing a composed scene: clip boxes, cap the object count, and add the geometric relations
(above, under, in front of, behind, near) that the pixels support, as annotators add on their own.
"""
from __future__ import annotations

from .scene import _Obj, _overlap_frac, _Scene

#: At most this many objects are annotated in an image (the highest ``prio`` first).
MAX_OBJECTS = 15

_PARTS = {"shirt", "wheel", "window", "hat", "helmet"}
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
