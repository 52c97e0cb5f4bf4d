"""The reference path: how the ORIGINAL NODIS release computes, re-created plainly from
``shared/reference/nodis-facts.md`` §3 (forward pass) and §4 (the ODE), on OUR model's modules and
weights. It exists to be compared with, and timed against, the production path
(:meth:`nodis.model.NODIS.predict` / :meth:`~nodis.model.NODIS.solve_relations` and
:class:`nodis.trajectory.Trajectory`); nothing in the library imports it.

What is reproduced, step by step as released (test time, ``volatile``/no-grad):

* **Predicate branch** (facts §3.3, :func:`predicate_branch`): per-object RoI means
  (``obj_avg_pool``), union boxes = RoI features + the spatial-mask conv stack (``UnionBoxesAndFeats``),
  ``x_visual = [subj; obj; union]``, ``x_semantic = [obj_embed(c_s); obj_embed2(c_o)]``; one
  sequence per image over its relation pairs in random order (``sort_rois`` -> ``_sort_by_score``:
  images become batch columns sorted by length, descending; ``transpose_packed_sequence_inds``),
  ``PackedSequence`` -> ``pad_packed_sequence`` (time-major), ``lstm_visual`` / ``lstm_semantic``
  from zero state, concatenation, the ``odeBlock`` -> ``out[1]``, ``pack_padded_sequence(...).data``,
  ``fc_predicate`` (with its trailing ReLU), ``[inv_perm]``.
* **The ODE block** (facts §4, :class:`OdeBlock`): ``odeFunc`` keeps ``self.hidden_state`` across
  every function evaluation of one solve (the ``carry`` policy; reset to zeros per solve), ignores
  ``t``, counts ``nfe``; ``torchdiffeq.odeint(func, x, torch.tensor([0, 1.5]), rtol=.01, atol=.01)``
  (default dopri5). Re-solved on every call, nothing cached.
* **Object context O-ODE** (facts §3.1, :func:`object_context`): ``obj_pre_rep = [roi_fmap_obj ;
  softmax(det logits) @ E ; pos_embed(center_size(box))]``; predcls: the +-1000 one-hot; sgcls: ONE
  sequence of all objects with batch 1 in the given order, ``decoder_lin1`` -> odeBlock -> ``[1]``
  -> ``decoder_lin3``; sgdet: random order per image, packed like the predicate branch.
* **A whole test-time forward** (:func:`reference_predict`): backbone, RoI features, context,
  (sgdet) ``nms_boxes``/``filter_det`` and the label NMS, ``get_rel_inds``, predicate branch and the
  ranking of ``filter_dets``.

Reused from the library (already tested equal to the original ops): ``crop_and_resize`` (the
release's RoIAlign), ``draw_union_boxes``, the box helpers, the image transform, the backbone, RPN
and its proposals. ``AvgPool2d(7)`` on a 7x7 map is written ``mean((2, 3))`` (facts §11).

**Random order.** The release draws ``np.random.rand`` scores per call. To make outputs comparable,
the scores here are built from :func:`nodis.model.nodis.pair_order` (the permutation the production
path uses), so that ``_sort_by_score`` yields exactly that order; ``order="numpy"`` draws them with
``np.random.rand`` as released.

**Box post-processing in sgdet** (outside the scope of the ODE comparison): by default the
reference uses the same IoU/NMS as production (``torchvision.ops``, no "+1") and production's
fallback label for boxes suppressed in every class; ``released_boxes=True`` switches to the
release's "+1 pixel" IoU/NMS and its class-1 fallback (facts §2, §3.1).

API::

    from benchmarks.reference import predicate_branch, object_context, reference_objects, reference_predict
    rel = predicate_branch(model, fmap, rois, obj_preds, rel_inds, t_end=1.5)    # RefRelations
    obj = object_context(model, obj_fmaps, det_logits, boxes, im_inds, "sgcls")  # RefObjects
    res = reference_predict(model, image, "predcls", boxes=..., labels=...)      # RefResult
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence
from torchdiffeq import odeint
from torchvision.ops import box_iou, nms

from nodis.data.transforms import load_image, prepare_image
from nodis.model.box_ops import bbox_preds, center_size, clip_boxes
from nodis.model.nodis import pair_order
from nodis.model.pooling import crop_and_resize
from nodis.model.relations import draw_union_boxes

RELEASED_T_END = 1.5  # odeBlock.time = torch.tensor([0, 1.5]) in the released lib/ODE.py
RELEASED_RTOL = 0.01
RELEASED_ATOL = 0.01


# =============================================================================================
# lib/ODE.py


class OdeFunc(nn.Module):
    """``odeFunc1`` / ``odeFunc2``: ``f(t, x) = BiLSTM(x)`` whose ``(h, c)`` is carried from one
    evaluation to the next (``self.hidden_state``), ``t`` ignored, evaluations counted in ``nfe``.
    Wraps one of our LSTMs (its weights are used as they are)."""

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        self.lstm = lstm
        self.nfe = 0
        self.hidden_state = None

    def init_hidden(self, batch_size: int, like: torch.Tensor):
        d = 2 if self.lstm.bidirectional else 1
        z = like.new_zeros((d, batch_size, self.lstm.hidden_size))
        return (z, z.clone())

    def forward(self, t, x):
        x, self.hidden_state = self.lstm(x, self.hidden_state)
        self.nfe += 1
        return x


class OdeBlock(nn.Module):
    """``odeBlock``: ``forward(x (T,B,D), batch_size) -> odeint(...)`` of shape ``(2, T, B, D)``;
    callers take ``[1]``, the state at ``t_end``."""

    def __init__(self, lstm: nn.LSTM, t_end: float = RELEASED_T_END) -> None:
        super().__init__()
        self.odeFunc = OdeFunc(lstm)
        self.time = torch.tensor([0, float(t_end)])  # float32, a plain attribute as released

    def forward(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        self.odeFunc.hidden_state = self.odeFunc.init_hidden(batch_size, x)
        self.odeFunc.nfe = 0
        return odeint(self.odeFunc, x, self.time.to(x.device), rtol=RELEASED_RTOL, atol=RELEASED_ATOL)


# =============================================================================================
# lib/pytorch_misc.py / lib/NODIS.py: ordering and packing


def enumerate_by_image(im_inds) -> list[tuple[int, int, int]]:
    """``(image, start, end)`` for each run of equal image indices (``im_inds`` grouped by image)."""
    ims = np.asarray(im_inds.cpu() if torch.is_tensor(im_inds) else im_inds).reshape(-1)
    out = []
    if len(ims) == 0:
        return out
    start = 0
    for k in range(1, len(ims) + 1):
        if k == len(ims) or ims[k] != ims[start]:
            out.append((int(ims[start]), start, k))
            start = k
    return out


def transpose_packed_sequence_inds(lengths: list[int]) -> tuple[np.ndarray, list[int]]:
    """Indices that turn rows grouped by sequence (lengths sorted descending) into the time-major
    packed order, and the packed ``batch_sizes``."""
    new_inds, new_lens = [], []
    cum_add = np.cumsum([0] + list(lengths))
    max_len = lengths[0]
    length_pointer = len(lengths) - 1
    for i in range(max_len):
        while length_pointer > 0 and lengths[length_pointer] <= i:
            length_pointer -= 1
        new_inds.append(cum_add[: length_pointer + 1].copy())
        cum_add[: length_pointer + 1] += 1
        new_lens.append(length_pointer + 1)
    return np.concatenate(new_inds, 0), new_lens


def sort_by_score(im_inds: torch.Tensor, scores: torch.Tensor):
    """``_sort_by_score``: within an image by score (high first); images as batch columns sorted by
    length (longest first, ties to the smaller image index). Returns ``perm``, ``inv_perm`` and the
    packed ``batch_sizes``."""
    groups = enumerate_by_image(im_inds)
    num_im = int(im_inds[-1].item()) + 1
    rois_per_image = scores.new_zeros(num_im)
    lengths = []
    for i, s, e in groups:
        rois_per_image[i] = 2 * (s - e) * num_im + i
        lengths.append(e - s)
    lengths = sorted(lengths, reverse=True)
    inds, ls_transposed = transpose_packed_sequence_inds(lengths)
    inds = torch.as_tensor(inds, dtype=torch.long, device=scores.device)
    roi_order = scores - 2 * rois_per_image[im_inds]
    _, perm = torch.sort(roi_order, 0, descending=True)
    perm = perm[inds]
    _, inv_perm = torch.sort(perm)
    return perm, inv_perm, ls_transposed


def order_scores(im_inds: torch.Tensor, cfg, order: str = "production", seed: int | None = None) -> torch.Tensor:
    """The per-row scores ``sort_rois`` sorts by. ``"numpy"``: ``np.random.rand`` as released;
    ``"production"``: scores in (0, 1) whose descending order within each image is the production
    path's :func:`~nodis.model.nodis.pair_order`."""
    n_all = int(im_inds.numel())
    if order == "numpy":
        return torch.as_tensor(np.random.rand(n_all), dtype=torch.float32, device=im_inds.device)
    if order != "production":
        raise ValueError(f"order must be 'production' or 'numpy', got {order!r}")
    scores = np.zeros(n_all, np.float64)  # float64: float32 would merge ranks once offset by the image term
    for _, s, e in enumerate_by_image(im_inds):
        n = e - s
        perm = pair_order(n, cfg, "cpu", seed).numpy()
        sc = np.empty(n, np.float64)
        sc[perm] = (n - np.arange(n)) / (n + 1.0)  # perm[0] gets the highest score
        scores[s:e] = sc
    return torch.as_tensor(scores, dtype=torch.float64, device=im_inds.device)


