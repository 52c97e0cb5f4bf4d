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
    assert w.demo_notice.active and w.demo_notice.label.isVisibleTo(w)
    assert "not from its world" in w.demo_notice.label.text()
    assert "official NODIS checkpoint" in w.demo_notice.label.toolTip()
    assert w.demo_notice.label.text() == "nodis-demo: demo model, this image is not from its world"
    w.state.set_current(by_name["copied_sample.jpg"].eid)
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
