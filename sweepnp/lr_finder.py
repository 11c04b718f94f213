r"""The learning-rate range test (L. N. Smith), as fastai's ``lr_find`` and pytorch-lr-finder.

Train a run's network from its initial state for ``n`` mini-batches while the learning rate
grows exponentially, one step per batch, from ``start`` to ``end``:

.. math:: \eta_k = \eta_{start} \, (\eta_{end} / \eta_{start})^{k / (n - 1)}, \quad k = 0 … n-1

(so consecutive rates differ by the constant ratio :math:`(\eta_{end}/\eta_{start})^{1/(n-1)}`).
Record the loss of every mini-batch, smooth it, and stop once it blows up. While the rate is too
small the loss barely moves; then it falls; past the usable range it rises and explodes. The rate
where the smoothed loss falls fastest against :math:`\log_{10}\eta` is the suggestion: large, yet
still clearly on the descending part of the curve.

Why a loop of its own rather than a schedule and a callback inside :meth:`Trainer.fit`:
``fit`` can only stop between epochs (:meth:`Trainer.stop`), so a diverging test would keep
training at ever larger rates until the epoch ends, and it evaluates every split each epoch —
work the test does not need — and runs the file's epoch callbacks (early stopping, divergence
guard, pruning), which would have to be switched off. The test instead builds a
:class:`~sweepnp.trainer.Trainer` for everything a run is made of (data splits and scaling,
network and its seeded initialization, optimizer, regularizers, dropout masks, shuffling) and
takes its steps with the run's own :class:`~sweepnp.step_program.StepProgram`, the one ``fit``
uses — the network's gradients with the run's masks, each weight penalty's gradient, the
gradient callbacks of the file (e.g. gradient clipping), then the optimizer's update — one
step per batch at the test's rate. The batches are the ones ``fit`` would see: the same
shuffling generator, in the same order.

The loss recorded at step :math:`k` is the **data loss of mini-batch k in training mode**, exactly
as the forward pass of ``network.gradients`` computes it (dropout masks applied, batch-norm on
batch statistics; no weight penalty), at the parameters *before* update :math:`k`, i.e. after the
updates with :math:`\eta_0 … \eta_{k-1}`: the program's
:meth:`~sweepnp.step_program.StepProgram.loss_and_gradients` computes it from the step's own
forward pass, so it costs no second one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sweepnp.config import RunConfig
from sweepnp.errors import OptionError

__all__ = ["LRFinderResult", "find_lr", "skipped_steps"]

COLUMNS = ("step", "lr", "loss", "smoothed_loss")


def skipped_steps(num_steps: int, smooth: float) -> int:
    r"""How many leading steps the suggestion ignores: :math:`k_0 = \max(1, \min(h, n // 3))`.

    :math:`h = \lceil \ln(1/2) / \ln\beta \rceil - 1` is the first step at which the bias
    correction :math:`1/(1-\beta^{k+1})` has fallen to 2 or less (34 for :math:`\beta = 0.98`).
    Before it, the smoothed loss averages only a few batches and the newest one weighs more than
    twice its long-run weight :math:`1-\beta`, so the smoothed curve still follows the batch
    noise and its steepest "descent" there is usually noise. Capped at a third of the steps so a
    short test keeps a window.
    """
    half_life = 0 if smooth == 0 else math.ceil(math.log(0.5) / math.log(smooth)) - 1
    return max(1, min(half_life, num_steps // 3))


@dataclass
class LRFinderResult:
    """What :func:`find_lr` measured.

    :ivar steps: one row per step taken: ``step`` (from 0), ``lr`` (the rate of that step),
        ``loss`` (the mini-batch data loss before the update) and ``smoothed_loss``.
    :ivar suggestion: the learning rate at the steepest descent of the smoothed loss against
        ``log10(lr)`` (see :func:`find_lr` for the exact rule).
    :ivar suggestion_step: the step (row) of the suggestion.
    :ivar stopped_early: whether the smoothed loss diverged, which ends the test at the step
        that showed it (the last row; it may be the final step).
    """

    steps: pd.DataFrame
    suggestion: float
    suggestion_step: int
    stopped_early: bool

    @property
    def history(self) -> pd.DataFrame:
        """Deprecated name of :attr:`steps` (a history is of epochs, and these are steps)."""
        warnings.warn(
            "LRFinderResult.history is now LRFinderResult.steps", FutureWarning, stacklevel=2
        )
        return self.steps

    def slope(self) -> np.ndarray:
        """d(smoothed loss) / d(log10 lr) at every step: ``numpy.gradient`` (central differences
        inside, one-sided at the ends); NaN when fewer than two steps were taken."""
        return _slope(self.steps["lr"].to_numpy(), self.steps["smoothed_loss"].to_numpy())

    def to_json_dict(self) -> dict[str, Any]:
        """``{"suggestion", "stopped_early", "steps"}`` with NaN and infinities as ``null``."""
        from sweepnp.trainer import json_number  # as `sweepnp train --json` writes numbers

        return {
            "suggestion": json_number(self.suggestion),
            "stopped_early": self.stopped_early,
            "steps": [
                {k: json_number(v) for k, v in row.items()}
                for row in self.steps.to_dict(orient="records")
            ],
        }

    def plot(self, ax: Any = None) -> Any:
        """Draw the loss against the learning rate (log x axis), raw and smoothed, with the
        suggestion marked; returns the matplotlib Axes.

        :param ax: the Axes to draw on; ``None`` makes a new figure with pyplot.
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
        lr = self.steps["lr"].to_numpy()
        loss = self.steps["loss"].to_numpy()
        smoothed = self.steps["smoothed_loss"].to_numpy()
        ax.plot(lr, loss, color="0.65", linewidth=0.9, label="mini-batch loss")
        ax.plot(lr, smoothed, color="C0", linewidth=2.0, label="smoothed loss")
        suggested = smoothed[self.suggestion_step]
        ax.axvline(self.suggestion, color="C3", linestyle="--", linewidth=1.0)
        ax.plot(
            [self.suggestion],
            [suggested],
            "o",
            color="C3",
            markersize=7,
            label=f"suggestion {self.suggestion:.1e} (steepest descent)",
        )
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss (mini-batch)")
        title = "Learning-rate range test"
        if self.stopped_early:
            title += f" (stopped at step {len(lr) - 1}: loss diverged)"
        ax.set_title(title)
        # The exploding tail would squash the informative part to a flat line: scale the y axis
        # to both curves up to the lowest smoothed loss, and let the tail leave the plot.
        finite = np.isfinite(smoothed)
        if finite.any():
            lowest = int(np.argmin(np.where(finite, smoothed, np.inf)))
            shown = np.concatenate([smoothed[: lowest + 1], loss[: lowest + 1]])
            shown = shown[np.isfinite(shown)]
            low, high = float(shown.min()), float(shown.max())
            margin = 0.08 * (high - low) or 0.05 * abs(high) or 0.05
            ax.set_ylim(low - margin, high + 2 * margin)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="lower left")
        return ax


