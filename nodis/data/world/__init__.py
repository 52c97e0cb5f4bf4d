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

The package's modules, in the order a scene goes through them (each imports only those above it):

- ``palette``: colour lists per material; picking, jittering and shading a colour.
- ``draw``: drawing primitives: the unit-coordinate frame of an object's box, guarded
  ellipse / rectangle / line calls.
- ``scene``: the scene description under construction (objects, relations, background bands) and
  the random draws templates make through it.
- ``objects``: one drawing per object kind (people in seven poses, animals, vehicles, furniture,
  small things, nature, buildings) and the ``_DRAW`` table.
- ``background``: noise-textured background bands and line work.
- ``templates``: the six scene templates, the helpers they compose (people, vehicles, animals,
  held things) and the template weights :data:`TEMPLATES`.
- ``relations``: finishing a scene: box clipping, the object cap, geometric relations.
- ``render``: one scene from a seed: template, size, composition, drawing, annotation
  (:func:`render_scene`, :class:`SceneAnnotation`).
- ``dataset``: the dataset writer: the zero-shot hold-out, train-time relation dropping,
  :func:`world_image` and :func:`generate_world` (the VG-SGG layout via :mod:`nodis.data.vg`).

The class and predicate lists (:data:`CLASSES`, :data:`PREDICATES`) and :func:`world_vocabulary`
live in :mod:`nodis.vocab`, so that :mod:`nodis.data.vg` can name the world's vocabulary without
importing the world. The generated world is pinned by ``tests/data/test_world_pinned.py``.
"""
from __future__ import annotations

# The public API is __all__. The ``_name as _name`` imports re-export internals that tests and
# scripts/results.py reach through the package, as they did when the world was one module
# (results.py patches ``world._Scene.rel``: a class attribute, so the patch reaches every module).
from ...vocab import WORLD_CLASSES as CLASSES
from ...vocab import WORLD_PREDICATES as PREDICATES
from ...vocab import world_vocabulary
from .dataset import (
    JPEG_QUALITY,
    TRAIN_DROP_RATE,
    WORLD_VERSION,
    ZERO_SHOT_TRIPLETS,
    generate_world,
    world_image,
    zeroshot_triplets,
)
from .dataset import _heldout_ids as _heldout_ids
from .dataset import _world_scene as _world_scene
from .objects import _DRAW as _DRAW
from .relations import MAX_OBJECTS
from .relations import _finish as _finish
from .relations import _geometric as _geometric
from .render import MIN_OBJECTS, SceneAnnotation, render_scene
from .render import _compose as _compose
from .render import _derive as _derive
from .render import _draw as _draw
from .render import _scene as _scene
from .scene import _Obj as _Obj
from .scene import _Scene as _Scene
from .templates import _TEMPLATE_FN as _TEMPLATE_FN
from .templates import TEMPLATES

__all__ = [
    "CLASSES",
    "JPEG_QUALITY",
    "MAX_OBJECTS",
    "MIN_OBJECTS",
    "PREDICATES",
    "TEMPLATES",
    "TRAIN_DROP_RATE",
    "WORLD_VERSION",
    "ZERO_SHOT_TRIPLETS",
    "SceneAnnotation",
    "generate_world",
    "render_scene",
    "world_image",
    "world_vocabulary",
    "zeroshot_triplets",
]
