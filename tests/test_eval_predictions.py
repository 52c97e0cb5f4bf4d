"""nodis eval --predictions: every ground-truth image accounted for (missing refused or counted as
zero with --allow-missing, duplicates and corrupt files refused, a malformed line named), mR's
denominator from the dataset's vocabulary, relations without distributions offer only their own
predicate under ngR, and the default mode is the one the predictions record."""
import json

import numpy as np
import pytest

from nodis.cli import main
from nodis.data.vg import VGDataset
from nodis.errors import InputError
from nodis.evaluate import evaluate_predictions
from nodis.evaluation import Evaluator, GroundTruth, Prediction
from nodis.graph import ObjectNode, Relation, SceneGraph
from tests.helpers import make_toy_dataset


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_toy_dataset(tmp_path_factory.mktemp("toy_preds"), n_train=4, n_test=4)


def perfect_graphs(root, mode="predcls", names=True):
    """The ground truth of every test image written as predictions (relations without distributions)."""
    ds = VGDataset(root, "test", filter_duplicate_rels=False)
    v = ds.vocab
    out = []
    for s in ds:
        objs = [ObjectNode(k, tuple(float(x) for x in b), int(c), v.classes[c], 1.0)
                for k, (b, c) in enumerate(zip(s.boxes, s.labels))]
        rels = [Relation(int(a), int(b), int(p), v.predicates[p], 1.0, 1.0) for a, b, p in s.relations]
        out.append(SceneGraph(objs, rels, (s.width, s.height), mode=mode, image=f"VG_100K/{s.image_id}.jpg",
                              class_names=list(v.classes) if names else None,
                              predicate_names=list(v.predicates) if names else None))
    return out


def write_jsonl(path, graphs):
    path.write_text("".join(json.dumps(g.to_dict()) + "\n" for g in graphs))
    return path


def test_perfect_predictions_and_the_vocabulary_denominator(toy, tmp_path):
    graphs = perfect_graphs(toy, names=False)  # no vocabulary in the file: P comes from the dataset
    res = evaluate_predictions(write_jsonl(tmp_path / "p.jsonl", graphs), toy)
    assert res["mode"] == "predcls" and res["num_predicates"] == 4  # 3 toy predicates + background
    assert res["R@20"] == 1.0 and res["ngR@20"] == 1.0 and res["matched_images"] == 4
    present = {int(p) for g in graphs for p in (r.predicate for r in g.relations)}
    assert res["mR@20"] == pytest.approx(len(present) / 3)  # not len(present) / 50
    assert res["missing_images"] == 0 and res["ignored_images"] == 0


