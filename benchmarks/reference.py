"""The reference path: the ORIGINAL NODIS release's test-time computation, re-implemented from its
own source (``yrcong/NODIS`` @ ``412b417``: ``dataloaders/visual_genome.py``, ``dataloaders/
image_transforms.py``, ``lib/object_detector.py``, ``lib/fpn/box_utils.py``, ``lib/fpn/
generate_anchors.py``, ``lib/fpn/nms/``, ``lib/fpn/roi_align/``, ``lib/get_union_boxes.py``,
``lib/draw_rectangles/``, ``lib/NODIS.py``, ``lib/ODE.py``, ``lib/surgery.py``,
``models/eval_rels.py``). It exists to test and time the production path against; nothing in the
library imports it, and it imports nothing of the library's model code.

It is built from an **official-layout state dict** (the keys of a released checkpoint:
``detector.*``, ``context.*``, ``union_boxes.*``, ``roi_fmap_obj.*``, ``obj_embed*``,
``lstm_visual``, ``lstm_semantic``, ``odeBlock.*``, ``fc_predicate.*``); every layer size is read
from the tensors, so small "vg-shaped" checkpoints work as well as the real ones.

What is re-implemented, in the release's own arithmetic (float32, operation by operation):

* **Input** (``VG.__getitem__``): ``SquarePad`` (right/bottom, fill ``int(0.485*256)``, ...),
  torchvision ``Resize(IM_SCALE)`` of the whole square, ``ToTensor``, ``Normalize``; ``im_size`` =
  ``(int(h*s), IM_SCALE)`` or ``(IM_SCALE, int(w*s))``.
* **RPN** (``RPNHead.roi_proposals``): softmax fg score, ``bbox_preds`` on the anchors buffer, rows /
  columns past ``im_size // 16`` scored -0.01, clamp to ``[0, w-1] x [0, h-1]``, ``center_size``
  widths ``< 4`` scored -0.01, ``apply_nms`` (sort, 6000, NMS 0.7, 1000).
* **NMS** (``nms_kernel.cu``): ``interS / (Sa + Sb - interS) > thresh`` with ``+1`` widths; nvcc
  fuses ``Sb`` into the sum (``FFMA``, read from the SASS of the shipped ``nms.cu.o``).
* **RoIAlign** (``roi_align.py`` + ``roi_align_kernel.cu``): the in-place ``rois /= 576`` is a
  multiplication by the float32 reciprocal on 0.4-era CUDA tensors (``TensorDivConstantOp<float>``);
  ``in = fma(n1, F-1, j * ((n2-n1)*(F-1)/(P-1)))`` (FFMA, from the SASS of ``roi_align.cu.o``); samples
  with ``in < 0`` or ``> F-1`` are 0; the bilinear lerps are FFMAs as well.
* **Union boxes** (``UnionBoxesAndFeats``, ``draw_union_boxes`` in float32), ``AvgPool2d(7)``.
* **O_NODE** (``context``): ``softmax(logits) @ E``, ``pos_embed(center_size(box))``, predcls
  ``to_onehot`` (+-1000), sgcls one sequence of batch 1 in GT order, sgdet random order, packed;
  ``nms_boxes``/``filter_det`` (0.3, 300, thresh 0.01, 64) and the test-time label NMS (0.5,
  argmax of the masked probabilities: a box suppressed in every class gets class 1).
* **ODE** (``lib/ODE.py``): ``odeint(odeFunc, x, [0, 1.5], rtol=atol=0.01)`` (dopri5) with the
  LSTM state carried from one evaluation to the next, reset per block call; NFE counted.
* **Relations**: ``get_rel_inds`` (sgdet: +1 ``bbox_overlaps > 0``), ``sort_rois`` -> packed
  sequences, ``lstm_visual``/``lstm_semantic`` from zero state, ``odeBlock``, ``fc_predicate`` (with
  its trailing ReLU), ``filter_dets`` ranking (``max_{p>=1} softmax * s_subj * s_obj``).

Known, deliberate differences from a run of the release itself (they do not change the
computation): everything runs on the CPU (CUDA's ``expf``/``softmax``/convolutions round
differently in the last bits); ties in the release's CUDA sorts (whose order is undefined) are
broken by index; the random orders (``np.random.rand``) can be replaced by a given permutation
(``order``) so that outputs are comparable with the production path's seeded order.

API::

    from benchmarks.reference import ReleaseNODIS, release_transform
    ref = ReleaseNODIS(state_dict, im_scale=592)              # official-layout weights
    out = ref.predict(pil_image, "sgdet", order=perm_fn)      # ReleaseResult
    # compatibility wrappers on a nodis model (benchmarks): predicate_branch, reference_objects,
    # reference_predict(model, image, mode, boxes=..., labels=...)
"""
from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence
from torchdiffeq import odeint

RELEASED_T_END = 1.5  # odeBlock.time = torch.tensor([0, 1.5])
RELEASED_RTOL = 0.01
RELEASED_ATOL = 0.01
IM_SCALE = 592
BOX_SCALE = 1024
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
ANCHOR_SIZE = 16
ANCHOR_RATIOS = (0.23232838, 0.63365731, 1.28478321, 3.15089189)
ANCHOR_SCALES = (2.22152954, 4.12315647, 7.21692515, 12.60263013, 22.7102731)

#: ``order``: None or "numpy" = ``np.random.rand`` scores as released; a callable ``n -> permutation``
#: (a LongTensor: which row comes first, second, ...) = that order.
Order = "str | Callable[[int], torch.Tensor] | None"


# =============================================================================================
# float32 arithmetic of the CUDA kernels


def fma_f32(a, b, c) -> np.ndarray:
    """``a * b + c`` of float32 values rounded ONCE to float32 (CUDA ``FFMA``).

    float32 products are exact in float64; where the float64 sum is inexact (Knuth's TwoSum gives
    the exact error) it is turned into round-to-odd, which then rounds correctly to float32."""
    a = np.asarray(a, dtype=np.float32).astype(np.float64)
    b = np.asarray(b, dtype=np.float32).astype(np.float64)
    c = np.asarray(c, dtype=np.float32).astype(np.float64)
    p = a * b
    s = np.ascontiguousarray(p + c)
    bv = s - p
    av = s - bv
    err = (p - av) + (c - bv)
    inexact = np.flatnonzero(err)
    if inexact.size:
        flat, e = s.reshape(-1), np.broadcast_to(err, s.shape).reshape(-1)[inexact]
        v = flat[inexact]
        even = (v.view(np.int64) & 1) == 0
        flat[inexact] = np.where(even, np.nextafter(v, np.where(e > 0, np.inf, -np.inf)), v)
    return s.astype(np.float32)


# =============================================================================================
# dataloaders/image_transforms.py + visual_genome.py


class SquarePad:
    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        return ImageOps.expand(img, border=(0, 0, max(h - w, 0), max(w - h, 0)),
                               fill=(int(0.485 * 256), int(0.456 * 256), int(0.406 * 256)))


def release_transform(im_scale: int = IM_SCALE):
    """The release's ``transform_pipeline``: SquarePad, Resize(IM_SCALE), ToTensor, Normalize."""
    from torchvision.transforms import Compose, Normalize, Resize, ToTensor

    return Compose([SquarePad(), Resize(im_scale), ToTensor(), Normalize(mean=list(MEAN), std=list(STD))])


