import math

import torch

from nodis.model.pooling import crop_and_resize
from nodis.model.relations import draw_union_boxes


def brute_crop_and_resize(fmap, rois, P=7, scale=1 / 16):
    B, C, H, W = fmap.shape
    out = torch.zeros(rois.shape[0], C, P, P, dtype=fmap.dtype)
    for k, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        b = int(b)
        for i in range(P):
            y = y1 * scale + i * (y2 - y1) * scale / (P - 1)
            for j in range(P):
                x = x1 * scale + j * (x2 - x1) * scale / (P - 1)
                if y < 0 or y > H - 1 or x < 0 or x > W - 1:
                    continue
                y0, x0 = math.floor(y), math.floor(x)
                y1i, x1i = min(y0 + 1, H - 1), min(x0 + 1, W - 1)
                dy, dx = y - y0, x - x0
                out[k, :, i, j] = (fmap[b, :, y0, x0] * (1 - dy) * (1 - dx) + fmap[b, :, y0, x1i] * (1 - dy) * dx
                                   + fmap[b, :, y1i, x0] * dy * (1 - dx) + fmap[b, :, y1i, x1i] * dy * dx)
    return out


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
    assert torch.allclose(got, ref, atol=1e-10)
    assert (got[2, :, -1, -1] == 0).all() and (got[3, :, 0, 0] == 0).all()
    assert torch.allclose(got[0, :, 0, 0], fmap[0, :, 0, 0]) and torch.allclose(got[0, :, 6, 6], fmap[0, :, 11, 11])


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
