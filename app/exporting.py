"""Export jobs. Every file is written by :mod:`nodis.export` (the same writers as ``nodis predict``);
this module only gathers what to write and runs on the worker thread (:meth:`nodis_viewer.worker.Engine.call`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from nodis import export
from nodis.errors import ExportError, NodisError

log = logging.getLogger(__name__)

#: (format, menu title, file-dialog filter); formats are :data:`nodis.export.FORMATS` names
SINGLE_EXPORTS: list[tuple[str, str, str]] = [
    ("json", "Scene graph as nodis JSON…", "nodis scene graph (*.json)"),
    ("vg", "Scene graph as Visual Genome JSON…", "Visual Genome scene_graphs (*.vg.json *.json)"),
    ("graphml", "Scene graph as GraphML…", "GraphML (*.graphml)"),
    ("png", "Annotated image (PNG)…", "PNG image (*.png)"),
    ("graph-png", "Graph drawing (PNG)…", "PNG image (*.graph.png *.png)"),
    ("svg", "Graph drawing (SVG)…", "SVG drawing (*.svg)"),
    ("strip", "t-strip figure (PNG)…", "PNG image (*.strip.png *.png)"),
]

STRIP_TIMES = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5)


@dataclass
class ExportItem:
    """One image to export: its graph (filtered) and what the drawings need."""

    eid: int
    image: Path
    graph: Any  # SceneGraph at the current t, filtered as displayed
    layout: dict | None = None  # unit-square layout (render convention) or None
    gt: Any = None
    top_k: int | None = None
    strip_graphs: list | None = None  # filtered graphs at STRIP_TIMES (decoded on the worker if None)
    filter_fn: Callable | None = None  # SceneGraph -> filtered SceneGraph (for strip graphs)
    title: str = ""
    labels: dict | None = None  # object id -> the display name the viewer shows (drawings match the screen)
    strip_labels: list | None = None  # the same per strip graph


@dataclass
class ExportReport:
    written: list[Path] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    cancelled: bool = False  # stopped by the user (the images written so far are complete)
    done: int = 0  # images finished (written or failed)


def _kwargs(item: ExportItem, fmt: str, engine=None) -> dict:
    kw: dict[str, Any] = {}
    if fmt == "png":
        kw.update(image=str(item.image), gt=item.gt, show_scores=True, labels=item.labels)
    elif fmt in ("graph-png", "svg", "pdf"):
        kw.update(layout=item.layout, gt=item.gt, title=item.title or None, labels=item.labels)
    elif fmt == "strip":
        graphs = item.strip_graphs
        if graphs is None and engine is not None:
            graphs = []
            for t in STRIP_TIMES:
                g = engine.graph_at(item.eid, t, t)
                if g is None:
                    raise ExportError(f"{item.image.name}: its result is no longer in memory; re-run it to export a t-strip")
                graphs.append(item.filter_fn(g) if item.filter_fn else g)
        kw.update(image=str(item.image), graphs=graphs, gt=item.gt, top_k=item.top_k,
                  t_end=float(item.graph.meta.get("t_end", 1.5)),
                  labels=item.strip_labels if item.strip_graphs is not None else None)
    return kw


def export_one(engine, item: ExportItem, path: str | Path, fmt: str) -> Path:
    """(worker thread) Write ``item`` to ``path`` as ``fmt``."""
    return export.save_graph(item.graph, Path(path), format=fmt, **_kwargs(item, fmt, engine))


def export_batch(engine, items: list[ExportItem], folder: str | Path, formats: list[str]) -> ExportReport:
    """(worker thread) Write every item in every format into ``folder``; carry on after failures.
    An image whose export fails in one format keeps none of its files (no half-written sets).

    Progress is reported after each image (``engine.call_progress(done, total)``) and the export stops
    between images when the user cancels (``engine.call_cancelled()``): the report then says
    ``cancelled``, the images written so far are complete and the run-level VG file is not written."""
    rep = ExportReport()
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create the folder {folder}: {e.strerror or e}") from e
    progress = getattr(engine, "call_progress", None)
    cancelled = getattr(engine, "call_cancelled", None)
    stems = export.output_names([it.image for it in items])  # distinct whatever the paths (as nodis predict)
    per_image = [f for f in formats if f != "vg"]
    for it, stem in zip(items, stems):  # one image's formats all or none (export.save_formats)
        if not per_image:
            break
        if cancelled is not None and cancelled():
            rep.cancelled = True
            return rep
        if progress is not None:
            progress(rep.done, len(items))
        rep.done += 1
        try:
            options = {f: _kwargs(it, f, engine) for f in per_image}
            rep.written += list(export.save_formats(it.graph, folder / stem, per_image, options).values())
        except NodisError as e:
            rep.errors.append(f"{stem}: {e}")
        except Exception as e:  # keep going with the other images
            log.exception("export of %s failed", stem)
            rep.errors.append(f"{stem}: {type(e).__name__}: {e}")
    if cancelled is not None and cancelled():
        rep.cancelled = True
        return rep
    if "vg" in formats:
        try:
            rep.written += export.save_batch([it.graph for it in items], folder, "vg")
        except NodisError as e:
            rep.errors.append(f"scene_graphs.json: {e}")
    rep.done = len(items)
    if progress is not None:
        progress(len(items), len(items))
    return rep
