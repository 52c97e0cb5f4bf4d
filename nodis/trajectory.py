"""A model's solution over a grid of ODE times, decoded into scene graphs on demand.

:meth:`nodis.model.NODIS.predict` runs the detector once and solves the object ODE once over the
grid ``times``; the result is a :class:`Trajectory`. :meth:`Trajectory.graph_at` decodes the scene
graph at an object-ODE time ``t_obj`` and a predicate-ODE time ``t_rel`` (linked by default):

* objects at ``t_obj``: class distributions of the O-ODE state (sgcls, sgdet), the given labels
  (predcls); in sgdet per-class NMS runs on the class scores at ``t_obj``, so the set of kept boxes
  may change with time;
* relations: the predicate branch is conditioned on the objects (kept boxes and their labels) at
  ``t_obj``. Each distinct conditioning is solved once over the whole grid and cached, so moving
  ``t_rel`` never re-solves and moving ``t_obj`` re-solves only when the decoded objects change.

Nothing here re-runs the detector. Values at a grid time equal those of a solve that stops there.

Per-item histories over the grid (:meth:`Trajectory.object_history`, :meth:`Trajectory.relation_history`,
all items at once: :meth:`Trajectory.histories`) and the ODE hidden states for state-space views
(:meth:`Trajectory.object_states`, :meth:`Trajectory.relation_states`, :meth:`Trajectory.state_space`)
read the states already solved; they never integrate an ODE again (see their docstrings for the one
exception, ``solve=True`` on a conditioning nobody has solved yet).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch

from .errors import InputError
from .graph import ObjectNode, Relation, SceneGraph


@dataclass
class ObjectSet:
    """Objects decoded at one grid time. ``ids`` index the trajectory's rois."""

    ids: np.ndarray  # (K,)
    labels: np.ndarray  # (K,)
    scores: np.ndarray  # (K,)
    probs: np.ndarray | None  # (K, C) or None (predcls)
    boxes: np.ndarray  # (K, 4) original-image pixels
    model_boxes: np.ndarray | None = None  # (K, 4) sgdet: the same boxes in model-input pixels, unclipped

    @property
    def key(self) -> tuple:
        return (tuple(self.ids.tolist()), tuple(self.labels.tolist()))


#: Schema of :meth:`Histories.to_dict` (``nodis predict --format history``).
HISTORY_SCHEMA = "nodis.history/1"


def _top_classes(probs: np.ndarray, first: list[int], k: int) -> np.ndarray:
    """``first`` (kept in order) then the other non-background classes by their peak over the grid
    (``probs (G, C)``, NaN rows ignored), ``k`` in all (at least the ``first`` ones)."""
    out = [int(c) for c in first if c >= 1]
    out = list(dict.fromkeys(out))
    with np.errstate(invalid="ignore"):
        peak = np.nanmax(np.where(np.isnan(probs), -1.0, probs), 0) if probs.shape[0] else np.zeros(probs.shape[1])
    for c in np.argsort(-peak[1:], kind="stable") + 1:
        if len(out) >= max(k, len(first)):
            break
        if int(c) not in out:
            out.append(int(c))
    return np.array(out, np.int64)


