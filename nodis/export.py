"""Every output format of a scene graph, with atomic writes. Shared by the CLI and the viewer.

Per-graph formats live in :data:`FORMATS` (name -> :class:`FormatSpec` ``(suffix, writer)``);
:func:`save_graph` writes one of them (format inferred from the file name when not given).
Multi-image files (Visual Genome ``scene_graphs.json``, the Scene-Graph-Benchmark
``custom_prediction.json`` pair, a JSON-lines run index) have their own writers and
:func:`save_batch`. Field-by-field documentation with examples: ``docs/formats.md``.

Every file is written atomically: a temporary file in the destination folder, flushed and fsynced,
then ``os.replace``; a failure removes the temporary file, leaves any older file untouched and
raises :class:`~nodis.errors.ExportError` naming the path and the reason.
"""
from __future__ import annotations

import csv
import errno
import io
import json
import logging
import math
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .errors import ExportError, InputError
from .graph import ObjectNode, Relation, SceneGraph

log = logging.getLogger(__name__)

__all__ = [
    "FORMATS", "BATCH_FORMATS", "FormatSpec", "save_graph", "save_batch", "format_from_path", "output_path",
    "atomic_write_bytes", "atomic_write_text", "append_jsonl", "write_jsonl_index", "read_jsonl",
    "graph_to_json", "to_vg_scene_graph", "write_vg_scene_graphs", "read_vg_scene_graphs",
    "vg_to_ground_truth", "sgb_prediction", "write_sgb", "read_sgb", "graphml_bytes", "read_graphml",
    "node_link_dict", "read_node_link", "triplets_csv", "load_image_for", "example_scene_graph", "strip_graphs",
    "PAPER_TIMES", "output_names", "unique_names", "name_key", "RUN_FILE_NAMES", "clean_stale_temp",
    "new_file_mode", "temp_file", "fsync_folder", "save_formats", "remove_outputs", "read_regular_bytes",
    "write_history", "write_history_csv", "histories_csv", "read_histories", "HISTORY_CSV_COLUMNS",
]

# ------------------------------------------------------------------------------------ atomic writes
_UMASK = os.umask(0)
os.umask(_UMASK)


def _reason(e: BaseException) -> str:
    if isinstance(e, OSError):
        if e.errno == errno.ENOSPC:
            return "the disk is full"
        if e.errno in (errno.EACCES, errno.EPERM):
            return "permission denied (choose a folder you can write to)"
        if e.errno == errno.EROFS:
            return "the file system is read-only"
        if e.errno == errno.ENOENT:
            return "the folder does not exist"
        if e.errno == errno.EISDIR:
            return "a folder of that name exists"
        if e.errno == errno.ENOTDIR:
            return "a part of the path is a file, not a folder"
        return e.strerror or str(e)
    return str(e) or type(e).__name__


def new_file_mode(path: str | Path) -> int:
    """The permission bits a file written at ``path`` gets: those of the file it replaces, else
    ``0o666`` less the process umask (what ``open()`` would give; ``mkstemp`` would give 0600)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


def _try_lock(fd: int) -> bool:
    """An exclusive, non-blocking ``flock`` on ``fd``: True when taken (or when the platform has no
    ``flock``), False when another open file holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; temporary files are cleaned by age only
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        return True  # a file system without locks: fall back to the age rule


