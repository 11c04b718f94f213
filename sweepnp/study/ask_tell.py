"""The steps both study loops share: ask under the budget lock, tell, wait, and Ctrl-C.

A worker runs one of two loops over the same steps: the one-at-a-time loop
(:func:`sweepnp.study.worker.work` with ``stack = 1``) and the stacked loop
(:class:`sweepnp.study.stacked_loop.StackedLoop`). What they share lives here, in a module of its
own, so that neither loop imports the other and no private name passes between them:

* :class:`WorkerJob` — everything a worker needs, for either loop;
* :func:`next_trial` — under the storage's budget lock: recover dead workers' trials when due,
  count (:mod:`sweepnp.study.budget`), ask (a grid's trial claims its point then,
  :mod:`sweepnp.study.grid`); or :data:`WAIT` while other workers finish the budget, or the grid;
* :func:`finish_trial` — store a trial's record and tell Optuna, in one write;
* :class:`WaitForOthers` — wait while other workers' trials run, and say why after
  :data:`SAY_WAITING_AFTER` seconds (:func:`say_waiting`);
* :class:`InterruptGuard` and :func:`interrupt_trial` — Ctrl-C interrupts training at once but
  never a storage write; an interrupted trial is failed as ``interrupted`` and queued again;
* :class:`SaidOnce` — what the workers of one study run have said once between them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from sweepnp.errors import SweepnpWarning
from sweepnp.plugins import PluginManager
from sweepnp.study import storage as storages
from sweepnp.study.budget import StudyBudget, budget_of, fair_share
from sweepnp.study.grid import GridSampler
from sweepnp.study.optuna_adapter import set_intermediate_values, storage_of, trial_id
from sweepnp.study.record import WORKER_ATTR, TrialRecord
from sweepnp.study.registry import WorkerRegistry
from sweepnp.study.spec import StudySpec
from sweepnp.study.trial import TrialOutcome
from sweepnp.vocabulary import StopReason

__all__ = [
    "JOINING",
    "SAY_WAITING_AFTER",
    "SHARE_TAKEN",
    "WAIT",
    "WAIT_SECONDS",
    "InterruptGuard",
    "OnTrial",
    "SaidOnce",
    "WaitForOthers",
    "WorkerJob",
    "finish_trial",
    "grid_spent",
    "interrupt_trial",
    "next_trial",
    "say_waiting",
    "store_intermediate_values",
    "told",
    "wait_for_others",
]

#: Seconds between looks at other workers' running trials, once the budget is spent.
WAIT_SECONDS = 0.25
#: Seconds of waiting for other workers after which a worker says why it has not ended.
SAY_WAITING_AFTER = 10.0

#: Called with the study and the trial that just ended after each trial a worker runs, and with
#: the study's latest trial while it waits.
OnTrial = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


@dataclass
class WorkerJob:
    """Everything a worker process needs, picklable."""

    file: str | dict[str, Any]
    name: str | None
    storage: str | None
    n_trials: int
    deadline: float | None
    worker: int
    plugin_manager: PluginManager | None = None  # default: the process-wide one
    spec: StudySpec | None = None  # already loaded (forked workers inherit it)
    #: Runs trained at once (stacked trials); 1: one trial at a time, its repeats in turn.
    stack: int = 1
    #: What the workers of this study run have said once between them (``None``: a worker
    #: alone keeps its own).
    said: SaidOnce | None = None
    #: The worker processes of this study run (``--jobs``): each takes at most its share of
    #: the trials still to run (:func:`fair_share`).
    workers: int = 1
    #: Once the budget is spent, wait for other workers' running trials (to rerun any whose
    #: worker dies); off for the workers of ``--jobs``, whose parent joins them and then waits.
    wait_for_others: bool = True
    #: User attributes every trial this worker trains gets with its worker label (a cluster
    #: run's driver, :mod:`sweepnp.study.cluster`).
    labels: dict[str, Any] = field(default_factory=dict)
    #: On a storage of several machines, hold one trial at a time while others may still be
    #: starting (:meth:`WorkerRegistry.joining`); off where ``workers`` counts them all (the
    #: loops a cluster's driver starts together).
    join_window: bool = True


class SaidOnce:
    """Notices said once per study run, not once per worker: the keys of those said, kept
    where the worker processes forked from this one share them (``shared``), else here.

    :param shared: keep them in shared memory, for workers forked after this is made.
    """

    #: Bytes of shared memory for the keys, newline-separated; past it a notice may repeat.
    SIZE = 16384

    def __init__(self, shared: bool = False) -> None:
        self.said: set[str] = set()
        self.buffer = multiprocessing.get_context("fork").Array("c", self.SIZE) if shared else None

    def first_time(self, keys: list[str]) -> list[str]:
        """The ``keys`` not said yet by any worker of the run, now counted as said."""
        if self.buffer is None:
            new = [key for key in keys if key not in self.said]
            self.said.update(new)
            return new
        with self.buffer.get_lock():
            said = [key for key in self.buffer.value.decode().split("\n") if key]
            new = [key for key in keys if key not in said]
            text = "\n".join([*said, *new]).encode()
            if len(text) < self.SIZE:
                self.buffer.value = text
            return new


#: Returned by :func:`next_trial` when the budget is spent but other workers' trials run.
WAIT: Any = object()
#: Returned by :func:`next_trial` when this worker already holds its :func:`fair_share`.
SHARE_TAKEN: Any = object()
#: Returned by :func:`next_trial` when this worker holds a trial within its join window
#: (:meth:`~sweepnp.study.registry.WorkerRegistry.joining`): ask again once it has passed.
JOINING: Any = object()


def next_trial(
    job: WorkerJob,
    spec: StudySpec,
    study: optuna.Study,
    storage: BaseStorage,
    *,
    holding: int = 0,
    registry: WorkerRegistry | None = None,
    budget: StudyBudget | None = None,
) -> optuna.Trial | None:
    """Under the budget lock: recover dead workers' trials when due, count, and ask for a
    trial; ``None`` when the budget (or a grid, :func:`grid_spent`) is spent, :data:`WAIT` when
    it is but other workers' trials still run,
    :data:`SHARE_TAKEN` when this worker's ``holding`` trials in flight are its
    :func:`fair_share` of those still to run: shared among the ``--jobs`` workers, or the live
    workers of the ``registry`` (on several machines), whichever are more; :data:`JOINING` when
    it holds one within the registry's join window.

    :param budget: this worker's count and recovery timer, kept between asks (default: count
        from scratch and recover now).
    """
    if registry is not None:
        registry.beat()
    with storages.budget_lock(job.storage, spec.name, storage):
        if budget is None or budget.recovery_due():
            storages.recover_stale_trials(study)
        trials = study.get_trials(deepcopy=False)  # the one read of the study per ask
        counted, finished = budget_of(trials) if budget is None else budget.tally.count(trials)
        if counted >= job.n_trials or grid_spent(study, trials):
            answer = WAIT if storages.awaited_trials(study, trials) else None
            if budget is not None:
                budget.waiting = answer is WAIT
            return answer
        if budget is not None:
            budget.waiting = False
        workers = max(job.workers, registry.live()) if registry is not None else job.workers
        if holding >= fair_share(job.n_trials, finished, workers):
            return SHARE_TAKEN
        if holding and registry is not None and registry.joining():
            return JOINING
        if isinstance(study.sampler, GridSampler):
            study.sampler.knowing(trials)  # the grid point is claimed from these
        with warnings.catch_warnings():  # we beat ourselves, in storages.heartbeat
            warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
            return study.ask()


def grid_spent(
    study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial] | None = None
) -> bool:
    """Whether the study samples a grid whose every point a trial holds, with no retry waiting
    (:meth:`GridSampler.spent <sweepnp.study.grid.GridSampler.spent>`): it ends the study as a
    spent budget does, also when ``n_trials`` is larger than the grid.

    :param trials: the study's trials, already read.
    """
    sampler = study.sampler
    if not isinstance(sampler, GridSampler):
        return False
    return sampler.spent(study.get_trials(deepcopy=False) if trials is None else trials)


def say_waiting(study: optuna.Study) -> None:
    """One warning: this worker waits for the trials other workers run, and why."""
    running = storages.awaited_trials(study)
    workers = sorted({t.user_attrs.get(WORKER_ATTR, "?") for t in running})
    warnings.warn(
        f"study {study.study_name!r} has its {len(running)} remaining trial(s) running in "
        f"other workers ({', '.join(workers)}); waiting for them, to rerun any whose worker "
        "dies (Ctrl-C stops waiting; nothing is lost)",
        SweepnpWarning,
        stacklevel=2,
    )


def wait_for_others(study: optuna.Study, guard: InterruptGuard, on_trial: OnTrial | None) -> None:
    """Wait a moment for other workers' running trials (a Ctrl-C ends the wait)."""
    with guard.allowed():
        time.sleep(WAIT_SECONDS)
    if on_trial is not None:
        trials = study.get_trials(deepcopy=False)
        if trials:
            on_trial(study, trials[-1])


