"""The original release's "RoIAlign": TensorFlow-style crop-and-resize.

neural-motifs' ``lib/fpn/roi_align`` takes ONE bilinear sample per output cell at
``y = y1*s + i*(y2-y1)*s/(P-1)`` (corners included) and sets samples that fall outside the
feature map (``< 0`` or ``> F-1``) to zero. ``torchvision.ops.roi_align`` samples bin centres and is
not equivalent, so this is written once here with ``grid_sample(align_corners=True)`` and an explicit
out-of-range mask, and tested against a brute-force loop.

The sample coordinates and the range test are computed exactly as the released float32 code does
(:func:`sample_coords`), so the same samples are zeroed at box edges on the last feature index.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .box_ops import fma32


def sample_coords(lo: torch.Tensor, hi: torch.Tensor, size: int, spatial_scale: float, P: int) -> torch.Tensor:
    """Feature-map sample coordinates ``(K, P)`` along one axis, in the release's float32 order.

    ``RoIAlignFunction.forward`` divides the box by ``(size - 1) / spatial_scale`` in place, which
    the 0.4-era CUDA tensor code does as a multiplication by the float32 reciprocal
    (``TensorDivConstantOp<float>``); ``roi_align_kernel.cu`` (compiled with nvcc's FMA contraction,
    checked in the shipped ``roi_align.cu.o``) then computes ``scale = (n2 - n1) * (size-1) / (P-1)``
    and ``in = fma(n1, size-1, j * scale)``; ``P == 1`` samples ``0.5 * (n1 + n2) * (size-1)`` in double.
    ``lo``/``hi``: ``(K,)`` box edges in input pixels.
    """
    extent = (size - 1) / spatial_scale  # Python float, as released
    recip = torch.tensor(1.0, dtype=torch.float32) / torch.tensor(extent, dtype=torch.float32)
    n1 = lo.to(torch.float32) * recip
    n2 = hi.to(torch.float32) * recip
    if P == 1:
        return ((n1 + n2).to(torch.float64) * 0.5 * float(size - 1)).to(torch.float32)[:, None]
    step = (n2 - n1) * float(size - 1) / float(P - 1)
    j = torch.arange(P, dtype=torch.float32, device=lo.device)
    return fma32(n1[:, None], torch.tensor(float(size - 1), dtype=torch.float32), j[None, :] * step[:, None])


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
    xs = sample_coords(rois[:, 1], rois[:, 3], W, spatial_scale, P)  # (K,P) feature-map coordinates
    ys = sample_coords(rois[:, 2], rois[:, 4], H, spatial_scale, P)
    valid = ((ys >= 0) & (ys <= H - 1))[:, :, None] & ((xs >= 0) & (xs <= W - 1))[:, None, :]  # (K,P,P)
    xs, ys = xs.to(fmap.dtype), ys.to(fmap.dtype)
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
