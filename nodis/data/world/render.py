"""One scene: choose a template and an image size, compose, finish, draw and annotate.

:func:`render_scene` gives the image and the full annotation (:class:`SceneAnnotation`) of the scene
of a seed; a composition without enough objects or relations is recomposed from a derived seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ...vocab import Vocabulary, world_vocabulary
from ..vg import ImageRecord
from .background import _draw_background
from .draw import _line
from .objects import _DRAW
from .relations import _finish
from .scene import _Scene
from .templates import _TEMPLATE_FN, TEMPLATES

#: A composition with fewer annotated objects (or no relation) is recomposed.
MIN_OBJECTS = 3


@dataclass
class SceneAnnotation(ImageRecord):
    """An :class:`ImageRecord` of a rendered scene with its template name (full relation list)."""

    template: str = ""

    def triplets(self, vocab: Vocabulary | None = None) -> list[tuple[str, str, str]]:
        """Relations as (subject class, predicate, object class) names."""
        v = vocab or world_vocabulary()
        return [(v.classes[self.labels[s]], v.predicates[p], v.classes[self.labels[o]]) for s, o, p in self.relations]


def _derive(*key: int) -> int:
    return int(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in key]).generate_state(1)[0])


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
