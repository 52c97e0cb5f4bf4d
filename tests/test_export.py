"""Every output format round-trips or validates; writes are atomic."""
from __future__ import annotations

import csv
import errno
import json
import os
from pathlib import Path

import networkx as nx
import pytest
from PIL import Image

from nodis import export
from nodis.errors import ExportError, InputError
from nodis.export import FORMATS, example_scene_graph, save_graph
from nodis.graph import SCHEMA, ObjectNode, SceneGraph


@pytest.fixture
def graph() -> SceneGraph:
    return example_scene_graph()


@pytest.fixture
def image() -> Image.Image:
    return Image.new("RGB", (640, 480), (180, 190, 200))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ------------------------------------------------------------------------------------ registry
def test_registry_names_and_unique_suffixes():
    assert {"json", "vg", "sgb", "graphml", "nodelink", "png", "svg", "strip", "csv", "graph-png", "pdf"} <= set(FORMATS)
    suffixes = [spec.suffix for spec in FORMATS.values()]
    assert len(set(suffixes)) == len(suffixes)
    for name, spec in FORMATS.items():
        assert spec.description, name
        suffix, writer = spec  # a (suffix, writer) pair
        assert callable(writer)
        assert export.format_from_path(f"out/x{suffix}") == name


def test_format_inference_longest_suffix_and_errors():
    assert export.format_from_path("a/b.JSON") == "json"
    assert export.format_from_path("b.vg.json") == "vg"
    assert export.format_from_path("b.nodelink.json") == "nodelink"
    assert export.format_from_path("b.graph.png") == "graph-png"
    assert export.format_from_path("b.strip.png") == "strip"
    assert export.format_from_path("b.png") == "png"
    with pytest.raises(ExportError, match="cannot tell the format"):
        export.format_from_path("b.xyz")
    with pytest.raises(ExportError, match="unknown format"):
        save_graph(example_scene_graph(), "b.json", format="yaml")
    assert export.output_path("out/img1", "graph-png") == Path("out/img1.graph.png")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_writes_through_save_graph(fmt, graph, image, tmp_path):
    path = export.output_path(tmp_path / "img", fmt)
    if fmt in ("history", "history-csv"):  # over the grid: needs the trajectory (tests/test_history_format.py)
        with pytest.raises(ExportError, match="trajectory"):
            graph.save(path, format=fmt)
        assert not path.exists() and _leftovers(tmp_path) == []
        return
    kwargs = {"image": image} if fmt in ("png", "strip") else {}
    out = graph.save(path, format=fmt, **kwargs)
    assert out == path and path.exists()
    if path.is_file():
        assert path.stat().st_size > 0
    assert _leftovers(tmp_path) == []


# ----------------------------------------------------------------------------------- nodis JSON
def test_json_round_trip(graph, tmp_path):
    path = save_graph(graph, tmp_path / "g.json")
    back = SceneGraph.load(path)
    assert back == graph
    d = json.loads(path.read_text())
    assert d["schema"] == SCHEMA
    assert d["objects"][0]["box"] == list(graph.objects[0].box)
    assert path.read_text() == export.graph_to_json(graph)
    assert '"box": [212.4, 61.0, 371.6, 300.2]' in path.read_text()  # number lists stay on one line


def test_json_inline_lists_never_touch_strings(tmp_path):
    tricky = SceneGraph([ObjectNode(0, (0.0, 0.0, 1.0, 1.0), 1, "a[\n 1,\n 2\n]", 0.5)], [], (2, 2),
                        meta={"nested": [1, [2, 3]], "names": ["x", "y"], "empty": []})
    assert SceneGraph.load(save_graph(tricky, tmp_path / "t.json")) == tricky


def test_json_accepts_numpy_scalars(tmp_path):
    np = pytest.importorskip("numpy")
    g = SceneGraph([ObjectNode(0, (np.float32(1.5), 2.0, 3.0, 4.0), 1, "a", np.float64(0.5))], [], (10, 10))
    path = save_graph(g, tmp_path / "g.json")
    assert SceneGraph.load(path).objects[0].box == (1.5, 2.0, 3.0, 4.0)


