"""The Faster R-CNN detector, laid out like neural-motifs' VG detector so official weights load.

Submodule names are those of ``vg-24.tar``: ``features`` (VGG16 conv layers without the last
max-pool, stride 16), ``roi_fmap`` (fc6/fc7), ``score_fc``, ``bbox_fc`` (per-class deltas) and
``rpn_head`` (``conv`` + ``anchors`` buffer). The ``small`` backbone is a from-scratch CPU network
with the same interface.

Shapes: images ``(B, 3, S, S)`` with ``S = cfg.image_size``; feature map ``(B, C, S/16, S/16)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torchvision
from torch import nn
from torchvision.ops import nms

from .box_ops import bbox_preds, center_size, clip_boxes, generate_anchors, nms_plus_one
from .pooling import crop_and_resize


def vgg16_features() -> nn.Sequential:
    """``torchvision.vgg16().features`` with module ``'30'`` (last max-pool) removed."""
    feats = torchvision.models.vgg16(weights=None).features
    return nn.Sequential(*list(feats.children())[:30])


def small_features(channels: int, stride: int = 16) -> nn.Sequential:
    """A small CNN for the CPU demo model (seven conv-BN-ReLU blocks) with output stride 16 or 8.

    The stride-8 variant keeps the same layers (so the parameter shapes are identical) but does not
    downsample in the sixth block and dilates the last two blocks by 2, so small objects (cups,
    hats, balls, birds) span four times as many feature cells without losing receptive field.
    """
    if stride not in (8, 16):
        raise ValueError(f"small backbone supports output stride 8 or 16, not {stride}")
    c1, c2, c3 = max(channels // 4, 16), max(channels // 2, 32), max(3 * channels // 4, 48)
    last = 2 if stride == 16 else 1
    dil = 1 if stride == 16 else 2
    layers: list[nn.Module] = []
    prev = 3
    for out, s, d in ((c1, 2, 1), (c2, 2, 1), (c2, 1, 1), (c3, 2, 1), (c3, 1, 1), (channels, last, dil),
                      (channels, 1, dil)):
        layers += [nn.Conv2d(prev, out, 3, stride=s, padding=d, dilation=d, bias=False), nn.BatchNorm2d(out),
                   nn.ReLU(inplace=True)]
        prev = out
    return nn.Sequential(*layers)


def box_head(in_dim: int, dim: int) -> nn.Sequential:
    """fc6/fc7 as in VGG's classifier without its last layer: Linear, ReLU, Dropout, Linear, ReLU, Dropout."""
    return nn.Sequential(nn.Linear(in_dim, dim), nn.ReLU(inplace=True), nn.Dropout(0.5),
                         nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Dropout(0.5))


class RPNHead(nn.Module):
    """Conv(3x3) -> ReLU6 -> Conv(1x1, 6A): per anchor 2 bg/fg logits and 4 box deltas."""

    def __init__(self, cfg) -> None:
        super().__init__()
        A = cfg.num_anchors
        C = cfg.feat_channels
        self.conv = nn.Sequential(nn.Conv2d(C, C, 3, padding=1), nn.ReLU6(inplace=True), nn.Conv2d(C, 6 * A, 1))
        self.register_buffer("anchors", generate_anchors(cfg.feat_size, cfg.feat_stride, cfg.anchor_size,
                                                         cfg.anchor_ratios, cfg.anchor_scales))
        self.num_anchors = A

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        """``(B, C, F, F)`` -> ``(B, F, F, A, 6)``."""
        B, _, H, W = fmap.shape
        return self.conv(fmap).permute(0, 2, 3, 1).reshape(B, H, W, self.num_anchors, 6)


@dataclass
class Proposals:
    """RPN output for one image: boxes ``(K,4)`` in model-input pixels and fg scores ``(K,)``."""

    boxes: torch.Tensor
    scores: torch.Tensor


