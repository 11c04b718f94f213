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
from typing import Literal

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


#: Metrics (after a ``val_`` or ``test_`` prefix) that are never negative.
NON_NEGATIVE = ("loss", "mse", "mae", "rmse", "train_seconds", "epochs", "epoch_seconds")


def metric_bounds(metric: str) -> tuple[float, float]:
    """The smallest and largest value ``metric`` can take: ``(0, 1)`` for accuracy-like metrics
    (any name with ``acc``), ``(0, inf)`` for losses, errors, seconds and epochs, ``(-inf, 1)``
    for R², and no bounds for a metric sweepnp does not know (a plugin's own)."""
    base = metric.removeprefix("val_").removeprefix("test_")
    if "acc" in base:
        return 0.0, 1.0
    if base == "r2":
        return -math.inf, 1.0
    if base in NON_NEGATIVE or base.endswith("_loss"):
        return 0.0, math.inf
    return -math.inf, math.inf


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
