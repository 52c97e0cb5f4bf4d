"""The whole NODIS model: detector -> object context (O-ODE) -> predicate classifier (P-ODE).

Inference goes through :meth:`NODIS.predict`, which runs the detector once, solves the O-ODE once
over a grid of output times and returns a :class:`nodis.trajectory.Trajectory`; relation solves
(P-ODE) are made by the trajectory on demand through :meth:`NODIS.solve_relations` and cached.

Modes: ``predcls`` (boxes + labels given), ``sgcls`` (boxes given), ``sgdet`` (image only).
"""
from __future__ import annotations

import logging
import threading
import time

import numpy as np
import torch
from torch import nn
from torchvision.ops import box_iou

from ..config import MODES, ModelConfig
from ..data.transforms import ImageLike, load_image, prepare_image
from ..errors import InputError
from ..trajectory import Trajectory
from ..vocab import Vocabulary
from .box_ops import iou_plus_one
from .detector import Detector, box_head
from .objects import ObjectContext
from .ode import nfe_until
from .relations import PredicateClassifier, unpad

log = logging.getLogger(__name__)

MAX_GIVEN_BOXES = 128


def default_times(t_end: float, t_max: float = 2.5, step: float = 0.05) -> list[float]:
    """The default output grid ``0, step, ..., t_max`` with ``t_end`` always included."""
    n = int(round(t_max / step))
    grid = [round(i * step, 10) for i in range(n + 1)]
    if not any(abs(g - t_end) < 1e-9 for g in grid):
        grid.append(float(t_end))
    return sorted(set(float(g) for g in grid))


def make_times(times, t_end: float) -> torch.Tensor:
    """Validate an output grid: sorted, starts at 0, contains ``t_end``. Returns a float32 tensor."""
    if times is None:
        vals = default_times(t_end)
    else:
        vals = sorted(set(float(t) for t in times))
    if not vals or vals[0] != 0.0:
        vals = [0.0] + [v for v in vals if v > 0]
    if any(v < 0 for v in vals):
        raise InputError("ODE output times must be >= 0")
    if not any(abs(v - t_end) < 1e-9 for v in vals):
        vals = sorted(vals + [float(t_end)])
    if len(vals) < 2:
        raise InputError("need at least one output time after 0")
    return torch.tensor(vals, dtype=torch.float32)


def pair_order(n: int, cfg: ModelConfig, device, seed: int | None = None) -> torch.Tensor:
    """The order in which the ``n`` candidates of one image enter an LSTM/ODE sequence.

    ``random`` (as released) uses a generator seeded with ``cfg.order_seed`` so results are
    reproducible; ``index`` keeps the given order."""
    if cfg.pair_order == "index" or n <= 1:
        return torch.arange(n, device=device)
    g = torch.Generator().manual_seed(int(cfg.order_seed if seed is None else seed) + n)
    return torch.randperm(n, generator=g).to(device)


#: P-ODE states a pinned :class:`RelationSolve` keeps once fully decoded: the pairs that rank among
#: the best ``RETAIN_TOP`` relations (triplet score) at some grid time.
RETAIN_TOP = 100


