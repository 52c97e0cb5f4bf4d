"""The viewer's model object: loaded images, their results, ODE times, filters and selection.

Widgets never talk to each other: they render from :class:`ViewerState` and react to its signals
(napari / labelme style). Nothing here runs the model; results arrive from :mod:`nodis_viewer.worker`.

Times are kept as *grid indices* into the current trajectory's ``times`` (0 .. 2.5 step 0.05 by
default, t_end included), so a slider position always maps to a solved time.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from nodis.graph import SceneGraph

log = logging.getLogger(__name__)

MODES = ("sgdet", "sgcls", "predcls")
MODE_TITLES = {"sgdet": "SGDet", "sgcls": "SGCls", "predcls": "PredCls"}

# entry status values
QUEUED, RUNNING, DONE, FAILED, CANCELLED, NEEDS_BOXES = (
    "queued", "running", "done", "failed", "cancelled", "needs boxes")


#: What a first view shows (each a setting the user can change; see docs/viewer.md): every confident
#: object, the best ten relations, at most one edge per pair of objects, no ground-truth colouring.
DEFAULT_FILTERS = {"top_k": 10, "rel_threshold": 0.0, "obj_threshold": 0.3, "hide_unrelated": False,
                   "all_pairs": False}


def filter_scene_graph(g: SceneGraph, top_k: int | None = None, threshold: float = 0.0,
                       object_threshold: float = 0.0, all_pairs: bool = True) -> SceneGraph:
    """Objects with score >= ``object_threshold``; the best ``top_k`` relations with triplet score >=
    ``threshold`` among them. ``all_pairs=False`` keeps at most one relation per pair of objects (the
    better of ``a -> b`` and ``b -> a``), so a pair is one edge, not two, and at most one relation per
    object shown (``top_k`` is capped at the number of objects: annotated scene graphs have about one
    relation per object, and with given boxes every pair is a candidate, so a 5-object PredCls scene
    would otherwise draw all 10 pairs). ``top_k=None`` (all) is not capped."""
    if all_pairs:
        return g.filtered(top_k=top_k, threshold=threshold, object_threshold=object_threshold)
    f = g.filtered(top_k=0, threshold=threshold, object_threshold=object_threshold)
    keep = {o.index for o in f.objects}
    if top_k is not None:
        top_k = min(top_k, max(1, len(keep)))
    seen: set[frozenset] = set()
    rels = []
    if top_k is None or top_k > 0:
        for r in g.relations:  # ranked best first: the first relation of a pair is its best
            if r.score < threshold or r.subject not in keep or r.object not in keep:
                continue
            pair = frozenset((r.subject, r.object))
            if pair in seen:
                continue
            seen.add(pair)
            rels.append(r)
            if top_k is not None and len(rels) >= top_k:
                break
    f.relations = rels
    return f


@dataclass
class Summary:
    """What the time plot needs at one grid index (linked times): every object score and every
    triplet score (sorted, descending) and, with ground truth, recall at 20/50/100."""

    obj_scores: np.ndarray  # (N,) object scores
    rel_scores: np.ndarray  # (R,) triplet scores, descending
    rel_pred: np.ndarray  # (R,) predicate scores of those relations
    rel_obj_min: np.ndarray  # (R,) min(subject score, object score)
    recall: dict[int, float | None] = field(default_factory=dict)
    rel_pair: np.ndarray | None = None  # (R,) an id of the unordered object pair of each relation

    @classmethod
    def of(cls, graph: SceneGraph, recall: dict | None = None) -> "Summary":
        score = {o.index: o.score for o in graph.objects}
        n = max([o.index for o in graph.objects] + [r for rel in graph.relations for r in (rel.subject, rel.object)]
                + [0]) + 1
        return cls(np.array([o.score for o in graph.objects], dtype=np.float32),
                   np.array([r.score for r in graph.relations], dtype=np.float32),
                   np.array([r.predicate_score for r in graph.relations], dtype=np.float32),
                   np.array([min(score.get(r.subject, 0.0), score.get(r.object, 0.0)) for r in graph.relations],
                            dtype=np.float32),
                   dict(recall or {}),
                   np.array([min(r.subject, r.object) * n + max(r.subject, r.object) for r in graph.relations],
                            dtype=np.int64))

    def counts(self, obj_threshold: float, rel_threshold: float, top_k: int,
               all_pairs: bool = True) -> tuple[int, int, float, float]:
        """(#objects, #relations above the thresholds, mean object score of those objects,
        mean predicate score of the relations the graph shows: the best ``top_k``, or with
        ``all_pairs=False`` the best of each object pair and at most one per object shown, as
        :func:`filter_scene_graph` picks them)."""
        ok_o = self.obj_scores >= obj_threshold
        ok_r = (self.rel_scores >= rel_threshold) & (self.rel_obj_min >= obj_threshold)
        n_o, n_r = int(ok_o.sum()), int(ok_r.sum())
        mo = float(self.obj_scores[ok_o].mean()) if n_o else float("nan")
        k = top_k if top_k > 0 else None
        pred = self.rel_pred[ok_r]
        if not all_pairs and self.rel_pair is not None:
            if k is not None:
                k = min(k, max(1, n_o))
            _, first = np.unique(self.rel_pair[ok_r], return_index=True)  # each pair's best (sorted by score)
            pred = pred[np.sort(first)]
        shown = pred[:k]
        mp = float(shown.mean()) if len(shown) else float("nan")
        return n_o, n_r, mo, mp


@dataclass
class ImageEntry:
    """One image in the list and everything the viewer knows about it."""

    eid: int
    path: Path
    status: str = QUEUED
    message: str = ""
    jid: int = 0  # id of the latest inference job; results of older jobs are dropped
    mode: str = "sgdet"  # mode of the latest run
    boxes: list[list[float]] = field(default_factory=list)  # given boxes (sgcls / predcls), image pixels
    labels: list[int] = field(default_factory=list)  # given labels (predcls)
    boxes_from_gt: bool = False  # boxes are exactly the ground-truth boxes (recall is meaningful)
    times: np.ndarray | None = None
    t_end: float = 1.5
    graphs: dict[tuple[int, int], SceneGraph] = field(default_factory=dict)
    summaries: dict[int, Summary] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # seconds, nfe, num objects ...
    gt: Any = None  # nodis.render.GroundTruthView or None
    gt_source: str = ""
    gt_error: str = ""  # why a ground-truth file next to the image could not be used
    layout: dict[int, tuple[float, float]] = field(default_factory=dict)  # node id -> scene position
    layout_mode: str = ""  # the mode the layout was made for (object ids differ between modes)
    result_mode: str = ""  # the mode of the result in ``graphs`` ("" while there is none)
    names: dict[tuple[int, str], str] = field(default_factory=dict)  # (object id, class) -> display name
    name_counts: dict[str, int] = field(default_factory=dict)  # class -> how many display names it has
    progress: tuple[int, int] = (0, 0)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def has_result(self) -> bool:
        return self.times is not None and bool(self.graphs)

    def reset_result(self) -> None:
        self.result_mode = ""
        self.times = None
        self.graphs = {}
        self.summaries = {}
        self.info = {}
        self.progress = (0, 0)


class ViewerState(QObject):
    """Images, the current one, ODE times, filters and selection, with change signals."""

    entriesChanged = Signal()  # rows added or removed
    entryChanged = Signal(int)  # eid: status, message or progress of one entry
    currentChanged = Signal(int)  # eid or -1
    resultChanged = Signal(int)  # eid: new graphs or summaries arrived / result reset
    timeChanged = Signal()
    filtersChanged = Signal()
    selectionChanged = Signal()
    hoverChanged = Signal()  # hovered_objects changed (e.g. a path of the state-space view)
    modeChanged = Signal(str)
    modelChanged = Signal()
    boxesChanged = Signal(int)  # eid: the given boxes/labels were edited
    compareChanged = Signal(bool)
    layoutChanged = Signal(int)  # eid: node positions changed (drag or re-layout)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.entries: list[ImageEntry] = []
        self._by_id: dict[int, ImageEntry] = {}
        self._next_eid = 1
        self.current_id = -1
        # time (grid indices into the current entry's times)
        self.gi_obj = -1
        self.gi_rel = -1
        self.linked = True
        # filters
        self.top_k = DEFAULT_FILTERS["top_k"]
        self.rel_threshold = DEFAULT_FILTERS["rel_threshold"]
        self.obj_threshold = DEFAULT_FILTERS["obj_threshold"]
        self.hide_unrelated = DEFAULT_FILTERS["hide_unrelated"]
        self.all_pairs = DEFAULT_FILTERS["all_pairs"]  # False: at most one edge per pair of objects
        self._filter_cache: dict[tuple, tuple] = {}  # (id(graph), filters) -> (graph, filtered graph)
        # selection (object ids, relation (subject, object) pairs)
        self.selected_objects: set[int] = set()
        self.selected_relations: set[tuple[int, int]] = set()
        self.hovered_objects: set[int] = set()  # highlighted while the pointer rests on them elsewhere
        self.mode = "sgdet"
        self.compare_gt = False  # ground-truth colouring is a click (G) away
        # model
        self.model_name = ""
        self.model_device = ""
        self.model_error = ""
        self.vocab = None  # nodis.vocab.Vocabulary once the model is loaded
        self.t_end = 1.5

    # ------------------------------------------------------------------ entries
    def add_paths(self, paths) -> list[ImageEntry]:
        """Append images (already expanded, no folders); paths already in the list are skipped."""
        known = {e.path.resolve() for e in self.entries}
        added = []
        for p in paths:
            p = Path(p)
            try:
                rp = p.resolve()
            except OSError:
                rp = p
            if rp in known:
                continue
            known.add(rp)
            e = ImageEntry(self._next_eid, p, mode=self.mode)
            self._next_eid += 1
            self.entries.append(e)
            self._by_id[e.eid] = e
            added.append(e)
        if added:
            self.entriesChanged.emit()
            if self.current_id < 0:
                self.set_current(added[0].eid)
        return added

    def remove(self, eid: int) -> None:
        e = self._by_id.pop(eid, None)
        if e is None:
            return
        idx = self.entries.index(e)
        self.entries.remove(e)
        self.entriesChanged.emit()
        if self.current_id == eid:
            nxt = self.entries[min(idx, len(self.entries) - 1)].eid if self.entries else -1
            self.set_current(nxt)

    def entry(self, eid: int) -> ImageEntry | None:
        return self._by_id.get(eid)

    def row_of(self, eid: int) -> int:
        for k, e in enumerate(self.entries):
            if e.eid == eid:
                return k
        return -1

    @property
    def current(self) -> ImageEntry | None:
        return self._by_id.get(self.current_id)

    def set_current(self, eid: int) -> None:
        if eid == self.current_id:
            return
        self.current_id = eid
        self.selected_objects.clear()
        self.selected_relations.clear()
        self._clamp_time()
        self.currentChanged.emit(eid)

    def step_current(self, delta: int) -> None:
        """Select the next (``delta=1``) or previous (``-1``) image, wrapping around."""
        if not self.entries:
            return
        row = self.row_of(self.current_id)
        row = 0 if row < 0 else (row + delta) % len(self.entries)
        self.set_current(self.entries[row].eid)

    def set_status(self, eid: int, status: str, message: str = "") -> None:
        e = self._by_id.get(eid)
        if e is None:
            return
        e.status, e.message = status, message
        self.entryChanged.emit(eid)

    # ------------------------------------------------------------------ results
    def begin_result(self, eid: int, times: np.ndarray, t_end: float, info: dict, mode: str | None = None) -> None:
        """A new trajectory for ``eid`` (run in ``mode``, default the entry's): forget old graphs,
        keep node positions of surviving ids."""
        e = self._by_id.get(eid)
        if e is None:
            return
        e.reset_result()
        e.result_mode = mode or e.mode
        e.times = np.asarray(times, dtype=np.float64)
        e.t_end = float(t_end)
        e.info = dict(info)
        self.t_end = float(t_end)
        if eid == self.current_id:
            self._clamp_time()
        self.resultChanged.emit(eid)

    def add_graph(self, eid: int, gi_o: int, gi_r: int, graph: SceneGraph) -> None:
        e = self._by_id.get(eid)
        if e is None:
            return
        e.graphs[(gi_o, gi_r)] = graph
        self.resultChanged.emit(eid)

    def add_summary(self, eid: int, gi: int, summary: Summary) -> None:
        e = self._by_id.get(eid)
        if e is None:
            return
        e.summaries[gi] = summary
        self.resultChanged.emit(eid)

    # ------------------------------------------------------------------ time
    def _clamp_time(self) -> None:
        e = self.current
        if e is None or e.times is None:
            return
        n = len(e.times)
        iend = self.index_of(e.t_end)
        if not (0 <= self.gi_obj < n):
            self.gi_obj = iend
        if not (0 <= self.gi_rel < n) or self.linked:
            self.gi_rel = self.gi_obj if self.linked else iend

    def times(self) -> np.ndarray | None:
        e = self.current
        return None if e is None else e.times

    def index_of(self, t: float) -> int:
        ts = self.times()
        if ts is None or not len(ts):
            return -1
        return int(np.argmin(np.abs(ts - float(t))))

    def t_obj(self) -> float | None:
        ts = self.times()
        return None if ts is None or self.gi_obj < 0 else float(ts[self.gi_obj])

    def t_rel(self) -> float | None:
        ts = self.times()
        return None if ts is None or self.gi_rel < 0 else float(ts[self.gi_rel])

    def set_time_index(self, gi_obj: int | None = None, gi_rel: int | None = None) -> None:
        """Move the object-ODE time and/or the predicate-ODE time (linked: both follow)."""
        ts = self.times()
        n = 0 if ts is None else len(ts)
        old = (self.gi_obj, self.gi_rel)
        if gi_obj is not None and n:
            self.gi_obj = int(np.clip(gi_obj, 0, n - 1))
            if self.linked:
                self.gi_rel = self.gi_obj
        if gi_rel is not None and n:
            self.gi_rel = int(np.clip(gi_rel, 0, n - 1))
            if self.linked:
                self.gi_obj = self.gi_rel
        if (self.gi_obj, self.gi_rel) != old:
            self.timeChanged.emit()

    def set_time(self, t_obj: float | None = None, t_rel: float | None = None) -> None:
        self.set_time_index(None if t_obj is None else self.index_of(t_obj),
                            None if t_rel is None else self.index_of(t_rel))

    def set_linked(self, linked: bool) -> None:
        if linked == self.linked:
            return
        self.linked = bool(linked)
        if self.linked:
            self.gi_rel = self.gi_obj
        self.timeChanged.emit()

    def time_key(self) -> tuple[int, int]:
        return (self.gi_obj, self.gi_obj if self.linked else self.gi_rel)

    # ------------------------------------------------------------------ filters
    def set_filters(self, top_k: int | None = None, rel_threshold: float | None = None,
                    obj_threshold: float | None = None, hide_unrelated: bool | None = None,
                    all_pairs: bool | None = None) -> None:
        changed = False
        for name, v in (("top_k", top_k), ("rel_threshold", rel_threshold), ("obj_threshold", obj_threshold),
                        ("hide_unrelated", hide_unrelated), ("all_pairs", all_pairs)):
            if v is not None and getattr(self, name) != v:
                setattr(self, name, v)
                changed = True
        if changed:
            self.filtersChanged.emit()

    def graph_filter(self):
        """The current filters as a function ``SceneGraph -> SceneGraph`` (for exports on the worker)."""
        return partial(filter_scene_graph, top_k=self.top_k if self.top_k > 0 else None,
                       threshold=self.rel_threshold, object_threshold=self.obj_threshold, all_pairs=self.all_pairs)

    def filter_graph(self, g: SceneGraph | None) -> SceneGraph | None:
        """Objects >= object threshold; the top-K relations >= relation threshold among them."""
        if g is None:
            return None
        key = (id(g), self.top_k, self.rel_threshold, self.obj_threshold, self.all_pairs)
        hit = self._filter_cache.get(key)
        if hit is not None and hit[0] is g:
            return hit[1]
        f = self.graph_filter()(g)
        if len(self._filter_cache) >= 512:  # graphs are immutable once decoded; keep the newest
            self._filter_cache.pop(next(iter(self._filter_cache)))
        self._filter_cache[key] = (g, f)
        return f

    # ------------------------------------------------------------------ graphs
    def raw_graph(self, key: tuple[int, int] | None = None, entry: ImageEntry | None = None) -> SceneGraph | None:
        e = entry or self.current
        if e is None:
            return None
        return e.graphs.get(self.time_key() if key is None else key)

    def display_graph(self) -> SceneGraph | None:
        """The filtered graph at the current times, or None while it is not solved yet."""
        return self.filter_graph(self.raw_graph())

    def reference_graph(self) -> SceneGraph | None:
        """The filtered graph at t_end (linked), the reference for 'what changed'."""
        e = self.current
        if e is None or e.times is None:
            return None
        i = self.index_of(e.t_end)
        return self.filter_graph(e.graphs.get((i, i)))

    def is_at_t_end(self) -> bool:
        e = self.current
        if e is None or e.times is None:
            return True
        i = self.index_of(e.t_end)
        return self.time_key() == (i, i)

    # ------------------------------------------------------------------ selection
    def select(self, objects=(), relations=(), add: bool = False) -> None:
        objs, rels = set(objects), {tuple(r) for r in relations}
        if add:
            objs |= self.selected_objects
            rels |= self.selected_relations
        if objs == self.selected_objects and rels == self.selected_relations:
            return
        self.selected_objects, self.selected_relations = objs, rels
        self.selectionChanged.emit()

    def clear_selection(self) -> None:
        self.select()

    def set_hovered(self, ids) -> None:
        """Objects under the pointer in another view (drawn highlighted in the image and the graph)."""
        ids = {int(i) for i in ids}
        if ids != self.hovered_objects:
            self.hovered_objects = ids
            self.hoverChanged.emit()

    def highlighted_objects(self) -> set[int]:
        """Selected objects plus the endpoints of selected relations."""
        out = set(self.selected_objects)
        for s, o in self.selected_relations:
            out.update((s, o))
        return out

    # ------------------------------------------------------------------ mode / boxes / model
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(mode)
        if mode == self.mode:
            return
        self.mode = mode
        self.modeChanged.emit(mode)

    def set_boxes(self, eid: int, boxes, labels=None, from_gt: bool = False) -> None:
        e = self._by_id.get(eid)
        if e is None:
            return
        e.boxes = [list(map(float, b)) for b in boxes]
        e.labels = [int(v) for v in (labels or [])]
        e.boxes_from_gt = from_gt
        self.boxesChanged.emit(eid)

    def set_compare_gt(self, on: bool) -> None:
        if on != self.compare_gt:
            self.compare_gt = bool(on)
            self.compareChanged.emit(self.compare_gt)

    def set_model(self, name: str, device: str, vocab, t_end: float, error: str = "") -> None:
        self.model_name, self.model_device, self.vocab, self.model_error = name, device, vocab, error
        if t_end:
            self.t_end = float(t_end)
        self.modelChanged.emit()
