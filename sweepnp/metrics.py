"""Rules about metrics that more than one part of sweepnp needs, stated once.

* :func:`metric_direction`: whether more of a metric is better (``accuracy``, ``r2``) or less
  (``loss``, ``mse``, ``train_seconds``) — a study's default direction and a callback's ``mode``.
* :func:`confidence_half_width`: the half-width of the 95% confidence interval of a mean, from
  Student's t distribution, for the ``lcb`` aggregate and the summary table.
* :func:`metric_bounds`: the range a metric's values can take (accuracy [0, 1], a loss ≥ 0),
  to which the summary clips its confidence intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from sweepnp.vocabulary import EPOCH_SECONDS, EXTRA_METRICS

if TYPE_CHECKING:
    import pandas as pd
    from pandas.core.groupby import SeriesGroupBy

__all__ = [
    "HIGHER_IS_BETTER",
    "confidence_half_width",
    "metric_bounds",
    "metric_direction",
    "t_quantile",
]

#: Parts of a metric's name that mark it as "higher is better".
HIGHER_IS_BETTER = ("acc", "r2")


def metric_direction(metric: str) -> Literal["maximize", "minimize"]:
    """``"maximize"`` for accuracy-like metrics and R², ``"minimize"`` for the rest."""
    return "maximize" if any(word in metric for word in HIGHER_IS_BETTER) else "minimize"


#: The prefixes of a metric measured on the validation and the test split.
SPLIT_PREFIXES = ("val_", "test_")


def metric_base(metric: str) -> str:
    """The metric without its split: ``val_accuracy`` → ``accuracy``, ``loss`` → ``loss``."""
    for prefix in SPLIT_PREFIXES:
        if metric.startswith(prefix):
            return metric.removeprefix(prefix)
    return metric


#: Metrics (after a ``val_`` or ``test_`` prefix) that are never negative.
NON_NEGATIVE = ("loss", "mse", "mae", "rmse", *EXTRA_METRICS, EPOCH_SECONDS)


def metric_bounds(metric: str) -> tuple[float, float]:
    """The smallest and largest value ``metric`` can take: ``(0, 1)`` for accuracy-like metrics
    (any name with ``acc``), ``(0, inf)`` for losses, errors, seconds and epochs, ``(-inf, 1)``
    for R², and no bounds for a metric sweepnp does not know (a plugin's own)."""
    base = metric_base(metric)
    if "acc" in base:
        return 0.0, 1.0
    if base == "r2":
        return -math.inf, 1.0
    if base in NON_NEGATIVE or base.endswith("_loss"):
        return 0.0, math.inf
    return -math.inf, math.inf


def interval_by_group(values: SeriesGroupBy, metric: str) -> pd.DataFrame:
    """Per group of ``values``: ``mean``, ``std``, ``n`` and the 95% t interval of the mean,
    ``ci_low`` and ``ci_high``, clipped to the range of ``metric`` (:func:`metric_bounds`);
    the interval is NaN for a group of one value.

    A t interval is symmetric and knows nothing of the metric's range: 3 repeats of accuracy
    1, 1, 0.96 give 0.987 ± 0.057, whose upper end no accuracy can reach — hence the clipping.
    """
    import numpy as np
    import pandas as pd

    out = pd.DataFrame({"mean": values.mean(), "std": values.std(ddof=1), "n": values.count()})
    quantile = out["n"].map(lambda k: t_quantile(k) if k > 1 else np.nan)
    half = quantile * out["std"] / np.sqrt(out["n"])
    low, high = metric_bounds(metric)
    out["ci_low"] = (out["mean"] - half).clip(lower=low)
    out["ci_high"] = (out["mean"] + half).clip(upper=high)
    return out


def confidence_half_width(values: Sequence[float], level: float = 0.95) -> float:
    r"""Half the width of the ``level`` confidence interval of the mean of ``values``.

    .. math:: t_{(1 + \text{level}) / 2,\, n - 1} \cdot s / \sqrt{n}

    with :math:`s` the sample standard deviation; ``nan`` for fewer than two values.
    """
    n = len(values)
    if n < 2:
        return math.nan
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return t_quantile(n, level) * std / math.sqrt(n)


def t_quantile(n: int, level: float = 0.95) -> float:
    """Student's t quantile for the ``level`` interval of a mean of ``n`` values."""
    from scipy import stats  # imported here: SciPy's statistics take half a second to import

    return float(stats.t.ppf(0.5 + level / 2, n - 1))
