"""What a running study tells a progress display: :class:`ProgressBoard`, and
:class:`StudyView`, the study's counts and best kept up to date as trials end.

:func:`~sweepnp.study.worker.run_study` writes on the board as it goes — the trials the study held
when it was opened, each trial this process trains and the trainers of its repeats — and a
display (``sweepnp study run``'s, :class:`sweepnp.cli.render.TrialReporter`) reads it, also from
the thread that redraws it: a trainer's ``epochs_run`` is a number written once per epoch. A
journal holds a running trial's reports back until the trial ends (docs/studies.md), so the
epochs of the trials in flight are only known in the process that trains them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import optuna

__all__ = ["ProgressBoard", "StudyView"]


class ProgressBoard:
    """The progress of a study run in this process, for a display to read.

    :param pause: a context manager factory entered while worker processes are forked (with
        ``--jobs``): a display stops the thread that redraws it, since a process forked while
        another thread holds a lock (a stream's, the console's) inherits it held for good.
    """

    def __init__(self, pause: Callable[[], contextlib.AbstractContextManager[Any]] | None = None):
        self._pause = pause
        self._trainers: dict[int, list[Any]] = {}
        self._planned: dict[int, int] = {}
        #: Numbers of the trials already finished when the study was opened (earlier runs).
        self.finished_before: frozenset[int] | None = None
        #: How many trials earlier runs finished that count towards ``n_trials``: completed,
        #: pruned and failed ones, not those interrupted or lost with their worker (stale), whose
        #: configurations run again.
        self.held_before = 0
        #: Trials earlier runs left unfinished whose configurations are queued to run again, by
        #: how they ended (``interrupted``, ``stale``) → how many.
        self.rerunning: dict[str, int] = {}
        #: The study, once open (what is said after a Ctrl-C reads it, not the storage again).
        self.study: optuna.Study | None = None

    def opened(self, study: optuna.Study) -> None:
        """The study is open: remember which trials earlier runs finished, how many of them
        count towards ``n_trials`` (:attr:`held_before`), and which unfinished ones are queued to
        run again (:attr:`rerunning`)."""
        from sweepnp.study.record import counts_toward_budget, retried_numbers

        self.study = study
        trials = study.get_trials(deepcopy=False)
        self.finished_before = frozenset(t.number for t in trials if t.state.is_finished())
        retried = retried_numbers(trials)
        self.held_before = sum(
            t.state.is_finished() and counts_toward_budget(t, retried) for t in trials
        )
        self.rerunning = _queued_again(trials)

    def training(self, number: int, trainer: Any, repeats: int) -> None:
        """Trial ``number`` trains one of its ``repeats`` with ``trainer`` (built, not yet run)."""
        self._trainers.setdefault(number, []).append(trainer)
        self._planned[number] = trainer.epochs * repeats

    def ended(self, number: int) -> None:
        """Trial ``number`` has ended (told, failed or interrupted)."""
        self._trainers.pop(number, None)
        self._planned.pop(number, None)

    def epochs(self) -> dict[int, tuple[int, int]]:
        """Trial number → (epochs trained so far over its repeats, epochs its repeats would train
        without stopping early), for the trials in flight here."""
        shown = {}
        for number, trainers in list(self._trainers.items()):  # a copy: the loop adds meanwhile
            done = sum(getattr(t, "epochs_run", 0) for t in list(trainers))
            shown[number] = (done, self._planned.get(number, done))
        return shown

    @contextlib.contextmanager
    def forking(self) -> Iterator[None]:
        """Around forking worker processes: the display's own threads are paused."""
        if self._pause is None:
            yield
            return
        with self._pause():
            yield