class RelationSolve:
    """One P-ODE solve over a grid of ``G`` times for the pairs ``(R,2)`` of one image.

    The ODE states are kept and decoded into predicate probabilities one grid time at a time, on
    first use (:meth:`probs_at`), so the first scene graph costs one decoding instead of ``G``; once
    every time is decoded the states are dropped. ``probs`` gives all times ``(G, R, P)``.

    A solve that is :meth:`pin`-ned (the trajectory pins the one conditioned on the objects at
    ``t_end``) keeps, once every time is decoded, the states of the pairs that rank among the best
    :data:`RETAIN_TOP` relations at some grid time (:meth:`states_of`), for the state-space view."""

    #: NFE of a solve that stops at t_end (the release's ``nfe``); ``nfe`` counts the whole grid's solve
    nfe_t_end: int | None = 0

    def __init__(self, pairs: np.ndarray, states: torch.Tensor | None, inv: torch.Tensor | None, nfe: int,
                 seconds: float, decode=None, num_times: int = 0, num_predicates: int = 0) -> None:
        self.pairs = pairs
        self.nfe = int(nfe)
        self.seconds = float(seconds)
        self._states = states  # (G, R, D) in sequence order
        self._inv = inv  # rows of the given pair order in the sequence
        self._decode = decode
        self.num_times = int(states.shape[0]) if states is not None else int(num_times)
        self.num_predicates = int(num_predicates)
        self._probs: dict[int, torch.Tensor] = {}
        self._lock = threading.Lock()
        self._weights: np.ndarray | None = None  # (R,) subject score x object score, set by pin()
        self._kept: dict[int, torch.Tensor] = {}  # pair row -> (G, D) states kept after full decoding

    def pin(self, weights: np.ndarray) -> None:
        """Keep the states of the best-ranked pairs once every time is decoded. ``weights (R,)``:
        subject score x object score of each pair (the ranking is ``weights x`` max predicate score)."""
        with self._lock:
            self._weights = np.asarray(weights, np.float32).reshape(-1)

    @property
    def pinned(self) -> bool:
        return self._weights is not None

    def retained_rows(self) -> np.ndarray:
        """Rows (in :attr:`pairs` order) whose states a pinned solve keeps: the union over grid times of
        the best :data:`RETAIN_TOP` by ``weight x`` max predicate score (background excluded)."""
        if self._weights is None or self.pairs.shape[0] == 0:
            return np.zeros(0, np.int64)
        return self._top_rows([self.probs_at(g) for g in range(self.num_times)])

    def _top_rows(self, probs: list[torch.Tensor]) -> np.ndarray:
        rows: set[int] = set()
        for p in probs:
            trip = self._weights * p[:, 1:].max(1).values.numpy()
            rows.update(np.argsort(-trip, kind="stable")[:RETAIN_TOP].tolist())
        return np.array(sorted(rows), np.int64)

    def states_of(self, rows) -> torch.Tensor:
        """P-ODE states ``(G, K, D)`` of the pairs at ``rows`` (indices into :attr:`pairs`).

        Before every time is decoded every row is available; afterwards only the rows a pinned solve
        keeps (:meth:`retained_rows`). ``KeyError`` names a row whose states are gone."""
        rows = [int(r) for r in np.asarray(rows).reshape(-1)]
        with self._lock:
            if self._states is not None:
                seq = self._inv[torch.as_tensor(rows, dtype=torch.long, device=self._inv.device)] if rows else None
                if seq is None:
                    return torch.zeros((self.num_times, 0, self._states.shape[-1]))
                return self._states[:, seq].float().cpu()
            missing = [r for r in rows if r not in self._kept]
            if missing:
                raise KeyError(missing[0])
            if not rows:
                return torch.zeros((self.num_times, 0, 0))
            return torch.stack([self._kept[r] for r in rows], 1)

    def _release_states(self) -> None:
        """Every time is decoded: drop the states, keeping the retained rows of a pinned solve."""
        if self._weights is not None and self._states is not None and self.pairs.shape[0]:
            idx = self._top_rows([self._probs[g] for g in range(self.num_times)]).tolist()
            seq = self._inv[torch.as_tensor(idx, dtype=torch.long, device=self._inv.device)]
            kept = self._states[:, seq].float().cpu()
            self._kept = {r: kept[:, k].clone() for k, r in enumerate(idx)}
        self._states = None

    def probs_at(self, gi: int) -> torch.Tensor:
        """Softmax predicate scores ``(R, P)`` (CPU float32) at grid index ``gi``."""
        gi = int(gi) % max(self.num_times, 1)
        with self._lock:
            p = self._probs.get(gi)
            if p is None:
                if self.pairs.shape[0] == 0 or self._states is None:
                    p = torch.zeros((0, self.num_predicates))
                else:
                    with torch.inference_mode():
                        p = torch.softmax(self._decode(self._states[gi]), -1)[self._inv].float().cpu()
                self._probs[gi] = p
                if len(self._probs) >= self.num_times:
                    self._release_states()  # everything decoded: free the states
            return p

    @property
    def probs(self) -> torch.Tensor:
        """All grid times, ``(G, R, P)``."""
        return torch.stack([self.probs_at(g) for g in range(self.num_times)]) if self.num_times else \
            torch.zeros((0, len(self.pairs), self.num_predicates))

    @property
    def decoded_times(self) -> int:
        return len(self._probs)


