"""Box helpers with the original release's "+1 pixel" conventions.

All boxes are ``(x1, y1, x2, y2)`` float tensors of shape ``(N, 4)``. Width is ``x2 - x1 + 1`` as in
neural-motifs (``center_size``). The model's overlap test and NMS follow the release by default
(``ModelConfig.box_rules = "release"``: :func:`iou_plus_one`, :func:`nms_plus_one`, computed in the
released kernels' float32 order); ``"torchvision"`` uses :mod:`torchvision.ops` without the +1.
"""
from __future__ import annotations

import numpy as np
import torch


def center_size(boxes: torch.Tensor) -> torch.Tensor:
    """``(N,4)`` x1y1x2y2 -> ``(N,4)`` cx, cy, w, h with w = x2 - x1 + 1."""
    wh = boxes[:, 2:] - boxes[:, :2] + 1.0
    return torch.cat((boxes[:, :2] + 0.5 * wh, wh), 1)


def point_form(boxes: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`center_size`: x1 = cx - w/2, x2 = cx + (w - 2)/2."""
    return torch.cat((boxes[:, :2] - 0.5 * boxes[:, 2:], boxes[:, :2] + 0.5 * (boxes[:, 2:] - 2.0)), 1)


def bbox_preds(boxes: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    """Apply ``(tx, ty, tw, th)`` deltas (no normalisation, no clamp, as released).

    boxes ``(N,4)``, deltas ``(N,4)`` -> ``(N,4)``.
    """
    cs = center_size(boxes)
    ctr = cs[:, :2] + cs[:, 2:] * deltas[:, :2]
    wh = torch.exp(deltas[:, 2:]) * cs[:, 2:]
    return point_form(torch.cat((ctr, wh), 1))


def encode_deltas(boxes: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The deltas that :func:`bbox_preds` maps ``boxes`` onto ``targets`` with (training targets)."""
    b = center_size(boxes)
    t = center_size(targets)
    dxy = (t[:, :2] - b[:, :2]) / b[:, 2:]
    dwh = torch.log(t[:, 2:] / b[:, 2:])
    return torch.cat((dxy, dwh), 1)


def clip_boxes(boxes: torch.Tensor, height: float, width: float) -> torch.Tensor:
    """Clamp boxes to ``[0, width-1] x [0, height-1]``."""
    x = boxes[..., 0::2].clamp(0, max(width - 1, 0))
    y = boxes[..., 1::2].clamp(0, max(height - 1, 0))
    out = torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), -1)
    return out


