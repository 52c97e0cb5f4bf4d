"""Everything slow runs here, off the GUI thread: loading the model, ``predict`` and decoding graphs.

One :class:`Engine` owns one worker thread and a small priority queue. Work is picked in this order
(scheduled for the user: every image shows a result before any time grid is decoded):

1. loading the model;
2. a scene graph the user is looking at right now (a slider position not decoded yet);
3. inference for the image the user is looking at (its graph at ``t_end``);
4. calls (exports, histories) submitted with :meth:`Engine.call` (a long one serves a request of step 2
   between its parts, :meth:`Engine.serve_request`);
5. inference for the other queued images (each one's graph at ``t_end``), in order;
6. decoding the remaining grid times of the current image, coarse to fine (``t_end`` first, then
   0, 2.5, 1.25, ...: a jump lands near a decoded time), each step emitted as soon as it is ready;
7. only when nothing else is left: the remaining grid times of the other images, the most recently
   viewed first. Moving to another image moves its grid to step 6; the old one waits for idle time.

While the user moves the slider over times not decoded yet (a request came less than
``HOLD_S`` ago), steps 6-7 do not start, and a step already running stops its predicate-ODE solve at
the next function evaluation (it is done again later), so a request does not wait behind a step; then
the times next to the last requested one are decoded first (``NEAR_STEPS``), where a drag goes next.
A requested time whose objects have no predicate-ODE solve yet is solved only up to that time
(:meth:`nodis.trajectory.Trajectory.graph_soon`, the same values); the whole grid's solve follows in
the background.

The GUI thread never touches a :class:`nodis.trajectory.Trajectory`; it receives plain
:class:`nodis.graph.SceneGraph` objects through queued signals. Every result carries the job id
(``jid``) of the inference that produced it, so results of a cancelled or superseded job are dropped.
"""
from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

from nodis.errors import NodisError
from nodis.model.ode import SolveInterrupted, interruptible

from .relay import GuiRelay
from .state import Summary

log = logging.getLogger(__name__)


def describe_error(e: BaseException) -> str:
    """A one-line message for the user: NodisError messages verbatim, others with their type."""
    if isinstance(e, NodisError):
        return str(e)
    if isinstance(e, MemoryError):
        return "out of memory (try a smaller image or --device cpu)"
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def load_model(weights: str | Path | None = None, device: str | None = None):
    """``nodis.load_model``: the shipped demo model by default, ``"random"`` for a randomly initialised
    one. A missing model is an error the window shows (never a silent random model)."""
    import nodis

    return nodis.load_model(weights, device=device)


def model_description(model) -> tuple[str, str]:
    """(name, device) for the status bar, e.g. ("nodis-demo (demo preset)", "cpu")."""
    name = getattr(model, "weights_name", "model") or "model"
    preset = getattr(getattr(model, "cfg", None), "preset", "")
    try:
        device = str(next(model.parameters()).device)
    except (StopIteration, AttributeError):
        device = "cpu"
    return (f"{name} ({preset} preset)" if preset else name), device


@dataclass
class PredictJob:
    jid: int
    eid: int
    path: Path
    mode: str
    boxes: list | None = None
    labels: list | None = None
    gt: Any = None  # GroundTruthView-like: recall per t is computed when meaningful
    recall_ok: bool = False  # sgdet, or boxes are the GT boxes


HOLD_S = 1.0  # background decoding waits this long after the last on-demand request (scrubbing)
NEAR_STEPS = 3  # then it decodes the grid times this close to the last requested one first


def coarse_to_fine(n: int, first: int) -> list[int]:
    """Grid indices ``0..n-1`` without ``first``, in an order that covers the grid evenly early: the
    ends, then the middles of the gaps between decoded times (breadth first)."""
    order, seen = [], {first}
    spans = [(0, n - 1)]
    for i in (0, n - 1):
        if i not in seen and 0 <= i < n:
            seen.add(i)
            order.append(i)
    while spans:
        nxt = []
        for a, b in spans:
            if b - a < 2:
                continue
            m = (a + b) // 2
            if m not in seen:
                seen.add(m)
                order.append(m)
            nxt += [(a, m), (m, b)]
        spans = nxt
    order += [i for i in range(n) if i not in seen]
    return order


