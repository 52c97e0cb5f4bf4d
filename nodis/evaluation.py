"""Scene-graph evaluation: R@K, ngR@K, mR@K, ng-mR@K, zsR@K, ng-zsR@K and per-predicate recall.

A faithful NumPy re-implementation of neural-motifs / NODIS ``lib/evaluation/sg_eval.py`` (used
by ``models/eval_rels.py``) and of the Scene-Graph-Benchmark ``sgg_eval.py`` (``SGRecall``,
``SGNoGraphConstraintRecall``, ``SGMeanRecall``, ``SGNGMeanRecall``, ``SGZeroShotRecall``,
``SGNGZeroShotRecall``). Definitions, and the few deliberate differences (deterministic tie-breaking),
are in ``docs/evaluation.md``.

Per image the caller passes a :class:`GroundTruth` and a :class:`Prediction`:

* ``GroundTruth``: ``boxes`` (M, 4) x1y1x2y2, ``labels`` (M,), ``relations`` (G, 3) rows
  ``(subject index, object index, predicate)`` with predicates >= 1.
* ``Prediction``: ``boxes`` (N, 4), ``labels`` (N,), ``obj_scores`` (N,), ``rel_pairs`` (R, 2) candidate
  ``(subject, object)`` index pairs, ``rel_scores`` (R, P) the full predicate distribution of every pair,
  column 0 = background.

The three protocols only differ in what is passed: PredCls uses the GT boxes, GT labels and object
scores 1; SGCls the GT boxes with predicted labels and scores; SGDet everything predicted.
:meth:`Prediction.in_mode` applies exactly those substitutions (as ``sg_eval.evaluate_from_dict`` does).

Matching: a predicted triplet matches GT triplet ``g`` when subject class, predicate and object class
are equal and both the subject and the object boxes overlap the GT boxes with IoU >= 0.5, with the
legacy "+1 pixel" IoU (:func:`iou_legacy`). Recall is computed per image and averaged over images.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError

__all__ = [
    "IOU_THRESHOLD",
    "NG_TOP",
    "Evaluator",
    "GroundTruth",
    "ImageResult",
    "Prediction",
    "evaluate",
    "format_results_table",
    "iou_legacy",
    "zeroshot_triplets",
]

IOU_THRESHOLD = 0.5
#: Number of (pair, predicate) candidates kept without the graph constraint (neural-motifs / SGB keep
#: the top 100; when a K larger than 100 is requested we keep the top K instead).
NG_TOP = 100

_MODE_TITLES = {"predcls": "PredCls", "sgcls": "SGCls", "sgdet": "SGDet"}
_FAMILIES = (
    ("R", "R (graph constraint)"),
    ("ngR", "ngR (no graph constraint)"),
    ("mR", "mR"),
    ("ng-mR", "ng-mR"),
    ("mR-seen", "mR over seen predicates"),
    ("ng-mR-seen", "ng-mR over seen predicates"),
    ("zsR", "zsR (zero-shot)"),
    ("ng-zsR", "ng-zsR (zero-shot)"),
)


# ---------------------------------------------------------------------------------------- boxes
def iou_legacy(a: np.ndarray | Sequence, b: np.ndarray | Sequence) -> np.ndarray:
    """Pairwise IoU of boxes ``a`` (N, 4) and ``b`` (K, 4) -> (N, K), float64.

    Uses the legacy pixel-inclusive convention of Faster R-CNN / neural-motifs / SGB
    (``w = x2 - x1 + 1``, ``h = y2 - y1 + 1``; intersection sides ``min(x2) - max(x1) + 1`` clipped at 0).
    Where the union is not positive (degenerate boxes) the IoU is 0.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    area_a = (a[:, 2] - a[:, 0] + 1.0) * (a[:, 3] - a[:, 1] + 1.0)
    area_b = (b[:, 2] - b[:, 0] + 1.0) * (b[:, 3] - b[:, 1] + 1.0)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt + 1.0, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return iou


