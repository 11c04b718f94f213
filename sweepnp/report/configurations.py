"""A study's trials grouped into configurations, best first, from the results tables alone.

A *configuration* is one distinct set of searched values; with ``repeats`` each trial trains it
with several seeds, and a configuration tried by several trials (a random sampler drawing the
same values twice) groups them. Every figure and table of a report names configurations alike
(:attr:`Configuration.title`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sweepnp.report.words import config_label, is_missing
from sweepnp.study.space import encode_value

if TYPE_CHECKING:
    from sweepnp.results import StudyResults

__all__ = [
    "MAX_PANELS",
    "Configuration",
    "choice_position",
    "configurations",
    "in_parameter_order",
    "key_of",
]

#: At most this many configurations get a panel (the best ones) or are retrained.
MAX_PANELS = 12

#: Trial states with an end: their configurations are shown (running and waiting ones are not).
_FINISHED = ("complete", "pruned", "fail")


@dataclass
class Configuration:
    """One distinct set of searched values and the finished trials that trained it.

    :ivar key: its values as ``summary()`` rows hold them (see :func:`key_of`).
    :ivar params: dotted path → value as the results tables hold it (list and table choices as
        JSON strings); inactive conditional parameters left out.
    :ivar trials: the numbers of its finished trials, in order.
    :ivar stop_reasons: each trial's stop reason.
    :ivar completed: the numbers of its completed trials.
    :ivar rank: 1 = best by the study's first metric; None: no completed trial.
    :ivar has_curves: whether some trial of it stored a learning curve.
    """

    key: tuple[Any, ...]
    params: dict[str, Any]
    trials: list[int] = field(default_factory=list)
    stop_reasons: list[str] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)
    rank: int | None = None
    has_curves: bool = False

    @property
    def label(self) -> str:
        return config_label(self.params) or "base configuration"

    @property
    def title(self) -> str:
        """The label with its rank, or with its fate when it never completed."""
        if self.rank is not None:
            return f"#{self.rank} {self.label}"
        return f"{self.label} ({', '.join(sorted(set(self.stop_reasons)))})"


def key_of(values: Iterable[Any]) -> tuple[Any, ...]:
    """A configuration's identity, the same from a ``trials`` row and from a ``summary()`` row
    (NumPy scalars as Python values, every kind of missing as None)."""
    return tuple(
        None if is_missing(v) else v.item() if isinstance(v, np.generic) else v for v in values
    )


def configurations(res: StudyResults) -> list[Configuration]:
    """Every configuration with a finished trial: ranked ones (a completed trial) in the order of
    ``summary()``, then the others (only pruned or failed) by their first trial."""
    paths = res.param_columns
    trials = res.trials
    finished = trials[trials["state"].isin(_FINISHED)]
    with_curves = set(res.curves["trial"])
    found: dict[tuple[Any, ...], Configuration] = {}
    values = finished[paths].astype(object).itertuples(index=False, name=None)
    rows = zip(finished["number"], finished["state"], finished["stop_reason"], values, strict=True)
    for number, state, stop_reason, row in rows:
        key = key_of(row)
        if key not in found:
            params = {path: v for path, v in zip(paths, row, strict=True) if not is_missing(v)}
            found[key] = Configuration(key, params)
        config = found[key]
        config.trials.append(int(number))
        config.stop_reasons.append(state if is_missing(stop_reason) else str(stop_reason))
        if state == "complete":
            config.completed.append(int(number))
        config.has_curves = config.has_curves or number in with_curves
    for rank, row in enumerate(res.summary()[paths].itertuples(index=False, name=None), start=1):
        key = key_of(row)
        if key in found:
            found[key].rank = rank
    ranked = sorted((c for c in found.values() if c.rank is not None), key=lambda c: c.rank)
    others = sorted((c for c in found.values() if c.rank is None), key=lambda c: c.trials[0])
    return ranked + others


def choice_position(param: Any, value: Any) -> int | None:
    """Where a value, as the results tables hold it, stands among a categorical parameter's
    choices in the study file (None: not one of them, or inactive). ``True`` is not ``1``."""
    for position, choice in enumerate(param.choices):
        encoded = encode_value(choice)
        if value == encoded and isinstance(value, bool) == isinstance(encoded, bool):
            return position
    return None


def in_parameter_order(res: StudyResults, configs: list[Configuration]) -> list[Configuration]:
    """The configurations of a one-parameter study in that parameter's order — its choices as
    the study file lists them, or its values ascending — so that a trend reads left to right.
    Configurations without a value (none in a one-parameter study) go last. Studies with
    several parameters keep the rank order: no one parameter orders them."""
    if len(res.space.params) != 1:
        return list(configs)
    param = res.space.params[0]

    def position(config: Configuration) -> tuple[int, float]:
        value = config.params.get(param.path)
        if param.kind == "categorical":
            index = choice_position(param, value)
            return (0, float(index)) if index is not None else (1, 0.0)
        return (0, float(value)) if value is not None else (1, 0.0)

    return sorted(configs, key=position)  # stable: equal positions keep their rank order
