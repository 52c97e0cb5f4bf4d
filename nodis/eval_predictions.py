"""Evaluate saved predictions (``nodis eval --predictions``) with every image accounted for.

The predictions are what ``nodis predict`` writes (a folder with ``index.jsonl`` and one
``nodis.prediction/1`` JSON per image, a folder of such files, one file, or a JSON Lines file of
scene graphs). Rules (docs/evaluation.md, "Evaluating saved predictions"):

* every ground-truth image of the split needs a prediction: missing ones are refused, listed, or
  with ``allow_missing`` counted as empty predictions (zero recall) and reported;
* an image predicted twice is refused; a per-image file that cannot be read is refused (never
  skipped); a malformed line of a JSON Lines file is refused with its line number;
* predictions for images outside the split are left out and counted;
* mR's denominator is the dataset's predicate vocabulary, and the predictions' vocabulary (names
  and label indices) must be the dataset's;
* the mode is the one the predictions record (``sgdet`` ...); another ``mode`` is refused.

This module does not import torch.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import export
from .config import MODES
from .errors import InputError
from .evaluation import Evaluator, GroundTruth, Prediction
from .graph import SceneGraph

log = logging.getLogger(__name__)

__all__ = ["PredictedImage", "read_predicted_graphs", "evaluate_predictions", "recorded_mode"]

#: Files of a ``nodis predict`` folder that are not per-image predictions.
_RUN_FILES = {"scene_graphs.json", "custom_prediction.json", "custom_data_info.json", "shard.json"}
#: Largest predictions file read (a JSON Lines file of scene graphs for the whole VG test split with
#: full distributions is ~3 GB; more is surely not a predictions file).
MAX_BYTES = 8 * 2**30


@dataclass
class PredictedImage:
    """One image's prediction: the graph at ``t_end``, the mode it was made in and where it came from."""

    image: str  # the file name that matches the dataset (``{image_id}.jpg``)
    graph: SceneGraph
    mode: str
    where: str  # "FILE" or "FILE, line N" (for messages)


