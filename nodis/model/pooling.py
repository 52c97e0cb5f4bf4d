"""The original release's "RoIAlign": TensorFlow-style crop-and-resize.

neural-motifs' ``lib/fpn/roi_align`` takes ONE bilinear sample per output cell at
``y = y1*s + i*(y2-y1)*s/(P-1)`` (corners included) and sets samples that fall outside the
feature map (``< 0`` or ``> F-1``) to zero. ``torchvision.ops.roi_align`` samples bin centres and is
not equivalent, so this is written once here with ``grid_sample(align_corners=True)`` and an explicit
out-of-range mask, and tested against a brute-force loop.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def crop_and_resize(fmap: torch.Tensor, rois: torch.Tensor, output_size: int = 7,
                    spatial_scale: float = 1.0 / 16) -> torch.Tensor:
    """Pool ``rois`` from ``fmap``.

    Args:
        fmap: ``(B, C, H, W)`` feature map.
        rois: ``(K, 5)`` rows ``(image index, x1, y1, x2, y2)`` in input-image pixels.
    Returns:
        ``(K, C, P, P)`` pooled features, ``P = output_size``.
    """
    B, C, H, W = fmap.shape
    K = rois.shape[0]
    P = output_size
    if K == 0:
        return fmap.new_zeros((0, C, P, P))
    steps = torch.arange(P, device=fmap.device, dtype=fmap.dtype) / max(P - 1, 1)
    x1, y1, x2, y2 = (rois[:, i] * spatial_scale for i in range(1, 5))
    xs = x1[:, None] + (x2 - x1)[:, None] * steps[None]  # (K,P) feature-map coordinates
    ys = y1[:, None] + (y2 - y1)[:, None] * steps[None]
    valid = ((ys >= 0) & (ys <= H - 1))[:, :, None] & ((xs >= 0) & (xs <= W - 1))[:, None, :]  # (K,P,P)
    gx = 2.0 * xs / max(W - 1, 1) - 1.0
    gy = 2.0 * ys / max(H - 1, 1) - 1.0
    grid = torch.stack((gx[:, None, :].expand(K, P, P), gy[:, :, None].expand(K, P, P)), -1)  # (K,P,P,2)
    out = fmap.new_empty((K, C, P, P))
    img = rois[:, 0].long()
    for b in range(B):
        idx = (img == b).nonzero(as_tuple=True)[0]
        if idx.numel() == 0:
            continue
        g = grid[idx].reshape(1, idx.numel() * P, P, 2)
        s = F.grid_sample(fmap[b : b + 1], g, mode="bilinear", padding_mode="zeros", align_corners=True)
        out[idx] = s.view(C, idx.numel(), P, P).transpose(0, 1)
    return out * valid[:, None].to(out.dtype)