# ---------------------------------------------------------------------------------------- inputs
def _as_boxes(x: Any, what: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise InputError(f"{what} must have shape (n, 4) as x1, y1, x2, y2; got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{what} contain NaN or infinite coordinates")
    return arr


def _as_int(x: Any, what: str, ncols: int | None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.size == 0:
        return np.zeros((0,) if ncols is None else (0, ncols), dtype=np.int64)
    if ncols is None and arr.ndim != 1:
        raise InputError(f"{what} must be one-dimensional; got shape {arr.shape}")
    if ncols is not None and (arr.ndim != 2 or arr.shape[1] != ncols):
        raise InputError(f"{what} must have shape (n, {ncols}); got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise InputError(f"{what} must be integers")
    elif arr.dtype.kind not in "iub":
        raise InputError(f"{what} must be integers; got dtype {arr.dtype}")
    return arr.astype(np.int64)


@dataclass
class GroundTruth:
    """Ground truth of one image.

    ``boxes`` (M, 4) float x1y1x2y2, ``labels`` (M,) int classes (>= 1), ``relations`` (G, 3) int rows
    ``(subject index, object index, predicate)`` with predicate >= 1. Duplicate rows and several
    predicates for one pair are allowed (and count separately, as in the original).
    """

    boxes: np.ndarray
    labels: np.ndarray
    relations: np.ndarray

    def __post_init__(self) -> None:
        self.boxes = _as_boxes(self.boxes, "ground-truth boxes")
        self.labels = _as_int(self.labels, "ground-truth labels", None)
        self.relations = _as_int(self.relations, "ground-truth relations", 3)
        m = self.boxes.shape[0]
        if self.labels.shape[0] != m:
            raise InputError(f"ground truth has {m} boxes but {self.labels.shape[0]} labels")
        if self.relations.size and (self.relations[:, :2].min() < 0 or self.relations[:, :2].max() >= m):
            raise InputError(f"ground-truth relations refer to objects outside 0..{m - 1}")
        if self.relations.size and self.relations[:, 2].min() < 1:
            raise InputError("ground-truth relation predicates must be >= 1 (0 is background)")

    @classmethod
    def from_graph(cls, graph: Any) -> GroundTruth:
        """From an annotated :class:`nodis.graph.SceneGraph` (object ``index`` fields may be sparse)."""
        pos = {o.index: i for i, o in enumerate(graph.objects)}
        try:
            rels = [(pos[r.subject], pos[r.object], r.predicate) for r in graph.relations]
        except KeyError as e:
            raise InputError(f"relation refers to object {e.args[0]}, which is not in the graph") from None
        return cls(np.array([o.box for o in graph.objects], dtype=np.float64).reshape(-1, 4),
                   np.array([o.label for o in graph.objects], dtype=np.int64),
                   np.array(rels, dtype=np.int64).reshape(-1, 3))


@dataclass
class Prediction:
    """Model output for one image.

    ``boxes`` (N, 4), ``labels`` (N,), ``obj_scores`` (N,), ``rel_pairs`` (R, 2) candidate
    (subject, object) index pairs, ``rel_scores`` (R, P) full predicate distribution per pair with
    column 0 = background (only columns >= 1 are used). The order of the pairs does not matter: they
    are ranked by ``obj_scores[s] * obj_scores[o] * max(rel_scores[1:])`` (stable sort).
    ``rel_offered`` (R, P) bool, optional: the (pair, predicate) entries that are predictions at all
    (None: every entry); without the graph constraint only those are candidates.
    """

    boxes: np.ndarray
    labels: np.ndarray
    obj_scores: np.ndarray
    rel_pairs: np.ndarray
    rel_scores: np.ndarray
    rel_offered: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.boxes = _as_boxes(self.boxes, "predicted boxes")
        self.labels = _as_int(self.labels, "predicted labels", None)
        n = self.boxes.shape[0]
        self.obj_scores = np.asarray(self.obj_scores, dtype=np.float64).reshape(-1)
        self.rel_pairs = _as_int(self.rel_pairs, "predicted relation pairs", 2)
        rs = np.asarray(self.rel_scores, dtype=np.float64)
        if rs.size == 0:
            rs = rs.reshape(0, rs.shape[-1] if rs.ndim == 2 else 0)
        if rs.ndim != 2:
            raise InputError(f"relation scores must have shape (pairs, predicates); got shape {rs.shape}")
        self.rel_scores = rs
        if self.labels.shape[0] != n or self.obj_scores.shape[0] != n:
            raise InputError(f"prediction has {n} boxes, {self.labels.shape[0]} labels and "
                             f"{self.obj_scores.shape[0]} object scores; they must agree")
        r = self.rel_pairs.shape[0]
        if rs.shape[0] != r:
            raise InputError(f"prediction has {r} relation pairs but {rs.shape[0]} rows of relation scores")
        if r and rs.shape[1] < 2:
            raise InputError("relation scores need a background column and at least one predicate column")
        if r and (self.rel_pairs.min() < 0 or self.rel_pairs.max() >= n):
            raise InputError(f"predicted relation pairs refer to objects outside 0..{n - 1}")
        if not (np.all(np.isfinite(self.obj_scores)) and np.all(np.isfinite(rs))):
            raise InputError("prediction scores contain NaN or infinite values")
        if self.rel_offered is not None:
            self.rel_offered = np.asarray(self.rel_offered, dtype=bool).reshape(rs.shape)

    @classmethod
    def from_graph(cls, graph: Any, num_predicates: int | None = None) -> Prediction:
        """From a predicted :class:`nodis.graph.SceneGraph`.

        Every relation of the graph becomes one candidate pair. Its score row is
        ``relation.predicate_scores`` when present, else a row that is 0 except
        ``predicate_score`` at ``predicate`` (so the graph-constrained triplet score equals the
        relation's; without the graph constraint such a pair offers only that one predicate).
        ``num_predicates`` (columns incl. background) defaults to the widest of: the stored
        distributions, ``graph.predicate_names`` and ``max(predicate) + 1``.
        """
        pos = {o.index: i for i, o in enumerate(graph.objects)}
        width = 0
        for r in graph.relations:
            width = max(width, r.predicate + 1, len(r.predicate_scores or ()))
        if graph.predicate_names:
            width = max(width, len(graph.predicate_names))
        if num_predicates is not None:
            if num_predicates < width:
                raise InputError(f"num_predicates={num_predicates} is smaller than the graph's {width} predicates")
            width = num_predicates
        width = max(width, 2)
        rows = np.zeros((len(graph.relations), width), dtype=np.float64)
        offered = np.ones((len(graph.relations), width), dtype=bool)
        pairs = np.zeros((len(graph.relations), 2), dtype=np.int64)
        for i, r in enumerate(graph.relations):
            try:
                pairs[i] = (pos[r.subject], pos[r.object])
            except KeyError as e:
                raise InputError(f"relation refers to object {e.args[0]}, which is not in the graph") from None
            if not 1 <= r.predicate < width:
                raise InputError(f"relation predicate {r.predicate} is outside 1..{width - 1}")
            if r.predicate_scores is not None:
                rows[i, : len(r.predicate_scores)] = r.predicate_scores
            else:  # no distribution: this pair offers its own predicate only
                rows[i, r.predicate] = r.predicate_score
                offered[i] = False
                offered[i, r.predicate] = True
        return cls(np.array([o.box for o in graph.objects], dtype=np.float64).reshape(-1, 4),
                   np.array([o.label for o in graph.objects], dtype=np.int64),
                   np.array([o.score for o in graph.objects], dtype=np.float64),
                   pairs, rows, None if offered.all() else offered)

    def in_mode(self, mode: str, gt: GroundTruth) -> Prediction:
        """The substitutions of ``sg_eval.evaluate_from_dict`` for ``mode``.

        ``predcls``: GT boxes, GT labels, object scores 1. ``sgcls``: GT boxes. ``sgdet``: unchanged.
        The prediction's objects must then be the GT objects in GT order.
        """
        mode = mode.lower()
        if mode == "sgdet":
            return self
        if mode not in ("predcls", "sgcls"):
            raise InputError(f"unknown evaluation mode {mode!r}; use predcls, sgcls or sgdet")
        m = gt.boxes.shape[0]
        if self.boxes.shape[0] != m:
            raise InputError(f"{mode}: the prediction has {self.boxes.shape[0]} objects but the ground truth "
                             f"has {m}; in {mode} the objects must be the ground-truth objects")
        if mode == "predcls":
            return Prediction(gt.boxes.copy(), gt.labels.copy(), np.ones(m), self.rel_pairs, self.rel_scores,
                              self.rel_offered)
        return Prediction(gt.boxes.copy(), self.labels, self.obj_scores, self.rel_pairs, self.rel_scores,
                          self.rel_offered)


# ---------------------------------------------------------------------------------------- matching
@dataclass
class ImageResult:
    """Evaluation of one image (returned by :meth:`Evaluator.add`).

    ``ranked``: (R', 3) graph-constrained predictions in rank order, rows ``(subject, object,
    predicate)`` (indices into the prediction's objects), truncated to ``max(ks)``; ``ranked_scores``
    their triplet scores; ``pred_to_gt[i]`` the GT relation indices matched by ``ranked[i]``;
    ``gt_hit_rank[g]`` the first rank that matches GT relation ``g`` (-1: none), so GT ``g`` is
    recalled at K iff ``0 <= gt_hit_rank[g] < K``. ``ng_*`` are the same without the graph constraint.
    ``recall`` etc. map K -> value (``None`` when not defined for this image).
    """

    num_gt: int
    skipped: bool
    recall: dict[int, float | None] = field(default_factory=dict)
    ng_recall: dict[int, float | None] = field(default_factory=dict)
    zs_recall: dict[int, float | None] = field(default_factory=dict)
    ng_zs_recall: dict[int, float | None] = field(default_factory=dict)
    ranked: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    ranked_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pred_to_gt: list[list[int]] = field(default_factory=list)
    gt_hit_rank: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ng_ranked: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))
    ng_ranked_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ng_gt_hit_rank: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    zeroshot_mask: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def _top_stable(scores: np.ndarray, top: int) -> np.ndarray:
    """Indices of the ``top`` largest ``scores`` (1-D), descending; ties in index order.

    Same result as ``np.argsort(-scores, kind="stable")[:top]``, but only the candidates scoring at
    least the ``top``-th largest value are sorted.
    """
    n = scores.shape[0]
    if n > 4 * top:
        kth = np.partition(scores, n - top)[n - top]
        cand = np.flatnonzero(scores >= kth)  # ascending indices, so the stable sort keeps index order
        return cand[np.argsort(-scores[cand], kind="stable")[:top]]
    return np.argsort(-scores, kind="stable")[:top]


def _rank_graph_constrained(pred: Prediction, top: int) -> tuple[np.ndarray, np.ndarray]:
    """(R', 3) rows (s, o, p) and scores: one predicate per pair (arg-max over >= 1), stable descending."""
    if pred.rel_pairs.shape[0] == 0:
        return np.zeros((0, 3), np.int64), np.zeros(0)
    p = 1 + pred.rel_scores[:, 1:].argmax(1)
    pscore = pred.rel_scores[np.arange(len(p)), p]
    s, o = pred.rel_pairs[:, 0], pred.rel_pairs[:, 1]
    score = pred.obj_scores[s] * pred.obj_scores[o] * pscore
    order = _top_stable(score, top)
    return np.column_stack((s[order], o[order], p[order])), score[order]


def _rank_no_graph_constraint(pred: Prediction, top: int) -> tuple[np.ndarray, np.ndarray]:
    """(R', 3) rows (s, o, p) for the top ``top`` (pair, predicate >= 1) by obj_s * obj_o * rel[p].

    Only the (pair, predicate) entries that ``pred.rel_offered`` allows are candidates: a relation
    stored without its distribution offers its own predicate only (zero-scored entries of a stored
    distribution are candidates, as in the original)."""
    if pred.rel_pairs.shape[0] == 0:
        return np.zeros((0, 3), np.int64), np.zeros(0)
    s, o = pred.rel_pairs[:, 0], pred.rel_pairs[:, 1]
    pair_score = pred.obj_scores[s] * pred.obj_scores[o]
    overall = pair_score[:, None] * pred.rel_scores[:, 1:]  # (R, P-1), row-major = (pair, predicate)
    if pred.rel_offered is not None:
        offered = pred.rel_offered[:, 1:].ravel()
        overall = np.where(pred.rel_offered[:, 1:], overall, -np.inf)
        flat = _top_stable(overall.ravel(), top)
        flat = flat[offered[flat]]
    else:
        flat = _top_stable(overall.ravel(), top)
    pi, ci = np.unravel_index(flat, overall.shape)
    return np.column_stack((s[pi], o[pi], ci + 1)), overall[pi, ci]


def _match(gt: GroundTruth, pred: Prediction, ranked: np.ndarray, iou: np.ndarray) -> np.ndarray:
    """(G, R') boolean: GT relation g matched by ranked prediction r."""
    gs, go, gp = gt.relations[:, 0], gt.relations[:, 1], gt.relations[:, 2]
    ps, po, pp = ranked[:, 0], ranked[:, 1], ranked[:, 2]
    m = (gp[:, None] == pp[None, :])
    m &= gt.labels[gs][:, None] == pred.labels[ps][None, :]
    m &= gt.labels[go][:, None] == pred.labels[po][None, :]
    m &= iou[gs][:, ps] >= IOU_THRESHOLD
    m &= iou[go][:, po] >= IOU_THRESHOLD
    return m


def _first_hit(m: np.ndarray) -> np.ndarray:
    if m.shape[1] == 0:
        return np.full(m.shape[0], -1, dtype=np.int64)
    return np.where(m.any(1), m.argmax(1), -1).astype(np.int64)


def _hit_at(rank: np.ndarray, k: int) -> np.ndarray:
    return (rank >= 0) & (rank < k)


# ---------------------------------------------------------------------------------------- evaluator
def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


class Evaluator:
    """Accumulates per-image results over a dataset (one evaluator per mode).

    ``num_predicates`` counts the background: 51 for VG150. ``ks``: the K of R@K (any positive ints).
    ``zeroshot_triplets``: iterable of ``(subject class, predicate, object class)`` triplets that never
    occur in training (note: SGB's ``zeroshot_triplet.pytorch`` stores ``(subject, object, predicate)``;
    reorder its columns with ``t[:, [0, 2, 1]]``). ``predicate_names``: either ``num_predicates`` names
    (index 0 = background) or ``num_predicates - 1`` names for predicates 1.. .
    """

    def __init__(self, num_predicates: int, ks: Iterable[int] = (20, 50, 100),
                 zeroshot_triplets: Iterable[Sequence[int]] | None = None,
                 predicate_names: Sequence[str] | None = None) -> None:
        if int(num_predicates) < 2:
            raise InputError(f"num_predicates counts the background and must be >= 2; got {num_predicates}")
        self.num_predicates = int(num_predicates)
        ks = sorted({int(k) for k in ks})
        if not ks or ks[0] < 1:
            raise InputError(f"ks must be positive integers; got {ks}")
        self.ks: tuple[int, ...] = tuple(ks)
        self.ng_top = max(NG_TOP, self.ks[-1])
        if zeroshot_triplets is None:
            self.zeroshot: frozenset[tuple[int, int, int]] | None = None
        else:
            zs = np.asarray(list(zeroshot_triplets), dtype=np.int64)
            if zs.size and (zs.ndim != 2 or zs.shape[1] != 3):
                raise InputError("zero-shot triplets must be (subject class, predicate, object class) rows")
            self.zeroshot = frozenset(map(tuple, zs.reshape(-1, 3).tolist()))
        if predicate_names is None:
            names = [str(p) for p in range(self.num_predicates)]
        else:
            names = [str(n) for n in predicate_names]
            if len(names) == self.num_predicates - 1:
                names = ["__background__"] + names
            if len(names) != self.num_predicates:
                raise InputError(f"expected {self.num_predicates} predicate names (incl. background) or "
                                 f"{self.num_predicates - 1}; got {len(names)}")
        self.predicate_names: list[str] = names
        self.reset()

    def reset(self) -> None:
        """Forget all images added so far."""
        self.num_images = 0
        self.num_skipped = 0
        self.num_zeroshot_images = 0
        self._r: dict[str, dict[int, list[float]]] = {f: {k: [] for k in self.ks} for f in ("R", "ngR", "zsR", "ng-zsR")}
        # per-predicate lists of per-image recall (index = predicate), for mR and ng-mR
        self._per_pred: dict[str, dict[int, list[list[float]]]] = {
            f: {k: [[] for _ in range(self.num_predicates)] for k in self.ks} for f in ("R", "ngR")}
        self._gt_count = np.zeros(self.num_predicates, dtype=np.int64)
        self._img_count = np.zeros(self.num_predicates, dtype=np.int64)

    # ------------------------------------------------------------------ per image
    def add(self, gt: GroundTruth, pred: Prediction) -> ImageResult:
        """Evaluate one image and accumulate it. Images without GT relations are skipped."""
        g = gt.relations.shape[0]
        if g and gt.relations[:, 2].max() >= self.num_predicates:
            raise InputError(f"ground-truth predicate {int(gt.relations[:, 2].max())} is outside "
                             f"1..{self.num_predicates - 1}")
        if pred.rel_pairs.shape[0]:
            width = pred.rel_scores.shape[1]
            if width > self.num_predicates:
                raise InputError(f"relation scores have {width} columns but the evaluator has "
                                 f"{self.num_predicates} predicates (incl. background)")
            if width < self.num_predicates:  # missing predicates score 0 (e.g. a graph without distributions)
                extra = self.num_predicates - width
                offered = pred.rel_offered
                if offered is not None:  # a row offering everything it has also offers the new columns
                    offered = np.concatenate([offered, np.repeat(offered.all(1, keepdims=True), extra, 1)], 1)
                pred = Prediction(pred.boxes, pred.labels, pred.obj_scores, pred.rel_pairs,
                                  np.pad(pred.rel_scores, ((0, 0), (0, extra))), offered)
        if g == 0:
            self.num_skipped += 1
            return ImageResult(num_gt=0, skipped=True)

        iou = iou_legacy(gt.boxes, pred.boxes)
        ranked, ranked_scores = _rank_graph_constrained(pred, self.ks[-1])
        m = _match(gt, pred, ranked, iou)
        rank = _first_hit(m)
        ng_ranked, ng_scores = _rank_no_graph_constraint(pred, self.ng_top)
        ng_rank = _first_hit(_match(gt, pred, ng_ranked, iou))

        res = ImageResult(num_gt=g, skipped=False, ranked=ranked, ranked_scores=ranked_scores,
                          pred_to_gt=[np.flatnonzero(m[:, i]).tolist() for i in range(m.shape[1])],
                          gt_hit_rank=rank, ng_ranked=ng_ranked, ng_ranked_scores=ng_scores,
                          ng_gt_hit_rank=ng_rank)
        self.num_images += 1

        labels = gt.relations[:, 2]
        present = np.unique(labels)
        self._gt_count += np.bincount(labels, minlength=self.num_predicates)
        self._img_count[present] += 1
        if self.zeroshot is not None:
            gl = gt.labels
            zs = np.array([(int(gl[s]), int(p), int(gl[o])) in self.zeroshot for s, o, p in gt.relations], bool)
        else:
            zs = np.zeros(g, bool)
        res.zeroshot_mask = zs
        n_zs = int(zs.sum())
        if n_zs:
            self.num_zeroshot_images += 1

        for k in self.ks:
            for fam, zfam, r, out, zout in (("R", "zsR", rank, res.recall, res.zs_recall),
                                            ("ngR", "ng-zsR", ng_rank, res.ng_recall, res.ng_zs_recall)):
                hit = _hit_at(r, k)
                out[k] = float(hit.sum()) / g
                self._r[fam][k].append(out[k])
                lists = self._per_pred[fam][k]
                hits_p = np.bincount(labels[hit], minlength=self.num_predicates)
                count_p = np.bincount(labels, minlength=self.num_predicates)
                for p in present:
                    lists[p].append(float(hits_p[p]) / float(count_p[p]))
                if n_zs:
                    zout[k] = float((hit & zs).sum()) / n_zs
                    self._r[zfam][k].append(zout[k])
                else:
                    zout[k] = None
        return res

    # ------------------------------------------------------------------ results
    def per_predicate_recall(self, k: int, graph_constraint: bool = True) -> list[float | None]:
        """Per-predicate recall@K for predicates 0..P-1 (index 0 is always None): the mean over the
        images containing the predicate of that image's hits/count; None if never in the GT."""
        lists = self._per_pred["R" if graph_constraint else "ngR"][k]
        return [None] + [_mean(lists[p]) for p in range(1, self.num_predicates)]

    def _mean_recall(self, k: int, graph_constraint: bool) -> tuple[float | None, float | None]:
        if self.num_images == 0:
            return None, None
        per = self.per_predicate_recall(k, graph_constraint)[1:]
        seen = [v for v in per if v is not None]
        mr = sum(v or 0.0 for v in per) / float(self.num_predicates - 1)
        return mr, (float(np.mean(seen)) if seen else None)

    def summary(self) -> dict[str, Any]:
        """All metrics as a JSON-serialisable dict; values are fractions in [0, 1] (None = undefined).

        Keys: ``"{family}@{K}"`` for families R, ngR, mR, ng-mR, mR-seen, ng-mR-seen, zsR, ng-zsR;
        ``per_predicate`` (``{"R@K" / "ngR@K": {name: recall or None}}``), ``predicate_gt_counts``,
        ``predicate_images``, ``num_images`` (evaluated), ``num_images_skipped`` (no GT relations),
        ``num_zeroshot_images``, ``ks``, ``ng_top``, ``num_predicates``.
        """
        out: dict[str, Any] = {
            "num_images": self.num_images,
            "num_images_skipped": self.num_skipped,
            "num_zeroshot_images": self.num_zeroshot_images if self.zeroshot is not None else None,
            "num_predicates": self.num_predicates,
            "ks": list(self.ks),
            "ng_top": self.ng_top,
        }
        for k in self.ks:
            out[f"R@{k}"] = _mean(self._r["R"][k])
            out[f"ngR@{k}"] = _mean(self._r["ngR"][k])
            out[f"mR@{k}"], out[f"mR-seen@{k}"] = self._mean_recall(k, True)
            out[f"ng-mR@{k}"], out[f"ng-mR-seen@{k}"] = self._mean_recall(k, False)
            out[f"zsR@{k}"] = _mean(self._r["zsR"][k])
            out[f"ng-zsR@{k}"] = _mean(self._r["ng-zsR"][k])
        names = self.predicate_names
        per: dict[str, dict[str, float | None]] = {}
        for k in self.ks:
            for fam, gc in (("R", True), ("ngR", False)):
                vals = self.per_predicate_recall(k, gc)
                per[f"{fam}@{k}"] = {names[p]: vals[p] for p in range(1, self.num_predicates)}
        out["per_predicate"] = per
        out["predicate_gt_counts"] = {names[p]: int(self._gt_count[p]) for p in range(1, self.num_predicates)}
        out["predicate_images"] = {names[p]: int(self._img_count[p]) for p in range(1, self.num_predicates)}
        return out

    def table(self, title: str = "", digits: int = 2) -> str:
        """A text table, one row per metric@K (R@20, R@50, R@100, ngR@20, ...) in percent."""
        return _single_table(self.summary(), title, digits)


def evaluate(pairs: Iterable[tuple[GroundTruth, Prediction]], num_predicates: int, **kwargs: Any) -> dict[str, Any]:
    """Convenience: ``Evaluator(num_predicates, **kwargs)`` over ``(gt, pred)`` pairs -> ``summary()``."""
    ev = Evaluator(num_predicates, **kwargs)
    for gt, pred in pairs:
        ev.add(gt, pred)
    return ev.summary()


def zeroshot_triplets(train: Iterable[GroundTruth], test: Iterable[GroundTruth]) -> set[tuple[int, int, int]]:
    """``(subject class, predicate, object class)`` triplets of ``test`` that never occur in ``train``."""

    def triplets(gts: Iterable[GroundTruth]) -> set[tuple[int, int, int]]:
        out: set[tuple[int, int, int]] = set()
        for gt in gts:
            for s, o, p in gt.relations.tolist():
                out.add((int(gt.labels[s]), int(p), int(gt.labels[o])))
        return out

    return triplets(test) - triplets(train)


# ---------------------------------------------------------------------------------------- tables
def _fmt(v: Any, digits: int) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{100.0 * float(v):.{digits}f}"


def _single_table(summary: Mapping[str, Any], title: str, digits: int) -> str:
    rows = []
    for fam, _ in _FAMILIES:
        for k in summary["ks"]:
            v = summary.get(f"{fam}@{k}")
            if fam.startswith(("zsR", "ng-zsR")) and summary.get("num_zeroshot_images") is None:
                continue
            rows.append((f"{fam}@{k}", _fmt(v, digits)))
    w0 = max([len("Metric")] + [len(r[0]) for r in rows])
    w1 = max([len("%")] + [len(r[1]) for r in rows])
    lines = []
    if title:
        lines.append(title)
    lines.append(f"{'Metric':<{w0}}  {'%':>{w1}}")
    lines.append("-" * (w0 + 2 + w1))
    lines += [f"{a:<{w0}}  {b:>{w1}}" for a, b in rows]
    lines.append(f"({summary['num_images']} images; {summary['num_images_skipped']} without GT relations skipped)")
    return "\n".join(lines)


def format_results_table(results_by_mode: Mapping[str, Mapping[str, Any]], title: str = "",
                         digits: int = 2) -> str:
    """One text table in the layout of the paper's Table 1: a column group per mode (PredCls, SGCls,
    SGDet, in that order; other keys follow as given) with one column per K, and one row per metric
    family (R, ngR, mR, ng-mR, ...). Values in percent; rows that are undefined everywhere are left out.
    """
    if not results_by_mode:
        raise InputError("no results to tabulate")
    order = [m for m in ("predcls", "sgcls", "sgdet") if m in {k.lower() for k in results_by_mode}]
    keys = sorted(results_by_mode, key=lambda m: order.index(m.lower()) if m.lower() in order else len(order))
    ks = sorted({int(k) for s in results_by_mode.values() for k in s["ks"]})
    cell = max(len(_fmt(1.0, digits)), max(len(f"@{k}") for k in ks))
    group_w = len(ks) * (cell + 1) - 1
    label_w = max(len(label) for _, label in _FAMILIES)

    body = []
    for fam, label in _FAMILIES:
        vals = [[results_by_mode[m].get(f"{fam}@{k}") for k in ks] for m in keys]
        if all(v is None for g in vals for v in g):
            continue
        cells = [" ".join(f"{_fmt(v, digits):>{cell}}" for v in g) for g in vals]
        body.append(f"{label:<{label_w}} | " + " | ".join(cells))
    titles = [_MODE_TITLES.get(m.lower(), m) for m in keys]
    head1 = f"{'':<{label_w}} | " + " | ".join(f"{t:^{group_w}}" for t in titles)
    head2 = f"{'Metric':<{label_w}} | " + " | ".join(" ".join(f"{'@' + str(k):>{cell}}" for k in ks) for _ in keys)
    rule = "-" * len(head2)
    lines = [title] if title else []
    lines += [head1, head2, rule] + body
    lines.append("images: " + ", ".join(f"{t} {results_by_mode[m]['num_images']}" for t, m in zip(titles, keys)))
    return "\n".join(lines)
