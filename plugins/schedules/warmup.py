"""Linear warmup: ramp the learning rate up over the first epochs, then hold it."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from sweepnp import Schedule, hookimpl, options


class WarmupSchedule(Schedule):
    r"""Linear warmup to the optimizer's ``lr`` over ``warmup_epochs``, then constant.

    Parameters
    ----------
    warmup_epochs : int
        Epochs :math:`w` (>= 1) of warmup.
    interval : {"epoch", "batch"}
        When the trainer asks for the learning rate; with ``"batch"`` it ramps smoothly within
        an epoch.

    Notes
    -----
    With the optimizer's learning rate :math:`\eta_0` and the epoch position :math:`t`,

    .. math:: \eta_t = \eta_0 \min\Big(1, \frac{t + 1}{w}\Big)

    as in source exercise 002, section 5.3: the first epoch already runs at :math:`\eta_0 / w`.

    References
    ----------
    .. [1] P. Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour",
       arXiv:1706.02677, 2017.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(
        self, warmup_epochs: int = 5, interval: Literal["epoch", "batch"] = "epoch"
    ) -> None:
        super().__init__(interval=interval)
        options.positive_int("warmup_epochs", warmup_epochs)
        self.warmup_epochs = warmup_epochs

    def lr_at(self, t: float) -> Any:
        return self.base_lr * np.minimum(1.0, (t + 1) / self.warmup_epochs)


@hookimpl
def sweepnp_register_schedules() -> dict[str, type[Schedule]]:
    return {"warmup": WarmupSchedule}