class Detector(nn.Module):
    """Backbone + RPN + RoI box head (frozen during relation training, as in the paper)."""

    def __init__(self, cfg) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.backbone == "vgg16":
            self.features = vgg16_features()
        else:
            self.features = small_features(cfg.feat_channels, cfg.feat_stride)
        pooled = cfg.feat_channels * cfg.pool_size * cfg.pool_size
        self.roi_fmap = box_head(pooled, cfg.roi_dim)
        self.score_fc = nn.Linear(cfg.roi_dim, cfg.num_classes)
        self.bbox_fc = nn.Linear(cfg.roi_dim, cfg.num_classes * 4)
        self.rpn_head = RPNHead(cfg)

    def pool(self, fmap: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """Crop-and-resize ``(K,5)`` rois -> ``(K, C, 7, 7)``."""
        return crop_and_resize(fmap, rois, self.cfg.pool_size, 1.0 / self.cfg.feat_stride)

    def classify(self, fmap: torch.Tensor, rois: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Box head on rois: ``(K, num_classes)`` logits and ``(K, num_classes, 4)`` deltas."""
        feats = self.roi_fmap(self.pool(fmap, rois).flatten(1))
        return self.score_fc(feats), self.bbox_fc(feats).view(-1, self.cfg.num_classes, 4)

    def proposals(self, rpn_out: torch.Tensor, im_sizes: list[tuple[int, int]],
                  pre_nms: int | None = None, post_nms: int | None = None) -> list[Proposals]:
        """Turn RPN outputs ``(B,F,F,A,6)`` into proposals per image (facts sheet §2 ``roi_proposals``).

        ``im_sizes``: per image the ``(h, w)`` of the content region in model-input pixels. With
        ``cfg.box_rules == "release"`` (default) small boxes are those whose ``center_size`` width or
        height (``x2 - x1 + 1``) is below 4, and the NMS is the release's +1-pixel kernel.
        """
        cfg = self.cfg
        pre_nms = pre_nms or cfg.rpn_pre_nms
        post_nms = post_nms or cfg.rpn_post_nms
        B, H, W, A, _ = rpn_out.shape
        anchors = self.rpn_head.anchors[:H, :W]
        out = []
        for b in range(B):
            h, w = im_sizes[b]
            scores = torch.softmax(rpn_out[b, ..., :2], -1)[..., 1].clone()  # (H,W,A)
            rows = torch.arange(H, device=scores.device)[:, None]
            cols = torch.arange(W, device=scores.device)[None, :]
            outside = (rows >= h // cfg.feat_stride) | (cols >= w // cfg.feat_stride)
            scores[outside] = -0.01
            boxes = bbox_preds(anchors.reshape(-1, 4), rpn_out[b, ..., 2:].reshape(-1, 4))
            boxes = clip_boxes(boxes, h, w)
            scores = scores.reshape(-1)
            if cfg.box_rules == "release":  # center_size widths: x2 - x1 + 1 < 4 (roi_proposals)
                wh = center_size(boxes)[:, 2:]
                small = (wh[:, 0] < 4) | (wh[:, 1] < 4)
            else:
                small = ((boxes[:, 2] - boxes[:, 0]) < 4) | ((boxes[:, 3] - boxes[:, 1]) < 4)
            scores = torch.where(small, torch.full_like(scores, -0.01), scores)
            if cfg.box_rules == "release":  # sort, top pre_nms, +1-pixel NMS, first post_nms
                keep = nms_plus_one(boxes, scores, cfg.rpn_nms, pre_nms, post_nms)
                out.append(Proposals(boxes[keep], scores[keep]))
                continue
            k = min(pre_nms, scores.numel())
            top = scores.topk(k).indices
            boxes, scores = boxes[top], scores[top]
            keep = nms(boxes, scores, cfg.rpn_nms)[:post_nms]
            out.append(Proposals(boxes[keep], scores[keep]))
        return out