def to_onehot(vec: torch.Tensor, num_classes: int, fill: float = 1000.0) -> torch.Tensor:
    """``lib/pytorch_misc.to_onehot``: ``+fill`` at the label, ``-fill`` elsewhere."""
    out = torch.full((vec.shape[0], num_classes), -fill, dtype=torch.float32, device=vec.device)
    out[torch.arange(vec.shape[0], device=vec.device), vec] = fill
    return out


# =============================================================================================
# the predicate branch (NODIS.forward after the context)


@dataclass
class RefRelations:
    """Output of :func:`predicate_branch`, rows in the order of ``rel_inds``."""

    rel_inds: torch.Tensor  # (R, 3) image, subject, object
    rel_dists: torch.Tensor  # (R, P) fc_predicate output (>= 0: trailing ReLU)
    nfe: int
    seconds: float  # the whole branch
    ode_seconds: float  # the odeint call alone

    @property
    def rel_probs(self) -> torch.Tensor:
        """``softmax(rel_dists)`` over all predicates, background included (``filter_dets``)."""
        return torch.softmax(self.rel_dists, 1)


def union_boxes_and_feats(conv: nn.Module, fmap: torch.Tensor, rois: torch.Tensor, union_inds: torch.Tensor,
                          pooling_size: int = 7, stride: int = 16):
    """``UnionBoxesAndFeats(pooling_size=7, stride=16, concat=False)``: RoIAlign of the union box plus
    ``conv(draw_union_boxes(pair boxes, 4*7-1) - 0.5)``. Returns ``(R, C, 7, 7)`` and the union rois."""
    a, b = union_inds[:, 0], union_inds[:, 1]
    union_rois = torch.cat((rois[:, 0][a][:, None],
                            torch.min(rois[:, 1:3][a], rois[:, 1:3][b]),
                            torch.max(rois[:, 3:5][a], rois[:, 3:5][b])), 1)
    union_pools = crop_and_resize(fmap, union_rois, pooling_size, 1.0 / stride)
    pair_rois = torch.cat((rois[:, 1:][a], rois[:, 1:][b]), 1)
    rects = draw_union_boxes(pair_rois, pooling_size * 4 - 1) - 0.5
    return union_pools + conv(rects.to(union_pools.dtype)), union_rois


