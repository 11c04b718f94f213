"""AdaGrad: per-coordinate step sizes shrinking with the sum of past squared gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from sweepnp import Optimizer, hookimpl, options


class AdaGrad(Optimizer):
    r"""AdaGrad: divide each coordinate's step by the root of its summed squared gradients.

    Parameters
    ----------
    lr : float
        Learning rate :math:`\eta` (> 0); the schedule starts from it.
    eps : float
        :math:`\epsilon` (> 0) inside the square root, for numerical safety.

    Notes
    -----
    With the gradient :math:`g_t` and :math:`G_0 = 0` (element-wise operations):

    .. math::

        G_t &= G_{t-1} + g_t^2 \\
        \theta_t &= \theta_{t-1} - \frac{\eta}{\sqrt{G_t + \epsilon}}\, g_t

    as in source exercise 002, section 4.2 (PyTorch adds :math:`\epsilon` outside the root).
    The effective step only ever shrinks. State per parameter: ``sum_sq`` (:math:`G`).

    References
    ----------
    .. [1] J. Duchi, E. Hazan and Y. Singer, "Adaptive Subgradient Methods for Online Learning and
       Stochastic Optimization", JMLR 12, 2121-2159, 2011.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(self, lr: float = 0.01, eps: float = 1e-8) -> None:
        options.positive("lr", lr)
        options.positive("eps", eps)
        self.lr = lr
        self.eps = eps

    def init_state(self, param: np.ndarray) -> dict[str, np.ndarray]:
        return {"sum_sq": np.zeros_like(param)}

    def update(
        self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], lr: Any
    ) -> None:
        sum_sq = state["sum_sq"]
        sum_sq += np.square(grad)
        denom = sum_sq + self.eps
        np.sqrt(denom, out=denom)
        param -= lr * grad / denom


@hookimpl
def sweepnp_register_optimizers() -> dict[str, type[Optimizer]]:
    return {"adagrad": AdaGrad}
