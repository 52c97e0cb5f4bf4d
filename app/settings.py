"""The viewer's persistent settings (``QSettings``), read through typed, validating getters.

Every value read back is checked against its type and range; a corrupt or out-of-range value
(``top_k=abc``, ``top_k=10**12``, a geometry that is not bytes) is logged and replaced by its default,
so a damaged settings file never stops the viewer from starting. ``nodis-viewer --reset-settings``
forgets everything.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

log = logging.getLogger(__name__)

SETTINGS_ORG, SETTINGS_APP = "nodis", "nodis-viewer"


def settings() -> QSettings:
    """The viewer's settings (``QSettings()`` so that ``QSettings.setDefaultFormat``/``setPath`` apply)."""
    from PySide6.QtCore import QCoreApplication

    if not QCoreApplication.organizationName():
        QCoreApplication.setOrganizationName(SETTINGS_ORG)
    if QCoreApplication.applicationName() != SETTINGS_APP:
        QCoreApplication.setApplicationName(SETTINGS_APP)
    return QSettings()


class ViewerSettings:
    """Typed access to the viewer's ``QSettings``. Getters never raise: a missing value gives the
    default, a corrupt one gives the default and a warning in the log."""

    def __init__(self) -> None:
        self.qs = settings()
        self.ignored: list[str] = []  # keys whose stored value was unusable (tests, --verbose)

    # ------------------------------------------------------------------ helpers
    def _bad(self, key: str, value, why: str):
        self.ignored.append(key)
        log.warning("ignoring the saved setting %s=%r (%s); using the default", key, value, why)

    def raw(self, key: str, default=None):
        try:
            return self.qs.value(key, default)
        except Exception as e:  # a value QSettings itself cannot decode
            self._bad(key, "?", f"unreadable: {e}")
            return default

    def has(self, key: str) -> bool:
        return self.qs.contains(key)

    def get_int(self, key: str, default: int, lo: int, hi: int) -> int:
        v = self.raw(key)
        if v is None:
            return default
        try:
            f = float(v)
            if not math.isfinite(f) or f != int(f):
                raise ValueError("not an integer")
            i = int(f)
        except (TypeError, ValueError) as e:
            self._bad(key, v, str(e))
            return default
        if not lo <= i <= hi:
            self._bad(key, v, f"outside {lo}..{hi}")
            return default
        return i

    def get_float(self, key: str, default: float, lo: float, hi: float) -> float:
        v = self.raw(key)
        if v is None:
            return default
        try:
            f = float(v)
        except (TypeError, ValueError) as e:
            self._bad(key, v, str(e))
            return default
        if not (math.isfinite(f) and lo <= f <= hi):
            self._bad(key, v, f"outside {lo}..{hi}")
            return default
        return f

    def get_bool(self, key: str, default: bool) -> bool:
        v = self.raw(key)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        s = str(v).strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
        self._bad(key, v, "not a boolean")
        return default

    def get_str(self, key: str, default: str, choices=None) -> str:
        v = self.raw(key)
        if v is None:
            return default
        if not isinstance(v, str):
            self._bad(key, v, "not text")
            return default
        if choices is not None and v not in choices:
            self._bad(key, v, f"not one of {', '.join(map(str, choices))}")
            return default
        return v

    def get_str_list(self, key: str, max_len: int = 1000) -> list[str]:
        v = self.raw(key)
        if v is None or v == "":
            return []
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, (list, tuple)):
            self._bad(key, v, "not a list")
            return []
        return [x for x in v if isinstance(x, str) and x][:max_len]

    def get_bytes(self, key: str) -> QByteArray | None:
        v = self.raw(key)
        if v is None:
            return None
        if isinstance(v, (QByteArray, bytes, bytearray)):
            return QByteArray(bytes(v))
        self._bad(key, type(v).__name__, "not binary data")
        return None

    def get_dir(self, key: str) -> str:
        """A folder remembered under ``key`` (the home folder when unset or not text)."""
        return self.get_str(key, str(Path.home()))

    def set(self, key: str, value) -> None:
        self.qs.setValue(key, value)

    def sync(self) -> None:
        self.qs.sync()

    def clear(self) -> None:
        self.qs.clear()
        self.qs.sync()