def _check_released(cfg) -> None:
    if cfg.frontend != "lstm" or not cfg.predicate_ode or not cfg.object_ode:
        raise ValueError("the reference is the released architecture: frontend 'lstm' with both ODEs")
    if cfg.state_policy != "carry" or cfg.solver != "dopri5" or cfg.rtol != RELEASED_RTOL or cfg.atol != RELEASED_ATOL:
        raise ValueError("the reference solves as released (carry, dopri5, rtol=atol=0.01); "
                         f"the model has {cfg.state_policy}, {cfg.solver}, {cfg.rtol}, {cfg.atol}")


@torch.no_grad()
def predicate_branch(model, fmap: torch.Tensor, rois: torch.Tensor, obj_preds: torch.Tensor, rel_inds: torch.Tensor,
                     t_end: float = RELEASED_T_END, order: str = "production", seed: int | None = None) -> RefRelations:
    """Predicate scores for relation candidates, as released.

    Args:
        model: our :class:`~nodis.model.NODIS` (modules used: ``relation.union_boxes.conv``,
            ``relation.obj_embed``/``obj_embed2``, ``relation.lstm_visual``/``lstm_semantic``,
            ``relation.odeBlock.odeFunc.lstm``, ``relation.fc_predicate``).
        fmap: ``(B, C, F, F)`` backbone features.
        rois: ``(N, 5)`` (image, x1, y1, x2, y2) in model-input pixels.
        obj_preds: ``(N,)`` object labels (GT in predcls, the context's arg-max otherwise).
        rel_inds: ``(R, 3)`` (image, subject, object), grouped by image (``get_rel_inds`` order).
        t_end: the end time of the solve (released: 1.5).
    Returns:
        :class:`RefRelations` with ``rel_dists (R, P)`` in ``rel_inds`` order.
    """
    cfg = model.cfg
    _check_released(cfg)
    rel = model.relation
    t0 = time.perf_counter()
    P = cfg.pool_size
    # visual part
    obj_pooling = crop_and_resize(fmap, rois, P, 1.0 / cfg.feat_stride).mean((2, 3))  # obj_avg_pool
    subj_rep = obj_pooling[rel_inds[:, 1]]
    obj_rep = obj_pooling[rel_inds[:, 2]]
    uboxes, union_rois = union_boxes_and_feats(rel.union_boxes.conv, fmap, rois, rel_inds[:, 1:], P, cfg.feat_stride)
    vr = uboxes.mean((2, 3))  # roi_avg_pool
    x_visual = torch.cat((subj_rep, obj_rep, vr), 1)
    # semantic part
    subj_emb = rel.obj_embed(obj_preds[rel_inds[:, 1]])
    obj_emb = rel.obj_embed2(obj_preds[rel_inds[:, 2]])
    x_semantic = torch.cat((subj_emb, obj_emb), 1)
    # padding: one sequence per image in random order, images sorted by length
    scores = order_scores(rel_inds[:, 0], cfg, order, seed)
    perm, inv_perm, ls_transposed = sort_by_score(rel_inds[:, 0], scores)
    batch_sizes = torch.tensor(ls_transposed, dtype=torch.int64)
    inputs1, lengths1 = pad_packed_sequence(PackedSequence(x_visual[perm].contiguous(), batch_sizes), batch_first=False)
    inputs2, _ = pad_packed_sequence(PackedSequence(x_semantic[perm].contiguous(), batch_sizes), batch_first=False)
    batch_size = inputs1.shape[1]
    H = rel.lstm_visual.hidden_size
    zeros = inputs1.new_zeros((1, batch_size, H))
    output1, _ = rel.lstm_visual(inputs1, (zeros, zeros.clone()))
    output2, _ = rel.lstm_semantic(inputs2, (zeros.clone(), zeros.clone()))
    inputs = torch.cat((output1, output2), 2)
    block = OdeBlock(rel.odeBlock.odeFunc.lstm, t_end)
    t1 = time.perf_counter()
    x_fusion = block(inputs, batch_size)[1]
    ode_seconds = time.perf_counter() - t1
    x_fusion = pack_padded_sequence(x_fusion, lengths1, batch_first=False).data
    x_out = rel.fc_predicate(x_fusion)
    rel_dists = x_out[inv_perm]
    return RefRelations(rel_inds, rel_dists, int(block.odeFunc.nfe), time.perf_counter() - t0, ode_seconds)