def _load_json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise InputError(f"{where}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except (ValueError, RecursionError) as e:
        raise InputError(f"{where}: not valid JSON ({type(e).__name__})") from None


def _read(path: Path) -> bytes:
    try:
        return export.read_regular_bytes(path, max_bytes=MAX_BYTES)
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None


def _from_doc(doc: Any, where: str) -> PredictedImage:
    """The t_end graph of a ``nodis.prediction/1`` document, or a ``nodis.scene_graph/1`` itself."""
    from .predict import PredictionDoc

    schema = str(doc.get("schema", "")) if isinstance(doc, dict) else ""
    try:
        if schema.startswith("nodis.prediction"):
            pd = PredictionDoc.from_dict(doc)
            g, mode = pd.graph_at(), pd.mode
        elif schema.startswith("nodis.scene_graph"):
            g = SceneGraph.from_dict(doc)
            mode = g.mode
        else:
            got = f"schema {schema!r}" if schema else f"a JSON {type(doc).__name__} without a nodis schema"
            raise InputError(f"not a nodis prediction or scene graph ({got})")
    except InputError as e:
        raise InputError(f"{where}: {e}") from None
    if not g.image:
        raise InputError(f"{where}: the prediction names no image; it cannot be matched to the ground truth")
    if mode not in MODES:
        raise InputError(f"{where}: unknown mode {mode!r}")
    return PredictedImage(Path(str(g.image).replace("\\", "/")).name, g, mode, where)


def read_predicted_graphs(path: str | Path) -> tuple[list[PredictedImage], list[str]]:
    """The predictions under ``path`` and the images a ``nodis predict`` index records as failed.

    * a folder with ``index.jsonl`` (and shards): the per-image JSON of every image whose last index
      record is ``ok`` (a missing or unreadable one is an error); failed images are returned by name;
    * a folder without index: every ``*.json`` except the other formats' files; each must be a nodis
      prediction or scene graph;
    * a ``.jsonl`` file: one prediction or scene graph per line (a bad line is an error naming it);
    * a ``.json`` file: one prediction or scene graph.
    """
    from .predict import _index_files, _latest_records, _output_file

    path = Path(path)
    if path.is_dir():
        if any(f.is_file() for f in _index_files(path)):
            out, failed = [], []
            for rec in _latest_records(path).values():
                outs = rec.get("outputs")
                jpath = _output_file(path, outs.get("json")) if isinstance(outs, dict) else None
                if rec.get("status") != "ok":
                    failed.append(Path(str(rec.get("image", "?"))).name)
                    continue
                if jpath is None:
                    raise InputError(f"{path}/index.jsonl: the record of {rec.get('image')!r} names no JSON output")
                if not jpath.is_file():
                    raise InputError(f"{jpath}: listed as done in {path}/index.jsonl but missing; rerun nodis predict "
                                     "with --resume")
                out.append(_from_doc(_load_json(_read(jpath), str(jpath)), str(jpath)))
            return out, failed
        other = tuple(spec.suffix for name, spec in export.FORMATS.items() if name != "json"
                      and spec.suffix.endswith(".json"))
        files = sorted(f for f in path.glob("*.json") if not f.name.startswith(".") and f.name not in _RUN_FILES
                       and not f.name.lower().endswith(other))
        if not files:
            raise InputError(f"{path}: no prediction files (*.json) in this folder")
        return [_from_doc(_load_json(_read(f), str(f)), str(f)) for f in files], []
    if not path.exists() and not path.is_symlink():
        raise InputError(f"{path}: no such file or folder")
    data = _read(path)
    if path.suffix.lower() == ".jsonl":
        out = []
        for k, line in enumerate(data.split(b"\n")):
            if line.strip():
                where = f"{path}, line {k + 1}"
                out.append(_from_doc(_load_json(line, where), where))
        if not out:
            raise InputError(f"{path}: no predictions in this file")
        return out, []
    return [_from_doc(_load_json(data, str(path)), str(path))], []


def recorded_mode(preds: list[PredictedImage], path: str | Path) -> str:
    """The mode the predictions were made in; :class:`InputError` when they mix modes."""
    modes = sorted({p.mode for p in preds})
    if len(modes) != 1:
        raise InputError(f"{path}: the predictions mix modes ({', '.join(modes)}); evaluate each mode's "
                         "predictions separately")
    return modes[0]


def _check_vocabulary(preds: list[PredictedImage], classes: tuple[str, ...], predicates: tuple[str, ...],
                      root: Path) -> None:
    """The predictions' class / predicate names and label indices must be the dataset's."""
    for p in preds:
        g = p.graph
        for names, ours, what in ((g.class_names, classes, "class"), (g.predicate_names, predicates, "predicate")):
            if names is not None and list(names) != list(ours):
                raise InputError(f"{p.where}: the predictions use another {what} vocabulary ({len(names) - 1} "
                                 f"{what}es) than the dataset {root} ({len(ours) - 1}); evaluate them on the dataset "
                                 "the model was trained for")
        for o in g.objects:
            if not 1 <= o.label < len(classes) or o.name != classes[o.label]:
                raise InputError(f"{p.where}: object {o.index} is class {o.label} {o.name!r}, which is not that "
                                 f"class of the dataset's vocabulary; the vocabularies differ")
        for r in g.relations:
            if not 1 <= r.predicate < len(predicates) or r.name != predicates[r.predicate]:
                raise InputError(f"{p.where}: predicate {r.predicate} {r.name!r} is not that predicate of the "
                                 "dataset's vocabulary; the vocabularies differ")
            if r.predicate_scores is not None and len(r.predicate_scores) != len(predicates):
                raise InputError(f"{p.where}: a relation has {len(r.predicate_scores)} predicate scores; the "
                                 f"dataset has {len(predicates)} predicates (with background)")


def _empty_prediction(gt: GroundTruth, mode: str) -> Prediction:
    """No relations at all (sgdet: no objects either): what a missing image counts as."""
    m = 0 if mode == "sgdet" else len(gt.labels)
    return Prediction(gt.boxes[:m], gt.labels[:m], np.ones(m), np.zeros((0, 2), np.int64), np.zeros((0, 2)))


def _names(items: list[str], n: int = 10) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def evaluate_predictions(pred_path: str | Path, root: str | Path, mode: str | None = None, split: str = "test",
                         num_val_im: int = 0, allow_missing: bool = False) -> dict[str, Any]:
    """R@K, ngR@K, mR@K, zsR@K ... of saved predictions against ``root``'s ``split``.

    ``mode``: None (the mode the predictions record) or that same mode. Returns the
    :meth:`Evaluator.summary` plus ``mode``, ``split``, ``matched_images`` (predictions evaluated),
    ``missing_images`` (GT images without a prediction, counted as zero recall; only with
    ``allow_missing``), ``missing`` (their names), ``ignored_images`` (predictions for images outside
    the split) and ``failed_images`` (images the predict run recorded as failed)."""
    from .data.vg import VGDataset
    from .evaluate import dataset_zeroshot

    preds, failed = read_predicted_graphs(pred_path)
    if not preds and not allow_missing:
        raise InputError(f"{pred_path}: no predictions found")
    got_mode = recorded_mode(preds, pred_path) if preds else (mode or "sgdet")
    if mode is not None and mode != got_mode:
        raise InputError(f"{pred_path}: the predictions were made in {got_mode}, not {mode}; evaluate them with "
                         f"--mode {got_mode} (or leave --mode out)")
    mode = got_mode
    ds = VGDataset(root, split, num_val_im=num_val_im, filter_duplicate_rels=False)
    classes, predicates = ds.vocab.classes, ds.vocab.predicates
    _check_vocabulary(preds, classes, predicates, Path(root))

    by_name: dict[str, int] = {}
    for i in range(len(ds)):
        by_name.setdefault(Path(ds.image_path(i)).name, i)
    seen: dict[str, PredictedImage] = {}
    dups: list[str] = []
    ignored = 0
    for p in preds:
        if p.image not in by_name:
            ignored += 1
            continue
        if p.image in seen:
            dups.append(f"{p.image} ({seen[p.image].where} and {p.where})")
            continue
        seen[p.image] = p
    if dups:
        raise InputError(f"{pred_path}: {len(dups)} image(s) predicted more than once: {_names(dups, 3)}; "
                         "keep one prediction per image")
    missing = [n for n in by_name if n not in seen]
    if missing and not allow_missing:
        why = f" ({len([m for m in missing if m in set(failed)])} failed in the predict run)" if failed else ""
        raise InputError(f"{pred_path}: {len(missing)} of the {len(by_name)} {split} images have no prediction"
                         f"{why}: {_names(missing)}; predict them, or pass --allow-missing to count them as "
                         "zero recall")
    if not seen:
        raise InputError(f"{pred_path}: none of the predicted images belong to the {split} split of {root}")
    if ignored:
        log.warning("%d prediction(s) for images outside the %s split of %s left out", ignored, split, root)

    P = len(predicates)
    ev = Evaluator(P, zeroshot_triplets=dataset_zeroshot(root, num_val_im) if split == "test" else None,
                   predicate_names=list(predicates))
    for name, i in by_name.items():
        s = ds[i]
        gt = GroundTruth(s.boxes, s.labels, s.relations)
        p = seen.get(name)
        if p is None:  # --allow-missing: an empty prediction, zero recall
            pred = _empty_prediction(gt, mode)
        else:
            try:
                pred = Prediction.from_graph(p.graph, P)
            except InputError as e:
                raise InputError(f"{p.where}: {e}") from None
        try:
            ev.add(gt, pred.in_mode(mode, gt))
        except InputError as e:
            raise InputError(f"{p.where if p else name}: {e}") from None
    out = ev.summary()
    out.update(mode=mode, split=split, matched_images=len(seen), missing_images=len(missing),
               missing=missing, ignored_images=ignored, failed_images=len(failed))
    return out

