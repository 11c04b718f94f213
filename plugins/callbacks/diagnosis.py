"""Learning-curve diagnosis: label a finished run diverging, underfitting, overfitting, converged
or still improving, from its training and validation losses.

It is on in every run (``sweepnp_default_callbacks``) and records the verdict as
``result.info["diagnosis"]``; a run file turns it off with ``diagnosis = false`` in
``[callbacks]``, or tunes it::

    [callbacks.diagnosis]
    window = 10
    underfit_loss = 0.3
"""

from __future__ import annotations

from typing import Any

from sweepnp import Callback, hookimpl
from sweepnp.diagnosis import check_options, diagnose, remedies_of

__all__ = ["LearningCurveDiagnosis"]


class LearningCurveDiagnosis(Callback):
    """At the end of training, diagnose the run's learning curves
    (:func:`sweepnp.diagnosis.diagnose`).

    Parameters
    ----------
    window : int, default 5
        How many recent evaluated epochs the overfitting and plateau checks look back over.
    underfit_loss : float, default 0.5
        Final losses above this count as underfitting.
    overfit_gap : float, default 0.1
        A final validation-minus-training loss gap above this can mean overfitting.
    plateau : float, default 0.01
        A loss drop over the last ``window`` evaluated epochs below this means converged.
    overfit_rise : float, default 0.02
        A final validation loss more than this fraction above its best, while the training
        loss kept falling, means overfitting too, whatever the gap.

    Notes
    -----
    Reads ``loss`` and ``val_loss`` from every evaluated epoch of ``trainer.records`` (only
    ``loss`` when the run has no validation split) and records
    ``info["diagnosis"] = {"label": ..., "message": ...}``; the overfitting message names the
    best epoch as ``result.history`` numbers it (from 0, unlike the seed's count from 1), and
    advises what the run does not do yet (:func:`sweepnp.diagnosis.overfitting_message`): early
    stopping when it has none; with early stopping, restoring the best epoch when it does not,
    a shorter patience, and stronger regularization, naming the run's regularizers.
    Nothing is recorded when no epoch was evaluated.
    The thresholds are absolute losses, so for regression targets on another scale than the
    seed's set ``underfit_loss``, ``overfit_gap`` and ``plateau`` to match.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(
        self,
        window: int = 5,
        underfit_loss: float = 0.5,
        overfit_gap: float = 0.1,
        plateau: float = 0.01,
        overfit_rise: float = 0.02,
    ) -> None:
        check_options(window, underfit_loss, overfit_gap, plateau, overfit_rise)
        self.window = int(window)
        self.underfit_loss = float(underfit_loss)
        self.overfit_gap = float(overfit_gap)
        self.plateau = float(plateau)
        self.overfit_rise = float(overfit_rise)

    def on_train_end(self, logs: dict[str, Any]) -> None:
        rows = [row for row in self.trainer.records if row.get("loss") is not None]
        if not rows:
            return
        train = [row["loss"] for row in rows]
        val = [row.get("val_loss") for row in rows]
        label, message = diagnose(
            train,
            None if any(v is None for v in val) else val,
            window=self.window,
            underfit_loss=self.underfit_loss,
            overfit_gap=self.overfit_gap,
            plateau=self.plateau,
            overfit_rise=self.overfit_rise,
            epochs=[row["epoch"] for row in rows],
            remedies=remedies_of(self.trainer.config, self.trainer.pm),
        )
        self.trainer.info["diagnosis"] = {"label": label, "message": message}


@hookimpl
def sweepnp_register_callbacks():
    return {"diagnosis": LearningCurveDiagnosis}


@hookimpl
def sweepnp_default_callbacks():
    return {"diagnosis": {}}