# --------------------------------------------------------------------------------- networkx
def test_graphml_read_back_by_networkx(graph, tmp_path):
    path = save_graph(graph, tmp_path / "g.graphml")
    G = export.read_graphml(path)
    ref = graph.to_networkx()
    assert isinstance(G, nx.MultiDiGraph)
    assert sorted(G.nodes) == sorted(ref.nodes)
    for n, attrs in ref.nodes(data=True):
        for key, value in attrs.items():
            assert G.nodes[n][key] == pytest.approx(value) if isinstance(value, float) else G.nodes[n][key] == value
    assert G.number_of_edges() == len(graph.relations)
    edges = sorted(G.edges(data=True), key=lambda e: e[2]["rank"])
    for (u, v, a), r in zip(edges, graph.relations):
        assert (u, v) == (r.subject, r.object)
        assert a["name"] == r.name and a["predicate"] == r.predicate
        assert a["score"] == pytest.approx(r.score)
    assert G.graph["width"] == 640 and G.graph["mode"] == "sgdet"


def test_node_link_read_back(graph, tmp_path):
    path = save_graph(graph, tmp_path / "g.nodelink.json")
    data = json.loads(path.read_text())
    assert "edges" in data and "links" not in data
    G = export.read_node_link(path)
    ref = graph.to_networkx()
    assert dict(G.nodes(data=True)) == dict(ref.nodes(data=True))
    assert sorted(G.edges(keys=True, data=True), key=repr) == sorted(ref.edges(keys=True, data=True), key=repr)
    assert G.is_directed() and G.is_multigraph()


# ------------------------------------------------------------------------------ Visual Genome
def test_vg_fields_and_box_convention(graph, tmp_path):
    entry = export.to_vg_scene_graph(graph, 7)
    assert entry["image_id"] == 7
    assert len(entry["objects"]) == len(graph.objects)
    man = entry["objects"][0]
    assert set(man) == {"object_id", "x", "y", "w", "h", "names", "synsets"}
    # man box (212.4, 61.0, 371.6, 300.2) -> x=212, y=61, w=round(159.2)=159, h=round(239.2)=239
    assert (man["x"], man["y"], man["w"], man["h"]) == (212, 61, 159, 239)
    assert man["names"] == ["man"] and man["synsets"] == []
    for o, ob in zip(entry["objects"], graph.objects):
        for v in (o["x"], o["y"], o["w"], o["h"]):
            assert isinstance(v, int)
        assert abs(o["x"] + o["w"] - ob.box[2]) <= 1 and abs(o["y"] + o["h"] - ob.box[3]) <= 1
    ids = {o["object_id"]: o["names"][0] for o in entry["objects"]}
    for rel, r in zip(entry["relationships"], graph.relations):
        assert set(rel) == {"relationship_id", "predicate", "synsets", "subject_id", "object_id"}
        assert rel["predicate"] == r.name
        assert ids[rel["subject_id"]] == graph.object_by_index(r.subject).name
        assert ids[rel["object_id"]] == graph.object_by_index(r.object).name


def test_vg_file_ids_unique_and_validated(graph, tmp_path):
    other = graph.filtered(top_k=2)
    path = export.write_vg_scene_graphs(tmp_path / "scene_graphs.json", [(1, graph), (2, other)])
    data = export.read_vg_scene_graphs(path)
    assert [d["image_id"] for d in data] == [1, 2]
    obj_ids = [o["object_id"] for d in data for o in d["objects"]]
    rel_ids = [r["relationship_id"] for d in data for r in d["relationships"]]
    assert len(set(obj_ids)) == len(obj_ids) and len(set(rel_ids)) == len(rel_ids)
    with pytest.raises(ExportError, match="appears twice"):
        export.write_vg_scene_graphs(tmp_path / "x.json", [(1, graph), (1, graph)])


def test_vg_batch_names_its_images(graph, tmp_path):
    """Entries of a batch scene_graphs.json name their image file, and Visual Genome style integer
    file names give the image ids, so entries can be matched to images (and read back as ground truth)."""
    import copy

    gs = [copy.deepcopy(graph) for _ in range(3)]
    for g, name in zip(gs, ("/data/vg/2343.jpg", "/data/vg/17.jpg", "/data/vg/998.png")):
        g.image = name
    (path,) = export.save_batch(gs, tmp_path / "a", "vg")
    data = export.read_vg_scene_graphs(path)
    assert [(d["image_id"], d["image"]) for d in data] == [(2343, "2343.jpg"), (17, "17.jpg"), (998, "998.png")]
    gs[1].image = "photo.jpg"  # not every stem is an integer: ids count 1..n, the names still match
    (path,) = export.save_batch(gs, tmp_path / "b", "vg")
    data = export.read_vg_scene_graphs(path)
    assert [(d["image_id"], d["image"]) for d in data] == [(1, "2343.jpg"), (2, "photo.jpg"), (3, "998.png")]
    assert export.vg_image_ids(["1.jpg", "01.png"]) == [1, 2]  # equal integer stems: positions