def temp_file(path: Path) -> tuple[int, str]:
    """A new temporary file next to ``path`` (``.NAME.XXXXXXXX.tmp``), exclusively locked while the
    returned descriptor is open, so that :func:`clean_stale_temp` never removes a file that a live
    process is writing. Returns ``(fd, temporary path)``; raises ``OSError``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else ".")
    _try_lock(fd)
    return fd, tmp


#: Temporary files younger than this are never removed (the moment between creating and locking one).
TEMP_GRACE_SECONDS = 30.0
_TEMP_RE = re.compile(r"^\.?(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")


def clean_stale_temp(folder: str | Path, names: Iterable[str] | None = None, *,
                     suffixes: Sequence[str] | None = None, grace: float = TEMP_GRACE_SECONDS) -> list[Path]:
    """Remove temporary files that killed writers left in ``folder`` (``.NAME.XXXXXXXX.tmp`` of
    :func:`temp_file`, and the older ``NAME.XXXXXXXX.tmp`` of checkpoints) and return them.

    Only files for the given output ``names`` (either form), or hidden ones whose ``NAME`` ends with
    one of ``suffixes``, are considered, so unrelated files are never touched. A file is removed only when it is a regular
    file, older than ``grace`` seconds and not locked by a live writer. Problems are logged, never
    raised."""
    import time

    folder = Path(folder)
    wanted = set(names) if names is not None else None
    sfx = tuple(s.lower() for s in suffixes) if suffixes else ()
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for e in entries:
        m = _TEMP_RE.match(e.name)
        if not m:
            continue
        inner = m.group("name")
        while True:  # the temporary file of a temporary file
            m2 = _TEMP_RE.match(inner)
            if not m2:
                break
            inner = m2.group("name")
        if wanted is not None:
            if inner not in wanted:
                continue
        elif not (sfx and e.name.startswith(".") and inner.lower().endswith(sfx)):
            continue
        try:
            st = e.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < grace:
                continue
            fd = os.open(e.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue
        try:
            if not _try_lock(fd):
                continue
            os.unlink(e.path)
            removed.append(Path(e.path))
        except OSError as err:
            log.debug("cannot remove the stale temporary file %s: %s", e.path, err)
        finally:
            os.close(fd)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run in %s", len(removed), folder)
    return removed


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, ``os.replace``).

    Raises :class:`ExportError` (path and reason) when the folder is missing or unwritable, the disk
    is full, ...; then no temporary file is left and an existing file at ``path`` is unchanged. The
    file gets the mode of the file it replaces, else ``0o666`` less the umask. The temporary file is
    locked while it is written (see :func:`clean_stale_temp`).
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ExportError(f"cannot write {path}: the folder {parent} does not exist (create it first)")
    if path.is_dir():
        raise ExportError(f"cannot write {path}: a folder of that name exists")
    try:
        fd, tmp = temp_file(path)
    except OSError as e:
        raise ExportError(f"cannot write {path}: {_reason(e)}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, new_file_mode(path))
            os.replace(tmp, path)  # still locked: the lock goes with the file descriptor
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, (OSError, ValueError, TypeError)):
            raise ExportError(f"cannot write {path}: {_reason(e)}") from e
        raise
    fsync_folder(parent)
    return path


def fsync_folder(folder: str | Path) -> None:
    """Make renames in ``folder`` durable; not possible everywhere (e.g. Windows), never fatal."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 ``text`` (newlines written as given)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "tolist"):  # numpy / torch scalars and arrays
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _dumps(obj: Any, indent: int | None = 2) -> str:
    try:
        return json.dumps(obj, indent=indent, default=_json_default, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise ExportError(f"cannot encode as JSON: {e}") from e


def append_jsonl(path: str | Path, record: dict[str, Any]) -> Path:
    """Append ``record`` as one complete JSON line to ``path`` (created if missing), flushed and fsynced.

    Safe to call after each image of a long run: a crash loses at most the line being written, and a
    truncated last line left by an earlier crash is closed off so the new record starts on its own line.
    """
    path = Path(path)
    line = json.dumps(record, default=_json_default, ensure_ascii=False)
    if "\n" in line:  # cannot happen with json.dumps, but a record must stay one line
        raise ExportError(f"cannot append to {path}: record is not a single line")
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: the folder {path.parent} does not exist (create it first)")
    try:
        with open(path, "ab+") as f:
            f.seek(0, os.SEEK_END)
            prefix = b""
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    prefix = b"\n"
            f.write(prefix + line.encode("utf-8") + b"\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise ExportError(f"cannot append to {path}: {_reason(e)}") from e
    return path


def write_jsonl_index(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    """Write ``records`` as JSON lines (one object per line) atomically, e.g. the index of a run:
    ``{"image": ..., "outputs": {"json": ...}, "num_objects": ..., "seconds": ...}``."""
    text = "".join(json.dumps(r, default=_json_default, ensure_ascii=False) + "\n" for r in records)
    return atomic_write_text(path, text)


def read_jsonl(path: str | Path, *, strict: bool = False) -> list[dict[str, Any]]:
    """Read a JSON-lines file of objects. A line that is not UTF-8, not valid JSON (a crash in the
    middle of an append leaves a truncated one) or not a JSON object is skipped with a warning, or
    raises :class:`InputError` naming the line with ``strict=True``. Only regular files are read."""
    path = Path(path)
    try:
        raw = read_regular_bytes(path)
    except OSError as e:
        raise InputError(f"cannot read {path}: {_reason(e)}") from e
    out = []
    for k, line in enumerate(raw.split(b"\n")):
        if not line.strip():
            continue
        try:
            rec = json.loads(line.decode("utf-8"))
            if not isinstance(rec, dict):
                raise ValueError(f"a JSON {type(rec).__name__}, not an object")
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            if strict:
                raise InputError(f"{path}, line {k + 1}: not a JSON object ({e})") from None
            log.warning("%s: skipping line %d, which is not a JSON object (%s)", path, k + 1,
                        "truncated by a crash?" if isinstance(e, json.JSONDecodeError) else e)
            continue
        out.append(rec)
    return out


def read_regular_bytes(path: str | Path, max_bytes: int | None = None) -> bytes:
    """The bytes of ``path``, which must be a regular file: a FIFO, device or socket raises
    ``OSError`` instead of blocking (the file is opened non-blocking and checked with ``fstat``).
    ``max_bytes``: refuse larger files (``OSError`` EFBIG) before reading them."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO, device or socket)", str(path))
        if max_bytes is not None and st.st_size > max_bytes:
            raise OSError(errno.EFBIG, f"file too large ({st.st_size} bytes, at most {max_bytes})", str(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            return f.read()
    finally:
        if fd >= 0:
            os.close(fd)


# ------------------------------------------------------------------------------------- nodis JSON
_NUMBER_LIST = re.compile(r"\[\n[\s\d.eE+\-,]*?\n\s*\]")


def _inline_number_lists(text: str) -> str:
    """Put every list of plain numbers of an indented JSON text on one line (boxes, distributions).
    Only matches that span raw newlines are touched, and JSON strings never contain raw newlines."""
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(0)[1:-1].split(",")) + "]", text)


def graph_to_json(graph: SceneGraph, indent: int | None = 2) -> str:
    """The ``nodis.scene_graph/1`` JSON of ``graph``: the data of ``graph.to_json``, indented, with
    number lists (boxes, score distributions) kept on one line; numpy scalars are accepted."""
    text = _dumps(graph.to_dict(), indent=indent)
    return (_inline_number_lists(text) if indent else text) + "\n"


def write_json(graph: SceneGraph, path: str | Path, **_: Any) -> Path:
    """nodis scene-graph JSON (schema nodis.scene_graph/1), lossless."""
    return atomic_write_text(path, graph_to_json(graph))


# --------------------------------------------------------------------------------- Visual Genome
def _round(v: float) -> int:
    return int(math.floor(float(v) + 0.5))


def to_vg_scene_graph(graph: SceneGraph, image_id: int, *, first_object_id: int = 1,
                      first_relationship_id: int = 1) -> dict[str, Any]:
    """One entry of a Visual Genome ``scene_graphs.json``.

    Objects: ``x, y`` = rounded top-left corner, ``w = round(x2 - x1)``, ``h = round(y2 - y1)`` (integer
    pixels of the original image), ``names = [name]``, ``synsets = []``; ids count up from
    ``first_object_id`` / ``first_relationship_id``. Relationships keep the graph's rank order.
    Scores are not part of the VG format (use the nodis JSON for them). When the graph knows its
    image, the entry also names it (``"image": file name``), so entries can be matched to files
    (the viewer's ground-truth loader does) whatever the ``image_id``.
    """
    obj_id: dict[int, int] = {}
    objects = []
    for k, o in enumerate(graph.objects):
        x1, y1, x2, y2 = o.box
        oid = first_object_id + k
        obj_id[o.index] = oid
        objects.append({"object_id": oid, "x": _round(x1), "y": _round(y1), "w": max(0, _round(x2 - x1)),
                        "h": max(0, _round(y2 - y1)), "names": [o.name], "synsets": []})
    rels = []
    for r in graph.relations:
        if r.subject not in obj_id or r.object not in obj_id:
            raise ExportError(f"relation {r.name!r} refers to object {r.subject} or {r.object}, "
                              "which is not in the graph")
        rels.append({"relationship_id": first_relationship_id + len(rels), "predicate": r.name, "synsets": [],
                     "subject_id": obj_id[r.subject], "object_id": obj_id[r.object]})
    entry: dict[str, Any] = {"image_id": int(image_id)}
    if graph.image:
        entry["image"] = Path(str(graph.image)).name
    entry.update(objects=objects, relationships=rels)
    return entry


def vg_image_ids(images: Sequence[str | Path | None]) -> list[int]:
    """Image ids for a VG ``scene_graphs.json``: the file stems when every image has a distinct
    integer stem (Visual Genome's ``2343.jpg`` -> 2343), else 1..n in order."""
    stems = [Path(str(p)).stem if p else "" for p in images]
    if stems and all(s.isdigit() for s in stems):
        ids = [int(s) for s in stems]
        if len(set(ids)) == len(ids):
            return ids
    return list(range(1, len(stems) + 1))


def vg_scene_graphs(items: Iterable[tuple[int, SceneGraph]]) -> list[dict[str, Any]]:
    """VG entries for ``(image_id, graph)`` pairs; object and relationship ids unique in the list."""
    out, next_obj, next_rel, seen = [], 1, 1, set()
    for image_id, graph in items:
        if int(image_id) in seen:
            raise ExportError(f"image_id {image_id} appears twice")
        seen.add(int(image_id))
        entry = to_vg_scene_graph(graph, image_id, first_object_id=next_obj, first_relationship_id=next_rel)
        next_obj += len(entry["objects"])
        next_rel += len(entry["relationships"])
        out.append(entry)
    return out


def write_vg_scene_graphs(path: str | Path, items: Iterable[tuple[int, SceneGraph]]) -> Path:
    """Write a Visual Genome ``scene_graphs.json`` (a JSON list, one entry per image)."""
    return atomic_write_text(path, _dumps(vg_scene_graphs(items), indent=None) + "\n")


def write_vg(graph: SceneGraph, path: str | Path, *, image_id: int = 1, **_: Any) -> Path:
    """Visual Genome scene_graphs.json (a list with this one image; integer x, y, w, h boxes)."""
    return write_vg_scene_graphs(path, [(image_id, graph)])


def _need(d: Any, key: str, kind: type | tuple, where: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise InputError(f"{where}: missing field {key!r}")
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise InputError(f"{where}: field {key!r} must be {names}, got {type(v).__name__}")
    return v


def read_vg_scene_graphs(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate a Visual Genome ``scene_graphs.json`` (a list, or one image's dict).

    Checks types of ``image_id``, ``objects[].object_id/x/y/w/h/names/synsets`` and
    ``relationships[].relationship_id/predicate/subject_id/object_id``, that ``w, h >= 0`` and that
    relationships refer to objects of the same image. Objects with a single ``name`` (some VG
    releases) are given ``names = [name]``. Raises :class:`InputError` saying where the problem is.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read {path}: {_reason(e)}") from e
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is not valid JSON: {e}") from e
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of scene graphs, got {type(data).__name__}")
    for i, img in enumerate(data):
        where = f"{path.name}[{i}]"
        _need(img, "image_id", int, where)
        ids = set()
        for k, o in enumerate(_need(img, "objects", list, where)):
            w = f"{where}.objects[{k}]"
            if isinstance(o, dict) and "names" not in o and isinstance(o.get("name"), str):
                o["names"] = [o["name"]]
            for key in ("object_id", "x", "y", "w", "h"):
                _need(o, key, int, w)
            if o["w"] < 0 or o["h"] < 0:
                raise InputError(f"{w}: negative width or height")
            names = _need(o, "names", list, w)
            if not names or not all(isinstance(n, str) for n in names):
                raise InputError(f"{w}: 'names' must be a non-empty list of strings")
            o.setdefault("synsets", [])
            _need(o, "synsets", list, w)
            ids.add(o["object_id"])
        for k, r in enumerate(_need(img, "relationships", list, where)):
            w = f"{where}.relationships[{k}]"
            _need(r, "relationship_id", int, w)
            _need(r, "predicate", str, w)
            for key in ("subject_id", "object_id"):
                if _need(r, key, int, w) not in ids:
                    raise InputError(f"{w}: {key} {r[key]} is not an object of image {img['image_id']}")
            r.setdefault("synsets", [])
    return data


def vg_to_ground_truth(entry: dict[str, Any], class_names: Sequence[str], predicate_names: Sequence[str],
                       *, strict: bool = True):
    """A :class:`nodis.render.GroundTruthView` from one (validated) VG entry, with labels looked up in
    the vocabularies (name matching is case-insensitive). ``strict=False`` drops objects and
    relationships whose names are not in the vocabulary instead of raising :class:`InputError`."""
    import numpy as np

    from .render import GroundTruthView

    cls = {n.lower(): i for i, n in enumerate(class_names) if i > 0}
    pred = {n.lower(): i for i, n in enumerate(predicate_names) if i > 0}
    boxes, labels, row = [], [], {}
    for o in entry["objects"]:
        lab = next((cls[n.lower().strip()] for n in o["names"] if n.lower().strip() in cls), None)
        if lab is None:
            if strict:
                raise InputError(f"image {entry['image_id']}: object name {o['names']!r} is not in the vocabulary")
            continue
        row[o["object_id"]] = len(boxes)
        boxes.append([o["x"], o["y"], o["x"] + o["w"], o["y"] + o["h"]])
        labels.append(lab)
    rels = []
    for r in entry["relationships"]:
        p = pred.get(r["predicate"].lower().strip())
        if p is None or r["subject_id"] not in row or r["object_id"] not in row:
            if strict:
                raise InputError(f"image {entry['image_id']}: relationship {r['predicate']!r} "
                                 "uses a predicate or object outside the vocabulary")
            continue
        rels.append([row[r["subject_id"]], row[r["object_id"]], p])
    return GroundTruthView(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(labels, dtype=np.int64),
                           np.asarray(rels, dtype=np.int64).reshape(-1, 3), list(class_names), list(predicate_names))


# ----------------------------------------------------------------------- Scene-Graph-Benchmark
def _vocab(graphs: Sequence[SceneGraph], attr: str, what: str) -> list[str]:
    names = None
    for g in graphs:
        v = getattr(g, attr)
        if v is None:
            continue
        if names is None:
            names = list(v)
        elif list(v) != names:
            raise ExportError(f"the graphs use different {what} vocabularies; export them separately")
    if names is not None:
        return names
    # no vocabulary attached: rebuild what the graphs show, unknown indices named "<what>_<i>"
    known: dict[int, str] = {}
    size = 1
    for g in graphs:
        if attr == "class_names":
            known.update({o.label: o.name for o in g.objects})
            size = max([size] + [len(o.class_scores) for o in g.objects if o.class_scores is not None])
        else:
            known.update({r.predicate: r.name for r in g.relations})
            size = max([size] + [len(r.predicate_scores) for r in g.relations if r.predicate_scores is not None])
    size = max(size, max(known, default=0) + 1)
    return ["__background__"] + [known.get(i, f"{what}_{i}") for i in range(1, size)]


def sgb_prediction(graph: SceneGraph, num_predicates: int | None = None) -> dict[str, Any]:
    """One image's entry of SGB's ``custom_prediction.json``.

    ``bbox`` (x1, y1, x2, y2, original-image pixels), ``bbox_labels``, ``bbox_scores`` sorted by object
    score (descending); ``rel_pairs`` index that sorted list; ``rel_labels``, ``rel_scores`` (the
    relation's predicate probability, which under the graph constraint is the max non-background
    probability) and ``rel_all_scores`` (the full distribution incl. background column 0; a one-hot-like
    vector holding ``predicate_score`` when the relation has no distribution) sorted by ``rel_scores``.
    """
    order = sorted(range(len(graph.objects)), key=lambda k: -graph.objects[k].score)
    objs = [graph.objects[k] for k in order]
    pos = {o.index: k for k, o in enumerate(objs)}
    width = num_predicates
    if width is None:
        width = len(graph.predicate_names) if graph.predicate_names else max(
            [len(r.predicate_scores or []) for r in graph.relations] + [r.predicate + 1 for r in graph.relations] + [1])
    rels = sorted(graph.relations, key=lambda r: -r.predicate_score)
    all_scores = []
    for r in rels:
        if r.subject not in pos or r.object not in pos:
            raise ExportError(f"relation {r.name!r} refers to an object that is not in the graph")
        if r.predicate_scores is not None:
            if len(r.predicate_scores) != width:
                raise ExportError(f"relation {r.name!r} has {len(r.predicate_scores)} predicate scores, "
                                  f"expected {width}")
            all_scores.append([float(v) for v in r.predicate_scores])
        else:
            if not 0 <= r.predicate < width:
                raise ExportError(f"predicate index {r.predicate} is outside the {width} predicates")
            v = [0.0] * width
            v[r.predicate] = float(r.predicate_score)
            all_scores.append(v)
    return {
        "bbox": [[float(c) for c in o.box] for o in objs],
        "bbox_labels": [int(o.label) for o in objs],
        "bbox_scores": [float(o.score) for o in objs],
        "rel_pairs": [[pos[r.subject], pos[r.object]] for r in rels],
        "rel_labels": [int(r.predicate) for r in rels],
        "rel_scores": [float(r.predicate_score) for r in rels],
        "rel_all_scores": all_scores,
    }


def write_sgb(folder: str | Path, graphs: Sequence[SceneGraph],
              image_paths: Sequence[str | Path] | None = None) -> list[Path]:
    """Write ``custom_prediction.json`` and ``custom_data_info.json`` (Scene-Graph-Benchmark's custom
    image output) into ``folder`` (created if missing). Keys are ``"0"``, ``"1"``, ... in the order of
    ``graphs``; ``idx_to_files`` lists ``image_paths`` (default: each graph's ``image``).

    Difference from SGB: boxes are in pixels of the *original* image (SGB's custom output keeps the
    test-resized frame, shorter side 600 / longer <= 1000).
    """
    graphs = list(graphs)
    folder = Path(folder)
    if image_paths is None:
        image_paths = [g.image or f"image_{k}" for k, g in enumerate(graphs)]
    if len(image_paths) != len(graphs):
        raise ExportError(f"write_sgb: {len(graphs)} graphs but {len(image_paths)} image paths")
    classes = _vocab(graphs, "class_names", "class")
    predicates = _vocab(graphs, "predicate_names", "predicate")
    pred = {str(k): sgb_prediction(g, len(predicates)) for k, g in enumerate(graphs)}
    info = {"idx_to_files": [str(p) for p in image_paths], "ind_to_classes": classes, "ind_to_predicates": predicates}
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create the folder {folder}: {_reason(e)}") from e
    return [atomic_write_text(folder / "custom_prediction.json", _dumps(pred, indent=None) + "\n"),
            atomic_write_text(folder / "custom_data_info.json", _dumps(info, indent=None) + "\n")]


def read_sgb(folder: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read (``custom_prediction``, ``custom_data_info``) from an SGB output folder, checking key
    names and that the per-image lists have consistent lengths."""
    folder = Path(folder)
    try:
        pred = json.loads((folder / "custom_prediction.json").read_text(encoding="utf-8"))
        info = json.loads((folder / "custom_data_info.json").read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read SGB output in {folder}: {_reason(e)}") from e
    except json.JSONDecodeError as e:
        raise InputError(f"SGB output in {folder} is not valid JSON: {e}") from e
    for key in ("idx_to_files", "ind_to_classes", "ind_to_predicates"):
        _need(info, key, list, "custom_data_info.json")
    for k, p in pred.items():
        where = f"custom_prediction.json[{k!r}]"
        lists = {key: _need(p, key, list, where) for key in
                 ("bbox", "bbox_labels", "bbox_scores", "rel_pairs", "rel_labels", "rel_scores", "rel_all_scores")}
        if not len(lists["bbox"]) == len(lists["bbox_labels"]) == len(lists["bbox_scores"]):
            raise InputError(f"{where}: bbox, bbox_labels and bbox_scores differ in length")
        if not len(lists["rel_pairs"]) == len(lists["rel_labels"]) == len(lists["rel_scores"]) == len(
                lists["rel_all_scores"]):
            raise InputError(f"{where}: rel_* lists differ in length")
        for s, o in lists["rel_pairs"]:
            if not (0 <= s < len(lists["bbox"]) and 0 <= o < len(lists["bbox"])):
                raise InputError(f"{where}: rel_pairs index a box that does not exist")
    return pred, info


def write_sgb_single(graph: SceneGraph, path: str | Path, *, image_path: str | Path | None = None, **_: Any) -> Path:
    """Scene-Graph-Benchmark custom_prediction.json + custom_data_info.json in the folder PATH."""
    write_sgb(path, [graph], None if image_path is None else [image_path])
    return Path(path)


# --------------------------------------------------------------------------------- networkx formats
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` with every character that XML 1.0 cannot hold (control characters other than tab and
    line breaks, lone surrogates, U+FFFE, U+FFFF) replaced by U+FFFD, so the document stays well-formed."""
    return _XML_INVALID.sub("\ufffd", text)


def graphml_bytes(graph: SceneGraph) -> bytes:
    """GraphML (networkx ``write_graphml``) of ``graph.to_networkx()``: a directed multigraph, node id =
    object index, boxes as scalars ``x1 y1 x2 y2``, one edge per relation with ``rank``. Characters
    XML cannot hold are replaced by U+FFFD (:func:`xml_text`); the nodis JSON keeps names exactly."""
    import networkx as nx

    g = graph.to_networkx()
    for attrs in [g.graph] + [d for _, d in g.nodes(data=True)] + [d for *_, d in g.edges(keys=True, data=True)]:
        for k, v in attrs.items():
            if isinstance(v, str):
                attrs[k] = xml_text(v)
    buf = io.BytesIO()
    try:
        nx.write_graphml(g, buf, encoding="utf-8", prettyprint=True)
    except (TypeError, nx.NetworkXError) as e:
        raise ExportError(f"cannot encode the graph as GraphML: {e}") from e
    return buf.getvalue()


def write_graphml(graph: SceneGraph, path: str | Path, **_: Any) -> Path:
    """GraphML (directed multigraph; boxes as x1, y1, x2, y2 node attributes)."""
    return atomic_write_bytes(path, graphml_bytes(graph))


def read_graphml(path: str | Path):
    """Read a GraphML file written by :func:`write_graphml` (integer node ids) as a ``networkx`` graph."""
    import networkx as nx

    try:
        return nx.read_graphml(path, node_type=int, force_multigraph=True)
    except (OSError, nx.NetworkXError, ValueError) as e:
        raise InputError(f"cannot read GraphML {path}: {e}") from e


def node_link_dict(graph: SceneGraph) -> dict[str, Any]:
    """``networkx.node_link_data(graph.to_networkx(), edges="edges")`` (the key passed explicitly: it was
    ``"links"`` before networkx 3.4)."""
    from networkx.readwrite import json_graph

    return json_graph.node_link_data(graph.to_networkx(), edges="edges")


def write_node_link(graph: SceneGraph, path: str | Path, **_: Any) -> Path:
    """networkx node-link JSON (edges under the key "edges"), e.g. for D3."""
    return atomic_write_text(path, _dumps(node_link_dict(graph), indent=2) + "\n")


def read_node_link(path: str | Path):
    """A ``networkx`` graph from a node-link JSON file written by :func:`write_node_link`."""
    from networkx.readwrite import json_graph

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return json_graph.node_link_graph(data, edges="edges")
    except (OSError, json.JSONDecodeError, KeyError) as e:
        raise InputError(f"cannot read node-link JSON {path}: {e}") from e


# ------------------------------------------------------------------------------------------- CSV
CSV_COLUMNS = ("rank", "subject_index", "subject", "predicate", "object_index", "object", "score",
               "subject_score", "predicate_score", "object_score")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def csv_text(text: str) -> str:
    """A text cell safe to open in a spreadsheet: NUL bytes (which truncate many CSV readers) become
    U+FFFD, a carriage return a line feed (the writer quotes cells holding one), and a cell that a
    spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a line
    break, as OWASP lists, or ``|`` / ``%``) gets a leading apostrophe."""
    text = text.replace("\x00", "\ufffd").replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith(_FORMULA_START):
        text = "'" + text
    return text


def triplets_csv(graph: SceneGraph) -> str:
    """The ranked triplets as CSV (header :data:`CSV_COLUMNS`; rank 1 = best). Names go through
    :func:`csv_text` (no formula injection, no NUL bytes)."""
    by_index = {o.index: o for o in graph.objects}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for k, r in enumerate(graph.relations, start=1):
        s, o = by_index.get(r.subject), by_index.get(r.object)
        if s is None or o is None:
            raise ExportError(f"relation {r.name!r} refers to an object that is not in the graph")
        w.writerow([k, r.subject, csv_text(s.name), csv_text(r.name), r.object, csv_text(o.name), f"{r.score:.6g}", f"{s.score:.6g}",
                    f"{r.predicate_score:.6g}", f"{o.score:.6g}"])
    return buf.getvalue()


def write_csv(graph: SceneGraph, path: str | Path, **_: Any) -> Path:
    """CSV of ranked triplets: rank, subject, predicate, object and their scores."""
    return atomic_write_text(path, triplets_csv(graph))


# ------------------------------------------------------------------------------ histories over t
#: Leading columns of :func:`histories_csv`; then ``class:NAME`` per class and ``predicate:NAME`` per predicate.
HISTORY_CSV_COLUMNS = ("kind", "index", "subject", "object", "t", "present", "label", "name", "score", "rank",
                       "subject_label", "subject_name", "object_label", "object_name", "x1", "y1", "x2", "y2")
_SCALAR_LIST = re.compile(r"\[\n[\s\d.eE+\-,a-z]*?\n\s*\]")  # numbers, true/false/null (never strings)


def _histories_of(histories: Any, trajectory: Any, top_k: int | None, fmt: str):
    if histories is not None:
        return histories
    if trajectory is None:
        raise ExportError(f"the {fmt} format needs the model's trajectory over t (pass histories=traj.histories() "
                          "or trajectory=traj); a saved scene graph has one time only")
    return trajectory.histories(top_k=top_k)


def write_history(graph: SceneGraph, path: str | Path, *, histories: Any = None, trajectory: Any = None,
                  top_k: int | None = None, **_: Any) -> Path:
    """Every object's and relation's probabilities over the ODE grid (``nodis.history/1`` JSON)."""
    h = _histories_of(histories, trajectory, top_k, "history")
    text = _SCALAR_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(0)[1:-1].split(",")) + "]",
                            _dumps(h.to_dict(), indent=2))
    return atomic_write_text(path, text + "\n")


def read_histories(path: str | Path):
    """Read a ``nodis.history/1`` file (``IMG.history.json``) as a :class:`nodis.trajectory.Histories`."""
    from .trajectory import Histories

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read {path}: {_reason(e)}") from e
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is not valid JSON: {e}") from e
    return Histories.from_dict(data)


def histories_csv(h: Any) -> str:
    """One row per object and grid time, then one per relation (ordered pair) and grid time: the
    columns :data:`HISTORY_CSV_COLUMNS`, then the full class distribution (``class:NAME``, object
    rows) and predicate distribution (``predicate:NAME``, relation rows). Empty cells: not
    applicable, or the relation is not available at that time. Names go through :func:`csv_text`."""
    def num(v: float) -> str:
        return "" if v != v else f"{v:.6g}"

    cn, pn = list(h.class_names), list(h.predicate_names)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(HISTORY_CSV_COLUMNS) + [csv_text(f"class:{n}") for n in cn] + [csv_text(f"predicate:{n}") for n in pn])
    no_cls, no_pred = [""] * len(cn), [""] * len(pn)
    for k, i in enumerate(h.object_ids.tolist()):
        for g, t in enumerate(h.times.tolist()):
            lab = int(h.object_labels[g, k])
            w.writerow(["object", i, "", "", f"{t:g}", int(bool(h.object_present[g, k])), lab, csv_text(cn[lab]),
                        num(float(h.object_scores[g, k])), "", "", "", "", ""]
                       + [num(float(v)) for v in h.object_boxes[g, k]]
                       + [num(float(v)) for v in h.object_probs[g, k]] + no_pred)
    col = {int(i): k for k, i in enumerate(h.object_ids.tolist())}
    for r, (s_, o_) in enumerate(h.pairs.tolist()):
        ks, ko = col[s_], col[o_]
        for g, t in enumerate(h.times.tolist()):
            ok = bool(h.relation_available[g, r])
            p = int(h.relation_predicates[g, r])
            sl, ol = int(h.object_labels[g, ks]), int(h.object_labels[g, ko])
            w.writerow(["relation", "", s_, o_, f"{t:g}", int(ok), p if ok else "", csv_text(pn[p]) if ok else "",
                        num(float(h.relation_scores[g, r])), int(h.relation_ranks[g, r]) if ok else "",
                        sl, csv_text(cn[sl]), ol, csv_text(cn[ol]), "", "", "", ""] + no_cls
                       + ([num(float(v)) for v in h.relation_probs[g, r]] if ok else no_pred))
    return buf.getvalue()


def write_history_csv(graph: SceneGraph, path: str | Path, *, histories: Any = None, trajectory: Any = None,
                      top_k: int | None = None, **_: Any) -> Path:
    """Every object's and relation's probabilities over the ODE grid as CSV, one row per item and time."""
    return atomic_write_text(path, histories_csv(_histories_of(histories, trajectory, top_k, "history-csv")))


# ------------------------------------------------------------------------------------------ images
def load_image_for(graph: SceneGraph, image: Any = None):
    """The picture to draw ``graph`` on: ``image`` (PIL image, array or path), else ``graph.image``.

    A file is opened with its EXIF orientation applied when that matches ``graph.image_size`` (else
    as stored). Raises :class:`ExportError` when there is no usable image.
    """
    from PIL import Image, ImageOps

    from .render import _as_image

    if image is None:
        image = graph.image
    if image is None:
        raise ExportError("this format draws on the picture: pass image=<PIL image or path>")
    if isinstance(image, (str, Path)):
        try:
            with Image.open(image) as im:
                im.load()
                turned = ImageOps.exif_transpose(im)
                pick = turned if tuple(turned.size) == tuple(graph.image_size) else im
                return pick.convert("RGB")
        except (OSError, ValueError) as e:
            raise ExportError(f"cannot open the image {image}: {e}") from e
    try:
        return _as_image(image)
    except InputError as e:
        raise ExportError(str(e)) from e


DRAW_TOP_K = 20


def _png(im) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def write_png(graph: SceneGraph, path: str | Path, *, image: Any = None, top_k: int | None = DRAW_TOP_K,
              show_scores: bool = True, gt: Any = None, highlight: Any = None,
              labels: dict[int, str] | None = None, **_: Any) -> Path:
    """PNG of the image with boxes and labels (needs image=...). Like the graph drawings, only the
    objects of the best ``top_k`` relations are drawn (default 20; None draws every object)."""
    from .render import draw_boxes, focus_graph

    im = load_image_for(graph, image)
    drawn = draw_boxes(im, focus_graph(graph, top_k), show_scores=show_scores, gt=gt, highlight=highlight,
                       labels=labels)
    return atomic_write_bytes(path, _png(drawn))


#: Relations drawn by the graph-drawing writers unless ``top_k`` says otherwise (``None``: all). An
#: SGDet graph ranks every ordered pair (64 objects: 4032 relations); drawing them all helps nobody.


def _graph_writer(fmt: str) -> Callable[..., Path]:
    def write(graph: SceneGraph, path: str | Path, *, top_k: int | None = DRAW_TOP_K, layout: dict | None = None,
              size: tuple[int, int] = (800, 600), show_scores: bool = False, gt: Any = None,
              title: str | None = None, labels: dict[int, str] | None = None, **_: Any) -> Path:
        from .render import draw_graph

        data = draw_graph(graph, layout=layout, top_k=top_k, fmt=fmt, size=size, show_scores=show_scores,
                          gt=gt, title=title, labels=labels)
        return atomic_write_bytes(path, data)

    write.__name__ = f"write_graph_{fmt}"
    write.__doc__ = (f"{fmt.upper()} drawing of the scene graph (nodes coloured like their boxes, labelled "
                     f"arrows; top_k={DRAW_TOP_K} relations unless given).")
    return write


write_graph_png = _graph_writer("png")
write_graph_svg = _graph_writer("svg")
write_graph_pdf = _graph_writer("pdf")


#: The ODE times of the paper's Fig. 4.
PAPER_TIMES = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5)


def strip_graphs(trajectory: Any, times: Sequence[float] | None = None) -> list[SceneGraph]:
    """``trajectory.graph_at(t)`` for each ``t`` of ``times`` (default: :data:`PAPER_TIMES` that lie on
    the trajectory's solved grid ``trajectory.times``)."""
    if times is None:
        grid = getattr(trajectory, "times", None)
        if grid is not None and len(grid):
            lo, hi = float(min(grid)), float(max(grid))
            times = [t for t in PAPER_TIMES if lo - 1e-9 <= t <= hi + 1e-9] or [float(getattr(trajectory, "t_end", 1.5))]
        else:
            times = PAPER_TIMES
    return [trajectory.graph_at(float(t)) for t in times]


def write_strip(graph: SceneGraph, path: str | Path, *, image: Any = None,
                graphs: Sequence[SceneGraph] | None = None, trajectory: Any = None,
                times: Sequence[float] | None = None, t_end: float = 1.5, top_k: int | None = 10,
                gt: Any = None, orientation: str = "columns", labels: Sequence[dict[int, str] | None] | None = None,
                **_: Any) -> Path:
    """PNG t-strip (paper Fig. 4): image + graph per ODE time, t_end framed (image=, graphs= or trajectory=)."""
    from .render import draw_t_strip

    if graphs is None and trajectory is not None:
        graphs = strip_graphs(trajectory, times)
        t_end = float(getattr(trajectory, "t_end", t_end))
    if not graphs:
        graphs = [graph]
    im = load_image_for(graph, image)
    if labels is not None and len(labels) != len(graphs):
        labels = None  # names for other graphs than these
    strip = draw_t_strip(im, list(graphs), t_end=t_end, top_k=top_k, gt=gt, orientation=orientation, labels=labels)
    return atomic_write_bytes(path, _png(strip))


# --------------------------------------------------------------------------------------- registry
class FormatSpec(NamedTuple):
    """A per-graph output format: file-name ``suffix`` and ``writer(graph, path, **kwargs) -> Path``.
    The writer's docstring is the one-line description shown in ``--help``."""

    suffix: str
    writer: Callable[..., Path]

    @property
    def description(self) -> str:
        return (self.writer.__doc__ or "").strip().splitlines()[0]


#: name -> FormatSpec. Suffixes are unique, so a file name identifies its format (longest suffix wins).
FORMATS: dict[str, FormatSpec] = {
    "json": FormatSpec(".json", write_json),
    "vg": FormatSpec(".vg.json", write_vg),
    "sgb": FormatSpec(".sgb", write_sgb_single),
    "graphml": FormatSpec(".graphml", write_graphml),
    "nodelink": FormatSpec(".nodelink.json", write_node_link),
    "csv": FormatSpec(".csv", write_csv),
    "png": FormatSpec(".png", write_png),
    "graph-png": FormatSpec(".graph.png", write_graph_png),
    "svg": FormatSpec(".svg", write_graph_svg),
    "pdf": FormatSpec(".pdf", write_graph_pdf),
    "strip": FormatSpec(".strip.png", write_strip),
    "history": FormatSpec(".history.json", write_history),
    "history-csv": FormatSpec(".history.csv", write_history_csv),
}

#: Formats that collect many images in one output (see :func:`save_batch`).
BATCH_FORMATS = ("vg", "sgb", "jsonl")

# ------------------------------------------------------------------------------------- output names
#: File names of the run-level outputs (``nodis predict`` and :func:`save_batch`); no per-image
#: output may take one of them.
RUN_FILE_NAMES = ("index.jsonl", "errors.jsonl", "scene_graphs.json", "scene_graphs.jsonl",
                  "custom_prediction.json", "custom_data_info.json")
#: Longest output name in UTF-8 bytes: with the longest format suffix and the temporary-file decoration
#: of :func:`atomic_write_bytes` (``.NAME.XXXXXXXX.tmp``) it stays far below the 255-byte file-name limit.
MAX_NAME_BYTES = 200


def name_key(name: str) -> str:
    """The identity of an output name on any file system: NFC-normalised and case-folded (macOS and
    Windows compare names case-insensitively, macOS also up to Unicode normalisation)."""
    return unicodedata.normalize("NFC", name).casefold()


def _format_infixes() -> tuple[str, ...]:
    """Name endings that would make ``NAME + suffix`` of one format equal to ``NAME2 + suffix2`` of
    another: ``x.graph`` + ``.png`` is ``x`` + ``.graph.png`` (so ``.vg``, ``.nodelink``, ``.graph``,
    ``.strip``)."""
    suffixes = [s.suffix.lower() for s in FORMATS.values()]
    out = {a[: -len(b)] for a in suffixes for b in suffixes if a != b and a.endswith(b)}
    return tuple(sorted(out))


def _reserved_keys() -> set[str]:
    suffixes = [s.suffix.lower() for s in FORMATS.values()]
    out = set()
    for f in RUN_FILE_NAMES:
        for s in suffixes + [".jsonl"]:
            if f.endswith(s):
                out.add(name_key(f[: -len(s)]))
    return out


def _clean_name(name: str) -> str:
    """``name`` made usable as an output name: path separators and control characters replaced by
    ``_``, a leading dot (hidden, and the prefix of temporary files) prefixed with ``_``, a name
    ending like a format infix (``x.graph``) given ``_`` instead of its last dot, and a name too long
    for a file system cut and marked with a hash of the whole name. The result may still collide
    with another name; :func:`unique_names` resolves that."""
    import hashlib

    name = "".join("_" if (c in "/\\" or unicodedata.category(c) in ("Cc", "Cs") or c in "\ufffe\uffff")
                   else c for c in name).strip()
    if not name or set(name) <= {"."}:
        name = "image" + name.replace(".", "_")
    if name.startswith("."):
        name = "_" + name
    low = name_key(name)
    for infix in _format_infixes():
        if low.endswith(infix):
            name = name[: -len(infix)] + "_" + name[-len(infix) + 1:]
            break
    raw = name.encode("utf-8")
    if len(raw) > MAX_NAME_BYTES:
        digest = hashlib.sha1(raw).hexdigest()[:10]
        name = raw[: MAX_NAME_BYTES - 11].decode("utf-8", "ignore") + "~" + digest
    return name


def unique_names(preferred: Sequence[str]) -> list[str]:
    """One output name per entry of ``preferred``, all distinct *by construction*: each name is
    cleaned (:func:`_clean_name`) and, when its key (:func:`name_key`) is already taken by an
    earlier entry or belongs to a run-level file (:data:`RUN_FILE_NAMES`), numbered ``_2``, ``_3``
    ... until it is free. Then ``NAME + suffix`` is a distinct file for every name and every format
    of :data:`FORMATS` (names never end in a format infix such as ``.graph``), and never a run-level
    file. The result depends only on ``preferred`` (in order)."""
    taken = _reserved_keys()
    out = []
    for want in preferred:
        base = _clean_name(str(want))
        name, k = base, 1
        while name_key(name) in taken:
            k += 1
            tail = f"_{k}"
            cut = base
            while len((cut + tail).encode("utf-8")) > MAX_NAME_BYTES:
                cut = cut[:-1]
            name = cut + tail
        taken.add(name_key(name))
        out.append(name)
    return out


def output_names(paths: Sequence[str | Path]) -> list[str]:
    """A distinct output name per input path (``nodis predict``, :func:`save_batch`, the viewer's
    batch export).

    Preferred name: the file stem; when several paths share a stem (compared as :func:`name_key`)
    or it is a run-level name, the file name with its extension (``x.jpg``, ``x.png``) or the stem
    prefixed with enough parent folders (``a__x``, ``b__x``), whichever comes first. The preferred
    names then go through :func:`unique_names`, which guarantees that the names (and every output
    file ``NAME + suffix``) are distinct whatever the paths: ``a/x.jpg``, ``b/x.jpg``, ``a__x.jpg``
    give ``a__x``, ``b__x``, ``a__x_2``. Depends only on ``paths`` (in order)."""
    paths = [Path(p) for p in paths]
    stems = [p.stem for p in paths]
    reserved = _reserved_keys()
    count: dict[str, int] = {}
    for s in stems:
        count[name_key(s)] = count.get(name_key(s), 0) + 1
    names = list(stems)
    groups: dict[str, list[int]] = {}
    for k, s in enumerate(stems):
        if count[name_key(s)] > 1 or name_key(s) in reserved or not s:
            groups.setdefault(name_key(s), []).append(k)
    for members in groups.values():
        depth = max(len(paths[k].parent.parts) for k in members)
        chosen = None
        for d in range(depth + 1):
            for with_ext in (False, True):
                if d == 0 and not with_ext:
                    continue
                cand = []
                for k in members:
                    parent = paths[k].parent.parts
                    parts = [x for x in parent[len(parent) - d:] if x not in ("/", "\\")]
                    base = paths[k].name if with_ext else paths[k].stem
                    cand.append("__".join([x.replace(":", "") for x in parts] + [base]))
                keys = [name_key(c) for c in cand]
                if len(set(keys)) == len(cand) and not any(c in reserved for c in keys):
                    chosen = cand
                    break
            if chosen:
                break
        for k, c in zip(members, chosen or [paths[k].name for k in members]):
            names[k] = c
    return unique_names(names)


def format_from_path(path: str | Path) -> str:
    """The format name whose suffix ends ``path`` (the longest match: ``x.vg.json`` is ``vg``)."""
    name = Path(path).name.lower()
    best = max((f for f, spec in FORMATS.items() if name.endswith(spec.suffix)),
               key=lambda f: len(FORMATS[f].suffix), default=None)
    if best is None:
        raise ExportError(f"cannot tell the format of {path} from its name; use one of the suffixes "
                          + ", ".join(f"{s.suffix} ({f})" for f, s in FORMATS.items()) + " or pass format=")
    return best


def output_path(stem: str | Path, format: str) -> Path:
    """``stem`` plus the suffix of ``format``: ``output_path("out/img1", "graph-png")`` -> ``out/img1.graph.png``."""
    spec = _spec(format)
    stem = Path(stem)
    return stem.with_name(stem.name + spec.suffix)


def _spec(format: str) -> FormatSpec:
    try:
        return FORMATS[format.lower()]
    except (KeyError, AttributeError):
        raise ExportError(f"unknown format {format!r}; choose from {', '.join(FORMATS)}") from None


def save_graph(graph: SceneGraph, path: str | Path, format: str | None = None, **kwargs: Any) -> Path:
    """Write ``graph`` to ``path`` as ``format`` (a :data:`FORMATS` name; default: from the suffix,
    e.g. ``.json`` nodis JSON, ``.graphml``, ``.png`` annotated image, ``.svg`` graph drawing).

    Keyword arguments go to the writer and are ignored by writers that do not use them: ``image``
    (png, strip), ``top_k``, ``gt``, ``show_scores``, ``layout``, ``size``, ``title`` (drawings),
    ``graphs`` / ``trajectory`` + ``times`` (strip), ``image_id`` (vg), ``image_path`` (sgb).
    Returns the path written (for ``sgb``: the folder).
    """
    fmt = format_from_path(path) if format is None else format
    return _spec(fmt).writer(graph, Path(path), **kwargs)


def remove_outputs(paths: Iterable[str | Path]) -> None:
    """Remove the files (or ``sgb`` folders) ``paths`` where they exist; never raises."""
    import shutil

    for p in paths:
        p = Path(p)
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
        except OSError as e:
            log.warning("cannot remove %s: %s", p, _reason(e))


def save_formats(graph: SceneGraph, stem: str | Path, formats: Sequence[str],
                 options: dict[str, dict[str, Any]] | None = None, **kwargs: Any) -> dict[str, Path]:
    """Write ``graph`` in every format of ``formats`` to ``stem + suffix``, all or none.

    ``kwargs`` go to every writer, ``options[format]`` to one. When one format fails, the files of
    the whole set (those written by this call and those an earlier run left at the same paths) are
    removed before the error is raised, so no partial set stays behind looking complete. Returns
    ``{format: path}``."""
    stem = Path(stem)
    targets = {f: output_path(stem, f) for f in formats}
    written: dict[str, Path] = {}
    try:
        for f, path in targets.items():
            kw = dict(kwargs)
            kw.update((options or {}).get(f, {}))
            written[f] = save_graph(graph, path, format=f, **kw)
    except BaseException:
        remove_outputs(targets.values())
        raise
    return written


def save_batch(graphs: Sequence[SceneGraph], folder: str | Path, format: str, *,
               image_paths: Sequence[str | Path] | None = None, stems: Sequence[str] | None = None,
               image_ids: Sequence[int] | None = None, **kwargs: Any) -> list[Path]:
    """Write many graphs into ``folder`` (created if missing).

    ``vg``: one ``scene_graphs.json`` (``image_ids`` default :func:`vg_image_ids`: the integer file stems,
    else 1..n; each entry names its image file); ``sgb``: ``custom_prediction.json``
    + ``custom_data_info.json``; ``jsonl``: ``scene_graphs.jsonl``, one nodis graph per line; any other
    :data:`FORMATS` name: one file per graph named ``<stem><suffix>`` (``stems`` default:
    :func:`output_names` of the image paths, distinct whatever the paths; given ``stems`` that would
    overwrite each other raise :class:`ExportError`). ``image_paths`` default to each graph's ``image``.
    """
    graphs = list(graphs)
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create the folder {folder}: {_reason(e)}") from e
    if image_paths is not None and len(image_paths) != len(graphs):
        raise ExportError(f"{len(graphs)} graphs but {len(image_paths)} image paths")
    paths = list(image_paths) if image_paths is not None else [g.image for g in graphs]
    fmt = format.lower()
    if fmt == "vg":
        ids = list(image_ids) if image_ids is not None else vg_image_ids(paths)
        return [write_vg_scene_graphs(folder / "scene_graphs.json", zip(ids, graphs))]
    if fmt == "sgb":
        return write_sgb(folder, graphs, [p or f"image_{k}" for k, p in enumerate(paths)])
    if fmt == "jsonl":
        return [write_jsonl_index(folder / "scene_graphs.jsonl", (g.to_dict() for g in graphs))]
    spec = _spec(fmt)
    if stems is None:
        stems = output_names([Path(p) if p else Path(f"image_{k}") for k, p in enumerate(paths)])
    else:
        stems = [str(s) for s in stems]
        fixed = unique_names(stems)
        if fixed != stems:
            bad = [s for s, f in zip(stems, fixed) if s != f]
            raise ExportError(f"the names {', '.join(map(repr, bad[:5]))} would overwrite other outputs or are not "
                              f"usable file names (names must differ case-insensitively, not be a run-level name "
                              f"and not end in a format infix); e.g. use {', '.join(map(repr, fixed[:5]))}, or "
                              "leave stems=None")
    if len(stems) != len(graphs):
        raise ExportError(f"{len(graphs)} graphs but {len(stems)} names")
    out = []
    for g, s, p in zip(graphs, stems, paths):
        kw = dict(kwargs)
        if fmt in ("png", "strip") and "image" not in kw and p:
            kw["image"] = p
        out.append(spec.writer(g, output_path(folder / s, fmt), **kw))
    return out


# ------------------------------------------------------------------------------------------ example
def example_scene_graph() -> SceneGraph:
    """A small hand-made scene graph (VG150 vocabulary, 640x480 image) used by the docs and tests:
    a man riding a horse, wearing a hat and a shirt, with a tree behind. Triplet score =
    subject score * object score * predicate score."""
    from .vocab import vg150

    vocab = vg150()

    def obj(i: int, name: str, box: tuple[float, float, float, float], score: float) -> ObjectNode:
        return ObjectNode(i, box, vocab.class_index(name), name, score)

    objects = [
        obj(0, "man", (212.4, 61.0, 371.6, 300.2), 0.94),
        obj(1, "horse", (150.0, 180.5, 480.3, 455.9), 0.91),
        obj(2, "hat", (262.0, 40.2, 330.8, 92.7), 0.83),
        obj(3, "shirt", (238.1, 110.0, 352.5, 215.4), 0.77),
        obj(4, "tree", (480.0, 10.0, 636.0, 400.0), 0.62),
    ]
    rels = []

    def rel(s: int, o: int, name: str, p: float, dist: bool) -> None:
        k = vocab.predicate_index(name)
        scores = None
        if dist:  # a full distribution: the rest of the mass spread over background and two others
            scores = [0.0] * vocab.num_predicates
            scores[k] = p
            rest = 1.0 - p
            scores[0] = round(rest * 0.6, 6)
            scores[vocab.predicate_index("near")] += round(rest * 0.25, 6)
            scores[vocab.predicate_index("on")] += round(rest - round(rest * 0.6, 6) - round(rest * 0.25, 6), 6)
            p = scores[k] = max(scores[1:])
        score = objects[s].score * objects[o].score * p
        rels.append(Relation(s, o, k, name, score, p, scores))

    rel(0, 1, "riding", 0.81, True)
    rel(0, 2, "wearing", 0.88, True)
    rel(0, 3, "wearing", 0.74, False)
    rel(2, 0, "on", 0.52, False)
    rel(1, 4, "in front of", 0.36, False)
    rels.sort(key=lambda r: -r.score)
    return SceneGraph(objects, rels, (640, 480), mode="sgdet", t_obj=1.5, t_rel=1.5, image="horse.jpg",
                      class_names=list(vocab.classes), predicate_names=list(vocab.predicates))
