"""The dataset writer: the world's images in the VG-SGG layout, with the zero-shot hold-out.

Image ``i`` of the world ``s`` is composed from seeds derived from ``(s, i)``, whatever the number of
workers. Train scenes holding a :data:`ZERO_SHOT_TRIPLETS` triplet are recomposed, and
:data:`TRAIN_DROP_RATE` of their relations are dropped. :func:`world_image` gives one image as
published; :func:`generate_world` writes them all with :func:`nodis.data.vg.write_vg`.
"""
from __future__ import annotations

import dataclasses
import io
import json
import logging
import multiprocessing as mp
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from ...errors import InputError
from ...export import atomic_write_bytes
from ...vocab import world_vocabulary
from ..vg import IMAGE_DIR, _atomic_write_json, write_vg
from .render import SceneAnnotation, _derive, _draw, _scene
from .scene import _Scene
from .templates import TEMPLATES

log = logging.getLogger(__name__)

WORLD_VERSION = 1
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
JPEG_QUALITY = 90


def zeroshot_triplets() -> list[tuple[str, str, str]]:
    """The held-out (subject, predicate, object) triplets by name."""
    return [tuple(t) for t in ZERO_SHOT_TRIPLETS]  # type: ignore[misc]


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
