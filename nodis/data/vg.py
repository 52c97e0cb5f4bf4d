"""Visual Genome scene-graph data in the official VG-SGG layout (IMP / neural-motifs / SGB).

A dataset folder holds::

    VG-SGG.h5            labels, boxes_1024, boxes_512, img_to_{first,last}_{box,rel},
                         relationships (global object indices), predicates, split
    VG-SGG-dicts.json    label_to_idx, idx_to_label, predicate_to_idx, idx_to_predicate,
                         object_count, predicate_count
    image_data.json      per image: image_id, url, width, height, coco_id, flickr_id
    VG_100K/{image_id}.jpg

:func:`write_vg` writes that layout (used by the procedural world and by tests; this module does
not import the world, whose vocabulary lives in :mod:`nodis.vocab`);
:class:`VGDataset` reads it following neural-motifs' ``load_graphs`` (see the facts sheet §8).
Boxes handed to and returned from this module are ``x1y1x2y2`` floats in original image pixels;
the file stores them as integer ``[xc, yc, w, h]`` at long side 1024 and 512.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from ..evaluation import iou_legacy
from ..vocab import BACKGROUND, Vocabulary, vg150, world_vocabulary

log = logging.getLogger(__name__)

H5_NAME = "VG-SGG.h5"
DICTS_NAME = "VG-SGG-dicts.json"
IMAGE_DATA_NAME = "image_data.json"
IMAGE_DIR = "VG_100K"
BOX_SCALE = 1024
SPLIT_CODES = {"train": 0, "val": 0, "test": 2}
#: Images that neural-motifs / NODIS skip because the JPEG files are corrupt.
CORRUPTED_IMAGE_IDS = frozenset({1592, 1722, 4616, 4617})

H5_KEYS = (
    "labels",
    "boxes_1024",
    "img_to_first_box",
    "img_to_last_box",
    "relationships",
    "predicates",
    "img_to_first_rel",
    "img_to_last_rel",
    "split",
)


@dataclass
class ImageRecord:
    """One annotated image as handed to :func:`write_vg`.

    ``boxes``: (N, 4) float x1y1x2y2 in original image pixels; ``labels``: (N,) class indices
    (1..C-1); ``relations``: (R, 3) int rows ``(subject, object, predicate)`` with local object
    indices and predicate indices 1..P-1.
    """

    image_id: int
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    relations: np.ndarray


@dataclass
class Sample:
    """One image of a :class:`VGDataset`.

    ``boxes``: (N, 4) float32 x1y1x2y2 in original image pixels; ``labels``: (N,) int64;
    ``relations``: (R, 3) int64 ``(subject, object, predicate)``.
    """

    image_id: int
    image_path: Path
    width: int
    height: int
    boxes: np.ndarray
    labels: np.ndarray
    relations: np.ndarray


# --------------------------------------------------------------------------------------------
# writing


def _scaled_boxes(boxes: np.ndarray, width: int, height: int, size: int) -> np.ndarray:
    """x1y1x2y2 original-pixel boxes -> int32 [xc, yc, w, h] at long side ``size``.

    Clamped to the scaled image and at least 2x2, with ``xc = x1 + floor(w / 2)`` (IMP).
    """
    scale = size / max(width, height)
    limits = np.array([max(2, round(width * scale)), max(2, round(height * scale))], dtype=np.int64)
    b = np.rint(np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * scale).astype(np.int64)
    out = np.zeros((len(b), 4), dtype=np.int32)
    for axis in (0, 1):
        lo, hi = b[:, axis], b[:, axis + 2]
        lim = limits[axis]
        lo = np.clip(lo, 0, lim - 2)
        hi = np.clip(hi, lo + 2, lim)
        ext = hi - lo
        out[:, axis] = lo + ext // 2
        out[:, axis + 2] = ext
    return out


def _atomic_write_json(path: Path, obj: object) -> None:
    from ..export import atomic_write_text

    atomic_write_text(path, json.dumps(obj))


def _check_record(rec: ImageRecord, vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes = np.asarray(rec.boxes, dtype=np.float64).reshape(-1, 4)
    labels = np.asarray(rec.labels, dtype=np.int64).reshape(-1)
    rels = np.asarray(rec.relations, dtype=np.int64).reshape(-1, 3)
    n = len(boxes)
    if len(labels) != n:
        raise DatasetError(f"image {rec.image_id}: {n} boxes but {len(labels)} labels")
    if n and (labels.min() < 1 or labels.max() >= vocab.num_classes):
        raise DatasetError(f"image {rec.image_id}: labels must lie in 1..{vocab.num_classes - 1}")
    if len(rels):
        if rels[:, :2].min() < 0 or rels[:, :2].max() >= n:
            raise DatasetError(f"image {rec.image_id}: relation refers to an object index outside 0..{n - 1}")
        if rels[:, 2].min() < 1 or rels[:, 2].max() >= vocab.num_predicates:
            raise DatasetError(f"image {rec.image_id}: predicates must lie in 1..{vocab.num_predicates - 1}")
    if rec.width < 1 or rec.height < 1:
        raise DatasetError(f"image {rec.image_id}: invalid size {rec.width}x{rec.height}")
    return boxes, labels, rels


def write_vg(root: str | Path, images: list[ImageRecord], vocab: Vocabulary, splits: list[int]) -> Path:
    """Write ``VG-SGG.h5``, ``VG-SGG-dicts.json`` and ``image_data.json`` into ``root``.

    ``splits`` holds one split code per image (0 = train, 2 = test). The JPEGs themselves are
    written by the caller into ``root / "VG_100K"`` (created here). Files are written atomically.
    Returns ``root``.
    """
    import h5py

    root = Path(root)
    if len(splits) != len(images):
        raise DatasetError(f"{len(images)} images but {len(splits)} split codes")
    if len({r.image_id for r in images}) != len(images):
        raise DatasetError("image ids must be unique")
    root.mkdir(parents=True, exist_ok=True)
    (root / IMAGE_DIR).mkdir(exist_ok=True)
    for names, what in ((vocab.classes[1:], "classes"), (vocab.predicates[1:], "predicates")):
        if list(names) != sorted(names):
            log.warning("vocabulary %s are not in alphabetical order; VG tools assume they are", what)

    labels_all, b1024, b512, rel_all, pred_all = [], [], [], [], []
    first_box = np.full(len(images), -1, dtype=np.int32)
    last_box = np.full(len(images), -1, dtype=np.int32)
    first_rel = np.full(len(images), -1, dtype=np.int32)
    last_rel = np.full(len(images), -1, dtype=np.int32)
    n_obj = n_rel = 0
    obj_count: Counter[str] = Counter()
    pred_count: Counter[str] = Counter()
    for i, rec in enumerate(images):
        boxes, labels, rels = _check_record(rec, vocab)
        if len(boxes):
            first_box[i], last_box[i] = n_obj, n_obj + len(boxes) - 1
            labels_all.append(labels)
            b1024.append(_scaled_boxes(boxes, rec.width, rec.height, 1024))
            b512.append(_scaled_boxes(boxes, rec.width, rec.height, 512))
            obj_count.update(vocab.classes[c] for c in labels)
        if len(rels):
            first_rel[i], last_rel[i] = n_rel, n_rel + len(rels) - 1
            rel_all.append(rels[:, :2] + n_obj)
            pred_all.append(rels[:, 2])
            pred_count.update(vocab.predicates[p] for p in rels[:, 2])
            n_rel += len(rels)
        n_obj += len(boxes)

    def cat(parts: list[np.ndarray], shape: tuple[int, ...], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype).reshape(shape) if parts else np.zeros(shape, dtype)

    fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{H5_NAME}.", suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("labels", data=cat(labels_all, (n_obj, 1), np.int64))
            f.create_dataset("boxes_1024", data=cat(b1024, (n_obj, 4), np.int32))
            f.create_dataset("boxes_512", data=cat(b512, (n_obj, 4), np.int32))
            f.create_dataset("img_to_first_box", data=first_box)
            f.create_dataset("img_to_last_box", data=last_box)
            f.create_dataset("relationships", data=cat(rel_all, (n_rel, 2), np.int32))
            f.create_dataset("predicates", data=cat(pred_all, (n_rel, 1), np.int64))
            f.create_dataset("img_to_first_rel", data=first_rel)
            f.create_dataset("img_to_last_rel", data=last_rel)
            f.create_dataset("split", data=np.asarray(splits, dtype=np.int32))
        from ..export import new_file_mode

        os.chmod(tmp, new_file_mode(root / H5_NAME))  # mkstemp's 0600 would make the dataset private
        os.replace(tmp, root / H5_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

    classes, preds = vocab.classes, vocab.predicates
    dicts = {
        "label_to_idx": {c: i for i, c in enumerate(classes) if i > 0},
        "idx_to_label": {str(i): c for i, c in enumerate(classes) if i > 0},
        "predicate_to_idx": {p: i for i, p in enumerate(preds) if i > 0},
        "idx_to_predicate": {str(i): p for i, p in enumerate(preds) if i > 0},
        "object_count": {c: obj_count.get(c, 0) for c in classes[1:]},
        "predicate_count": {p: pred_count.get(p, 0) for p in preds[1:]},
    }
    _atomic_write_json(root / DICTS_NAME, dicts)
    image_data = [
        {
            "image_id": int(r.image_id),
            "url": f"{IMAGE_DIR}/{int(r.image_id)}.jpg",
            "width": int(r.width),
            "height": int(r.height),
            "coco_id": None,
            "flickr_id": None,
        }
        for r in images
    ]
    _atomic_write_json(root / IMAGE_DATA_NAME, image_data)
    log.info("wrote VG layout to %s: %d images, %d objects, %d relations", root, len(images), n_obj, n_rel)
    return root


# --------------------------------------------------------------------------------------------
# reading


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DatasetError(
            f"{what} not found: {path}. A Visual Genome folder needs {H5_NAME}, {DICTS_NAME}, "
            f"{IMAGE_DATA_NAME} and {IMAGE_DIR}/ (see docs on the VG-SGG layout)"
        )
    return path


def _load_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read {path}: {e}") from e


def read_vocab(root: str | Path) -> Vocabulary:
    """The vocabulary of ``root/VG-SGG-dicts.json`` with ``__background__`` added at index 0."""
    path = _require(Path(root) / DICTS_NAME, "VG dictionary file")
    d = _load_json(path)
    try:
        labels = sorted(((int(k), v) for k, v in d["idx_to_label"].items()))  # type: ignore[index]
        preds = sorted(((int(k), v) for k, v in d["idx_to_predicate"].items()))  # type: ignore[index]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DatasetError(f"{path} lacks a valid 'idx_to_label' / 'idx_to_predicate' mapping ({e})") from e
    for items, what in ((labels, "idx_to_label"), (preds, "idx_to_predicate")):
        if [i for i, _ in items] != list(range(1, len(items) + 1)):
            raise DatasetError(f"{path}: {what} indices must be 1..N without gaps")
    classes = (BACKGROUND, *(v for _, v in labels))
    predicates = (BACKGROUND, *(v for _, v in preds))
    return Vocabulary(_known_vocab_name(classes, predicates) or Path(root).resolve().name or "vg", classes, predicates)


def _known_vocab_name(classes: tuple[str, ...], predicates: tuple[str, ...]) -> str | None:
    """``"world"`` or ``"vg150"`` when the lists equal one of the built-in vocabularies."""
    for known in (world_vocabulary, vg150):
        try:
            v = known()
        except Exception as e:  # noqa: BLE001 - a missing resource must not break reading a dataset
            log.debug("cannot load the %s vocabulary: %s", known.__name__, e)
            continue
        if v.classes == classes and v.predicates == predicates:
            return v.name
    return None


def _field(name: str, arr: np.ndarray, shapes: tuple[tuple[int | None, ...], ...], kinds: str, path: Path) -> np.ndarray:
    """``arr`` if its shape is one of ``shapes`` (None: any length) and its dtype kind one of
    ``kinds`` ("iu": integers, "f": floats); else :class:`DatasetError` naming the field."""
    if arr.dtype.kind not in kinds:
        want = "integers" if kinds == "iu" else "numbers"
        raise DatasetError(f"{path.name}: '{name}' holds {arr.dtype} values, expected {want}")
    for shape in shapes:
        if arr.ndim == len(shape) and all(w is None or w == n for w, n in zip(shape, arr.shape)):
            return arr
    want = " or ".join("(" + ", ".join("N" if w is None else str(w) for w in sh) + ")" for sh in shapes)
    raise DatasetError(f"{path.name}: '{name}' has shape {tuple(arr.shape)}, expected {want}")


def validate_h5(data: dict[str, np.ndarray], vocab: Vocabulary, path: Path) -> None:
    """Check the arrays of a ``VG-SGG.h5`` before they are used, in place (labels and predicates are
    flattened): shapes and dtypes, finite boxes inside ``[0, BOX_SCALE]`` with positive sizes, class
    and predicate indices of the vocabulary, per-image box and relation ranges inside the arrays, and
    relations that join objects of their own image. :class:`DatasetError` names the field."""
    labels = _field("labels", data["labels"], ((None, 1), (None,)), "iu", path).reshape(-1)
    n_obj = len(labels)
    boxes = _field("boxes_1024", data["boxes_1024"], ((None, 4),), "iuf", path)
    if len(boxes) != n_obj:
        raise DatasetError(f"{path.name}: 'boxes_1024' has {len(boxes)} rows but 'labels' {n_obj}")
    rels = _field("relationships", data["relationships"], ((None, 2),), "iu", path)
    preds = _field("predicates", data["predicates"], ((None, 1), (None,)), "iu", path).reshape(-1)
    if len(preds) != len(rels):
        raise DatasetError(f"{path.name}: 'predicates' has {len(preds)} rows but 'relationships' {len(rels)}")
    split = _field("split", data["split"], ((None,),), "iu", path)
    n_img = len(split)
    ranges = {}
    for k in ("img_to_first_box", "img_to_last_box", "img_to_first_rel", "img_to_last_rel"):
        ranges[k] = _field(k, data[k], ((None,),), "iu", path).astype(np.int64)
        if len(ranges[k]) != n_img:
            raise DatasetError(f"{path.name}: '{k}' has {len(ranges[k])} entries but 'split' {n_img}")
    if n_obj and (labels.min() < 1 or labels.max() >= vocab.num_classes):
        bad = int(labels[(labels < 1) | (labels >= vocab.num_classes)][0])
        raise DatasetError(f"{path.name}: 'labels' holds class {bad}, outside 1..{vocab.num_classes - 1} of the "
                           "vocabulary in " + DICTS_NAME)
    if len(preds) and (preds.min() < 1 or preds.max() >= vocab.num_predicates):
        bad = int(preds[(preds < 1) | (preds >= vocab.num_predicates)][0])
        raise DatasetError(f"{path.name}: 'predicates' holds predicate {bad}, outside 1..{vocab.num_predicates - 1} "
                           "of the vocabulary in " + DICTS_NAME)
    b = boxes.astype(np.float64)
    if not np.all(np.isfinite(b)):
        raise DatasetError(f"{path.name}: 'boxes_1024' holds NaN or infinite values")
    if boxes.dtype.kind == "f" and not np.all(b == np.round(b)):
        raise DatasetError(f"{path.name}: 'boxes_1024' holds fractional values; it stores integer pixels")
    x1y1 = b[:, :2] - np.floor(b[:, 2:] / 2)
    x2y2 = x1y1 + b[:, 2:]
    bad = (b[:, 2] <= 0) | (b[:, 3] <= 0) | (x1y1 < 0).any(1) | (x2y2 > BOX_SCALE + 1).any(1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DatasetError(f"{path.name}: 'boxes_1024' row {k} [xc, yc, w, h] = {boxes[k].tolist()} is not a box "
                           f"inside the {BOX_SCALE}-pixel frame with a positive size ({int(bad.sum())} such rows)")
    fb, lb = ranges["img_to_first_box"], ranges["img_to_last_box"]
    fr, lr = ranges["img_to_first_rel"], ranges["img_to_last_rel"]
    has_box = fb >= 0
    bad = has_box & ~((fb <= lb) & (lb < n_obj))
    bad |= ~has_box & (fb != -1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DatasetError(f"{path.name}: image {i} has the box range 'img_to_first_box'..'img_to_last_box' = "
                           f"{fb[i]}..{lb[i]}, outside the {n_obj} boxes")
    _disjoint(fb, lb, has_box, "box", "img_to_first_box", path)
    has_rel = fr >= 0
    bad = has_rel & ~((fr <= lr) & (lr < len(rels)) & has_box)
    bad |= ~has_rel & (fr != -1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DatasetError(f"{path.name}: image {i} has the relation range 'img_to_first_rel'..'img_to_last_rel' = "
                           f"{fr[i]}..{lr[i]}, outside the {len(rels)} relations (or the image has no boxes)")
    _disjoint(fr, lr, has_rel, "relation", "img_to_first_rel", path)
    if has_rel.any():  # every relation joins two boxes of its own image
        img = np.flatnonzero(has_rel)
        counts = lr[img] - fr[img] + 1
        owner = np.repeat(img, counts)
        starts = np.repeat(fr[img] - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        idx = np.arange(int(counts.sum())) + starts
        r = rels[idx].astype(np.int64)
        outside = (r < fb[owner, None]).any(1) | (r > lb[owner, None]).any(1)
        if outside.any():
            j = int(np.flatnonzero(outside)[0])
            raise DatasetError(f"{path.name}: 'relationships' row {int(idx[j])} = {r[j].tolist()} joins boxes outside "
                               f"image {int(owner[j])}'s range {fb[owner[j]]}..{lb[owner[j]]}")
    data["labels"], data["predicates"] = labels, preds


def _disjoint(first: np.ndarray, last: np.ndarray, used: np.ndarray, what: str, name: str, path: Path) -> None:
    """The images' inclusive ranges ``first..last`` (where ``used``) must not overlap: every box and
    relation belongs to one image."""
    img = np.flatnonzero(used)
    if len(img) < 2:
        return
    order = img[np.argsort(first[img], kind="stable")]
    clash = first[order[1:]] <= last[order[:-1]]
    if clash.any():
        a, b = int(order[:-1][clash][0]), int(order[1:][clash][0])
        raise DatasetError(f"{path.name}: the {what} ranges of images {a} and {b} overlap "
                           f"('{name}'..: {first[a]}..{last[a]} and {first[b]}..{last[b]}); each {what} "
                           "belongs to one image")


def validate_box_frames(boxes1024: np.ndarray, first: np.ndarray, last: np.ndarray, image_data: list,
                        path: Path) -> None:
    """Every image's boxes (x1y1x2y2 at long side ``BOX_SCALE``) lie inside that image's frame,
    ``round(width * BOX_SCALE / long side)`` by ``round(height * ...)`` (one pixel of rounding allowed)."""
    img = np.flatnonzero(first >= 0)
    if not len(img):
        return
    w = np.array([image_data[i]["width"] for i in img], dtype=np.float64)
    h = np.array([image_data[i]["height"] for i in img], dtype=np.float64)
    scale = BOX_SCALE / np.maximum(w, h)
    counts = last[img] - first[img] + 1
    owner = np.repeat(np.arange(len(img)), counts)
    idx = np.arange(int(counts.sum())) + np.repeat(first[img] - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    lim = np.stack([np.round(w * scale), np.round(h * scale)], 1)[owner] + 1
    out = (boxes1024[idx, 2:] > lim).any(1)
    if out.any():
        j = int(np.flatnonzero(out)[0])
        i = int(img[owner[j]])
        raise DatasetError(f"{path.name}: 'boxes_1024' row {int(idx[j])} (x1, y1, x2, y2 = "
                           f"{boxes1024[idx[j]].tolist()}) lies outside image {image_data[i]['image_id']}, whose "
                           f"{image_data[i]['width']}x{image_data[i]['height']} pixels are "
                           f"{int(lim[j][0]) - 1}x{int(lim[j][1]) - 1} at {BOX_SCALE}")


def validate_image_data(image_data: list, path: Path) -> None:
    """Every entry of ``image_data.json`` is an object with a whole-number ``image_id`` (unique) and
    positive whole-number ``width`` and ``height``; :class:`DatasetError` naming the entry otherwise."""
    seen: set[int] = set()
    for k, d in enumerate(image_data):
        if not isinstance(d, dict):
            raise DatasetError(f"{path.name}[{k}] is a {type(d).__name__}, not an object")
        for key in ("image_id", "width", "height"):
            v = d.get(key)
            if isinstance(v, bool) or not isinstance(v, int):
                raise DatasetError(f"{path.name}[{k}]: '{key}' must be a whole number, got {v!r}")
        if d["width"] < 1 or d["height"] < 1:
            raise DatasetError(f"{path.name}[{k}]: image {d['image_id']} has the size {d['width']}x{d['height']}")
        if d["image_id"] in seen:
            raise DatasetError(f"{path.name}[{k}]: image_id {d['image_id']} appears twice")
        seen.add(d["image_id"])


class VGDataset:
    """A split of a VG-SGG folder, loaded like neural-motifs' ``load_graphs``.

    - ``test`` uses ``split == 2``; ``train`` and ``val`` use ``split == 0``; ``val`` is the first
      ``num_val_im`` of those images and ``train`` the rest.
    - Images without boxes are dropped; with ``filter_empty_rels`` also those without relations.
    - ``filter_duplicate_rels`` (train only): one predicate per (subject, object) pair, drawn at
      random from ``seed`` and :attr:`epoch` (set ``dataset.epoch`` to redraw each epoch).
    - ``filter_non_overlap`` (train only): keep relations whose boxes overlap (+1 IoU > 0) and
      drop images left with none. Test and val ground truth is never filtered.

    Items are :class:`Sample` with boxes in original image pixels.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        num_val_im: int = 5000,
        filter_empty_rels: bool = True,
        filter_duplicate_rels: bool = True,
        filter_non_overlap: bool = False,
        seed: int = 0,
        image_dir: str | Path | None = None,
    ) -> None:
        import h5py

        if split not in SPLIT_CODES:
            raise DatasetError(f"unknown split {split!r}; choose 'train', 'val' or 'test'")
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"dataset folder not found: {self.root}")
        self.split = split
        self.seed = int(seed)
        self.epoch = 0
        self.filter_duplicate_rels = bool(filter_duplicate_rels) and split == "train"
        self.filter_non_overlap = bool(filter_non_overlap) and split == "train"
        self.image_dir = Path(image_dir) if image_dir is not None else self.root / IMAGE_DIR
        h5_path = _require(self.root / H5_NAME, "VG scene-graph file")
        self.vocab = read_vocab(self.root)
        _require(self.image_dir, "VG image folder")

        try:
            f = h5py.File(h5_path, "r")
        except OSError as e:
            raise DatasetError(f"cannot open {h5_path} as HDF5: {e}") from e
        with f:
            missing = [k for k in H5_KEYS if k not in f]
            if missing:
                raise DatasetError(f"{h5_path} lacks the key(s) {', '.join(missing)}; is it a VG-SGG.h5 file?")
            data = {}
            for k in H5_KEYS:
                try:
                    data[k] = np.asarray(f[k][()])
                except (TypeError, ValueError, OSError, KeyError) as e:
                    raise DatasetError(f"{H5_NAME}: '{k}' cannot be read as an array ({e})") from None
        validate_h5(data, self.vocab, h5_path)
        num_images = len(data["split"])
        image_data = _load_json(_require(self.root / IMAGE_DATA_NAME, "VG image metadata file"))
        if not isinstance(image_data, list):
            raise DatasetError(f"{self.root / IMAGE_DATA_NAME} must hold a list of images")
        validate_image_data(image_data, self.root / IMAGE_DATA_NAME)
        if len(image_data) != num_images:
            image_data = [d for d in image_data if int(d.get("image_id", -1)) not in CORRUPTED_IMAGE_IDS]
        if len(image_data) != num_images:
            raise DatasetError(
                f"{IMAGE_DATA_NAME} lists {len(image_data)} images but {H5_NAME} has {num_images}; "
                "the two files do not belong together"
            )

        mask = data["split"] == SPLIT_CODES[split]
        mask &= data["img_to_first_box"] >= 0
        if filter_empty_rels:
            mask &= data["img_to_first_rel"] >= 0
        index = np.flatnonzero(mask)
        if num_val_im > 0:
            if split == "val":
                index = index[:num_val_im]
            elif split == "train":
                index = index[num_val_im:]

        boxes = data["boxes_1024"].astype(np.int64)
        x1y1 = boxes[:, :2] - boxes[:, 2:] // 2
        self._boxes1024 = np.concatenate([x1y1, x1y1 + boxes[:, 2:]], axis=1)
        validate_box_frames(self._boxes1024, data["img_to_first_box"].astype(np.int64),
                            data["img_to_last_box"].astype(np.int64), image_data, h5_path)
        self._labels = data["labels"].reshape(-1).astype(np.int64)
        n_obj = len(self._labels)
        rel_pairs = data["relationships"].astype(np.int64).reshape(-1, 2)
        predicates = data["predicates"].reshape(-1).astype(np.int64)

        self._items: list[tuple[int, int, int, np.ndarray]] = []  # (h5 index, first, last, rels)
        self._meta: list[dict] = []
        for i in index:
            fb, lb = int(data["img_to_first_box"][i]), int(data["img_to_last_box"][i])
            if not (0 <= fb <= lb < n_obj):
                raise DatasetError(f"{H5_NAME}: image {i} has an invalid box range {fb}..{lb}")
            fr, lr = int(data["img_to_first_rel"][i]), int(data["img_to_last_rel"][i])
            if fr >= 0:
                obj_idx = rel_pairs[fr : lr + 1] - fb
                if len(obj_idx) and (obj_idx.min() < 0 or obj_idx.max() > lb - fb):
                    raise DatasetError(f"{H5_NAME}: image {i} has a relation outside its own objects")
                rels = np.column_stack([obj_idx, predicates[fr : lr + 1]])
            else:
                rels = np.zeros((0, 3), dtype=np.int64)
            if self.filter_non_overlap and len(rels):
                b = self._boxes1024[fb : lb + 1]
                keep = iou_legacy(b, b)[rels[:, 0], rels[:, 1]] > 0
                if not keep.any():
                    continue
                rels = rels[keep]
            self._items.append((int(i), fb, lb, rels))
            self._meta.append(image_data[i])
        log.info("VG %s split of %s: %d images", split, self.root, len(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def boxes_1024(self, i: int, decoding: str = "release") -> np.ndarray:
        """Item ``i``'s ground-truth boxes at ``BOX_SCALE`` (long side 1024), float64 x1y1x2y2.

        ``release``: neural-motifs' ``load_graphs``, ``x1 = xc - w / 2`` assigned into the int array
        (truncated toward zero), ``x2 = x1 + w``: the frame the release evaluates SGDet in (an odd
        width moves the box one pixel left of what the file encodes). ``exact``: the inverse of the
        writer, ``x1 = xc - w // 2`` (the boxes :meth:`__getitem__` scales to image pixels)."""
        if decoding not in ("release", "exact"):
            raise ValueError(f"decoding must be 'release' or 'exact', not {decoding!r}")
        _, fb, lb, _ = self._items[i % len(self)]
        b = self._boxes1024[fb : lb + 1]
        if decoding == "exact":
            return b.astype(np.float64)
        w = b[:, 2:] - b[:, :2]
        x1 = np.trunc((b[:, :2] + w // 2) - w / 2.0)
        return np.concatenate([x1, x1 + w], 1).astype(np.float64)

    def image_path(self, i: int) -> Path:
        """The JPEG path of item ``i`` (not checked for existence)."""
        return self.image_dir / f"{int(self._meta[i]['image_id'])}.jpg"

    def __getitem__(self, i: int) -> Sample:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        _, fb, lb, rels = self._items[i]
        meta = self._meta[i]
        path = self.image_path(i)
        if not path.is_file():
            raise DatasetError(f"image {meta['image_id']} is missing: {path} does not exist")
        w, h = int(meta["width"]), int(meta["height"])
        boxes = self._boxes1024[fb : lb + 1].astype(np.float32) * np.float32(max(w, h) / BOX_SCALE)
        if self.filter_duplicate_rels and len(rels):
            rng = np.random.default_rng([self.seed, self.epoch, i])
            groups: dict[tuple[int, int], list[int]] = defaultdict(list)
            for s, o, p in rels:
                groups[(int(s), int(o))].append(int(p))
            rels = np.array([(s, o, ps[rng.integers(len(ps))]) for (s, o), ps in groups.items()])
        return Sample(
            image_id=int(meta["image_id"]),
            image_path=path,
            width=w,
            height=h,
            boxes=boxes,
            labels=self._labels[fb : lb + 1].copy(),
            relations=np.asarray(rels, dtype=np.int64).reshape(-1, 3),
        )

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]

    def triplet_counts(self) -> Counter[tuple[int, int, int]]:
        """Counts of ``(subject label, predicate, object label)`` over the split's relations
        (after the non-overlap filter, before the duplicate filter). Compare the train counts
        with test triplets for zero-shot recall."""
        counts: Counter[tuple[int, int, int]] = Counter()
        for _, fb, _, rels in self._items:
            for s, o, p in rels:
                counts[(int(self._labels[fb + s]), int(p), int(self._labels[fb + o]))] += 1
        return counts
