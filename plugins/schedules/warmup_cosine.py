"""Linear warmup followed by cosine annealing to the end of the run."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from sweepnp import OptionError, Schedule, hookimpl, options


class WarmupCosineSchedule(Schedule):
    r"""Linear warmup over ``warmup_epochs``, then cosine annealing to ``lr_min`` at the end.

    Parameters
    ----------
    warmup_epochs : int
        Epochs :math:`w` (>= 1) of warmup; must be fewer than the run's epochs.
    lr_min : float
        Final learning rate :math:`\eta_{min}` (>= 0).
    interval : {"epoch", "batch"}
        When the trainer asks for the learning rate; with ``"batch"`` it changes smoothly within
        an epoch.

    Notes
    -----
    With the optimizer's learning rate :math:`\eta_0`, the epoch position :math:`t` and the run's
    epochs :math:`T`,

    .. math::

        \eta_t = \begin{cases}
            \eta_0 \min\big(1, \frac{t + 1}{w}\big) & t < w \\
            \eta_{min} + \frac12 (\eta_0 - \eta_{min}) (1 + \cos \pi p),
            \quad p = \min\big(1, \frac{t - w}{T - w}\big) & t \ge w
        \end{cases}

    as in source exercise 002, section 5.3 (the cap at :math:`\eta_0` only matters for the
    fractional positions of ``interval = "batch"``).

    References
    ----------
    .. [1] P. Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour",
       arXiv:1706.02677, 2017.
    .. [2] I. Loshchilov and F. Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
       ICLR 2017, arXiv:1608.03983.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(
        self,
        warmup_epochs: int = 5,
        lr_min: float = 0.0,
        interval: Literal["epoch", "batch"] = "epoch",
    ) -> None:
        super().__init__(interval=interval)
        options.positive_int("warmup_epochs", warmup_epochs)
        options.non_negative("lr_min", lr_min)
        self.warmup_epochs = warmup_epochs
        self.lr_min = lr_min

    def setup(self, base_lr: Any, epochs: int) -> None:
        super().setup(base_lr, epochs)
        if self.warmup_epochs >= epochs:
            raise OptionError(
                "warmup_epochs",
                f"must be fewer than the run's epochs ({epochs}), got {self.warmup_epochs}",
            )

    def lr_at(self, t: float) -> Any:
        w = self.warmup_epochs
        warmup = self.base_lr * np.minimum(1.0, (t + 1) / w)
        progress = np.clip((t - w) / (self.epochs - w), 0.0, 1.0)
        cosine = self.lr_min + 0.5 * (self.base_lr - self.lr_min) * (1 + np.cos(np.pi * progress))
        # [()] turns the 0-d array np.where makes from scalars back into a scalar.
        return np.where(t < w, warmup, cosine)[()]


@hookimpl
def sweepnp_register_schedules() -> dict[str, type[Schedule]]:
    return {"warmup_cosine": WarmupCosineSchedule}