class StudyView:
    """What a progress display knows of a study, kept up to date at the cost of what changed.

    The trials ``[:settled]`` are finished and were looked at once: counted (the budget's own
    :class:`~sweepnp.study.budget.TrialTally`) and, if complete, weighed for the best. Each
    :meth:`read` looks only at the trials from the oldest unfinished one on: O(new + in flight),
    not O(trials), so that a study of thousands of trials shows its progress as cheaply as its
    first.
    """

    def __init__(self) -> None:
        from sweepnp.study.budget import TrialTally

        self.tally = TrialTally()
        self.settled = 0
        #: Finished trials after ``settled`` already weighed.
        self.weighed: set[int] = set()
        #: Trials finished that count towards ``n_trials``
        #: (:func:`~sweepnp.study.record.counts_toward_budget`).
        self.done = 0
        #: Numbers of the trials running now.
        self.running: list[int] = []
        #: The best complete trial so far (one metric): Optuna's ``best_trial``, of equal
        #: values the first.
        self.best: optuna.trial.FrozenTrial | None = None
        #: The size of the Pareto front (several metrics); ``None`` when a complete trial came
        #: since it was last asked for.
        self.front: int | None = None

    def read(self, study: optuna.Study, seen: set[int]) -> list[optuna.trial.FrozenTrial]:
        """Look at the study again; return the trials that finished since and are not in
        ``seen`` (they are added to it), in number order."""
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)  # one read; the work below is on what changed
        if self.settled > len(trials) or (
            self.settled and trials[self.settled - 1].number != self.settled - 1
        ):
            self.__init__()  # type: ignore[misc]  # not the list it has seen: start again
        self.done = self.tally.count(trials)[1]
        new = []
        self.running = []
        unsettled = False
        for index in range(self.settled, len(trials)):
            trial = trials[index]
            if not trial.state.is_finished():
                unsettled = True
                if trial.state == TrialState.RUNNING:
                    self.running.append(trial.number)
                continue
            if trial.number not in self.weighed:
                self.weighed.add(trial.number)
                if trial.state == TrialState.COMPLETE:
                    self._weigh(trial, study)
            if trial.number not in seen:
                seen.add(trial.number)
                new.append(trial)
            if not unsettled:
                self.settled = index + 1
                self.weighed.discard(trial.number)
        return new

    def _weigh(self, trial: optuna.trial.FrozenTrial, study: optuna.Study) -> None:
        from optuna.study import StudyDirection

        if len(study.directions) > 1:
            self.front = None
            return
        best = self.best
        if best is None:
            self.best = trial
            return
        assert trial.value is not None and best.value is not None
        if study.direction == StudyDirection.MAXIMIZE:
            better = trial.value > best.value
        else:
            better = trial.value < best.value
        if better or (trial.value == best.value and trial.number < best.number):
            self.best = trial

    def front_size(self, study: optuna.Study) -> int | None:
        """How many trials the Pareto front holds (``None`` before it can be told), asked of
        Optuna only when a complete trial came since it was last asked."""
        if self.front is None:
            try:
                self.front = len(study.best_trials)
            except ValueError:
                return None
        return self.front


def _queued_again(trials: list[optuna.trial.FrozenTrial]) -> dict[str, int]:
    """The trials queued to run the configuration of an unfinished one again (waiting retries),
    counted by how the attempt before each ended (``interrupted``, ``stale``)."""
    from optuna.trial import TrialState

    from sweepnp.study.record import REASON_ATTR, RETRY_ATTR, TrialRecord

    counts: dict[str, int] = {}
    for trial in trials:
        if trial.state != TrialState.WAITING or RETRY_ATTR not in trial.user_attrs:
            continue
        origin = trial.user_attrs[RETRY_ATTR]
        before = [
            t
            for t in trials
            if t.number < trial.number
            and t.state == TrialState.FAIL
            and (t.number == origin or t.user_attrs.get(RETRY_ATTR) == origin)
        ]
        if not before:
            continue
        last = max(before, key=lambda t: t.number)
        how = last.user_attrs.get(REASON_ATTR) or TrialRecord.of(last).stop_reason
        counts[how] = counts.get(how, 0) + 1
    return counts


def more_trials(held: int) -> int:
    """A total to suggest for a study that holds ``held`` trials already: half as many again
    (at least one more)."""
    return held + max(held // 2, 1)
