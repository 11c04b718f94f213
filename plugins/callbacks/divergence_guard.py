"""Divergence guard: end a run whose loss has become NaN, infinite or too large.

It is on in every run (``sweepnp_default_callbacks``); a run file turns it off with
``divergence_guard = false`` in ``[callbacks]``, or tunes it::

    [callbacks.divergence_guard]
    monitor = "loss"
    max_value = 1e6
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sweepnp import Callback, OptionError, hookimpl

__all__ = ["DivergenceGuard"]


class DivergenceGuard(Callback):
    r"""Stop training with reason ``"diverged"`` once the monitored metric blows up.

    Parameters
    ----------
    monitor : str, default "loss"
        The metric to watch, one of the run's metric names.
    max_value : float or None, default None
        Also stop when the metric exceeds this (finite) value; ``None`` stops only on NaN or
        infinity.

    Notes
    -----
    At the end of every evaluated epoch, the run stops when the monitored value :math:`v`
    satisfies :math:`v \notin \mathbb{R}` (NaN or :math:`\pm\infty`) or, with a
    ``max_value`` :math:`m`, :math:`v > m`. Once a loss is NaN, every later update is NaN too,
    so going on only wastes the remaining epochs; the seed's diagnosis of a learning rate that is
    too high (seed 003, "Learning rate effects") is what ends the run early here.

    When it stops a run it records ``info["divergence_guard"] = {"epoch", "value"}``.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(self, monitor: str = "loss", max_value: float | None = None) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise OptionError("monitor", f"must be a metric name, got {monitor!r}")
        if max_value is not None:
            try:
                finite = math.isfinite(max_value)
            except TypeError:
                raise OptionError("max_value", f"must be a number, got {max_value!r}") from None
            if not finite:
                raise OptionError("max_value", f"must be finite, got {max_value!r}")
        self.monitor = monitor
        self.max_value = None if max_value is None else float(max_value)

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self.require_metric(self.monitor)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        value = logs.get(self.monitor)
        if value is None:
            return  # not evaluated this epoch
        array = np.asarray(value, dtype=float)
        diverged = not np.all(np.isfinite(array))
        if not diverged and self.max_value is not None:
            diverged = bool(np.any(array > self.max_value))
        if diverged:
            self.trainer.info.setdefault(
                "divergence_guard", {"epoch": epoch, "value": array.tolist()}
            )
            self.trainer.stop("diverged")


@hookimpl
def sweepnp_register_callbacks():
    return {"divergence_guard": DivergenceGuard}


@hookimpl
def sweepnp_default_callbacks():
    return {"divergence_guard": {}}
