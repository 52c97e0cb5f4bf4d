"""Finding ground truth for an image the user opened.

Looked up next to the image, first match wins:

1. ``<image>.gt.json`` or ``<stem>.gt.json``: a nodis scene graph (``docs/formats.md``), one Visual
   Genome ``scene_graphs.json`` entry, or a VG list (the entry for this image is used);
2. ``scene_graphs.json`` in the image's folder (Visual Genome layout): the entry whose ``image_id``
   equals the file stem (``2343.jpg`` -> 2343) or whose ``image``/``file_name`` field names the file.

Names are mapped to the model's vocabulary; unknown names are dropped (a note says how many).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def _from_scene_graph(d: dict, classes, predicates):
    from nodis.graph import SceneGraph
    from nodis.render import GroundTruthView

    g = SceneGraph.from_dict(d)
    cls = {n.lower(): i for i, n in enumerate(classes)}
    prd = {n.lower(): i for i, n in enumerate(predicates)}
    row, boxes, labels = {}, [], []
    for o in g.objects:
        lab = cls.get(o.name.lower())
        if lab is None or lab == 0:
            continue
        row[o.index] = len(boxes)
        boxes.append(list(o.box))
        labels.append(lab)
    rels = [[row[r.subject], row[r.object], prd[r.name.lower()]] for r in g.relations
            if r.subject in row and r.object in row and prd.get(r.name.lower(), 0) > 0]
    return GroundTruthView(np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(labels, np.int64),
                           np.asarray(rels, np.int64).reshape(-1, 3), list(classes), list(predicates))


def _pick_vg(entries: list[dict], image: Path) -> dict | None:
    for e in entries:
        for key in ("image", "file_name", "filename"):
            if isinstance(e.get(key), str) and Path(e[key]).name == image.name:
                return e
    try:
        iid = int(image.stem)
    except ValueError:
        iid = None
    if iid is not None:
        for e in entries:
            if e.get("image_id") == iid:
                return e
    return None


#: scene_graphs.json files larger than this are not read (the full Visual Genome file is ~700 MB;
#: parsing it on the GUI thread would freeze the window)
MAX_GT_BYTES = 64 * 1024 * 1024
_cache: dict[tuple[str, float, int], tuple[Any, list | None]] = {}


def _read(path: Path):
    """(parsed JSON, validated VG entries or None), cached by path, mtime and size."""
    from nodis.export import read_vg_scene_graphs

    st = path.stat()
    key = (str(path.resolve()), st.st_mtime, st.st_size)
    if key not in _cache:
        if st.st_size > MAX_GT_BYTES:
            raise ValueError(f"{path.name} is {st.st_size >> 20} MB; ground truth files over "
                             f"{MAX_GT_BYTES >> 20} MB are not read by the viewer")
        data = json.loads(path.read_text(encoding="utf-8"))
        is_sg = isinstance(data, dict) and str(data.get("schema", "")).startswith("nodis.scene_graph")
        if len(_cache) > 32:
            _cache.clear()
        _cache[key] = (data, None if is_sg else read_vg_scene_graphs(path))
    return _cache[key]


def load_ground_truth_file(path: Path, image: Path, classes, predicates):
    """Ground truth for ``image`` from one JSON file (see module docstring), or None."""
    from nodis.export import vg_to_ground_truth

    data, entries = _read(Path(path))
    if entries is None:
        return _from_scene_graph(data, classes, predicates)
    entry = entries[0] if len(entries) == 1 and path.name != "scene_graphs.json" else _pick_vg(entries, image)
    if entry is None:
        return None
    return vg_to_ground_truth(entry, classes, predicates, strict=False)


def lookup_ground_truth(image: Path, classes, predicates) -> tuple[Any, str, str]:
    """``(GroundTruthView or None, source file name, problem)`` for ``image``: ``problem`` says why a
    ground-truth file next to it could not be used (it is skipped; the next candidate is tried).
    Only regular files are read; any failure to parse one (bad JSON, a structure nested too deeply,
    wrong types) is such a problem, never an exception. Runs on an I/O thread in the viewer."""
    image = Path(image)
    cands = [image.with_name(image.name + ".gt.json"), image.with_name(image.stem + ".gt.json"),
             image.parent / "scene_graphs.json"]
    problems = []
    for c in cands:
        if not c.is_file():  # stat only: FIFOs, devices and folders are not regular files
            continue
        try:
            gt = load_ground_truth_file(c, image, classes, predicates)
        except RecursionError:
            problems.append(f"{c.name}: nested too deeply to be a scene graph")
            log.warning("ignoring ground truth %s: nested too deeply", c)
            continue
        except Exception as e:  # noqa: BLE001 - a broken sidecar never stops the viewer
            problems.append(f"{c.name}: {e}")
            log.warning("ignoring ground truth %s: %s", c, e)
            continue
        if gt is not None and len(np.asarray(gt.labels)):
            return gt, c.name, "; ".join(problems)
    return None, "", "; ".join(problems)


def find_ground_truth(image: Path, classes, predicates) -> tuple[Any, str]:
    """``(GroundTruthView, source description)`` for ``image``, or ``(None, "")``."""
    gt, src, _ = lookup_ground_truth(image, classes, predicates)
    return gt, src
