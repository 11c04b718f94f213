"""L2 weight penalty (ridge, weight decay): shrinks weights towards zero."""

from __future__ import annotations

from typing import Any

import numpy as np

from sweepnp import Regularizer, hookimpl, options


class L2Penalty(Regularizer):
    r"""L2 penalty :math:`\tfrac12 \lambda \sum w^2` on every weight matrix (never on biases).

    Parameters
    ----------
    lam : float
        Strength :math:`\lambda` (>= 0).

    Notes
    -----
    For a weight matrix :math:`W`,

    .. math::

        R(W) = \frac{\lambda}{2} \sum_{ij} W_{ij}^2, \qquad \nabla R(W) = \lambda W

    as in source exercises 000 (part B, ``dW += lam * W``), 002 (section 2.2) and 004. With plain
    SGD this is weight decay; with adaptive optimizers it is not (see ``adamw``).
    :meth:`penalty` sums over the last two axes, so a weight stacked along a leading trial axis
    gets one penalty per trial.

    References
    ----------
    .. [1] A. E. Hoerl and R. W. Kennard, "Ridge Regression: Biased Estimation for Nonorthogonal
       Problems", Technometrics 12(1), 55-67, 1970.
    .. [2] A. Krogh and J. A. Hertz, "A Simple Weight Decay Can Improve Generalization",
       NIPS 4, 1992.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(self, lam: float) -> None:
        options.non_negative("lam", lam)
        self.lam = lam
        self._half_lam = 0.5 * lam

    def penalty(self, weight: np.ndarray) -> Any:
        return np.sum(self._half_lam * np.square(weight), axis=(-2, -1))

    def gradient(self, weight: np.ndarray) -> np.ndarray:
        return self.lam * weight


@hookimpl
def sweepnp_register_regularizers() -> dict[str, type[Regularizer]]:
    return {"l2": L2Penalty}
