"""Early stopping: end training when a monitored metric stops improving, and restore the best model.

Run-file use::

    [callbacks.early_stopping]
    monitor = "val_loss"
    patience = 10
    restore_best = true
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from sweepnp import Callback, OptionError, hookimpl, options
from sweepnp.metrics import metric_direction

__all__ = ["EarlyStopping"]


class EarlyStopping(Callback):
    r"""Stop training once ``monitor`` has not improved for ``patience`` evaluated epochs.

    Parameters
    ----------
    monitor : str, default "val_loss"
        The metric to watch, one of the run's metric names (``loss``, ``val_loss``,
        ``val_accuracy``, ``val_r2``, ...).
    mode : {"auto", "min", "max"}, default "auto"
        Whether the metric should decrease (``min``) or increase (``max``). ``auto`` chooses
        ``max`` when the name contains ``acc`` or ``r2`` and ``min`` otherwise (Keras' rule).
    patience : int, default 10
        How many evaluated epochs without improvement to tolerate before stopping; ``0`` stops
        at the first epoch that does not improve.
    min_delta : float, default 0.0
        The smallest change that counts as an improvement (>= 0).
    restore_best : bool, default True
        At the end of training, put back the parameters (and batch-norm statistics) of the best
        epoch, if training went on past it.

    Notes
    -----
    With best value :math:`b` (initially :math:`+\infty` for ``min``, :math:`-\infty` for
    ``max``), an evaluated epoch with value :math:`v` improves when

    .. math:: v < b - \delta \quad (\text{min}), \qquad v > b + \delta \quad (\text{max}).

    An improvement resets the wait counter and (with ``restore_best``) snapshots the model;
    otherwise the counter grows, and training stops with reason ``"early_stopped"`` once it
    reaches ``patience``. Epochs in which the metric was not evaluated (``train.eval_every``)
    are skipped; a NaN value never improves.

    The result records ``info["early_stopping"]`` = ``{"best_epoch", "best_value",
    "stopped_epoch"}`` (``stopped_epoch`` is ``None`` when this callback did not stop the run;
    ``best_epoch`` is ``None`` when no epoch was ever evaluated).

    This is the ``EarlyStopping`` class of the regularization chapter (seed 002, section 6) and
    exercise 5 of seed 003, with the semantics of ``keras.callbacks.EarlyStopping``
    (``restore_best_weights=True`` restores also when training completes past the best epoch,
    as in Keras 3).

    References
    ----------
    .. [1] L. Prechelt, "Early Stopping — But When?", in *Neural Networks: Tricks of the Trade*,
       Springer, 1998.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: Literal["auto", "min", "max"] = "auto",
        patience: int = 10,
        min_delta: float = 0.0,
        restore_best: bool = True,
    ) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise OptionError("monitor", f"must be a metric name, got {monitor!r}")
        options.one_of("mode", mode, ("auto", "min", "max"))
        if isinstance(patience, bool) or not isinstance(patience, int | np.integer):
            raise OptionError("patience", f"must be a whole number >= 0, got {patience!r}")
        options.non_negative("patience", patience)
        options.non_negative("min_delta", min_delta)
        self.monitor = monitor
        self.mode = _resolve_mode(monitor, mode)
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.restore_best = bool(restore_best)
        self._reset()

    def _reset(self) -> None:
        self.best_value = np.inf if self.mode == "min" else -np.inf
        self.best_epoch: int | None = None
        self.best_params: dict[str, np.ndarray] | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.last_epoch: int | None = None

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self.require_metric(self.monitor)
        self._reset()

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.last_epoch = epoch
        value = logs.get(self.monitor)
        if value is None:
            return  # not evaluated this epoch
        value = float(value)
        if self._improved(value):
            self.best_value = value
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best:
                self.best_params = self.trainer.model.get_params()
            return
        self.wait += 1
        if self.wait >= self.patience and self.stopped_epoch is None:
            self.stopped_epoch = epoch
            self.trainer.stop("early_stopped")

    def on_train_end(self, logs: dict[str, Any]) -> None:
        trained_past_best = self.stopped_epoch is not None or self.last_epoch != self.best_epoch
        if self.restore_best and self.best_params is not None and trained_past_best:
            self.trainer.model.set_params(self.best_params)
        self.trainer.info["early_stopping"] = {
            "best_epoch": self.best_epoch,
            "best_value": None if self.best_epoch is None else self.best_value,
            "stopped_epoch": self.stopped_epoch,
        }


def _resolve_mode(monitor: str, mode: str) -> str:
    if mode != "auto":
        return mode
    return "max" if metric_direction(monitor) == "maximize" else "min"


@hookimpl
def sweepnp_register_callbacks():
    return {"early_stopping": EarlyStopping}
