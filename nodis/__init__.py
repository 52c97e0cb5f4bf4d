"""nodis: NODIS neural-ODE scene graph generation (Cong et al., ECCV 2020) as a library.

Quick start::

    import nodis
    model = nodis.load_model()                    # the shipped demo model, CPU or CUDA
    traj = model.predict("image.jpg", mode="sgdet")
    graph = traj.graph_at(1.5)                    # scene graph at the trained end time
    print(graph.triplets(5))
    graph.save("image.graphml")
"""
from __future__ import annotations

import logging
from pathlib import Path

from . import assets as _assets
from .config import ModelConfig, preset
from .errors import NodisError
from .graph import ObjectNode, Relation, SceneGraph
from .vocab import Vocabulary

__version__ = "0.1.0"
__all__ = ["load_model", "default_weights", "resolve_device", "ModelConfig", "preset", "NodisError",
           "SceneGraph", "ObjectNode", "Relation", "Vocabulary", "__version__"]

log = logging.getLogger(__name__)
#: Folder of the shipped demo model, its model card and metrics (package data; see nodis/assets.py).
WEIGHTS_DIR = _assets.weights_dir()
DEFAULT_WEIGHTS = _assets.demo_weights_path()
#: Pass as ``weights`` to :func:`load_model` (CLI ``--weights random``) for a randomly initialised demo model.
RANDOM_WEIGHTS = _assets.RANDOM_WEIGHTS


def default_weights() -> Path | None:
    """The shipped demo checkpoint, or None when this install lacks it."""
    return _assets.demo_weights()


def resolve_device(device: str | None = None):
    """``None``/``"auto"`` -> CUDA when available, else CPU; otherwise ``torch.device(device)``."""
    import torch

    from .errors import ConfigError

    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ConfigError(f"unknown device {device!r} ({e}); use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was requested but no CUDA GPU is available; use --device cpu")
    return dev


def load_model(weights: str | Path | None = None, device: str | None = None, trust_pickle: bool = False):
    """Load a model ready for :meth:`~nodis.model.NODIS.predict`.

    ``weights``: one of our ``.safetensors`` checkpoints, an official NODIS ``.tar`` (imported on the
    fly), None for the shipped demo model (``nodis-demo``), or ``"random"`` for a randomly
    initialised demo-preset model (``model.weights_name == "random-init"``; its graphs are
    meaningless). A missing demo model raises :class:`~nodis.errors.CheckpointError`; nodis never
    falls back to random weights on its own.
    """
    from .checkpoint import import_official, load_checkpoint
    from .errors import CheckpointError

    dev = resolve_device(device)
    if isinstance(weights, str) and weights == RANDOM_WEIGHTS:
        import torch

        from .data.world import world_vocabulary
        from .model import NODIS

        torch.manual_seed(0)
        vocab = world_vocabulary()
        model = NODIS(preset("demo", num_classes=vocab.num_classes, num_predicates=vocab.num_predicates), vocab)
        model.weights_name = "random-init"
        return model.to(dev).eval()
    if weights is None:
        weights = default_weights()
        if weights is None:
            raise CheckpointError(
                f"the shipped demo model is missing from this install ({DEFAULT_WEIGHTS}); reinstall nodis, "
                f"pass weights=PATH (CLI: --weights FILE), or ask for a randomly initialised model with "
                f"weights={RANDOM_WEIGHTS!r} (CLI: --weights {RANDOM_WEIGHTS})")
    p = Path(weights)
    if p.suffix.lower() in (".tar", ".pth", ".pt", ".ckpt"):  # checkpoint.OFFICIAL_SUFFIXES, any case
        return import_official(p, trust_pickle=trust_pickle).to(dev).eval()
    return load_checkpoint(p, device=dev)
