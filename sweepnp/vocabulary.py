"""The words sweepnp uses for what a run and a trial produce, defined once.

* **Stop reasons**: why a run ended (:class:`StopReason`; a plugin may stop with a reason of its
  own), and the reasons only a trial in a study has (a worker that died, a trial still running).
* **Extra metrics**: what a study records of each run besides the run's own metrics
  (:data:`EXTRA_METRICS`), which a study may optimize or report.
* **Records and histories**: a run's *records* are its evaluated epochs, one dict each
  (``epoch``, every metric measured that epoch, ``lr``, ``epoch_seconds``; the test split's,
  measured where a run ends by default, are in its last record only): :attr:`Trainer.records
  <sweepnp.trainer.Trainer.records>`, :attr:`RunResult.records
  <sweepnp.trainer.RunResult.records>`. A *history* is records as a DataFrame: one run's, one row
  per epoch (:attr:`RunResult.history <sweepnp.trainer.RunResult.history>`), or a study's, one
  row per (trial, repeat, epoch, metric) (:attr:`StudyResults.history
  <sweepnp.results.StudyResults.history>`). The learning-rate finder's rows are *steps*, not
  epochs (:attr:`LRFinderResult.steps <sweepnp.lr_finder.LRFinderResult.steps>`).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "EPOCHS",
    "EPOCH_SECONDS",
    "EXTRA_METRICS",
    "RUN_STOP_REASONS",
    "STOP_REASONS",
    "TRAIN_SECONDS",
    "StopReason",
]


class StopReason(StrEnum):
    """Why a run or a trial ended. Members are strings: ``StopReason.PRUNED == "pruned"``."""

    #: Trained every epoch.
    COMPLETED = "completed"
    #: An early-stopping callback ended it (for a trial: any of its repeats).
    EARLY_STOPPED = "early_stopped"
    #: The study's pruner ended it.
    PRUNED = "pruned"
    #: Its loss became NaN or infinite, or blew up (the divergence guard).
    DIVERGED = "diverged"
    #: A plugin raised, or the run could not be built.
    FAILED = "failed"
    #: Ctrl-C (or a timeout) stopped it; a study runs such a trial again.
    INTERRUPTED = "interrupted"
    #: A trial whose worker died (its heartbeat stopped); a study runs it again.
    STALE = "stale"
    #: A trial still training, or asked and not yet started.
    RUNNING = "running"
    WAITING = "waiting"


#: The reasons a run itself can end with (the others are a trial's, in a study).
RUN_STOP_REASONS: tuple[StopReason, ...] = (
    StopReason.COMPLETED,
    StopReason.EARLY_STOPPED,
    StopReason.DIVERGED,
    StopReason.PRUNED,
    StopReason.INTERRUPTED,
    StopReason.FAILED,
)
#: Every reason, in the order the results tables list them (a plugin's own reasons follow).
STOP_REASONS: tuple[StopReason, ...] = tuple(StopReason)

#: A run's training time in seconds (the epochs' updates and evaluations), recorded by a study.
TRAIN_SECONDS = "train_seconds"
#: The epochs a run trained, recorded by a study.
EPOCHS = "epochs"
#: What a study records of each run besides the run's own metrics (a study may optimize them).
EXTRA_METRICS = (TRAIN_SECONDS, EPOCHS)
#: A record's wall-clock seconds of that epoch's updates (not a metric: never compared).
EPOCH_SECONDS = "epoch_seconds"
