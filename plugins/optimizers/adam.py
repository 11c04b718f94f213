"""Adam: bias-corrected moving averages of the gradient and of its square."""

from __future__ import annotations

from typing import Any

import numpy as np

from sweepnp import Optimizer, hookimpl, options


class Adam(Optimizer):
    r"""Adam: momentum on the gradient, RMSprop-style scaling, both corrected for their zero start.

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

    Notes
    -----
    With the gradient :math:`g_t` at step :math:`t = 1, 2, \dots` and
    :math:`m_0 = v_0 = 0` (element-wise operations):

    .. math::

        m_t &= \beta_1 m_{t-1} + (1 - \beta_1)\, g_t \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \hat m_t &= \frac{m_t}{1 - \beta_1^t}, \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t} \\
        \theta_t &= \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    as in source exercise 002, section 4.4. State per parameter: ``m`` and ``v``.

    References
    ----------
    .. [1] D. P. Kingma and J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
       arXiv:1412.6980.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(
        self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        options.positive("lr", lr)
        options.in_range("beta1", beta1, 0, 1)
        options.in_range("beta2", beta2, 0, 1)
        options.positive("eps", eps)
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self._one_minus_beta1 = 1 - beta1
        self._one_minus_beta2 = 1 - beta2

    def init_state(self, param: np.ndarray) -> dict[str, np.ndarray]:
        return {"m": np.zeros_like(param), "v": np.zeros_like(param)}

    def begin_step(self, lr: Any) -> None:
        # The bias corrections depend on t only: compute them once per step, not per parameter,
        # from the step count as an array (``steps``), so that a run alone and the same run in
        # a stack of trials (each with its own count) get the same bits. The power of an integer
        # count is float64: round it to the options' dtype (the run's), or every update of a
        # float32 run would be computed in float64 (8× slower on a 784×256 weight).
        dtype = np.result_type(self.beta1, self.beta2)
        self._correction1 = (1 - np.power(self.beta1, self.steps)).astype(dtype)
        self._correction2 = (1 - np.power(self.beta2, self.steps)).astype(dtype)

    def update(
        self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], lr: Any
    ) -> None:
        m, v = state["m"], state["v"]
        m *= self.beta1
        m += self._one_minus_beta1 * grad
        v *= self.beta2
        v += self._one_minus_beta2 * np.square(grad)
        denom = v / self._correction2  # v-hat
        np.sqrt(denom, out=denom)
        denom += self.eps
        param -= (lr / self._correction1) * m / denom


@hookimpl
def sweepnp_register_optimizers() -> dict[str, type[Optimizer]]:
    return {"adam": Adam}
