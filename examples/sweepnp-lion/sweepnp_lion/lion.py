"""Lion (Chen et al. 2023): the sign of an interpolated momentum, with decoupled weight decay."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sweepnp import Optimizer, options

__all__ = ["Lion"]


class Lion(Optimizer):
    r"""Lion, "EvoLved Sign Momentum": every coordinate moves by exactly the learning rate.

    Parameters
    ----------
    lr : float
        Learning rate :math:`\eta` (> 0); the schedule starts from it. A Lion step is
        :math:`\eta` in every coordinate, so it wants a rate 3-10 times smaller than Adam's.
    beta1 : float
        Interpolation :math:`\beta_1` in [0, 1) between the momentum and the current gradient
        that gives the direction of the step.
    beta2 : float
        Decay :math:`\beta_2` in [0, 1) of the momentum.
    weight_decay : float
        Decoupled weight decay :math:`\lambda` (>= 0), applied only to weight matrices (the names
        given to :meth:`setup` as ``weight_names``) and scaled by the scheduled :math:`\eta`, as
        in AdamW. The paper uses a :math:`\lambda` 3-10 times larger than AdamW's.

    Notes
    -----
    With the gradient :math:`g_t` at step :math:`t = 1, 2, \dots` and :math:`m_0 = 0`
    (element-wise operations):

    .. math::

        c_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
        \theta_t &= \theta_{t-1} - \eta\, \big(\operatorname{sign}(c_t)
            + \lambda\, \theta_{t-1}\big) \\
        m_t &= \beta_2 m_{t-1} + (1 - \beta_2)\, g_t

    The update direction :math:`c_t` weighs the current gradient more (:math:`\beta_1 = 0.9`)
    than the momentum it keeps (:math:`\beta_2 = 0.99`), and only its sign is used: the step has
    the same size for every parameter, whatever the scale of its gradient. One state array per
    parameter, ``m`` (Adam keeps two).

    References
    ----------
    .. [1] X. Chen, C. Liang, D. Huang, E. Real, K. Wang, Y. Liu, H. Pham, X. Dong, T. Luong,
       C.-J. Hsieh, Y. Lu and Q. V. Le, "Symbolic Discovery of Optimization Algorithms",
       NeurIPS 2023, arXiv:2302.06675.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(
        self,
        lr: float = 1e-4,
        beta1: float = 0.9,
        beta2: float = 0.99,
        weight_decay: float = 0.0,
    ) -> None:
        options.positive("lr", lr)  # each raises sweepnp.OptionError naming the option
        options.in_range("beta1", beta1, 0, 1)
        options.in_range("beta2", beta2, 0, 1)
        options.non_negative("weight_decay", weight_decay)
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.weight_decay = weight_decay

    def init_state(self, param: np.ndarray) -> dict[str, np.ndarray]:
        return {"m": np.zeros_like(param)}

    def step(
        self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray], lr: Any
    ) -> None:
        # θ(1 − ηλ) − η sign(c) is θ − η (sign(c) + λθ): decay the weights first, then step.
        shrink = 1 - lr * self.weight_decay
        for name, param in params.items():
            if name in self.weight_names:
                param *= shrink
        super().step(params, grads, lr)

    def update(
        self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], lr: Any
    ) -> None:
        m = state["m"]
        direction = self.beta1 * m + (1 - self.beta1) * grad  # c_t, a new array
        np.sign(direction, out=direction)
        param -= lr * direction
        m *= self.beta2
        m += (1 - self.beta2) * grad
