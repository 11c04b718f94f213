"""Cosine annealing: decay the learning rate along half a cosine wave."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from sweepnp import Schedule, hookimpl, options


class CosineSchedule(Schedule):
    r"""Cosine annealing from the optimizer's ``lr`` down to ``lr_min`` over ``t_max`` epochs.

    Parameters
    ----------
    lr_min : float
        Final learning rate :math:`\eta_{min}` (>= 0).
    t_max : int or None
        Epochs :math:`T` (>= 1) the decay lasts; ``None`` for the whole run. After :math:`T`
        epochs the rate stays at ``lr_min``.
    interval : {"epoch", "batch"}
        When the trainer asks for the learning rate; with ``"batch"`` it decays smoothly within
        an epoch.

    Notes
    -----
    With the optimizer's learning rate :math:`\eta_0` and the epoch position :math:`t`,

    .. math::

        \eta_t = \eta_{min} + \tfrac12 (\eta_0 - \eta_{min})
            \Big(1 + \cos\frac{\pi \min(t, T)}{T}\Big)

    as in source exercise 002, section 5.2, without restarts.

    References
    ----------
    .. [1] I. Loshchilov and F. Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
       ICLR 2017, arXiv:1608.03983.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(
        self,
        lr_min: float = 0.0,
        t_max: int | None = None,
        interval: Literal["epoch", "batch"] = "epoch",
    ) -> None:
        super().__init__(interval=interval)
        options.non_negative("lr_min", lr_min)
        if t_max is not None:
            options.positive_int("t_max", t_max)
        self.lr_min = lr_min
        self.t_max = t_max

    def lr_at(self, t: float) -> Any:
        horizon = self.epochs if self.t_max is None else self.t_max
        cosine = 1 + np.cos(np.pi * np.minimum(t, horizon) / horizon)
        return self.lr_min + 0.5 * (self.base_lr - self.lr_min) * cosine


@hookimpl
def sweepnp_register_schedules() -> dict[str, type[Schedule]]:
    return {"cosine": CosineSchedule}