@dataclass
class _Live:
    """An inference result the worker keeps for decoding more times."""

    job: PredictJob
    traj: Any
    todo: deque = field(default_factory=deque)
    total: int = 0
    viewed: float = 0.0  # when the user last looked at this image (idle decoding: most recent first)


def recall_at(graph, gt, mode: str, num_predicates: int, ks=(20, 50, 100)) -> dict[int, float | None]:
    """R@K of one decoded graph (all its relations, full distributions) against ground truth."""
    from nodis.evaluation import Evaluator, GroundTruth, Prediction

    g = GroundTruth(np.asarray(gt.boxes), np.asarray(gt.labels), np.asarray(gt.relations))
    pred = Prediction.from_graph(graph, num_predicates=num_predicates)
    if mode != "sgdet":
        pred = pred.in_mode(mode, g)
    res = Evaluator(num_predicates, ks=ks).add(g, pred)
    if res.skipped:
        return {}
    return dict(res.recall)


class _Thread(QThread):
    def __init__(self, engine: "Engine") -> None:
        super().__init__()
        self.engine = engine

    def run(self) -> None:  # noqa: D401 - Qt entry point
        self.engine._loop()


class Engine(QObject):
    """The worker thread and its queue. All signals are emitted on the GUI thread (through a
    :class:`~.relay.GuiRelay`: the worker thread makes no Qt call)."""

    modelLoading = Signal(str)
    modelLoaded = Signal(object, str, str)  # model, name, device
    modelFailed = Signal(str)
    jobStarted = Signal(int, int)  # eid, jid
    jobFinished = Signal(int, int, object, float, dict)  # eid, jid, times, t_end, info
    jobFailed = Signal(int, int, str)  # eid, jid, message
    jobCancelled = Signal(int, int)  # eid, jid
    graphReady = Signal(int, int, int, int, object)  # eid, jid, gi_obj, gi_rel, SceneGraph
    summaryReady = Signal(int, int, int, object)  # eid, jid, gi, Summary
    progress = Signal(int, int, int, int)  # eid, jid, done, total (decoding the time grid)
    callDone = Signal(int, object)  # token, result
    callFailed = Signal(int, str)  # token, message
    callProgress = Signal(int, int, int)  # token, done, total (calls that report progress)
    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None, model_factory: Callable[..., Any] | None = None,
                 keep: int = 64, policy: str = "user") -> None:
        """``policy``: ``"user"`` (the order in the module docstring) or ``"grid-first"`` (the order of
        earlier versions: the current image's whole grid before the other images' first results; kept
        for the benchmark that compares the two)."""
        super().__init__(parent)
        if policy not in ("user", "grid-first"):
            raise ValueError(f"unknown scheduling policy {policy!r}")
        self.policy = policy
        self._factory = model_factory or load_model
        self._cv = threading.Condition()
        self._stop = False
        self._load: tuple | None = None
        self._jobs: deque[PredictJob] = deque()
        self._request: tuple[int, int, int, int] | None = None  # eid, jid, gi_o, gi_r
        self._calls: deque[tuple[int, Callable, tuple]] = deque()
        self._live: dict[int, _Live] = {}  # eid -> latest live result
        self._current_eid = -1
        self._running: PredictJob | None = None
        self._cancel_running = False
        self._busy = False
        self._next_token = 1
        self._last_request = -1e9  # monotonic time of the last on-demand graph request
        self._focus: dict[int, int] = {}  # eid -> grid index last requested (decode around it first)
        self._call_token = 0  # the call running on the worker
        self._cancelled_calls: set[int] = set()
        self._keep = keep
        self.model = None
        self._relay = GuiRelay(self)  # the worker never emits Qt signals itself (see app/relay.py)
        self._thread = _Thread(self)
        self._thread.start()

    # ------------------------------------------------------------------ public API (GUI thread)
    def load(self, weights: str | Path | None = None, device: str | None = None) -> None:
        with self._cv:
            self._load = (weights, device)
            self._cv.notify_all()

    def submit(self, job: PredictJob) -> None:
        with self._cv:
            # a newer job for the same image replaces any queued older one
            self._jobs = deque(j for j in self._jobs if j.eid != job.eid)
            self._jobs.append(job)
            self._live.pop(job.eid, None)
            if self._running is not None and self._running.eid == job.eid:
                self._cancel_running = True
            self._cv.notify_all()

    def set_current(self, eid: int) -> None:
        with self._cv:
            old = self._live.get(self._current_eid)
            if old is not None:
                old.viewed = time.monotonic()
            self._current_eid = eid
            self._cv.notify_all()

    def request(self, eid: int, jid: int, gi_obj: int, gi_rel: int) -> None:
        """Decode the graph at ``(gi_obj, gi_rel)`` as soon as possible (latest request wins)."""
        with self._cv:
            self._request = (eid, jid, gi_obj, gi_rel)
            self._last_request = time.monotonic()
            self._focus[eid] = gi_obj
            self._cv.notify_all()

    def cancel(self, eid: int | None = None) -> list[PredictJob]:
        """Drop queued inference (of ``eid`` or all) and discard the running one's result."""
        with self._cv:
            dropped = [j for j in self._jobs if eid is None or j.eid == eid]
            self._jobs = deque(j for j in self._jobs if not (eid is None or j.eid == eid))
            if self._running is not None and (eid is None or self._running.eid == eid):
                self._cancel_running = True
            for lv in list(self._live.values()):
                if eid is None or lv.job.eid == eid:
                    lv.todo.clear()
        for j in dropped:
            self._emit(self.jobCancelled, j.eid, j.jid)
        return dropped

    def forget(self, eid: int) -> None:
        """Release the trajectory of a removed image."""
        self.cancel(eid)
        with self._cv:
            self._live.pop(eid, None)

    def call(self, fn: Callable, *args) -> int:
        """Run ``fn(engine_view, *args)`` on the worker thread; ``callDone``/``callFailed`` report it.
        ``engine_view`` offers :meth:`graph_at` for decoding graphs of live trajectories."""
        with self._cv:
            token = self._next_token
            self._next_token += 1
            self._calls.append((token, fn, args))
            self._cv.notify_all()
        return token

    def cancel_call(self, token: int) -> None:
        """Ask the call ``token`` to stop (a queued one is dropped, a running one stops at its next
        :meth:`call_cancelled` check). It still reports ``callDone`` / ``callFailed``."""
        with self._cv:
            self._cancelled_calls.add(token)

    def pending(self) -> int:
        with self._cv:
            return len(self._jobs) + (1 if self._running is not None else 0)

    def is_busy(self) -> bool:
        return self._busy

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop the worker after its current task. Returns False when it is still busy after
        ``timeout_ms`` (an inference cannot be interrupted mid-solve)."""
        with self._cv:
            self._stop = True
            self._jobs.clear()
            self._calls.clear()
            self._cv.notify_all()
        return bool(self._thread.wait(timeout_ms))

    def is_running(self) -> bool:
        return self._thread.isRunning()

    # ------------------------------------------------------------------ worker-side helpers
    def _emit(self, signal, *args) -> None:
        """Emit ``signal(*args)`` on the GUI thread (at once when called there)."""
        self._relay.post(signal.emit, *args)

    def graph_at(self, eid: int, t_obj: float | None = None, t_rel: float | None = None):
        """(worker thread) The full graph of image ``eid`` at the given times, or None."""
        lv = self._live.get(eid)
        if lv is None:
            return None
        return lv.traj.graph_at(t_obj, t_rel)

    def call_progress(self, done: int, total: int) -> None:
        """(worker thread, inside a call) Report the running call's progress."""
        self._emit(self.callProgress, self._call_token, int(done), int(total))

    def call_cancelled(self) -> bool:
        """(worker thread, inside a call) Whether the user cancelled the running call."""
        with self._cv:
            return self._call_token in self._cancelled_calls

    def serve_request(self) -> None:
        """(worker thread, inside a call) Decode the graph the user requested meanwhile, if any, now:
        a long call (e.g. the histories of a fresh result) calls this between its parts, so a slider
        move to a time not decoded yet does not wait for the whole call."""
        with self._cv:
            req, self._request = self._request, None
        if req is None:
            return
        lv = self._live.get(req[0])
        if lv is not None and lv.job.jid == req[1]:
            self._do_graph(*req)

    def trajectory(self, eid: int, jid: int | None = None):
        """(worker thread, inside a call) The live trajectory of image ``eid`` (of job ``jid``), or None."""
        lv = self._live.get(eid)
        return None if lv is None or (jid is not None and lv.job.jid != jid) else lv.traj

    def trajectory_times(self, eid: int):
        lv = self._live.get(eid)
        return None if lv is None else lv.traj.times

    # ------------------------------------------------------------------ the loop (worker thread)
    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self._emit(self.busyChanged, busy)

    def _next(self):
        with self._cv:
            while True:
                if self._stop:
                    return None
                if self._load is not None:
                    task, self._load = ("load", self._load), None
                    return task
                if self._request is not None:
                    req, self._request = self._request, None
                    lv = self._live.get(req[0])
                    if lv is not None and lv.job.jid == req[1]:
                        return ("graph", req)
                    continue
                if self.model is not None:
                    cur = [j for j in self._jobs if j.eid == self._current_eid]
                    if cur:
                        self._jobs.remove(cur[0])
                        return ("predict", cur[0])
                if self._calls:
                    return ("call", self._calls.popleft())
                if self.model is not None:
                    if self.policy == "grid-first":
                        lv = self._live.get(self._current_eid)
                        if lv is not None and lv.todo:
                            return ("step", lv)
                    if self._jobs:  # every image's first result before any time grid
                        return ("predict", self._jobs.popleft())
                    lv = self._live.get(self._current_eid)
                    if lv is None or not lv.todo:  # idle: the other images' grids, most recently viewed first
                        lv = max((x for x in self._live.values() if x.todo), key=lambda x: x.viewed, default=None)
                    if lv is not None:
                        wait = self._last_request + HOLD_S - time.monotonic() if self.policy == "user" else 0
                        if wait > 0:  # the user is scrubbing over undecoded times: stay free for them
                            self._cv.wait(wait)
                            continue
                        return ("step", lv)
                self._set_busy(False)
                self._cv.wait()

    def _loop(self) -> None:
        while True:
            task = self._next()
            if task is None:
                return
            kind, arg = task
            self._set_busy(True)
            try:
                if kind == "load":
                    self._do_load(*arg)
                elif kind == "graph":
                    self._do_graph(*arg)
                elif kind == "predict":
                    self._do_predict(arg)
                elif kind == "step":
                    self._do_step(arg)
                elif kind == "call":
                    self._do_call(*arg)
            except Exception as e:  # never let the worker die
                log.error("worker task %s failed:\n%s", kind, traceback.format_exc())
                if kind == "predict":
                    self._emit(self.jobFailed, arg.eid, arg.jid, describe_error(e))

    def _do_load(self, weights, device) -> None:
        self._emit(self.modelLoading, str(weights) if weights else "default demo model")
        try:
            model = self._factory(weights, device)
        except Exception as e:
            log.error("model loading failed: %s", traceback.format_exc())
            self._emit(self.modelFailed, describe_error(e))
            return
        with self._cv:
            self.model = model
            self._live.clear()
            self._cv.notify_all()
        name, dev = model_description(model)
        self._emit(self.modelLoaded, model, name, dev)

    def _do_predict(self, job: PredictJob) -> None:
        with self._cv:
            self._running = job
            self._cancel_running = False
        self._emit(self.jobStarted, job.eid, job.jid)
        try:
            t0 = time.perf_counter()
            kwargs = {}
            if job.mode != "sgdet":
                kwargs["boxes"] = job.boxes
            if job.mode == "predcls":
                kwargs["labels"] = job.labels
            traj = self.model.predict(str(job.path), mode=job.mode, **kwargs)
            with self._cv:
                if self._cancel_running:
                    self._running = None
                    self._emit(self.jobCancelled, job.eid, job.jid)
                    return
            iend = traj.index_of(traj.t_end)
            g_end = traj.graph_at(traj.t_end)
            seconds = time.perf_counter() - t0
            nfe = {"object": int(traj.nfe_obj), "predicate": int(g_end.meta.get("nfe_predicate", 0))}
            info = {"seconds": seconds, "nfe": nfe, "mode": job.mode, "proposals": int(traj.num_objects_in),
                    "image_size": tuple(traj.image_size)}
            n = len(traj.times)
            lv = _Live(job, traj, deque(coarse_to_fine(n, iend)), n, time.monotonic())
            with self._cv:
                if self._cancel_running:
                    self._running = None
                    self._emit(self.jobCancelled, job.eid, job.jid)
                    return
                self._live[job.eid] = lv
                self._running = None
                # bound memory: keep the newest trajectories only
                while len(self._live) > self._keep:
                    oldest = next(iter(self._live))
                    if oldest == self._current_eid:
                        break
                    self._live.pop(oldest)
            self._emit(self.jobFinished, job.eid, job.jid, traj.times.copy(), float(traj.t_end), info)
            self._emit_graph(lv, iend, iend, g_end)
            self._emit(self.progress, job.eid, job.jid, 1, n)
        except Exception as e:
            with self._cv:
                self._running = None
            log.info("inference failed for %s: %s", job.path, e)
            if not isinstance(e, NodisError):
                log.error("%s", traceback.format_exc())
            self._emit(self.jobFailed, job.eid, job.jid, describe_error(e))

    def _emit_graph(self, lv: _Live, gi_o: int, gi_r: int, g) -> None:
        job = lv.job
        self._emit(self.graphReady, job.eid, job.jid, gi_o, gi_r, g)
        if gi_o == gi_r:
            recall = {}
            if job.gt is not None and job.recall_ok:
                try:
                    recall = recall_at(g, job.gt, job.mode, len(g.predicate_names or []) or
                                       self.model.cfg.num_predicates)
                except NodisError as e:
                    log.info("recall not available: %s", e)
            self._emit(self.summaryReady, job.eid, job.jid, gi_o, Summary.of(g, recall))

    def _do_graph(self, eid: int, jid: int, gi_o: int, gi_r: int) -> None:
        lv = self._live.get(eid)
        if lv is None or lv.job.jid != jid:
            return
        ts = lv.traj.times
        # a time nobody solved yet: the P-ODE only as far as t_rel (same values)
        g, complete = lv.traj.graph_soon(float(ts[gi_o]), float(ts[gi_r]))
        if gi_o == gi_r and complete:  # (not complete: a background step solves the whole grid later)
            with self._cv:
                try:
                    lv.todo.remove(gi_o)
                except ValueError:
                    pass
        self._emit_graph(lv, gi_o, gi_r, g)

    def _do_step(self, lv: _Live) -> None:
        with self._cv:
            if not lv.todo:
                return
            gi = lv.todo[0]
            focus = self._focus.get(lv.job.eid)
            if focus is not None:  # the user was just at ``focus``: its neighbours first (a drag goes on)
                near = min(lv.todo, key=lambda i: abs(i - focus))
                if abs(near - focus) <= NEAR_STEPS:
                    gi = near
            lv.todo.remove(gi)
            remaining = len(lv.todo)
        t = float(lv.traj.times[gi])
        try:  # a request of the user stops the step's solve at its next function evaluation
            with interruptible(lambda: self._request is not None or self._stop or self._load is not None):
                g = lv.traj.graph_at(t, t)
        except SolveInterrupted:
            with self._cv:
                if gi not in lv.todo:
                    lv.todo.appendleft(gi)
            return
        self._emit_graph(lv, gi, gi, g)
        self._emit(self.progress, lv.job.eid, lv.job.jid, lv.total - remaining, lv.total)

    def _do_call(self, token: int, fn: Callable, args: tuple) -> None:
        self._call_token = token
        try:
            result = fn(self, *args)
        except Exception as e:
            if not isinstance(e, NodisError):
                log.error("call failed:\n%s", traceback.format_exc())
            self._emit(self.callFailed, token, describe_error(e))
            return
        finally:
            with self._cv:
                self._cancelled_calls.discard(token)
            self._call_token = 0
        self._emit(self.callDone, token, result)
