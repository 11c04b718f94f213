"""RMSprop: step sizes scaled by a moving average of squared gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from sweepnp import Optimizer, hookimpl, options


class RMSprop(Optimizer):
    r"""RMSprop: divide each coordinate's step by the root of its mean squared gradient.

    Parameters
    ----------
    lr : float
        Learning rate :math:`\eta` (> 0); the schedule starts from it.
    beta : float
        Decay :math:`\beta` of the moving average, in [0, 1).
    eps : float
        :math:`\epsilon` (> 0) inside the square root, for numerical safety.

    Notes
    -----
    With the gradient :math:`g_t` and :math:`E_0 = 0` (element-wise operations):

    .. math::

        E_t &= \beta E_{t-1} + (1 - \beta)\, g_t^2 \\
        \theta_t &= \theta_{t-1} - \frac{\eta}{\sqrt{E_t + \epsilon}}\, g_t

    as in source exercise 002, section 4.3. Unlike AdaGrad's sum, the average forgets old
    gradients, so the step does not decay to zero. State per parameter: ``mean_sq`` (:math:`E`).

    References
    ----------
    .. [1] T. Tieleman and G. Hinton, "Lecture 6.5 - RMSprop: Divide the gradient by a running
       average of its recent magnitude", COURSERA: Neural Networks for Machine Learning, 2012.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(self, lr: float = 0.001, beta: float = 0.9, eps: float = 1e-8) -> None:
        options.positive("lr", lr)
        options.in_range("beta", beta, 0, 1)
        options.positive("eps", eps)
        self.lr = lr
        self.beta = beta
        self.eps = eps
        self._one_minus_beta = 1 - beta

    def init_state(self, param: np.ndarray) -> dict[str, np.ndarray]:
        return {"mean_sq": np.zeros_like(param)}

    def update(
        self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], lr: Any
    ) -> None:
        mean_sq = state["mean_sq"]
        mean_sq *= self.beta
        mean_sq += self._one_minus_beta * np.square(grad)
        denom = mean_sq + self.eps
        np.sqrt(denom, out=denom)
        param -= lr * grad / denom


@hookimpl
def sweepnp_register_optimizers() -> dict[str, type[Optimizer]]:
    return {"rmsprop": RMSprop}
