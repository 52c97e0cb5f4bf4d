"""Shared test helpers (small models, images, boxes)."""
import numpy as np
import torch
from PIL import Image

from nodis.config import preset
from nodis.model import NODIS
from nodis.vocab import vg150


def make_model(**overrides) -> NODIS:
    torch.manual_seed(0)
    cfg = preset("demo", num_classes=151, num_predicates=51, **overrides)
    return NODIS(cfg, vg150()).eval()


def make_image(w: int = 320, h: int = 240, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    arr[40:120, 50:150] = (200, 30, 30)
    arr[100:200, 120:260] = (30, 30, 200)
    return Image.fromarray(arr)


BOXES = [[50, 40, 150, 120], [120, 100, 260, 200], [10, 10, 300, 230], [200, 20, 300, 90]]
LABELS = [78, 64, 22, 136]


def given(mode: str, boxes=BOXES, labels=LABELS) -> dict:
    """The inputs ``model.predict`` takes in ``mode``: none for sgdet, boxes for sgcls, boxes and labels for predcls."""
    return {} if mode == "sgdet" else {"boxes": boxes} if mode == "sgcls" else {"boxes": boxes, "labels": labels}


def make_toy_dataset(root, n_train: int = 16, n_test: int = 6, seed: int = 0):
    """A tiny VG-layout dataset of coloured shapes (independent of the procedural world)."""
    from pathlib import Path

    from PIL import ImageDraw

    from nodis.data.vg import ImageRecord, write_vg
    from nodis.vocab import Vocabulary

    vocab = Vocabulary("toy", ("__background__", "ball", "box", "cone"), ("__background__", "above", "left of", "near"))
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / "VG_100K").mkdir(parents=True, exist_ok=True)
    recs, splits = [], []
    colors = {1: (220, 40, 40), 2: (40, 40, 220), 3: (40, 180, 40)}
    for i in range(n_train + n_test):
        w, h = int(rng.integers(120, 200)), int(rng.integers(100, 160))
        img = Image.new("RGB", (w, h), (200, 200, 190))
        d = ImageDraw.Draw(img)
        n = int(rng.integers(2, 5))
        boxes, labels = [], []
        for _ in range(n):
            bw, bh = rng.integers(20, 50, 2)
            x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            c = int(rng.integers(1, 4))
            d.rectangle([x1, y1, x1 + bw, y1 + bh], fill=colors[c])
            boxes.append([x1, y1, x1 + bw, y1 + bh])
            labels.append(c)
        rels = []
        for s in range(n):
            for o in range(n):
                if s != o and rng.random() < 0.5:
                    p = 1 if boxes[s][3] < boxes[o][1] else 2 if boxes[s][2] < boxes[o][0] else 3
                    rels.append([s, o, p])
        if not rels:
            rels = [[0, 1, 3]]
        img.save(root / "VG_100K" / f"{i + 1}.jpg", quality=90)
        recs.append(ImageRecord(i + 1, w, h, np.array(boxes, float), np.array(labels), np.array(rels)))
        splits.append(0 if i < n_train else 2)
    write_vg(root, recs, vocab, splits)
    return root