# =============================================================================================
# the object context O_NODE


@dataclass
class RefObjects:
    """Output of :func:`object_context` (before any sgdet NMS): ``obj_dists (N, C)`` logits."""

    obj_dists: torch.Tensor
    nfe: int
    seconds: float
    ode_seconds: float


@torch.no_grad()
def object_context(model, obj_fmaps: torch.Tensor, obj_logits: torch.Tensor, box_priors: torch.Tensor,
                   im_inds: torch.Tensor, mode: str, obj_labels: torch.Tensor | None = None,
                   t_end: float = RELEASED_T_END, order: str = "production", seed: int | None = None) -> RefObjects:
    """``O_NODE.forward`` up to the logits ``obj_dists2``.

    Args:
        obj_fmaps: ``(N, roi_dim)`` = ``roi_fmap_obj(RoIAlign)``; obj_logits: ``(N, C)`` detector logits;
        box_priors: ``(N, 4)`` boxes in model-input pixels; im_inds: ``(N,)`` image of each box (grouped).
        mode: predcls (needs ``obj_labels``), sgcls (one sequence, batch 1, given order) or sgdet
            (random order per image, packed).
    """
    cfg = model.cfg
    _check_released(cfg)
    ctx = model.context
    t0 = time.perf_counter()
    obj_embed = torch.softmax(obj_logits, 1) @ ctx.obj_embed.weight
    pos_embed = ctx.pos_embed(center_size(box_priors))
    obj_pre_rep = torch.cat((obj_fmaps, obj_embed, pos_embed), 1)
    D = cfg.state_dim
    nfe, ode_seconds = 0, 0.0
    if mode == "predcls":
        obj_dists2 = to_onehot(obj_labels, cfg.num_classes)
    elif mode == "sgcls":
        x = ctx.decoder_lin1(obj_pre_rep)
        block = OdeBlock(ctx.decoder_lin2.odeFunc.lstm, t_end)
        t1 = time.perf_counter()
        x = block(x.view(-1, 1, D), 1)[1]
        ode_seconds = time.perf_counter() - t1
        obj_dists2 = ctx.decoder_lin3(x.view(-1, D))
        nfe = int(block.odeFunc.nfe)
    elif mode == "sgdet":
        x = ctx.decoder_lin1(obj_pre_rep)
        perm, inv_perm, ls_transposed = sort_by_score(im_inds, order_scores(im_inds, cfg, order, seed))
        x = PackedSequence(x[perm].contiguous(), torch.tensor(ls_transposed, dtype=torch.int64))
        x, lengths1 = pad_packed_sequence(x, batch_first=False)
        batch_size = x.shape[1]
        block = OdeBlock(ctx.decoder_lin2.odeFunc.lstm, t_end)
        t1 = time.perf_counter()
        x = block(x.view(-1, batch_size, D), batch_size)[1]
        ode_seconds = time.perf_counter() - t1
        x = pack_padded_sequence(x, lengths1, batch_first=False).data
        obj_dists2 = ctx.decoder_lin3(x.view(-1, D))[inv_perm]
        nfe = int(block.odeFunc.nfe)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    return RefObjects(obj_dists2, nfe, time.perf_counter() - t0, ode_seconds)