def find_lr(
    config: str | Path | Mapping[str, Any] | RunConfig,
    *,
    start: float = 1e-7,
    end: float = 10.0,
    num_steps: int = 100,
    smooth: float = 0.98,
    diverge_factor: float = 4.0,
) -> LRFinderResult:
    r"""Run the learning-rate range test on a run file's network, optimizer, regularizers, data.

    :param config: a run-file path, a dict of the run-file schema, or a
        :class:`~sweepnp.config.RunConfig` (a study file's ``[study]`` table is ignored). Its
        ``optimizer.lr`` and ``[schedule]`` are ignored: the test sets the rate itself. Its
        ``train.epochs`` is ignored too: the data is looped over as often as ``num_steps``
        batches of ``train.batch_size`` rows need.
    :param start: the first learning rate :math:`\eta_0` (> 0).
    :param end: the rate of the last step, :math:`\eta_{n-1}` (> ``start``).
    :param num_steps: the number of mini-batches :math:`n` (>= 10).
    :param smooth: :math:`\beta`, the weight of the past in the smoothed loss, in [0, 1).
    :param diverge_factor: stop once the smoothed loss exceeds this multiple of its lowest value
        so far (> 1).

    Before batch :math:`k` the rate is :math:`\eta_k = \eta_0 (\eta_{n-1}/\eta_0)^{k/(n-1)}`.
    With :math:`L_k` the loss of batch :math:`k` (see the module docstring for which loss), the
    smoothed loss is the bias-corrected exponential moving average

    .. math:: a_k = \beta a_{k-1} + (1-\beta) L_k,\ a_{-1} = 0, \qquad
              \bar L_k = a_k / (1 - \beta^{k+1}).

    The test stops after recording step :math:`k` when :math:`\bar L_k` is not finite or
    :math:`\bar L_k > \text{diverge\_factor} \cdot \min_{j<k} \bar L_j` (``stopped_early``).

    The suggestion: with :math:`s_k = d\bar L / d\log_{10}\eta` from
    ``numpy.gradient(smoothed, log10(lr))`` over the recorded curve (central differences, one-sided
    at the ends), it is :math:`\eta_{k^*}` with

    .. math:: k^* = \arg\min_{k_0 \le k \le m} s_k, \qquad m = \arg\min_{k \ge k_0} \bar L_k,

    where :math:`k_0` = :func:`skipped_steps` ``(num_steps, smooth)`` (33 for the defaults) drops
    the warm-up of the smoothing, and steps after :math:`m`, the lowest smoothed loss, are the
    rising, diverging tail. If no more than :math:`k_0 + 1` steps were recorded (the test
    diverged almost at once) :math:`k_0 = 0`. If the smoothed loss never falls below its value at
    :math:`k_0`, the window is that one step.

    The same config and seed give the same numbers.
    """
    # Imported here: sweepnp.trainer pulls in the plugin machinery, which `import sweepnp`
    # keeps lazy.
    from sweepnp.trainer import Trainer

    _check_arguments(start, end, num_steps, smooth, diverge_factor)
    trainer = Trainer(config)
    # Gradient callbacks change the update (gradient clipping), so they belong to the test; the
    # file's epoch callbacks (early stopping, divergence guard, …) do not, and are not begun.
    program = trainer.prepare_steps()

    as_dtype = trainer.dtype.type  # a float64 rate would promote float32 maths
    rates = start * (end / start) ** (np.arange(num_steps) / (num_steps - 1))
    rows: list[tuple[int, float, float, float]] = []
    average, best = 0.0, math.inf
    stopped_early = False
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        while not stopped_early and len(rows) < num_steps:
            for X_batch, y_batch in trainer.batches():  # the data again, as often as needed
                k = len(rows)
                if k == num_steps:
                    break
                batch_loss, grads = program.loss_and_gradients(X_batch, y_batch)
                loss = float(batch_loss)
                average = smooth * average + (1 - smooth) * loss
                smoothed = average / (1 - smooth ** (k + 1))
                rows.append((k, float(rates[k]), loss, smoothed))
                if not math.isfinite(smoothed) or smoothed > diverge_factor * best:
                    stopped_early = True  # no point in taking this update
                    break
                best = min(best, smoothed)
                program.step(grads, as_dtype(rates[k]))

    steps = pd.DataFrame(rows, columns=list(COLUMNS))
    step = _suggestion_step(steps, skipped_steps(num_steps, smooth))
    return LRFinderResult(
        steps=steps,
        suggestion=float(steps["lr"].iat[step]),
        suggestion_step=step,
        stopped_early=stopped_early,
    )


