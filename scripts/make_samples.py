"""Copy a handful of test-split images with their ground truth into resources/samples/.

Ground truth is written as a Visual Genome ``scene_graphs.json`` beside the images (``image_id`` =
file stem), which ``nodis-viewer`` and ``nodis eval`` read.

    python scripts/make_samples.py --data data/world --count 6
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nodis.data.vg import VGDataset  # noqa: E402
from nodis.export import write_vg_scene_graphs  # noqa: E402
from nodis.graph import ObjectNode, Relation, SceneGraph  # noqa: E402


def gt_graph(sample, vocab) -> SceneGraph:
    objs = [ObjectNode(i, tuple(float(v) for v in b), int(c), vocab.classes[int(c)], 1.0)
            for i, (b, c) in enumerate(zip(sample.boxes, sample.labels))]
    rels = [Relation(int(s), int(o), int(p), vocab.predicates[int(p)], 1.0, 1.0) for s, o, p in sample.relations]
    return SceneGraph(objs, rels, (sample.width, sample.height), "predcls", image=sample.image_path.name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "data" / "world"))
    ap.add_argument("--out", default=str(ROOT / "resources" / "samples"))
    ap.add_argument("--count", type=int, default=6)
    ap.add_argument("--min-objects", type=int, default=5)
    args = ap.parse_args(argv)
    ds = VGDataset(args.data, "test")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(len(ds)):
        s = ds[i]
        if len(s.labels) >= args.min_objects and len(s.relations) >= 4:
            shutil.copyfile(s.image_path, out / s.image_path.name)
            items.append((s.image_id, gt_graph(s, ds.vocab)))
        if len(items) == args.count:
            break
    write_vg_scene_graphs(out / "scene_graphs.json", items)
    print(f"wrote {len(items)} samples to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
