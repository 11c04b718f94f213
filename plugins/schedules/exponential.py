"""Exponential decay: multiply the learning rate by a factor every epoch."""

from __future__ import annotations

from typing import Any, Literal

from sweepnp import Schedule, hookimpl, options


class ExponentialSchedule(Schedule):
    r"""Exponential decay: multiply the learning rate by ``gamma`` per epoch.

    Parameters
    ----------
    gamma : float
        Decay factor :math:`\gamma` per epoch, in (0, 1].
    interval : {"epoch", "batch"}
        When the trainer asks for the learning rate; with ``"batch"`` it decays smoothly within
        an epoch.

    Notes
    -----
    With the optimizer's learning rate :math:`\eta_0` and the epoch position :math:`t`,

    .. math:: \eta_t = \eta_0\, \gamma^{t}

    (PyTorch's ``ExponentialLR``).
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(self, gamma: float = 0.95, interval: Literal["epoch", "batch"] = "epoch") -> None:
        super().__init__(interval=interval)
        options.in_range("gamma", gamma, 0, 1, low_inclusive=False, high_inclusive=True)
        self.gamma = gamma

    def lr_at(self, t: float) -> Any:
        return self.base_lr * self.gamma**t


@hookimpl
def sweepnp_register_schedules() -> dict[str, type[Schedule]]:
    return {"exponential": ExponentialSchedule}