class NODIS(nn.Module):
    def __init__(self, cfg: ModelConfig, vocab: Vocabulary) -> None:
        super().__init__()
        if vocab.num_classes != cfg.num_classes or vocab.num_predicates != cfg.num_predicates:
            raise InputError(f"vocabulary {vocab.name!r} has {vocab.num_classes} classes / {vocab.num_predicates} "
                             f"predicates but the model config expects {cfg.num_classes} / {cfg.num_predicates}")
        self.cfg = cfg
        self.vocab = vocab
        self.detector = Detector(cfg)
        self.context = ObjectContext(cfg)
        self.roi_fmap_obj = box_head(cfg.feat_channels * cfg.pool_size ** 2, cfg.roi_dim)
        self.relation = PredicateClassifier(cfg)
        self.weights_name = "random-init"
        self.half_precision = False

    def set_half_precision(self, on: bool = True) -> bool:
        """float16 autocast for the detector part (backbone, RPN, box head, RoI features) on CUDA.

        The ODE solves and decoders stay float32 (the adaptive step control and the carried LSTM
        state are sensitive to rounding). On CPU this is a no-op with a warning. Returns whether it
        is active."""
        if on and self.device.type != "cuda":
            log.warning("half precision needs a CUDA device; running in float32 on %s", self.device)
            self.half_precision = False
            return False
        self.half_precision = bool(on)
        return self.half_precision

    def _autocast(self):
        import contextlib

        if self.half_precision and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ------------------------------------------------------------------ building blocks
    def object_features(self, fmap: torch.Tensor, rois: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Detector logits ``(N,C)``, deltas ``(N,C,4)`` and trainable RoI features ``(N, roi_dim)``."""
        det_logits, det_deltas = self.detector.classify(fmap, rois)
        obj_fmaps = self.roi_fmap_obj(self.detector.pool(fmap, rois).flatten(1))
        return det_logits, det_deltas, obj_fmaps

    def object_sequences(self, x0: torch.Tensor, counts: list[int], orders: list[torch.Tensor]) -> torch.Tensor:
        """Rows of all images ``(sum N, D)`` -> padded ``(T, B, D)`` in each image's order."""
        rows, start = [], 0
        for n, order in zip(counts, orders):
            rows.append(x0[start : start + n][order])
            start += n
        from .relations import pad

        return pad(torch.cat(rows, 0) if rows else x0, counts)

    def relation_states(self, fmap, rois, labels, pairs_per_image: list[torch.Tensor], times, seed: int | None = None):
        """P-ODE over the pairs of each image (batched along the LSTM batch axis).

        Returns states ``(G, sum R, D)`` in the given pair order and the NFE."""
        counts = [int(p.shape[0]) for p in pairs_per_image]
        orders = [pair_order(n, self.cfg, fmap.device, seed) for n in counts]
        ordered = torch.cat([p[o] for p, o in zip(pairs_per_image, orders)], 0)
        visual, semantic = self.relation.pair_features(fmap, rois, labels, ordered)
        seq = self.relation.frontend(visual, semantic, counts)
        states, nfe = self.relation.solve(seq, times)
        flat = unpad(states, counts)  # (G, sum R, D) in sequence order
        offsets = np.cumsum([0] + counts[:-1]).tolist()
        perm = torch.cat([o + off for o, off in zip(orders, offsets)]) if orders else torch.zeros(0, dtype=torch.long)
        return flat[:, torch.argsort(perm)], nfe

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def solve_relations(self, fmap: torch.Tensor, rois: torch.Tensor, labels: torch.Tensor,
                        pairs: torch.Tensor, times: torch.Tensor, cache: dict | None = None) -> RelationSolve:
        """The P-ODE over ``times`` for ``pairs (R,2)`` of one image; decoded lazily (:class:`RelationSolve`).

        ``cache`` (a dict owned by the caller, e.g. a trajectory) keeps the label-independent visual
        half of the front-end per pair set, so a re-solve with new labels for the same boxes (SGCls
        while the object time moves) skips the union-box features and ``lstm_visual``."""
        t0 = time.perf_counter()
        G, R, P = times.numel(), int(pairs.shape[0]), self.cfg.num_predicates
        if R == 0:
            return RelationSolve(np.zeros((0, 2), np.int64), None, None, 0, 0.0, num_times=G, num_predicates=P)
        order = pair_order(R, self.cfg, fmap.device)
        ordered = pairs[order]
        key = ("visual", pairs.cpu().numpy().tobytes())
        vis = cache.get(key) if cache is not None else None
        if vis is None:
            vis = self.relation.frontend_part(self.relation.visual_features(fmap, rois, ordered), [R], "visual")
            if cache is not None:
                cache[key] = vis
        sem = self.relation.frontend_part(self.relation.semantic_features(labels, ordered), [R], "semantic")
        states, nfe = self.relation.solve(torch.cat((vis, sem), 2), times)  # (G, R, 1, D)
        solve = RelationSolve(pairs.cpu().numpy(), states[:, :, 0], torch.argsort(order), nfe,
                              time.perf_counter() - t0, self.relation.decode, num_predicates=P)
        solve.nfe_t_end = self._nfe_t_end(self.relation.odeBlock, self.cfg.predicate_ode, nfe, times)
        return solve

    @torch.inference_mode()
    def predict(self, image: ImageLike, mode: str = "sgdet", boxes=None, labels=None, times=None,
                name: str | None = None):
        """Run the model on one image and return a :class:`nodis.trajectory.Trajectory`.

        Args:
            image: path, bytes, PIL image or ``HxWxC`` array.
            mode: ``sgdet`` (image only), ``sgcls`` (``boxes`` given) or ``predcls`` (``boxes`` and ``labels``).
            boxes: ``(N,4)`` x1y1x2y2 in original-image pixels.
            labels: ``N`` class indices (ints >= 1) or names from the vocabulary (predcls).
            times: ODE output grid (default ``0:2.5:0.05`` plus ``t_end``).

        Example::

            >>> import nodis
            >>> model = nodis.load_model()                         # doctest: +SKIP
            >>> traj = model.predict("resources/samples/0.jpg")   # doctest: +SKIP
            >>> traj.graph_at(1.5).triplets(5)                    # doctest: +SKIP
        """
        t_start = time.perf_counter()
        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if not isinstance(image, (str, bytes)) and hasattr(image, "__fspath__") and name is None:
            name = str(image)
        if isinstance(image, str) and name is None:
            name = image
        pil = load_image(image)
        W, H = pil.size
        cfg = self.cfg
        dev = self.device
        x, scale, im_size = prepare_image(pil, cfg.image_size, cfg.pixel_mean, cfg.pixel_std)
        grid = make_times(times, cfg.t_end)
        given_boxes, given_labels = self._check_inputs(mode, boxes, labels, W, H)
        was_training = self.training
        self.eval()
        try:
            with self._autocast():
                fmap = self.detector.features(x[None].to(dev))
                if mode == "sgdet":
                    rpn = self.detector.rpn_head(fmap)
                    props = self.detector.proposals(rpn, [im_size])[0]
                    box_in = props.boxes.float()
                else:
                    box_in = torch.as_tensor(given_boxes, dtype=torch.float32, device=dev) * scale
                rois = torch.cat((box_in.new_zeros((box_in.shape[0], 1)), box_in), 1)
                n = rois.shape[0]
                det_logits, det_deltas, obj_fmaps = self.object_features(fmap, rois)
            fmap, det_logits, det_deltas, obj_fmaps = fmap.float(), det_logits.float(), det_deltas.float(), obj_fmaps.float()
            x0 = self.context.initial_state(obj_fmaps, det_logits, box_in)
            obj_probs = obj_states = None
            nfe_obj = nfe_obj_t_end = 0
            if mode != "predcls" and n > 0:
                order = torch.arange(n, device=dev) if mode == "sgcls" else pair_order(n, cfg, dev)
                seq = x0[order][:, None]  # (N,1,D): one image = one sequence
                states, nfe_obj = self.context.solve(seq, grid.to(dev))
                nfe_obj_t_end = self._nfe_t_end(self.context.decoder_lin2, cfg.object_ode, nfe_obj, grid)
                inv = torch.empty_like(order)
                inv[order] = torch.arange(n, device=dev)
                # one decoder call for the whole grid: (G, N, D) -> (G, N, C)
                obj_probs = torch.softmax(self.context.decode(states[:, :, 0]), -1)[:, inv].float().cpu()
                obj_states = states[:, :, 0][:, inv].float().cpu()  # (G, N, D), kept for the state-space view
            elif mode != "predcls":
                obj_probs = torch.zeros((grid.numel(), 0, cfg.num_classes))
                obj_states = torch.zeros((grid.numel(), 0, cfg.state_dim))
            class_boxes = None
            if mode == "sgdet" and n > 0:
                from .box_ops import bbox_preds, clip_boxes

                C = cfg.num_classes
                reg = bbox_preds(box_in[:, None].expand(n, C, 4).reshape(-1, 4), det_deltas.reshape(-1, 4))
                class_boxes = clip_boxes(reg.view(n, C, 4), im_size[0], im_size[1])
            seconds = time.perf_counter() - t_start
            return Trajectory(
                model=self, fmap=fmap, rois=rois, times=grid, mode=mode, scale=scale, image_size=(W, H),
                obj_probs=obj_probs, given_labels=given_labels, class_boxes=class_boxes, nfe_obj=nfe_obj,
                nfe_obj_t_end=nfe_obj_t_end,
                image=name, setup_seconds=seconds, given_boxes=given_boxes, obj_states=obj_states,
            )
        finally:
            self.train(was_training)

    def _nfe_t_end(self, block, enabled: bool, nfe: int, times: torch.Tensor) -> int | None:
        """NFE of the solve to ``t_end`` alone (what the release reports), from the grid solve."""
        if not enabled or nfe == 0:
            return 0
        return nfe_until(block.last_eval_times, self.cfg.t_end, self.cfg.solver, float(times[-1]))

    def _check_inputs(self, mode, boxes, labels, W, H):
        if mode == "sgdet":
            if boxes is not None or labels is not None:
                raise InputError("mode sgdet detects its own boxes: boxes and labels are only used with mode "
                                 "sgcls (boxes) or predcls (boxes and labels)")
            return None, None
        if boxes is None:
            raise InputError(f"mode {mode} needs boxes (x1, y1, x2, y2 in image pixels); use sgdet for images only")
        arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if len(boxes) else np.zeros((0, 4))
        if not np.isfinite(arr).all():
            raise InputError("boxes contain NaN or infinite values")
        if len(arr) > MAX_GIVEN_BOXES:
            raise InputError(f"{len(arr)} boxes given; at most {MAX_GIVEN_BOXES} are supported "
                             f"({MAX_GIVEN_BOXES * (MAX_GIVEN_BOXES - 1)} candidate pairs)")
        arr = arr.copy()
        arr[:, 0::2] = arr[:, 0::2].clip(0, W)  # boxes may reach the image border [0, W] x [0, H]
        arr[:, 1::2] = arr[:, 1::2].clip(0, H)
        bad = (arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])
        if bad.any():
            raise InputError(f"box {int(np.argmax(bad))} has x2 < x1 or y2 < y1 (boxes are x1, y1, x2, y2)")
        lab = None
        if mode == "predcls":
            if labels is None or len(labels) != len(arr):
                raise InputError(f"predcls needs one label per box ({len(arr)} boxes, "
                                 f"{0 if labels is None else len(labels)} labels)")
            lab = np.array([self.vocab.class_index(v) if isinstance(v, str) else int(v) for v in labels], np.int64)
            if len(lab) and (lab.min() < 1 or lab.max() >= self.cfg.num_classes):
                raise InputError(f"labels must be class indices 1..{self.cfg.num_classes - 1}")
        return arr, lab

    # ------------------------------------------------------------------ helpers for trajectories
    def candidate_pairs(self, boxes: torch.Tensor, require_overlap: bool) -> torch.Tensor:
        """All ordered pairs ``i != j`` (``(R,2)``); with ``require_overlap`` only IoU > 0 (sgdet), the
        release's +1-pixel ``bbox_overlaps`` unless ``cfg.box_rules == "torchvision"``."""
        n = boxes.shape[0]
        idx = torch.arange(n, device=boxes.device)
        s, o = torch.meshgrid(idx, idx, indexing="ij")
        mask = s != o
        if require_overlap and n:
            iou = iou_plus_one(boxes, boxes) if self.cfg.box_rules == "release" else box_iou(boxes, boxes)
            mask &= iou > 0
        return torch.stack((s[mask], o[mask]), 1)
