"""Predicate classification with the predicate ODE (P-ODE), paper Sec. 3.3 / facts sheet §3.3.

For each ordered pair ``(s, o)`` of one image: visual features ``[v_s ; v_o ; v_u]`` (RoI means of
subject, object and union box; the union box's spatial-mask conv stack is *added* to its RoI
features) and semantic features ``[E1(c_s) ; E2(c_o)]`` pass a front-end (``lstm`` as released,
``fc`` or ``gcnn``) to a ``2H``-wide state, which the P-ODE evolves; ``fc_predicate`` decodes it into
predicate scores (index 0 = no relation).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .box_ops import union_boxes
from .ode import build_ode_block
from .pooling import crop_and_resize


def draw_union_boxes(pair_boxes: torch.Tensor, size: int = 27) -> torch.Tensor:
    """neural-motifs ``draw_union_boxes``: ``(R, 8)`` subject+object boxes -> ``(R, 2, size, size)``.

    Channel 0 is the subject, 1 the object; each cell holds the fraction of the cell covered by that
    box, drawn in the frame of the pair's union box. (The caller subtracts 0.5, as released.)
    """
    R = pair_boxes.shape[0]
    b = pair_boxes.float()
    ux1 = torch.minimum(b[:, 0], b[:, 4])
    uy1 = torch.minimum(b[:, 1], b[:, 5])
    ux2 = torch.maximum(b[:, 2], b[:, 6])
    uy2 = torch.maximum(b[:, 3], b[:, 7])
    w = (ux2 - ux1).clamp_min(1e-6)
    h = (uy2 - uy1).clamp_min(1e-6)
    grid = torch.arange(size, dtype=torch.float32, device=b.device)
    out = []
    for i in range(2):
        x1 = (b[:, 0 + 4 * i] - ux1) * size / w
        y1 = (b[:, 1 + 4 * i] - uy1) * size / h
        x2 = (b[:, 2 + 4 * i] - ux1) * size / w
        y2 = (b[:, 3 + 4 * i] - uy1) * size / h
        yc = (grid[None] + 1 - y1[:, None]).clamp(0, 1) * (y2[:, None] - grid[None]).clamp(0, 1)  # (R,S)
        xc = (grid[None] + 1 - x1[:, None]).clamp(0, 1) * (x2[:, None] - grid[None]).clamp(0, 1)
        out.append(yc[:, :, None] * xc[:, None, :])
    return torch.stack(out, 1) if R else b.new_zeros((0, 2, size, size))


class UnionBoxFeatures(nn.Module):
    """Union-box RoI features plus the spatial-mask conv stack (``union_boxes.conv.*``).

    ReLU comes before BatchNorm, as released. ``(R, C, 7, 7)`` output."""

    def __init__(self, cfg) -> None:
        super().__init__()
        C = cfg.feat_channels
        self.cfg = cfg
        self.conv = nn.Sequential(
            nn.Conv2d(2, C // 2, kernel_size=7, stride=2, padding=3, bias=True),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(C // 2, momentum=0.01),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            nn.Conv2d(C // 2, C, kernel_size=3, stride=1, padding=1, bias=True),
            nn.ReLU(inplace=True),
            nn.BatchNorm2d(C, momentum=0.01),
        )

    def forward(self, fmap: torch.Tensor, rois: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        """rois ``(N,5)`` (img, box), pairs ``(R,2)`` indices into rois -> ``(R, C, 7, 7)``."""
        s, o = rois[pairs[:, 0]], rois[pairs[:, 1]]
        u = torch.cat((s[:, :1], union_boxes(s[:, 1:], o[:, 1:])), 1)
        feats = crop_and_resize(fmap, u, self.cfg.pool_size, 1.0 / self.cfg.feat_stride)
        rects = draw_union_boxes(torch.cat((s[:, 1:], o[:, 1:]), 1), self.cfg.union_mask_size) - 0.5
        return feats + self.conv(rects.to(feats.dtype))


def gcnn_adjacency(n: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """The paper's GCNN adjacency for ``n`` pairs: 0.8 on the diagonal, 0.2 spread over the rest of each row."""
    if n == 1:
        return torch.ones((1, 1), device=device, dtype=dtype)
    a = torch.full((n, n), 0.2 / (n - 1), device=device, dtype=dtype)
    a.fill_diagonal_(0.8)
    return a


