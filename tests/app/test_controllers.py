"""The window's controllers on their own: run queue, box editing (undo / redo), settings, recent files."""
import numpy as np
from nodis_viewer.box_editing import BoxEditor
from nodis_viewer.recent import MAX_RECENT, RecentFiles
from nodis_viewer.run_queue import RunQueue
from nodis_viewer.settings import ViewerSettings, settings
from nodis_viewer.state import DONE, NEEDS_BOXES, QUEUED, ViewerState
from PySide6.QtCore import QObject, Signal


class FakeEngine(QObject):
    """The signals and calls of nodis_viewer.worker.Engine, recording what is asked of it."""

    jobStarted = Signal(int, int)
    jobFinished = Signal(int, int, object, float, dict)
    jobFailed = Signal(int, int, str)
    jobCancelled = Signal(int, int)
    graphReady = Signal(int, int, int, int, object)
    summaryReady = Signal(int, int, int, object)
    progress = Signal(int, int, int, int)

    def __init__(self) -> None:
        super().__init__()
        self.jobs, self.cancelled, self.requests = [], [], []

    def submit(self, job) -> None:
        self.jobs.append(job)

    def cancel(self, eid=None):
        self.cancelled.append(eid)
        return []

    def request(self, *a) -> None:
        self.requests.append(a)


class GT:
    def __init__(self, boxes, labels) -> None:
        self.boxes, self.labels, self.relations = np.asarray(boxes, float), np.asarray(labels), np.zeros((0, 3), int)


def _finish(engine, e, graph):
    """Deliver a finished job with one graph at t_end, as the worker does."""
    times = np.round(np.arange(0, 2.51, 0.5), 6)
    engine.jobFinished.emit(e.eid, e.jid, times, 1.5, {"seconds": 0.1})
    engine.graphReady.emit(e.eid, e.jid, 3, 3, graph)


def test_run_queue_schedules_seeds_and_drops_stale_results(qapp, tmp_path):
    from nodis.export import example_scene_graph

    st = ViewerState()
    eng = FakeEngine()
    runs = RunQueue(st, eng)
    a, b = st.add_paths([tmp_path / "a.jpg", tmp_path / "b.jpg"])
    assert runs.schedule(a) and runs.schedule(b)
    assert [(j.eid, j.mode) for j in eng.jobs] == [(a.eid, "sgdet"), (b.eid, "sgdet")]
    assert a.status == QUEUED
    g = example_scene_graph()  # mode sgdet, 5 objects
    g.mode = "sgdet"
    arrived = []
    runs.graphArrived.connect(lambda eid, key: arrived.append((eid, key)))
    _finish(eng, a, g)
    assert a.status == DONE and a.result_mode == "sgdet" and a.graphs[(3, 3)] is g
    assert arrived == [(a.eid, (3, 3))]
    # a result of a superseded job is dropped
    old = a.jid
    runs.schedule(a)
    eng.graphReady.emit(a.eid, old, 0, 0, g)
    assert (0, 0) not in a.graphs
    _finish(eng, a, g)
    # SGCls: the boxes shown in SGDet become the given boxes, and the SGDet result is not kept
    st.set_filters(hide_unrelated=False)
    assert runs.schedule(a, "sgcls")
    assert len(a.boxes) == len(g.objects) and not a.boxes_from_gt
    assert not a.has_result and a.result_mode == "" and eng.jobs[-1].mode == "sgcls"
    assert eng.jobs[-1].boxes == [list(map(float, o.box)) for o in sorted(g.objects, key=lambda o: o.index)]
    # PredCls without boxes and without a result: waits for boxes; with ground truth: the GT boxes
    assert not runs.schedule(b, "predcls") and b.status == NEEDS_BOXES
    b.gt = GT([[0, 0, 10, 10], [5, 5, 20, 20]], [3, 4])
    assert runs.schedule(b, "predcls") and b.boxes_from_gt and b.labels == [3, 4]


