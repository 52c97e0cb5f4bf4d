#!/usr/bin/env python
"""Render nodis-viewer screenshots offscreen into docs/screenshots/ (for the README and docs/viewer.md).

    python scripts/screenshots.py [--weights PATH] [--out docs/screenshots] [--size 1600x1000]

Opens the sample images (resources/samples, which carry Visual Genome ground truth), waits for
inference and the decoding of every ODE time, and grabs the main window in a few states:

* ``main.png``      the first view with the default settings: SGDet at t_end, boxes and nodes
                    coloured per object;
* ``hover.png``     the pointer on a node: its box, node and table rows highlighted;
* ``gt.png``        the same with ground-truth colouring (rings: green correct, red wrong; orange missed);
* ``time.png``      t = 0.5: what changed relative to t_end is outlined in amber, R@K in the plot;
* ``unlinked.png``  object ODE at t_end, predicate ODE at t = 0.3 (unlinked sliders);
* ``predcls.png``   PredCls on the ground-truth boxes (editable box handles);
* ``graph.png``     the scene-graph panel alone;
* ``small-light.png`` a 1280 x 720 window in the light theme.

Settings are kept in a temporary folder, so your own viewer settings are not touched.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=None, help="checkpoint (default: the shipped demo model)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--size", default="1600x1000")
    ap.add_argument("--images", nargs="*", default=[str(ROOT / "resources" / "samples")])
    ap.add_argument("--pick", default="4003.jpg", help="file name of the image to show")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["NODIS_VIEWER_QUIET"] = "1"

    from PySide6.QtCore import QCoreApplication, QSettings
    from PySide6.QtWidgets import QApplication

    tmp = tempfile.mkdtemp(prefix="nodis-viewer-shots-")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
    QCoreApplication.setOrganizationName("nodis")
    QCoreApplication.setApplicationName("nodis-viewer")
    app = QApplication(sys.argv[:1])
    from nodis_viewer import qtfix
    from nodis_viewer.main import apply_palette

    qtfix.install()
    apply_palette(app, "dark")
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
    from viewer_driver import Driver, open_window

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    win = open_window(args.weights, args.size)
    drv = Driver(app, win, out, settle=0.4)
    wait, shot = drv.wait, drv.shot

    wait(lambda: win.engine.model is not None, "the model")
    win.open_paths(args.images)
    wait(lambda: win.state.entries and win.io.pending() == 0, "the image list")  # folders are listed on a thread
    target = next((e for e in win.state.entries if e.name == args.pick), win.state.entries[0])
    win.state.set_current(target.eid)
    wait(lambda: target.status == "done" and target.progress[1] and target.progress[0] >= target.progress[1],
         "inference on " + target.name)
    wait(lambda: all(e.status in ("done", "failed") for e in win.state.entries), "every image's result")
    win.time_panel.jump_to_end()
    shot("main.png")  # the first view: the defaults, nothing clicked
    shot("graph.png", win.graph_panel)
    g = win.current_display_graph()
    if g is not None and g.relations:  # hovering a node: its box, its node and its rows light up
        win.state.set_hovered([g.relations[0].subject])
        shot("hover.png")
        win.state.set_hovered([])
    win.act_gt.setChecked(True)
    shot("gt.png")
    win.act_gt.setChecked(False)
    win.state.set_time(0.5)
    shot("time.png")
    win.state.set_linked(False)
    win.state.set_time_index(gi_obj=win.state.index_of(target.t_end), gi_rel=win.state.index_of(0.3))
    wait(lambda: win.state.raw_graph() is not None, "the unlinked graph", 120)
    shot("unlinked.png")
    win.state.set_linked(True)
    win.time_panel.jump_to_end()
    win.state.set_mode("predcls")
    wait(lambda: target.status == "done" and target.mode == "predcls" and target.progress[1]
         and target.progress[0] >= target.progress[1], "PredCls", 300)
    win.time_panel.jump_to_end()
    shot("predcls.png")
    win.state.set_mode("sgdet")
    wait(lambda: target.status == "done" and target.result_mode == "sgdet", "SGDet again", 300)
    win.time_panel.jump_to_end()
    win.close()
    # a small screen (1280 x 720) in the light theme, as a new window would open
    apply_palette(app, "light")
    QSettings().clear()  # a first start: no saved window layout
    small = open_window(args.weights, "1280x720")
    wait(lambda: small.engine.model is not None, "the model")
    small.open_paths([target.path])
    e = small.state.entries[0]
    wait(lambda: e.status == "done" and e.progress[1] and e.progress[0] >= e.progress[1], "the small window")
    small.time_panel.jump_to_end()
    win = drv.win = small
    shot("small-light.png")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
