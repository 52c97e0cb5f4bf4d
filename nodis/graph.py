"""Scene graphs as plain data (no torch inside).

A :class:`SceneGraph` is what a :class:`nodis.trajectory.Trajectory` decodes at one ODE time.
Boxes are ``(x1, y1, x2, y2)`` in pixels of the *original* image. Relations are ranked by the
triplet score ``score(subject) * score(object) * score(predicate)`` with the background predicate
excluded (graph constraint: one predicate per ordered pair, the arg-max over predicates >= 1).

The JSON schema is versioned (``SCHEMA``) and documented in ``docs/formats.md``; ``to_dict`` /
``from_dict`` round-trip losslessly.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError


def check_score_threshold(value: float, name: str = "threshold") -> float:
    """``value`` as a float in [0, 1], the range of object and triplet scores; anything else (NaN, 2, -0.1)
    raises :class:`InputError` naming ``name``. The one rule for thresholds in the API, the CLI and the viewer."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= v <= 1.0:  # also false for NaN
        raise InputError(f"{name} must be in [0, 1] (scores are probabilities), got {value!r}")
    return v


SCHEMA = "nodis.scene_graph/1"


@dataclass
class ObjectNode:
    """One detected (or given) object."""

    index: int  # object id, stable across ODE times; relations refer to it
    box: tuple[float, float, float, float]
    label: int
    name: str
    score: float
    class_scores: list[float] | None = None  # full distribution, index 0 = background

    def to_dict(self) -> dict[str, Any]:
        d = {"index": self.index, "box": list(self.box), "label": self.label, "name": self.name, "score": self.score}
        if self.class_scores is not None:
            d["class_scores"] = list(self.class_scores)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ObjectNode":
        box = d["box"]
        if len(box) != 4:
            raise InputError(f"object {d.get('index')}: box must have 4 numbers, got {box!r}")
        return cls(int(d["index"]), tuple(float(v) for v in box), int(d["label"]), str(d["name"]),
                   float(d["score"]), None if d.get("class_scores") is None else [float(v) for v in d["class_scores"]])


@dataclass
class Relation:
    """A directed relation ``subject --predicate--> object``.

    ``subject`` / ``object`` are :attr:`ObjectNode.index` values (object ids), not list positions:
    ids stay stable across ODE times (in sgdet they are proposal indices)."""

    subject: int
    object: int
    predicate: int
    name: str
    score: float  # triplet score: subject score * object score * predicate score
    predicate_score: float
    predicate_scores: list[float] | None = None  # full distribution, index 0 = background

    def to_dict(self) -> dict[str, Any]:
        d = {"subject": self.subject, "object": self.object, "predicate": self.predicate, "name": self.name,
             "score": self.score, "predicate_score": self.predicate_score}
        if self.predicate_scores is not None:
            d["predicate_scores"] = list(self.predicate_scores)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Relation":
        return cls(int(d["subject"]), int(d["object"]), int(d["predicate"]), str(d["name"]), float(d["score"]),
                   float(d["predicate_score"]),
                   None if d.get("predicate_scores") is None else [float(v) for v in d["predicate_scores"]])