def test_box_editor_undo_redo_restores_boxes_and_labels(qapp, tmp_path):
    st = ViewerState()
    eng = FakeEngine()
    runs = RunQueue(st, eng)
    ed = BoxEditor(st, runs)
    st.set_mode("predcls")
    (e,) = st.add_paths([tmp_path / "a.jpg"])
    ed.add([0, 0, 10, 10], 3)
    ed.add([5, 5, 30, 30], 4)
    assert e.boxes == [[0, 0, 10, 10], [5, 5, 30, 30]] and e.labels == [3, 4]
    ed.move(0, [1, 1, 12, 12])
    st.select(objects=[1])
    assert ed.relabel_selected(7)
    assert e.labels == [3, 7] and e.boxes[0] == [1, 1, 12, 12]
    ed.flush()
    assert eng.jobs[-1].boxes == e.boxes and eng.jobs[-1].labels == [3, 7]  # the edit re-ran the image
    stack = ed.undo_stack
    assert stack.count() == 4 and stack.undoText() == "Relabel"
    stack.undo()
    assert e.labels == [3, 4]
    stack.undo()
    assert e.boxes == [[0, 0, 10, 10], [5, 5, 30, 30]]
    stack.redo()
    stack.redo()
    assert e.boxes[0] == [1, 1, 12, 12] and e.labels == [3, 7]
    # removing every box waits for boxes; undo brings them back and re-runs
    ed.remove([0, 1])
    assert e.boxes == [] and e.status == NEEDS_BOXES
    n = len(eng.jobs)
    stack.undo()
    ed.flush()
    assert len(e.boxes) == 2 and len(eng.jobs) == n + 1
    # an edit that changes nothing is not an undo step
    c = stack.count()
    ed.move(0, e.boxes[0])
    assert stack.count() == c


def test_settings_ignore_corrupt_values(qapp):
    qs = settings()
    for k, v in {"filters/top_k": "abc", "filters/rel_threshold": "nan", "filters/obj_threshold": "7",
                 "filters/hide_unrelated": "maybe", "run/mode": "sgdetx", "window/geometry": "not bytes",
                 "files/recent": 17}.items():
        qs.setValue(k, v)
    qs.sync()
    p = ViewerSettings()
    assert p.get_int("filters/top_k", 20, 0, 500) == 20
    assert p.get_float("filters/rel_threshold", 0.0, 0.0, 1.0) == 0.0
    assert p.get_float("filters/obj_threshold", 0.3, 0.0, 1.0) == 0.3
    assert p.get_bool("filters/hide_unrelated", True) is True
    assert p.get_str("run/mode", "sgdet", ("sgdet", "sgcls", "predcls")) == "sgdet"
    assert p.get_bytes("window/geometry") is None
    assert p.get_str_list("files/recent") == []
    assert len(p.ignored) == 7
    qs.setValue("filters/top_k", str(10**12))
    assert p.get_int("filters/top_k", 20, 0, 500) == 20
    qs.setValue("filters/top_k", "35")
    assert p.get_int("filters/top_k", 20, 0, 500) == 35


def test_corrupt_settings_do_not_stop_the_window(qtbot, make_window):
    qs = settings()
    for k, v in {"filters/top_k": str(10**12), "filters/obj_threshold": "abc", "run/mode": "??",
                 "window/geometry": "garbage", "window/state": 3, "model/device": "tpu"}.items():
        qs.setValue(k, v)
    qs.sync()
    w = make_window()
    assert w.isVisible() and w.state.top_k == w.topk_spin.value() <= w.topk_spin.maximum()
    assert 0.0 <= w.state.obj_threshold <= 1.0 and w.state.mode == "sgdet" and w.device is None


def test_recent_files_newest_first_and_bounded(qapp, tmp_path):
    from PySide6.QtWidgets import QMenu

    rec = RecentFiles(ViewerSettings())
    menu = QMenu()
    opened = []
    rec.attach(menu, opened.append)
    assert [a.text() for a in menu.actions()] == ["(none)"]
    paths = [tmp_path / f"{k}.jpg" for k in range(MAX_RECENT + 3)]
    rec.add(paths[:2])
    rec.add([paths[0]])
    assert rec.files()[:2] == [str(paths[0]), str(paths[1])]
    rec.add(paths)
    assert len(rec.files()) == MAX_RECENT and rec.files()[0] == str(paths[-1])
    menu.actions()[0].trigger()
    assert opened == [[str(paths[-1])]]
    rec.clear()
    assert rec.files() == [] and [a.text() for a in menu.actions()] == ["(none)"]


