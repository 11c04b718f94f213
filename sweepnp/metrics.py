"""Rules about metrics that more than one part of sweepnp needs, stated once.

* :func:`metric_direction`: whether more of a metric is better (``accuracy``, ``r2``) or less
  (``loss``, ``mse``, ``train_seconds``) — a study's default direction and a callback's ``mode``.
* :func:`confidence_half_width`: the half-width of the 95% confidence interval of a mean, from
  Student's t distribution, for the ``lcb`` aggregate and the summary table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

__all__ = ["HIGHER_IS_BETTER", "confidence_half_width", "metric_direction", "t_quantile"]

#: Parts of a metric's name that mark it as "higher is better".
HIGHER_IS_BETTER = ("acc", "r2")


def metric_direction(metric: str) -> Literal["maximize", "minimize"]:
    """``"maximize"`` for accuracy-like metrics and R², ``"minimize"`` for the rest."""
    return "maximize" if any(word in metric for word in HIGHER_IS_BETTER) else "minimize"


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
