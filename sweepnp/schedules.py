"""The learning-rate schedule contract; concrete schedules are plugins (``sweepnp_plugins``).

A schedule maps a (possibly fractional) epoch position ``t`` to a learning rate. Every length a
schedule takes (``step_size``, ``warmup_epochs``, ``t_max``) is counted in epochs. With
``interval = "epoch"`` the trainer asks once per epoch, at ``t = epoch``; with
``interval = "batch"`` it asks before every batch, at ``t = epoch + batch / batches_per_epoch``.
"""

from __future__ import annotations

import abc
from typing import Any, Literal

from sweepnp import options

__all__ = ["Interval", "Schedule"]

Interval = Literal["epoch", "batch"]


class Schedule(abc.ABC):
    """Base class of every schedule.

    Subclasses call ``super().__init__(interval=interval)`` and implement :meth:`lr_at`;
    ``self.base_lr`` (the optimizer's ``lr``) and ``self.epochs`` are set by :meth:`setup`.

    :cvar stackable: ``True`` declares that its trials may train stacked. Each stacked trial
        keeps its own schedule object; a schedule that reaches into its run's other parts (the
        optimizer object, the network's arrays) must not keep what it finds across epochs. The
        contract kit proves a declaration (``ScheduleContract.test_trains_stacked_as_alone`` trains
        stacked trials and compares each with the trial alone). Undeclared (``False``, the
        default), its trials train alone.
    """

    stackable: bool = False
    base_lr: Any
    epochs: int

    def __init__(self, interval: Interval = "epoch") -> None:
        options.one_of("interval", interval, ("epoch", "batch"))
        self.interval = interval

    def setup(self, base_lr: Any, epochs: int) -> None:
        """Called once by the trainer with the optimizer's learning rate and the run's epochs."""
        self.base_lr = base_lr
        self.epochs = epochs

    @abc.abstractmethod
    def lr_at(self, t: float) -> Any:
        """The learning rate at epoch position ``t`` (0 at the start of training)."""
