"""Batch prediction: the pipeline behind ``nodis predict``, usable from Python.

:func:`predict_paths` runs a model over image files, folders or list files and writes, per image,
one JSON document (schema ``nodis.prediction/1``: the scene graph at each requested ODE time, the
model, the mode and the NFE) plus any other per-image format of :data:`nodis.export.FORMATS`; then
the run-level formats (Visual Genome ``scene_graphs.json``, Scene-Graph-Benchmark
``custom_prediction.json``, ``scene_graphs.jsonl``). Images are decoded by worker threads while the
model runs; every file is written atomically; ``DIR/index.jsonl`` gets one line per finished image
*after* its outputs are complete, ``DIR/errors.jsonl`` one line per failed image, and the run carries
on past bad files. ``resume=True`` skips images that the index says were done with the same
settings and whose files all exist, so an interrupted run (Ctrl-C, kill, power loss) continues where
it stopped. ``shard=(i, n)`` processes the inputs whose position in the sorted list is ``i`` modulo
``n``, so ``n`` processes (or ``torchrun`` ranks) cover every input exactly once.

Example (runs as is; with no trained weights the model is a random-init demo model)::

    import numpy as np, tempfile, pathlib
    from PIL import Image
    import nodis
    from nodis.predict import predict_paths, read_prediction

    tmp = pathlib.Path(tempfile.mkdtemp())
    Image.fromarray((np.random.default_rng(0).random((120, 160, 3)) * 255).astype("uint8")).save(tmp / "a.png")
    model = nodis.load_model()
    summary = predict_paths(model, [tmp / "a.png"], tmp / "out", formats=["json", "graphml"], times="0:1.5:0.5")
    doc = read_prediction(tmp / "out" / "a.json")
    print(summary.done, doc.times, doc.graph_at().triplets(3))

The same building blocks for one image: ``traj = model.predict(path, mode="sgdet")``,
``graph = traj.graph_at(1.5)``, ``graph.save("a.graphml")``. Layout of the output folder and the
``--boxes`` file format: ``docs/cli.md``.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import math
import os
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import export
from .data.transforms import IMAGE_SUFFIXES, load_image
from .errors import ConfigError, ExportError, InputError, NodisError
from .graph import SceneGraph, check_score_threshold

log = logging.getLogger(__name__)

__all__ = ["SCHEMA", "RUN_FORMATS", "PredictionDoc", "RunSummary", "MergeSummary", "BoxSource", "predict_paths",
           "merge_shards", "try_merge", "shard_dir", "slurm_shard", "ShardsIncomplete", "SHARDS_DIR",
           "predict_image", "expand_inputs", "output_names", "parse_times", "output_times", "parse_shard",
           "default_shard", "parse_formats", "read_prediction", "INDEX_NAME", "ERRORS_NAME"]

#: Schema of the per-image JSON document written by :func:`predict_paths`.
SCHEMA = "nodis.prediction/1"
INDEX_NAME = "index.jsonl"
ERRORS_NAME = "errors.jsonl"
#: Sharded runs keep their index, errors and run-level files in ``DIR/shards/I-of-N/``.
SHARDS_DIR = "shards"
MANIFEST_NAME = "shard.json"
MANIFEST_SCHEMA = "nodis.shard/1"
#: Endings of the files a run writes (temporary files of these are cleaned after a crash).
_TEMP_SUFFIXES = (".json", ".jsonl", ".png", ".svg", ".pdf", ".csv", ".graphml")
#: Formats that ``predict_paths`` writes once per run (from the per-image results), with their files.
RUN_FORMATS = {"vg": ("scene_graphs.json",), "sgb": ("custom_prediction.json", "custom_data_info.json"),
               "jsonl": ("scene_graphs.jsonl",)}
DISTRIBUTIONS = ("t_end", "all", "none")
MAX_TIMES = 10_000


# ------------------------------------------------------------------------------------------ inputs
def _walk_images(folder: Path, exclude: Sequence[Path]) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder, followlinks=False):
        r = Path(root)
        keep = []
        for d in sorted(dirs):
            sub = r / d
            if d.startswith(".") or any(_same(sub, e) for e in exclude):
                continue
            keep.append(d)
        dirs[:] = keep
        for f in files:
            if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES:
                yield r / f


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Python < 3.13)
        return False


def _resolved(p: Path) -> str:
    """``p.resolve()`` as text; for a symbolic link loop or an unreadable path its absolute form."""
    try:
        return str(p.resolve())
    except (OSError, RuntimeError):
        return str(p.absolute())


def _read_list(path: Path) -> list[Path]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the list file {path}: {e}") from None
    out = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        p = Path(os.path.expanduser(line))
        out.append(p if p.is_absolute() else path.parent / p)
    return out


def expand_inputs(inputs: Iterable[str | Path], exclude: Sequence[str | Path] = ()) -> list[Path]:
    """The image paths named by ``inputs``: files as given, folders searched recursively for
    :data:`IMAGE_SUFFIXES` (case-insensitive; hidden files and folders and the ``exclude`` folders
    skipped), ``.txt`` files read as lists of paths (one per line, ``#`` comments, relative paths
    relative to the list file; a listed folder is searched too).

    Returns normalised paths sorted by their text, without duplicates (same resolved file).
    A command-line path that does not exist raises :class:`InputError`; a missing path inside a
    list file is kept (its failure is recorded per image)."""
    excl = [Path(e) for e in exclude]
    found: list[Path] = []

    def add_path(p: Path, listed: bool) -> None:
        if p.is_dir():
            found.extend(_walk_images(p, excl))
        elif p.suffix.lower() == ".txt" and not listed and p.is_file():
            for q in _read_list(p):
                add_path(q, True)
        elif p.exists() or listed or os.path.lexists(p):  # a broken link or link loop fails per image
            found.append(p)
        else:
            raise InputError(f"{p}: no such file or folder")

    for item in inputs:
        add_path(Path(os.path.expanduser(str(item))), False)
    seen: dict[str, Path] = {}
    for p in sorted((Path(os.path.normpath(p)) for p in found), key=lambda q: q.as_posix()):
        seen.setdefault(_resolved(p), p)
    return sorted(seen.values(), key=lambda q: q.as_posix())


def output_names(paths: Sequence[Path]) -> list[str]:
    """A distinct output name per path: :func:`nodis.export.output_names` (the file stem, else the
    name with its extension or parent folders; distinct by construction, also case-insensitively and
    from the run-level files). Depends only on ``paths``."""
    return export.output_names(paths)


# ------------------------------------------------------------------------------------------ options
def parse_times(spec: str | Sequence[float] | None) -> list[float] | None:
    """``"a:b:s"`` -> ``[a, a+s, ..., b]`` (``b`` included when the steps land on it), ``"0.5,1.5"``
    -> a list, ``"1.5"`` -> ``[1.5]``; a sequence of numbers is taken as is; ``None`` -> ``None``."""
    if spec is None:
        return None
    if not isinstance(spec, str):
        vals = [float(v) for v in spec]
    else:
        text = spec.strip()
        try:
            if ":" in text:
                parts = [float(x) for x in text.split(":")]
                if len(parts) != 3:
                    raise ValueError
                a, b, s = parts
                if not (s > 0) or b < a:
                    raise InputError(f"bad times {spec!r}: need start <= stop and step > 0")
                n = int(math.floor((b - a) / s + 1e-9))
                if n + 1 > MAX_TIMES:
                    raise InputError(f"times {spec!r} give {n + 1} values; at most {MAX_TIMES}")
                vals = [round(a + i * s, 10) for i in range(n + 1)]
            else:
                vals = [float(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise InputError(f"bad times {spec!r}; use start:stop:step (e.g. 0:2.5:0.05), "
                             "a comma list (0,0.5,1.5) or one number") from None
    if not vals:
        raise InputError(f"bad times {spec!r}: no values")
    if any(not math.isfinite(v) or v < 0 for v in vals):
        raise InputError(f"bad times {spec!r}: ODE times must be finite and >= 0")
    if len(vals) > MAX_TIMES:
        raise InputError(f"{len(vals)} output times; at most {MAX_TIMES}")
    return vals


def output_times(spec: str | Sequence[float] | None, t_end: float) -> list[float]:
    """The times written for each image: :func:`parse_times` of ``spec`` plus ``t_end`` (sorted,
    distinct to 1e-6); ``[t_end]`` when ``spec`` is None."""
    vals = parse_times(spec) or []
    vals = vals + [float(t_end)]
    out: list[float] = []
    for v in sorted(round(v, 6) for v in vals):
        if not out or abs(v - out[-1]) > 1e-6:
            out.append(v)
    return out


def parse_shard(spec: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``; ``"slurm"`` -> the task's place in a SLURM job
    array (:func:`slurm_shard`)."""
    if spec is None:
        return None
    if isinstance(spec, str) and spec.strip().lower() == "slurm":
        return slurm_shard()
    if isinstance(spec, tuple):
        i, n = spec
    else:
        try:
            a, b = spec.split("/")
            i, n = int(a), int(b)
        except ValueError:
            raise InputError(f"bad shard {spec!r}; use i/n, e.g. 0/4 for the first of four shards") from None
    if n < 1 or not 0 <= i < n:
        raise InputError(f"bad shard {i}/{n}: need n >= 1 and 0 <= i < n")
    return int(i), int(n)


