#!/usr/bin/env python
"""Screenshots of the history plot and the state-space view (issue 16) into docs/screenshots/.

    python scripts/screenshots_history.py [--data data/world] [--weights PATH] [--out docs/screenshots]

A look-alike resolved by context, from the world's test split (``nodis world data/world``), with the
shipped model: image 4134, a rider whose helmet the object ODE calls ``hat`` at t = 0 and ``helmet``
from t = 0.45 on (SGCls, ground-truth boxes), and image 4135, a person it calls ``man`` at t = 0 and
``woman`` from t = 0.8 on. Each image is copied to a temporary folder with its ground truth as a ``.gt.json``
sidecar, opened in the viewer (offscreen), and the object selected. Writes:

* ``history.png``        the main window at t = 0.2: the box still says "hat"; the Selection tab shows
                         helmet overtaking hat at t = 0.45; the state-space view (decoder plane helmet
                         / hat) shows the path crossing the decision boundary;
* ``history_panel.png``  the time panel alone (same moment);
* ``state_space.png``    the state-space view alone, same moment;
* ``history_people.png`` image 4135, the person selected, at t_end (man → woman).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = [  # image id, GT object index, the two classes of the decoder plane, t of the shot
    (4134, 14, ("helmet", "hat"), 0.2),
    (4135, 13, ("woman", "man"), None),
]


def sidecar(data: str, image_id: int, folder: Path) -> Path:
    """Copy the test image ``image_id`` into ``folder`` with a ``.gt.json`` ground-truth sidecar."""
    from nodis.data.vg import VGDataset
    from nodis.graph import ObjectNode, Relation, SceneGraph

    ds = VGDataset(data, "test", filter_duplicate_rels=False)
    s = next(x for x in (ds[i] for i in range(len(ds))) if int(x.image_id) == image_id)
    v = ds.vocab
    dst = folder / Path(s.image_path).name
    shutil.copyfile(s.image_path, dst)
    from PIL import Image

    size = Image.open(dst).size
    objs = [ObjectNode(i, tuple(float(x) for x in b), int(lab), v.classes[int(lab)], 1.0)
            for i, (b, lab) in enumerate(zip(s.boxes, s.labels))]
    rels = [Relation(int(a), int(b), int(p), v.predicates[int(p)], 1.0, 1.0) for a, b, p in s.relations]
    (folder / f"{dst.stem}.gt.json").write_text(SceneGraph(objs, rels, size, image=dst.name).to_json())
    return dst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(ROOT / "data" / "world"))
    ap.add_argument("--weights", default=None, help="checkpoint (default: the shipped demo model)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--size", default="1600x1000")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["NODIS_VIEWER_QUIET"] = "1"

    from PySide6.QtCore import QCoreApplication, QSettings, Qt
    from PySide6.QtWidgets import QApplication

    tmp = Path(tempfile.mkdtemp(prefix="nodis-history-shots-"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    QCoreApplication.setOrganizationName("nodis")
    QCoreApplication.setApplicationName("nodis-viewer")
    app = QApplication(sys.argv[:1])
    from nodis_viewer import qtfix
    from nodis_viewer.main import apply_dark_palette

    qtfix.install()
    apply_dark_palette(app)
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
    from viewer_driver import Driver, open_window

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    images = []
    world = Path(args.data) / "world.json"  # the copies stay recognisable as world images (no demo notice)
    if world.exists():
        shutil.copyfile(world, tmp / "world.json")
    for iid, *_ in CASES:
        d = tmp / str(iid)
        d.mkdir()
        images.append(sidecar(args.data, iid, d))
    win = open_window(args.weights, args.size)
    drv = Driver(app, win, out, settle=0.5)
    pump, wait, shot = drv.pump, drv.wait, drv.shot

    wait(lambda: win.engine.model is not None and win.state.vocab is not None, "the model")
    win.state.set_mode("sgcls")
    win.act_gt.setChecked(False)
    win.open_paths(images)
    win.resizeDocks([win.time_dock], [int(win.height() * 0.36)], Qt.Orientation.Vertical)
    for (iid, obj, (a, b), t), image in zip(CASES, images):
        e = next(x for x in win.state.entries if x.path.name == image.name)
        win.state.set_current(e.eid)
        wait(lambda e=e: e.status == "done" and e.progress[1] and e.progress[0] >= e.progress[1], f"inference on {image.name}")
        wait(lambda: win.traj_data.current() is not None and win.traj_data.current().decoded, "the histories")
        win.time_panel.jump_to_end()
        win.relayout()
        win.state.select(objects=[obj])
        win.space_dock.raise_()
        sv = win.state_space
        sv.proj_combo.setCurrentIndex(1)  # decoder plane
        pump(0.3)
        classes = list(win.state.vocab.classes)
        sv.a_combo.setCurrentIndex(classes.index(a) - 1)
        sv.b_combo.setCurrentIndex(classes.index(b) - 1)
        if t is not None:
            win.state.set_time(t)
        wait(lambda: win.state.raw_graph() is not None, "the graph", 120)
        if iid == CASES[0][0]:
            shot("history.png")
            shot("history_panel.png", win.time_panel)
            shot("state_space.png", sv)
        else:
            shot("history_people.png")
    win.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
