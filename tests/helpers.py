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