class WaitForOthers:
    """A worker's waits for other workers' trials once the budget is spent: each a moment
    (:func:`wait_for_others`), and once, after :data:`SAY_WAITING_AFTER` seconds of waiting in a
    row, a line saying why (:func:`say_waiting`)."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.said = False

    def wait(self, study: optuna.Study, guard: InterruptGuard, on_trial: OnTrial | None) -> None:
        self.since = self.since or time.monotonic()
        if not self.said and time.monotonic() - self.since >= SAY_WAITING_AFTER:
            say_waiting(study)
            self.said = True
        wait_for_others(study, guard, on_trial)

    def stop(self) -> None:
        """The worker has a trial again: a later wait counts from its own start."""
        self.since = None


def told(study: optuna.Study, trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    """The trial as stored, once told: one read of that trial, not of the whole study."""
    return storage_of(study).get_trial(trial_id(trial))


def finish_trial(study: optuna.Study, trial: optuna.Trial, outcome: TrialOutcome) -> None:
    """Store the outcome and tell Optuna.

    On a journal the record, the pruning reports and the final state are one append, so a
    finished trial is never seen without its record. (No sampler of sweepnp stops the study
    when told: a spent grid ends it in :func:`next_trial`.)
    """
    with storages.batched(storage_of(study)):
        for key, value in outcome.record.attrs().items():
            trial.set_user_attr(key, value)
        store_intermediate_values(study, trial, outcome.intermediate)
        study.tell(trial, outcome.values, state=outcome.state)


def store_intermediate_values(
    study: optuna.Study, trial: optuna.Trial, curve: Mapping[int, float]
) -> None:
    """Make the trial's intermediate values ``curve``: every evaluated epoch's mean over repeats
    of the study metric, so that optuna-dashboard draws the report's curve.

    While the trial ran, the pruning callback reported the first repeat's values at the
    pruner's cadence; ``trial.report`` refuses a step twice, so the curve is written through the
    storage, which overwrites a step (every Optuna storage does). Only steps whose value
    differs are written (with one repeat, the epochs the pruner did not watch), all in one
    write: the trial's final append on the journal, one transaction on an RDB storage.
    """
    if not curve:
        return
    stored = storage_of(study).get_trial(trial_id(trial)).intermediate_values
    changed = {step: value for step, value in curve.items() if stored.get(step) != value}
    if changed:
        set_intermediate_values(study, trial, changed)


class InterruptGuard:
    """Ctrl-C (SIGINT) that interrupts training at once but never a storage operation.

    Outside :meth:`allowed` a SIGINT only sets a flag, acted on by :meth:`check` once the storage
    is consistent; an interrupted lock file or half-told trial is never left behind.
    """

    def __init__(self, stop: Callable[[], bool] | None = None) -> None:
        self.requested = False
        self.interruptible = False
        #: Asked at every :meth:`check`: ``True`` stops the worker as a Ctrl-C does (a loop
        #: on a Dask worker, whose thread no signal reaches, when its driver cancels it).
        self.stop = stop

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True
        if self.interruptible:
            self.interruptible = False
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """This guard handles SIGINT meanwhile (in the main thread; elsewhere, nothing)."""
        try:
            previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    @contextlib.contextmanager
    def allowed(self) -> Iterator[None]:
        """A Ctrl-C meanwhile interrupts at once (training, sleeping)."""
        self.check()
        self.interruptible = True
        try:
            yield
        finally:
            self.interruptible = False

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A Ctrl-C meanwhile waits for :meth:`check` (a storage write)."""
        self.interruptible = False
        yield

    def check(self) -> None:
        """Raise :class:`KeyboardInterrupt` if a Ctrl-C came while it could not interrupt (or
        :attr:`stop` says so)."""
        if self.requested or (self.stop is not None and self.stop()):
            self.requested = True
            raise KeyboardInterrupt


def interrupt_trial(
    study: optuna.Study, trial: optuna.Trial, record: TrialRecord | None = None
) -> None:
    """End a trial Ctrl-C interrupted as failed (``interrupted``) and queue its configuration.

    :param record: what it trained before the interrupt (:meth:`TrialRun.interrupted
        <sweepnp.study.trial.TrialRun.interrupted>`), stored with it.
    """
    if record is None:
        record = TrialRecord(stop_reason=StopReason.INTERRUPTED, reason=StopReason.INTERRUPTED)
    with storages.batched(storage_of(study)):
        for key, value in record.attrs().items():
            trial.set_user_attr(key, value)
        study.tell(trial, state=TrialState.FAIL)
    storages.requeue(study, study.get_trials(deepcopy=False)[trial.number])
