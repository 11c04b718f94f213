"""The constant schedule: the optimizer's learning rate throughout."""

from __future__ import annotations

from typing import Any, Literal

from sweepnp import Schedule, hookimpl


class ConstantSchedule(Schedule):
    r"""Keep the learning rate at the optimizer's ``lr``.

    Parameters
    ----------
    interval : {"epoch", "batch"}
        When the trainer asks for the learning rate; irrelevant here.

    Notes
    -----
    .. math:: \eta_t = \eta_0
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(self, interval: Literal["epoch", "batch"] = "epoch") -> None:
        super().__init__(interval=interval)

    def lr_at(self, t: float) -> Any:
        return self.base_lr


@hookimpl
def sweepnp_register_schedules() -> dict[str, type[Schedule]]:
    return {"constant": ConstantSchedule}
