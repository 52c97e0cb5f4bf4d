"""Checkpoints: our safe format and the importer for the official NODIS / neural-motifs files.

Our format is ONE ``.safetensors`` file: the tensors of ``model.state_dict()`` plus, in the
safetensors metadata under ``"nodis"``, a JSON document with the model config (preset, t_end, ODE
settings, sizes), the vocabulary (class and predicate names) and free-form info (training command,
metrics). Loading it never unpickles anything.

Official files (``torch.save`` pickles) are read with ``torch.load(weights_only=True)``; a file that
needs full unpickling is refused unless the caller passes ``trust_pickle=True`` (CLI
``--trust-pickle``), which must only be used for files from a source you trust.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from .config import ModelConfig, preset
from .errors import CheckpointError
from .vocab import Vocabulary, vg150

log = logging.getLogger(__name__)
FORMAT = "nodis.checkpoint/1"

# official top-level module -> our module path (facts sheet §7, "Module registration order")
OFFICIAL_PREFIXES = {
    "detector.": "detector.",
    "context.": "context.",
    "union_boxes.": "relation.union_boxes.",
    "roi_fmap_obj.": "roi_fmap_obj.",
    "obj_embed.": "relation.obj_embed.",
    "obj_embed2.": "relation.obj_embed2.",
    "lstm_visual.": "relation.lstm_visual.",
    "lstm_semantic.": "relation.lstm_semantic.",
    "odeBlock.": "relation.odeBlock.",
    "fc_predicate.": "relation.fc_predicate.",
}


# ---------------------------------------------------------------------------------------- our format
def save_checkpoint(model, path: str | Path, info: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (a :class:`nodis.model.NODIS`) to ``path`` atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    header = {"format": FORMAT, "config": model.cfg.to_dict(), "vocab": model.vocab.to_dict(),
              "weights_name": path.stem, "info": info or {}}
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"nodis": json.dumps(header)})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of one of our checkpoints (config, vocab, info) without loading tensors."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:
        raise CheckpointError(f"{path}: not a safetensors file ({e}); official .tar files must be converted "
                              f"with `nodis convert`") from None
    if "nodis" not in meta:
        raise CheckpointError(f"{path}: safetensors file without a nodis header (no model config inside)")
    try:
        header = json.loads(meta["nodis"])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: corrupt nodis header ({e})") from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unsupported checkpoint format {header.get('format')!r}")
    return header


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu"):
    """Build the model stored in one of our checkpoints."""
    from safetensors.torch import load_file

    from .model import NODIS

    header = read_header(path)
    try:
        cfg = ModelConfig.from_dict(header["config"])
        vocab = Vocabulary.from_dict(header["vocab"])
    except Exception as e:
        raise CheckpointError(f"{path}: invalid config in header ({e})") from None
    model = NODIS(cfg, vocab)
    try:
        state = load_file(str(path), device="cpu")
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read tensors ({e})") from None
    _load_checked(model, state, str(path))
    model.weights_name = Path(path).stem
    model.checkpoint_info = header.get("info", {})
    return model.to(device).eval()


def _load_checked(model, state: dict[str, torch.Tensor], source: str, require_all: bool = True) -> None:
    """Load ``state`` into ``model`` after checking every key: no unknown key, no shape mismatch and
    (``require_all``) no missing key; otherwise :class:`CheckpointError` naming the keys."""
    own = model.state_dict()
    problems = []
    for k, v in state.items():
        if k not in own:
            problems.append(f"key {k!r} has no place in the model")
        elif tuple(own[k].shape) != tuple(v.shape):
            problems.append(f"key {k!r}: shape {tuple(v.shape)} in the file, {tuple(own[k].shape)} in the model")
    if require_all:
        problems += [f"key {k!r} is missing from the file" for k in own
                     if k not in state and not k.endswith("num_batches_tracked")]
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise CheckpointError(f"{source}: checkpoint does not fit the model: {shown}")
    model.load_state_dict(state, strict=False)


# ---------------------------------------------------------------------------------------- official
def read_official(path: str | Path, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Read an official ``.tar`` (``{'epoch', 'state_dict'}``, or a bare state dict) safely."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as e:
        if not trust_pickle:
            raise CheckpointError(
                f"{path}: this file needs full unpickling, which can run arbitrary code ({str(e).splitlines()[0]}). "
                f"If you trust its source, pass --trust-pickle (trust_pickle=True).") from None
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=False)
        except Exception as e2:
            raise CheckpointError(f"{path}: cannot load even with --trust-pickle ({e2})") from None
    except Exception as e:
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({e})") from None
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a dict of tensors (or {{'state_dict': ...}}), got {type(obj).__name__}")
    return dict(obj)


def map_official_keys(state: dict[str, torch.Tensor], detector_only: bool = False) -> dict[str, torch.Tensor]:
    """Rename official keys to ours. ``detector_only``: a neural-motifs detector (``vg-24.tar``)
    whose keys have no prefix; its ``roi_fmap`` is also copied into ``roi_fmap_obj`` (train_rels.py)."""
    out: dict[str, torch.Tensor] = {}
    unmapped = []
    for k, v in state.items():
        k2 = k[len("module."):] if k.startswith("module.") else k
        if detector_only:
            out["detector." + k2] = v
            if k2.startswith("roi_fmap."):
                out["roi_fmap_obj." + k2[len("roi_fmap."):]] = v.clone()
            continue
        for src, dst in OFFICIAL_PREFIXES.items():
            if k2.startswith(src):
                out[dst + k2[len(src):]] = v
                break
        else:
            unmapped.append(k)
    if unmapped:
        raise CheckpointError(f"official checkpoint has keys nodis does not know: {', '.join(unmapped[:10])}"
                              + (" ..." if len(unmapped) > 10 else ""))
    return out


def import_official(path: str | Path, cfg: ModelConfig | None = None, vocab: Vocabulary | None = None,
                    trust_pickle: bool = False, detector_only: bool | None = None, t_end: float | None = None):
    """Build a :class:`NODIS` from an official NODIS checkpoint (or a neural-motifs detector).

    Every unmapped, missing or mis-shaped key raises :class:`CheckpointError` naming the key.
    ``detector_only`` is detected from the keys when None. With a detector checkpoint the other
    modules keep their initialisation (a starting point for ``nodis train``)."""
    from .model import NODIS

    state = read_official(path, trust_pickle=trust_pickle)
    if detector_only is None:
        detector_only = not any(k.startswith(("detector.", "module.detector.")) for k in state)
    mapped = map_official_keys(state, detector_only=detector_only)
    cfg = cfg or preset("vg")
    if t_end is not None:
        cfg = cfg.replace(t_end=float(t_end))
    vocab = vocab or vg150()
    model = NODIS(cfg, vocab)
    _load_checked(model, mapped, str(path), require_all=not detector_only)
    model.weights_name = Path(path).stem
    kind = "detector" if detector_only else "NODIS"
    log.info("imported official %s checkpoint %s (%d tensors)", kind, path, len(mapped))
    return model.eval()
