"""Class and predicate vocabularies. Index 0 is always ``__background__``."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
BACKGROUND = "__background__"


@dataclass(frozen=True)
class Vocabulary:
    """Object class names and predicate names, both with ``__background__`` at index 0."""

    name: str
    classes: tuple[str, ...]
    predicates: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.classes or self.classes[0] != BACKGROUND:
            raise InputError("vocabulary classes must start with '__background__'")
        if not self.predicates or self.predicates[0] != BACKGROUND:
            raise InputError("vocabulary predicates must start with '__background__'")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def num_predicates(self) -> int:
        return len(self.predicates)

    def class_index(self, name: str) -> int:
        try:
            return self.classes.index(name)
        except ValueError:
            raise InputError(f"unknown object label {name!r}; known labels: {', '.join(self.classes[1:])}") from None

    def predicate_index(self, name: str) -> int:
        try:
            return self.predicates.index(name)
        except ValueError:
            raise InputError(f"unknown predicate {name!r}; known: {', '.join(self.predicates[1:])}") from None

    def to_dict(self) -> dict:
        return {"name": self.name, "classes": list(self.classes), "predicates": list(self.predicates)}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocabulary":
        return cls(d.get("name", "custom"), tuple(d["classes"]), tuple(d["predicates"]))

    @classmethod
    def load(cls, path: str | Path) -> "Vocabulary":
        return cls.from_dict(json.loads(Path(path).read_text()))


def vg150() -> Vocabulary:
    """The Visual Genome 150-class / 50-predicate vocabulary in official (alphabetical) order."""
    return Vocabulary.load(RESOURCES / "vocab_vg150.json")