def slurm_shard() -> tuple[int, int]:
    """``(SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT)`` for a job array of
    consecutive task ids (``sbatch --array=0-7``); :class:`InputError` outside such an array."""
    env = os.environ
    try:
        task, lo = int(env["SLURM_ARRAY_TASK_ID"]), int(env.get("SLURM_ARRAY_TASK_MIN", "0"))
        count = int(env["SLURM_ARRAY_TASK_COUNT"])
        hi = int(env.get("SLURM_ARRAY_TASK_MAX", str(lo + count - 1)))
        step = int(env.get("SLURM_ARRAY_TASK_STEP", "1"))
    except (KeyError, ValueError):
        raise InputError("--shard slurm: not a SLURM job array task (SLURM_ARRAY_TASK_ID / _COUNT are not set); "
                         "submit with `sbatch --array=0-N` or give --shard I/N") from None
    if step != 1 or hi - lo + 1 != count or not lo <= task <= hi:
        raise InputError(f"--shard slurm: the array {lo}-{hi} (step {step}, {count} tasks) is not a range of "
                         "consecutive task ids; use --array=0-N, or give --shard I/N")
    return task - lo, count


def default_shard() -> tuple[int, int] | None:
    """``(RANK, WORLD_SIZE)`` when run under ``torchrun`` (both set, world size > 1), else None."""
    r, w = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
    if r is None or w is None:
        return None
    try:
        shard = (int(r), int(w))
    except ValueError:
        return None
    return shard if shard[1] > 1 else None


def parse_formats(spec: str | Sequence[str] | None) -> list[str]:
    """Validate a comma list (or sequence) of format names; ``json`` is always included."""
    if spec is None:
        names: list[str] = []
    elif isinstance(spec, str):
        names = [s.strip().lower() for s in spec.split(",") if s.strip()]
    else:
        names = [str(s).strip().lower() for s in spec]
    known = ["json"] + [f for f in export.FORMATS if f not in ("json", "vg", "sgb")] + list(RUN_FORMATS)
    bad = [n for n in names if n not in known]
    if bad:
        raise ConfigError(f"unknown format {', '.join(map(repr, bad))}; choose from {', '.join(known)}")
    out = ["json"]
    for n in names:
        if n not in out:
            out.append(n)
    return out


# ------------------------------------------------------------------------------------------ boxes
@dataclass
class _BoxEntry:
    key: str
    value: Any
    candidates: tuple[str, ...]  # resolved absolute paths this key may mean