def test_missing_images_are_refused_or_counted_as_zero(toy, tmp_path, capsys):
    graphs = perfect_graphs(toy)
    path = write_jsonl(tmp_path / "half.jsonl", graphs[:2])
    with pytest.raises(InputError, match=r"2 of the 4 test images have no prediction: \d+\.jpg, \d+\.jpg; .*--allow-missing"):
        evaluate_predictions(path, toy)
    res = evaluate_predictions(path, toy, allow_missing=True)
    assert res["R@50"] == pytest.approx(0.5) and res["missing_images"] == 2 and res["matched_images"] == 2
    code = main(["eval", "--data", str(toy), "--predictions", str(path), "--allow-missing"])
    out = capsys.readouterr().out
    assert code == 0 and "2 images evaluated, 2 without a prediction counted as zero recall" in out
    assert " 50.00 " in out  # R@20 of PredCls
    code = main(["eval", "--data", str(toy), "--predictions", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "have no prediction" in err and err.count("\n") == 1


def test_duplicates_malformed_lines_and_outside_images(toy, tmp_path, capsys):
    graphs = perfect_graphs(toy)
    with pytest.raises(InputError, match=r"1 image\(s\) predicted more than once"):
        evaluate_predictions(write_jsonl(tmp_path / "dup.jsonl", graphs + graphs[:1]), toy)
    bad = tmp_path / "bad.jsonl"
    lines = [json.dumps(g.to_dict()) for g in graphs]
    lines.insert(2, '{"schema": "nodis.scene_graph/1", "objects": [')
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="bad.jsonl, line 3: not valid JSON"):
        evaluate_predictions(bad, toy)
    code = main(["eval", "--data", str(toy), "--predictions", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "line 3" in err and err.count("\n") == 1 and "Traceback" not in err
    for text, needle in (("[1, 2]", "line 1: not a nodis prediction"), ('"x"', "line 1: not a nodis"),
                         ("\xff", "line 1: not UTF-8 text")):
        (tmp_path / "one.jsonl").write_text(text + "\n", encoding="latin-1" if "\xff" in text else "utf-8")
        with pytest.raises(InputError, match=needle):
            evaluate_predictions(tmp_path / "one.jsonl", toy)
    # a prediction of an image outside the split is left out and counted
    extra = perfect_graphs(toy)[0]
    extra.image = "somewhere/999999.jpg"
    res = evaluate_predictions(write_jsonl(tmp_path / "extra.jsonl", graphs + [extra]), toy)
    assert res["ignored_images"] == 1 and res["R@20"] == 1.0


def test_corrupt_per_image_files_in_a_folder_are_refused(toy, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    for g in perfect_graphs(toy):
        (folder / f"{g.image.split('/')[-1][:-4]}.json").write_text(json.dumps(g.to_dict()))
    (folder / "scene_graphs.json").write_text("[]")  # run files and other formats are not predictions
    (folder / "1.nodelink.json").write_text("{}")
    assert evaluate_predictions(folder, toy)["R@20"] == 1.0
    first = sorted(p for p in folder.glob("*.json") if p.name[:-5].isdigit())[0]
    first.write_text('{"schema": "nodis.scene_graph/1", "objects": [tru')
    with pytest.raises(InputError, match=f"{first.name}: not valid JSON"):
        evaluate_predictions(folder, toy)
    first.write_text('{"hello": 1}')
    with pytest.raises(InputError, match=f"{first.name}: not a nodis prediction"):
        evaluate_predictions(folder, toy)


def test_predict_folder_with_index(toy, tmp_path):
    from nodis import export

    folder = tmp_path / "run"
    folder.mkdir()
    graphs = perfect_graphs(toy)
    for g in graphs:
        name = g.image.split("/")[-1][:-4]
        (folder / f"{name}.json").write_text(json.dumps(g.to_dict()))
        export.append_jsonl(folder / "index.jsonl", {"image": g.image, "resolved": f"/x/{name}.jpg", "name": name,
                                                     "status": "ok", "outputs": {"json": f"{name}.json"},
                                                     "finished": "2026-01-01T00:00:00Z"})
    assert evaluate_predictions(folder, toy)["matched_images"] == 4
    (folder / f"{graphs[1].image.split('/')[-1][:-4]}.json").unlink()
    with pytest.raises(InputError, match="listed as done .* but missing"):
        evaluate_predictions(folder, toy)


def test_vocabulary_mismatch_is_refused(toy, tmp_path):
    from nodis.vocab import vg150

    graphs = perfect_graphs(toy)
    graphs[0].predicate_names = list(vg150().predicates)
    with pytest.raises(InputError, match="another predicate vocabulary"):
        evaluate_predictions(write_jsonl(tmp_path / "v.jsonl", graphs), toy)
    graphs = perfect_graphs(toy, names=False)
    graphs[1].relations[0].name = "riding"
    with pytest.raises(InputError, match="'riding' is not that predicate"):
        evaluate_predictions(write_jsonl(tmp_path / "w.jsonl", graphs), toy)
    graphs = perfect_graphs(toy, names=False)
    graphs[2].objects[0].label = 77
    with pytest.raises(InputError, match="class 77"):
        evaluate_predictions(write_jsonl(tmp_path / "x.jsonl", graphs), toy)


def test_default_mode_is_the_recorded_mode(toy, tmp_path, capsys):
    path = write_jsonl(tmp_path / "p.jsonl", perfect_graphs(toy, mode="sgcls"))
    assert evaluate_predictions(path, toy)["mode"] == "sgcls"
    with pytest.raises(InputError, match="made in sgcls, not sgdet"):
        evaluate_predictions(path, toy, "sgdet")
    code = main(["eval", "--data", str(toy), "--predictions", str(path), "--mode", "all"])
    assert code == 2 and "one mode" in capsys.readouterr().err
    code = main(["eval", "--data", str(toy), "--predictions", str(path)])
    out = capsys.readouterr().out
    assert code == 0 and "SGCls" in out and "PredCls" not in out and "SGDet" not in out
    mixed = perfect_graphs(toy)
    mixed[0].mode = "sgdet"
    with pytest.raises(InputError, match="mix modes"):
        evaluate_predictions(write_jsonl(tmp_path / "m.jsonl", mixed), toy)


def test_relation_without_distribution_offers_only_its_predicate_under_ngr():
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    gt = GroundTruth(boxes, [1, 2], [[0, 1, 2]])
    objs = [ObjectNode(0, (0, 0, 10, 10), 1, "a", 1.0), ObjectNode(1, (20, 20, 30, 30), 2, "b", 1.0)]
    without = SceneGraph(objs, [Relation(0, 1, 1, "on", 0.9, 0.9)], (40, 40))
    ev = Evaluator(4)
    ev.add(gt, Prediction.from_graph(without, 4).in_mode("sgdet", gt))
    s = ev.summary()
    assert s["R@100"] == 0.0 and s["ngR@100"] == 0.0  # predicate 2 was never predicted
    # with a distribution, the other predicates are candidates (as in the original evaluation)
    with_dist = SceneGraph(objs, [Relation(0, 1, 1, "on", 0.9, 0.9, [0.05, 0.9, 0.05, 0.0])], (40, 40))
    ev = Evaluator(4)
    ev.add(gt, Prediction.from_graph(with_dist, 4).in_mode("sgdet", gt))
    assert ev.summary()["ngR@100"] == 1.0
