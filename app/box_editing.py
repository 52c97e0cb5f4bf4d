"""Editing the given boxes and labels of SGCls / PredCls runs, with undo / redo.

Every edit (draw, move, resize, delete, relabel, clear, "use ground-truth boxes", "use the
detections") is one :class:`QUndoCommand` on :attr:`BoxEditor.undo_stack` holding the image's boxes
and labels before and after, so *Edit ▸ Undo* (Ctrl+Z) and *Redo* (Ctrl+Shift+Z / Ctrl+Y) restore
them exactly. After an edit the image is re-run in the current mode once the user pauses
(``RERUN_DELAY_MS``); removing the last box leaves the image waiting for boxes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from .run_queue import NEEDS_BOXES_HINT, RunQueue
from .state import NEEDS_BOXES, ImageEntry, ViewerState

RERUN_DELAY_MS = 350


@dataclass(frozen=True)
class Boxes:
    """An image's given boxes (x1, y1, x2, y2 image pixels), labels and whether they are the GT's."""

    boxes: tuple[tuple[float, ...], ...]
    labels: tuple[int, ...]
    from_gt: bool = False

    @classmethod
    def of(cls, e: ImageEntry) -> "Boxes":
        return cls(tuple(tuple(map(float, b)) for b in e.boxes), tuple(int(v) for v in e.labels), bool(e.boxes_from_gt))


class _Edit(QUndoCommand):
    def __init__(self, editor: "BoxEditor", eid: int, before: Boxes, after: Boxes, text: str) -> None:
        super().__init__(text)
        self.editor, self.eid, self.before, self.after = editor, eid, before, after

    def redo(self) -> None:
        self.editor._apply(self.eid, self.after)

    def undo(self) -> None:
        self.editor._apply(self.eid, self.before)


class BoxEditor(QObject):
    """Box and label edits of the images in a :class:`ViewerState`; re-runs through a :class:`RunQueue`."""

    edited = Signal(int)  # eid: boxes or labels changed (an edit, an undo or a redo)
    message = Signal(str)  # something to tell the user (status bar)

    def __init__(self, state: ViewerState, runs: RunQueue, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.runs = runs
        self.undo_stack = QUndoStack(self)
        self._rerun_eid = -1
        self._rerun_timer = QTimer(self)
        self._rerun_timer.setSingleShot(True)
        self._rerun_timer.setInterval(RERUN_DELAY_MS)
        self._rerun_timer.timeout.connect(self._rerun)

    # ------------------------------------------------------------------ edits (each one undoable)
    def _editable(self) -> ImageEntry | None:
        e = self.state.current
        return e if e is not None and self.state.mode != "sgdet" else None

    def _push(self, e: ImageEntry, after: Boxes, text: str) -> None:
        before = Boxes.of(e)
        if after == before:
            return
        self.undo_stack.push(_Edit(self, e.eid, before, after, text))

    def add(self, box, label: int) -> None:
        """Add a box (PredCls: with ``label``)."""
        e = self._editable()
        if e is None:
            return
        b = Boxes.of(e)
        labels = list(b.labels) + [int(label)] * (len(b.boxes) + 1 - len(b.labels))
        self._push(e, Boxes(b.boxes + (tuple(map(float, box)),), tuple(labels[: len(b.boxes) + 1])), "Draw box")

    def move(self, k: int, box) -> None:
        """Box ``k`` was moved or resized to ``box``."""
        e = self.state.current
        if e is None or not 0 <= k < len(e.boxes):
            return
        b = Boxes.of(e)
        boxes = list(b.boxes)
        boxes[k] = tuple(map(float, box))
        self._push(e, Boxes(tuple(boxes), b.labels), "Move box")

    def remove(self, ks) -> None:
        """Remove the boxes with indices ``ks`` (an int or several)."""
        e = self.state.current
        if e is None:
            return
        ks = {ks} if isinstance(ks, int) else set(ks)
        ks = {k for k in ks if 0 <= k < len(e.boxes)}
        if not ks:
            return
        b = Boxes.of(e)
        boxes = tuple(x for i, x in enumerate(b.boxes) if i not in ks)
        labels = tuple(x for i, x in enumerate(b.labels) if i not in ks)
        self.state.clear_selection()
        self._push(e, Boxes(boxes, labels), "Remove box" if len(ks) == 1 else f"Remove {len(ks)} boxes")

    def remove_selected(self) -> None:
        e = self._editable()
        if e is not None:
            self.remove(self.state.selected_objects)

    def clear(self) -> None:
        e = self.state.current
        if e is not None and e.boxes:
            self._push(e, Boxes((), ()), "Remove all boxes")

    def relabel(self, ks, label: int) -> bool:
        """Give the boxes ``ks`` the label ``label`` (PredCls). False when nothing changed."""
        e = self.state.current
        if e is None or self.state.mode != "predcls":
            return False
        ks = [k for k in ks if 0 <= k < len(e.boxes)]
        if not ks:
            return False
        b = Boxes.of(e)
        labels = list(b.labels) + [int(label)] * (len(b.boxes) - len(b.labels))
        for k in ks:
            labels[k] = int(label)
        before = self.undo_stack.count()
        self._push(e, Boxes(b.boxes, tuple(labels)), "Relabel")
        return self.undo_stack.count() != before

    def relabel_selected(self, label: int) -> bool:
        return self.relabel(sorted(self.state.selected_objects), label)

    def use_gt(self) -> None:
        """The image's ground-truth boxes and labels."""
        e = self.state.current
        if e is None:
            return
        if e.gt is None or not len(np.asarray(e.gt.labels)):
            self.message.emit("This image has no ground truth")
            return
        after = Boxes(tuple(tuple(map(float, b)) for b in np.asarray(e.gt.boxes).tolist()),
                      tuple(int(v) for v in np.asarray(e.gt.labels).tolist()), True)
        if after == Boxes.of(e):
            self.runs.schedule(e, self.state.mode)
        self._push(e, after, "Use ground-truth boxes")

    def use_detections(self, graph) -> None:
        """The boxes (and labels) of ``graph``, the SGDet result on screen."""
        e = self.state.current
        if e is None:
            return
        if graph is None or not graph.objects:
            self.message.emit("No detections to copy (run SGDet first)")
            return
        objs = sorted(graph.objects, key=lambda o: o.index)
        self._push(e, Boxes(tuple(tuple(map(float, o.box)) for o in objs), tuple(int(o.label) for o in objs)),
                   "Use detections as boxes")

    # ------------------------------------------------------------------ applying (edit, undo, redo)
    def _apply(self, eid: int, b: Boxes) -> None:
        e = self.state.entry(eid)
        if e is None:
            return
        self.state.set_boxes(eid, [list(x) for x in b.boxes], list(b.labels), from_gt=b.from_gt)
        self.edited.emit(eid)
        if self.state.mode == "sgdet":
            return
        if e.boxes:
            self._rerun_eid = eid
            self._rerun_timer.start()
        else:
            self._rerun_timer.stop()
            self.runs.drop_result(e)
            self.state.set_status(eid, NEEDS_BOXES, NEEDS_BOXES_HINT)

    def _rerun(self) -> None:
        e = self.state.entry(self._rerun_eid)
        if e is not None and e.boxes and self.state.mode != "sgdet":
            self.runs.schedule(e, self.state.mode)

    def rerun_pending(self) -> bool:
        return self._rerun_timer.isActive()

    def flush(self) -> None:
        """Run a pending re-run now (tests, closing)."""
        if self._rerun_timer.isActive():
            self._rerun_timer.stop()
            self._rerun()