class BoxSource:
    """Boxes (and labels) per image, read from ``--boxes FILE``.

    Accepted (details and examples in ``docs/cli.md``):

    * a JSON object mapping an image file name or path to ``{"boxes": [[x1, y1, x2, y2], ...],
      "labels": [...]}`` (labels: class names or indices, required for predcls), or to a nodis
      scene graph;
    * a JSON list of such objects, each with an ``"image"`` key;
    * nodis scene graphs as written by nodis (``nodis.scene_graph/1``, ``nodis.prediction/1`` — the
      graph at ``t_end`` — or JSON Lines of them), or a folder of such files, e.g. the output folder
      of an earlier ``nodis predict``; the images are those the graphs name.

    Boxes are ``x1, y1, x2, y2`` in pixels of the original image. An image is matched by its path
    (relative keys are tried relative to the current folder and to the boxes file's folder), then
    by its file name when that is unique in the file."""

    def __init__(self, entries: list[_BoxEntry], source: str) -> None:
        self.source = source
        self.entries = entries
        self._by_path: dict[str, list[_BoxEntry]] = {}
        self._by_name: dict[str, list[_BoxEntry]] = {}
        for e in entries:
            for c in e.candidates:
                self._by_path.setdefault(c, []).append(e)
            self._by_name.setdefault(Path(e.key).name, []).append(e)

    def __len__(self) -> int:
        return len(self.entries)

    @classmethod
    def load(cls, path: str | Path) -> "BoxSource":
        path = Path(path)
        base = path.parent if path.is_file() else path
        items: list[tuple[str, Any]] = []
        if path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.suffix in (".json", ".jsonl") and f.is_file()
                           and not f.name.startswith("."))
            for f in files:
                for doc in _json_docs(f, strict=False):
                    g = _graph_of(doc)
                    if g is not None and g.get("image"):
                        items.append((str(g["image"]), g))
            if not items:
                raise InputError(f"--boxes {path}: no nodis scene graphs (with an image name) in this folder")
        elif path.is_file():
            docs = _json_docs(path, strict=True)
            for doc in docs:
                g = _graph_of(doc)
                if g is not None:
                    if not g.get("image"):
                        raise InputError(f"--boxes {path}: the scene graph names no image")
                    items.append((str(g["image"]), g))
                elif isinstance(doc, dict):
                    for k, v in doc.items():
                        items.append((str(k), v))
                elif isinstance(doc, list):
                    for k, v in enumerate(doc):
                        if not isinstance(v, dict) or not isinstance(v.get("image"), str):
                            raise InputError(f"--boxes {path}: entry {k} of the list has no \"image\" name")
                        items.append((v["image"], v))
                else:
                    raise InputError(f"--boxes {path}: expected a JSON object mapping image names to boxes")
        else:
            raise InputError(f"--boxes {path}: no such file or folder")
        entries = []
        for key, value in items:
            kp = Path(os.path.expanduser(key))
            cands = {_resolved(kp)} if kp.is_absolute() else {_resolved(Path.cwd() / kp), _resolved(base / kp)}
            entries.append(_BoxEntry(key, value, tuple(sorted(cands))))
        return cls(entries, str(path))

    def lookup(self, image: str | Path) -> tuple[list[list[float]], list | None]:
        """``(boxes, labels or None)`` for ``image``; :class:`InputError` when absent or malformed."""
        p = Path(image)
        hits = self._by_path.get(_resolved(p), [])
        if not hits:
            hits = self._by_name.get(p.name, [])
            if len(hits) > 1:
                raise InputError(f"{len(hits)} entries of {self.source} are named {p.name}; key them by path")
        if not hits:
            raise InputError(f"no boxes for {p.name} in {self.source}")
        if len(hits) > 1 and len({json.dumps(h.value, sort_keys=True, default=str) for h in hits}) > 1:
            raise InputError(f"{self.source} has {len(hits)} different entries for {p}")
        return _parse_box_entry(hits[0].value, f"{self.source}[{hits[0].key!r}]")


def _json_docs(path: Path, strict: bool) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        if strict:
            raise InputError(f"cannot read {path}: {e}") from None
        return []
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return [json.loads(text)]
    except json.JSONDecodeError as e:
        if strict:
            raise InputError(f"{path} is not valid JSON: {e}") from None
        return []


def _graph_of(doc: Any) -> dict | None:
    """The scene-graph dict inside a nodis document (the t_end graph of a prediction), or None."""
    if not isinstance(doc, dict):
        return None
    schema = str(doc.get("schema", ""))
    if schema.startswith("nodis.scene_graph"):
        return doc
    if schema.startswith("nodis.prediction"):
        try:
            return PredictionDoc.from_dict(doc).graph_at().to_dict()
        except (InputError, KeyError, TypeError, ValueError):
            return None
    return None


def _parse_box_entry(value: Any, where: str) -> tuple[list[list[float]], list | None]:
    if isinstance(value, dict) and str(value.get("schema", "")).startswith("nodis."):
        g = SceneGraph.from_dict(_graph_of(value) or value)
        return [list(o.box) for o in g.objects], [o.name for o in g.objects]
    if isinstance(value, list):  # bare list of boxes
        value = {"boxes": value}
    if not isinstance(value, dict) or "boxes" not in value:
        raise InputError(f"{where}: expected {{\"boxes\": [[x1, y1, x2, y2], ...], \"labels\": [...]}}")
    boxes = value["boxes"]
    if not isinstance(boxes, list):
        raise InputError(f"{where}: \"boxes\" must be a list of [x1, y1, x2, y2]")
    out = []
    for k, b in enumerate(boxes):
        if (not isinstance(b, (list, tuple)) or len(b) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)):
            raise InputError(f"{where}: box {k} must be four numbers [x1, y1, x2, y2], got {b!r}")
        out.append([float(v) for v in b])
    labels = value.get("labels")
    if labels is not None:
        if not isinstance(labels, list) or len(labels) != len(out):
            raise InputError(f"{where}: \"labels\" must be a list with one label per box "
                             f"({len(out)} boxes)")
        for k, lab in enumerate(labels):
            if isinstance(lab, bool) or not isinstance(lab, (str, int)):
                raise InputError(f"{where}: label {k} must be a class name or index, got {lab!r}")
    return out, labels


# ------------------------------------------------------------------------------------------ documents
@dataclass
class PredictionDoc:
    """A per-image document (schema ``nodis.prediction/1``): the scene graph at each requested time."""

    image: str | None
    image_size: tuple[int, int]
    mode: str
    t_end: float
    times: list[float]
    graphs: list[SceneGraph]
    model: dict[str, Any] = field(default_factory=dict)
    nfe: dict[str, int] = field(default_factory=dict)
    filter: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None

    def graph_at(self, t: float | None = None) -> SceneGraph:
        """The graph at time ``t`` (default ``t_end``); :class:`InputError` when ``t`` was not written."""
        t = self.t_end if t is None else float(t)
        for tt, g in zip(self.times, self.graphs):
            if abs(tt - t) < 1e-6:
                return g
        raise InputError(f"no graph at t = {t:g} in this prediction (times: {', '.join(f'{x:g}' for x in self.times)})")

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "image": self.image, "image_size": list(self.image_size), "mode": self.mode,
                "model": self.model, "t_end": self.t_end, "times": list(self.times), "nfe": self.nfe,
                "filter": self.filter, "seconds": self.seconds, "graphs": [g.to_dict() for g in self.graphs]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PredictionDoc":
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            got = d.get("schema") if isinstance(d, dict) else type(d).__name__
            raise InputError(f"not a nodis prediction (schema {got!r}, expected {SCHEMA!r})")
        try:
            graphs = [SceneGraph.from_dict(g) for g in d["graphs"]]
            times = [float(t) for t in d["times"]]
            if len(times) != len(graphs):
                raise InputError("malformed nodis prediction: 'times' and 'graphs' differ in length")
            return cls(d.get("image"), (int(d["image_size"][0]), int(d["image_size"][1])), str(d["mode"]),
                       float(d["t_end"]), times, graphs, dict(d.get("model") or {}), dict(d.get("nfe") or {}),
                       dict(d.get("filter") or {}), d.get("seconds"))
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise InputError(f"malformed nodis prediction: {e!r}") from None

    def to_json(self) -> str:
        text = export._dumps(self.to_dict(), indent=2)
        return export._inline_number_lists(text) + "\n"