def release_im_size(w: int, h: int, im_scale: int = IM_SCALE) -> tuple[int, int, float]:
    """``im_size`` of ``VG.__getitem__``: ``(h, w, scale)`` of the content after scaling."""
    s = im_scale / max(w, h)
    if h > w:
        return (im_scale, int(w * s), s)
    if h < w:
        return (int(h * s), im_scale, s)
    return (im_scale, im_scale, s)


def decode_boxes_1024(boxes_xcycwh: np.ndarray) -> np.ndarray:
    """``load_graphs``: int ``[xc, yc, w, h]`` -> ``x1 = xc - w/2`` assigned into the int array
    (truncated), ``x2 = x1 + w``."""
    b = np.array(boxes_xcycwh, dtype=np.int32).reshape(-1, 4)
    b[:, :2] = b[:, :2] - b[:, 2:] / 2
    b[:, 2:] = b[:, :2] + b[:, 2:]
    return b


# =============================================================================================
# lib/fpn/generate_anchors.py, lib/fpn/box_utils.py


def generate_anchors(im_scale: int = IM_SCALE, base_size: int = ANCHOR_SIZE, feat_stride: int = 16,
                     anchor_scales=ANCHOR_SCALES, anchor_ratios=ANCHOR_RATIOS) -> np.ndarray:
    """``(F, F, A, 4)`` float64 anchors; the release stores them as a float32 buffer."""

    def whctrs(a):
        w, h = a[2] - a[0] + 1, a[3] - a[1] + 1
        return w, h, a[0] + 0.5 * (w - 1), a[1] + 0.5 * (h - 1)

    def mkanchors(ws, hs, xc, yc):
        ws, hs = ws[:, None], hs[:, None]
        return np.hstack((xc - 0.5 * (ws - 1), yc - 0.5 * (hs - 1), xc + 0.5 * (ws - 1), yc + 0.5 * (hs - 1)))

    base = np.array([1, 1, base_size, base_size]) - 1
    w, h, xc, yc = whctrs(base)
    ratios, scales = np.array(anchor_ratios), np.array(anchor_scales)
    ws = np.sqrt(w * h / ratios)
    ratio_anchors = mkanchors(ws, ws * ratios, xc, yc)
    out = []
    for i in range(ratio_anchors.shape[0]):
        w, h, xc, yc = whctrs(ratio_anchors[i])
        out.append(mkanchors(w * scales, h * scales, xc, yc))
    anchors = np.vstack(out)
    shift = np.arange(0, im_scale // feat_stride) * feat_stride
    sx, sy = np.meshgrid(shift, shift)
    shifts = np.stack([sx, sy, sx, sy], -1)
    return shifts[:, :, None] + anchors[None, None]


def center_size(boxes: torch.Tensor) -> torch.Tensor:
    wh = boxes[:, 2:] - boxes[:, :2] + 1.0
    return torch.cat((boxes[:, :2] + 0.5 * wh, wh), 1)


def point_form(boxes: torch.Tensor) -> torch.Tensor:
    return torch.cat((boxes[:, :2] - 0.5 * boxes[:, 2:], boxes[:, :2] + 0.5 * (boxes[:, 2:] - 2.0)), 1)


def bbox_preds(boxes: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    if boxes.shape[0] == 0:
        return boxes
    pc = center_size(boxes)
    xys = pc[:, :2] + pc[:, 2:] * deltas[:, :2]
    whs = torch.exp(deltas[:, 2:]) * pc[:, 2:]
    return point_form(torch.cat((xys, whs), 1))


def bbox_overlaps(box_a: torch.Tensor, box_b: torch.Tensor) -> torch.Tensor:
    """The torch ``bbox_overlaps`` of ``box_utils.py`` (+1 widths)."""
    A, B = box_a.shape[0], box_b.shape[0]
    max_xy = torch.min(box_a[:, 2:].unsqueeze(1).expand(A, B, 2), box_b[:, 2:].unsqueeze(0).expand(A, B, 2))
    min_xy = torch.max(box_a[:, :2].unsqueeze(1).expand(A, B, 2), box_b[:, :2].unsqueeze(0).expand(A, B, 2))
    inter = torch.clamp((max_xy - min_xy + 1.0), min=0)
    inter = inter[:, :, 0] * inter[:, :, 1]
    area_a = ((box_a[:, 2] - box_a[:, 0] + 1.0) * (box_a[:, 3] - box_a[:, 1] + 1.0)).unsqueeze(1).expand_as(inter)
    area_b = ((box_b[:, 2] - box_b[:, 0] + 1.0) * (box_b[:, 3] - box_b[:, 1] + 1.0)).unsqueeze(0).expand_as(inter)
    return inter / (area_a + area_b - inter)


# =============================================================================================
# lib/fpn/nms (apply_nms + nms_kernel.cu)


def nms_kernel(boxes_sorted: np.ndarray, thresh: float) -> list[int]:
    """``ApplyNMSGPU``: indices kept, boxes already sorted by score. Box ``i`` (a row of the mask)
    suppresses ``j > i`` when ``devIoU(i, j) > thresh``."""
    b = np.asarray(boxes_sorted, dtype=np.float32)
    n = b.shape[0]
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    one, zero = np.float32(1), np.float32(0)
    wa, ha = (x2 - x1) + one, (y2 - y1) + one
    area = wa * ha  # Sa = (a[2]-a[0]+1)*(a[3]-a[1]+1), rounded
    th = np.float32(thresh)
    removed = np.zeros(n, dtype=bool)
    keep: list[int] = []
    for start in range(0, n, 256):
        stop = min(start + 256, n)
        if removed[start:stop].all():
            continue
        r = slice(start, stop)
        width = np.maximum((np.minimum(x2[r, None], x2[None]) - np.maximum(x1[r, None], x1[None])) + one, zero)
        height = np.maximum((np.minimum(y2[r, None], y2[None]) - np.maximum(y1[r, None], y1[None])) + one, zero)
        inter = width * height
        union = fma_f32(wa[None], ha[None], area[r, None]) - inter  # FFMA(wb, hb, Sa) - interS
        with np.errstate(divide="ignore", invalid="ignore"):
            mask = (inter / union) > th
        for i in range(start, stop):
            if removed[i]:
                continue
            keep.append(i)
            row = mask[i - start].copy()
            row[: i + 1] = False
            removed |= row
    return keep


def apply_nms(scores: torch.Tensor, boxes: torch.Tensor, pre_nms_topn: int, post_nms_topn: int,
              nms_thresh: float) -> torch.Tensor:
    """``_nms_single_im``: sort descending (ties by index), top ``pre``, NMS, first ``post``."""
    if scores.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    idx = torch.sort(scores, dim=0, descending=True, stable=True).indices[:pre_nms_topn]
    keep = nms_kernel(boxes[idx].float().cpu().numpy(), nms_thresh)[:post_nms_topn]
    return idx[torch.as_tensor(keep, dtype=torch.long)]


# =============================================================================================
# lib/fpn/roi_align (RoIAlignFunction + roi_align_kernel.cu)


def roi_align(features: torch.Tensor, rois: torch.Tensor, pooled: int = 7, spatial_scale: float = 1 / 16) -> torch.Tensor:
    """``RoIAlignFunction(7, 7, 1/16)(features, rois)`` -> ``(K, C, 7, 7)`` float32."""
    Bn, C, Hf, Wf = features.shape
    K = rois.shape[0]
    out = torch.zeros(K, C, pooled, pooled, dtype=torch.float32)
    if K == 0:
        return out
    r = rois.detach().cpu().numpy().astype(np.float32)
    height = (Hf - 1) / spatial_scale
    width = (Wf - 1) / spatial_scale
    # rois_normalized[:, 1] /= width: 0.4-era CUDA float division by a scalar = x * (1.f / v)
    rw = np.float32(1.0) / np.float32(width)
    rh = np.float32(1.0) / np.float32(height)
    bx1, by1, bx2, by2 = r[:, 1] * rw, r[:, 2] * rh, r[:, 3] * rw, r[:, 4] * rh
    steps = np.arange(pooled, dtype=np.float32)

    def coords(n1, n2, size):
        if pooled > 1:
            sc = ((n2 - n1) * np.float32(size - 1)) / np.float32(pooled - 1)
            return fma_f32(np.float32(size - 1), n1[:, None], steps[None] * sc[:, None])  # (K, P)
        return (0.5 * (n1 + n2).astype(np.float64) * (size - 1)).astype(np.float32)[:, None]

    in_y, in_x = coords(by1, by2, Hf), coords(bx1, bx2, Wf)
    ok_y = (in_y >= 0) & (in_y <= Hf - 1)
    ok_x = (in_x >= 0) & (in_x <= Wf - 1)
    ty = np.where(ok_y, np.floor(in_y), 0).astype(np.int64)
    by = np.where(ok_y, np.ceil(in_y), 0).astype(np.int64)
    lx = np.where(ok_x, np.floor(in_x), 0).astype(np.int64)
    rx = np.where(ok_x, np.ceil(in_x), 0).astype(np.int64)
    y_lerp = np.where(ok_y, in_y - ty.astype(np.float32), 0).astype(np.float32)
    x_lerp = np.where(ok_x, in_x - lx.astype(np.float32), 0).astype(np.float32)
    feats = features.detach().float().cpu()
    b_in = r[:, 0].astype(np.int64)
    for k0 in range(0, K, 64):
        ks = np.arange(k0, min(k0 + 64, K))
        for b in np.unique(b_in[ks]):
            kk = ks[b_in[ks] == b]
            f = feats[int(b)]
            T, Bo = torch.from_numpy(ty[kk])[:, :, None], torch.from_numpy(by[kk])[:, :, None]
            L, R = torch.from_numpy(lx[kk])[:, None, :], torch.from_numpy(rx[kk])[:, None, :]
            tl, tr = f[:, T, L].numpy(), f[:, T, R].numpy()  # (C, k, P, P)
            bl, br = f[:, Bo, L].numpy(), f[:, Bo, R].numpy()
            xl = x_lerp[kk][None, :, None, :]
            yl = y_lerp[kk][None, :, :, None]
            top = fma_f32(tr - tl, xl, tl)  # top_left + (top_right - top_left) * x_lerp
            bottom = fma_f32(br - bl, xl, bl)
            val = fma_f32(bottom - top, yl, top)
            valid = (ok_y[kk][:, :, None] & ok_x[kk][:, None, :])[None]
            out[torch.from_numpy(kk)] = torch.from_numpy(np.where(valid, val, np.float32(0))).permute(1, 0, 2, 3)
    return out


# =============================================================================================
# lib/draw_rectangles/draw_rectangles.pyx, lib/get_union_boxes.py


def draw_union_boxes(box_pairs: np.ndarray, pooling_size: int) -> np.ndarray:
    """``(N, 8)`` float32 -> ``(N, 2, S, S)`` float32 fractional coverage in the union frame."""
    bp = np.asarray(box_pairs, dtype=np.float32)
    N = bp.shape[0]
    S = pooling_size
    out = np.zeros((N, 2, S, S), dtype=np.float32)
    if N == 0:
        return out
    x1u = np.minimum(bp[:, 0], bp[:, 4])
    y1u = np.minimum(bp[:, 1], bp[:, 5])
    x2u = np.maximum(bp[:, 2], bp[:, 6])
    y2u = np.maximum(bp[:, 3], bp[:, 7])
    w, h = x2u - x1u, y2u - y1u
    grid = np.arange(S, dtype=np.float32)
    ps = np.float32(S)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(2):
            x1b = (bp[:, 0 + 4 * i] - x1u) * ps / w
            y1b = (bp[:, 1 + 4 * i] - y1u) * ps / h
            x2b = (bp[:, 2 + 4 * i] - x1u) * ps / w
            y2b = (bp[:, 3 + 4 * i] - y1u) * ps / h
            yc = np.minimum(np.maximum((grid[None] + 1) - y1b[:, None], 0), 1) * \
                np.minimum(np.maximum(y2b[:, None] - grid[None], 0), 1)
            xc = np.minimum(np.maximum((grid[None] + 1) - x1b[:, None], 0), 1) * \
                np.minimum(np.maximum(x2b[:, None] - grid[None], 0), 1)
            out[:, i] = xc[:, None, :] * yc[:, :, None]
    return out


# =============================================================================================
# lib/pytorch_misc.py, lib/NODIS.py (_sort_by_score)


def enumerate_by_image(im_inds) -> list[tuple[int, int, int]]:
    ims = np.asarray(im_inds.cpu() if torch.is_tensor(im_inds) else im_inds).reshape(-1)
    out = []
    if len(ims) == 0:
        return out
    initial, s = int(ims[0]), 0
    for i, v in enumerate(ims):
        if v != initial:
            out.append((initial, s, i))
            initial, s = int(v), i
    out.append((initial, s, len(ims)))
    return out


def transpose_packed_sequence_inds(lengths: list[int]) -> tuple[np.ndarray, list[int]]:
    new_inds, new_lens = [], []
    cum_add = np.cumsum([0] + list(lengths))
    max_len = lengths[0]
    length_pointer = len(lengths) - 1
    for i in range(max_len):
        while length_pointer > 0 and lengths[length_pointer] <= i:
            length_pointer -= 1
        new_inds.append(cum_add[: (length_pointer + 1)].copy())
        cum_add[: (length_pointer + 1)] += 1
        new_lens.append(length_pointer + 1)
    return np.concatenate(new_inds, 0), new_lens


def sort_by_score(im_inds: torch.Tensor, scores: torch.Tensor):
    """``_sort_by_score``: ``perm``, ``inv_perm``, packed ``batch_sizes`` (ties: by index)."""
    num_im = int(im_inds[-1].item()) + 1
    rois_per_image = scores.new_zeros(num_im)
    lengths = []
    for i, s, e in enumerate_by_image(im_inds):
        rois_per_image[i] = 2 * (s - e) * num_im + i
        lengths.append(e - s)
    lengths = sorted(lengths, reverse=True)
    inds, ls_transposed = transpose_packed_sequence_inds(lengths)
    inds = torch.as_tensor(inds, dtype=torch.long)
    roi_order = scores - 2 * rois_per_image[im_inds]
    perm = torch.sort(roi_order, dim=0, descending=True, stable=True).indices
    perm = perm[inds]
    inv_perm = torch.sort(perm).indices
    return perm, inv_perm, ls_transposed


def order_scores(im_inds: torch.Tensor, order=None) -> torch.Tensor:
    """The scores ``sort_rois`` sorts by. ``None``/``"numpy"``: ``np.random.rand`` (float32) as
    released; a callable ``n -> permutation``: float64 scores whose descending order within each
    image is that permutation."""
    n_all = int(im_inds.numel())
    if order is None or order == "numpy":
        return torch.as_tensor(np.random.rand(n_all), dtype=torch.float32)
    scores = np.zeros(n_all, np.float64)  # float64: float32 would merge ranks once offset by the image term
    for _, s, e in enumerate_by_image(im_inds):
        n = e - s
        perm = np.asarray(order(n)).reshape(-1)
        sc = np.empty(n, np.float64)
        sc[perm] = (n - np.arange(n)) / (n + 1.0)  # perm[0] gets the highest score
        scores[s:e] = sc
    return torch.as_tensor(scores, dtype=torch.float64)


def to_onehot(vec: torch.Tensor, num_classes: int, fill: float = 1000.0) -> torch.Tensor:
    out = torch.full((vec.shape[0], num_classes), -fill, dtype=torch.float32)
    out.view(-1)[vec + num_classes * torch.arange(vec.shape[0])] = fill
    return out


# =============================================================================================
# lib/ODE.py


class OdeFunc(nn.Module):
    """``odeFunc1``/``odeFunc2``: ``x, self.hidden_state = self.lstm(x, self.hidden_state)``."""

    def __init__(self, lstm: nn.LSTM) -> None:
        super().__init__()
        self.lstm = lstm
        self.nfe = 0
        self.hidden_state = None

    def init_hidden(self, batch_size: int):
        d = 2 if self.lstm.bidirectional else 1
        return (torch.zeros(d, batch_size, self.lstm.hidden_size), torch.zeros(d, batch_size, self.lstm.hidden_size))

    def forward(self, t, x):
        x, self.hidden_state = self.lstm(x, self.hidden_state)
        self.nfe += 1
        return x


class OdeBlock(nn.Module):
    def __init__(self, lstm: nn.LSTM, t_end: float = RELEASED_T_END) -> None:
        super().__init__()
        self.odeFunc = OdeFunc(lstm)
        self.time = torch.tensor([0, float(t_end)])

    def forward(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        self.odeFunc.hidden_state = self.odeFunc.init_hidden(batch_size)
        self.odeFunc.nfe = 0
        return odeint(self.odeFunc, x, self.time, rtol=RELEASED_RTOL, atol=RELEASED_ATOL)


# =============================================================================================
# the model


def _linear(sd: dict, key: str) -> nn.Linear:
    w = sd[key + ".weight"]
    return nn.Linear(w.shape[1], w.shape[0], bias=key + ".bias" in sd)


def _lstm(sd: dict, key: str) -> nn.LSTM:
    w = sd[key + ".weight_ih_l0"]
    return nn.LSTM(w.shape[1], w.shape[0] // 4, bidirectional=key + ".weight_ih_l0_reverse" in sd)


def vgg_features(sd: dict) -> nn.Sequential:
    """``vgg16().features`` without ``'30'``: conv 3x3 + ReLU, max-pools at 4, 9, 16, 23."""
    layers: list[nn.Module] = []
    for i in range(30):
        k = f"detector.features.{i}.weight"
        if k in sd:
            w = sd[k]
            layers.append(nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1))
        elif i in (4, 9, 16, 23):
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


@dataclass
class ReleaseResult:
    """One image through the release's test-time forward (``filter_dets`` output plus internals).

    ``kept``: rows of the detector's rois kept as objects (sgdet: ``nms_inds`` by score; else all);
    ``rel_inds (R, 2)`` index the kept objects, in ``get_rel_inds`` order; ``ranking`` sorts them as
    ``filter_dets``; boxes in model-input pixels."""

    mode: str
    proposals: torch.Tensor  # (N, 4) rois of the detector (RPN proposals or the given boxes)
    kept: torch.Tensor
    obj_dists: torch.Tensor  # (K, C) context logits of the kept objects
    obj_preds: torch.Tensor
    obj_scores: torch.Tensor
    boxes: torch.Tensor  # (K, 4) output boxes
    rel_inds: torch.Tensor
    rel_dists: torch.Tensor  # (R, P)
    ranking: torch.Tensor
    triplet_scores: torch.Tensor  # (R,) in rel_inds order
    nfe: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    scale: float = 1.0
    im_size: tuple = ()

    @property
    def rel_probs(self) -> torch.Tensor:
        return torch.softmax(self.rel_dists, 1)


@dataclass
class RefRelations:
    rel_inds: torch.Tensor
    rel_dists: torch.Tensor
    nfe: int
    seconds: float
    ode_seconds: float

    @property
    def rel_probs(self) -> torch.Tensor:
        return torch.softmax(self.rel_dists, 1)


@dataclass
class RefObjects:
    obj_dists: torch.Tensor
    nfe: int
    seconds: float
    ode_seconds: float


class ReleaseNODIS(nn.Module):
    """``lib.NODIS.NODIS`` at test time, built from an official-layout state dict.

    ``features``: a replacement backbone module (for nodis's ``small`` demo backbone, which the
    release does not have); default: VGG16 from ``detector.features.*``. ``predicate_relu``: the
    trailing ReLU of ``fc_predicate`` (the release has it). ``pre_nms``/``post_nms``: the RPN's
    6000/1000; ``max_per_img``/``thresh``: ``filter_det``'s 64/0.01."""

    def __init__(self, state_dict: dict, im_scale: int = IM_SCALE, features: nn.Module | None = None,
                 predicate_relu: bool = True, pre_nms: int = 6000, post_nms: int = 1000, max_per_img: int = 64,
                 thresh: float = 0.01, rpn_nms: float = 0.7, det_nms: float = 0.3, stride: int = 16) -> None:
        super().__init__()
        sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state_dict.items()}
        with torch.device("meta"):  # no random initialisation: every weight comes from the state dict
            self._build(sd, features, predicate_relu)
        self.im_scale, self.stride = int(im_scale), int(stride)
        self.spatial_scale = 1.0 / self.stride  # RoIAlignFunction(7, 7, spatial_scale=1/16)
        self.pre_nms, self.post_nms, self.max_per_img, self.thresh = pre_nms, post_nms, max_per_img, thresh
        self.rpn_nms, self.det_nms = rpn_nms, det_nms
        self.register_buffer("anchors", sd["detector.rpn_head.anchors"].float().clone())
        self._load(sd, features)
        self.eval()

    def _build(self, sd: dict, features: nn.Module | None, predicate_relu: bool) -> None:
        self.features = features if features is not None else vgg_features(sd)
        self.roi_fmap = nn.Sequential(_linear(sd, "detector.roi_fmap.0"), nn.ReLU(inplace=True), nn.Dropout(0.5),
                                      _linear(sd, "detector.roi_fmap.3"), nn.ReLU(inplace=True), nn.Dropout(0.5))
        self.score_fc = _linear(sd, "detector.score_fc")
        self.bbox_fc = _linear(sd, "detector.bbox_fc")
        c0, c2 = sd["detector.rpn_head.conv.0.weight"], sd["detector.rpn_head.conv.2.weight"]
        self.rpn_conv = nn.Sequential(nn.Conv2d(c0.shape[1], c0.shape[0], 3, padding=1), nn.ReLU6(inplace=True),
                                      nn.Conv2d(c2.shape[1], c2.shape[0], 1))
        self.num_anchors = c2.shape[0] // 6
        # context (O_NODE)
        self.ctx_obj_embed = nn.Embedding(*sd["context.obj_embed.weight"].shape)
        pos = sd["context.pos_embed.1.weight"]
        self.pos_embed = nn.Sequential(nn.BatchNorm1d(4, momentum=0.001), nn.Linear(4, pos.shape[0]),
                                       nn.ReLU(inplace=True), nn.Dropout(0.1))
        self.decoder_lin1 = _linear(sd, "context.decoder_lin1")
        self.ctx_lstm = _lstm(sd, "context.decoder_lin2.odeFunc.lstm")
        self.decoder_lin3 = _linear(sd, "context.decoder_lin3")
        # relations
        u0, u4 = sd["union_boxes.conv.0.weight"], sd["union_boxes.conv.4.weight"]
        self.union_conv = nn.Sequential(
            nn.Conv2d(2, u0.shape[0], kernel_size=7, stride=2, padding=3, bias=True), nn.ReLU(inplace=True),
            nn.BatchNorm2d(u0.shape[0], momentum=0.01), nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            nn.Conv2d(u0.shape[0], u4.shape[0], kernel_size=3, stride=1, padding=1, bias=True), nn.ReLU(inplace=True),
            nn.BatchNorm2d(u4.shape[0], momentum=0.01))
        self.roi_fmap_obj = nn.Sequential(_linear(sd, "roi_fmap_obj.0"), nn.ReLU(inplace=True), nn.Dropout(0.5),
                                          _linear(sd, "roi_fmap_obj.3"), nn.ReLU(inplace=True), nn.Dropout(0.5))
        self.obj_embed = nn.Embedding(*sd["obj_embed.weight"].shape)
        self.obj_embed2 = nn.Embedding(*sd["obj_embed2.weight"].shape)
        self.lstm_visual = _lstm(sd, "lstm_visual")
        self.lstm_semantic = _lstm(sd, "lstm_semantic")
        self.rel_lstm = _lstm(sd, "odeBlock.odeFunc.lstm")
        head: list[nn.Module] = [_linear(sd, "fc_predicate.0"), nn.ReLU(inplace=False), _linear(sd, "fc_predicate.2")]
        if predicate_relu:
            head.append(nn.ReLU(inplace=False))
        self.fc_predicate = nn.Sequential(*head)
        self.num_classes = self.score_fc.out_features

    def _load(self, sd: dict, features: nn.Module | None) -> None:
        rename = {"detector.roi_fmap.": "roi_fmap.", "detector.score_fc.": "score_fc.", "detector.bbox_fc.": "bbox_fc.",
                  "detector.rpn_head.conv.": "rpn_conv.", "detector.rpn_head.anchors": "anchors",
                  "context.obj_embed.": "ctx_obj_embed.", "context.pos_embed.": "pos_embed.",
                  "context.decoder_lin1.": "decoder_lin1.", "context.decoder_lin2.odeFunc.lstm.": "ctx_lstm.",
                  "context.decoder_lin3.": "decoder_lin3.", "union_boxes.conv.": "union_conv.",
                  "odeBlock.odeFunc.lstm.": "rel_lstm.", "detector.features.": "features."}
        own = {}
        for k, v in sd.items():
            for src, dst in rename.items():
                if k.startswith(src):
                    k = dst + k[len(src):]
                    break
            own[k] = v
        if features is not None:
            own = {k: v for k, v in own.items() if not k.startswith("features.")}
            own.update({"features." + k: v for k, v in features.state_dict().items()})
        own = {k: v.float() if v.is_floating_point() else v for k, v in own.items()}
        missing, unexpected = self.load_state_dict(own, strict=False, assign=True)
        for name, buf in list(self.named_buffers()):
            if name.endswith("num_batches_tracked") and buf.is_meta:  # absent in some old checkpoints
                mod = self.get_submodule(name.rsplit(".", 1)[0])
                mod.num_batches_tracked = torch.tensor(0)
        missing = [m for m in missing if not m.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise KeyError(f"state dict does not fit the release's layout: missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]}")

    # ------------------------------------------------------------------------ pieces
    def transform(self, image: Image.Image):
        """``(x (3,S,S), im_size (h, w, scale))``."""
        w, h = image.size
        return release_transform(self.im_scale)(image.convert("RGB")), release_im_size(w, h, self.im_scale)

    def roi_proposals(self, fmap: torch.Tensor, im_size) -> torch.Tensor:
        """``RPNHead.roi_proposals`` for one image -> rois ``(N, 4)``."""
        x = self.rpn_conv(fmap)
        Bn, nc, H, W = x.shape
        rez = x.view(Bn, nc, -1).transpose(1, 2).contiguous().view(Bn, H, W, nc).view(Bn, H, W, self.num_anchors, 6)
        class_preds = F.softmax(rez[..., :2].contiguous(), 4)[..., 1].contiguous()
        box_fmap = rez[..., 2:].contiguous()
        anchors = self.anchors[:H, :W][None]
        box_preds = bbox_preds(anchors.reshape(-1, 4), box_fmap.view(-1, 4)).view(*box_fmap.shape)
        h, w = im_size[0], im_size[1]
        h_end, w_end = int(h) // self.stride, int(w) // self.stride
        if h_end < class_preds.shape[1]:
            class_preds[0, h_end:] = -0.01
        if w_end < class_preds.shape[2]:
            class_preds[0, :, w_end:] = -0.01
        box_preds[0, ..., 0].clamp_(min=0, max=w - 1)
        box_preds[0, ..., 1].clamp_(min=0, max=h - 1)
        box_preds[0, ..., 2].clamp_(min=0, max=w - 1)
        box_preds[0, ..., 3].clamp_(min=0, max=h - 1)
        sizes = center_size(box_preds.view(-1, 4))
        class_preds.view(-1)[(sizes[:, 2] < 4) | (sizes[:, 3] < 4)] = -0.01
        keep = apply_nms(class_preds.view(-1), box_preds.view(-1, 4), self.pre_nms, self.post_nms, self.rpn_nms)
        return box_preds.view(-1, 4)[keep]

    def obj_feature_map(self, fmap, rois, head: nn.Module) -> torch.Tensor:
        return head(roi_align(fmap, rois, 7, self.spatial_scale).view(rois.shape[0], -1))

    def context(self, obj_fmaps, obj_logits, box_priors, im_inds, mode, obj_labels=None, order=None,
                t_end: float = RELEASED_T_END):
        """``O_NODE.forward`` up to ``obj_dists2`` (no sgdet NMS). Returns ``(obj_dists2, nfe)``."""
        obj_embed = F.softmax(obj_logits, dim=1) @ self.ctx_obj_embed.weight
        pos_embed = self.pos_embed(center_size(box_priors))
        obj_pre_rep = torch.cat((obj_fmaps, obj_embed, pos_embed), 1)
        D = self.decoder_lin1.out_features
        if mode == "predcls":
            return to_onehot(obj_labels, self.num_classes), 0
        block = OdeBlock(self.ctx_lstm, t_end)
        x = self.decoder_lin1(obj_pre_rep)
        if mode == "sgcls":
            x = block(x.view(-1, 1, D), 1)[1]
            return self.decoder_lin3(x.view(-1, D)), block.odeFunc.nfe
        perm, inv_perm, ls_transposed = sort_by_score(im_inds, order_scores(im_inds, order))
        x = PackedSequence(x[perm].contiguous(), torch.tensor(ls_transposed, dtype=torch.int64))
        x, lengths1 = pad_packed_sequence(x, batch_first=False)
        batch_size = x.shape[1]
        x = block(x.view(-1, batch_size, D), batch_size)[1]
        x = pack_padded_sequence(x, lengths1, batch_first=False).data
        return self.decoder_lin3(x.view(-1, D))[inv_perm], block.odeFunc.nfe

    def nms_boxes(self, obj_dists, rois, box_deltas, im_size):
        """``O_NODE.nms_boxes`` + ``filter_det`` for one image: ``(nms_inds, nms_scores, nms_labels,
        nms_boxes (K, C, 4))``, class slot 0 = the prior box."""
        boxes = bbox_preds(rois[:, None, 1:].expand_as(box_deltas).contiguous().view(-1, 4),
                           box_deltas.view(-1, 4)).view(*box_deltas.shape)
        h, w = im_size[0], im_size[1]
        boxes[:, :, 0].clamp_(min=0, max=w - 1)
        boxes[:, :, 1].clamp_(min=0, max=h - 1)
        boxes[:, :, 2].clamp_(min=0, max=w - 1)
        boxes[:, :, 3].clamp_(min=0, max=h - 1)
        scores = F.softmax(obj_dists, 1)
        valid_cls = (scores[:, 1:].max(0).values > self.thresh).nonzero().view(-1) + 1
        nms_mask = torch.zeros_like(scores)
        for c in valid_cls.tolist():
            keep = apply_nms(scores[:, c], boxes[:, c], 6000, 300, self.det_nms)
            nms_mask[keep, c] = 1
        dists_all = nms_mask * scores
        scores_pre, labels_pre = dists_all.max(1)
        inds_all = scores_pre.nonzero().view(-1)
        labels_all, scores_all = labels_pre[inds_all], scores_pre[inds_all]
        vs, idx = torch.sort(scores_all, dim=0, descending=True, stable=True)
        idx = idx[vs > self.thresh][: self.max_per_img]
        nms_inds = inds_all[idx]
        nms_boxes = torch.cat((rois[:, 1:][nms_inds][:, None], boxes[nms_inds][:, 1:]), 1)
        return nms_inds, scores_all[idx], labels_all[idx], nms_boxes

    def get_rel_inds(self, im_inds, box_priors, require_overlap: bool) -> torch.Tensor:
        rel_cands = im_inds[:, None] == im_inds[None]
        rel_cands.view(-1)[:: rel_cands.shape[0] + 1] = False  # diagonal_inds
        if require_overlap:
            rel_cands = rel_cands & (bbox_overlaps(box_priors, box_priors) > 0)
        rel_cands = rel_cands.nonzero()
        return torch.cat((im_inds[rel_cands[:, 0]][:, None], rel_cands), 1)

    def predicate_branch(self, fmap, rois, obj_preds, rel_inds, order=None, t_end: float = RELEASED_T_END):
        """``NODIS.forward`` from ``rel_inds`` to ``rel_dists`` (``(R, P)``, rel_inds order) and NFE."""
        obj_pooling = F.avg_pool2d(roi_align(fmap, rois, 7, self.spatial_scale), 7).view(rois.shape[0], -1)  # obj_avg_pool
        subj_rep, obj_rep = obj_pooling[rel_inds[:, 1]], obj_pooling[rel_inds[:, 2]]
        a, b = rel_inds[:, 1], rel_inds[:, 2]
        union_rois = torch.cat((rois[:, 0][a][:, None], torch.min(rois[:, 1:3][a], rois[:, 1:3][b]),
                                torch.max(rois[:, 3:5][a], rois[:, 3:5][b])), 1)
        union_pools = roi_align(fmap, union_rois, 7, self.spatial_scale)
        pair_rois = torch.cat((rois[:, 1:][a], rois[:, 1:][b]), 1).cpu().numpy()
        rects = torch.from_numpy(draw_union_boxes(pair_rois, 7 * 4 - 1) - np.float32(0.5))
        vr = F.avg_pool2d(union_pools + self.union_conv(rects), 7).view(rel_inds.shape[0], -1)
        x_visual = torch.cat((subj_rep, obj_rep, vr), 1)
        x_semantic = torch.cat((self.obj_embed(obj_preds[a]), self.obj_embed2(obj_preds[b])), 1)
        perm, inv_perm, ls_transposed = sort_by_score(rel_inds[:, 0], order_scores(rel_inds[:, 0], order))
        bs = torch.tensor(ls_transposed, dtype=torch.int64)
        inputs1, lengths1 = pad_packed_sequence(PackedSequence(x_visual[perm].contiguous(), bs), batch_first=False)
        inputs2, _ = pad_packed_sequence(PackedSequence(x_semantic[perm].contiguous(), bs), batch_first=False)
        batch_size = inputs1.shape[1]
        H1, H2 = self.lstm_visual.hidden_size, self.lstm_semantic.hidden_size
        output1, _ = self.lstm_visual(inputs1, (torch.zeros(1, batch_size, H1), torch.zeros(1, batch_size, H1)))
        output2, _ = self.lstm_semantic(inputs2, (torch.zeros(1, batch_size, H2), torch.zeros(1, batch_size, H2)))
        block = OdeBlock(self.rel_lstm, t_end)
        x_fusion = block(torch.cat((output1, output2), 2), batch_size)[1]
        x_fusion = pack_padded_sequence(x_fusion, lengths1, batch_first=False).data
        return self.fc_predicate(x_fusion)[inv_perm], block.odeFunc.nfe

    # ------------------------------------------------------------------------ the whole forward
    @torch.no_grad()
    def predict(self, image, mode: str = "sgdet", boxes=None, labels=None, order=None,
                t_end: float = RELEASED_T_END, fmap: torch.Tensor | None = None) -> ReleaseResult:
        """One image at batch size 1, as ``eval_rels.py`` runs it.

        ``image``: a PIL image (or path). ``boxes``: ``(N, 4)`` GT boxes in model-input pixels (the
        release feeds ``gt_boxes * IM_SCALE / BOX_SCALE``); ``labels``: ``(N,)`` GT classes (predcls).
        ``order``: see :func:`order_scores`. ``fmap``: skip the backbone (timing only)."""
        t0 = time.perf_counter()
        if not isinstance(image, Image.Image):
            image = Image.open(image)
        x, im_size = self.transform(image)
        if fmap is None:
            fmap = self.features(x[None])
        t_backbone = time.perf_counter()
        if mode == "sgdet":
            priors = self.roi_proposals(fmap, im_size)
        else:
            priors = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        n = priors.shape[0]
        im_inds = torch.zeros(n, dtype=torch.long)
        rois = torch.cat((im_inds[:, None].float(), priors), 1)
        obj_fmap_det = self.roi_fmap(roi_align(fmap, rois, 7, self.spatial_scale).view(n, -1))  # ObjectDetector.obj_feature_map
        od_obj_dists = self.score_fc(obj_fmap_det)
        od_box_deltas = self.bbox_fc(obj_fmap_det).view(n, self.num_classes, 4) if mode == "sgdet" else None
        obj_fmaps = self.obj_feature_map(fmap, rois, self.roi_fmap_obj)  # NODIS.obj_feature_map
        gt = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.long)
        obj_dists, nfe_obj = self.context(obj_fmaps, od_obj_dists, priors, im_inds, mode, gt, order, t_end)
        kept = torch.arange(n)
        out_boxes = priors
        if mode == "sgdet":
            nms_inds, _, _, nms_boxes = self.nms_boxes(obj_dists, rois, od_box_deltas, im_size)
            kept = nms_inds
            obj_dists, rois, im_inds = obj_dists[kept], rois[kept], im_inds[kept]
            box_priors = nms_boxes[:, 0]
            probs = F.softmax(obj_dists, 1)
            nms_mask = torch.zeros_like(obj_dists)
            for c in range(1, obj_dists.shape[1]):
                keep = apply_nms(probs[:, c], nms_boxes[:, c], probs.shape[0], probs.shape[0], 0.5)
                nms_mask[keep, c] = 1
            obj_preds = (nms_mask * probs)[:, 1:].max(1)[1] + 1  # CUDA max: first index on ties -> class 1
            out_boxes = nms_boxes[torch.arange(len(kept)), obj_preds] if len(kept) else nms_boxes[:, 0]
        else:
            box_priors = priors
            obj_preds = gt if mode == "predcls" else obj_dists[:, 1:].max(1)[1] + 1
        obj_scores = F.softmax(obj_dists, dim=1).gather(1, obj_preds[:, None])[:, 0] if len(kept) else \
            torch.zeros(0)
        t_objects = time.perf_counter()
        rel_inds = self.get_rel_inds(im_inds, box_priors, mode == "sgdet") if len(kept) else \
            torch.zeros((0, 3), dtype=torch.long)
        if rel_inds.shape[0]:
            rel_dists, nfe_rel = self.predicate_branch(fmap, rois, obj_preds, rel_inds, order, t_end)
        else:
            rel_dists, nfe_rel = torch.zeros((0, self.fc_predicate[2].out_features)), 0
        rel_rep = F.softmax(rel_dists, dim=1)
        if rel_inds.shape[0]:  # filter_dets: pred_scores_max * obj_scores0 * obj_scores1, sorted
            trip = rel_rep[:, 1:].max(1).values * obj_scores[rel_inds[:, 1]] * obj_scores[rel_inds[:, 2]]
        else:
            trip = torch.zeros(0)
        ranking = torch.sort(trip, dim=0, descending=True, stable=True).indices
        t_done = time.perf_counter()
        return ReleaseResult(mode, priors, kept, obj_dists, obj_preds, obj_scores, out_boxes, rel_inds[:, 1:], rel_dists,
                             ranking, trip, {"object": int(nfe_obj), "predicate": int(nfe_rel)},
                             {"total": t_done - t0, "backbone": t_backbone - t0, "objects": t_objects - t_backbone,
                              "relations": t_done - t_objects}, float(im_size[2]), tuple(im_size))


# =============================================================================================
# official-layout state dicts


def official_state_dict(model) -> dict[str, torch.Tensor]:
    """A nodis model's weights under the release's keys (``relation.X`` -> ``X``)."""
    return {(k[len("relation."):] if k.startswith("relation.") else k): v.detach().clone()
            for k, v in model.state_dict().items()}


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def release_of(model, t_end: float | None = None) -> ReleaseNODIS:
    """The :class:`ReleaseNODIS` holding ``model``'s weights (cached per model object)."""
    cfg = model.cfg
    rel = _CACHE.get(model)
    if rel is None:
        features = None if cfg.backbone == "vgg16" else model.detector.features
        rel = ReleaseNODIS(official_state_dict(model), im_scale=cfg.image_size, features=features,
                           predicate_relu=cfg.predicate_relu, pre_nms=cfg.rpn_pre_nms, post_nms=cfg.rpn_post_nms,
                           max_per_img=cfg.max_objects, thresh=cfg.det_thresh, rpn_nms=cfg.rpn_nms,
                           det_nms=cfg.det_nms, stride=cfg.feat_stride)
        rel.to(torch.device("cpu"))
        _CACHE[model] = rel
    return rel


def production_order(model, seed: int | None = None) -> Callable[[int], torch.Tensor]:
    """The permutation the production path uses (its seeded ``pair_order``), as an ``order``."""
    from nodis.model.nodis import pair_order

    return lambda n: pair_order(n, model.cfg, "cpu", seed)


def _order(model, order, seed):
    if order == "production":
        return production_order(model, seed)
    return order


def _check_released(cfg) -> None:
    if cfg.frontend != "lstm" or not cfg.predicate_ode or not cfg.object_ode:
        raise ValueError("the reference is the released architecture: frontend 'lstm' with both ODEs")
    if cfg.state_policy != "carry" or cfg.solver != "dopri5" or cfg.rtol != RELEASED_RTOL or cfg.atol != RELEASED_ATOL:
        raise ValueError("the reference solves as released (carry, dopri5, rtol=atol=0.01); "
                         f"the model has {cfg.state_policy}, {cfg.solver}, {cfg.rtol}, {cfg.atol}")


# =============================================================================================
# compatibility wrappers on a nodis model (benchmarks/bench_perf.py)


@torch.no_grad()
def predicate_branch(model, fmap: torch.Tensor, rois: torch.Tensor, obj_preds: torch.Tensor, rel_inds: torch.Tensor,
                     t_end: float = RELEASED_T_END, order="production", seed: int | None = None) -> RefRelations:
    """The release's predicate branch with ``model``'s weights; ``rel_inds (R, 3)`` (image, s, o)."""
    _check_released(model.cfg)
    rel = release_of(model)
    t0 = time.perf_counter()
    dists, nfe = rel.predicate_branch(fmap.float().cpu(), rois.float().cpu(), obj_preds.cpu(), rel_inds.cpu(),
                                      _order(model, order, seed), t_end)
    dt = time.perf_counter() - t0
    return RefRelations(rel_inds, dists, int(nfe), dt, dt)


@torch.no_grad()
def reference_objects(model, fmap: torch.Tensor, rois: torch.Tensor, mode: str = "sgcls",
                      obj_labels: torch.Tensor | None = None, t_end: float = RELEASED_T_END,
                      order="production", seed: int | None = None) -> RefObjects:
    """Box head, RoI features and the context (before any sgdet NMS) for given rois."""
    _check_released(model.cfg)
    rel = release_of(model)
    t0 = time.perf_counter()
    fmap, rois = fmap.float().cpu(), rois.float().cpu()
    n = rois.shape[0]
    logits = rel.score_fc(rel.roi_fmap(roi_align(fmap, rois, 7, rel.spatial_scale).view(n, -1)))
    obj_fmaps = rel.obj_feature_map(fmap, rois, rel.roi_fmap_obj)
    dists, nfe = rel.context(obj_fmaps, logits, rois[:, 1:], rois[:, 0].long(), mode, obj_labels,
                             _order(model, order, seed), t_end)
    dt = time.perf_counter() - t0
    return RefObjects(dists, int(nfe), dt, dt)


@torch.no_grad()
def reference_predict(model, image, mode: str = "sgdet", boxes=None, labels=None, t_end: float = RELEASED_T_END,
                      order="production", seed: int | None = None) -> ReleaseResult:
    """One image through the release's forward with ``model``'s weights. ``boxes`` in image pixels
    (clipped to the image and scaled as the production path does); ``labels`` class indices."""
    _check_released(model.cfg)
    rel = release_of(model)
    pil = image if isinstance(image, Image.Image) else Image.open(image)
    pil = pil.convert("RGB")
    W, H = pil.size
    b = None
    if boxes is not None:
        arr = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
        arr[:, 0::2] = arr[:, 0::2].clip(0, W)
        arr[:, 1::2] = arr[:, 1::2].clip(0, H)
        b = torch.as_tensor(arr, dtype=torch.float32) * (model.cfg.image_size / max(W, H))
    return rel.predict(pil, mode, boxes=b, labels=labels, order=_order(model, order, seed), t_end=t_end)


# =============================================================================================
# test checkpoints: official layout, realistic weight scales


def make_official_state_dict(num_classes: int = 151, num_predicates: int = 51, im_scale: int = IM_SCALE,
                             roi_dim: int = 4096, embed_dim: int = 200, pos_dim: int = 128, hidden: int = 512,
                             seed: int = 0) -> dict[str, torch.Tensor]:
    """A NODIS checkpoint's ``state_dict`` in the release's key layout (facts sheet §7) with random
    weights at realistic scales: He-initialised convolutions and ReLU layers (activations stay O(1)
    through VGG16), RPN and box deltas O(0.1), peaked class logits, BatchNorm statistics that match
    their inputs (``pos_embed`` sees raw pixel ``cx, cy, w, h``), LSTMs at 1.5x PyTorch's default
    range. ``hidden``: LSTM width per direction (ODE state ``2 * hidden``)."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    C, A = 512, len(ANCHOR_RATIOS) * len(ANCHOR_SCALES)
    D = 2 * hidden

    def normal(*shape, std):
        return torch.randn(*shape, generator=g) * std

    def uniform(*shape, k):
        return (torch.rand(*shape, generator=g) * 2 - 1) * k

    def linear(key, i, o, std, bias=0.01):
        sd[key + ".weight"] = normal(o, i, std=std)
        sd[key + ".bias"] = normal(o, std=bias)

    def lstm(key, i, h, bidirectional):
        k = 1.5 / h ** 0.5
        for sfx in ("", "_reverse") if bidirectional else ("",):
            sd[f"{key}.weight_ih_l0{sfx}"] = uniform(4 * h, i, k=k)
            sd[f"{key}.weight_hh_l0{sfx}"] = uniform(4 * h, h, k=k)
            sd[f"{key}.bias_ih_l0{sfx}"] = uniform(4 * h, k=k)
            sd[f"{key}.bias_hh_l0{sfx}"] = uniform(4 * h, k=k)

    def bn(key, n, mean, var):
        sd[key + ".weight"] = 1 + normal(n, std=0.05)
        sd[key + ".bias"] = normal(n, std=0.05)
        sd[key + ".running_mean"] = torch.as_tensor(mean, dtype=torch.float32).expand(n).clone()
        sd[key + ".running_var"] = torch.as_tensor(var, dtype=torch.float32).expand(n).clone()
        sd[key + ".num_batches_tracked"] = torch.tensor(1000)

    prev = 3
    for i, out in zip((0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
                      (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)):
        sd[f"detector.features.{i}.weight"] = normal(out, prev, 3, 3, std=(2.0 / (prev * 9)) ** 0.5)
        sd[f"detector.features.{i}.bias"] = normal(out, std=0.01)
        prev = out
    linear("detector.roi_fmap.0", C * 49, roi_dim, (2.0 / (C * 49)) ** 0.5)
    linear("detector.roi_fmap.3", roi_dim, roi_dim, (2.0 / roi_dim) ** 0.5)
    linear("detector.score_fc", roi_dim, num_classes, 2.0 / roi_dim ** 0.5)
    linear("detector.bbox_fc", roi_dim, num_classes * 4, 0.1 / roi_dim ** 0.5)
    sd["detector.rpn_head.anchors"] = torch.from_numpy(generate_anchors(im_scale)).float()
    sd["detector.rpn_head.conv.0.weight"] = normal(C, C, 3, 3, std=(2.0 / (C * 9)) ** 0.5)
    sd["detector.rpn_head.conv.0.bias"] = normal(C, std=0.01)
    w2 = normal(6 * A, C, 1, 1, std=(1.0 / C) ** 0.5).view(A, 6, C, 1, 1)
    w2[:, 2:] *= 0.1  # box deltas O(0.1), fg/bg logits O(1)
    sd["detector.rpn_head.conv.2.weight"] = w2.reshape(6 * A, C, 1, 1)
    sd["detector.rpn_head.conv.2.bias"] = normal(6 * A, std=0.01)
    sd["context.obj_embed.weight"] = normal(num_classes, embed_dim, std=0.4)
    s = float(im_scale)
    bn("context.pos_embed.0", 4, [s / 2, s / 2, s / 4, s / 4], [(s / 4) ** 2] * 4)
    linear("context.pos_embed.1", 4, pos_dim, (2.0 / 4) ** 0.5)
    linear("context.decoder_lin1", roi_dim + embed_dim + pos_dim, D, (1.0 / (roi_dim + embed_dim + pos_dim)) ** 0.5)
    lstm("context.decoder_lin2.odeFunc.lstm", D, hidden, True)
    linear("context.decoder_lin3", D, num_classes, 3.0 / D ** 0.5)
    sd["union_boxes.conv.0.weight"] = normal(C // 2, 2, 7, 7, std=(2.0 / 98) ** 0.5)
    sd["union_boxes.conv.0.bias"] = normal(C // 2, std=0.01)
    bn("union_boxes.conv.2", C // 2, 0.4, 0.3)
    sd["union_boxes.conv.4.weight"] = normal(C, C // 2, 3, 3, std=(2.0 / (C // 2 * 9)) ** 0.5)
    sd["union_boxes.conv.4.bias"] = normal(C, std=0.01)
    bn("union_boxes.conv.6", C, 0.5, 0.5)
    for k in ("0", "3"):  # a trained copy of the detector's box head
        for p in ("weight", "bias"):
            v = sd[f"detector.roi_fmap.{k}.{p}"]
            sd[f"roi_fmap_obj.{k}.{p}"] = v + normal(*v.shape, std=float(v.std()) * 0.2)
    sd["obj_embed.weight"] = normal(num_classes, embed_dim, std=0.4)
    sd["obj_embed2.weight"] = normal(num_classes, embed_dim, std=0.4)
    lstm("lstm_visual", 3 * C, hidden, False)
    lstm("lstm_semantic", 2 * embed_dim, hidden, False)
    lstm("odeBlock.odeFunc.lstm", D, hidden, True)
    linear("fc_predicate.0", D, hidden, (2.0 / D) ** 0.5)
    linear("fc_predicate.2", hidden, num_predicates, 2.0 / hidden ** 0.5, bias=0.5)
    return sd