@torch.no_grad()
def detector_outputs(model, fmap: torch.Tensor, rois: torch.Tensor):
    """The frozen detector's box head on ``rois`` (``score_fc`` logits, ``bbox_fc`` deltas ``(N, C, 4)``)
    and NODIS's ``obj_feature_map`` (``roi_fmap_obj``); each pools the rois itself, as released."""
    det = model.detector
    cfg = model.cfg
    N = rois.shape[0]
    feats = det.roi_fmap(crop_and_resize(fmap, rois, cfg.pool_size, 1.0 / cfg.feat_stride).view(N, -1))
    logits, deltas = det.score_fc(feats), det.bbox_fc(feats).view(N, cfg.num_classes, 4)
    obj_fmaps = model.roi_fmap_obj(crop_and_resize(fmap, rois, cfg.pool_size, 1.0 / cfg.feat_stride).view(N, -1))
    return logits, deltas, obj_fmaps


@torch.no_grad()
def reference_objects(model, fmap: torch.Tensor, rois: torch.Tensor, mode: str = "sgcls",
                      obj_labels: torch.Tensor | None = None, t_end: float = RELEASED_T_END,
                      order: str = "production", seed: int | None = None) -> RefObjects:
    """RoI features + :func:`object_context` for given rois (predcls / sgcls / sgdet before NMS);
    ``seconds`` covers the box head and the RoI features too."""
    t0 = time.perf_counter()
    logits, _, obj_fmaps = detector_outputs(model, fmap, rois)
    out = object_context(model, obj_fmaps, logits, rois[:, 1:], rois[:, 0].long(), mode, obj_labels, t_end, order, seed)
    out.seconds = time.perf_counter() - t0
    return out