def read_prediction(path: str | Path) -> PredictionDoc:
    """Read a per-image document written by :func:`predict_paths` (``IMG.json``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is not valid JSON: {e}") from None
    return PredictionDoc.from_dict(data)


def _model_info(model) -> dict[str, Any]:
    from . import __version__

    cfg = model.cfg
    return {"weights": getattr(model, "weights_name", None), "preset": cfg.preset, "t_end": float(cfg.t_end),
            "solver": cfg.solver, "rtol": cfg.rtol, "atol": cfg.atol, "state_policy": cfg.state_policy,
            "vocabulary": getattr(model.vocab, "name", None), "nodis_version": __version__}


def predict_image(model, image: Any, *, mode: str = "sgdet", boxes=None, labels=None,
                  times: str | Sequence[float] | None = None, top_k: int | None = None, threshold: float = 0.0,
                  object_threshold: float = 0.0, distributions: str = "t_end", extra_times: Sequence[float] = (),
                  name: str | None = None):
    """Run ``model`` on one image and build its :class:`PredictionDoc`.

    Returns ``(doc, trajectory)``. ``times`` as :func:`output_times`; ``extra_times`` are solved too
    (e.g. for a t-strip) but not written. ``top_k`` / ``threshold`` filter relations and
    ``object_threshold`` objects (:meth:`SceneGraph.filtered`); ``distributions``: keep the full class /
    predicate distributions in the graph at ``t_end`` only (``"t_end"``), at every time (``"all"``) or
    nowhere (``"none"``)."""
    if distributions not in DISTRIBUTIONS:
        raise ConfigError(f"distributions must be one of {', '.join(DISTRIBUTIONS)}, got {distributions!r}")
    t_end = float(model.cfg.t_end)
    out_t = output_times(times, t_end)
    grid = sorted(set(out_t) | {round(float(t), 6) for t in extra_times} | {0.0})
    t0 = time.perf_counter()
    traj = model.predict(image, mode=mode, boxes=boxes, labels=labels, times=grid, name=name)
    graphs = []
    for t in out_t:
        dist = distributions == "all" or (distributions == "t_end" and abs(t - t_end) < 1e-6)
        graphs.append(_graph(traj, t, top_k, threshold, dist, object_threshold))
    nfe = dict(traj.nfe)
    doc = PredictionDoc(traj.image, tuple(traj.image_size), mode, t_end, out_t, graphs, _model_info(model), nfe,
                        {"top_k": top_k, "threshold": threshold, "object_threshold": object_threshold,
                         "distributions": distributions},
                        round(time.perf_counter() - t0, 4))
    return doc, traj


def _graph(traj, t: float, top_k: int | None, threshold: float, distributions: bool,
           object_threshold: float = 0.0) -> SceneGraph:
    g = traj.graph_at(t, distributions=distributions).filtered(top_k, threshold, object_threshold)
    g.t_obj = g.t_rel = round(float(t), 6)  # the requested time, without float32 noise of the grid
    return g


# ------------------------------------------------------------------------------------------ the run
@dataclass
class RunSummary:
    """What :func:`predict_paths` did. ``failed`` maps input path -> reason."""

    total: int = 0  # inputs in this shard
    done: int = 0
    skipped: int = 0  # already complete (resume)
    failed: dict[str, str] = field(default_factory=dict)
    out_dir: Path | None = None
    seconds: float = 0.0
    run_outputs: list[Path] = field(default_factory=list)
    shard: tuple[int, int] | None = None
    merged: MergeSummary | None = None  # set when this shard was the last to finish and merged the run

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class MergeSummary:
    """What :func:`merge_shards` did: ``shards`` merged, ``total`` inputs, ``done`` / ``failed`` images
    (``failed`` maps path -> reason), the run-level files written."""

    out_dir: Path
    shards: int = 0
    total: int = 0
    done: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    run_outputs: list[Path] = field(default_factory=list)


@dataclass
class _Item:
    path: Path
    name: str
    position: int  # in the full sorted list (stable across shards)
    resolved: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _fingerprint(settings: dict[str, Any], boxes: Any = None) -> str:
    blob = json.dumps({"s": settings, "b": boxes}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode("utf-8")).hexdigest()[:16]


def _index_files(out_dir: Path) -> list[Path]:
    """The run index and every shard's index, oldest layer first."""
    return [out_dir / INDEX_NAME] + sorted((out_dir / SHARDS_DIR).glob(f"*-of-*/{INDEX_NAME}"))


def _record_key(rec: dict[str, Any]) -> str | None:
    key = rec.get("resolved") or rec.get("image")
    return key if isinstance(key, str) else None


