"""Elastic-net weight penalty: a blend of the L1 and L2 penalties."""

from __future__ import annotations

from typing import Any

import numpy as np

from sweepnp import Regularizer, hookimpl, options


class ElasticNetPenalty(Regularizer):
    r"""Elastic-net penalty: L1 and L2 mixed by ``l1_ratio``, on every weight matrix.

    Parameters
    ----------
    lam : float
        Overall strength :math:`\lambda` (>= 0).
    l1_ratio : float
        Share :math:`\alpha` of the L1 term, in [0, 1]: 1 is ``l1``, 0 is ``l2``.

    Notes
    -----
    For a weight matrix :math:`W`,

    .. math::

        R(W) &= \lambda \Big(\alpha \sum_{ij} |W_{ij}|
            + \frac{1 - \alpha}{2} \sum_{ij} W_{ij}^2\Big) \\
        \nabla R(W) &= \lambda \big(\alpha\, \operatorname{sign}(W) + (1 - \alpha)\, W\big)

    (scikit-learn's parametrization). Biases are never penalized. :meth:`penalty` sums over the
    last two axes, so a weight stacked along a leading trial axis gets one penalty per trial.

    References
    ----------
    .. [1] H. Zou and T. Hastie, "Regularization and variable selection via the elastic net",
       Journal of the Royal Statistical Society B 67(2), 301-320, 2005.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(self, lam: float, l1_ratio: float = 0.5) -> None:
        options.non_negative("lam", lam)
        options.in_range("l1_ratio", l1_ratio, 0, 1, high_inclusive=True)
        self.lam = lam
        self.l1_ratio = l1_ratio
        self._l1 = lam * l1_ratio
        self._l2 = lam * (1 - l1_ratio)
        self._half_l2 = 0.5 * self._l2

    def penalty(self, weight: np.ndarray) -> Any:
        return np.sum(self._l1 * np.abs(weight) + self._half_l2 * np.square(weight), axis=(-2, -1))

    def gradient(self, weight: np.ndarray) -> np.ndarray:
        grad = self._l1 * np.sign(weight)
        grad += self._l2 * weight
        return grad


@hookimpl
def sweepnp_register_regularizers() -> dict[str, type[Regularizer]]:
    return {"elastic_net": ElasticNetPenalty}
