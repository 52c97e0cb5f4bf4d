"""User-facing errors. Every error a user can cause is a :class:`NodisError` subclass whose
message says what happened and what to do; the CLI prints it without a traceback and the GUI
shows it in a dialog and carries on."""
from __future__ import annotations


class NodisError(Exception):
    """Base class of all errors a user can cause."""


class ImageError(NodisError):
    """An image could not be read, is corrupt, empty or too large."""


class CheckpointError(NodisError):
    """A checkpoint is missing, malformed, unsafe to load or does not fit the model."""


class ConfigError(NodisError):
    """A configuration value or option is invalid."""


class InputError(NodisError):
    """Boxes, labels, modes or other arguments are invalid."""


class DatasetError(NodisError):
    """A dataset folder or file does not follow the expected layout."""


class ExportError(NodisError):
    """An output could not be written."""
