"""How a report says things: parameter paths, values, metrics and estimates.

Values may come as the results tables hold them (list and table choices as the JSON strings
Optuna stores): :func:`value_words` decodes them itself. Nothing here imports matplotlib. The
verdict's sentence is :mod:`sweepnp.report.verdict_words`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sweepnp.study.space import decode_value
from sweepnp.verdict import is_missing
from sweepnp.vocabulary import EPOCHS, TRAIN_SECONDS

__all__ = [
    "choice_names",
    "config_label",
    "estimate",
    "format_estimate",
    "is_missing",
    "metric_words",
    "param_words",
    "value_words",
]

_SECTIONS = {"data", "model", "train", "optimizer", "schedule", "regularizers", "callbacks"}
_KEY_WORDS = {
    "lr": "learning rate",
    "lam": "λ",
    "hidden": "hidden layers",
    "regularizers": "regularization",  # a whole [regularizers] table as one choice
}
_METRIC_BASES = {"r2": "R²", "mse": "MSE", "mae": "MAE", "rmse": "RMSE"}
_METRIC_WORDS = {TRAIN_SECONDS: "training time (s)", EPOCHS: "epochs trained"}


def _key_words(key: str) -> str:
    return _KEY_WORDS.get(key, key.replace("_", " "))


def param_words(path: str) -> str:
    """A dotted parameter path in words: ``regularizers.dropout.rate`` → ``dropout rate``,
    ``optimizer.name`` → ``optimizer``, ``optimizer.lr`` → ``learning rate``."""
    parts = path.split(".")
    # The section says little ("train" in train.batch_size) and "name" nothing, unless they are
    # all there is: optimizer.name is "the optimizer".
    kept = parts[1:] if len(parts) > 1 and parts[0] in _SECTIONS else parts
    kept = [part for part in kept if part != "name"] or [parts[0]]
    return " ".join(_key_words(part) for part in kept)


def metric_words(metric: str) -> str:
    """A metric name in words: ``val_accuracy`` → ``validation accuracy``, ``loss`` →
    ``training loss``, ``test_r2`` → ``test R²``."""
    if metric in _METRIC_WORDS:
        return _METRIC_WORDS[metric]
    for prefix, split in (("val_", "validation"), ("test_", "test")):
        if metric.startswith(prefix):
            base = metric.removeprefix(prefix)
            return f"{split} {_METRIC_BASES.get(base, base.replace('_', ' '))}"
    return f"training {_METRIC_BASES.get(metric, metric.replace('_', ' '))}"


def value_words(value: Any) -> str:
    """A parameter value, compactly: ``0.1``, ``adam``, ``off`` for false, and tables as
    ``l2 λ=0.01`` (``none`` for an empty one)."""
    value = decode_value(value)
    if is_missing(value):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "on" if value else "off"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(value_words(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return _table_words(value) or "none"
    return str(value)


def _table_words(table: Mapping[str, Any]) -> str:
    """A table in words: a plugin and its options read ``l2 λ=0.01``, several plugins are joined
    by ``+`` (``l1 λ=0.001 + dropout rate=0.5``), a named choice reads ``cosine t max=10``."""
    options, plugins = [], []
    for key, value in table.items():
        if key == "name":  # {"name": "cosine", …}: the name alone says which
            options.insert(0, value_words(value))
        elif isinstance(value, Mapping):  # a plugin and its options
            plugins.append(" ".join(filter(None, [_key_words(key), _table_words(value)])))
        elif isinstance(value, bool):  # an option, or a plugin, switched on or off
            options.append(f"{_key_words(key)} {value_words(value)}")
        else:
            options.append(f"{_key_words(key)}={value_words(value)}")
    return " + ".join(filter(None, [" ".join(options), *plugins]))


def choice_names(choices: Sequence[Any]) -> list[str]:
    """Tick labels for the choices of one parameter: tables leave out the options that every
    table choice shares (``monitor=val_loss`` in each early-stopping table), which would only
    crowd the axis."""
    values = [decode_value(c) for c in choices]
    tables = [v for v in values if isinstance(v, Mapping)]
    shared = {
        key
        for key in (tables[0] if len(tables) > 1 else {})
        if all(key in t and t[key] == tables[0][key] for t in tables)
    }
    names = []
    for value in values:
        if isinstance(value, Mapping):
            # A table of nothing but shared options (the only table) keeps them.
            value = {k: v for k, v in value.items() if k not in shared} or value
        names.append(value_words(value))
    return names


def config_label(params: Mapping[str, Any]) -> str:
    """A configuration in words, as every figure and table of a report names it:
    ``{"optimizer.name": "adam", "optimizer.lr": 0.01}`` → ``optimizer adam, learning rate
    0.01``. Inactive (missing) conditional parameters are left out."""
    return ", ".join(
        f"{param_words(path)} {value_words(value)}"
        for path, value in params.items()
        if not is_missing(value)
    )


def format_estimate(mean: float, low: float | None = None, high: float | None = None) -> str:
    """``mean ± half-width`` of a confidence interval, rounded to the precision the half-width
    warrants (one significant digit, two when it starts with 1); the mean alone without one.

    An interval clipped to the metric's range (:meth:`~sweepnp.results.StudyResults.summary`)
    is no longer symmetric and reads ``mean (low–high)``: ``0.987 (0.93–1)`` for accuracies
    of 1, 1 and 0.96, rather than a ``±`` that reaches past 1."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return f"{mean:.4g}"
    below, above = mean - low, high - mean
    half = max(below, above)
    if half == 0:
        return f"{mean:.4g} ± 0"
    exponent = math.floor(math.log10(half))
    digits = 2 if half / 10**exponent < 2 else 1
    decimals = min(max(0, digits - 1 - exponent), 8)
    if math.isclose(below, above, rel_tol=1e-9, abs_tol=1e-15):
        return f"{mean:.{decimals}f} ± {half:.{decimals}f}"
    return f"{mean:.{decimals}f} ({low:.{decimals}f}–{high:.{decimals}f})"


def estimate(row: pd.Series, metric: str) -> str:
    """A ``summary()`` row's ``mean ± half-width`` of ``metric`` (the mean alone for n = 1)."""
    if row["n"] < 2:
        return format_estimate(row[f"{metric}_mean"])
    return format_estimate(row[f"{metric}_mean"], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"])
