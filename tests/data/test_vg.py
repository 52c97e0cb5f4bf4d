"""Round trip and loading rules of the VG-SGG layout (nodis.data.vg)."""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from nodis.data.vg import ImageRecord, VGDataset, read_vocab, write_vg
from nodis.errors import DatasetError
from nodis.vocab import Vocabulary

VOCAB = Vocabulary(
    "tiny",
    ("__background__", "cup", "dog", "man", "table"),
    ("__background__", "has", "near", "on", "under"),
)


def _rec(image_id: int, w: int, h: int, boxes, labels, rels) -> ImageRecord:
    return ImageRecord(
        image_id=image_id,
        width=w,
        height=h,
        boxes=np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        labels=np.asarray(labels, dtype=np.int64),
        relations=np.asarray(rels, dtype=np.int64).reshape(-1, 3),
    )


def _write(root: Path, records: list[ImageRecord], splits: list[int]) -> Path:
    write_vg(root, records, VOCAB, splits)
    for r in records:
        Image.new("RGB", (r.width, r.height), (90, 90, 90)).save(root / "VG_100K" / f"{r.image_id}.jpg")
    return root


def _records() -> list[ImageRecord]:
    return [
        # 0: train, two objects, duplicate pair with two predicates
        _rec(10, 640, 480, [[10.3, 20.7, 200.2, 300.9], [150, 100, 400, 470]], [3, 4],
             [[0, 1, 3], [0, 1, 2], [1, 0, 4]]),
        # 1: train, boxes but no relation
        _rec(11, 300, 500, [[0, 0, 299, 499]], [2], []),
        # 2: train, no boxes at all
        _rec(12, 320, 240, [], [], []),
        # 3: train, non-overlapping pair only
        _rec(13, 500, 500, [[0, 0, 100, 100], [300, 300, 400, 400]], [1, 4], [[0, 1, 2]]),
        # 4: test, duplicates kept
        _rec(14, 800, 600, [[5, 5, 90, 70], [60, 40, 700, 590], [1, 2, 799, 599]], [1, 4, 3],
             [[0, 1, 3], [0, 1, 2], [2, 1, 1]]),
        # 5: train, one overlapping and one non-overlapping relation
        _rec(15, 400, 300, [[0, 0, 100, 100], [50, 50, 200, 200], [300, 250, 390, 290]], [2, 3, 1],
             [[0, 1, 2], [1, 2, 2]]),
    ]


@pytest.fixture()
def vg_root(tmp_path: Path) -> Path:
    return _write(tmp_path / "vg", _records(), [0, 0, 0, 0, 2, 0])


