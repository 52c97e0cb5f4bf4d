"""Evaluate a model (or a saved predictions file) on a dataset in the VG-SGG layout.

The metric definitions live in :mod:`nodis.evaluation`; this module runs the model image by image
(batch 1, as the original test loader) and feeds the evaluator.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .config import MODES
from .data.vg import VGDataset
from .errors import InputError
from .evaluation import Evaluator, GroundTruth, Prediction, format_results_table, iou_legacy

log = logging.getLogger(__name__)


def dataset_zeroshot(root: str | Path, num_val_im: int = 0) -> set[tuple[int, int, int]]:
    """Triplets (subject class, predicate, object class) of the test split absent from train."""
    train = VGDataset(root, "train", num_val_im=num_val_im, filter_duplicate_rels=False)
    test = VGDataset(root, "test")
    seen = set(train.triplet_counts())
    return set(test.triplet_counts()) - seen


#: Evaluation frames (docs/evaluation.md): ``release`` scores as ``models/eval_rels.py`` does, at
#: BOX_SCALE 1024 with the ground truth decoded by ``load_graphs``; ``image`` in original-image pixels.
FRAMES = ("release", "image")
BOX_SCALE = 1024


def _frame_prediction(traj, graph, t: float, P: int, frame: str):
    """The :class:`Prediction` of ``graph`` (decoded at ``t``); in the release frame SGDet boxes are the
    model's boxes scaled to BOX_SCALE as ``eval_rels.py`` does (float32 ``boxes * 1024 / IM_SCALE``)."""
    pred = Prediction.from_graph(graph, P)
    if frame != "release" or traj.mode != "sgdet":
        return pred
    mb = traj.objects_at(t).model_boxes
    if mb is None or len(mb) != len(pred.boxes):
        return pred
    boxes = (np.asarray(mb, np.float32) * np.float32(BOX_SCALE)) / np.float32(traj.cfg.image_size)
    return Prediction(boxes.astype(np.float64), pred.labels, pred.obj_scores, pred.rel_pairs, pred.rel_scores)


def evaluate_model(model, root: str | Path, mode: str, split: str = "test", limit: int | None = None,
                   num_val_im: int = 0, times: Iterable[float] | None = None, progress: bool = False,
                   zeroshot: set | None = None, frame: str = "release") -> dict[str, Any]:
    """R@K, ngR@K, mR@K, zsR@K ... of ``model`` in ``mode`` on ``split``.

    ``frame``: ``release`` (default) scores as the release does: ground-truth boxes at BOX_SCALE 1024
    decoded by ``load_graphs`` (``x1 = trunc(xc - w/2)``, ``x2 = x1 + w``; PredCls/SGCls feed these
    boxes to the model), SGDet boxes scaled from the model input to long side 1024, the +1-pixel
    IoU applied there. ``image``: everything in original-image pixels, ground truth decoded exactly
    (``xc - w//2``). With ``times`` the metrics are also computed at each of those ODE times (linked
    t). Returns the summary at ``t_end`` plus ``by_t`` (R@20/50/100 per time) when times are given."""
    from tqdm import tqdm

    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}")
    if frame not in FRAMES:
        raise InputError(f"unknown evaluation frame {frame!r}; choose 'release' or 'image'")
    ds = VGDataset(root, split, num_val_im=num_val_im, filter_duplicate_rels=False)
    n = len(ds) if not limit else min(limit, len(ds))
    if zeroshot is None and split == "test":
        zeroshot = dataset_zeroshot(root, num_val_im=num_val_im)
    P = model.cfg.num_predicates
    ev = Evaluator(P, zeroshot_triplets=zeroshot, predicate_names=list(model.vocab.predicates))
    t_list = sorted(set(float(t) for t in times)) if times else []
    ev_t = {t: Evaluator(P) for t in t_list}
    objs_t = {t: [0, 0, 0.0, 0] for t in t_list}  # correct, judged, sum of confidences, objects
    t0 = time.time()
    for i in tqdm(range(n), disable=not progress, desc=f"eval {mode}", dynamic_ncols=True):
        s = ds[i]
        if frame == "release":
            gt_boxes = ds.boxes_1024(i)
            in_boxes = gt_boxes * (max(s.width, s.height) / BOX_SCALE)  # the release's GT boxes, in image pixels
        else:
            gt_boxes = in_boxes = s.boxes
        gt = GroundTruth(gt_boxes, s.labels, s.relations)
        traj = model.predict(s.image_path, mode=mode, boxes=None if mode == "sgdet" else in_boxes,
                             labels=s.labels if mode == "predcls" else None,
                             times=(t_list or None))
        g = traj.graph_at(traj.t_end)
        ev.add(gt, _frame_prediction(traj, g, traj.t_end, P, frame).in_mode(mode, gt))
        for t in t_list:
            gt_t = traj.graph_at(t)
            ev_t[t].add(gt, _frame_prediction(traj, gt_t, t, P, frame).in_mode(mode, gt))
            _object_stats(objs_t[t], gt_t, s, mode)
    out = ev.summary()
    out["mode"] = mode
    out["split"] = split
    out["frame"] = frame
    out["seconds"] = time.time() - t0
    if t_list:
        out["by_t"] = {f"{t:g}": {**{k: v for k, v in ev_t[t].summary().items() if k.startswith("R@")},
                                   "obj_acc": objs_t[t][0] / max(objs_t[t][1], 1),
                                   "obj_conf": objs_t[t][2] / max(objs_t[t][3], 1)} for t in t_list}
    return out


def _object_stats(acc: list, graph, sample, mode: str) -> None:
    """Object accuracy and confidence of one image's graph at one time, added into ``acc``
    (correct, judged, sum of confidences, objects).

    SGCls/PredCls: every given box is judged against its own ground-truth label. SGDet: a kept
    object is judged when it overlaps a ground-truth box at IoU >= 0.5 (legacy +1 IoU), against the
    label of the box it overlaps most; unmatched detections are not judged. The confidence is the
    object's score (its top class probability) over every object of the graph."""
    objs = graph.objects
    acc[2] += float(sum(o.score for o in objs))
    acc[3] += len(objs)
    if not objs or len(sample.boxes) == 0:
        return
    labels = np.array([o.label for o in objs])
    if mode != "sgdet":
        idx = np.array([o.index for o in objs])
        acc[0] += int((labels == np.asarray(sample.labels)[idx]).sum())
        acc[1] += len(objs)
        return
    iou = iou_legacy(np.array([o.box for o in objs], dtype=np.float64), sample.boxes)
    best = iou.argmax(1)
    hit = iou.max(1) >= 0.5
    acc[0] += int((labels[hit] == np.asarray(sample.labels)[best[hit]]).sum())
    acc[1] += int(hit.sum())


def evaluate_predictions(pred_path: str | Path, root: str | Path, mode: str | None = None, split: str = "test",
                         num_val_im: int = 0, allow_missing: bool = False) -> dict[str, Any]:
    """Evaluate saved ``nodis predict`` output against the dataset's ground truth, every image
    accounted for: :func:`nodis.eval_predictions.evaluate_predictions`."""
    from .eval_predictions import evaluate_predictions as run

    return run(pred_path, root, mode, split=split, num_val_im=num_val_im, allow_missing=allow_missing)


def results_table(results: dict[str, dict]) -> str:
    """The paper's Table 1 layout for a ``{mode: summary}`` dict."""
    return format_results_table(results)
