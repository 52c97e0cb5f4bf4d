"""The world is pinned: fixed seeds render the same pixels and annotations as when recorded.

The digests below were recorded from ``nodis/data/world.py`` before it became a package (issue 15,
item 5) and must survive any refactoring of the world code. When this test fails, the world has
changed (a drawing, a random-number call order, a constant, or a Pillow/NumPy upgrade that draws
differently): every dataset generated before is no longer reproducible from its seed. If the change
is deliberate, bump ``WORLD_VERSION`` and record new digests with ``python tests/data/test_world_pinned.py``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nodis.data.world import SceneAnnotation, generate_world, render_scene, world_image

#: ``render_scene`` seeds: 0-5 give the six templates, the others add every remaining drawing
#: (all ``_DRAW`` kinds and the wading figures' water band).
RENDER_SEEDS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 25, 40)
#: ``world_image`` (seed, index, split): train annotations lose relations; (3, 1, "train") is a
#: train scene recomposed because its first composition held a zero-shot triplet.
WORLD_IMAGES = ((3, 0, "train"), (3, 0, "test"), (3, 1, "train"), (3, 1, "test"), (3, 5, "train"))
#: ``generate_world(root, TINY[0], TINY[1], seed=TINY[2])``
TINY = (6, 3, 4)


def image_digest(img: Image.Image) -> str:
    return hashlib.sha256(f"{img.mode}:{img.size}:".encode() + img.tobytes()).hexdigest()


def annotation_digest(ann: SceneAnnotation) -> str:
    h = hashlib.sha256(f"{ann.image_id}:{ann.width}x{ann.height}:{ann.template}:".encode())
    h.update(np.ascontiguousarray(ann.boxes, dtype="<f8").tobytes())
    h.update(np.ascontiguousarray(ann.labels, dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(ann.relations, dtype="<i8").tobytes())
    return h.hexdigest()


def folder_digests(root: Path) -> dict[str, str]:
    """sha256 of every file's bytes; the HDF5 file by its datasets' contents (its bytes may differ
    between HDF5 library versions that store the same arrays)."""
    import h5py

    out = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(root).as_posix()
        if p.suffix == ".h5":
            h = hashlib.sha256()
            with h5py.File(p, "r") as f:
                for k in sorted(f):
                    a = f[k][:]
                    h.update(f"{k}:{a.dtype.str}:{a.shape}:".encode() + np.ascontiguousarray(a).tobytes())
            out[rel] = h.hexdigest()
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def current_render() -> dict[int, tuple[str, str]]:
    out = {}
    for seed in RENDER_SEEDS:
        img, ann = render_scene(seed)
        out[seed] = (image_digest(img), annotation_digest(ann))
    return out


def current_world_images() -> dict[tuple[int, int, str], tuple[str, str]]:
    out = {}
    for key in WORLD_IMAGES:
        img, ann = world_image(*key)
        out[key] = (image_digest(img), annotation_digest(ann))
    return out


def current_tiny_world(root: Path) -> dict[str, str]:
    generate_world(root, TINY[0], TINY[1], seed=TINY[2], workers=1)
    return folder_digests(root)


PINNED_RENDER: dict[int, tuple[str, str]] = {
    0: (
        "a13ed602efa24c38d4ebe52ee3cbea399c8fef82ad813ec0ab54e2f4b24cb0b4",
        "f9d1496208e19f4d8a9be64be2f9d9170f1bb33034abb979f53a38cfc99e984e",
    ),
    1: (
        "a3680c37289b54de4cd2bfc4b9c9ae32205bc2159bad0460ba6dc62c5351c256",
        "75af2c76045aeac8ed4a9306df687f60f4b314f50f7865fb4c40e199eb9e4fc9",
    ),
    2: (
        "55f8a39cfb1bdccda13d8692fd4bd1f050a4c4aacd35f6a7304860e15c2e6376",
        "58a19c8ba392df41850822e16288db17c7cbacae76848b9cb3dbcd2e40edbb1c",
    ),
    3: (
        "59a52527ddc0845207132a8010aab6a3f991655900a95bc111ad2b6a046679c5",
        "ca3213af5f9f67e6d677270c8db5f77fe5c536013b36b89637c2676bad0b821d",
    ),
    4: (
        "91fe3432edac56318db0f5528b84fc4434e3b1dc80e9a49a739c4fda13a19151",
        "27d1229818e4708d2fb1b35aac7340c2f66bd0a2d6f5204605ba3935d18c7a54",
    ),
    5: (
        "32312e6d8c452659798fa283b5aa308e45d79b9eb456015441eb384058f54536",
        "a3f97f2fdcc82bfc09a26de328cd0ee6b283d82cd15d3cdaf3abc5900b15217a",
    ),
    6: (
        "9ffc7020b4c0a54be9648571d94e1fb72e41e71d548cddbdcfb2e815b2f2503f",
        "edc5f8ddedc00349646542e35467c88c441e3f6e0bd972846cee16d20a30befb",
    ),
    7: (
        "b30bc8723616e8d632a6fda4c80e3bdcc6057d478e8b3c73b1ff787af247406c",
        "b7baa5c89bd21ddfea63cc60cff2a54772d7c00c1358159b4e3595028dd54c31",
    ),
    8: (
        "45ad8e2e32772b2e4f657ae3f11c837ef81f30909c52a9484f4ca041767b3b8f",
        "dcb2a7124634aa9185086c93667a0195d64aea21a2149e2a5d6310363144492b",
    ),
    10: (
        "7d2efe0030a99c029b0133ec0cf97b947312dcb520260e5f88fbd353a523a163",
        "bb99e391cd116abd952121f110a662d813a597f7a400970d972a26699fecd884",
    ),
    25: (
        "e453a0d4ead9de9463ac4656688f09f48f0b796d1e1b673cfcaca80bc8935bd1",
        "62a99bb909192fa70c2df8c17799a1df1df1ae21706a041f5cbbd440ed7cbf98",
    ),
    40: (
        "f3830f7b5a782aae9e29a2fb1dd48b039455d39b1bf85db955e7b755e14f4734",
        "b76486ee490d5f1446bdbc6829018869decad46a8a27d5015a055297414d306e",
    ),
}
PINNED_WORLD_IMAGES: dict[tuple[int, int, str], tuple[str, str]] = {
    (3, 0, "test"): (
        "9779ecc0005eb3015f7379fb88eb98c90420057f228b41b7ad13dbd696a776ef",
        "8022ffc23d0b3044ca4f397f034f5db4e42e382af683eaef597179d8f0b16551",
    ),
    (3, 0, "train"): (
        "9779ecc0005eb3015f7379fb88eb98c90420057f228b41b7ad13dbd696a776ef",
        "a02a83649e2e3509a8d480b1b764b8d1f9aac5a2f0e1cb89c6bcaf1335ae5ce8",
    ),
    (3, 1, "test"): (
        "d886adf653c2be5532b8054398f90565b4a9fb70e70477fc135bd7f890756a9d",
        "e7d50ac192b8ee5f3f2626599c8008e02beb540f5acd14d15e5a4e0904b179f6",
    ),
    (3, 1, "train"): (
        "f41b3fea2c6d374e4c8e2134e016e4443eed20aaec69d770e36fb250ac8d2c43",
        "21120a5a094af7e05018fb009eb4bee5b37369c2c3fca826ae555471c2bfacae",
    ),
    (3, 5, "train"): (
        "3eb695dfacc45c5a94fb5e037eace41b54eb20e5f6fefaab07f45f5d51459f5c",
        "f135577537e5a84413228c46c1c435342f9d82cd29057798682494e799bcaa93",
    ),
}
PINNED_TINY_WORLD: dict[str, str] = {
    "VG-SGG-dicts.json": "bfcf11e15f3489cedd4eccb5312fec9b89a7e31b85c49e127d322adc1d85cbef",
    "VG-SGG.h5": "62be368ca5828d82b3d9ae277f90ecaad52a7d9e399e1570e0f6d2a6be98f0c9",
    "VG_100K/1.jpg": "09281d14b2fe4a7bd3c97af18cc278c94fa0744fb1dda53f996ee45ec9be16c0",
    "VG_100K/2.jpg": "44edf1bc570e58c37800da61547b2835a47f9bdedd3eaa2d54bc9659d58e1f5b",
    "VG_100K/3.jpg": "b85b36f5444f855a526d2b3fdf001dacf5f456da629c894e5265346b769719ce",
    "VG_100K/4.jpg": "527c1ebf2cd6694123f8514168d1cb73fb952ae5a311d91497a4cf4f259bc18a",
    "VG_100K/5.jpg": "546abdfbf9f76b9c27e11ddc754b3b63f67a658ac195d61b4070e5dc190acb53",
    "VG_100K/6.jpg": "21ad8330f9d71bb26d36f66b219c7e3d30de1775b8412b070602c81dcad65778",
    "VG_100K/7.jpg": "621d1244f0012a1b93e234e462e74a306382d514f664dd8363f0937e2c4020d2",
    "VG_100K/8.jpg": "662cc5c9909d4e0accc04a26251e306a16578bf4266f5954620a47f913845584",
    "VG_100K/9.jpg": "7a7782c61404f2ea35e3b1e9e232c20dd8c75d59c1f87513f35eb89c22344c98",
    "image_data.json": "9b7d9888a5520ec5878804baf855f2db6df73c183aa22a5a398d4ae67e8e6ff9",
    "world.json": "abb149775def25f0e8e3d7c601fe58175b20bddc3881a354bfdabae8eee5aab2",
    "zeroshot_triplets.json": "e0ff2e69945b2a527e1411151a7cd9239a5381540b3025b5c0f364e656912fc4",
}


@pytest.mark.parametrize("seed", RENDER_SEEDS)
def test_render_scene_is_pinned(seed: int) -> None:
    img, ann = render_scene(seed)
    assert (image_digest(img), annotation_digest(ann)) == PINNED_RENDER[seed]


def test_world_image_is_pinned() -> None:
    assert current_world_images() == PINNED_WORLD_IMAGES


def test_generated_world_is_pinned(tmp_path: Path) -> None:
    assert current_tiny_world(tmp_path / "w") == PINNED_TINY_WORLD


def test_digests_see_a_change() -> None:
    """The digests are sensitive: one pixel or one relation changed gives another digest."""
    img, ann = render_scene(RENDER_SEEDS[0])
    other = img.copy()
    other.putpixel((0, 0), tuple(255 - v for v in img.getpixel((0, 0))))
    assert image_digest(other) != image_digest(img)
    ann2 = SceneAnnotation(
        image_id=ann.image_id,
        width=ann.width,
        height=ann.height,
        boxes=ann.boxes,
        labels=ann.labels,
        relations=ann.relations[:-1],
        template=ann.template,
    )
    assert annotation_digest(ann2) != annotation_digest(ann)


if __name__ == "__main__":  # print the digests of the current code (to record them deliberately)
    import pprint
    import tempfile

    print("PINNED_RENDER = ", end="")
    pprint.pprint(current_render(), width=130)
    print("PINNED_WORLD_IMAGES = ", end="")
    pprint.pprint(current_world_images(), width=130)
    with tempfile.TemporaryDirectory() as d:
        print("PINNED_TINY_WORLD = ", end="")
        pprint.pprint(current_tiny_world(Path(d) / "w"), width=130)
    sys.exit(0)
