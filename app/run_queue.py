"""The run queue: which image runs in which mode, and the results coming back from the worker.

:class:`RunQueue` turns user intent ("show this image in PredCls", "re-run", "cancel") into
:class:`nodis_viewer.worker.PredictJob` submissions, seeds the given boxes of SGCls / PredCls runs
(ground truth first, else the boxes shown in SGDet), and files every result the
:class:`nodis_viewer.worker.Engine` reports into :class:`nodis_viewer.state.ViewerState`. Results of
superseded jobs (an older ``jid``) are dropped here. It knows nothing about widgets.
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from nodis.render import focus_graph

from .state import CANCELLED, DONE, FAILED, NEEDS_BOXES, QUEUED, RUNNING, ImageEntry, ViewerState
from .worker import Engine, PredictJob

log = logging.getLogger(__name__)

NEEDS_BOXES_HINT = "draw boxes (B) or use ground-truth boxes"


class RunQueue(QObject):
    """Schedules inference for the images of a :class:`ViewerState` on an :class:`Engine`."""

    graphArrived = Signal(int, object)  # eid, (gi_obj, gi_rel): a decoded graph was stored in entry.graphs
    resultBegun = Signal(int)  # eid: a new result (times, info) replaced the entry's old one
    runFailed = Signal(int)  # eid
    boxesSeeded = Signal(int)  # eid: given boxes were filled in for a run

    def __init__(self, state: ViewerState, engine: Engine, default_label: Callable[[], int] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.engine = engine
        self.default_label = default_label or (lambda: 1)
        self._jid = 0
        self.pending_request: tuple | None = None  # (eid, jid, key) asked of the worker, not yet arrived
        eng = engine
        eng.jobStarted.connect(self._on_job_started)
        eng.jobFinished.connect(self._on_job_finished)
        eng.jobFailed.connect(self._on_job_failed)
        eng.jobCancelled.connect(self._on_job_cancelled)
        eng.graphReady.connect(self._on_graph)
        eng.summaryReady.connect(self._on_summary)
        eng.progress.connect(self._on_progress)

    # ------------------------------------------------------------------ scheduling
    def schedule(self, e: ImageEntry, mode: str | None = None) -> bool:
        """Queue inference for ``e`` in ``mode`` (default: the current mode). False when it cannot run
        yet (SGCls / PredCls without boxes: the entry then waits with status ``needs boxes``)."""
        mode = mode or self.state.mode
        if mode != "sgdet" and not e.boxes:
            self.seed_boxes(e, mode)  # (from the SGDet result too, so before that result is dropped)
        if e.has_result and e.result_mode != mode:
            self.drop_result(e)  # another mode's result must not be shown (or exported) as this mode's
        e.mode = mode
        if mode != "sgdet":
            if not e.boxes:
                self.engine.cancel(e.eid)
                self.state.set_status(e.eid, NEEDS_BOXES, NEEDS_BOXES_HINT)
                return False
            if mode == "predcls" and len(e.labels) != len(e.boxes):
                fill = self.default_label()
                e.labels = (e.labels + [fill] * len(e.boxes))[: len(e.boxes)]
        self._jid += 1
        e.jid = self._jid
        job = PredictJob(self._jid, e.eid, e.path, mode,
                         boxes=[list(b) for b in e.boxes] if mode != "sgdet" else None,
                         labels=list(e.labels) if mode == "predcls" else None,
                         gt=e.gt, recall_ok=(mode == "sgdet" or e.boxes_from_gt))
        self.state.set_status(e.eid, QUEUED)
        self.engine.submit(job)
        return True

    def drop_result(self, e: ImageEntry) -> None:
        """Forget ``e``'s result (it belongs to another mode or to boxes that no longer exist)."""
        self.engine.cancel(e.eid)
        e.reset_result()
        self.state.resultChanged.emit(e.eid)

    def seed_boxes(self, e: ImageEntry, mode: str) -> None:
        """Given boxes for an SGCls / PredCls run: the ground truth, else the boxes shown in SGDet."""
        if e.gt is not None and len(np.asarray(e.gt.labels)):
            self.state.set_boxes(e.eid, np.asarray(e.gt.boxes).tolist(), np.asarray(e.gt.labels).tolist(),
                                 from_gt=True)
            self.boxesSeeded.emit(e.eid)
            return
        g = None
        if e.times is not None and e.result_mode == "sgdet":
            i = int(np.argmin(np.abs(e.times - e.t_end)))
            g = self.state.filter_graph(e.graphs.get((i, i)))
        if g is not None and g.objects and g.mode == "sgdet":
            g = focus_graph(g, self.state.top_k or None) if self.state.hide_unrelated else g
            objs = sorted(g.objects, key=lambda o: o.index)
            self.state.set_boxes(e.eid, [list(o.box) for o in objs], [o.label for o in objs])
            self.boxesSeeded.emit(e.eid)

    def rerun_current(self) -> None:
        e = self.state.current
        if e is not None:
            self.schedule(e, self.state.mode)

    def run_all(self, only_stale: bool = False) -> None:
        """Run every image in the current mode (``only_stale``: those without a result in it)."""
        cur = self.state.current
        order = ([cur] if cur is not None else []) + [e for e in self.state.entries if e is not cur]
        for e in order:
            if only_stale and e.mode == self.state.mode and (e.has_result or e.status in (QUEUED, RUNNING, FAILED)):
                continue
            self.schedule(e, self.state.mode)

    def cancel(self) -> None:
        self.engine.cancel()

    def request(self, e: ImageEntry, key: tuple[int, int]) -> None:
        """Ask the worker for the graph of ``e`` at grid times ``key`` (once per key)."""
        if self.pending_request != (e.eid, e.jid, key):
            self.pending_request = (e.eid, e.jid, key)
            self.engine.request(e.eid, e.jid, *key)

    def on_model_loaded(self) -> None:
        """Results of an older model are stale: run everything again."""
        for e in self.state.entries:
            if e.status in (DONE, FAILED, RUNNING, QUEUED, CANCELLED, NEEDS_BOXES):
                self.schedule(e, self.state.mode)

    # ------------------------------------------------------------------ results from the engine
    def _entry_for(self, eid: int, jid: int) -> ImageEntry | None:
        e = self.state.entry(eid)
        return e if e is not None and e.jid == jid else None

    def _on_job_started(self, eid: int, jid: int) -> None:
        if self._entry_for(eid, jid) is not None:
            self.state.set_status(eid, RUNNING)

    def _on_job_finished(self, eid: int, jid: int, times, t_end: float, info: dict) -> None:
        e = self._entry_for(eid, jid)
        if e is None:
            return
        e.status, e.message = DONE, ""
        if e.layout_mode != e.mode:
            e.layout = {}  # object ids mean something else in another mode: lay out and name afresh
            e.names, e.name_counts = {}, {}
        e.layout_mode = e.mode
        self.state.begin_result(eid, times, t_end, info, e.mode)
        self.state.entryChanged.emit(eid)
        self.resultBegun.emit(eid)

    def _on_job_failed(self, eid: int, jid: int, msg: str) -> None:
        if self._entry_for(eid, jid) is None:
            return
        self.state.set_status(eid, FAILED, msg)
        self.runFailed.emit(eid)

    def _on_job_cancelled(self, eid: int, jid: int) -> None:
        if self._entry_for(eid, jid) is not None:
            self.state.set_status(eid, CANCELLED)

    def _on_graph(self, eid: int, jid: int, gi_o: int, gi_r: int, graph) -> None:
        e = self._entry_for(eid, jid)
        if e is None:
            return
        key = (gi_o, gi_r)
        e.graphs[key] = graph
        if self.pending_request is not None and self.pending_request[:2] == (eid, jid) \
                and self.pending_request[2] == key:
            self.pending_request = None
        self.graphArrived.emit(eid, key)

    def _on_summary(self, eid: int, jid: int, gi: int, summary) -> None:
        if self._entry_for(eid, jid) is not None:
            self.state.add_summary(eid, gi, summary)

    def _on_progress(self, eid: int, jid: int, done: int, total: int) -> None:
        e = self._entry_for(eid, jid)
        if e is None:
            return
        e.progress = (done, total)
        self.state.entryChanged.emit(eid)
