import json

import pytest

from nodis.errors import InputError
from nodis.evaluate import dataset_zeroshot, evaluate_model, evaluate_predictions
from nodis.train import build_model, train_preset
from tests.helpers import make_toy_dataset


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_dataset(tmp_path_factory.mktemp("toy_eval"), n_train=6, n_test=4)


def test_evaluate_model_all_modes_and_times(toy):
    model = build_model(train_preset("demo", data=str(toy)))
    res = evaluate_model(model, toy, "predcls", times=[0.0, 1.5])
    assert res["num_images"] == 4 and 0.0 <= res["R@50"] <= 1.0
    assert set(res["by_t"]) == {"0", "1.5"}
    assert set(res["by_t"]["0"]) == {"R@20", "R@50", "R@100", "obj_acc", "obj_conf"}
    assert all(0.0 <= v <= 1.0 for r in res["by_t"].values() for v in r.values())
    # predcls with every pair ranked: R@100 covers all pairs of these small images, so only the
    # predicate decides; the untrained model cannot be perfect but the evaluator must count images
    sg = evaluate_model(model, toy, "sgcls", limit=2)
    assert sg["num_images"] == 2
    assert isinstance(dataset_zeroshot(toy), set)


def test_evaluate_saved_predictions_matches_model_run(toy, tmp_path):
    from nodis.data.vg import VGDataset

    model = build_model(train_preset("demo", data=str(toy)))
    ds = VGDataset(toy, "test")
    lines = []
    for i in range(len(ds)):
        s = ds[i]
        g = model.predict(s.image_path, mode="predcls", boxes=s.boxes, labels=s.labels).graph_at(1.5)
        lines.append(json.dumps(g.to_dict()))
    (tmp_path / "preds.jsonl").write_text("\n".join(lines))
    direct = evaluate_model(model, toy, "predcls", frame="image")  # the predictions above used the image frame
    saved = evaluate_predictions(tmp_path / "preds.jsonl", toy, "predcls")
    for k in ("R@20", "R@50", "R@100", "ngR@50", "mR@50"):
        assert saved[k] == pytest.approx(direct[k]), k
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(InputError):
        evaluate_predictions(tmp_path / "empty.jsonl", toy, "predcls")