@dataclass
class ObjectHistory:
    """One object's class probabilities over the trajectory's grid (plain numpy, no torch).

    ``probs[g]`` is the full class distribution at ``times[g]`` (index 0 = background; a one-hot of the
    given label in PredCls). ``labels[g]`` / ``scores[g]`` are the object's class and score in the
    scene graph at that time; ``present[g]`` says whether the object is in that graph (SGDet: it
    survives NMS; where it does not, ``labels`` is the plain arg-max over classes >= 1)."""

    index: int
    times: np.ndarray  # (G,)
    t_end: float
    probs: np.ndarray  # (G, C)
    labels: np.ndarray  # (G,)
    scores: np.ndarray  # (G,)
    present: np.ndarray  # (G,) bool
    boxes: np.ndarray  # (G, 4) original-image pixels (SGDet: the box regressed for the label at that time)
    class_names: list[str]

    @property
    def label_end(self) -> int:
        """The class at ``t_end``."""
        return int(self.labels[int(np.argmin(np.abs(self.times - self.t_end)))])

    @property
    def label_start(self) -> int:
        """The class at the first grid time (t = 0)."""
        return int(self.labels[0])

    def top(self, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """``(classes (K,), probs (G, K))``: the class at ``t_end`` first, then the classes with the
        highest peak probability over the grid, ``k`` in all."""
        cls = _top_classes(self.probs, [self.label_end], k)
        return cls, self.probs[:, cls]

    def changes(self) -> list[tuple[float, int, int]]:
        """``(t, old label, new label)`` at each grid time where the label differs from the previous one."""
        return [(float(self.times[g]), int(self.labels[g - 1]), int(self.labels[g]))
                for g in range(1, len(self.times)) if self.labels[g] != self.labels[g - 1]]


@dataclass
class RelationHistory:
    """The predicate probabilities of one ordered pair ``subject -> object`` over the grid.

    ``t_obj is None`` (linked, as :meth:`Trajectory.graph_at` with one time): at each grid time the
    predicate ODE is the one conditioned on the objects decoded at that time, so ``subject_labels`` /
    ``object_labels`` are also the labels it was given. With a number, every time reads the one solve
    conditioned on the objects at ``t_obj`` (the labels it was given are ``condition_labels``).
    ``available[g]`` is False where the pair is no candidate at that time (SGDet: one of its boxes is
    not kept, or the boxes do not overlap) or its conditioning was not solved (``solve=False``); there
    ``probs``, ``scores`` are NaN and ``predicates``, ``ranks`` are 0."""

    subject: int
    object: int
    times: np.ndarray  # (G,)
    t_end: float
    t_obj: float | None
    probs: np.ndarray  # (G, P) index 0 = no relation
    predicates: np.ndarray  # (G,) arg-max over predicates >= 1
    scores: np.ndarray  # (G,) triplet score subject x object x predicate
    ranks: np.ndarray  # (G,) 1 = best relation of the graph at that time
    available: np.ndarray  # (G,) bool
    subject_labels: np.ndarray  # (G,) labels of the subject in the graph at each time
    object_labels: np.ndarray  # (G,)
    condition_labels: tuple[int, int] | None  # labels the fixed-t_obj solve was conditioned on
    predicate_names: list[str]

    @property
    def predicate_end(self) -> int:
        """The predicate at ``t_end`` (0 when the pair is not available there)."""
        return int(self.predicates[int(np.argmin(np.abs(self.times - self.t_end)))])

    def top(self, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """``(predicates (K,), probs (G, K))``: the predicate at ``t_end`` first, then the highest peaks."""
        cls = _top_classes(self.probs, [self.predicate_end], k)
        return cls, self.probs[:, cls]


@dataclass
class Histories:
    """Every object's and every relation's history of one image over the grid (plain numpy).

    Objects: ``object_ids (N,)`` (every object of the graph at some grid time) with arrays over
    ``(G, N, ...)`` as in :class:`ObjectHistory`. Relations: ``pairs (R, 2)`` (every candidate pair at
    some grid time, or with ``top_k`` the pairs among the best ``top_k`` at some time), ordered by
    their rank at ``t_end``, with arrays over ``(G, R, ...)`` as in :class:`RelationHistory`.
    :meth:`object` / :meth:`relation` give one item's history."""

    image: str | None
    image_size: tuple[int, int]
    mode: str
    times: np.ndarray  # (G,)
    t_end: float
    t_obj: float | None
    class_names: list[str]
    predicate_names: list[str]
    object_ids: np.ndarray  # (N,)
    object_probs: np.ndarray  # (G, N, C)
    object_labels: np.ndarray  # (G, N)
    object_scores: np.ndarray  # (G, N)
    object_present: np.ndarray  # (G, N) bool
    object_boxes: np.ndarray  # (G, N, 4)
    pairs: np.ndarray  # (R, 2)
    relation_probs: np.ndarray  # (G, R, P), NaN where not available
    relation_predicates: np.ndarray  # (G, R)
    relation_scores: np.ndarray  # (G, R), NaN where not available
    relation_ranks: np.ndarray  # (G, R), 0 where not available
    relation_available: np.ndarray  # (G, R) bool
    condition_labels: np.ndarray | None = None  # (R, 2) labels of the fixed-t_obj conditioning

    def _object_col(self, index: int) -> int:
        hit = np.nonzero(self.object_ids == int(index))[0]
        if not hit.size:
            raise InputError(f"object {index} is not an object of this image at any grid time "
                             f"(objects: {', '.join(map(str, self.object_ids.tolist())) or 'none'})")
        return int(hit[0])

    def object(self, index: int) -> ObjectHistory:
        k = self._object_col(index)
        return ObjectHistory(int(index), self.times, self.t_end, self.object_probs[:, k], self.object_labels[:, k],
                             self.object_scores[:, k], self.object_present[:, k], self.object_boxes[:, k],
                             self.class_names)

    def to_dict(self) -> dict:
        """The ``nodis.history/1`` document (docs/formats.md): per item, arrays over ``times``;
        unavailable relation times are ``null``."""
        def f6(a) -> list:
            return [None if v != v else float(f"{v:.6g}") for v in np.asarray(a, np.float64).reshape(-1).tolist()]

        def rows(a) -> list:
            return [f6(r) if not np.isnan(r).all() else None for r in np.asarray(a)]

        objects = []
        for k, i in enumerate(self.object_ids.tolist()):
            h = self.object(i)
            objects.append({"index": int(i), "label_start": h.label_start, "label_end": h.label_end,
                            "name_start": self.class_names[h.label_start], "name_end": self.class_names[h.label_end],
                            "present": self.object_present[:, k].astype(bool).tolist(),
                            "labels": self.object_labels[:, k].tolist(), "scores": f6(self.object_scores[:, k]),
                            "boxes": [f6(b) for b in self.object_boxes[:, k]], "probs": rows(self.object_probs[:, k])})
        relations = []
        for r, (s_, o_) in enumerate(self.pairs.tolist()):
            h = self.relation(s_, o_)
            d = {"subject": int(s_), "object": int(o_), "predicate_end": h.predicate_end,
                 "name_end": self.predicate_names[h.predicate_end] if h.predicate_end else None,
                 "available": self.relation_available[:, r].astype(bool).tolist(),
                 "predicates": self.relation_predicates[:, r].tolist(), "ranks": self.relation_ranks[:, r].tolist(),
                 "scores": f6(self.relation_scores[:, r]), "probs": rows(self.relation_probs[:, r])}
            if self.condition_labels is not None:
                d["condition_labels"] = self.condition_labels[r].tolist()
            relations.append(d)
        return {"schema": HISTORY_SCHEMA, "image": self.image, "image_size": list(self.image_size), "mode": self.mode,
                "t_end": self.t_end, "t_obj": self.t_obj, "times": [float(t) for t in self.times],
                "objects": objects, "relations": relations, "class_names": list(self.class_names),
                "predicate_names": list(self.predicate_names)}

    @classmethod
    def from_dict(cls, d: dict) -> "Histories":
        """Read a ``nodis.history/1`` document back (``InputError`` when it is not one)."""
        if not isinstance(d, dict) or d.get("schema") != HISTORY_SCHEMA:
            got = d.get("schema") if isinstance(d, dict) else type(d).__name__
            raise InputError(f"not a nodis history (schema {got!r}, expected {HISTORY_SCHEMA!r})")
        try:
            times = np.asarray(d["times"], np.float64)
            G, C, P = len(times), len(d["class_names"]), len(d["predicate_names"])
            objs, rels = d["objects"], d["relations"]

            def arr(rows_, width):
                return np.array([[np.nan] * width if r is None else r for r in rows_], np.float32).reshape(G, width)

            def col(items, key, dtype, shape=()):
                if not items:
                    return np.zeros((G, 0) + shape, dtype)
                vals = [[np.nan if v is None else v for v in it[key]] if not shape else it[key] for it in items]
                return np.array(vals, dtype).reshape((len(items), G) + shape).swapaxes(0, 1)

            def stack(items, width):
                return np.stack([arr(it["probs"], width) for it in items], 1) if items else np.zeros((G, 0, width), np.float32)

            cond = (np.array([r["condition_labels"] for r in rels], np.int64).reshape(-1, 2)
                    if d.get("t_obj") is not None else None)
            return cls(d.get("image"), (int(d["image_size"][0]), int(d["image_size"][1])), str(d["mode"]), times,
                       float(d["t_end"]), None if d.get("t_obj") is None else float(d["t_obj"]),
                       list(d["class_names"]), list(d["predicate_names"]),
                       np.array([o["index"] for o in objs], np.int64), stack(objs, C),
                       col(objs, "labels", np.int64), col(objs, "scores", np.float32), col(objs, "present", bool),
                       col(objs, "boxes", np.float64, (4,)),
                       np.array([[r["subject"], r["object"]] for r in rels], np.int64).reshape(-1, 2), stack(rels, P),
                       col(rels, "predicates", np.int64), col(rels, "scores", np.float32), col(rels, "ranks", np.int64),
                       col(rels, "available", bool), cond)
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise InputError(f"malformed nodis history: {e!r}") from None

    def relation(self, subject: int, object: int) -> RelationHistory:
        hit = np.nonzero((self.pairs[:, 0] == int(subject)) & (self.pairs[:, 1] == int(object)))[0]
        if not hit.size:
            raise InputError(f"the pair {subject} -> {object} is not a relation candidate of this image "
                             "(or not among the pairs kept with top_k)")
        r = int(hit[0])
        ks, ko = self._object_col(subject), self._object_col(object)
        cond = None if self.condition_labels is None else tuple(int(v) for v in self.condition_labels[r])
        return RelationHistory(int(subject), int(object), self.times, self.t_end, self.t_obj,
                               self.relation_probs[:, r], self.relation_predicates[:, r], self.relation_scores[:, r],
                               self.relation_ranks[:, r], self.relation_available[:, r],
                               self.object_labels[:, ks], self.object_labels[:, ko], cond, self.predicate_names)


@dataclass
class StateSpace:
    """ODE hidden states of one image over the grid, for 2-D projections (:mod:`nodis.statespace`).

    Objects (SGCls/SGDet): ``object_states (G, N, D)`` of ``object_ids`` and the object decoder
    ``logits = states @ object_weight.T + object_bias`` (``(C, D)``, ``(C,)``; a linear layer, so two
    classes' rows span the plane in which their decision boundary is a line). Relations: the P-ODE
    states ``relation_states (G, R, D)`` of ``pairs`` from the solve conditioned on the objects at
    ``t_end``, and their decoded ``relation_logits (G, R, P)`` (the predicate decoder is an MLP, so
    two predicates are compared on their logits)."""

    times: np.ndarray
    t_end: float
    object_ids: np.ndarray  # (N,)
    object_states: np.ndarray  # (G, N, D)
    object_weight: np.ndarray | None  # (C, D)
    object_bias: np.ndarray | None  # (C,)
    pairs: np.ndarray  # (R, 2)
    relation_states: np.ndarray  # (G, R, D)
    relation_logits: np.ndarray  # (G, R, P)
    class_names: list[str]
    predicate_names: list[str]


def _retain_top() -> int:
    from .model.nodis import RETAIN_TOP

    return RETAIN_TOP


class Trajectory:
    def __init__(self, model, fmap, rois, times, mode, scale, image_size, obj_probs, given_labels, class_boxes,
                 nfe_obj, image=None, setup_seconds=0.0, given_boxes=None, obj_states=None,
                 nfe_obj_t_end: int | None = None) -> None:
        self.model = model
        self.vocab = model.vocab
        self.cfg = model.cfg
        self.fmap = fmap
        self.rois = rois
        # the grid is float32 inside the solver; report the decimal values it was made from
        self.times = np.round(times.cpu().numpy().astype(np.float64), 6)
        self._times_t = times
        self.mode = mode
        self.scale = float(scale)
        self.image_size = image_size
        self.obj_probs = obj_probs  # (G, N, C) torch CPU or None
        # O-ODE states (G, N, D) torch CPU or None (predcls); in sgdet compacted to the rois that are an
        # object at some grid time once every time is decoded (_state_ids then lists those rois)
        self._obj_states = obj_states
        self._state_ids: np.ndarray | None = None
        self.given_labels = given_labels
        self.given_boxes = None if given_boxes is None else np.asarray(given_boxes, np.float64).reshape(-1, 4)
        self.class_boxes = class_boxes  # (N, C, 4) model pixels (sgdet)
        self.nfe_obj = int(nfe_obj)  # the O-ODE solve over the whole grid
        #: NFE of an O-ODE solve that stops at t_end (what the release reports); None if unknown
        self.nfe_obj_t_end = None if nfe_obj_t_end is None else int(nfe_obj_t_end)
        self.image = image
        self.setup_seconds = setup_seconds
        self._objects: dict[int, ObjectSet] = {}
        self._relations: dict[tuple, object] = {}
        self._feature_cache: dict = {}  # label-independent pair features per pair set (see solve_relations)
        self._graphs: dict[tuple, SceneGraph] = {}
        # P-ODE solves over a prefix of the grid (graph_soon), per conditioning, until the whole grid's solve exists
        self._prefix_solves: dict[tuple, object] = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ time grid
    @property
    def t_end(self) -> float:
        return float(self.cfg.t_end)

    @property
    def num_objects_in(self) -> int:
        return int(self.rois.shape[0])

    def index_of(self, t: float) -> int:
        """The grid index nearest to ``t``. A time outside the solved grid ``[times[0], times[-1]]`` (or not
        a number) raises :class:`InputError`: the trajectory holds no state there."""
        t = float(t)
        lo, hi = float(self.times[0]), float(self.times[-1])
        if not (lo - 1e-5 <= t <= hi + 1e-5):  # also false for NaN
            raise InputError(f"t = {t:g} is outside the solved ODE grid [{lo:g}, {hi:g}]; solve a grid that reaches "
                             f"it with model.predict(image, times=[...]) (CLI: --times A:B:S)")
        return int(np.argmin(np.abs(self.times - t)))

    # ------------------------------------------------------------------ objects
    def objects_at(self, t: float) -> ObjectSet:
        gi = self.index_of(t)
        with self._lock:
            if gi not in self._objects:
                self._objects[gi] = self._decode_objects(gi)
                if (self.mode == "sgdet" and len(self._objects) == len(self.times) and self._obj_states is not None
                        and self._state_ids is None):
                    self._compact_states()
            return self._objects[gi]

    def _decode_objects(self, gi: int) -> ObjectSet:
        n = self.num_objects_in
        if self.mode == "predcls":
            ids = np.arange(n)
            labels = np.asarray(self.given_labels, np.int64)
            return ObjectSet(ids, labels, np.ones(n, np.float32), None, self.given_boxes)
        probs = self.obj_probs[gi]  # (N, C)
        if self.mode == "sgcls":
            p = probs[:, 1:]
            labels = (p.argmax(1) + 1).numpy() if n else np.zeros(0, np.int64)
            scores = p.max(1).values.numpy() if n else np.zeros(0, np.float32)
            return ObjectSet(np.arange(n), labels, scores, probs.numpy(), self.given_boxes)
        return self._sgdet_objects(probs)

    def _sgdet_objects(self, probs: torch.Tensor) -> ObjectSet:
        """``filter_det`` + the label NMS of the release (facts sheet §3.1, sgdet), at one time."""
        from .model.box_ops import label_nms_mask, nms_by_class  # (nodis.model imports this module)

        cfg = self.cfg
        n, C = probs.shape
        if n == 0:
            return self._empty_objects(C)
        cboxes = self.class_boxes.detach().float().cpu()  # (N, C, 4)
        p = probs[:, 1:]
        cand = (p > cfg.det_thresh).nonzero()  # (M, 2): roi, class-1
        if cand.shape[0] == 0:  # nothing scores above the threshold: zero detections
            return self._empty_objects(C)
        roi, cls = cand[:, 0], cand[:, 1] + 1
        sc = probs[roi, cls]
        # per-class NMS, at most 300 per class (filter_det: nms_thresh 0.3, post_nms_topn 300); with the
        # release's rules the +1-pixel kernel. Rois under det_thresh in a class never change its kept set
        # above det_thresh (they come last), so they are left out.
        keep = nms_by_class(cboxes[roi, cls], sc, cls, cfg.det_nms, cfg.box_rules, post_nms=300)
        # nms_filter_duplicates: each roi keeps its best surviving class
        roi_k, sc_k = roi[keep], sc[keep]
        best = torch.full((n,), -1.0)
        best.scatter_reduce_(0, roi_k, sc_k, reduce="amax")
        ids = (best > cfg.det_thresh).nonzero(as_tuple=True)[0]
        ids = ids[best[ids].argsort(descending=True, stable=True)][: cfg.max_objects]
        if ids.numel() == 0:
            return self._empty_objects(C)
        # labels: second per-class NMS at 0.5 over the kept boxes, arg-max of surviving classes
        kp = probs[ids]  # (K, C)
        masked = (label_nms_mask(cboxes[ids], kp, 0.5, cfg.box_rules) * kp)[:, 1:]
        labels = masked.argmax(1) + 1  # release: a box suppressed in every class gets class 1
        if cfg.box_rules != "release":
            none = masked.max(1).values <= 0  # suppressed everywhere: fall back to the plain arg-max
            labels[none] = kp[none, 1:].argmax(1) + 1
        scores = kp.gather(1, labels[:, None])[:, 0]
        model_boxes = cboxes[ids, labels]
        boxes = self._to_image(model_boxes)
        return ObjectSet(ids.numpy(), labels.numpy(), scores.numpy(), kp.numpy(), boxes.numpy(), model_boxes.numpy())

    def _to_image(self, boxes: torch.Tensor) -> torch.Tensor:
        """Model-input pixels -> original-image pixels, inside ``[0, W] x [0, H]`` with x1 <= x2, y1 <= y2
        (the +1-pixel box decoding can give x2 < x1 for sub-pixel widths)."""
        W, H = self.image_size
        b = boxes / self.scale
        x = b[:, 0::2].clamp(0, W)
        y = b[:, 1::2].clamp(0, H)
        x1, y1 = x[:, 0], y[:, 0]
        return torch.stack((x1, y1, torch.maximum(x[:, 1], x1), torch.maximum(y[:, 1], y1)), 1)

    @staticmethod
    def _empty_objects(num_classes: int) -> ObjectSet:
        return ObjectSet(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32),
                         np.zeros((0, num_classes), np.float32), np.zeros((0, 4), np.float32))

    # ------------------------------------------------------------------ relations
    def _solve_for(self, objs: ObjectSet, times: torch.Tensor):
        dev = self.fmap.device
        ids = torch.as_tensor(objs.ids, dtype=torch.long, device=dev)
        pairs_local = self.model.candidate_pairs(self.rois[ids, 1:], self.mode == "sgdet")
        pairs = ids[pairs_local] if pairs_local.numel() else pairs_local.reshape(0, 2)
        labels = torch.zeros(self.num_objects_in, dtype=torch.long, device=dev)
        labels[ids] = torch.as_tensor(objs.labels, dtype=torch.long, device=dev)
        return self.model.solve_relations(self.fmap, self.rois, labels, pairs, times, cache=self._feature_cache)

    def relation_solve(self, objs: ObjectSet):
        """The (cached) P-ODE solve for this set of objects and labels."""
        key = objs.key
        with self._lock:
            if key not in self._relations:
                solve = self._solve_for(objs, self._times_t)
                self._prefix_solves.pop(key, None)  # the whole grid's solve supersedes a shorter one
                if key == self.objects_at(self.t_end).key and hasattr(solve, "pin"):
                    # the conditioning of the trained end time keeps its best pairs' P-ODE states
                    score_of = dict(zip(objs.ids.tolist(), objs.scores.tolist()))
                    solve.pin(np.array([score_of[int(a)] * score_of[int(b)] for a, b in solve.pairs], np.float32))
                self._relations[key] = solve
            return self._relations[key]

    def precompute(self, relations: bool = True) -> int:
        """Decode objects at every grid time and (optionally) solve every distinct relation
        conditioning, so that any later :meth:`graph_at` is a cache lookup. Returns the number of
        distinct relation solves."""
        keys = set()
        for t in self.times:
            objs = self.objects_at(t)
            keys.add(objs.key)
            if relations:
                self.relation_solve(objs)
        return len(keys)

    @property
    def nfe(self) -> dict[str, int | None]:
        """Function evaluations of the object ODE and of the relation solve conditioned on the objects
        at t_end: ``object``/``predicate`` for the solves over this trajectory's whole grid (up to its
        last time, 2.5 by default), ``object_t_end``/``predicate_t_end`` for solves that stop at t_end
        (the NFE the release reports; equal to the former when the grid ends at t_end)."""
        rel = self.relation_solve(self.objects_at(self.t_end))
        nfe_rel_t_end = getattr(rel, "nfe_t_end", None)
        return {"object": self.nfe_obj, "predicate": int(rel.nfe), "object_t_end": self.nfe_obj_t_end,
                "predicate_t_end": None if nfe_rel_t_end is None else int(nfe_rel_t_end)}

    # ------------------------------------------------------------------ histories (no new solve)
    def object_ids_over_grid(self) -> np.ndarray:
        """Ids of every object of the graph at some grid time, sorted. SGCls/PredCls: every given box;
        SGDet: the rois kept by NMS at some grid time (decodes the objects at every grid time: NMS only)."""
        if self.mode != "sgdet":
            return np.arange(self.num_objects_in, dtype=np.int64)
        ids: set[int] = set()
        for t in self.times:
            ids.update(self.objects_at(t).ids.tolist())
        return np.array(sorted(ids), np.int64)

    def _check_ids(self, ids) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        bad = ids[(ids < 0) | (ids >= self.num_objects_in)]
        if bad.size:
            raise InputError(f"object {int(bad[0])} does not exist: this image has object ids 0..{self.num_objects_in - 1}")
        return ids

    def _object_arrays(self, ids: np.ndarray):
        """``probs (G,K,C), labels (G,K), scores (G,K), present (G,K), boxes (G,K,4)`` of objects ``ids``."""
        G, K, C = len(self.times), len(ids), self.cfg.num_classes
        if self.mode == "predcls":
            lab = np.asarray(self.given_labels, np.int64)[ids]
            probs = np.zeros((G, K, C), np.float32)
            probs[:, np.arange(K), lab] = 1.0
            return (probs, np.tile(lab, (G, 1)), np.ones((G, K), np.float32), np.ones((G, K), bool),
                    np.tile(self.given_boxes[ids][None], (G, 1, 1)))
        probs = self.obj_probs[:, torch.as_tensor(ids, dtype=torch.long)].numpy().astype(np.float32, copy=False)
        labels = (probs[:, :, 1:].argmax(2) + 1) if K else np.zeros((G, 0), np.int64)
        scores = np.take_along_axis(probs, labels[..., None], 2)[..., 0].astype(np.float32)
        present = np.zeros((G, K), bool)
        col = {int(i): k for k, i in enumerate(ids)}
        for g, t in enumerate(self.times):
            objs = self.objects_at(t)
            for pos, i in enumerate(objs.ids.tolist()):
                k = col.get(i)
                if k is not None:
                    present[g, k] = True
                    labels[g, k] = objs.labels[pos]
                    scores[g, k] = objs.scores[pos]
        if self.mode == "sgdet" and K:
            cb = self.class_boxes.detach().float().cpu()
            idt = torch.as_tensor(ids, dtype=torch.long)
            boxes = np.stack([self._to_image(cb[idt, torch.as_tensor(labels[g], dtype=torch.long)]).numpy()
                              for g in range(G)]).astype(np.float64)
        elif self.mode == "sgdet":
            boxes = np.zeros((G, 0, 4))
        else:
            boxes = np.tile(self.given_boxes[ids][None], (G, 1, 1))
        return probs, labels.astype(np.int64), scores, present, boxes

    def object_history(self, index: int) -> ObjectHistory:
        """Class probabilities of object ``index`` (an :attr:`ObjectNode.index`) at every grid time.

        Read from the object-ODE states solved by :meth:`NODIS.predict`: no ODE is solved. In SGDet the
        objects are decoded (NMS) at every grid time to fill ``present``."""
        ids = self._check_ids([index])
        probs, labels, scores, present, boxes = self._object_arrays(ids)
        return ObjectHistory(int(index), self.times.copy(), self.t_end, probs[:, 0], labels[:, 0], scores[:, 0],
                             present[:, 0], boxes[:, 0], list(self.vocab.classes))

    def _cached_solve(self, objs: ObjectSet, solve: bool):
        with self._lock:
            hit = self._relations.get(objs.key)
        if hit is not None or not solve:
            return hit
        return self.relation_solve(objs)

    def _relation_arrays(self, t_obj: float | None, top_k: int | None, solve: bool, only=None):
        """Relation histories: ``pairs (R,2)``, ``probs (G,R,P)``, ``pred (G,R)``, ``score (G,R)``,
        ``rank (G,R)``, ``available (G,R)``, ``condition labels (R,2) or None``."""
        G, P = len(self.times), self.cfg.num_predicates
        fixed = None if t_obj is None else self.objects_at(t_obj)
        if fixed is not None:  # one solve for every time
            sv = self._cached_solve(fixed, solve)
            per_time = [(fixed, sv)] * G
        else:  # the solve of each time's objects
            per_time = [(objs, self._cached_solve(objs, solve)) for objs in (self.objects_at(t) for t in self.times)]
        ranked = [None if sv is None else self._rank(objs, sv, g) for g, (objs, sv) in enumerate(per_time)]
        # the pairs: every candidate (or the best top_k at some time), restricted to ``only``
        index: dict[tuple[int, int], int] = {}
        for rk in ranked:
            if rk is None:
                continue
            n = len(rk[1]) if top_k is None else min(int(top_k), len(rk[1]))
            for s, o in rk[0][:n].tolist():
                if only is None or (s, o) in only:
                    index.setdefault((s, o), len(index))
        R = len(index)
        probs = np.full((G, R, P), np.nan, np.float32)
        pred = np.zeros((G, R), np.int64)
        score = np.full((G, R), np.nan, np.float32)
        rank = np.zeros((G, R), np.int64)
        avail = np.zeros((G, R), bool)
        for g, rk in enumerate(ranked):
            if rk is None:
                continue
            pairs_g, pred_g, trip_g, probs_g = rk
            for r, (s, o) in enumerate(pairs_g.tolist()):
                k = index.get((s, o))
                if k is None:
                    continue
                probs[g, k], pred[g, k], score[g, k], rank[g, k], avail[g, k] = probs_g[r], pred_g[r], trip_g[r], r + 1, True
        pairs = np.array(list(index), np.int64).reshape(-1, 2)
        # order: best at t_end first (not available there: last), then by subject, object
        ge = self.index_of(self.t_end)
        key = np.where(avail[ge], rank[ge], np.iinfo(np.int64).max) if R else np.zeros(0, np.int64)
        order = np.lexsort((pairs[:, 1], pairs[:, 0], key)) if R else np.zeros(0, np.int64)
        cond = None
        if fixed is not None:
            lab = dict(zip(fixed.ids.tolist(), fixed.labels.tolist()))
            cond = np.array([[lab[s], lab[o]] for s, o in pairs[order].tolist()], np.int64).reshape(-1, 2)
        return (pairs[order], probs[:, order], pred[:, order], score[:, order], rank[:, order], avail[:, order], cond)

    def relation_history(self, subject: int, object: int, t_obj: float | None = None,
                         solve: bool = True) -> RelationHistory:
        """Predicate probabilities of the pair ``subject -> object`` at every grid time.

        ``t_obj=None``: linked, each grid time reads the predicate ODE conditioned on the objects at
        that time (what :meth:`graph_at` shows with one time). A number: every time reads the one
        solve conditioned on the objects at ``t_obj`` (e.g. ``traj.t_end``: how the P-ODE evolves
        for the labels of the trained end time).

        Nothing is integrated again for a conditioning already solved (by :meth:`graph_at`,
        :meth:`precompute`, ...). With ``solve=True`` a conditioning nobody has solved yet is solved
        once and cached (as :meth:`graph_at` would); ``solve=False`` leaves those times unavailable."""
        self._check_ids([subject, object])
        pairs, probs, pred, score, rank, avail, cond = self._relation_arrays(t_obj, None, solve,
                                                                             only={(int(subject), int(object))})
        if not len(pairs):
            raise InputError(f"the pair {subject} -> {object} is not a relation candidate at any grid time"
                             + ("" if solve else " that is solved already"))
        _, labels, _, _, _ = self._object_arrays(np.array([subject, object], np.int64))
        return RelationHistory(int(subject), int(object), self.times.copy(), self.t_end, t_obj, probs[:, 0],
                               pred[:, 0], score[:, 0], rank[:, 0], avail[:, 0], labels[:, 0], labels[:, 1],
                               None if cond is None else (int(cond[0, 0]), int(cond[0, 1])),
                               list(self.vocab.predicates))

    def histories(self, t_obj: float | None = None, top_k: int | None = None, solve: bool = True) -> Histories:
        """Every object's and every relation's history over the grid (see :class:`Histories`).

        ``t_obj`` and ``solve`` as in :meth:`relation_history`; ``top_k`` keeps the pairs that are
        among the best ``top_k`` relations at some grid time (default: every candidate pair)."""
        ids = self.object_ids_over_grid()
        probs, labels, scores, present, boxes = self._object_arrays(ids)
        pairs, rprobs, pred, score, rank, avail, cond = self._relation_arrays(t_obj, top_k, solve)
        return Histories(self.image, tuple(self.image_size), self.mode, self.times.copy(), self.t_end, t_obj,
                         list(self.vocab.classes), list(self.vocab.predicates), ids, probs, labels, scores, present,
                         boxes, pairs, rprobs, pred, score, rank, avail, cond)

    # ------------------------------------------------------------------ ODE states (state-space views)
    def _compact_states(self) -> None:
        """SGDet, every time decoded: keep the O-ODE states of the rois that are an object at some time."""
        ids: set[int] = set()
        for objs in self._objects.values():
            ids.update(objs.ids.tolist())
        keep = np.array(sorted(ids), np.int64)
        self._obj_states = self._obj_states[:, torch.as_tensor(keep, dtype=torch.long)].clone()
        self._state_ids = keep

    def object_states(self, ids=None) -> np.ndarray:
        """Object-ODE hidden states ``(G, K, D)`` of objects ``ids`` (default :meth:`object_ids_over_grid`)
        at every grid time, as solved by :meth:`NODIS.predict`; ``object_decoder`` turns them into class
        logits. SGDet keeps the states of the objects of some grid time's graph only (``InputError``
        for other rois); PredCls solves no object ODE (``InputError``)."""
        if self._obj_states is None:
            raise InputError("PredCls takes the given labels: the object ODE is not solved, so there are no "
                             "object states (use sgcls or sgdet)")
        over_grid = self.object_ids_over_grid()  # SGDet: decodes every time, so the kept set is final
        ids = over_grid if ids is None else self._check_ids(ids)
        with self._lock:
            if self._state_ids is None:
                rows = ids
            else:
                where = {int(i): k for k, i in enumerate(self._state_ids)}
                missing = [int(i) for i in ids if int(i) not in where]
                if missing:
                    raise InputError(f"roi {missing[0]} is not an object at any grid time; object states are "
                                     "kept for the objects of the graphs only")
                rows = np.array([where[int(i)] for i in ids], np.int64)
            return self._obj_states[:, torch.as_tensor(rows, dtype=torch.long)].numpy().copy()

    def object_decoder(self) -> tuple[np.ndarray, np.ndarray]:
        """The object decoder (``decoder_lin3``) as ``(weight (C, D), bias (C,))``: logits = states @ W.T + b."""
        lin = self.model.context.decoder_lin3
        return lin.weight.detach().float().cpu().numpy().copy(), lin.bias.detach().float().cpu().numpy().copy()

    def _end_solve_rows(self, pairs) -> tuple[object, np.ndarray]:
        sv = self.relation_solve(self.objects_at(self.t_end))
        kept = sv.retained_rows()  # decodes every time: what is kept is then final
        where = {(int(a), int(b)): r for r, (a, b) in enumerate(sv.pairs.tolist())}
        pairs = np.asarray(pairs, np.int64).reshape(-1, 2) if pairs is not None else sv.pairs[kept]
        rows, kept_set = [], set(kept.tolist())
        for a, b in pairs.tolist():
            r = where.get((a, b))
            if r is None:
                raise InputError(f"the pair {a} -> {b} is not a relation candidate of the objects at t_end")
            if r not in kept_set:
                raise InputError(f"the P-ODE states of {a} -> {b} are not kept: only pairs among the best "
                                 f"{_retain_top()} relations at some grid time keep them")
            rows.append(r)
        return sv, np.array(rows, np.int64)

    def relation_states(self, pairs=None) -> tuple[np.ndarray, np.ndarray]:
        """Predicate-ODE hidden states of the solve conditioned on the objects at ``t_end``:
        ``(pairs (K,2), states (G, K, D))``. ``pairs`` default to every pair whose states are kept
        (the pairs among the best ``RETAIN_TOP`` = 100 relations at some grid time; others raise
        ``InputError``). Uses the solve :meth:`graph_at` made for ``t_end`` (makes it when absent)."""
        sv, rows = self._end_solve_rows(pairs)
        return sv.pairs[rows].copy(), sv.states_of(rows).numpy()

    def relation_logits(self, states: np.ndarray) -> np.ndarray:
        """Predicate logits ``(..., P)`` of P-ODE states ``(..., D)`` (the MLP decoder ``fc_predicate``)."""
        with torch.inference_mode():
            x = torch.as_tensor(np.asarray(states, np.float32), device=self.fmap.device)
            return self.model.relation.decode(x).float().cpu().numpy()

    def state_space(self, pairs=None) -> StateSpace:
        """Object and predicate ODE states of this image over the grid, as plain arrays (see :class:`StateSpace`)."""
        D = self.cfg.state_dim
        if self._obj_states is None:
            ids, ost, w, b = np.zeros(0, np.int64), np.zeros((len(self.times), 0, D), np.float32), None, None
        else:
            ids = self.object_ids_over_grid()
            ost = self.object_states(ids)
            w, b = self.object_decoder()
        rp, rst = self.relation_states(pairs)
        logits = self.relation_logits(rst) if rst.size else np.zeros((len(self.times), 0, self.cfg.num_predicates),
                                                                      np.float32)
        return StateSpace(self.times.copy(), self.t_end, ids, ost, w, b, rp, rst.reshape(len(self.times), -1, D),
                          logits, list(self.vocab.classes), list(self.vocab.predicates))

    # ------------------------------------------------------------------ scene graphs
    def graph_at(self, t_obj: float | None = None, t_rel: float | None = None, top_k: int | None = None,
                 distributions: bool = True) -> SceneGraph:
        """The scene graph at ``t_obj`` (default t_end) / ``t_rel`` (default = ``t_obj``).

        Relations are all candidate pairs ranked by subject score x object score x predicate score,
        background excluded; ``top_k`` keeps the first ``top_k``."""
        gi_o = self.index_of(self.t_end if t_obj is None else t_obj)
        gi_r = gi_o if t_rel is None else self.index_of(t_rel)
        key = (gi_o, gi_r, top_k, distributions)
        with self._lock:
            if key in self._graphs:
                return self._graphs[key]
            objs = self.objects_at(self.times[gi_o])
            solve = self.relation_solve(objs)
            g = self._build_graph(objs, solve, gi_o, gi_r, top_k, distributions)
            self._graphs[key] = g
            return g

    def graph_soon(self, t_obj: float | None = None, t_rel: float | None = None) -> tuple[SceneGraph, bool]:
        """The scene graph at ``t_obj`` / ``t_rel`` as soon as possible: ``(graph, complete)``.

        When the conditioning of ``t_obj`` has no P-ODE solve yet, the P-ODE is solved over the grid
        prefix ``[times[0], t_rel]`` only (kept until the whole grid is solved, and reused for earlier
        times). The adaptive solver takes the same steps up to ``t_rel`` either way (see
        :class:`nodis.model.ode.ODEBlock`), so objects, relations and their scores equal those of
        :meth:`graph_at`; only ``meta`` differs (``nfe_predicate`` is that of the prefix solve and
        ``"solved_to"`` says where it stopped), and such a graph is not cached: ``complete`` is False
        and a later :meth:`graph_at` solves the whole grid. ``complete`` is True when the graph is
        :meth:`graph_at`'s own."""
        gi_o = self.index_of(self.t_end if t_obj is None else t_obj)
        gi_r = gi_o if t_rel is None else self.index_of(t_rel)
        with self._lock:
            objs = self.objects_at(self.times[gi_o])
            key = objs.key
            if ((gi_o, gi_r, None, True) in self._graphs or key in self._relations or gi_r >= len(self.times) - 1
                    or key == self.objects_at(self.t_end).key):
                return self.graph_at(self.times[gi_o], self.times[gi_r]), True
            solve = self._prefix_solves.get(key)
            if solve is None or solve.num_times <= gi_r:
                solve = self._solve_for(objs, self._times_t[: max(gi_r + 1, 2)])  # (an ODE grid has 2 times or more)
                self._prefix_solves[key] = solve
            g = self._build_graph(objs, solve, gi_o, gi_r, None, True)
            g.meta["nfe_predicate_t_end"] = None
            g.meta["solved_to"] = float(self.times[solve.num_times - 1])
            return g, False

    def relation_arrays(self, t_obj: float | None = None, t_rel: float | None = None):
        """Ranked relation arrays at the given times (no Python objects per pair):
        ``(pairs (R,2) object ids, predicates (R,), triplet scores (R,), probs (R,P))``."""
        gi_o = self.index_of(self.t_end if t_obj is None else t_obj)
        gi_r = gi_o if t_rel is None else self.index_of(t_rel)
        objs = self.objects_at(self.times[gi_o])
        solve = self.relation_solve(objs)
        return self._rank(objs, solve, gi_r)

    def _rank(self, objs: ObjectSet, solve, gi_r: int):
        probs = solve.probs_at(gi_r).numpy() if solve.pairs.shape[0] else np.zeros((0, self.cfg.num_predicates), np.float32)
        if probs.shape[0] == 0:
            return np.zeros((0, 2), np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), probs
        score_of = dict(zip(objs.ids.tolist(), objs.scores.tolist()))
        s_sc = np.array([score_of[i] for i in solve.pairs[:, 0]], np.float32)
        o_sc = np.array([score_of[i] for i in solve.pairs[:, 1]], np.float32)
        pred = probs[:, 1:].argmax(1) + 1
        pmax = probs[np.arange(len(pred)), pred]
        trip = pmax * s_sc * o_sc  # filter_dets: pred_scores_max * obj_scores0 * obj_scores1 (float32 order)
        order = np.argsort(-trip, kind="stable")
        return solve.pairs[order], pred[order], trip[order], probs[order]

    def _build_graph(self, objs, solve, gi_o, gi_r, top_k, distributions) -> SceneGraph:
        names = self.vocab.classes
        pnames = self.vocab.predicates
        nodes = []
        for k, i in enumerate(objs.ids.tolist()):
            b = objs.boxes[k]
            nodes.append(ObjectNode(int(i), (float(b[0]), float(b[1]), float(b[2]), float(b[3])), int(objs.labels[k]),
                                    names[int(objs.labels[k])], float(objs.scores[k]),
                                    None if (objs.probs is None or not distributions) else objs.probs[k].tolist()))
        pairs, pred, trip, probs = self._rank(objs, solve, gi_r)
        if top_k is not None:
            pairs, pred, trip, probs = pairs[:top_k], pred[:top_k], trip[:top_k], probs[:top_k]
        rels = [Relation(int(pairs[r, 0]), int(pairs[r, 1]), int(pred[r]), pnames[int(pred[r])], float(trip[r]),
                         float(probs[r, pred[r]]), probs[r].tolist() if distributions else None)
                for r in range(len(pred))]
        meta = {"model": self.model.weights_name, "preset": self.cfg.preset, "t_end": self.t_end,
                "nfe_object": self.nfe_obj, "nfe_predicate": int(solve.nfe), "nfe_object_t_end": self.nfe_obj_t_end,
                "nfe_predicate_t_end": getattr(solve, "nfe_t_end", None), "state_policy": self.cfg.state_policy,
                "solver": self.cfg.solver}
        return SceneGraph(nodes, rels, tuple(self.image_size), self.mode, float(self.times[gi_o]),
                          float(self.times[gi_r]), self.image, list(names), list(pnames), meta)
