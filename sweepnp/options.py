"""Checks for plugin options, written so a hyperparameter may also be an array.

A plugin constructor validates its arguments up front (tinygrad's style) with these helpers;
each raises :class:`~sweepnp.errors.OptionError` naming the option, which sweepnp reports under
its full dotted key. Every check uses ``np.all`` so that an array of values (one per trial, on a
leading trial axis) is checked element by element.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from sweepnp.errors import OptionError

__all__ = ["in_range", "non_negative", "one_of", "positive", "positive_int"]


def _finite(name: str, value: Any) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise OptionError(name, f"must be a number, got {value!r}") from None
    if not np.all(np.isfinite(array)):
        raise OptionError(name, f"must be finite, got {value!r}")
    return array


def positive(name: str, value: Any) -> None:
    """Require ``value > 0``."""
    if not np.all(_finite(name, value) > 0):
        raise OptionError(name, f"must be > 0, got {value!r}")


def non_negative(name: str, value: Any) -> None:
    """Require ``value >= 0``."""
    if not np.all(_finite(name, value) >= 0):
        raise OptionError(name, f"must be >= 0, got {value!r}")


def positive_int(name: str, value: Any) -> None:
    """Require a whole number >= 1 (an int, not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise OptionError(name, f"must be a whole number >= 1, got {value!r}")


def in_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = False,
) -> None:
    """Require ``low <= value < high`` (bounds' inclusiveness selectable)."""
    array = _finite(name, value)
    above = array >= low if low_inclusive else array > low
    below = array <= high if high_inclusive else array < high
    if not (np.all(above) and np.all(below)):
        interval = f"{'[' if low_inclusive else '('}{low}, {high}{']' if high_inclusive else ')'}"
        raise OptionError(name, f"must lie in {interval}, got {value!r}")


def one_of(name: str, value: Any, choices: Collection[Any]) -> None:
    """Require ``value`` to be one of ``choices``."""
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise OptionError(name, f"must be one of {valid}; got {value!r}")