@dataclass
class SceneGraph:
    """Objects and ranked relations of one image at ODE times ``t_obj`` / ``t_rel``."""

    objects: list[ObjectNode]
    relations: list[Relation]
    image_size: tuple[int, int]  # (width, height) of the original image
    mode: str = "sgdet"
    t_obj: float = 1.5
    t_rel: float = 1.5
    image: str | None = None
    class_names: list[str] | None = None  # vocabulary, index 0 = background (optional, for exporters)
    predicate_names: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ queries
    def triplets(self, k: int | None = None) -> list[tuple[str, str, str]]:
        """The top-``k`` relations as ``(subject name, predicate, object name)``."""
        rels = self.relations if k is None else self.relations[:k]
        names = {o.index: o.name for o in self.objects}
        return [(names[r.subject], r.name, names[r.object]) for r in rels]

    def filtered(self, top_k: int | None = None, threshold: float = 0.0,
                 object_threshold: float = 0.0) -> "SceneGraph":
        """A copy keeping objects with score >= ``object_threshold`` and the top-``top_k`` relations
        with triplet score >= ``threshold`` among them. Object indices are preserved (not renumbered).
        Thresholds outside [0, 1] raise :class:`InputError` (:func:`check_score_threshold`)."""
        threshold = check_score_threshold(threshold, "threshold")
        object_threshold = check_score_threshold(object_threshold, "object_threshold")
        objs = [o for o in self.objects if o.score >= object_threshold]
        keep = {o.index for o in objs}
        limit = None if top_k is None else max(0, int(top_k))
        rels = []
        if limit != 0:
            for r in self.relations:  # stops at the top-k-th kept relation (graphs may have 10^4 pairs)
                if r.score >= threshold and r.subject in keep and r.object in keep:
                    rels.append(r)
                    if limit is not None and len(rels) >= limit:
                        break
        return SceneGraph(objs, rels, self.image_size, self.mode, self.t_obj, self.t_rel, self.image,
                          self.class_names, self.predicate_names, dict(self.meta))

    def object_by_index(self, index: int) -> ObjectNode:
        for o in self.objects:
            if o.index == index:
                return o
        raise KeyError(index)

    # ------------------------------------------------------------------ conversions
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema": SCHEMA,
            "image": self.image,
            "image_size": list(self.image_size),
            "mode": self.mode,
            "t_obj": self.t_obj,
            "t_rel": self.t_rel,
            "objects": [o.to_dict() for o in self.objects],
            "relations": [r.to_dict() for r in self.relations],
            "meta": self.meta,
        }
        if self.class_names is not None:
            d["class_names"] = list(self.class_names)
        if self.predicate_names is not None:
            d["predicate_names"] = list(self.predicate_names)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SceneGraph":
        schema = d.get("schema")
        if schema != SCHEMA:
            raise InputError(f"not a nodis scene graph (schema {schema!r}, expected {SCHEMA!r})")
        try:
            return cls(
                objects=[ObjectNode.from_dict(o) for o in d["objects"]],
                relations=[Relation.from_dict(r) for r in d["relations"]],
                image_size=(int(d["image_size"][0]), int(d["image_size"][1])),
                mode=str(d.get("mode", "sgdet")),
                t_obj=float(d.get("t_obj", 1.5)),
                t_rel=float(d.get("t_rel", 1.5)),
                image=d.get("image"),
                class_names=d.get("class_names"),
                predicate_names=d.get("predicate_names"),
                meta=dict(d.get("meta") or {}),
            )
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise InputError(f"malformed nodis scene graph: {e}") from e

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> "SceneGraph":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise InputError(f"not valid JSON: {e}") from e

    @classmethod
    def load(cls, path: str | Path) -> "SceneGraph":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def to_networkx(self):
        """A ``networkx.MultiDiGraph``: node id = object index; one edge per relation (key = rank)."""
        import networkx as nx

        g = nx.MultiDiGraph(image=self.image or "", mode=self.mode, t_obj=self.t_obj, t_rel=self.t_rel,
                            width=self.image_size[0], height=self.image_size[1])
        for o in self.objects:
            x1, y1, x2, y2 = o.box
            g.add_node(o.index, label=o.label, name=o.name, score=o.score, x1=x1, y1=y1, x2=x2, y2=y2)
        for rank, r in enumerate(self.relations):
            g.add_edge(r.subject, r.object, key=rank, rank=rank, predicate=r.predicate, name=r.name,
                       score=r.score, predicate_score=r.predicate_score)
        return g

    def save(self, path: str | Path, format: str | None = None, **kwargs: Any) -> Path:
        """Write this graph to ``path`` in ``format`` (default: from the suffix). See :mod:`nodis.export`."""
        from . import export

        return export.save_graph(self, path, format=format, **kwargs)
