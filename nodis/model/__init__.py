"""The NODIS model (see :class:`nodis.model.nodis.NODIS`)."""
from .nodis import NODIS, default_times, make_times

__all__ = ["NODIS", "default_times", "make_times"]
