"""The original release's "RoIAlign": TensorFlow-style crop-and-resize.

neural-motifs' ``lib/fpn/roi_align`` takes ONE bilinear sample per output cell at
``y = y1*s + i*(y2-y1)*s/(P-1)`` (corners included) and sets samples that fall outside the
feature map (``< 0`` or ``> F-1``) to zero. ``torchvision.ops.roi_align`` samples bin centres and is
not equivalent, so this is written once here: a gather of the four neighbours and the kernel's two
linear interpolations at exactly the kernel's sample coordinates, with an explicit out-of-range mask,
tested against a brute-force loop.

The sample coordinates and the range test are computed exactly as the released float32 code does
(:func:`sample_coords`), so the same samples are zeroed at box edges on the last feature index.
"""
from __future__ import annotations

import torch

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
    # one bilinear sample at exactly (ys, xs), as the kernel: lerp along x on the top and bottom rows,
    # then along y (out-of-range samples are zeroed below)
    fy, fx = torch.floor(ys), torch.floor(xs)
    y_lerp, x_lerp = (ys - fy).to(fmap.dtype), (xs - fx).to(fmap.dtype)
    top_i = fy.clamp(0, H - 1).long()
    bot_i = torch.ceil(ys).clamp(0, H - 1).long()
    left_i = fx.clamp(0, W - 1).long()
    right_i = torch.ceil(xs).clamp(0, W - 1).long()
    out = fmap.new_empty((K, P, P, C))
    img = rois[:, 0].long()
    for b in range(B):
        rows_b = fmap[b].reshape(C, H * W).t().contiguous()  # (H*W, C): each gather copies whole rows
        idx_b = (img == b).nonzero(as_tuple=True)[0]
        for start in range(0, idx_b.numel(), 256):  # bounded memory: 4 gathers of (256*P*P, C)
            idx = idx_b[start : start + 256]
            k = idx.numel()

            t, bo, le, ri = top_i[idx][:, :, None] * W, bot_i[idx][:, :, None] * W, left_i[idx][:, None, :], right_i[idx][:, None, :]
            xl = x_lerp[idx][:, None, :, None]
            top = rows_b.index_select(0, (t + le).reshape(-1)).view(k, P, P, C)
            top = top + (rows_b.index_select(0, (t + ri).reshape(-1)).view(k, P, P, C) - top) * xl
            bottom = rows_b.index_select(0, (bo + le).reshape(-1)).view(k, P, P, C)
            bottom = bottom + (rows_b.index_select(0, (bo + ri).reshape(-1)).view(k, P, P, C) - bottom) * xl
            out[idx] = top + (bottom - top) * y_lerp[idx][:, :, None, None]
    return (out.permute(0, 3, 1, 2) * valid[:, None].to(out.dtype)).contiguous()
