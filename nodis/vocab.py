"""Class and predicate vocabularies (VG150, the procedural world). Index 0 is always ``__background__``."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

BACKGROUND = "__background__"


@dataclass(frozen=True)
class Vocabulary:
    """Object class names and predicate names, both with ``__background__`` at index 0."""

    name: str
    classes: tuple[str, ...]
    predicates: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise InputError(f"vocabulary name must be a string, got {type(self.name).__name__}")
        for what in ("classes", "predicates"):
            names = getattr(self, what)
            if isinstance(names, (str, bytes)) or not isinstance(names, (tuple, list)):
                raise InputError(f"vocabulary {what} must be a list of names, got {type(names).__name__}")
            for k, n in enumerate(names):
                if not isinstance(n, str) or not n:
                    raise InputError(f"vocabulary {what}[{k}] must be a non-empty string, got {n!r}")
                try:
                    n.encode("utf-8")
                except UnicodeEncodeError:
                    raise InputError(f"vocabulary {what}[{k}] is not valid Unicode ({n!r})") from None
            if len(set(names)) != len(names):
                dup = sorted({n for n in names if names.count(n) > 1})
                raise InputError(f"vocabulary {what} name the same entry twice: {', '.join(map(repr, dup[:5]))}")
            object.__setattr__(self, what, tuple(names))
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
        """From ``{"name": ..., "classes": [...], "predicates": [...]}``; :class:`InputError` when malformed."""
        if not isinstance(d, dict):
            raise InputError(f"a vocabulary must be an object with 'classes' and 'predicates', got {type(d).__name__}")
        missing = [k for k in ("classes", "predicates") if k not in d]
        if missing:
            raise InputError(f"the vocabulary lacks {' and '.join(map(repr, missing))}")
        return cls(d.get("name", "custom"), d["classes"], d["predicates"])

    @classmethod
    def load(cls, path: str | Path) -> "Vocabulary":
        """Read a vocabulary JSON file (a regular file of at most 64 MB: a FIFO cannot block it);
        :class:`InputError` when unreadable or malformed."""
        from .export import read_regular_bytes

        try:
            data = json.loads(read_regular_bytes(path, max_bytes=64 * 2**20).decode("utf-8"))
        except OSError as e:
            raise InputError(f"cannot read the vocabulary {path}: {e.strerror or e}") from None
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise InputError(f"the vocabulary {path} is not valid JSON ({type(e).__name__}: {e})") from None
        return cls.from_dict(data)


def vg150() -> Vocabulary:
    """The Visual Genome 150-class / 50-predicate vocabulary in official (alphabetical) order."""
    from .assets import vocab_file

    path = vocab_file("vg150")
    if not path.is_file():
        raise InputError(f"the VG150 vocabulary is missing from this install ({path}); reinstall nodis")
    return Vocabulary.load(path)


#: The procedural world's object classes (``docs/world.md``; the package :mod:`nodis.data.world`
#: draws them), alphabetical. Kept here, beside :func:`vg150`, so that reading a dataset can name
#: the built-in vocabularies without importing the world.
WORLD_CLASSES: tuple[str, ...] = tuple(sorted((
    "bag", "ball", "beach", "bench", "bike", "bird", "boat", "bowl", "building", "bus", "car", "cat",
    "chair", "child", "cloud", "cup", "dog", "flower", "grass", "hat", "helmet", "horse", "kite",
    "lamp", "man", "pizza", "plate", "shirt", "street", "sun", "table", "tree", "umbrella", "water",
    "wheel", "window", "woman",
)))
#: The procedural world's predicates, alphabetical.
WORLD_PREDICATES: tuple[str, ...] = tuple(sorted((
    "above", "behind", "carrying", "eating", "growing on", "has", "holding", "in", "in front of",
    "lying on", "near", "of", "on", "parked on", "playing with", "riding", "sitting on",
    "standing on", "under", "walking on", "wearing",
)))


def world_vocabulary() -> Vocabulary:
    """The world's vocabulary: classes and predicates in alphabetical order after ``__background__``."""
    return Vocabulary("world", (BACKGROUND, *WORLD_CLASSES), (BACKGROUND, *WORLD_PREDICATES))