# =============================================================================================
# sgdet post-processing (O_NODE.nms_boxes / filter_det and the test-time label NMS)


def _nms(boxes: torch.Tensor, scores: torch.Tensor, thresh: float, plus_one: bool) -> torch.Tensor:
    """Indices kept by greedy NMS, highest score first; ``plus_one``: the release's +1-pixel IoU
    (a box ``(x1, y1, x2, y2)`` covers ``x2 - x1 + 1`` pixels), via ``x2 + 1``, ``y2 + 1``."""
    if plus_one:
        boxes = boxes + boxes.new_tensor([0.0, 0.0, 1.0, 1.0])
    return nms(boxes, scores, thresh)


def bbox_overlaps(a: torch.Tensor, b: torch.Tensor, plus_one: bool) -> torch.Tensor:
    if plus_one:
        a = a + a.new_tensor([0.0, 0.0, 1.0, 1.0])
        b = b + b.new_tensor([0.0, 0.0, 1.0, 1.0])
    return box_iou(a, b)


def filter_det(scores: torch.Tensor, boxes: torch.Tensor, max_per_img: int = 64, thresh: float = 0.01,
               pre_nms_topn: int = 6000, post_nms_topn: int = 300, nms_thresh: float = 0.3,
               plus_one: bool = False):
    """``filter_det`` for one image (``nms_filter_duplicates=True``): per-class NMS over the classes
    whose best score exceeds ``thresh``, each roi keeps its best surviving class, scores > thresh,
    best ``max_per_img`` by score. Returns ``(inds, scores, labels)`` or None."""
    valid_cls = (scores[:, 1:].max(0).values > thresh).nonzero().view(-1) + 1
    if valid_cls.numel() == 0:
        return None
    nms_mask = torch.zeros_like(scores)
    for c in valid_cls.tolist():
        s = scores[:, c]
        top = s.argsort(descending=True)[:pre_nms_topn]
        keep = top[_nms(boxes[top, c], s[top], nms_thresh, plus_one)][:post_nms_topn]
        nms_mask[keep, c] = 1
    dists_all = nms_mask * scores
    scores_pre, labels_pre = dists_all.max(1)
    inds_all = scores_pre.nonzero().view(-1)
    if inds_all.numel() == 0:
        return None
    labels_all, scores_all = labels_pre[inds_all], scores_pre[inds_all]
    vs, idx = torch.sort(scores_all, dim=0, descending=True, stable=True)
    idx = idx[vs > thresh][:max_per_img]
    return inds_all[idx], scores_all[idx], labels_all[idx]


