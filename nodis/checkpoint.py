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
import warnings
from pathlib import Path
from typing import Any

import torch

from .config import ModelConfig, preset
from .errors import CheckpointError, NodisError
from .vocab import Vocabulary, vg150

log = logging.getLogger(__name__)
FORMAT = "nodis.checkpoint/1"
#: File endings read as official (pickled) checkpoints, compared case-insensitively (``.TAR`` too).
OFFICIAL_SUFFIXES = (".tar", ".pth", ".pt", ".ckpt")
#: Largest model (parameters + buffers) a checkpoint may describe: 2e9 values, 8 GB of float32,
#: seven times the paper's model. Checked on the meta device, before anything is allocated.
MAX_MODEL_VALUES = 2_000_000_000


def is_official(path: str | Path) -> bool:
    """Whether ``path`` names an official pickled checkpoint (by its ending, any case)."""
    return Path(path).suffix.lower() in OFFICIAL_SUFFIXES


def _regular_file(path: Path, what: str = "checkpoint") -> None:
    """:class:`CheckpointError` unless ``path`` is a regular file (no folder, FIFO, device, loop)."""
    import stat

    try:
        st = path.stat()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such {what} file") from None
    except (OSError, RuntimeError) as e:
        raise CheckpointError(f"{path}: cannot read the {what} ({getattr(e, 'strerror', None) or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise CheckpointError(f"{path}: is a folder, not a {what} file")
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"{path}: is not a regular file (a FIFO, device or socket); give a {what} file")
    if st.st_size == 0:
        raise CheckpointError(f"{path}: the {what} file is empty")


