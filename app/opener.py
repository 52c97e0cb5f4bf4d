"""Opening images in the viewer: paths a user drops or picks become list entries, folders are
listed and ground truth is looked up on the I/O threads, and each image is queued for inference.

The GUI thread only ``stat``s what the user names (a FIFO named ``x.jpg`` or a hung mount must not
freeze the window); everything that opens or lists a path runs on :class:`~.io_thread.IOPool`.
"""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from nodis.data.transforms import IMAGE_SUFFIXES

from .gt import lookup_ground_truth
from .io_thread import IOPool, regular_file
from .recent import RecentFiles
from .run_queue import RunQueue
from .state import ImageEntry, ViewerState


def expand_paths(paths) -> tuple[list[Path], list[Path]]:
    """Files to open from dropped/opened paths: folders give their images (recursively, sorted);
    files are kept when their suffix is an image suffix. Returns ``(images, skipped)``."""
    images, skipped = [], []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            images += sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file()
                             and not any(part.startswith(".") for part in q.relative_to(p).parts))
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            images.append(p)
        else:
            skipped.append(p)
    return images, skipped


class ImageOpener(QObject):
    """Adds images to :class:`ViewerState` and queues them on :class:`RunQueue` once their ground
    truth is known. Reports through signals; the window shows them."""

    message = Signal(str, int)  # status-bar text, timeout in ms
    failed = Signal(str, str)  # title, message
    editingChanged = Signal()  # the current image's editable state may have changed
    listChanged = Signal()  # images were added (the window title counts them)

    def __init__(self, state: ViewerState, io: IOPool, runs: RunQueue, recent: RecentFiles,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state, self.io, self.runs, self.recent = state, io, runs, recent

    def open_paths(self, paths) -> list[ImageEntry]:
        """Add images (files or folders) to the list and queue them for inference. Files are added at
        once (returned); folders are listed on an I/O thread and their images added when listed."""
        paths = [Path(p) for p in paths]
        files, folders, skipped, missing = [], [], [], []
        for p in paths:  # only stat() here: nothing a user names is opened or listed on the GUI thread
            why = regular_file(p)
            if why == "is a folder, not an image":
                folders.append(p)
            elif why == "no such file":
                missing.append(p)
            elif p.suffix.lower() in IMAGE_SUFFIXES:
                files.append(p)  # FIFOs and devices too: they fail in their own row
            else:
                skipped.append(p)
        if skipped:
            names = ", ".join(p.name for p in skipped[:3]) + (" …" if len(skipped) > 3 else "")
            self.message.emit(f"Skipped {len(skipped)} file(s) that are not images: {names}", 8000)
        if missing:
            self.message.emit(f"Not found: {', '.join(str(p) for p in missing[:3])}", 8000)
        for d in folders:
            self.message.emit(f"Listing {d.name}…", 4000)
            self.io.submit(expand_paths, [d], callback=lambda res, err, d=d: self._folder_listed(d, res, err))
        added = self._add_images(files, jump=True)
        if files or folders:
            self.recent.add(files + folders)
        return added

    def _folder_listed(self, folder: Path, result, err) -> None:
        if err is not None:
            self.failed.emit("Cannot open the folder", f"{folder}: {err}")
            return
        images, _ = result
        if not images:
            self.message.emit(f"No images in {folder}", 6000)
        self._add_images(images, jump=False)

    def _add_images(self, images: list[Path], jump: bool) -> list[ImageEntry]:
        added = self.state.add_paths(images)
        for e in added:
            self.prepare(e)
        if added:
            self.message.emit(f"Added {len(added)} image(s)", 4000)
            self.editingChanged.emit()
        elif images and jump:  # already in the list: jump to the first one
            first = os.path.abspath(images[0])
            for e in self.state.entries:
                if os.path.abspath(e.path) == first:
                    self.state.set_current(e.eid)
        self.listChanged.emit()
        return added

    def prepare(self, e: ImageEntry, rerun: bool = False) -> None:
        """Look up ground truth (I/O thread), then queue the image; without a model it just waits."""
        if self.state.vocab is None:
            self.runs.schedule(e)  # queued until the model is loaded (which prepares it again)
            return
        v = self.state.vocab
        self.io.submit(lookup_ground_truth, e.path, v.classes, v.predicates,
                       callback=lambda res, err, eid=e.eid, v=v: self._gt_found(eid, v, res, err, rerun))

    def _gt_found(self, eid: int, vocab, result, err, rerun: bool) -> None:
        e = self.state.entry(eid)
        if e is None or vocab is not self.state.vocab:
            return
        gt, src, problem = (None, "", err) if err is not None else result
        e.gt_error = problem or ""
        found = gt is not None and e.gt is None
        if gt is not None:
            e.gt, e.gt_source = gt, src
        self.state.entryChanged.emit(eid)
        if rerun or e.jid == 0 or found:  # its first run, or again with its ground truth
            self.runs.schedule(e, self.state.mode)
        if eid == self.state.current_id:
            self.editingChanged.emit()
