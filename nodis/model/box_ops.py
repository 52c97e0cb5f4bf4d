"""Box helpers with the original release's "+1 pixel" conventions.

All boxes are ``(x1, y1, x2, y2)`` float tensors of shape ``(N, 4)``. Width is ``x2 - x1 + 1`` as in
neural-motifs (``center_size``); NMS and IoU for the model itself use :mod:`torchvision.ops`.
"""
from __future__ import annotations

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