def test_h5_layout(vg_root: Path) -> None:
    with h5py.File(vg_root / "VG-SGG.h5", "r") as f:
        assert f["labels"].shape == (11, 1) and f["labels"].dtype == np.int64
        assert f["boxes_1024"].dtype == np.int32 and f["boxes_512"].shape == (11, 4)
        assert f["img_to_first_box"][:].tolist() == [0, 2, -1, 3, 5, 8]
        assert f["img_to_last_box"][:].tolist() == [1, 2, -1, 4, 7, 10]
        assert f["img_to_first_rel"][:].tolist() == [0, -1, -1, 3, 4, 7]
        assert f["img_to_last_rel"][:].tolist() == [2, -1, -1, 3, 6, 8]
        # relationships hold GLOBAL object indices
        assert f["relationships"][:].tolist() == [[0, 1], [0, 1], [1, 0], [3, 4], [5, 6], [5, 6], [7, 6],
                                                  [8, 9], [9, 10]]
        assert f["predicates"][:, 0].tolist() == [3, 2, 4, 2, 3, 2, 1, 2, 2]
        assert f["split"][:].tolist() == [0, 0, 0, 0, 2, 0]
        b = f["boxes_1024"][:]
        # image 10 is 640 wide: scale 1.6; box 0: x1 = rint(16.48) = 16, x2 = rint(320.32) = 320
        assert b[0].tolist() == [16 + 304 // 2, 33 + (481 - 33) // 2, 304, 481 - 33]
        assert (b[:, 2:] >= 2).all()
        b512 = f["boxes_512"][:]
        assert b512[0, 2] == 152
    dicts = json.loads((vg_root / "VG-SGG-dicts.json").read_text())
    assert dicts["idx_to_label"] == {"1": "cup", "2": "dog", "3": "man", "4": "table"}
    assert dicts["predicate_to_idx"]["under"] == 4
    assert dicts["object_count"]["table"] == 3 and dicts["predicate_count"]["near"] == 5
    image_data = json.loads((vg_root / "image_data.json").read_text())
    assert [d["image_id"] for d in image_data] == [10, 11, 12, 13, 14, 15]
    assert set(image_data[0]) == {"image_id", "url", "width", "height", "coco_id", "flickr_id"}


def test_round_trip(vg_root: Path) -> None:
    assert read_vocab(vg_root).classes == VOCAB.classes
    assert read_vocab(vg_root).predicates == VOCAB.predicates
    ds = VGDataset(vg_root, "train", num_val_im=0, filter_duplicate_rels=False)
    recs = {r.image_id: r for r in _records()}
    assert [s.image_id for s in ds] == [10, 13, 15]
    for s in ds:
        r = recs[s.image_id]
        assert s.boxes.dtype == np.float32 and s.labels.dtype == np.int64 and s.relations.dtype == np.int64
        assert np.abs(s.boxes - r.boxes).max() <= 1.0
        assert s.labels.tolist() == r.labels.tolist()
        assert s.relations.tolist() == r.relations.tolist()
        assert (s.width, s.height) == (r.width, r.height)
        assert s.image_path == vg_root / "VG_100K" / f"{r.image_id}.jpg"
    test = VGDataset(vg_root, "test")
    assert len(test) == 1
    s = test[0]
    assert np.abs(s.boxes - recs[14].boxes).max() <= 1.0
    assert s.relations.tolist() == recs[14].relations.tolist()  # duplicates kept at test


def test_empty_rels_and_val_split(vg_root: Path) -> None:
    train_all = VGDataset(vg_root, "train", num_val_im=0, filter_empty_rels=False, filter_duplicate_rels=False)
    assert [s.image_id for s in train_all] == [10, 11, 13, 15]  # image 12 has no boxes
    assert train_all[1].relations.shape == (0, 3)
    val = VGDataset(vg_root, "val", num_val_im=2)
    train = VGDataset(vg_root, "train", num_val_im=2)
    assert [s.image_id for s in val] == [10, 13]
    assert [s.image_id for s in train] == [15]
    assert [s.image_id for s in VGDataset(vg_root, "test", num_val_im=2)] == [14]


def test_duplicate_filter(vg_root: Path) -> None:
    seen = set()
    for seed in range(12):
        ds = VGDataset(vg_root, "train", num_val_im=0, seed=seed)
        rels = ds[0].relations
        assert rels.shape == (2, 3)
        pairs = [tuple(r[:2]) for r in rels]
        assert sorted(pairs) == [(0, 1), (1, 0)]
        seen.add(int(rels[[p == (0, 1) for p in pairs]][0, 2]))
        again = VGDataset(vg_root, "train", num_val_im=0, seed=seed)[0].relations
        assert again.tolist() == rels.tolist()  # deterministic for a seed
    assert seen == {2, 3}
    # counts for zero-shot use all relations, before the duplicate filter
    counts = VGDataset(vg_root, "train", num_val_im=0).triplet_counts()
    assert counts[(3, 3, 4)] == 1 and counts[(3, 2, 4)] == 1 and counts[(4, 4, 3)] == 1
    assert sum(counts.values()) == 3 + 1 + 2


def test_non_overlap_filter(vg_root: Path) -> None:
    ds = VGDataset(vg_root, "train", num_val_im=0, filter_non_overlap=True, filter_duplicate_rels=False)
    assert [s.image_id for s in ds] == [10, 15]  # 13 only had a non-overlapping relation
    assert ds[1].relations.tolist() == [[0, 1, 2]]
    # never applied to test
    assert len(VGDataset(vg_root, "test", filter_non_overlap=True)) == 1


def test_errors(tmp_path: Path, vg_root: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        VGDataset(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="VG-SGG.h5"):
        VGDataset(empty)
    with pytest.raises(DatasetError, match="unknown split"):
        VGDataset(vg_root, "dev")
    (vg_root / "VG_100K" / "13.jpg").unlink()
    ds = VGDataset(vg_root, "train", num_val_im=0)
    with pytest.raises(DatasetError, match="image 13 is missing"):
        ds[1]
    with h5py.File(vg_root / "VG-SGG.h5", "a") as f:
        del f["predicates"]
    with pytest.raises(DatasetError, match="lacks the key.*predicates"):
        VGDataset(vg_root)
    (vg_root / "VG-SGG-dicts.json").unlink()
    with pytest.raises(DatasetError, match="VG-SGG-dicts.json"):
        read_vocab(vg_root)
    with pytest.raises(DatasetError, match="predicates must lie"):
        write_vg(tmp_path / "bad", [_rec(1, 10, 10, [[0, 0, 5, 5]], [1], [[0, 0, 9]])], VOCAB, [0])
    with pytest.raises(DatasetError, match="split codes"):
        write_vg(tmp_path / "bad", [_rec(1, 10, 10, [], [], [])], VOCAB, [])


def test_vg_does_not_import_the_world(tmp_path: Path) -> None:
    """No vg <-> world import cycle: reading and writing the layout, naming the world's vocabulary
    included, leaves the world package unimported (checked in a fresh interpreter)."""
    import subprocess
    import sys

    probe = f"""
import json, sys
import numpy as np
from nodis.data.vg import ImageRecord, read_vocab, write_vg
from nodis.vocab import world_vocabulary
rec = ImageRecord(1, 10, 10, np.array([[0, 0, 5, 5], [2, 2, 8, 8]], float), np.array([1, 2]), np.array([[0, 1, 1]]))
write_vg({str(tmp_path / "w")!r}, [rec], world_vocabulary(), [0])
name = read_vocab({str(tmp_path / "w")!r}).name
before = sorted(m for m in sys.modules if m.startswith("nodis.data.world"))
import nodis.data.world
after = sorted(m for m in sys.modules if m.startswith("nodis.data.world"))
print(json.dumps([name, before, after]))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    name, before, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert name == "world"  # read_vocab still recognises the world's lists
    assert before == []
    assert "nodis.data.world" in after and "nodis.data.world.dataset" in after  # the probe can see an import
