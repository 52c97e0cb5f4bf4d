"""Fit the demo preset's RPN anchors to the world's box statistics.

Anchors are the neural-motifs grid (``ratio x scale`` around a base of ``anchor_size`` pixels), so we
fit the two axes separately on the training boxes scaled to the model input: the ratios (h / w) at
the 12.5/37.5/62.5/87.5 % quantiles of log(h / w), and the scales log-evenly spaced from the 2nd to
the 98th percentile of the box side sqrt(w * h) (so neighbouring anchors differ by about 2x). Prints the values the ``demo`` preset uses.

    python scripts/fit_anchors.py data/world --image-size 320 --anchor-size 16
"""
from __future__ import annotations

import argparse

import h5py
import numpy as np


def fit(root: str, image_size: int, anchor_size: int, n_ratios: int = 4, n_scales: int = 5) -> tuple[list, list]:
    with h5py.File(f"{root}/VG-SGG.h5", "r") as f:
        split = f["split"][:]
        first, last = f["img_to_first_box"][:], f["img_to_last_box"][:]
        rows = np.concatenate([np.arange(a, b + 1) for a, b, s in zip(first, last, split) if s == 0 and a >= 0])
        b = f["boxes_1024"][:][rows].astype(np.float64)  # (xc, yc, w, h) at long side 1024
    w, h = b[:, 2] * image_size / 1024, b[:, 3] * image_size / 1024
    lr = np.log(h / w)
    ratios = np.exp(np.quantile(lr, (np.arange(n_ratios) + 0.5) / n_ratios))
    side = np.log(np.sqrt(w * h))
    lo, hi = np.quantile(side, (0.02, 0.98))
    scales = np.exp(np.linspace(lo, hi, n_scales)) / anchor_size
    return [round(float(r), 3) for r in ratios], [round(float(s), 3) for s in scales]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--image-size", type=int, default=320)
    ap.add_argument("--anchor-size", type=int, default=16)
    a = ap.parse_args()
    ratios, scales = fit(a.root, a.image_size, a.anchor_size)
    print(f"anchor_ratios={tuple(ratios)}\nanchor_scales={tuple(scales)}")


if __name__ == "__main__":
    main()
