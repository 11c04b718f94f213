"""L1 weight penalty (lasso): pushes weights to exactly zero."""

from __future__ import annotations

from typing import Any

import numpy as np

from sweepnp import Regularizer, hookimpl, options


class L1Penalty(Regularizer):
    r"""L1 penalty :math:`\lambda \sum |w|` on every weight matrix (never on biases).

    Parameters
    ----------
    lam : float
        Strength :math:`\lambda` (>= 0).

    Notes
    -----
    For a weight matrix :math:`W`,

    .. math::

        R(W) = \lambda \sum_{ij} |W_{ij}|, \qquad \nabla R(W) = \lambda\, \operatorname{sign}(W)

    (the subgradient 0 at :math:`W_{ij} = 0`), as in source exercise 002, section 2.1. The
    gradient has the same size for every nonzero weight, which drives small weights to zero.
    :meth:`penalty` sums over the last two axes, so a weight stacked along a leading trial axis
    gets one penalty per trial.

    References
    ----------
    .. [1] R. Tibshirani, "Regression Shrinkage and Selection via the Lasso", Journal of the Royal
       Statistical Society B 58(1), 267-288, 1996.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(self, lam: float) -> None:
        options.non_negative("lam", lam)
        self.lam = lam

    def penalty(self, weight: np.ndarray) -> Any:
        return np.sum(self.lam * np.abs(weight), axis=(-2, -1))

    def gradient(self, weight: np.ndarray) -> np.ndarray:
        return self.lam * np.sign(weight)


@hookimpl
def sweepnp_register_regularizers() -> dict[str, type[Regularizer]]:
    return {"l1": L1Penalty}
