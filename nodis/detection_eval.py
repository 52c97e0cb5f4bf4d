"""The detector measured on its own: COCO-style mAP (pycocotools) and recall of ground-truth boxes.

Two sets of boxes are measured on a VG-layout split:

* **detector detections** — the Faster R-CNN alone, post-processed the standard way: softmax over
  the box head's classes, class-specific box regression, per-class NMS (``cfg.det_nms``), the best
  ``max_det`` per image. Scored with pycocotools' ``COCOeval`` (``bbox``): mAP@[.5:.95], mAP@0.5
  and per-class AP@0.5.
* **kept objects** — what SGDet hands to the scene graph (``Trajectory.graph_at(t_end)``: the
  release's ``filter_det`` + label NMS on the O-ODE's classes, at most ``cfg.max_objects``). For
  these we report the recall of ground-truth boxes: the share of GT boxes that some kept object
  covers with IoU >= 0.5 (class-agnostic), and with the right label.

Boxes are in original-image pixels; COCO widths are ``x2 - x1`` (continuous coordinates).
"""
from __future__ import annotations

import contextlib
import io
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)


@torch.inference_mode()
def detector_detections(model, image, max_det: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The detector's own detections on one image: ``boxes (K,4)`` x1y1x2y2 in original pixels,
    ``scores (K,)`` and ``labels (K,)`` (1..C-1), best first."""
    from torchvision.ops import batched_nms

    from .data.transforms import load_image, prepare_image
    from .model.box_ops import bbox_preds, clip_boxes

    cfg = model.cfg
    det = model.detector
    pil = load_image(image)
    x, scale, im_size = prepare_image(pil, cfg.image_size, cfg.pixel_mean, cfg.pixel_std)
    was_training = model.training
    model.eval()
    try:
        fmap = det.features(x[None].to(model.device))
        props = det.proposals(det.rpn_head(fmap), [im_size])[0]
        boxes = props.boxes.float()
        n, C = boxes.shape[0], cfg.num_classes
        if n == 0:
            return np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64)
        rois = torch.cat((boxes.new_zeros((n, 1)), boxes), 1)
        logits, deltas = det.classify(fmap, rois)
        probs = torch.softmax(logits.float(), -1)
        reg = bbox_preds(boxes[:, None].expand(n, C, 4).reshape(-1, 4), deltas.float().reshape(-1, 4))
        cboxes = clip_boxes(reg.view(n, C, 4), im_size[0], im_size[1])
        cls = torch.arange(1, C, device=boxes.device)[None].expand(n, C - 1).reshape(-1)
        sc = probs[:, 1:].reshape(-1)
        bx = cboxes[:, 1:].reshape(-1, 4)
        keep = sc > 1e-3
        bx, sc, cls = bx[keep], sc[keep], cls[keep]
        keep = batched_nms(bx, sc, cls, cfg.det_nms)[:max_det]
        return ((bx[keep] / scale).cpu().numpy().astype(np.float64), sc[keep].cpu().numpy().astype(np.float64),
                cls[keep].cpu().numpy().astype(np.int64))
    finally:
        model.train(was_training)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from torchvision.ops import box_iou

    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    return box_iou(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)).numpy()


def coco_map(gts: list[tuple[np.ndarray, np.ndarray]], dets: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
             class_names: list[str]) -> dict[str, Any]:
    """pycocotools ``COCOeval`` (bbox) over images given as GT ``(boxes, labels)`` and detections
    ``(boxes, scores, labels)``, boxes x1y1x2y2. Returns mAP@[.5:.95], mAP@0.5 and AP@0.5 per class
    (classes without GT boxes are left out, as COCOeval does)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, anns, res = [], [], []
    for i, ((gb, gl), (db, ds, dl)) in enumerate(zip(gts, dets), start=1):
        images.append({"id": i, "width": 1, "height": 1})
        for b, c in zip(gb, gl):
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c), "bbox": [float(b[0]), float(b[1]), w, h],
                         "area": w * h, "iscrowd": 0})
        for b, s, c in zip(db, ds, dl):
            res.append([i, float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1]), float(s), int(c)])
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns,
                  "categories": [{"id": k, "name": n} for k, n in enumerate(class_names) if k > 0]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes(np.array(res, dtype=np.float64)) if res else COCO()
        ev = COCOeval(gt, dt, "bbox")
        ev.params.maxDets = [1, 10, 100]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    prec = ev.eval["precision"]  # (T iou, R recall, K classes, A areas, M maxDets)
    per_class = {}
    for k, cat in enumerate(ev.params.catIds):
        p = prec[0, :, k, 0, -1]
        p = p[p > -1]
        if p.size:
            per_class[class_names[cat]] = float(p.mean())
    return {"mAP": float(ev.stats[0]), "mAP50": float(ev.stats[1]), "mAP75": float(ev.stats[2]),
            "mAP_small": float(ev.stats[3]), "AP50_per_class": per_class}


def evaluate_detector(model, root: str | Path, split: str = "test", limit: int | None = None,
                      num_val_im: int = 0, progress: bool = False, kept: bool = True) -> dict[str, Any]:
    """mAP of the detector's own detections and (``kept``) recall of GT boxes among SGDet's kept objects."""
    from tqdm import tqdm

    from .data.vg import VGDataset

    ds = VGDataset(root, split, num_val_im=num_val_im, filter_duplicate_rels=False)
    n = len(ds) if not limit else min(limit, len(ds))
    gts, dets = [], []
    n_gt = covered = covered_lab = n_kept = 0
    t0 = time.time()
    for i in tqdm(range(n), disable=not progress, desc="detector", dynamic_ncols=True):
        s = ds[i]
        gts.append((s.boxes.astype(np.float64), s.labels))
        dets.append(detector_detections(model, s.image_path))
        if not kept:
            continue
        g = model.predict(s.image_path, mode="sgdet", times=[0.0, model.cfg.t_end]).graph_at(model.cfg.t_end)
        kb = np.array([o.box for o in g.objects], dtype=np.float64).reshape(-1, 4)
        kl = np.array([o.label for o in g.objects], dtype=np.int64)
        iou = _iou(s.boxes.astype(np.float64), kb)
        n_gt += len(s.boxes)
        n_kept += len(kb)
        if iou.size:
            hit = iou >= 0.5
            covered += int(hit.any(1).sum())
            covered_lab += int((hit & (kl[None, :] == s.labels[:, None])).any(1).sum())
    out = coco_map(gts, dets, list(model.vocab.classes))
    out.update({"images": n, "gt_boxes": sum(len(b) for b, _ in gts), "seconds": time.time() - t0, "split": split})
    if kept:
        out.update({"kept_per_image": n_kept / max(n, 1), "recall_kept@0.5": covered / max(n_gt, 1),
                    "recall_kept_labelled@0.5": covered_lab / max(n_gt, 1)})
    return out
