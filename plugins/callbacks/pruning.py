"""Pruning: report the monitored metric to the Optuna trial and stop the run when it says so.

The study driver asks plugins for callbacks in the first repeat of every trial when the study has
a pruner (``sweepnp_trial_callbacks``); this one answers with itself and the pruner's cadence
(``start`` = the pruner's warm-up, ``every`` = its interval): it writes only the reports the
pruner will look at. Outside a study (``sweepnp train``) there is no
trial in ``trainer.context`` and the callback does nothing.

Run-file use (normally set by the driver)::

    [callbacks.pruning]
    monitor = "val_loss"
    start = 5
    every = 1
"""

from __future__ import annotations

from typing import Any

from sweepnp import Callback, OptionError, hookimpl, options

__all__ = ["OptunaPruning"]


class OptunaPruning(Callback):
    """Report ``monitor`` to ``trainer.context["optuna_trial"]`` and stop with reason ``pruned``.

    Parameters
    ----------
    monitor : str
        The metric reported as the trial's intermediate value.
    start : int, default 0
        The first epoch (from 0) to report: the pruner's ``n_warmup_steps``.
    every : int, default 1
        Report every ``every`` epochs from ``start``: the pruner's ``interval_steps``.

    Notes
    -----
    At epoch :math:`e \\ge s` with :math:`(e - s) \\bmod k = 0` the value is reported with
    ``trial.report(value, step=e)``; if ``trial.should_prune()`` then says so, training stops after
    this epoch with reason ``"pruned"``. Epochs in which the metric was not evaluated are skipped.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(self, monitor: str = "val_loss", start: int = 0, every: int = 1) -> None:
        if not monitor:
            raise OptionError("monitor", "must be a metric name")
        options.non_negative("start", start)
        options.positive_int("every", every)
        self.monitor = monitor
        self.start = start
        self.every = every
        self.trial: Any = None

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self.require_metric(self.monitor)
        self.trial = self.trainer.context.get("optuna_trial")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.trial is None or epoch < self.start or (epoch - self.start) % self.every:
            return
        value = logs.get(self.monitor)
        if value is None:
            return
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            self.trainer.stop("pruned")


@hookimpl
def sweepnp_register_callbacks():
    return {"pruning": OptunaPruning}


@hookimpl
def sweepnp_trial_callbacks(metric, start, every):
    return {"pruning": {"monitor": metric, "start": start, "every": every}}
