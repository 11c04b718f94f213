"""Nesterov's accelerated gradient: momentum that steps from the look-ahead point."""

from __future__ import annotations

from typing import Literal

from sweepnp import Optimizer, hookimpl

from .momentum import Momentum


class Nesterov(Momentum):
    r"""Nesterov's accelerated gradient: :class:`Momentum` with ``nesterov=True``.

    Parameters
    ----------
    lr : float
        Learning rate :math:`\eta` (> 0); the schedule starts from it.
    beta : float
        Momentum coefficient :math:`\beta`, in [0, 1).
    form : {"classical", "ema"}
        How gradients enter the velocity, as in :class:`Momentum`.

    Notes
    -----
    With the gradient :math:`g_t` and a velocity :math:`v_0 = 0`, the classical form is

    .. math::

        v_t &= \beta v_{t-1} + g_t \\
        \theta_t &= \theta_{t-1} - \eta\, (g_t + \beta v_t)

    which is the gradient taken at the look-ahead point :math:`\theta + \beta v`, rewritten so that
    it needs only the gradient at :math:`\theta` (the form of PyTorch and Keras). The EMA form
    uses :math:`(1 - \beta) g_t` in place of :math:`g_t` in both lines.

    References
    ----------
    .. [1] Y. Nesterov, "A method for solving the convex programming problem with convergence rate
       O(1/k^2)", Soviet Mathematics Doklady 27, 372-376, 1983.
    .. [2] I. Sutskever, J. Martens, G. Dahl and G. Hinton, "On the importance of initialization
       and momentum in deep learning", ICML 2013.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(
        self,
        lr: float = 0.01,
        beta: float = 0.9,
        form: Literal["classical", "ema"] = "classical",
    ) -> None:
        super().__init__(lr=lr, beta=beta, form=form, nesterov=True)


@hookimpl
def sweepnp_register_optimizers() -> dict[str, type[Optimizer]]:
    return {"nesterov": Nesterov}
