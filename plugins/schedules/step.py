"""Step decay: multiply the learning rate by a factor every few epochs."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from sweepnp import Schedule, hookimpl, options


class StepSchedule(Schedule):
    r"""Step decay: multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    Parameters
    ----------
    step_size : int
        Epochs :math:`s` (>= 1) between two decays.
    gamma : float
        Decay factor :math:`\gamma`, in (0, 1].
    interval : {"epoch", "batch"}
        When the trainer asks for the learning rate; the rate changes only at whole multiples of
        ``step_size`` either way.

    Notes
    -----
    With the optimizer's learning rate :math:`\eta_0` and the epoch position :math:`t`,

    .. math:: \eta_t = \eta_0\, \gamma^{\lfloor t / s \rfloor}

    as in source exercise 002, section 5.1 (PyTorch's ``StepLR``).
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(
        self,
        step_size: int = 10,
        gamma: float = 0.5,
        interval: Literal["epoch", "batch"] = "epoch",
    ) -> None:
        super().__init__(interval=interval)
        options.positive_int("step_size", step_size)
        options.in_range("gamma", gamma, 0, 1, low_inclusive=False, high_inclusive=True)
        self.step_size = step_size
        self.gamma = gamma

    def lr_at(self, t: float) -> Any:
        return self.base_lr * self.gamma ** np.floor_divide(t, self.step_size)


@hookimpl
def sweepnp_register_schedules() -> dict[str, type[Schedule]]:
    return {"step": StepSchedule}