# =============================================================================================
# the whole test-time forward


@dataclass
class RefResult:
    """One image through the released test-time forward. Indices: ``kept`` rows of the detector's rois
    (sgdet: after NMS, by score; else all); ``rel_inds`` (R, 2) index ``kept`` in ``get_rel_inds``
    order; ``ranking`` sorts the relations as ``filter_dets`` does."""

    mode: str
    kept: torch.Tensor  # (K,) indices into the input rois / proposals
    obj_dists: torch.Tensor  # (K, C) context logits of the kept objects
    obj_preds: torch.Tensor  # (K,)
    obj_scores: torch.Tensor  # (K,)
    boxes: torch.Tensor  # (K, 4) output boxes, model-input pixels
    rel_inds: torch.Tensor  # (R, 2)
    rel_dists: torch.Tensor  # (R, P)
    ranking: torch.Tensor  # (R,) order of filter_dets (descending triplet score)
    triplet_scores: torch.Tensor  # (R,) in rel_inds order
    nfe: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    scale: float = 1.0

    @property
    def rel_probs(self) -> torch.Tensor:
        return torch.softmax(self.rel_dists, 1)


def get_rel_inds(im_inds: torch.Tensor, box_priors: torch.Tensor, require_overlap: bool,
                 plus_one: bool = False) -> torch.Tensor:
    """Test-time candidates: all ordered pairs ``i != j`` of the same image (sgdet: IoU > 0), as
    ``(image, subject, object)`` rows in ``nonzero()`` order."""
    rel_cands = im_inds[:, None] == im_inds[None]
    rel_cands.fill_diagonal_(False)
    if require_overlap:
        rel_cands &= bbox_overlaps(box_priors, box_priors, plus_one) > 0
    rel_cands = rel_cands.nonzero()
    return torch.cat((im_inds[rel_cands[:, 0]][:, None], rel_cands), 1)