def _slope(lr: np.ndarray, smoothed: np.ndarray) -> np.ndarray:
    if len(lr) < 2:
        return np.full(len(lr), np.nan)
    with np.errstate(invalid="ignore"):
        return np.gradient(smoothed, np.log10(lr))


def _suggestion_step(steps: pd.DataFrame, skip: int) -> int:
    """The step of steepest descent, by the rule documented in :func:`find_lr`."""
    lr = steps["lr"].to_numpy()
    smoothed = steps["smoothed_loss"].to_numpy()
    first = skip if len(smoothed) > skip + 1 else 0
    finite = np.where(np.isfinite(smoothed), smoothed, np.inf)
    lowest = first + int(np.argmin(finite[first:]))
    slope = _slope(lr, smoothed)[first : lowest + 1]
    return first + int(np.argmin(np.where(np.isfinite(slope), slope, np.inf)))


def _check_arguments(
    start: float, end: float, num_steps: int, smooth: float, diverge_factor: float
) -> None:
    """Raise :class:`~sweepnp.errors.OptionError` (a ``ValueError``) naming a bad argument."""
    if not (math.isfinite(start) and start > 0):
        raise OptionError("start", f"must be a finite number > 0, got {start!r}")
    if not (math.isfinite(end) and end > start):
        raise OptionError(
            "end", f"must be a finite number above the start rate {start!r}, got {end!r}"
        )
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 10:
        raise OptionError("num_steps", f"must be a whole number >= 10, got {num_steps!r}")
    if not 0 <= smooth < 1:
        raise OptionError("smooth", f"must be in [0, 1), got {smooth!r}")
    if not diverge_factor > 1:
        raise OptionError("diverge_factor", f"must be > 1, got {diverge_factor!r}")