@pytest.mark.parametrize("break_it, message", [
    (lambda d: d[0]["objects"][0].pop("w"), "missing field 'w'"),
    (lambda d: d[0]["objects"][0].__setitem__("x", 1.5), "must be int"),
    (lambda d: d[0]["relationships"][0].__setitem__("subject_id", 999999), "not an object"),
    (lambda d: d[0].pop("image_id"), "image_id"),
])
def test_vg_reader_rejects_malformed(graph, tmp_path, break_it, message):
    data = [export.to_vg_scene_graph(graph, 1)]
    break_it(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=message):
        export.read_vg_scene_graphs(path)


def test_vg_reader_accepts_single_name(tmp_path):
    path = tmp_path / "sg.json"
    path.write_text(json.dumps({"image_id": 3, "objects": [{"object_id": 1, "x": 0, "y": 0, "w": 5, "h": 5,
                                                           "name": "man"}], "relationships": []}))
    data = export.read_vg_scene_graphs(path)
    assert data[0]["objects"][0]["names"] == ["man"]


def test_vg_to_ground_truth(graph, tmp_path):
    path = export.write_vg_scene_graphs(tmp_path / "sg.json", [(1, graph)])
    entry = export.read_vg_scene_graphs(path)[0]
    gt = export.vg_to_ground_truth(entry, graph.class_names, graph.predicate_names)
    assert gt.boxes.shape == (5, 4) and list(gt.labels) == [o.label for o in graph.objects]
    assert gt.boxes[0].tolist() == [212, 61, 371, 300]
    assert gt.relations.tolist() == [[r.subject, r.object, r.predicate] for r in graph.relations]
    entry["objects"][0]["names"] = ["unicorn"]
    with pytest.raises(InputError, match="unicorn"):
        export.vg_to_ground_truth(entry, graph.class_names, graph.predicate_names)
    lenient = export.vg_to_ground_truth(entry, graph.class_names, graph.predicate_names, strict=False)
    assert len(lenient.boxes) == 4  # the man is dropped, and with him 4 of the 5 relations
    assert lenient.relations.tolist() == [[0, 3, graph.predicate_names.index("in front of")]]


# ------------------------------------------------------------------------ Scene-Graph-Benchmark
def test_sgb_fields_sorting_and_shapes(graph, tmp_path):
    # shuffle object scores so the sorted order differs from the index order
    graph.objects[4].score = 0.99
    paths = export.write_sgb(tmp_path / "sgb", [graph, graph.filtered(top_k=1)], ["a.jpg", "b.jpg"])
    assert [p.name for p in paths] == ["custom_prediction.json", "custom_data_info.json"]
    pred, info = export.read_sgb(tmp_path / "sgb")
    assert set(pred) == {"0", "1"}
    assert info == {"idx_to_files": ["a.jpg", "b.jpg"], "ind_to_classes": graph.class_names,
                    "ind_to_predicates": graph.predicate_names}
    p = pred["0"]
    assert set(p) == {"bbox", "bbox_labels", "bbox_scores", "rel_pairs", "rel_labels", "rel_scores", "rel_all_scores"}
    assert p["bbox_scores"] == sorted(p["bbox_scores"], reverse=True)
    assert p["bbox_labels"][0] == graph.objects[4].label and p["bbox"][0] == list(graph.objects[4].box)
    assert p["rel_scores"] == sorted(p["rel_scores"], reverse=True)
    assert len(p["rel_pairs"]) == len(p["rel_labels"]) == len(p["rel_scores"]) == len(graph.relations)
    # pairs index the sorted boxes: look the subject/object boxes up again
    box_to_index = {tuple(o.box): o.index for o in graph.objects}
    rels = {(r.subject, r.object, r.predicate): r for r in graph.relations}
    for (s, o), lab, score, dist in zip(p["rel_pairs"], p["rel_labels"], p["rel_scores"], p["rel_all_scores"]):
        r = rels[(box_to_index[tuple(p["bbox"][s])], box_to_index[tuple(p["bbox"][o])], lab)]
        assert score == pytest.approx(r.predicate_score)
        assert len(dist) == 51
        assert dist[lab] == pytest.approx(score)
        assert max(dist[1:]) == pytest.approx(score)  # the max non-background probability
        if r.predicate_scores is not None:
            assert dist == pytest.approx(r.predicate_scores) and dist[0] > 0  # background column kept
        else:
            assert sum(dist) == pytest.approx(score)  # filled: the predicate score at its index
    assert len(pred["1"]["rel_pairs"]) == 1