@torch.no_grad()
def reference_predict(model, image, mode: str = "sgdet", boxes=None, labels=None, t_end: float = RELEASED_T_END,
                      order: str = "production", seed: int | None = None, released_boxes: bool = False) -> RefResult:
    """One image (path, PIL, array) through the released test-time forward at batch size 1.

    ``boxes`` (N, 4) x1y1x2y2 in image pixels (sgcls, predcls), ``labels`` (N,) class indices
    (predcls). Boxes are clipped to the image as the production path does."""
    cfg = model.cfg
    _check_released(cfg)
    was_training = model.training
    model.eval()
    try:
        t0 = time.perf_counter()
        pil = load_image(image)
        W, H = pil.size
        x, scale, im_size = prepare_image(pil, cfg.image_size, cfg.pixel_mean, cfg.pixel_std)
        dev = next(model.parameters()).device
        fmap = model.detector.features(x[None].to(dev))
        t_backbone = time.perf_counter()
        if mode == "sgdet":
            props = model.detector.proposals(model.detector.rpn_head(fmap), [im_size])[0]
            box_in = props.boxes
        else:
            arr = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
            arr[:, 0::2] = arr[:, 0::2].clip(0, W)
            arr[:, 1::2] = arr[:, 1::2].clip(0, H)
            box_in = torch.as_tensor(arr, dtype=torch.float32, device=dev) * scale
        n = box_in.shape[0]
        im_inds = torch.zeros(n, dtype=torch.long, device=dev)
        rois = torch.cat((im_inds[:, None].float(), box_in), 1)
        det_logits, det_deltas, obj_fmaps = detector_outputs(model, fmap, rois)
        gt = None if labels is None else torch.as_tensor(np.asarray(labels, np.int64), device=dev)
        ctx = object_context(model, obj_fmaps, det_logits, box_in, im_inds, mode, gt, t_end, order, seed)
        obj_dists = ctx.obj_dists
        kept = torch.arange(n, device=dev)
        out_boxes = box_in
        if mode == "sgdet":
            C = cfg.num_classes
            reg = bbox_preds(box_in[:, None].expand(n, C, 4).reshape(-1, 4), det_deltas.reshape(-1, 4)).view(n, C, 4)
            reg = clip_boxes(reg, im_size[0], im_size[1])
            d = filter_det(torch.softmax(obj_dists, 1), reg, max_per_img=cfg.max_objects, thresh=cfg.det_thresh,
                           post_nms_topn=300, nms_thresh=cfg.det_nms, plus_one=released_boxes)
            kept = d[0] if d is not None else kept[:0]
            obj_dists = obj_dists[kept]
            nms_boxes = reg[kept]  # per-class regressed boxes; [:, 0] is replaced by the prior
            box_in = box_in[kept]
            rois = rois[kept]
            im_inds = im_inds[kept]
            probs = torch.softmax(obj_dists, 1)
            mask = torch.zeros_like(probs)
            for c in range(1, C):
                keep = _nms(nms_boxes[:, c], probs[:, c], 0.5, released_boxes)
                mask[keep, c] = 1
            masked = (mask * probs)[:, 1:]
            obj_preds = masked.argmax(1) + 1
            if not released_boxes:  # production: a box suppressed in every class keeps its plain arg-max
                none = masked.max(1).values <= 0
                obj_preds[none] = probs[none, 1:].argmax(1) + 1
            out_boxes = nms_boxes[torch.arange(kept.numel(), device=dev), obj_preds]
        elif mode == "sgcls":
            obj_preds = obj_dists[:, 1:].argmax(1) + 1
        else:
            obj_preds = gt
        obj_scores = torch.softmax(obj_dists, 1).gather(1, obj_preds[:, None])[:, 0] if kept.numel() else \
            obj_dists.new_zeros(0)
        t_objects = time.perf_counter()
        rel_inds = get_rel_inds(im_inds, box_in, mode == "sgdet", released_boxes)
        if rel_inds.shape[0]:
            rel = predicate_branch(model, fmap, rois, obj_preds, rel_inds, t_end, order, seed)
            rel_dists, nfe_rel = rel.rel_dists, rel.nfe
        else:
            rel_dists, nfe_rel = obj_dists.new_zeros((0, cfg.num_predicates)), 0
        # filter_dets: triplet score = max_{p >= 1} softmax(rel)[p] * score_s * score_o
        rel_rep = torch.softmax(rel_dists, 1)
        trip = rel_rep[:, 1:].max(1).values * obj_scores[rel_inds[:, 1]] * obj_scores[rel_inds[:, 2]] \
            if rel_inds.shape[0] else rel_rep.new_zeros(0)
        ranking = torch.sort(trip, dim=0, descending=True, stable=True).indices
        t_done = time.perf_counter()
        return RefResult(mode, kept, obj_dists, obj_preds, obj_scores, out_boxes, rel_inds[:, 1:], rel_dists, ranking,
                         trip, {"object": ctx.nfe, "predicate": nfe_rel},
                         {"total": t_done - t0, "backbone": t_backbone - t0, "objects": t_objects - t_backbone,
                          "relations": t_done - t_objects}, float(scale))
    finally:
        model.train(was_training)
