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
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import batched_nms, nms

from .graph import ObjectNode, Relation, SceneGraph


@dataclass
class ObjectSet:
    """Objects decoded at one grid time. ``ids`` index the trajectory's rois."""

    ids: np.ndarray  # (K,)
    labels: np.ndarray  # (K,)
    scores: np.ndarray  # (K,)
    probs: np.ndarray | None  # (K, C) or None (predcls)
    boxes: np.ndarray  # (K, 4) original-image pixels

    @property
    def key(self) -> tuple:
        return (tuple(self.ids.tolist()), tuple(self.labels.tolist()))


class Trajectory:
    def __init__(self, model, fmap, rois, times, mode, scale, image_size, obj_probs, given_labels, class_boxes,
                 nfe_obj, image=None, setup_seconds=0.0, given_boxes=None) -> None:
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
        self.given_labels = given_labels
        self.given_boxes = None if given_boxes is None else np.asarray(given_boxes, np.float64).reshape(-1, 4)
        self.class_boxes = class_boxes  # (N, C, 4) model pixels (sgdet)
        self.nfe_obj = int(nfe_obj)
        self.image = image
        self.setup_seconds = setup_seconds
        self._objects: dict[int, ObjectSet] = {}
        self._relations: dict[tuple, object] = {}
        self._feature_cache: dict = {}  # label-independent pair features per pair set (see solve_relations)
        self._graphs: dict[tuple, SceneGraph] = {}
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ time grid
    @property
    def t_end(self) -> float:
        return float(self.cfg.t_end)

    @property
    def num_objects_in(self) -> int:
        return int(self.rois.shape[0])

    def index_of(self, t: float) -> int:
        """The grid index nearest to ``t``."""
        return int(np.argmin(np.abs(self.times - float(t))))

    # ------------------------------------------------------------------ objects
    def objects_at(self, t: float) -> ObjectSet:
        gi = self.index_of(t)
        with self._lock:
            if gi not in self._objects:
                self._objects[gi] = self._decode_objects(gi)
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
        keep = batched_nms(cboxes[roi, cls], sc, cls, cfg.det_nms)
        # at most 300 per class after NMS (post_nms of filter_det)
        kept_cls = cls[keep]
        order_in_class = torch.zeros_like(keep)
        for c in kept_cls.unique():
            m = (kept_cls == c).nonzero(as_tuple=True)[0]
            order_in_class[m] = torch.arange(m.numel())
        keep = keep[order_in_class < 300]
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
        mask = torch.zeros_like(kp)
        for c in range(1, C):
            s = kp[:, c]
            live = (s > 0).nonzero(as_tuple=True)[0]
            if live.numel():
                k2 = nms(cboxes[ids[live], c], s[live], 0.5)
                mask[live[k2], c] = 1.0
        masked = (mask * kp)[:, 1:]
        labels = masked.argmax(1) + 1
        none = masked.max(1).values <= 0  # suppressed everywhere: fall back to the plain arg-max
        labels[none] = kp[none, 1:].argmax(1) + 1
        scores = kp.gather(1, labels[:, None])[:, 0]
        boxes = self._to_image(cboxes[ids, labels])
        return ObjectSet(ids.numpy(), labels.numpy(), scores.numpy(), kp.numpy(), boxes.numpy())

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
    def relation_solve(self, objs: ObjectSet):
        """The (cached) P-ODE solve for this set of objects and labels."""
        key = objs.key
        with self._lock:
            if key not in self._relations:
                dev = self.fmap.device
                ids = torch.as_tensor(objs.ids, dtype=torch.long, device=dev)
                pairs_local = self.model.candidate_pairs(self.rois[ids, 1:], self.mode == "sgdet")
                pairs = ids[pairs_local] if pairs_local.numel() else pairs_local.reshape(0, 2)
                labels = torch.zeros(self.num_objects_in, dtype=torch.long, device=dev)
                labels[ids] = torch.as_tensor(objs.labels, dtype=torch.long, device=dev)
                self._relations[key] = self.model.solve_relations(self.fmap, self.rois, labels, pairs,
                                                                  self._times_t, cache=self._feature_cache)
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
    def nfe(self) -> dict[str, int]:
        """NFE of the object ODE and of the relation solve conditioned on the objects at t_end."""
        rel = self.relation_solve(self.objects_at(self.t_end))
        return {"object": self.nfe_obj, "predicate": int(rel.nfe)}

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
        trip = s_sc * o_sc * pmax
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
                "nfe_object": self.nfe_obj, "nfe_predicate": int(solve.nfe), "state_policy": self.cfg.state_policy,
                "solver": self.cfg.solver}
        return SceneGraph(nodes, rels, tuple(self.image_size), self.mode, float(self.times[gi_o]),
                          float(self.times[gi_r]), self.image, list(names), list(pnames), meta)