def test_sgb_without_vocabulary_and_mismatch(graph, tmp_path):
    g = example_scene_graph()
    g.class_names = g.predicate_names = None
    export.write_sgb(tmp_path / "s", [g])
    _, info = export.read_sgb(tmp_path / "s")
    assert info["ind_to_classes"][0] == "__background__"
    assert info["ind_to_classes"][g.objects[0].label] == "man"
    assert info["ind_to_predicates"][g.relations[0].predicate] == g.relations[0].name
    other = example_scene_graph()
    other.class_names = ["__background__", "x"]
    with pytest.raises(ExportError, match="different class vocabularies"):
        export.write_sgb(tmp_path / "t", [graph, other])


# ------------------------------------------------------------------------------------------ CSV
def test_triplets_csv(graph, tmp_path):
    path = save_graph(graph, tmp_path / "t.csv")
    rows = list(csv.DictReader(path.open()))
    assert [r["rank"] for r in rows] == [str(k) for k in range(1, len(graph.relations) + 1)]
    assert [(r["subject"], r["predicate"], r["object"]) for r in rows] == graph.triplets()
    assert float(rows[0]["score"]) == pytest.approx(graph.relations[0].score, rel=1e-5)


# --------------------------------------------------------------------------------------- images
def test_png_needs_image_and_has_its_size(graph, image, tmp_path):
    with pytest.raises(ExportError, match="image="):
        g = example_scene_graph()
        g.image = None
        save_graph(g, tmp_path / "a.png")
    path = save_graph(graph, tmp_path / "a.png", image=image)
    with Image.open(path) as im:
        assert im.size == (640, 480) and im.format == "PNG"
    # an image path works too (the graph's own image name is used when none is given)
    image.save(tmp_path / "horse.jpg")
    graph.image = str(tmp_path / "horse.jpg")
    path = save_graph(graph, tmp_path / "b.png")
    with Image.open(path) as im:
        assert im.size == (640, 480)


def test_graph_drawings_and_strip(graph, image, tmp_path):
    with Image.open(save_graph(graph, tmp_path / "g.graph.png", size=(400, 300))) as im:
        assert im.size == (400, 300)
    svg = save_graph(graph, tmp_path / "g.svg").read_bytes()
    assert b"<svg" in svg and b"riding" in svg
    assert save_graph(graph, tmp_path / "g.pdf").read_bytes().startswith(b"%PDF")
    early = example_scene_graph()
    early.t_obj = early.t_rel = 0.5
    with Image.open(save_graph(graph, tmp_path / "s.strip.png", image=image, graphs=[early, graph])) as im:
        assert im.width > im.height


# ------------------------------------------------------------------------------ atomic writes
def test_atomic_write_missing_folder(tmp_path):
    with pytest.raises(ExportError, match="does not exist") as e:
        export.atomic_write_text(tmp_path / "nope" / "x.json", "{}")
    assert str(tmp_path / "nope") in str(e.value)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ExportError):
        save_graph(example_scene_graph(), tmp_path / "nope" / "x.graphml")


def test_atomic_write_onto_folder(tmp_path):
    (tmp_path / "d.json").mkdir()
    with pytest.raises(ExportError, match="folder"):
        export.atomic_write_text(tmp_path / "d.json", "{}")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_atomic_write_unwritable_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ExportError, match="permission denied"):
            export.atomic_write_text(ro / "x.json", "{}")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


def test_atomic_write_unwritable_folder_simulated(tmp_path, monkeypatch):
    def deny(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(export.tempfile, "mkstemp", deny)
    with pytest.raises(ExportError, match=r"x\.json.*permission denied"):
        export.atomic_write_text(tmp_path / "x.json", "{}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_failure_mid_write_keeps_old_file(tmp_path, monkeypatch, where):
    path = tmp_path / "g.json"
    path.write_text("old content")

    def disk_full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export.os, where, disk_full)
    with pytest.raises(ExportError, match="disk is full"):
        save_graph(example_scene_graph(), path)
    monkeypatch.undo()
    assert path.read_text() == "old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json"]


