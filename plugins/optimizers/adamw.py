"""AdamW: Adam with weight decay decoupled from the gradient."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sweepnp import Optimizer, hookimpl, options

from .adam import Adam


class AdamW(Adam):
    r"""AdamW: :class:`Adam` plus a weight decay applied to the weights directly.

    Parameters
    ----------
    lr : float
        Learning rate :math:`\eta` (> 0); the schedule starts from it.
    beta1 : float
        Decay :math:`\beta_1` of the first-moment average, in [0, 1).
    beta2 : float
        Decay :math:`\beta_2` of the second-moment average, in [0, 1).
    eps : float
        :math:`\epsilon` (> 0) added to the root of the second moment.
    weight_decay : float
        Decay rate :math:`\lambda` (>= 0), applied only to weight matrices (the names given to
        :meth:`setup` as ``weight_names``); biases and batch-norm parameters are never decayed.

    Notes
    -----
    Each step first shrinks every weight matrix, then takes the Adam step of :class:`Adam`
    with the gradient :math:`g_t` of the loss alone (PyTorch's order):

    .. math::

        \theta &\leftarrow \theta - \eta\, \lambda\, \theta \\
        \theta_t &= \theta - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    With an L2 penalty instead, :math:`\lambda\theta` would enter :math:`g_t` and be divided by
    :math:`\sqrt{\hat v_t}`, so large-gradient weights would be decayed less; decoupling keeps the
    decay uniform. The decay is scaled by the scheduled :math:`\eta`, so it follows the schedule.

    References
    ----------
    .. [1] I. Loshchilov and F. Hutter, "Decoupled Weight Decay Regularization", ICLR 2019,
       arXiv:1711.05101.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(
        self,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps)
        options.non_negative("weight_decay", weight_decay)
        self.weight_decay = weight_decay

    def step(
        self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray], lr: Any
    ) -> None:
        shrink = 1 - lr * self.weight_decay
        for name, param in params.items():
            if name in self.weight_names:
                param *= shrink
        super().step(params, grads, lr)


@hookimpl
def sweepnp_register_optimizers() -> dict[str, type[Optimizer]]:
    return {"adamw": AdamW}