def check_model_size(cfg: ModelConfig, vocab: Vocabulary, source: str = "model config"):
    """Build the model on the ``meta`` device (no memory) and return it; :class:`CheckpointError`
    when it cannot be built from ``cfg`` or would hold more than :data:`MAX_MODEL_VALUES` values, and
    when the config's class / predicate counts differ from the vocabulary's."""
    from .model import NODIS

    if cfg.num_classes != vocab.num_classes or cfg.num_predicates != vocab.num_predicates:
        raise CheckpointError(f"{source}: the config has {cfg.num_classes} classes / {cfg.num_predicates} predicates "
                              f"but the vocabulary {vocab.num_classes} / {vocab.num_predicates}")
    try:
        with torch.device("meta"):
            meta = NODIS(cfg, vocab)
    except (RuntimeError, ValueError, TypeError, ZeroDivisionError) as e:
        raise CheckpointError(f"{source}: cannot build a model from this config ({e})") from None
    n = sum(t.numel() for t in meta.state_dict().values())
    if n > MAX_MODEL_VALUES:
        raise CheckpointError(f"{source}: the config describes a model of {n / 1e9:.1f} billion values "
                              f"({4 * n / 2**30:.0f} GiB), more than the {MAX_MODEL_VALUES / 1e9:g} billion nodis "
                              "accepts; the config is damaged or not meant for nodis")
    return meta

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
    """Write ``model`` (a :class:`nodis.model.NODIS`) to ``path`` atomically (locked temporary file,
    fsync, rename; mode as other outputs: that of the file replaced, else ``0o666`` less the umask).
    Temporary files that a killed earlier save left for ``path`` are removed first."""
    from safetensors.torch import save_file

    from . import export

    path = Path(path)
    header = {"format": FORMAT, "config": model.cfg.to_dict(), "vocab": model.vocab.to_dict(),
              "weights_name": path.stem, "info": info or {}}
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    export.clean_stale_temp(path.parent, names=[path.name])
    fd, tmp = export.temp_file(path)  # locked while written: a concurrent cleanup leaves it alone
    try:
        save_file(tensors, tmp, metadata={"nodis": json.dumps(header)})
        os.fsync(fd)
        os.chmod(tmp, export.new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    export.fsync_folder(path.parent)
    return path


def read_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of one of our checkpoints (config, vocab, info) without loading tensors."""
    from safetensors import safe_open

    path = Path(path)
    _regular_file(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:
        raise CheckpointError(f"{path}: not a safetensors file ({e}); official .tar files must be converted "
                              f"with `nodis convert`") from None
    if not isinstance(meta, dict) or "nodis" not in meta:
        raise CheckpointError(f"{path}: safetensors file without a nodis header (no model config inside)")
    try:
        header = json.loads(meta["nodis"])
    except (TypeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{path}: corrupt nodis header ({type(e).__name__}: {e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt nodis header (a JSON {type(header).__name__}, not an object)")
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unsupported checkpoint format {header.get('format')!r}")
    for key in ("config", "vocab"):
        if not isinstance(header.get(key), dict):
            raise CheckpointError(f"{path}: the nodis header's {key!r} is {type(header.get(key)).__name__}, "
                                  "not an object; the checkpoint is damaged")
    if "info" in header and not isinstance(header["info"], dict):
        raise CheckpointError(f"{path}: the nodis header's 'info' is not an object; the checkpoint is damaged")
    return header


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu"):
    """Build the model stored in one of our checkpoints."""
    from safetensors.torch import load_file

    from .model import NODIS

    header = read_header(path)
    try:
        cfg = ModelConfig.from_dict(header["config"])
    except NodisError as e:
        raise CheckpointError(f"{path}: invalid model config in the header ({e})") from None
    except TypeError as e:  # e.g. a missing required field
        raise CheckpointError(f"{path}: invalid model config in the header ({e})") from None
    try:
        vocab = Vocabulary.from_dict(header["vocab"])
    except NodisError as e:
        raise CheckpointError(f"{path}: invalid vocabulary in the header ({e})") from None
    meta = check_model_size(cfg, vocab, str(path))
    _check_file_tensors(path, meta.state_dict())  # names, shapes and dtypes before any tensor is read
    try:
        state = load_file(str(path), device="cpu")
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read tensors ({e})") from None
    del meta
    model = NODIS(cfg, vocab)
    _load_checked(model, state, str(path))
    model.weights_name = Path(path).stem
    model.checkpoint_info = header.get("info", {})
    return model.to(device).eval()


_SAFETENSORS_FLOAT = ("F16", "BF16", "F32", "F64")
_SAFETENSORS_INT = ("I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64")


def _check_file_tensors(path: Path, own: dict[str, torch.Tensor]) -> None:
    """Names, shapes and dtypes of the tensors in a safetensors file against the model's state
    (from the header only, nothing loaded); :class:`CheckpointError` naming the keys."""
    from safetensors import safe_open

    problems = []
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
            for k in keys:
                if k not in own:
                    problems.append(f"key {k!r} has no place in the model")
                    continue
                sl = f.get_slice(k)
                shape, dtype = tuple(int(x) for x in sl.get_shape()), str(sl.get_dtype())
                if shape != tuple(own[k].shape):
                    problems.append(f"key {k!r}: shape {shape} in the file, {tuple(own[k].shape)} in the model")
                elif own[k].is_floating_point() and dtype not in _SAFETENSORS_FLOAT:
                    problems.append(f"key {k!r}: dtype {dtype} in the file, a floating-point tensor in the model")
                elif not own[k].is_floating_point() and dtype not in _SAFETENSORS_INT:
                    problems.append(f"key {k!r}: dtype {dtype} in the file, an integer tensor in the model")
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read the tensor index ({e})") from None
    problems += [f"key {k!r} is missing from the file" for k in own
                 if k not in keys and not k.endswith("num_batches_tracked")]
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise CheckpointError(f"{path}: checkpoint does not fit the model: {shown}")


def _load_checked(model, state: dict[str, torch.Tensor], source: str, require_all: bool = True,
                  own: dict[str, torch.Tensor] | None = None) -> None:
    """Load ``state`` into ``model`` after checking every key: no unknown key, no shape mismatch,
    a floating-point tensor where the model has one (integer where it has integers), only finite
    values and (``require_all``) no missing key; otherwise :class:`CheckpointError` naming the keys.
    ``model=None`` only checks, against ``own`` (e.g. the state of a meta-device model)."""
    own = model.state_dict() if own is None else own
    problems = []
    for k, v in state.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            problems.append(f"entry {k!r} is not a named tensor")
        elif k not in own:
            problems.append(f"key {k!r} has no place in the model")
        elif tuple(own[k].shape) != tuple(v.shape):
            problems.append(f"key {k!r}: shape {tuple(v.shape)} in the file, {tuple(own[k].shape)} in the model")
        elif own[k].is_floating_point() != v.is_floating_point() or v.is_complex() or v.dtype == torch.bool:
            want = "floating-point" if own[k].is_floating_point() else "integer"
            problems.append(f"key {k!r}: dtype {str(v.dtype).replace('torch.', '')} in the file, {want} in the model")
        elif v.is_floating_point() and not bool(torch.isfinite(v).all()):
            bad = int((~torch.isfinite(v)).sum())
            problems.append(f"key {k!r} holds {bad} NaN or infinite value{'s' if bad != 1 else ''}")
    if require_all:
        problems += [f"key {k!r} is missing from the file" for k in own
                     if k not in state and not k.endswith("num_batches_tracked")]
    if problems:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise CheckpointError(f"{source}: checkpoint does not fit the model: {shown}")
    if model is not None:
        model.load_state_dict(state, strict=False)


# ---------------------------------------------------------------------------------------- official
def _needs_full_unpickling(e: BaseException, path: Path) -> bool:
    """Whether ``torch.load(weights_only=True)`` failed because the file holds pickled objects other
    than tensors (then ``--trust-pickle`` may help) rather than because it is damaged or no checkpoint."""
    msg = str(e)
    if "legacy .tar format" in msg:  # torch < 0.4 tar archives: only loadable by full unpickling
        return True
    if not isinstance(e, pickle.UnpicklingError):
        return False
    if "GLOBAL" in msg or "Unsupported global" in msg:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    if head.startswith(b"PK\x03\x04"):  # a zip checkpoint whose pickle the safe loader refuses
        import zipfile

        try:
            with zipfile.ZipFile(path) as z:
                return z.testzip() is None
        except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError):
            return False
    return head[:1] == b"\x80" and "Unsupported operand" in msg  # a raw pickle (protocol >= 2)


def read_official(path: str | Path, trust_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Read an official ``.tar`` (``{'epoch', 'state_dict'}``, or a bare state dict) safely.

    A file that needs full unpickling is refused (the message suggests ``--trust-pickle``) unless
    ``trust_pickle``; a damaged or foreign file is refused as such (no such suggestion)."""
    path = Path(path)
    _regular_file(path)
    try:
        with warnings.catch_warnings():  # torch's protocol notes are not the user's business
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - classified below
        first = (str(e).splitlines() or [type(e).__name__])[0][:200] or type(e).__name__
        if not _needs_full_unpickling(e, path):
            raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (damaged, truncated or another kind "
                                  f"of file: {first})") from None
        if not trust_pickle:
            raise CheckpointError(
                f"{path}: this file needs full unpickling, which can run arbitrary code ({first}). "
                f"If you trust its source, pass --trust-pickle (trust_pickle=True).") from None
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=False)
        except Exception as e2:  # noqa: BLE001
            raise CheckpointError(f"{path}: cannot load even with --trust-pickle ({e2})") from None
    if isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise CheckpointError(f"{path}: expected a dict of named tensors (or {{'state_dict': ...}}), "
                              f"got {type(obj).__name__}")
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
    meta = check_model_size(cfg, vocab, f"{path} with this config")
    # every key checked against the meta model first: a file that does not fit allocates nothing
    _load_checked(None, mapped, str(path), require_all=not detector_only, own=meta.state_dict())
    del meta
    model = NODIS(cfg, vocab)
    model.load_state_dict(mapped, strict=False)
    model.weights_name = Path(path).stem
    kind = "detector" if detector_only else "NODIS"
    log.info("imported official %s checkpoint %s (%d tensors)", kind, path, len(mapped))
    return model.eval()
