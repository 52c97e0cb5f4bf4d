"""The viewer says when the demo model looks at an image from outside its world (issue 13)."""
from __future__ import annotations

import copy
import shutil

import pytest


@pytest.fixture
def world_model(small_model):
    m = copy.deepcopy(small_model)
    m.weights_name = "nodis-demo"  # a trained model of the world, as the shipped one
    return m


def test_status_bar_and_about_name_the_demo_model_on_foreign_images(qtbot, make_window, world_model, noise_image,
                                                                   tmp_path):
    from nodis_viewer.dialogs import AboutDialog

    from nodis.assets import samples_dir

    sample = tmp_path / "copied_sample.jpg"  # a bundled sample, copied elsewhere: still from the world
    shutil.copyfile(sorted(samples_dir().glob("*.jpg"))[0], sample)
    w = make_window(model_factory=lambda weights, device: world_model)
    w.open_paths([noise_image, sample])
    qtbot.waitUntil(lambda: w.state.current is not None, timeout=10000)
    by_name = {e.path.name: e for e in w.state.entries}
    w.state.set_current(by_name["noise.png"].eid)
    qtbot.waitUntil(lambda: w.demo_notice.active, timeout=10000)  # checked on an I/O thread
    assert w.demo_notice.label.isVisibleTo(w)
    assert "not from its world" in w.demo_notice.label.text()
    assert "official NODIS checkpoint" in w.demo_notice.label.toolTip()
    assert w.demo_notice.label.text() == "nodis-demo: demo model, this image is not from its world"
    w.state.set_current(by_name["copied_sample.jpg"].eid)
    qtbot.waitUntil(lambda: not w.demo_notice.checking, timeout=10000)
    assert not w.demo_notice.active and not w.demo_notice.label.isVisibleTo(w)
    about = AboutDialog("nodis-demo", "cpu", None, w, demo_note=w.demo_notice.about_text())
    text = about.text.toPlainText()
    assert "This is a demo model" in text and "github.com/yrcong/NODIS" in text
    assert "on images that are not from that world" in text and "this image is" not in text  # general wording


def test_no_notice_for_models_that_are_not_demo_models(qtbot, make_window, noise_image):
    w = make_window()  # the random-init test model: it has its own warning, not the demo note
    w.open_paths([noise_image])
    qtbot.waitUntil(lambda: w.state.current is not None, timeout=10000)
    assert not w.demo_notice.active and not w.demo_notice.label.isVisibleTo(w)
    assert w.demo_notice.about_text() == ""


def test_a_missing_demo_model_is_reported_never_replaced_by_a_random_one(qtbot, make_window, monkeypatch):
    from nodis import assets

    monkeypatch.setattr(assets, "demo_weights", lambda: None)
    w = make_window(wait_model=False, model_factory=None)  # the viewer's own loader
    qtbot.waitUntil(lambda: bool(w.last_error), timeout=30000)
    assert "missing from this install" in w.last_error and w.engine.model is None


def test_the_world_check_reads_the_file_on_an_io_thread_never_the_gui_thread(qtbot, make_window, world_model,
                                                                            noise_image, make_noise, monkeypatch):
    """Hashing a (big) file must not block the window: the check runs on the I/O threads, the notice
    appears when its answer arrives, and a late answer for another image changes nothing."""
    import threading

    from nodis_viewer import demo_notice

    release = threading.Event()
    calls = []

    def slow_check(path):  # stands in for hashing a large file
        calls.append((path.name, threading.current_thread().name))
        release.wait(20)
        return False

    monkeypatch.setattr(demo_notice, "is_world_image", slow_check)
    other = make_noise("other.png", seed=3)
    w = make_window(model_factory=lambda weights, device: world_model)
    w.open_paths([noise_image, other])
    qtbot.waitUntil(lambda: len(w.state.entries) == 2 and w.state.current is not None, timeout=10000)
    by_name = {e.path.name: e for e in w.state.entries}
    w.state.set_current(by_name["noise.png"].eid)  # returns at once although the check is blocked
    qtbot.waitUntil(lambda: ("noise.png" in {c[0] for c in calls}), timeout=5000)
    assert not release.is_set()
    assert all(t.startswith("nodis-viewer-io") for _, t in calls), calls  # never the GUI thread
    assert w.demo_notice.checking and not w.demo_notice.active  # unknown yet: no notice
    assert not w.demo_notice.label.isVisibleTo(w)
    w.state.set_current(by_name["other.png"].eid)
    release.set()
    qtbot.waitUntil(lambda: not w.demo_notice.checking, timeout=10000)
    assert w.demo_notice.active and w.demo_notice.label.isVisibleTo(w)
    n = len(calls)
    w.state.set_current(by_name["noise.png"].eid)  # known now: shown at once, not checked again
    assert w.demo_notice.active and w.demo_notice.label.isVisibleTo(w) and len(calls) == n
