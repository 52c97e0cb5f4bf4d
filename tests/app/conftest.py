"""Fixtures for the viewer tests: offscreen Qt, settings in a temp folder, a small fast model."""
import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("NODIS_VIEWER_QUIET", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _pyside_refcount_fix(qapp):
    """Compensate the PySide6 6.12 reference-count bug for the whole session (see app/qtfix.py)."""
    from nodis_viewer import qtfix
    from nodis_viewer.main import apply_palette

    qtfix.install()
    apply_palette(qapp, "dark")  # the style and palette nodis-viewer runs with
    yield


@pytest.fixture(autouse=True)
def _gc_on_the_gui_thread(qapp):
    """After each test, forget its windows' hold on the collector (app/gui_gc.py): a final
    collection on this (the GUI) thread, then automatic collection again for the tests without Qt."""
    yield
    from nodis_viewer import gui_gc

    gui_gc.reset()


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory, monkeypatch):
    """QSettings go to a fresh INI folder per test (labelme convention)."""
    from PySide6.QtCore import QSettings

    d = tmp_path_factory.mktemp("settings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(d))
    yield d


@pytest.fixture(scope="session")
def small_model():
    """A random-init demo model on the synthetic-world vocabulary with few proposals (fast on CPU)."""
    import torch

    import nodis
    from nodis.data.world import world_vocabulary
    from nodis.model import NODIS

    torch.manual_seed(0)
    v = world_vocabulary()
    cfg = nodis.preset("demo", num_classes=v.num_classes, num_predicates=v.num_predicates, rpn_post_nms=32,
                       max_objects=10, hidden_dim=64, roi_dim=256, feat_channels=64)
    m = NODIS(cfg, v).eval()
    m.weights_name = "random-init"
    return m


@pytest.fixture
def make_window(qtbot, small_model):
    """Factory for main windows using the small model; windows are closed at teardown."""
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
    from nodis_viewer.window import MainWindow

    made = []

    def make(wait_model: bool = True, resize: bool = True, **kw):
        kw.setdefault("model_factory", lambda weights, device: small_model)
        w = MainWindow(**kw)
        w.quiet = True
        qtbot.addWidget(w)
        if resize:
            w.resize(1400, 900)
        w.show()
        made.append(w)
        if wait_model:
            qtbot.waitUntil(lambda: w.engine.model is not None and w.state.vocab is not None, timeout=30000)
        return w

    yield make
    for w in made:
        if w.isVisible():
            w.close()
        else:
            w.engine.shutdown(3000)


def _noise_image(path: Path, w: int = 320, h: int = 240, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    arr = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    arr[40:120, 50:150] = (200, 30, 30)
    arr[100:200, 120:260] = (30, 30, 200)
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def noise_image(tmp_path):
    return _noise_image(tmp_path / "noise.png")


@pytest.fixture
def make_noise(tmp_path):
    def make(name: str, seed: int = 0, w: int = 320, h: int = 240) -> Path:
        return _noise_image(tmp_path / name, w, h, seed)

    return make


@pytest.fixture
def scene_with_gt(tmp_path):
    """A synthetic-world scene (JPEG) with its ground truth in a ``.gt.json`` sidecar (nodis JSON)."""
    from nodis.data.world import render_scene, world_vocabulary
    from nodis.graph import ObjectNode, Relation, SceneGraph

    img, ann = render_scene(31, 1)  # 5 objects, 4 relations: quick in every mode
    img = img.resize((img.width * 240 // img.height, 240))
    k = 240 / ann.height if hasattr(ann, "height") and ann.height else 1.0
    v = world_vocabulary()
    p = tmp_path / "scene.jpg"
    img.save(p, quality=90)
    objs = [ObjectNode(i, tuple(float(x) * k for x in b), int(lab), v.classes[int(lab)], 1.0)
            for i, (b, lab) in enumerate(zip(ann.boxes, ann.labels))]
    rels = [Relation(int(s), int(o), int(pr), v.predicates[int(pr)], 1.0, 1.0) for s, o, pr in ann.relations]
    (tmp_path / "scene.gt.json").write_text(SceneGraph(objs, rels, img.size).to_json())
    return p


def drop_paths(widget, paths):
    """Simulate dragging files/folders from a file manager and dropping them on ``widget``."""
    from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPoint(widget.width() // 2, widget.height() // 2)
    enter = QDragEnterEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return drop.isAccepted()


def wait_done(qtbot, window, entry=None, decoded: bool = True, timeout: int = 60000):
    """Wait until ``entry`` (default: current) is done and (optionally) every grid time is decoded."""
    def ok():
        e = entry or window.state.current
        if e is None or e.status != "done":
            return False
        if decoded:
            return e.progress[1] > 0 and e.progress[0] >= e.progress[1]
        return bool(e.graphs)

    qtbot.waitUntil(ok, timeout=timeout)
    return entry or window.state.current
