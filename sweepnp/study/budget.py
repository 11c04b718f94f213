"""What counts against a study's ``n_trials``, counted by each worker at a cost that does not grow
with the study.

A worker counts the study's trials before every ask (under the budget lock, in
:func:`sweepnp.study.ask_tell.next_trial`). Read in full each time, the count would cost
O(trials) per ask — 1.5 ms at 2000 trials, and on an RDB storage every trial's rows. So:

* the trials come from one read per ask (``study.get_trials``: on PostgreSQL, Optuna's cache
  fetches only the trials not finished when it last looked, and new ones; on the journal, only
  the log's new lines);
* :class:`TrialTally` keeps the count incrementally: a finished trial never changes, so it is
  tallied once; only the trials from the oldest unfinished one on are looked at again;
* :class:`StudyBudget` decides when to look for dead workers' trials: once a heartbeat interval
  while the worker asks for trials, once a second while it waits for other workers' trials
  (a dead worker's trial is then what it waits for) — never per epoch or per trial.

:func:`counted_trials` is the same count from scratch: the reference the tally is tested
against, and what commands that read a study once use.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweepnp.study.record import counts_toward_budget, retried_numbers

__all__ = [
    "WAITING_RECOVERY_SECONDS",
    "StudyBudget",
    "TrialTally",
    "budget_of",
    "counted_trials",
    "fair_share",
]

#: Seconds between looks for dead workers' trials while a worker waits for others' trials.
WAITING_RECOVERY_SECONDS = 1.0


def counted_trials(study: optuna.Study) -> int:
    """Trials that count against ``n_trials``: finished or running, except retried ones
    (:func:`~sweepnp.study.record.counts_toward_budget`)."""
    return budget_of(study.get_trials(deepcopy=False))[0]


def budget_of(trials: Sequence[FrozenTrial]) -> tuple[int, int]:
    """``(counted, finished)``: the trials that count against ``n_trials``, and those of them
    that have finished (not running or waiting), read from scratch."""
    retried = retried_numbers(trials)
    counted = [trial for trial in trials if counts_toward_budget(trial, retried)]
    return len(counted), sum(trial.state.is_finished() for trial in counted)


def fair_share(n_trials: int, finished: int, workers: int) -> int:
    """How many trials one of ``workers`` workers may hold at once: ``ceil(remaining /
    workers)`` of the ``remaining`` trials still to run (at least one), so that no worker fills
    its stack while another has none."""
    return max(1, math.ceil((n_trials - finished) / workers))


class TrialTally:
    """:func:`budget_of`, kept up to date from a study's trials read again and again.

    The trials ``[:settled]`` are finished and tallied: those that count and did not fail in
    :attr:`finished_counted`, failed ones (which count unless retried, and a retry may come
    later) in :attr:`failed`. Each :meth:`count` reads the retry links of the trials new since
    the last, settles the finished trials that follow the settled ones, and looks again only at
    those after the oldest unfinished trial: O(new + in flight), not O(trials).
    """

    def __init__(self) -> None:
        self.settled = 0
        self.seen = 0
        self.retried: set[int] = set()
        self.finished_counted = 0
        self.failed: set[int] = set()

    def count(self, trials: Sequence[FrozenTrial]) -> tuple[int, int]:
        """``(counted, finished)`` of ``trials`` (all the study's, in number order)."""
        if len(trials) < self.seen or (self.seen and trials[self.seen - 1].number != self.seen - 1):
            self.__init__()  # not the list it has seen (another study, or numbers not 0..n-1)
        self.retried.update(retried_numbers(trials[self.seen :]))
        self.seen = len(trials)
        while self.settled < len(trials) and trials[self.settled].state.is_finished():
            self._settle(trials[self.settled])
            self.settled += 1
        counted = finished = self.finished_counted + len(self.failed - self.retried)
        for trial in trials[self.settled :]:
            if counts_toward_budget(trial, self.retried):
                counted += 1
                finished += trial.state.is_finished()
        return counted, finished

    def _settle(self, trial: FrozenTrial) -> None:
        if trial.state != TrialState.FAIL:
            self.finished_counted += 1
        elif counts_toward_budget(trial, retried=set()):  # unless a retry comes later
            self.failed.add(trial.number)


class StudyBudget:
    """One worker's count of a study's budget (:class:`TrialTally`) and its timer for recovering
    dead workers' trials.

    :param recover_every: seconds between looks for dead workers' trials while the worker asks
        for trials (the heartbeat interval); while it waits for other workers' trials, every
        :data:`WAITING_RECOVERY_SECONDS`.
    """

    def __init__(self, recover_every: float) -> None:
        self.tally = TrialTally()
        self.recover_every = recover_every
        self.recovered_at = -math.inf
        self.waiting = False

    def recovery_due(self) -> bool:
        """Whether to look for dead workers' trials now (then counted as done)."""
        every = WAITING_RECOVERY_SECONDS if self.waiting else self.recover_every
        now = time.monotonic()
        if now - self.recovered_at < every:
            return False
        self.recovered_at = now
        return True
