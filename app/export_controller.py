"""*File ▸ Export*: what to export (the graph as shown), where to (file dialogs), and the reports.

:class:`ExportController` builds :class:`nodis_viewer.exporting.ExportItem` s from the viewer's state
(the graph at the current ``t`` with the current filters, the viewer's node positions and display
names) and runs the writers on the worker thread (:meth:`Engine.call`). A batch export shows a
progress dialog with *Cancel*.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QProgressDialog, QWidget

from nodis.render import focus_graph

from .dialogs import BatchExportDialog
from .exporting import SINGLE_EXPORTS, ExportItem, export_batch, export_one
from .graph_view import to_unit
from .settings import ViewerSettings
from .state import ImageEntry, ViewerState
from .worker import Engine

log = logging.getLogger(__name__)


class ExportController(QObject):
    """Exports of the current image or of every image, on the worker thread."""

    message = Signal(str, int)  # status-bar text, timeout ms
    failed = Signal(str, str)  # title, message (shown to the user)
    finished = Signal(object)  # the result of the last export (a Path or an ExportReport)

    def __init__(self, state: ViewerState, engine: Engine, prefs: ViewerSettings,
                 labels_for: Callable[[ImageEntry, object], dict] | None = None,
                 parent_widget: QWidget | None = None) -> None:
        super().__init__(parent_widget)
        self.state, self.engine, self.prefs = state, engine, prefs
        self.labels_for = labels_for
        self.parent_widget = parent_widget
        self._calls: dict[int, tuple] = {}
        self.last_result = None
        self.progress_dialog: QProgressDialog | None = None
        engine.callDone.connect(self._on_call_done)
        engine.callFailed.connect(self._on_call_failed)
        if hasattr(engine, "callProgress"):
            engine.callProgress.connect(self._on_call_progress)

    # ------------------------------------------------------------------ what is exported
    def _filter_fn(self):
        return self.state.graph_filter()

    def export_item(self, e: ImageEntry) -> ExportItem | None:
        """The graph of ``e`` at the current time (t_end when that is not decoded), filtered as shown;
        None when ``e`` has no result in the current mode."""
        if e.result_mode != self.state.mode or e.times is None:
            return None
        raw = e.graphs.get(self.state.time_key())
        if raw is None:
            i = int(np.argmin(np.abs(e.times - e.t_end)))
            raw = e.graphs.get((i, i))
        if raw is None:
            return None
        g = self.state.filter_graph(raw)
        if self.state.hide_unrelated:
            g = focus_graph(g, len(g.relations) or (self.state.top_k or None))
        layout = self.unit_layout(e, g)
        gt = e.gt if self.state.compare_gt else None
        strip = None
        idx = [int(np.argmin(np.abs(e.times - t))) for t in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5)]
        if all((i, i) in e.graphs for i in idx):
            strip = [self.state.filter_graph(e.graphs[(i, i)]) for i in idx]
        title = f"{e.name}   t = {g.t_obj:.2f}" + (f" / {g.t_rel:.2f}" if g.t_rel != g.t_obj else "")
        names = self.labels_for if self.labels_for is not None else (lambda e, g: None)
        return ExportItem(e.eid, e.path, g, layout=layout, gt=gt, top_k=self.state.top_k or None,
                          strip_graphs=strip, filter_fn=self._filter_fn(), title=title, labels=names(e, g),
                          strip_labels=[names(e, sg) for sg in strip] if strip is not None else None)

    def unit_layout(self, e: ImageEntry, g) -> dict | None:
        """The viewer's node positions for the nodes of ``g`` (and ground-truth nodes), fitted to the
        unit square with y up — the layout convention of :func:`nodis.render.draw_graph`."""
        keys = [o.index for o in g.objects if o.index in e.layout]
        if self.state.compare_gt and e.gt is not None:
            keys += [k for k in e.layout if isinstance(k, tuple)]
        if not keys:
            return None
        pts = np.array([to_unit(*e.layout[k]) for k in keys], dtype=np.float64)
        lo, hi = pts.min(0), pts.max(0)
        span = np.where(hi - lo > 1e-9, hi - lo, 1.0)
        pts = np.where(hi - lo > 1e-9, (pts - lo) / span, 0.5)
        return {k: (float(x), float(y)) for k, (x, y) in zip(keys, pts)}

    # ------------------------------------------------------------------ running exports
    def export_to(self, fmt: str, path: str | Path) -> int | None:
        """Export the current image's graph as ``fmt`` to ``path`` (on the worker). Returns the call token."""
        e = self.state.current
        item = None if e is None else self.export_item(e)
        if item is None:
            self.failed.emit("Nothing to export", "Open an image and wait for its scene graph first.")
            return None
        token = self.engine.call(export_one, item, Path(path), fmt)
        self._calls[token] = ("one", fmt, Path(path))
        self.message.emit(f"Exporting {Path(path).name}…", 0)
        return token

    def export_batch_to(self, folder: str | Path, formats: list[str], show_progress: bool = True) -> int | None:
        """Export every image with a result in the current mode into ``folder``."""
        items = [it for it in (self.export_item(e) for e in self.state.entries) if it is not None]
        if not items:
            self.failed.emit("Nothing to export", "No image has a scene graph in this mode yet.")
            return None
        token = self.engine.call(export_batch, items, Path(folder), list(formats))
        self._calls[token] = ("batch", ",".join(formats), Path(folder))
        self.message.emit(f"Exporting {len(items)} image(s)…", 0)
        if show_progress:
            self._show_progress(token, len(items))
        return token

    def _show_progress(self, token: int, n: int) -> None:
        dlg = QProgressDialog(f"Exporting {n} image(s)…", "Cancel", 0, n, self.parent_widget)
        dlg.setWindowTitle("Batch export")
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setMinimumDuration(0)
        dlg.setAutoClose(False)
        dlg.setAutoReset(False)
        dlg.setValue(0)
        dlg.canceled.connect(lambda: self.cancel(token))
        self.progress_dialog = dlg
        self._progress_token = token
        dlg.show()

    def cancel(self, token: int | None = None) -> None:
        """Stop a running batch export after the image being written."""
        if token is None:
            token = getattr(self, "_progress_token", None)
        if token is not None and hasattr(self.engine, "cancel_call"):
            self.engine.cancel_call(token)
            self.message.emit("Cancelling the export…", 0)

    def _close_progress(self, token: int) -> None:
        dlg = self.progress_dialog
        if dlg is not None and getattr(self, "_progress_token", None) == token:
            self.progress_dialog = None
            dlg.canceled.disconnect()
            dlg.close()
            dlg.deleteLater()

    def _on_call_progress(self, token: int, done: int, total: int) -> None:
        dlg = self.progress_dialog
        if dlg is not None and getattr(self, "_progress_token", None) == token:
            dlg.setMaximum(total)
            dlg.setValue(done)
            dlg.setLabelText(f"Exported {done} of {total} image(s)…")

    def _on_call_done(self, token: int, result) -> None:
        kind = self._calls.pop(token, None)
        if kind is None:
            return
        self._close_progress(token)
        if kind[0] == "one":
            self.message.emit(f"Saved {result}", 6000)
        elif kind[0] == "batch":
            rep = result
            msg = f"Batch export: {len(rep.written)} file(s) written to {kind[2]}"
            if getattr(rep, "cancelled", False):
                msg += " (cancelled)"
            if rep.errors:
                self.failed.emit("Some files could not be exported", msg + "\n\n" + "\n".join(rep.errors[:20]))
            else:
                self.message.emit(msg, 8000)
        self.last_result = result
        self.finished.emit(result)

    def _on_call_failed(self, token: int, msg: str) -> None:
        kind = self._calls.pop(token, None)
        if kind is None:
            return
        self._close_progress(token)
        self.failed.emit("Export failed", f"{kind[2] or ''}\n{msg}".strip())

    # ------------------------------------------------------------------ dialogs
    def export_dialog(self, fmt: str) -> None:
        e = self.state.current
        if e is None or self.export_item(e) is None:
            self.failed.emit("Nothing to export", "Open an image and wait for its scene graph first.")
            return
        from nodis.export import output_path

        title, filt = next((t, f) for k, t, f in SINGLE_EXPORTS if k == fmt)
        default = output_path(Path(self.prefs.get_dir("export/last_dir")) / e.path.stem, fmt)
        path, _ = QFileDialog.getSaveFileName(self.parent_widget, title.rstrip("…"), str(default),
                                              filt + ";;All files (*)")
        if path:
            self.prefs.set("export/last_dir", str(Path(path).parent))
            self.export_to(fmt, path)

    def batch_export_dialog(self) -> None:
        done = sum(1 for e in self.state.entries if e.has_result and e.result_mode == self.state.mode)
        fmts = self.prefs.get_str_list("export/batch_formats") or ["json", "png"]
        dlg = BatchExportDialog(self.prefs.get_dir("export/last_dir"), fmts, done, len(self.state.entries),
                                self.parent_widget)
        if dlg.exec():
            self.prefs.set("export/batch_formats", dlg.selected_formats())
            self.prefs.set("export/last_dir", dlg.folder.text())
            self.export_batch_to(dlg.folder.text(), dlg.selected_formats())