def _latest_records(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The last record of every image over the run index and the shard indexes (by ``finished``,
    then file and line order). Lines that are not JSON objects are skipped with a warning."""
    best: dict[str, tuple[tuple, dict[str, Any]]] = {}
    for fi, path in enumerate(_index_files(out_dir)):
        if not path.is_file():
            continue
        for li, rec in enumerate(export.read_jsonl(path)):
            key = _record_key(rec)
            if key is None:
                continue
            order = (str(rec.get("finished") or ""), fi, li)
            if key not in best or order >= best[key][0]:
                best[key] = (order, rec)
    return {k: r for k, (_, r) in best.items()}


def _output_file(out_dir: Path, rel: Any) -> Path | None:
    """``out_dir / rel`` for an ``outputs`` entry of an index record, None unless it is a plain file
    name (a hand-edited or foreign index cannot point outside the folder)."""
    if not isinstance(rel, str) or not rel or Path(rel).name != rel or rel in (".", ".."):
        return None
    return out_dir / rel


def _complete(rec: dict[str, Any] | None, out_dir: Path, formats: Sequence[str], fp: str) -> bool:
    if not rec or rec.get("status") != "ok" or rec.get("settings") != fp:
        return False
    outs = rec.get("outputs")
    if not isinstance(outs, dict):
        return False
    for f in formats:
        if f in RUN_FORMATS:
            continue
        path = _output_file(out_dir, outs.get(f))
        if path is None or not path.is_file():
            return False
    return True


#: Decoded pixels that the image-decoding threads may hold ahead of the model (about 3 bytes each
#: as RGB; PIL's intermediate buffers roughly double it). One image is always allowed, however large.
PREFETCH_PIXELS = 64_000_000


def _prefetch(items: Sequence[_Item], workers: int,
              budget: int = PREFETCH_PIXELS) -> Iterator[tuple[_Item, Any, BaseException | None]]:
    """Yield ``(item, PIL image or None, error or None)`` in order, decoding ahead in a thread pool
    (``workers == 0``: decode in the calling thread): up to ``2 * workers`` images and, by their
    header sizes (:func:`nodis.data.transforms.image_size`), up to ``budget`` pixels, so memory stays
    bounded however large the images are."""
    from .data.transforms import image_size

    if workers <= 0:
        for it in items:
            try:
                yield it, load_image(it.path), None
            except Exception as e:  # noqa: BLE001 - reported per image
                yield it, None, e
        return
    pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nodis-load")
    pending: list[tuple[_Item, cf.Future, int]] = []
    it_iter = iter(items)
    ahead = max(2, 2 * workers)
    nxt = next(it_iter, None)
    held = 0

    def pixels(it: _Item) -> int:
        size = image_size(it.path)
        return 0 if size is None else int(size[0]) * int(size[1])

    nxt_px = pixels(nxt) if nxt is not None else 0

    def fill() -> None:
        nonlocal nxt, nxt_px, held
        while nxt is not None and (not pending or (len(pending) < ahead and held + nxt_px <= budget)):
            pending.append((nxt, pool.submit(load_image, nxt.path), nxt_px))
            held += nxt_px
            nxt = next(it_iter, None)
            nxt_px = pixels(nxt) if nxt is not None else 0

    try:
        while True:
            fill()
            if not pending:
                break
            it, fut, px = pending.pop(0)
            try:
                result: tuple[Any, BaseException | None] = (fut.result(), None)
            except Exception as e:  # noqa: BLE001 - reported per image
                result = (None, e)
            held -= px
            fill()  # start the next decode before handing this image over, so the two overlap
            yield it, result[0], result[1]
    finally:
        for _, fut, _px in pending:
            fut.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


def predict_paths(model, inputs: Iterable[str | Path], out_dir: str | Path, *, mode: str = "sgdet",
                  boxes: str | Path | BoxSource | None = None, times: str | Sequence[float] | None = None,
                  top_k: int | None = None, threshold: float = 0.0, object_threshold: float = 0.0,
                  formats: str | Sequence[str] = ("json",),
                  distributions: str = "t_end", strip_times: str | Sequence[float] | None = None,
                  resume: bool = False, shard: str | tuple[int, int] | None = None, workers: int = 2,
                  progress: bool = False, merge: bool | None = None) -> RunSummary:
    """Predict scene graphs for every image of ``inputs`` and write them under ``out_dir``.

    Args:
        model: a loaded :class:`nodis.model.NODIS` (see :func:`nodis.load_model`).
        inputs: image files, folders (searched recursively) and ``.txt`` lists, see :func:`expand_inputs`.
        out_dir: output folder (created). Layout: ``docs/cli.md``.
        mode: ``sgdet``, ``sgcls`` (needs ``boxes``) or ``predcls`` (needs boxes with labels).
        boxes: a ``--boxes`` file or folder (see :class:`BoxSource`).
        times: ODE times to write (``"0:2.5:0.05"``, a list ...); ``t_end`` is always written.
        top_k, threshold: keep the ``top_k`` best relations with triplet score >= ``threshold``.
        object_threshold: keep objects with score >= this (and the relations among them).
        formats: per-image formats (:data:`nodis.export.FORMATS` names) and run-level ones
            (:data:`RUN_FORMATS`); ``json`` is always written.
        distributions: ``"t_end"`` (default), ``"all"`` or ``"none"``, see :func:`predict_image`.
        strip_times: the times of the ``strip`` figure (default 0, 0.5, ..., 2.5 and ``t_end``).
        resume: skip images already complete with the same settings.
        shard: ``(i, n)`` or ``"i/n"``: only inputs at positions ``i mod n`` of the sorted list. A
            shard keeps its index, errors and run-level files in ``out_dir/shards/I-of-N/`` (per-image
            files go to ``out_dir`` as usual); :func:`merge_shards` combines them.
        workers: image-decoding threads (0 = decode in this thread).
        progress: show a tqdm progress bar on stderr.
        merge: with ``shard``: merge the run (:func:`merge_shards`) when this shard finds every shard
            finished (``None``, the default, and ``True``; under a lock, so exactly the last shard to
            finish merges everything) or never (``False``; e.g. ``nodis predict`` under torchrun, where
            rank 0 merges after a barrier).

    Returns a :class:`RunSummary` (``merged`` set when this call merged the shards). Per-image
    failures (unreadable image, missing boxes ...) are
    recorded and do not raise; an unusable ``out_dir`` or a failing disk raises
    :class:`~nodis.errors.ExportError`. ``KeyboardInterrupt`` propagates after the current image's
    files (all written atomically) and index line are either complete or absent.
    """
    from .config import MODES

    t_start = time.perf_counter()
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    fmts = parse_formats(formats)
    out_dir = Path(out_dir)
    shard_t = parse_shard(shard)
    if top_k is not None and top_k < 0:
        raise ConfigError(f"--top-k must be >= 0, got {top_k}")
    threshold = check_score_threshold(threshold, "threshold (--threshold)")
    object_threshold = check_score_threshold(object_threshold, "object_threshold (--object-threshold)")
    if distributions not in DISTRIBUTIONS:
        raise ConfigError(f"distributions must be one of {', '.join(DISTRIBUTIONS)}")
    t_end = float(model.cfg.t_end)
    out_t = output_times(times, t_end)
    strip_t: list[float] = []
    if "strip" in fmts:
        strip_t = output_times(strip_times if strip_times is not None else export.PAPER_TIMES, t_end)
    box_src: BoxSource | None = None
    if boxes is not None:
        box_src = boxes if isinstance(boxes, BoxSource) else BoxSource.load(boxes)
        if mode == "sgdet":
            raise ConfigError("--boxes is only used with --mode sgcls or --mode predcls")
    elif mode != "sgdet":
        raise ConfigError(f"--mode {mode} needs --boxes FILE (boxes per image{' and labels' if mode == 'predcls' else ''})")

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create the output folder {out_dir}: {e.strerror or e}") from None
    if not os.access(out_dir, os.W_OK):
        raise ExportError(f"cannot write to the output folder {out_dir}: permission denied")
    run_dir = out_dir if shard_t is None else shard_dir(out_dir, shard_t)
    if run_dir != out_dir:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ExportError(f"cannot create the shard folder {run_dir}: {e.strerror or e}") from None
    # one run at a time per run folder (a shard has its own): a second run into the same --out would
    # interleave its index with this one's and overwrite its files
    with _RunLock(run_dir):
        # temporary files of a killed run (never those a live process is writing: they are locked)
        export.clean_stale_temp(out_dir, suffixes=_TEMP_SUFFIXES)
        if run_dir != out_dir:
            export.clean_stale_temp(run_dir, suffixes=_TEMP_SUFFIXES)

        inputs = list(inputs)
        for inp in inputs:
            if Path(inp).is_dir() and _same(Path(inp), out_dir):
                raise ConfigError(f"the output folder {out_dir} is also an input folder; choose another --out "
                                  "(outputs such as NAME.png would be read as images on the next run)")
        all_paths = expand_inputs(inputs, exclude=[out_dir])
        if not all_paths:
            raise InputError("no images found in " + ", ".join(map(str, inputs))
                             + f" (looked for {', '.join(IMAGE_SUFFIXES)})")
        names = output_names(all_paths)
        items = []
        for k, (p, n) in enumerate(zip(all_paths, names)):
            items.append(_Item(p, n, k, _resolved(p)))
        mine = [it for it in items if shard_t is None or it.position % shard_t[1] == shard_t[0]]

        settings = {"mode": mode, "model": _model_info(model), "times": out_t, "top_k": top_k, "threshold": threshold,
                    "object_threshold": object_threshold,
                    "distributions": distributions, "strip_times": strip_t, "formats": sorted(fmts)}
        summary = RunSummary(total=len(mine), out_dir=out_dir, shard=shard_t)
        latest = _latest_records(out_dir) if resume else {}

        # box lookups (cheap) decide the per-image fingerprint
        todo: list[tuple[_Item, Any, str]] = []
        for it in mine:
            bx: Any = None
            if box_src is not None:
                try:
                    bx = box_src.lookup(it.path)
                except NodisError as e:
                    bx = e
            fp = _fingerprint(settings, None if isinstance(bx, BaseException) else bx)
            if resume and _complete(latest.get(it.resolved), out_dir, fmts, fp):
                summary.skipped += 1
                continue
            todo.append((it, bx, fp))
        log.info("%d images found%s; %d to process%s", len(items),
                 f", {len(mine)} in shard {shard_t[0]}/{shard_t[1]}" if shard_t else "", len(todo),
                 f" ({summary.skipped} already complete)" if summary.skipped else "")

        bar = None
        if progress:
            from tqdm import tqdm

            try:
                cols = os.get_terminal_size(sys.stderr.fileno()).columns
            except (OSError, ValueError, AttributeError):
                cols = 0
            size = {} if cols > 0 else {"ncols": 100, "nrows": 40}  # a pty without a size (e.g. `script`)
            bar = tqdm(total=len(todo), unit="img", file=sys.stderr, dynamic_ncols=cols > 0, desc="predict",
                       smoothing=0.1, **size)
        box_of = {id(it): (bx, fp) for it, bx, fp in todo}
        loaded = _prefetch([t[0] for t in todo], workers)
        try:
            for it, pil, err in loaded:
                bx, fp = box_of[id(it)]
                t0 = time.perf_counter()
                try:
                    if err is not None:
                        raise err
                    if isinstance(bx, BaseException):
                        raise bx
                    rec = _process(model, it, pil, bx, fp, out_dir, mode, fmts, out_t, strip_t, top_k, threshold,
                                   object_threshold, distributions)
                    rec["seconds"] = round(time.perf_counter() - t0, 4)
                    export.append_jsonl(run_dir / INDEX_NAME, rec)
                    summary.done += 1
                except ExportError:
                    raise
                except Exception as e:  # noqa: BLE001 - any per-image failure is recorded, the run goes on
                    reason = str(e) if isinstance(e, NodisError) else f"{type(e).__name__}: {e}"
                    if not isinstance(e, NodisError):
                        log.debug("unexpected error on %s", it.path, exc_info=True)
                    _clear_cuda(e)
                    log.warning("%s", reason if str(it.path) in reason else f"{it.path}: {reason}")
                    summary.failed[str(it.path)] = reason
                    base = {"image": str(it.path), "resolved": it.resolved, "name": it.name}
                    export.append_jsonl(run_dir / ERRORS_NAME, dict(base, error=reason, type=type(e).__name__,
                                                                    finished=_now()))
                    export.append_jsonl(run_dir / INDEX_NAME, dict(base, status="error", error=reason,
                                                                   type=type(e).__name__,
                                                                   seconds=round(time.perf_counter() - t0, 4),
                                                                   finished=_now()))
                if bar is not None:
                    bar.update(1)
                    if summary.failed:
                        bar.set_postfix(failed=len(summary.failed), refresh=False)
        finally:
            loaded.close()
            if bar is not None:
                bar.close()

        if shard_t is None:
            summary.run_outputs = write_run_outputs(out_dir, items, fmts)
        else:
            summary.run_outputs = write_run_outputs(out_dir, mine, fmts, dest=run_dir)
            _write_manifest(run_dir, shard_t, items, mine, fmts, settings)
            if merge is not False:
                summary.merged = try_merge(out_dir)
        summary.seconds = time.perf_counter() - t_start
        return summary


def _clear_cuda(e: BaseException) -> None:
    if "out of memory" in str(e).lower():
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001
            pass


def _process(model, it: _Item, pil, bx, fp: str, out_dir: Path, mode: str, fmts: Sequence[str],
             out_t: list[float], strip_t: list[float], top_k, threshold, object_threshold,
             distributions) -> dict[str, Any]:
    """Predict one image, write its per-image files; return its index record (without seconds)."""
    b, lab = (bx if bx is not None else (None, None))
    doc, traj = predict_image(model, pil, mode=mode, boxes=b, labels=lab, times=out_t, top_k=top_k,
                              threshold=threshold, object_threshold=object_threshold,
                              distributions=distributions, extra_times=strip_t,
                              name=str(it.path))
    g_end = doc.graph_at()
    outputs: dict[str, str] = {}
    stem = out_dir / it.name
    json_path = export.output_path(stem, "json")
    others = [f for f in fmts if f != "json" and f not in RUN_FORMATS]
    options: dict[str, dict[str, Any]] = {}
    hist = traj.histories(top_k=top_k) if {"history", "history-csv"} & set(others) else None
    for f in others:
        kw: dict[str, Any] = {}
        if f in ("history", "history-csv"):
            kw["histories"] = hist
        if f in ("png", "strip"):
            kw["image"] = pil
        if f in ("png", "graph-png", "svg", "pdf") and top_k is not None:
            kw["top_k"] = top_k
        if f == "strip":
            kw["graphs"] = [_graph(traj, t, None, threshold, False, object_threshold) for t in strip_t]
            kw["t_end"] = doc.t_end
            if top_k is not None:
                kw["top_k"] = top_k
        options[f] = kw
    # all of this image's files or none: a failing format removes the JSON and the other formats too
    try:
        export.atomic_write_text(json_path, doc.to_json())
        written = export.save_formats(g_end, stem, others, options)
    except BaseException:
        export.remove_outputs([json_path])
        raise
    outputs["json"] = json_path.name
    outputs.update({f: path.name for f, path in written.items()})
    return {"image": str(it.path), "resolved": it.resolved, "name": it.name, "status": "ok", "outputs": outputs,
            "mode": mode, "num_objects": len(g_end.objects), "num_relations": len(g_end.relations),
            "nfe": doc.nfe, "settings": fp, "finished": _now()}


def write_run_outputs(out_dir: str | Path, items: Sequence[_Item] | None, formats: Sequence[str],
                      dest: str | Path | None = None) -> list[Path]:
    """Write the run-level formats (:data:`RUN_FORMATS`) of ``out_dir`` (into ``dest``, default
    ``out_dir``) from the per-image JSON of every input whose latest index line says ``ok``, in
    input order. Image ids (VG) and keys (SGB) are positions in the full sorted input list (+1 for
    VG), the same for every shard."""
    out_dir = Path(out_dir)
    dest = out_dir if dest is None else Path(dest)
    wanted = [f for f in formats if f in RUN_FORMATS]
    if not wanted:
        return []
    latest = _latest_records(out_dir)
    if items is None:
        recs = [r for r in latest.values() if r.get("status") == "ok"]
        entries = [(k, r) for k, r in enumerate(sorted(recs, key=lambda r: str(r.get("image"))))]
    else:
        entries = [(it.position, latest[it.resolved]) for it in items
                   if latest.get(it.resolved, {}).get("status") == "ok"]
    graphs: list[tuple[int, SceneGraph, str]] = []
    for pos, rec in entries:
        outs = rec.get("outputs")
        path = _output_file(out_dir, outs.get("json")) if isinstance(outs, dict) else None
        if path is None:
            continue
        try:
            doc = read_prediction(path)
            graphs.append((pos, doc.graph_at(), str(rec.get("image"))))
        except NodisError as e:
            log.warning("left out of the run-level files: %s (%s)", rec.get("image"), e)
    written: list[Path] = []
    if "vg" in wanted:
        written.append(export.write_vg_scene_graphs(dest / "scene_graphs.json",
                                                    [(pos + 1, g) for pos, g, _ in graphs]))
    if "sgb" in wanted:
        if graphs:
            written += export.write_sgb(dest, [g for _, g, _ in graphs], [p for _, _, p in graphs])
        else:
            log.warning("no finished images: custom_prediction.json not written")
    if "jsonl" in wanted:
        written.append(export.write_jsonl_index(dest / "scene_graphs.jsonl", (g.to_dict() for _, g, _ in graphs)))
    return written


# ------------------------------------------------------------------------------------------ shards
class ShardsIncomplete(InputError):
    """:func:`merge_shards` found shards missing or unfinished."""


def shard_dir(out_dir: str | Path, shard: tuple[int, int]) -> Path:
    """``out_dir/shards/I-of-N``: where shard ``(I, N)`` keeps its index, errors and run-level files."""
    return Path(out_dir) / SHARDS_DIR / f"{shard[0]}-of-{shard[1]}"


def _inputs_key(items: Sequence[_Item]) -> str:
    blob = "\n".join(f"{it.position}\t{it.resolved}\t{it.name}" for it in items)
    return hashlib.sha1(blob.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _write_manifest(run_dir: Path, shard: tuple[int, int], items: Sequence[_Item], mine: Sequence[_Item],
                    fmts: Sequence[str], settings: dict[str, Any]) -> None:
    """``shard.json``: which inputs this shard owns, with which settings, and that it finished."""
    doc = {"schema": MANIFEST_SCHEMA, "shard": list(shard), "inputs": _inputs_key(items), "num_inputs": len(items),
           "formats": sorted(fmts), "settings": _fingerprint(settings), "complete": True, "finished": _now(),
           "run_id": uuid.uuid4().hex,  # tells one finish of this shard from the next (the merge marker)
           "items": [{"position": it.position, "image": str(it.path), "resolved": it.resolved, "name": it.name}
                     for it in mine]}
    export.atomic_write_text(run_dir / MANIFEST_NAME, json.dumps(doc, ensure_ascii=False) + "\n")


def _read_manifests(out_dir: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted((out_dir / SHARDS_DIR).glob(f"*-of-*/{MANIFEST_NAME}")):
        try:
            doc = json.loads(export.read_regular_bytes(path).decode("utf-8"))
            i, n = doc["shard"]
            ok = (doc.get("schema") == MANIFEST_SCHEMA and isinstance(i, int) and isinstance(n, int)
                  and 0 <= i < n and path.parent.name == f"{i}-of-{n}" and isinstance(doc.get("items"), list)
                  and all(isinstance(x, dict) and isinstance(x.get("position"), int)
                          and isinstance(x.get("resolved"), str) and isinstance(x.get("name"), str)
                          for x in doc["items"]))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError):
            ok = False
        if not ok:
            log.warning("%s is damaged; rerun that shard with --resume to rewrite it", path)
            continue
        out.append(doc)
    return out


class _RunLock:
    """An exclusive, non-blocking ``flock`` on ``RUN_DIR/.nodis-run.lock`` for the length of a run
    (no-op where there is no ``flock``), removed when the run ends. A second run into the same folder
    is refused at once with the holder's process id, instead of interleaving two indexes."""

    NAME = ".nodis-run.lock"

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / self.NAME
        self.fd: int | None = None

    def __enter__(self) -> "_RunLock":
        try:
            import fcntl
        except ImportError:
            return self
        for _ in range(100):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as e:
                raise ExportError(f"cannot create the run lock {self.path}: {e.strerror or e}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                try:
                    holder = os.read(fd, 64).decode("ascii", "replace").strip()
                except OSError:
                    holder = ""
                os.close(fd)
                who = f" (process {holder})" if holder else ""
                raise ExportError(f"another nodis predict is writing to {self.path.parent}{who}; wait for it to "
                                  "finish or choose another --out (--shard I/N runs may share a folder)") from None
            try:  # the holder before us removes the file when it ends: lock the file that is there now
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        else:
            raise ExportError(f"cannot take the run lock {self.path}: it keeps being replaced")
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            try:
                os.unlink(self.path)  # while still holding it (a waiting opener re-checks the inode)
            except OSError:
                pass
            os.close(self.fd)  # releases the lock
            self.fd = None


class _MergeLock:
    """An exclusive ``flock`` on ``DIR/shards/.merge.lock`` (no-op where there is no ``flock``)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / SHARDS_DIR / ".merge.lock"
        self.fd: int | None = None

    def __enter__(self) -> "_MergeLock":
        try:
            import fcntl
        except ImportError:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock


def merge_shards(out_dir: str | Path) -> MergeSummary:
    """Combine the shards of a sharded run in ``out_dir`` (``nodis predict --merge DIR``).

    The shards are those of the most recently finished shard's run (same number of shards, same
    sorted input list); every one of them must have finished, else :class:`ShardsIncomplete` names
    the missing ones. Writes ``DIR/index.jsonl`` (the last record of every image, in input order,
    after the records of images outside this run), ``DIR/errors.jsonl`` (the images whose last
    record is a failure; removed when none failed) and the run-level formats the shards were asked
    for, from the per-image JSON files. Safe to run several times and while nothing else writes
    ``DIR``; :func:`predict_paths` calls it under a lock when the last shard finishes."""
    out_dir = Path(out_dir)
    if not (out_dir / SHARDS_DIR).is_dir():
        raise InputError(f"{out_dir}: nothing to merge (no {SHARDS_DIR}/ folder; shards are written by "
                         f"`nodis predict ... --shard I/N --out {out_dir}`)")
    with _MergeLock(out_dir):
        return _merge_locked(out_dir)  # type: ignore[return-value]


def try_merge(out_dir: str | Path) -> MergeSummary | None:
    """Merge when every shard has finished and no other shard has already merged these very shard
    results (two shards finishing together both see the run complete; only the first merges),
    else None (logged)."""
    out_dir = Path(out_dir)
    try:
        with _MergeLock(out_dir):
            return _merge_locked(out_dir, once=True)
    except ShardsIncomplete as e:
        log.info("%s", e)
        return None


MERGED_MARK = ".merged"


def _merge_locked(out_dir: Path, once: bool = False) -> MergeSummary | None:
    manifests = _read_manifests(out_dir)
    if not manifests:
        raise ShardsIncomplete(f"{out_dir}: no finished shard yet (no {SHARDS_DIR}/I-of-N/{MANIFEST_NAME})")
    newest = max(manifests, key=lambda m: str(m.get("finished", "")))
    n, key = newest["shard"][1], newest.get("inputs")
    group = {m["shard"][0]: m for m in manifests if m["shard"][1] == n and m.get("inputs") == key}
    others = len(manifests) - len(group)
    if others:
        log.warning("%s: %d shard file(s) of another run (other inputs or shard count) are ignored", out_dir, others)
    missing = [i for i in range(n) if i not in group]
    if missing:
        raise ShardsIncomplete(f"{out_dir}: {len(group)} of {n} shards have finished; waiting for shard(s) "
                               + ", ".join(f"{i}/{n}" for i in missing[:20]) + (" ..." if len(missing) > 20 else ""))
    if len({(tuple(m.get("formats") or ()), m.get("settings")) for m in group.values()}) > 1:
        raise InputError(f"{out_dir}: the {n} shards ran with different settings or formats; rerun them alike "
                         "(with --resume, finished images are kept)")
    items = sorted((x for m in group.values() for x in m["items"]), key=lambda x: x["position"])
    num = int(newest.get("num_inputs", len(items)))
    if [x["position"] for x in items] != list(range(num)):
        raise InputError(f"{out_dir}: the shard files do not cover the {num} inputs exactly once; rerun the shards")
    mark = json.dumps({"inputs": key, "shards": n, "finished": sorted((i, str(m.get("run_id") or m.get("finished", ""))) for i, m in group.items())})
    mark_path = out_dir / SHARDS_DIR / MERGED_MARK
    if once and mark_path.is_file() and export.read_regular_bytes(mark_path).decode("utf-8", "replace") == mark:
        log.info("%s: these shards were already merged by another shard", out_dir)
        return None
    latest = _latest_records(out_dir)
    ours = {x["resolved"] for x in items}

    summary = MergeSummary(out_dir=out_dir, shards=n, total=num)
    records, errors = [], []
    old_index = export.read_jsonl(out_dir / INDEX_NAME) if (out_dir / INDEX_NAME).is_file() else []
    records += [r for r in old_index if _record_key(r) not in ours]
    old_errors = export.read_jsonl(out_dir / ERRORS_NAME) if (out_dir / ERRORS_NAME).is_file() else []
    errors += [r for r in old_errors if _record_key(r) not in ours]
    for x in items:
        rec = latest.get(x["resolved"])
        if rec is None:
            rec = {"image": x["image"], "resolved": x["resolved"], "name": x["name"], "status": "error",
                   "error": "no record of this image in its shard's index", "type": "InputError", "finished": _now()}
        records.append(rec)
        if rec.get("status") == "ok":
            summary.done += 1
        else:
            reason = str(rec.get("error") or "failed")
            summary.failed[str(rec.get("image", x["image"]))] = reason
            errors.append({k: rec.get(k) for k in ("image", "resolved", "name", "error", "type", "finished")})
    export.write_jsonl_index(out_dir / INDEX_NAME, records)
    if errors:
        export.write_jsonl_index(out_dir / ERRORS_NAME, errors)
    else:
        export.remove_outputs([out_dir / ERRORS_NAME])
    run_items = [_Item(Path(x["image"]), x["name"], x["position"], x["resolved"]) for x in items]
    summary.run_outputs = write_run_outputs(out_dir, run_items, newest.get("formats") or ())
    export.atomic_write_text(mark_path, mark)
    log.info("merged %d shards of %s: %d images, %d failed", n, out_dir, summary.done, len(summary.failed))
    return summary
