"""Weight statistics as metrics: how many weights are near zero, and their norms.

Seed 002's exercise 1 (L1 against L2) counts the weights with :math:`|w| < 0.01`; this callback
records that count at every evaluation, so it lands in the history, the final metrics and a
study's results like any other metric. Run-file use::

    [callbacks.weight_stats]
    threshold = 0.01
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sweepnp import Callback, hookimpl, options

__all__ = ["WeightStats"]


class WeightStats(Callback):
    r"""Add weight statistics of the weight matrices :math:`W_1, W_2, \dots` to every evaluation.

    Parameters
    ----------
    threshold : float, default 0.01
        A weight counts as near zero when :math:`|w| < \text{threshold}` (> 0).

    Notes
    -----
    Biases and batch-norm parameters are left out, as the weight penalties leave them out. With
    :math:`w` all weight entries together (:math:`n` of them), the metrics are

    - ``near_zero_weights`` — :math:`\#\{i : |w_i| < \tau\}`;
    - ``near_zero_fraction`` — that count divided by :math:`n`;
    - ``weight_l1`` — :math:`\sum_i |w_i|`, and ``weight_l2`` — :math:`\sqrt{\sum_i w_i^2}`.

    An L1 penalty drives weights to exactly zero (its gradient :math:`\lambda\,\mathrm{sign}(w)`
    does not shrink with :math:`w`); an L2 penalty only shrinks them in proportion
    (:math:`\lambda w`), so at equal :math:`\lambda` L1 leaves more weights near zero.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    metrics = ("near_zero_weights", "near_zero_fraction", "weight_l1", "weight_l2")

    def __init__(self, threshold: float = 0.01) -> None:
        options.positive("threshold", threshold)
        self.threshold = float(threshold)

    def on_evaluate(self, logs: dict[str, Any]) -> None:
        network = self.trainer.network
        weights = [np.abs(network.params[name]) for name in network.weight_names]
        count = sum(int(np.count_nonzero(w < self.threshold)) for w in weights)
        total = sum(w.size for w in weights)
        logs["near_zero_weights"] = count
        logs["near_zero_fraction"] = count / total if total else 0.0
        logs["weight_l1"] = float(sum(w.sum(dtype=np.float64) for w in weights))
        logs["weight_l2"] = float(np.sqrt(sum(np.vdot(w, w) for w in weights)))


@hookimpl
def sweepnp_register_callbacks():
    return {"weight_stats": WeightStats}
