"""Plain stochastic gradient descent."""

from __future__ import annotations

from typing import Any

import numpy as np

from sweepnp import Optimizer, hookimpl, options


class SGD(Optimizer):
    r"""Stochastic gradient descent: step against the gradient, no state.

    Parameters
    ----------
    lr : float
        Learning rate :math:`\eta` (> 0); the schedule starts from it.

    Notes
    -----
    With the gradient :math:`g_t` of the mini-batch loss,

    .. math:: \theta_t = \theta_{t-1} - \eta\, g_t

    References
    ----------
    .. [1] H. Robbins and S. Monro, "A Stochastic Approximation Method",
       Annals of Mathematical Statistics 22(3), 400-407, 1951.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(self, lr: float = 0.01) -> None:
        options.positive("lr", lr)
        self.lr = lr

    def update(
        self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], lr: Any
    ) -> None:
        param -= lr * grad


@hookimpl
def sweepnp_register_optimizers() -> dict[str, type[Optimizer]]:
    return {"sgd": SGD}