def test_atomic_write_replaces_and_keeps_mode(tmp_path):
    path = tmp_path / "x.txt"
    export.atomic_write_text(path, "one")
    path.chmod(0o640)
    export.atomic_write_text(path, "two")
    assert path.read_text() == "two" and (path.stat().st_mode & 0o777) == 0o640


# -------------------------------------------------------------------------------- JSON lines
def test_jsonl_append_and_index(tmp_path):
    path = tmp_path / "run.jsonl"
    export.append_jsonl(path, {"image": "a.jpg", "n": 1})
    export.append_jsonl(path, {"image": Path("b.jpg"), "n": 2})
    with path.open("ab") as f:  # a crash in the middle of a line
        f.write(b'{"image": "c.j')
    export.append_jsonl(path, {"image": "d.jpg", "n": 4})
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[-1])["image"] == "d.jpg"
    assert [r["image"] for r in export.read_jsonl(path)] == ["a.jpg", "b.jpg", "d.jpg"]
    with pytest.raises(InputError, match="line 3"):
        export.read_jsonl(path, strict=True)
    index = export.write_jsonl_index(tmp_path / "index.jsonl", [{"k": i} for i in range(3)])
    assert export.read_jsonl(index) == [{"k": 0}, {"k": 1}, {"k": 2}]
    with pytest.raises(ExportError, match="does not exist"):
        export.append_jsonl(tmp_path / "no" / "x.jsonl", {})


# ------------------------------------------------------------------------------------ batches
def test_save_batch(graph, image, tmp_path):
    a = example_scene_graph()
    b = example_scene_graph()
    a.image, b.image = "x/photo.jpg", "y/photo.jpg"
    out = export.save_batch([a, b], tmp_path / "out", "json")
    assert [p.name for p in out] == ["x__photo.json", "y__photo.json"]  # same rule as nodis predict
    assert SceneGraph.load(out[1]) == b
    (vg,) = export.save_batch([a, b], tmp_path / "out", "vg", image_ids=[10, 11])
    assert [d["image_id"] for d in export.read_vg_scene_graphs(vg)] == [10, 11]
    sgb = export.save_batch([a, b], tmp_path / "out", "sgb")
    assert export.read_sgb(sgb[0].parent)[1]["idx_to_files"] == ["x/photo.jpg", "y/photo.jpg"]
    (jl,) = export.save_batch([a, b], tmp_path / "out", "jsonl")
    assert [SceneGraph.from_dict(d) for d in export.read_jsonl(jl)] == [a, b]
    pngs = export.save_batch([a], tmp_path / "out", "png", image=image)
    assert pngs[0].name == "photo.png"


def test_strip_from_trajectory(graph, image, tmp_path):
    class FakeTrajectory:  # the part of nodis.trajectory.Trajectory the strip uses
        times = [0.0, 0.25, 0.5, 1.0, 1.5, 2.0]
        t_end = 1.5

        def __init__(self):
            self.asked = []

        def graph_at(self, t):
            self.asked.append(t)
            g = example_scene_graph()
            g.t_obj = g.t_rel = t
            return g

    traj = FakeTrajectory()
    assert [g.t_rel for g in export.strip_graphs(traj)] == [0.0, 0.5, 1.0, 1.5, 2.0]  # paper times on the grid
    path = save_graph(graph, tmp_path / "s.strip.png", image=image, trajectory=traj, times=[0.5, 1.5])
    assert traj.asked[-2:] == [0.5, 1.5]
    with Image.open(path) as im:
        assert im.width > im.height


def test_png_draws_the_objects_of_the_best_relations_by_default(image, tmp_path, monkeypatch):
    from nodis import render
    from nodis.graph import Relation

    objs = [ObjectNode(i, (10.0 + 20 * i, 10.0, 30.0 + 20 * i, 40.0), 1, f"o{i}", 0.9) for i in range(30)]
    rels = [Relation(i, i + 1, 1, "on", 0.9 - 0.01 * i, 0.9) for i in range(25)]
    g = SceneGraph(objs, rels, (640, 480))
    drawn = []
    orig = render.draw_boxes
    monkeypatch.setattr(render, "draw_boxes", lambda im, gr, **kw: drawn.append(len(gr.objects)) or orig(im, gr, **kw))
    save_graph(g, tmp_path / "a.png", image=image)
    save_graph(g, tmp_path / "b.png", image=image, top_k=3)
    save_graph(g, tmp_path / "c.png", image=image, top_k=None)
    assert drawn == [21, 4, 30]  # best 20 relations connect 21 objects; top 3 connect 4; None: all
