"""``history`` / ``history-csv``: every object's and relation's probabilities over the grid (issue 16)."""
import csv
import io
import json

import numpy as np
import pytest

from nodis import export
from nodis.errors import ExportError, InputError
from nodis.predict import predict_paths
from nodis.trajectory import Histories
from tests.helpers import BOXES


@pytest.fixture(scope="module")
def traj(demo_model):
    from tests.helpers import make_image

    return demo_model.predict(make_image(), mode="sgcls", boxes=BOXES, times=[0.0, 0.5, 1.0, 1.5, 2.0])


def test_history_json_round_trip(traj, tmp_path):
    h = traj.histories()
    path = export.save_graph(traj.graph_at(), tmp_path / "a.history.json", trajectory=traj)
    assert export.format_from_path(path) == "history"
    doc = json.loads(path.read_text())
    assert doc["schema"] == "nodis.history/1" and doc["times"] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert len(doc["objects"]) == 4 and len(doc["relations"]) == 12
    back = export.read_histories(path)
    np.testing.assert_array_equal(back.object_ids, h.object_ids)
    np.testing.assert_array_equal(back.object_labels, h.object_labels)
    np.testing.assert_allclose(back.object_probs, h.object_probs, rtol=1e-5, atol=1e-12)
    np.testing.assert_array_equal(back.pairs, h.pairs)
    np.testing.assert_array_equal(back.relation_available, h.relation_available)
    np.testing.assert_array_equal(back.relation_ranks, h.relation_ranks)
    np.testing.assert_allclose(back.relation_probs, h.relation_probs, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(back.relation_scores, h.relation_scores, rtol=1e-5)
    o = doc["objects"][0]
    assert o["labels"][3] == traj.graph_at(1.5).object_by_index(o["index"]).label
    assert o["name_end"] == h.class_names[o["label_end"]]
    with pytest.raises(InputError, match="not a nodis history"):
        Histories.from_dict({"schema": "nodis.scene_graph/1"})


def test_history_csv_has_one_row_per_item_and_time(traj, tmp_path):
    path = export.save_graph(traj.graph_at(), tmp_path / "a.history.csv", trajectory=traj)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    h = traj.histories()
    G = len(traj.times)
    assert len(rows) == (len(h.object_ids) + len(h.pairs)) * G
    obj = [r for r in rows if r["kind"] == "object"]
    rel = [r for r in rows if r["kind"] == "relation"]
    assert len(obj) == 4 * G and len(rel) == 12 * G
    g = traj.graph_at(1.0)
    for o in g.objects:
        row = next(r for r in obj if int(r["index"]) == o.index and float(r["t"]) == 1.0)
        assert int(row["label"]) == o.label and row["name"] == o.name
        assert float(row["score"]) == pytest.approx(o.score, rel=1e-5)
        assert float(row[f"class:{o.name}"]) == pytest.approx(o.score, rel=1e-5)
        assert all(row[f"predicate:{n}"] == "" for n in h.predicate_names)
    best = g.relations[0]
    row = next(r for r in rel if (int(r["subject"]), int(r["object"])) == (best.subject, best.object)
               and float(r["t"]) == 1.0)
    assert row["rank"] == "1" and int(row["label"]) == best.predicate and row["name"] == best.name
    assert float(row[f"predicate:{best.name}"]) == pytest.approx(best.predicate_score, rel=1e-5)
    assert row["subject_name"] == g.object_by_index(best.subject).name


def test_history_csv_neutralises_formula_names(traj):
    h = traj.histories(t_obj=traj.t_end)
    h.class_names = ["__background__"] + ["=HYPERLINK(\"x\")"] * (len(h.class_names) - 1)
    h.predicate_names = ["__background__"] + ["@SUM(1)"] * (len(h.predicate_names) - 1)
    rows = list(csv.reader(io.StringIO(export.histories_csv(h))))
    header = rows[0]
    names = {r[header.index("name")] for r in rows[1:] if r[header.index("name")]}
    assert names and all(n.startswith("'") for n in names)
    assert {r[header.index("subject_name")] for r in rows[1:] if r[0] == "relation"} == {"'=HYPERLINK(\"x\")"}


def test_history_needs_a_trajectory(traj, tmp_path):
    with pytest.raises(ExportError, match="needs the model's trajectory"):
        export.save_graph(traj.graph_at(), tmp_path / "a.history.json")
    assert not (tmp_path / "a.history.json").exists()


def test_predict_writes_history_formats_with_top_k(demo_model, tmp_path):
    from tests.helpers import make_image

    make_image().save(tmp_path / "img.png")
    out = tmp_path / "out"
    s = predict_paths(demo_model, [tmp_path / "img.png"], out, formats="history,history-csv", times="0:1.5:0.5",
                      top_k=2)
    assert s.ok and s.done == 1
    h = export.read_histories(out / "img.history.json")
    assert h.times.tolist() == [0.0, 0.5, 1.0, 1.5]
    assert ((h.relation_ranks >= 1) & (h.relation_ranks <= 2)).any(0).all()  # each pair is top-2 at some time
    doc = json.loads((out / "img.json").read_text())
    assert {f"img.history{s}" for s in (".json", ".csv")} <= set(json.loads(
        (out / "index.jsonl").read_text().splitlines()[-1])["outputs"].values())
    best = doc["graphs"][-1]["relations"][0]
    k = int(np.nonzero((h.pairs[:, 0] == best["subject"]) & (h.pairs[:, 1] == best["object"]))[0][0])
    assert h.relation_ranks[3, k] == 1