class PredicateClassifier(nn.Module):
    """Pair features -> front-end -> P-ODE -> ``fc_predicate``. Names follow the official keys."""

    def __init__(self, cfg) -> None:
        super().__init__()
        self.cfg = cfg
        C, E, H = cfg.feat_channels, cfg.embed_dim, cfg.hidden_dim
        self.union_boxes = UnionBoxFeatures(cfg)
        self.obj_embed = nn.Embedding(cfg.num_classes, E)
        self.obj_embed2 = nn.Embedding(cfg.num_classes, E)
        if cfg.frontend == "lstm":
            self.lstm_visual = nn.LSTM(3 * C, H)
            self.lstm_semantic = nn.LSTM(2 * E, H)
        else:
            self.fc_visual = nn.Linear(3 * C, H)
            self.fc_semantic = nn.Linear(2 * E, H)
        self.odeBlock = build_ode_block(cfg.state_dim, H, cfg)
        head: list[nn.Module] = [nn.Linear(cfg.state_dim, H), nn.ReLU(inplace=True), nn.Linear(H, cfg.num_predicates)]
        if cfg.predicate_relu:
            head.append(nn.ReLU())
        self.fc_predicate = nn.Sequential(*head)

    def visual_features(self, fmap: torch.Tensor, rois: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        """``[v_s ; v_o ; v_u]`` of pairs ``(R,2)``: ``(R, 3C)``. Depends on boxes only, not on labels."""
        obj_pool = crop_and_resize(fmap, rois, self.cfg.pool_size, 1.0 / self.cfg.feat_stride).mean((2, 3))
        union = self.union_boxes(fmap, rois, pairs).mean((2, 3))
        return torch.cat((obj_pool[pairs[:, 0]], obj_pool[pairs[:, 1]], union), 1)

    def semantic_features(self, labels: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        """``[E1(c_s) ; E2(c_o)]`` of pairs ``(R,2)``: ``(R, 2E)``."""
        return torch.cat((self.obj_embed(labels[pairs[:, 0]]), self.obj_embed2(labels[pairs[:, 1]])), 1)

    def pair_features(self, fmap: torch.Tensor, rois: torch.Tensor, labels: torch.Tensor,
                      pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Visual ``(R, 3C)`` and semantic ``(R, 2E)`` features of pairs ``(R,2)``."""
        return self.visual_features(fmap, rois, pairs), self.semantic_features(labels, pairs)

    def frontend(self, visual: torch.Tensor, semantic: torch.Tensor, lengths: list[int]) -> torch.Tensor:
        """Per-image sequences (already ordered) -> padded time-major ``(T, B, 2H)``."""
        return torch.cat((self.frontend_part(visual, lengths, "visual"),
                          self.frontend_part(semantic, lengths, "semantic")), 2)

    def frontend_part(self, x: torch.Tensor, lengths: list[int], which: str) -> torch.Tensor:
        """One half of :meth:`frontend` (``which`` = ``visual`` or ``semantic``): ``(T, B, H)``.
        The halves are independent, so the visual half can be cached while labels change."""
        xp = pad(x, lengths)
        if self.cfg.frontend == "lstm":
            lstm = self.lstm_visual if which == "visual" else self.lstm_semantic
            return lstm(xp)[0]
        fc = self.fc_visual if which == "visual" else self.fc_semantic
        y = torch.relu(fc(xp))
        if self.cfg.frontend == "gcnn":  # one graph convolution per image over its pairs
            T = y.shape[0]
            adj = torch.stack([F.pad(gcnn_adjacency(max(n, 1), y.device, y.dtype), (0, T - max(n, 1), 0, T - max(n, 1)))
                               for n in lengths])  # (B,T,T), zero outside each image's pairs
            y = torch.einsum("bij,jbd->ibd", adj, y)
        return y

    def solve(self, seq: torch.Tensor, times: torch.Tensor) -> tuple[torch.Tensor, int]:
        """``(T, B, D)`` -> ``(G, T, B, D)`` states and NFE (constant in time when the P-ODE is off)."""
        if not self.cfg.predicate_ode:
            return seq.unsqueeze(0).expand(times.numel(), *seq.shape), 0
        return self.odeBlock(seq, times)

    def decode(self, states: torch.Tensor) -> torch.Tensor:
        """``(..., D)`` -> ``(..., num_predicates)`` scores (non-negative with ``predicate_relu``)."""
        return self.fc_predicate(states)


def pad(x: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """Rows of consecutive sequences ``(sum L, D)`` -> zero-padded time-major ``(max L, B, D)``."""
    T = max(lengths) if lengths else 0
    out = x.new_zeros((T, len(lengths), x.shape[1]))
    start = 0
    for b, n in enumerate(lengths):
        out[:n, b] = x[start : start + n]
        start += n
    return out


def unpad(x: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """Inverse of :func:`pad` over the last dims: ``(..., T, B, D)`` -> ``(..., sum L, D)``."""
    parts = [x[..., :n, b, :] for b, n in enumerate(lengths)]
    return torch.cat(parts, -2) if parts else x[..., :0, 0, :]


