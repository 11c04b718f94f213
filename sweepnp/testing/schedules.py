"""The schedule contract: :class:`ScheduleContract` and :func:`check_schedule`.

A schedule gives finite, positive rates over training; is deterministic; scalar in, scalar out;
an array ``base_lr`` broadcasts; ``interval`` is kept and checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sweepnp.errors import OptionError
from sweepnp.schedules import Schedule
from sweepnp.testing.stacking import RULES, StackingChecks

__all__ = ["ScheduleContract", "check_schedule"]


class ScheduleContract(StackingChecks):
    """The schedule contract: subclass it, set :attr:`factory` and (optionally) :attr:`options`."""

    key = "schedule"
    family = "schedules"
    #: The optimizer's learning rate the schedule is set up with.
    base_lr = 0.1
    #: The run's epochs.
    epochs = 100

    def _place(self, run: dict[str, Any], options: dict[str, Any]) -> None:
        run["schedule"] = {"name": self.name, **options}

    def _likely_rules(self) -> str:
        return f"Rules that apply: {RULES['arrays']}; {RULES['shared']}"

    def positions(self) -> np.ndarray:
        """Where the trainer asks: every epoch (``interval = "epoch"``) and fractions of one."""
        return np.concatenate([np.arange(self.epochs), np.arange(0, self.epochs, 0.37)])

    def ready(self, base_lr: Any = None, **overrides: Any) -> Schedule:
        schedule = self.make(**overrides)
        schedule.setup(self.base_lr if base_lr is None else base_lr, self.epochs)
        return schedule

    def test_is_a_sweepnp_schedule(self) -> None:
        schedule = self.make()
        if not isinstance(schedule, Schedule):
            self._fail(f"builds a {type(schedule).__name__}; subclass sweepnp.Schedule")

    def test_finite_and_positive_during_training(self) -> None:
        schedule = self.ready()
        positions = self.positions()
        with np.errstate(all="ignore"):  # as in training; a bad value is reported below
            lrs = np.array([schedule.lr_at(float(t)) for t in positions], dtype=float)
        bad = ~(np.isfinite(lrs) & (lrs > 0))
        if bad.any():
            pairs = list(zip(positions[bad], lrs[bad], strict=True))
            shown = ", ".join(f"lr_at({t:g}) = {lr:g}" for t, lr in pairs[:4])
            if len(pairs) > 4:
                shown += f", ... ({len(pairs)} of {len(positions)} positions)"
            self._fail(
                f"with base_lr={self.base_lr} over {self.epochs} epochs the rate must be finite "
                f"and > 0 wherever training asks (0 <= t < epochs), but {shown}",
            )

    def test_finite_and_non_negative_at_the_end(self) -> None:
        # at t = epochs (never asked in training) an annealed rate may have reached 0
        lr = self.ready().lr_at(float(self.epochs))
        if not (np.isfinite(lr) and lr >= 0):
            self._fail(f"lr_at({self.epochs}) = {lr} at the end of {self.epochs} epochs")

    def test_deterministic(self) -> None:
        first, second = self.ready(), self.ready()
        positions = self.positions()
        a = [first.lr_at(float(t)) for t in positions]
        b = [first.lr_at(float(t)) for t in positions]
        c = [second.lr_at(float(t)) for t in positions[::-1]][::-1]
        if not a == b == c:
            self._fail(
                "lr_at(t) depends on more than t (asked twice, or in another order, it gave "
                "other rates): compute the rate from t alone, keeping no state between calls",
            )

    def test_scalar_in_scalar_out(self) -> None:
        schedule = self.ready()
        for t in (0.0, self.epochs / 8, self.epochs - 1.0):
            lr = schedule.lr_at(t)
            if np.ndim(lr) != 0 or isinstance(lr, np.ndarray):
                self._fail(
                    f"lr_at({t}) with a float base_lr returned {type(lr).__name__} of shape "
                    f"{np.shape(lr)}; return a scalar (np.where(...)[()] turns a 0-d array into "
                    "one)",
                )
            float(lr)

    def test_array_base_lr_broadcasts(self) -> None:
        base = np.array([[self.base_lr], [2 * self.base_lr]])
        stacked = self.ready(base_lr=base)
        singles = [self.ready(base_lr=float(b)) for b in base[:, 0]]
        for t in self.positions()[::7]:
            try:
                lr = stacked.lr_at(float(t))
            except Exception as exc:
                self._fail(
                    f"with base_lr of shape (2, 1) (two trials), lr_at({t:g}) raised "
                    f"{type(exc).__name__}: {exc}. Write the maths as whole-array NumPy: never "
                    "float() or `if` on base_lr or a hyperparameter",
                )
            if np.shape(lr) != (2, 1):
                self._fail(
                    f"with base_lr of shape (2, 1) (two trials), lr_at({t:g}) has shape "
                    f"{np.shape(lr)}, not (2, 1): write the maths as whole-array NumPy",
                )
            for k, single in enumerate(singles):
                expected = single.lr_at(float(t))
                if not np.isclose(lr[k, 0], expected, rtol=1e-12, atol=0):
                    self._fail(
                        f"trial {k} of a stacked base_lr gives {lr[k, 0]} at t = {t:g}, a "
                        f"single run {expected}",
                    )

    def test_starts_at_or_below_base_lr(self) -> None:
        lr = self.ready().lr_at(0.0)
        if not 0 < lr <= self.base_lr * (1 + 1e-12):
            self._fail(
                f"lr_at(0) = {lr} with base_lr={self.base_lr}: a schedule starts from the "
                "optimizer's lr (or below it, warming up)",
            )

    def test_interval_is_kept_and_checked(self) -> None:
        for interval in ("epoch", "batch"):
            try:
                schedule = self.make(interval=interval)
            except TypeError:
                self._fail(
                    "takes no `interval` option: accept `interval` and call "
                    "super().__init__(interval=interval)",
                )
            if schedule.interval != interval:
                self._fail(f"interval={interval!r} gave interval {schedule.interval!r}")
        try:
            self.make(interval="step")
        except OptionError as exc:
            if exc.option != "interval":
                self._fail(f"interval='step' raised an OptionError about {exc.option!r}")
            return
        self._fail("accepted interval='step': call super().__init__(interval=interval)")


def check_schedule(factory: Callable[..., Any], /, **options: Any) -> None:
    """Run every check of :class:`ScheduleContract`; raise :class:`ContractFailure` on failure."""
    ScheduleContract._check_all(factory, options)