def union_boxes(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Element-wise union of two ``(R,4)`` box sets."""
    return torch.cat((torch.minimum(a[:, :2], b[:, :2]), torch.maximum(a[:, 2:], b[:, 2:])), 1)


def generate_anchors(feat_size: int, stride: int, base_size: int, ratios, scales) -> torch.Tensor:
    """Anchors ``(F, F, A, 4)`` as in neural-motifs ``generate_anchors``: ratio-major base anchors
    with ``w = sqrt(base^2 / ratio) * scale``, ``h = w * ratio``, centred at ``(base - 1) / 2``,
    shifted by ``stride`` along x (columns) and y (rows)."""
    ctr = 0.5 * (base_size - 1)
    base = []
    for r in ratios:
        for s in scales:
            w = (base_size * base_size / r) ** 0.5 * s
            h = w * r
            base.append([ctr - 0.5 * (w - 1), ctr - 0.5 * (h - 1), ctr + 0.5 * (w - 1), ctr + 0.5 * (h - 1)])
    base_t = torch.tensor(base, dtype=torch.float32)  # (A,4)
    shifts = torch.arange(feat_size, dtype=torch.float32) * stride
    sy, sx = torch.meshgrid(shifts, shifts, indexing="ij")
    shift = torch.stack((sx, sy, sx, sy), -1)  # (F,F,4)
    return shift[:, :, None, :] + base_t[None, None]


# ------------------------------------------------------------------------------------------------
# The release's "+1 pixel" overlap and NMS, in its own float32 arithmetic (facts sheet §2, §3)

BOX_RULES = ("release", "torchvision")


def fma32(a: torch.Tensor, b: torch.Tensor, c) -> torch.Tensor:
    """``a * b + c`` of float32 values with ONE rounding to float32, as CUDA's ``FFMA``.

    The release's kernels are compiled with nvcc's default ``--fmad=true``, which fuses ``a * b + c``
    (checked in the SASS of the shipped ``roi_align.cu.o`` / ``nms.cu.o``). The product of two
    float32 numbers is exact in float64; the float64 sum is made round-to-odd (TwoSum error, then a
    one-ulp nudge), and round-to-odd at 53 bits followed by rounding to 24 bits is the correctly
    rounded result (Boldo & Melquiond). Returns float32 of the broadcast shape.
    """
    a64, b64 = a.to(torch.float64), b.to(torch.float64)
    c64 = c.to(torch.float64) if torch.is_tensor(c) else torch.tensor(float(c), dtype=torch.float64)
    p = a64 * b64
    s = p + c64
    bp = s - c64
    err = (p - bp) + (c64 - (s - bp))  # exact: p + c = s + err
    inexact = err != 0
    if bool(inexact.any()):  # round-to-odd where the float64 sum was rounded
        even = (s.view(torch.int64) & 1) == 0
        fix = inexact & even
        toward = torch.where(err > 0, torch.full_like(s, float("inf")), torch.full_like(s, float("-inf")))
        s = torch.where(fix, torch.nextafter(s, toward), s)
    return s.to(torch.float32)


def iou_plus_one(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``lib/fpn/box_utils.bbox_overlaps`` of the release: pairwise IoU ``(N, K)`` with widths
    ``x2 - x1 + 1``, in float32, operation by operation as the released torch code."""
    a, b = a.float(), b.float()
    max_xy = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    min_xy = torch.maximum(a[:, None, :2], b[None, :, :2])
    inter = torch.clamp(max_xy - min_xy + 1.0, min=0)
    inter = inter[..., 0] * inter[..., 1]
    area_a = ((a[:, 2] - a[:, 0] + 1.0) * (a[:, 3] - a[:, 1] + 1.0))[:, None]
    area_b = ((b[:, 2] - b[:, 0] + 1.0) * (b[:, 3] - b[:, 1] + 1.0))[None, :]
    return inter / (area_a + area_b - inter)


def _suppression(rows: torch.Tensor, cols: torch.Tensor, thresh: float) -> torch.Tensor:
    """``(..., n, m)`` bool: the release's NMS kernel (``nms_kernel.cu``) decides that box
    ``rows[..., i, :]`` suppresses ``cols[..., j, :]``: IoU > ``thresh`` with +1 widths, the column's
    area fused into the union (``FFMA``), ``interS / (Sa + Sb - interS)`` rounded in float32.

    The fused and the plain float32 union differ by at most one rounding, so only IoUs within
    ``1e-5`` of ``thresh`` are recomputed with :func:`fma32` (the decision elsewhere is the same)."""
    r = rows.detach().to("cpu", torch.float32).numpy()  # NumPy: no thread hand-over on small arrays
    c = cols.detach().to("cpu", torch.float32).numpy()
    one, zero = np.float32(1), np.float32(0)
    a, b = r[..., :, None, :], c[..., None, :, :]
    width = np.maximum((np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])) + one, zero)
    height = np.maximum((np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])) + one, zero)
    inter = width * height
    area_a = (((r[..., 2] - r[..., 0]) + one) * ((r[..., 3] - r[..., 1]) + one))[..., :, None]
    wb = ((c[..., 2] - c[..., 0]) + one)[..., None, :]
    hb = ((c[..., 3] - c[..., 1]) + one)[..., None, :]
    th = np.float32(thresh)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / ((area_a + wb * hb) - inter)
        near = np.abs(iou - th) <= 1e-5
        if near.any():
            shape = inter.shape
            A = np.broadcast_to(area_a, shape)[near]
            W, H = np.broadcast_to(wb, shape)[near], np.broadcast_to(hb, shape)[near]
            union = fma32(torch.from_numpy(W.copy()), torch.from_numpy(H.copy()), torch.from_numpy(A.copy())).numpy()
            iou[near] = inter[near] / (union - inter[near])
        return torch.from_numpy(iou > th)


def sort_scores(scores: torch.Tensor) -> torch.Tensor:
    """Indices that sort ``scores`` descending; ties keep index order (the release's CUDA sort leaves
    their order undefined)."""
    return torch.sort(scores, descending=True, stable=True).indices


def nms_plus_one(boxes: torch.Tensor, scores: torch.Tensor, thresh: float, pre_nms: int | None = None,
                 post_nms: int | None = None) -> torch.Tensor:
    """The release's ``apply_nms`` for one image: sort by score (descending), keep the best
    ``pre_nms``, greedy NMS with the kernel's decision (:func:`_suppression`: +1 IoU, strict ``>``),
    at most ``post_nms`` kept.

    ``boxes (N, 4)``, ``scores (N,)`` -> kept indices into ``boxes``, best first (int64).
    """
    n = int(scores.numel())
    if n == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = sort_scores(scores)
    if pre_nms is not None:
        order = order[:pre_nms]
    post = len(order) if post_nms is None else min(int(post_nms), len(order))
    b = boxes[order].detach().to("cpu", torch.float32).numpy()
    x1, y1, x2, y2 = (np.ascontiguousarray(b[:, k]) for k in range(4))
    w, h = (x2 - x1) + np.float32(1), (y2 - y1) + np.float32(1)
    area = w * h
    th = np.float32(thresh)
    one, zero = np.float32(1), np.float32(0)
    cand = np.arange(len(b))
    keep: list[int] = []
    while cand.size and len(keep) < post:  # box i suppresses only the boxes after it, as the kernel
        i, rest = cand[0], cand[1:]
        keep.append(int(i))
        if not rest.size:
            break
        iw = np.maximum((np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])) + one, zero)
        ih = np.maximum((np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])) + one, zero)
        inter = iw * ih
        iou = inter / ((area[i] + area[rest]) - inter)
        near = np.abs(iou - th) <= 1e-5  # only there can the fused union change the decision
        if near.any():
            r = rest[near]
            union = fma32(torch.from_numpy(w[r]), torch.from_numpy(h[r]), torch.from_numpy(area[[i]])).numpy()
            iou[near] = inter[near] / (union - inter[near])
        cand = rest[~(iou > th)]
    return order[torch.as_tensor(keep, dtype=torch.long, device=order.device)]


