"""Is an image from the demo model's world? The rule behind the "demo model" notes of the CLI and viewer.

The shipped demo model (``nodis-demo``) is trained only on the procedural scene world
(``docs/world.md``); on other images, real photographs above all, its scene graphs mean nothing.
Tools say so once when they run it on such images. The rule, documented in ``docs/cli.md``:

* a **world model** is a model whose vocabulary is the world's (``model.vocab.name == "world"``):
  the shipped demo model and anything trained with ``nodis train --preset demo``. A randomly
  initialised model (``--weights random``) has its own, louder warning and gets no note.
* an image is **from the world** when it is byte-identical (SHA-256) to one of the bundled samples
  (``resources/samples``), or when it lies in a dataset written by ``nodis world``: its folder or
  one of the two folders above holds a ``world.json`` whose ``generator`` is ``nodis.data.world``
  (e.g. ``data/world/VG_100K/17.jpg`` with ``data/world/world.json``).

Everything else, whatever it shows, counts as not from the world. The rule looks at provenance, not
at pixels: it never calls a photograph a world image, and a world image copied out of its dataset
folder (other than a sample) gets the note too. Nothing here imports torch.
"""
from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from .assets import DEMO_NAME, OFFICIAL_WEIGHTS_URL, WORLD_VOCAB_NAME, samples_dir

#: ``world.json`` ``generator`` value of a dataset written by ``nodis world``.
WORLD_GENERATOR = "nodis.data.world"
_WORLD_DEPTH = 3  # the image's folder and the two above it


def is_world_model(model) -> bool:
    """True for a trained model that knows only the procedural world (its vocabulary is the world's)."""
    if getattr(model, "weights_name", None) == "random-init":
        return False
    return getattr(getattr(model, "vocab", None), "name", None) == WORLD_VOCAB_NAME


@functools.lru_cache(maxsize=1)
def _sample_digests() -> dict[int, frozenset[str]]:
    """File size -> SHA-256 digests of the bundled sample images (read once per process)."""
    out: dict[int, set[str]] = {}
    folder = samples_dir()
    if folder.is_dir():
        for p in folder.iterdir():
            if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".png"):
                data = p.read_bytes()
                out.setdefault(len(data), set()).add(hashlib.sha256(data).hexdigest())
    return {k: frozenset(v) for k, v in out.items()}


def _is_world_folder(folder: Path) -> bool:
    try:
        st = (folder / "world.json").stat()
    except OSError:
        return False
    return _world_json_says_world(str(folder / "world.json"), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=256)
def _world_json_says_world(path: str, mtime_ns: int, size: int) -> bool:  # noqa: ARG001 - cache keys
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("generator") == WORLD_GENERATOR


def is_world_image(path: str | Path) -> bool:
    """True when ``path`` is a bundled sample (same bytes) or lies in a dataset made by ``nodis world``."""
    p = Path(path)
    try:
        p = p.resolve()
        size = p.stat().st_size
    except OSError:
        return False
    folder = p.parent
    for _ in range(_WORLD_DEPTH):
        if _is_world_folder(folder):
            return True
        if folder.parent == folder:
            break
        folder = folder.parent
    digests = _sample_digests().get(size)
    if not digests:
        return False
    try:
        return hashlib.sha256(p.read_bytes()).hexdigest() in digests
    except OSError:
        return False


def count_outside_world(paths: Iterable[str | Path]) -> tuple[int, int]:
    """``(images not from the world, images)`` among ``paths``."""
    n = outside = 0
    for p in paths:
        n += 1
        outside += not is_world_image(p)
    return outside, n


def demo_model_note(model_name: str | None = None, outside: int | None = None, total: int | None = None) -> str:
    """The one-paragraph note shown when a world model runs on images that are not from its world
    (``outside`` of ``total``; without counts, the general statement for the viewer's About box)."""
    name = model_name or DEMO_NAME
    where = "(not a bundled sample, not in a folder made by `nodis world`)"
    if outside is None or total is None:
        scope = f"on images that are not from that world {where} its scene graphs are not meaningful"
    else:
        which = f"{outside} of {total} images are" if total > 1 else "this image is"
        scope = f"{which} not from that world {where}, so its scene graphs there are not meaningful"
    return (f"the model {name} is a demo model: it knows only the procedural scene world it was trained on "
            f"(docs/world.md); {scope}. For real photographs convert an official NODIS checkpoint (published "
            f"via {OFFICIAL_WEIGHTS_URL}) with `nodis convert` and pass it with --weights.")
