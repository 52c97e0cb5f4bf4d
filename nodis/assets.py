"""Files shipped with nodis: the demo model, its card and test metrics, the VG150 vocabulary, the samples.

The repository's top-level ``weights/`` and ``resources/`` folders are the source of truth. The
package reaches them as package data under ``nodis/_assets/`` (two symbolic links in the
repository, ``_assets/weights -> ../../weights`` and ``_assets/resources -> ../../resources``;
real files inside a wheel), found with :mod:`importlib.resources`. So an editable install reads
the checkout's current files, and a wheel, ``pip install .`` or ``pipx install .`` carries copies.
(A checkout made without symbolic links, e.g. on Windows without ``core.symlinks``, has text files
there instead: its installs lack the data, and nodis says the demo model is missing.)

Nothing here imports torch.
"""
from __future__ import annotations

import atexit
import contextlib
import json
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

#: File name of the shipped demo model and the name outputs give it (``"weights": "nodis-demo"``).
DEMO_NAME = "nodis-demo"
DEMO_FILE = f"{DEMO_NAME}.safetensors"
#: Name of the procedural world's vocabulary: a model with this vocabulary knows only that world.
WORLD_VOCAB_NAME = "world"
#: Where the original release publishes its checkpoints (its README, section Evaluation: PredCls / SGCls /
#: SGGen links; convert them with ``nodis convert``).
OFFICIAL_WEIGHTS_URL = "https://github.com/yrcong/NODIS#evaluation"
#: ``--weights random`` / ``load_model("random")``: the explicit request for a randomly initialised model.
RANDOM_WEIGHTS = "random"

_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


def asset(*parts: str) -> Path:
    """Path of a shipped file, e.g. ``asset("weights", "metrics.json")`` (it may not exist).

    ``parts`` start with ``"weights"`` or ``"resources"``. Installs from a zip archive get a
    temporary copy that lives until the interpreter exits."""
    ref = files("nodis").joinpath("_assets", *parts)
    if isinstance(ref, Path):
        return ref
    if not ref.is_file():  # pragma: no cover - zip installs only
        return Path("/nonexistent/nodis/_assets").joinpath(*parts)
    return _extracted.enter_context(as_file(ref))  # pragma: no cover - zip installs only


def weights_dir() -> Path:
    """The folder holding the shipped demo model, its model card and metrics."""
    return asset("weights")


def demo_weights_path() -> Path:
    """Where the shipped demo model is (or would be) installed."""
    return asset("weights", DEMO_FILE)


def demo_weights() -> Path | None:
    """The shipped demo checkpoint, or None when this install lacks it."""
    p = demo_weights_path()
    return p if p.is_file() else None


def samples_dir() -> Path:
    """The bundled sample images of the procedural world (with ``scene_graphs.json`` ground truth)."""
    return asset("resources", "samples")


def vocab_file(name: str = "vg150") -> Path:
    """A shipped vocabulary JSON, e.g. ``resources/vocab_vg150.json``."""
    return asset("resources", f"vocab_{name}.json")


def model_card(weights: str | Path | None = None) -> Path | None:
    """``MODEL_CARD.md`` beside ``weights`` (default: the shipped demo model), or None."""
    p = (Path(weights).with_name("MODEL_CARD.md") if weights else asset("weights", "MODEL_CARD.md"))
    return p if p.is_file() else None


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_record(weights: str | Path) -> dict[str, str]:
    """``{"file": name, "sha256": ...}``: what an evaluation result records of the checkpoint it measured."""
    return {"file": Path(weights).name, "sha256": file_sha256(weights)}


def metrics_beside(weights: str | Path | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """The test metrics written beside a checkpoint and, when they cannot be used, why.

    Returns ``(metrics, None)``, or ``(None, reason)`` when ``metrics.json`` is there but unreadable or
    records another checkpoint's sha256 (metrics left beside a retrained or replaced file must not be
    shown as this file's), or ``(None, None)`` when there is none."""
    w = Path(weights) if weights else asset("weights", DEMO_FILE)
    p = w.with_name("metrics.json")
    if not p.exists():
        return None, None
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return None, f"{p} is unreadable ({e.__class__.__name__})"
    if not isinstance(doc, dict):
        return None, f"{p} is not a JSON object"
    rec = doc.get("checkpoint")
    if isinstance(rec, dict) and isinstance(rec.get("sha256"), str) and w.is_file():
        try:
            actual = file_sha256(w)
        except OSError as e:
            return None, f"{w} is unreadable ({e.__class__.__name__})"
        if actual != rec["sha256"]:
            return None, (f"{p} was measured on another file (sha256 {rec['sha256'][:12]}…, this one "
                          f"{actual[:12]}…); rerun the evaluation for this checkpoint")
    return doc, None


def checkpoint_metrics(weights: str | Path | None = None) -> dict[str, Any] | None:
    """The test metrics written beside a checkpoint (``metrics.json``: ``{mode: {"R@50": ...}}``, as
    ``nodis eval --json`` and ``scripts/model_card.py`` write them), or None when there is none, it is
    unreadable, or it records another checkpoint's sha256 (:func:`metrics_beside` says why).
    Default: the shipped demo model's ``weights/metrics.json``."""
    return metrics_beside(weights)[0]
