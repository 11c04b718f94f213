"""SGD with momentum, in the classical (heavy-ball) and the exponential-moving-average form."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from sweepnp import Optimizer, hookimpl, options


class Momentum(Optimizer):
    r"""SGD with momentum: step along a velocity that accumulates past gradients.

    Parameters
    ----------
    lr : float
        Learning rate :math:`\eta` (> 0); the schedule starts from it.
    beta : float
        Momentum coefficient :math:`\beta`, in [0, 1).
    form : {"classical", "ema"}
        ``"classical"`` sums gradients into the velocity (Polyak; PyTorch's and Keras's SGD);
        ``"ema"`` keeps an exponential moving average of them (source exercise 003, section 3.3),
        whose steps are :math:`1 - \beta` times shorter for the same ``lr``.
    nesterov : bool
        Step from the look-ahead point instead (Nesterov's accelerated gradient, in the form
        PyTorch and Keras use).

    Notes
    -----
    With the gradient :math:`g_t` and a velocity :math:`v_0 = 0`, the classical form is

    .. math::

        v_t &= \beta v_{t-1} + g_t \\
        \theta_t &= \theta_{t-1} - \eta\, v_t

    and the EMA form replaces :math:`g_t` by :math:`(1 - \beta) g_t` in the velocity. With
    ``nesterov=True`` the velocity is the same and the parameter step looks ahead by one more
    velocity decay (Bengio et al.'s reformulation [3]_, which needs no second gradient):

    .. math::

        \theta_t = \theta_{t-1} - \eta\, (g_t + \beta v_t)
        \quad\text{or, in the EMA form,}\quad
        \theta_t = \theta_{t-1} - \eta\, ((1 - \beta) g_t + \beta v_t)

    State per parameter: ``velocity`` (:math:`v`).

    References
    ----------
    .. [1] B. T. Polyak, "Some methods of speeding up the convergence of iteration methods",
       USSR Computational Mathematics and Mathematical Physics 4(5), 1-17, 1964.
    .. [2] I. Sutskever, J. Martens, G. Dahl and G. Hinton, "On the importance of initialization
       and momentum in deep learning", ICML 2013.
    .. [3] Y. Bengio, N. Boulanger-Lewandowski and R. Pascanu, "Advances in optimizing recurrent
       networks", ICASSP 2013.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(
        self,
        lr: float = 0.01,
        beta: float = 0.9,
        form: Literal["classical", "ema"] = "classical",
        nesterov: bool = False,
    ) -> None:
        options.positive("lr", lr)
        options.in_range("beta", beta, 0, 1)
        options.one_of("form", form, ("classical", "ema"))
        options.one_of("nesterov", nesterov, (True, False))
        self.lr = lr
        self.beta = beta
        self.form = form
        self.nesterov = nesterov
        # What one gradient contributes to the velocity: g (classical) or (1 - beta) g (EMA).
        self._grad_scale = None if form == "classical" else 1 - beta

    def init_state(self, param: np.ndarray) -> dict[str, np.ndarray]:
        return {"velocity": np.zeros_like(param)}

    def update(
        self, param: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray], lr: Any
    ) -> None:
        g = grad if self._grad_scale is None else self._grad_scale * grad
        v = state["velocity"]
        v *= self.beta
        v += g
        if self.nesterov:
            param -= lr * (g + self.beta * v)
        else:
            param -= lr * v


@hookimpl
def sweepnp_register_optimizers() -> dict[str, type[Optimizer]]:
    return {"momentum": Momentum}