def _greedy_batched(sup: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Greedy NMS of ``G`` independent groups at once. ``sup (G, L, L)``: rank ``i`` would suppress rank
    ``j`` (only ``j > i`` is used); ``valid (G, L)``: real entries. Returns the kept mask ``(G, L)``."""
    s = sup.numpy() & np.triu(np.ones(sup.shape[-2:], dtype=bool), 1)[None]
    removed = ~valid.numpy()
    for r in range(s.shape[1]):  # rank by rank, every group at once
        live = ~removed[:, r]
        if live.any():
            removed |= s[:, r, :] & live[:, None]
    return torch.from_numpy(~removed)


def nms_by_class(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, thresh: float,
                 rules: str = "release", post_nms: int | None = None) -> torch.Tensor:
    """Per-class NMS; each class keeps at most ``post_nms`` boxes. Returns kept indices, grouped by
    class (ascending), best first within a class. ``rules``: ``release`` (the release's kernel, as
    :func:`nms_plus_one`) or ``torchvision`` (:func:`torchvision.ops.batched_nms`, no +1)."""
    from torchvision.ops import batched_nms

    M = int(scores.numel())
    if M == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    cls_u, inv = torch.unique(classes, return_inverse=True)
    by_score = sort_scores(scores)
    order = by_score[torch.sort(inv[by_score], stable=True).indices]  # by class, best first within
    counts = torch.bincount(inv, minlength=len(cls_u))
    starts = torch.cumsum(counts, 0) - counts
    if rules != "release":
        keep = batched_nms(boxes.float(), scores.float(), classes, thresh)
        keep = keep[torch.sort(inv[keep], stable=True).indices]
        kept_mask = torch.zeros(M, dtype=torch.bool)
        kept_mask[keep] = True
        grouped = kept_mask[order]
    else:  # class by class: the greedy loop only visits kept boxes (fast for the usual few per class)
        grouped = torch.zeros(M, dtype=torch.bool)
        b_sorted = boxes[order].float().cpu()
        for c in range(len(cls_u)):
            st, n = int(starts[c]), int(counts[c])
            seg = b_sorted[st : st + n]
            keep = nms_plus_one(seg, -torch.arange(n, dtype=torch.float32), thresh)  # already best first
            grouped[st + keep] = True
    if post_nms is not None:  # the first post_nms kept of each class
        cs = torch.cumsum(grouped.long(), 0)
        before = torch.where(starts > 0, cs[(starts - 1).clamp(min=0)], torch.zeros_like(starts))
        grouped &= (cs - torch.repeat_interleave(before, counts)) <= post_nms
    return order[grouped.to(order.device)]


def label_nms_mask(boxes: torch.Tensor, probs: torch.Tensor, thresh: float = 0.5,
                   rules: str = "release") -> torch.Tensor:
    """The release's test-time label NMS over the kept sgdet boxes, all classes at once.

    ``boxes (K, C, 4)`` per-class boxes, ``probs (K, C)`` -> ``(K, C)`` float mask, 1 where box ``k``
    survives the NMS of class ``c >= 1`` (every box takes part, best probability first).
    """
    K, C = probs.shape
    mask = torch.zeros_like(probs)
    if K == 0:
        return mask
    order = torch.sort(probs[:, 1:].t(), dim=1, descending=True, stable=True).indices  # (C-1, K)
    b = boxes[:, 1:].transpose(0, 1).float()  # (C-1, K, 4)
    b = torch.gather(b, 1, order[:, :, None].expand(-1, -1, 4))
    if rules == "release":
        sup = _suppression(b, b, thresh)  # (C-1, K, K)
    else:
        from torchvision.ops import box_iou

        sup = torch.stack([box_iou(bc, bc) for bc in b]) > thresh
    kept_sorted = _greedy_batched(sup, torch.ones(C - 1, K, dtype=torch.bool))
    mask[:, 1:] = torch.zeros(C - 1, K).scatter_(1, order, kept_sorted.float()).t().to(mask.dtype)
    return mask