def test_the_time_plot_predicate_confidence_is_that_of_the_relations_the_graph_shows():
    from nodis_viewer.state import Summary, filter_scene_graph

    from nodis.graph import ObjectNode, Relation, SceneGraph

    rng = np.random.default_rng(3)
    for _trial in range(40):
        n = int(rng.integers(1, 8))
        objs = [ObjectNode(i, (0, 0, 1, 1), 1, "a", float(rng.uniform(0.05, 1))) for i in range(n)]
        rels = []
        for s in range(n):
            for o in range(n):
                if s != o and rng.random() < 0.8:
                    p = float(rng.uniform(0.01, 1))
                    rels.append(Relation(s, o, 1, "on", objs[s].score * objs[o].score * p, p))
        rels.sort(key=lambda r: -r.score)
        g = SceneGraph(objs, rels, (10, 10))
        summ = Summary.of(g)
        for top_k in (0, 1, 3, 10):
            for all_pairs in (True, False):
                for ot, rt in ((0.0, 0.0), (0.3, 0.01)):
                    f = filter_scene_graph(g, top_k=top_k if top_k > 0 else None, threshold=rt,
                                           object_threshold=ot, all_pairs=all_pairs)
                    want = np.mean([r.predicate_score for r in f.relations]) if f.relations else np.nan
                    n_o, _, _, mp = summ.counts(ot, rt, top_k, all_pairs)
                    assert n_o == len(f.objects)
                    np.testing.assert_allclose(mp, want, rtol=1e-5, equal_nan=True)


def test_image_opener_adds_files_now_folders_when_listed_and_queues_after_ground_truth(qtbot, tmp_path):
    from nodis_viewer.io_thread import IOPool
    from nodis_viewer.opener import ImageOpener
    from PIL import Image

    from nodis.vocab import world_vocabulary

    st = ViewerState()
    st.set_model("m", "cpu", world_vocabulary(), 1.5)
    eng = FakeEngine()
    op = ImageOpener(st, IOPool(2), RunQueue(st, eng), RecentFiles(ViewerSettings()))
    msgs, fails, lists = [], [], []
    op.message.connect(lambda m, ms: msgs.append(m))
    op.failed.connect(lambda title, m: fails.append(title))
    op.listChanged.connect(lambda: lists.append(1))
    folder = tmp_path / "imgs"
    (folder / ".cache").mkdir(parents=True)
    for p in (tmp_path / "a.png", folder / "x.png", folder / "y.jpg", folder / ".cache" / "z.png"):
        Image.new("RGB", (8, 8)).save(p)
    (folder / "y.gt.json").write_text("[" * 100000 + "]" * 100000)  # unreadable: runs without it
    (tmp_path / "notes.txt").write_text("not an image")

    added = op.open_paths([tmp_path / "a.png", folder, tmp_path / "notes.txt", tmp_path / "gone.png"])
    assert [e.path.name for e in added] == ["a.png"]  # files at once; the folder once listed (I/O thread)
    assert any("not images: notes.txt" in m for m in msgs) and any("Not found" in m for m in msgs)
    qtbot.waitUntil(lambda: len(eng.jobs) == 3, timeout=10000)  # queued after their ground-truth lookup
    assert sorted(e.path.name for e in st.entries) == ["a.png", "x.png", "y.jpg"]  # hidden folders skipped
    y = next(e for e in st.entries if e.path.name == "y.jpg")
    assert y.gt is None and "nested too deeply" in y.gt_error
    assert not fails and lists

    n_jobs = len(eng.jobs)
    assert op.open_paths([tmp_path / "a.png"]) == []  # already in the list: it becomes the current image
    assert st.current.path.name == "a.png" and len(st.entries) == 3
    qtbot.wait(50)
    assert len(eng.jobs) == n_jobs
