"""The procedural scene world (nodis.data.world)."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nodis.data import world
from nodis.data.vg import VGDataset, read_vocab
from nodis.data.world import (
    PREDICATES,
    TRAIN_DROP_RATE,
    ZERO_SHOT_TRIPLETS,
    generate_world,
    render_scene,
    world_image,
    world_vocabulary,
)
from nodis.errors import InputError

SEED = 11
N_TRAIN, N_TEST = 24, 12


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_world(tmp_path_factory.mktemp("world") / "w", N_TRAIN, N_TEST, seed=SEED)


def test_vocabulary() -> None:
    v = world_vocabulary()
    assert v.classes[0] == v.predicates[0] == "__background__"
    assert list(v.classes[1:]) == sorted(v.classes[1:]) and len(v.classes) - 1 >= 24
    assert list(v.predicates[1:]) == sorted(v.predicates[1:]) and len(v.predicates) - 1 >= 16
    assert {"on", "under", "above", "near", "in front of", "behind", "in"} <= set(PREDICATES)
    assert {"riding", "holding", "wearing", "sitting on", "standing on", "parked on", "has", "of", "eating"} <= set(PREDICATES)
    assert 3 <= len(ZERO_SHOT_TRIPLETS) <= 6
    for s, p, o in ZERO_SHOT_TRIPLETS:
        v.class_index(s), v.predicate_index(p), v.class_index(o)


def test_render_scene_deterministic() -> None:
    a_img, a = render_scene(123)
    b_img, b = render_scene(123)
    assert a_img.tobytes() == b_img.tobytes()
    assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.relations, b.relations) and a.template == b.template
    c_img, _ = render_scene(124)
    assert c_img.tobytes() != a_img.tobytes()


def test_scene_annotations_are_valid() -> None:
    templates = Counter()
    sizes = set()
    for seed in range(60):
        img, ann = render_scene(seed)
        templates[ann.template] += 1
        assert img.size == (ann.width, ann.height) and img.mode == "RGB"
        assert 256 <= max(img.size) <= 640
        sizes.add(round(ann.width / ann.height, 1))
        n = len(ann.labels)
        assert world.MIN_OBJECTS <= n <= world.MAX_OBJECTS
        b = ann.boxes
        assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()
        assert (b[:, 2] <= ann.width).all() and (b[:, 3] <= ann.height).all()
        assert (b[:, 2] - b[:, 0] >= 2).all() and (b[:, 3] - b[:, 1] >= 2).all()
        r = ann.relations
        assert len(r) >= 1 and (r[:, :2] < n).all() and (r[:, 0] != r[:, 1]).all()
        assert ((r[:, 2] >= 1) & (r[:, 2] < len(world.PREDICATES) + 1)).all()
    assert set(templates) == set(world.TEMPLATES)
    assert len(sizes) > 5  # varied aspect ratios


def test_hat_and_bowl_look_alike() -> None:
    kinds = {}
    for seed in range(80):
        sc, _ = world._scene(seed)
        for o in sc.objs:
            if o.label in ("hat", "bowl") and o.annotated:
                kinds.setdefault(o.label, set()).add(o.kind)
    assert kinds == {"hat": {"dome"}, "bowl": {"dome"}}


def _triplets(ann) -> set[tuple[str, str, str]]:
    return set(ann.triplets())


def test_train_drops_relations_and_holds_out_triplets() -> None:
    full_n = kept_n = 0
    held_in_test = Counter()
    preds = Counter()
    for i in range(400):
        _, full, train = world._world_scene(5, i, i + 1, "train")
        assert not (_triplets(train) & set(ZERO_SHOT_TRIPLETS))
        assert not (_triplets(full) & set(ZERO_SHOT_TRIPLETS))  # train scenes are recomposed
        full_n += len(full.relations)
        kept_n += len(train.relations)
        assert len(train.relations) >= 1
        _, test_full, test = world._world_scene(5, i, i + 1, "test")
        assert np.array_equal(test_full.relations, test.relations)  # test keeps every relation
        for t in test.triplets():
            preds[t[1]] += 1
            if t in ZERO_SHOT_TRIPLETS:
                held_in_test[t] += 1
    assert abs(1 - kept_n / full_n - TRAIN_DROP_RATE) < 0.05
    assert set(held_in_test) == set(ZERO_SHOT_TRIPLETS)  # zero-shot recall has material
    counts = [c for _, c in preds.most_common()]
    assert preds.most_common(1)[0][0] == "on" and counts[0] > 15 * counts[-1]  # long tail


def test_world_image_matches_generated(small_world: Path) -> None:
    img, ann = world_image(SEED, 3, "train")
    assert ann.image_id == 4
    disk = Image.open(small_world / "VG_100K" / "4.jpg")
    assert disk.size == img.size
    ds = VGDataset(small_world, "train", num_val_im=0, filter_duplicate_rels=False)
    sample = next(s for s in ds if s.image_id == 4)
    assert sample.labels.tolist() == ann.labels.tolist()
    assert sample.relations.tolist() == ann.relations.tolist()
    with pytest.raises(InputError):
        world_image(SEED, 0, "val")


def test_generate_world_reads_back(small_world: Path) -> None:
    for name in ("VG-SGG.h5", "VG-SGG-dicts.json", "image_data.json", "zeroshot_triplets.json", "world.json"):
        assert (small_world / name).is_file()
    assert [tuple(t) for t in json.loads((small_world / "zeroshot_triplets.json").read_text())] == list(ZERO_SHOT_TRIPLETS)
    assert read_vocab(small_world) == world_vocabulary()
    train = VGDataset(small_world, "train", num_val_im=4)
    val = VGDataset(small_world, "val", num_val_im=4)
    test = VGDataset(small_world, "test", num_val_im=4)
    ids = [{s.image_id for s in d} for d in (train, val, test)]
    assert len(ids[0]) + len(ids[1]) == N_TRAIN and len(ids[2]) == N_TEST
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert max(ids[0] | ids[1]) <= N_TRAIN < min(ids[2])
    v = world_vocabulary()
    held = {(v.class_index(s), v.predicate_index(p), v.class_index(o)) for s, p, o in ZERO_SHOT_TRIPLETS}
    assert not (set(train.triplet_counts()) & held) and not (set(val.triplet_counts()) & held)
    for s in list(test)[:6]:
        with Image.open(s.image_path) as im:
            assert im.format == "JPEG" and im.size == (s.width, s.height)
        assert (s.boxes[:, 2] <= s.width + 1).all() and (s.boxes[:, 3] <= s.height + 1).all()
        assert (s.boxes >= 0).all()


def test_workers_do_not_change_output(small_world: Path, tmp_path: Path) -> None:
    other = generate_world(tmp_path / "w2", N_TRAIN, N_TEST, seed=SEED, workers=2)

    def digest(root: Path) -> dict[str, str]:
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in (".jpg", ".json") and p.name != "world.json"
        }

    a, b = digest(small_world), digest(other)
    assert len(a) == N_TRAIN + N_TEST + 3 and a == b
    import h5py

    with h5py.File(small_world / "VG-SGG.h5") as fa, h5py.File(other / "VG-SGG.h5") as fb:
        for k in fa:
            assert np.array_equal(fa[k][:], fb[k][:]), k


def test_generate_world_arguments(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        generate_world(tmp_path / "x", 0, 0)
    with pytest.raises(InputError):
        generate_world(tmp_path / "x", 2, 1, workers=0)
