import math
from fractions import Fraction

import numpy as np
import torch

from nodis.model.box_ops import fma32
from nodis.model.pooling import crop_and_resize, sample_coords
from nodis.model.relations import draw_union_boxes


def round32(q) -> float:
    """The float32 nearest to the rational ``q`` (ties to even), computed exactly."""
    q = Fraction(q)
    if q == 0:
        return 0.0
    sign, q, e = (-1 if q < 0 else 1), abs(q), 0
    while q >= 2 ** 24:
        q, e = q / 2, e + 1
    while q < 2 ** 23:
        q, e = q * 2, e - 1
    return sign * float(round(q)) * 2.0 ** e  # round() of a Fraction: half to even


def kernel_coord(lo: float, hi: float, j: int, size: int = 12, stride: int = 16, P: int = 7) -> float:
    """One sample coordinate as the released CUDA code computes it, every rounding exact: the box
    is multiplied by the float32 reciprocal of (size-1)*stride, ``scale = (n2-n1)*(size-1)/(P-1)``,
    ``in = fma(n1, size-1, j*scale)``."""
    r = round32(Fraction(1) / Fraction(round32((size - 1) * stride)))
    n1 = round32(Fraction(round32(lo)) * Fraction(r))
    n2 = round32(Fraction(round32(hi)) * Fraction(r))
    scale = round32(Fraction(round32(Fraction(round32(Fraction(n2) - Fraction(n1))) * (size - 1))) / (P - 1))
    t = round32(Fraction(j) * Fraction(scale))
    return round32(Fraction(n1) * (size - 1) + Fraction(t))


def brute_crop_and_resize(fmap, rois, P=7, stride=16):
    B, C, H, W = fmap.shape
    out = torch.zeros(rois.shape[0], C, P, P, dtype=fmap.dtype)
    for k, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        b = int(b)
        for i in range(P):
            y = kernel_coord(y1, y2, i, H, stride, P)
            for j in range(P):
                x = kernel_coord(x1, x2, j, W, stride, P)
                if y < 0 or y > H - 1 or x < 0 or x > W - 1:
                    continue
                y0, x0 = math.floor(y), math.floor(x)
                y1i, x1i = math.ceil(y), math.ceil(x)
                dy, dx = y - y0, x - x0
                top = fmap[b, :, y0, x0] + (fmap[b, :, y0, x1i] - fmap[b, :, y0, x0]) * dx
                bottom = fmap[b, :, y1i, x0] + (fmap[b, :, y1i, x1i] - fmap[b, :, y1i, x0]) * dx
                out[k, :, i, j] = top + (bottom - top) * dy
    return out


def test_fma32_is_the_correctly_rounded_fused_multiply_add():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(3000, generator=g) * 20
    b = torch.rand(3000, generator=g) * 40
    c = torch.randn(3000, generator=g) * 300
    c[:1000] *= 1e-9  # an addend far below the product: a float64 sum would round twice
    got = fma32(a, b, c).tolist()
    exact = [round32(Fraction(x) * Fraction(y) + Fraction(z)) for x, y, z in zip(a.tolist(), b.tolist(), c.tolist())]
    assert got == exact


def test_sample_coordinates_are_the_kernels_float32_values():
    rng = np.random.default_rng(2)
    lo = rng.uniform(-30, 590, 400).astype(np.float32)
    hi = (lo + rng.uniform(0, 300, 400)).astype(np.float32)
    got = sample_coords(torch.from_numpy(lo), torch.from_numpy(hi), 37, 1 / 16, 7).numpy()
    for k in range(0, 400, 7):
        assert [float(v) for v in got[k]] == [kernel_coord(float(lo[k]), float(hi[k]), j, 37) for j in range(7)]


def test_crop_and_resize_matches_brute_force_including_out_of_range():
    torch.manual_seed(0)
    fmap = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    rois = torch.tensor([
        [0, 0, 0, 176, 176],       # exactly the full map (corners included)
        [1, 13.3, 40.2, 95.7, 120.9],
        [0, 100, 100, 230, 260],   # beyond the last feature index (176 px): zero samples
        [1, -20, -5, 50, 60],      # negative coordinates: zero samples
        [0, 64, 64, 64, 64],       # degenerate box
    ], dtype=torch.float64)
    got = crop_and_resize(fmap, rois, 7, 1 / 16)
    ref = brute_crop_and_resize(fmap, rois)
    assert torch.allclose(got, ref, atol=1e-9)
    assert (got[2, :, -1, -1] == 0).all() and (got[3, :, 0, 0] == 0).all()
    assert torch.allclose(got[0, :, 0, 0], fmap[0, :, 0, 0]) and torch.allclose(got[0, :, 6, 6], fmap[0, :, 11, 11])


def test_boxes_ending_on_the_last_feature_index_are_zeroed_as_released():
    """Right edges at exactly (F-1)*16 px: the release's float32 arithmetic puts the last sample just
    beyond F-1 for some boxes (and zeroes that column), just inside for others."""
    rng = np.random.default_rng(3)
    x1 = rng.uniform(0, 170, 300).astype(np.float32)
    rois = torch.zeros(300, 5)
    rois[:, 1] = torch.from_numpy(x1)
    rois[:, 2] = 10.0
    rois[:, 3] = 176.0  # = (12 - 1) * 16
    rois[:, 4] = 150.0
    fmap = torch.rand(1, 2, 12, 12) + 0.5  # strictly positive: a zero means "out of range"
    got = crop_and_resize(fmap, rois, 7, 1 / 16)
    zeroed = (got[:, 0, :, 6] == 0).all(1).numpy()
    expect = np.array([kernel_coord(float(v), 176.0, 6) > 11 for v in x1])
    assert np.array_equal(zeroed, expect)
    assert 0 < expect.sum() < 300  # both outcomes occur


def brute_union(pair, size):
    ux1, uy1 = min(pair[0], pair[4]), min(pair[1], pair[5])
    ux2, uy2 = max(pair[2], pair[6]), max(pair[3], pair[7])
    w, h = ux2 - ux1, uy2 - uy1
    out = torch.zeros(2, size, size)
    mm = lambda v: min(max(v, 0.0), 1.0)  # noqa: E731
    for i in range(2):
        x1 = (pair[4 * i] - ux1) * size / w
        y1 = (pair[4 * i + 1] - uy1) * size / h
        x2 = (pair[4 * i + 2] - ux1) * size / w
        y2 = (pair[4 * i + 3] - uy1) * size / h
        for j in range(size):
            yc = mm(j + 1 - y1) * mm(y2 - j)
            for k in range(size):
                out[i, j, k] = mm(k + 1 - x1) * mm(x2 - k) * yc
    return out


def test_draw_union_boxes_matches_reference_loop():
    pairs = torch.tensor([[10, 20, 110, 80, 50, 60, 200, 190], [0, 0, 30, 30, 5, 5, 25.5, 27.3]])
    got = draw_union_boxes(pairs, 27)
    for r in range(2):
        assert torch.allclose(got[r], brute_union(pairs[r].tolist(), 27), atol=1e-6)
    assert got.min() >= 0 and got.max() <= 1
