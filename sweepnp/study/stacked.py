"""Stacked trials: a worker trains up to ``stack`` runs at once, asking for trials as slots free.

The one-at-a-time loop (:func:`sweepnp.study.worker.work` with ``--stack 1``) asks for a trial,
trains its repeats one after the other, tells, and asks again. Here a worker keeps up to
``stack`` runs in flight — the repeats of a few trials — in :class:`~sweepnp.stack.Stack` s, one
per :func:`~sweepnp.stack.stack_key`, and trains every stack one epoch at a time:

* **Continuous batching.** When a run ends (completed, early-stopped, pruned, diverged, failed)
  its trial is told at once if its other repeats are done, and its slot takes a newly asked
  trial's run at the next epoch boundary. No stack waits for its slowest member.
* **Batched asking.** Up to ``stack`` runs are in flight, so several trials are asked before any
  is told: TPE then lies constantly about running trials (``constant_liar``) so that it does not
  ask for the same configuration twice (see :func:`sweepnp.study.samplers.make_sampler`).
* **A slow start where finished trials steer.** A sampler that learns from finished trials
  (TPE, GP, CMA-ES, NSGA-II) or a pruner that compares with them learns nothing from trials
  still in flight: sixteen trials asked at once are sixteen random, unpruned trials. So such a
  study starts with one trial in flight and lets in one more for every trial finished (about
  doubling each round, as TCP's slow start), up to the stack; grid, random and QMC sampling
  without a pruner fill the stack at once (:func:`trials_in_flight`).
* **The same trials.** Each run is built as the one-at-a-time loop builds it
  (:func:`~sweepnp.study.trial.repeat_trainer`) and trains exactly as it would alone; its
  repeats are taken in order (:class:`~sweepnp.study.trial.TrialRun`), so a trial's outcome and
  record are the ones the one-at-a-time loop gives. A run whose plugins cannot be stacked trains
  alone, and one line says so.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass, field

import optuna
from optuna.storages import BaseStorage

from sweepnp.errors import SweepnpWarning
from sweepnp.plugins import PluginManager
from sweepnp.stack import Stack, StackKey, stack_key
from sweepnp.study import storage as storages
from sweepnp.study.ask_tell import (
    WAIT,
    InterruptGuard,
    OnTrial,
    WaitForOthers,
    WorkerJob,
    finish_trial,
    interrupt_trial,
    next_trial,
)
from sweepnp.study.progress import ProgressBoard
from sweepnp.study.record import WORKER_ATTR
from sweepnp.study.samplers import named
from sweepnp.study.spec import DataCache, StudySpec
from sweepnp.study.trial import TrialRun, repeat_trainer
from sweepnp.trainer import RunResult, Trainer

__all__ = ["stacked_loop"]


@dataclass
class _Flight:
    """A trial in flight: its repeats training in stacks, and those that ended."""

    trial: optuna.Trial
    run: TrialRun
    heartbeat: contextlib.ExitStack
    #: repeat → the stack it trains in.
    running: dict[int, Stack] = field(default_factory=dict)
    #: Repeats that ended before an earlier one: repeat → (seed, result).
    ended: dict[int, tuple[int, RunResult]] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.run.repeats_needed == 0

    def cancel_the_rest(self) -> None:
        """Drop the repeats still training: the outcome no longer needs them."""
        for repeat, stack in self.running.items():
            stack.remove((self.trial.number, repeat))
        self.running.clear()


#: Samplers whose next trial does not depend on the finished ones.
BLIND_SAMPLERS = frozenset({"grid", "random", "qmc"})


def trials_in_flight(spec: StudySpec, capacity: int, finished: int) -> int:
    """At most how many trials a worker keeps in flight once ``finished`` trials of the study are
    done (the stack's ``capacity`` runs bound them too).

    A study steered by finished trials (an adaptive sampler or any pruner) starts slowly with
    ``finished + 1``; the others are not bound beyond the stack."""
    sampler = named(spec.study.sampler, "study.sampler", spec.source)[0]
    if sampler in BLIND_SAMPLERS and not spec.prunes:
        return capacity
    return min(capacity, finished + 1)


def stacked_loop(
    job: WorkerJob,
    spec: StudySpec,
    study: optuna.Study,
    storage: BaseStorage,
    guard: InterruptGuard,
    identity: str,
    pm: PluginManager,
    on_trial: OnTrial | None,
    board: ProgressBoard | None = None,
) -> int:
    """Ask, train stacked and tell until the study holds ``n_trials`` counted trials; return how
    many this worker ran. Called by :func:`sweepnp.study.worker.work`; ``board`` is shown each
    trial in flight and its repeats' trainers."""
    capacity = max(job.stack, spec.study.repeats)
    finished_before = _finished_trials(study)
    cache = spec.data_cache or DataCache()
    stacks: dict[StackKey, Stack] = {}
    flights: dict[int, _Flight] = {}
    said_alone: set[str] = set()
    ran = 0
    asking = True
    waiting = WaitForOthers()

    def finish(flight: _Flight) -> None:
        nonlocal ran, asking
        flight.cancel_the_rest()
        try:
            if finish_trial(study, flight.trial, flight.run.outcome()):
                asking = False  # the grid sampler has run its grid
        finally:
            flight.heartbeat.close()
            flights.pop(flight.trial.number, None)
            if board is not None:
                board.ended(flight.trial.number)
        ran += 1
        if on_trial is not None:
            on_trial(study, study.get_trials(deepcopy=False)[-1])

    def take(flight: _Flight, repeat: int, outcome: RunResult | BaseException) -> None:
        flight.running.pop(repeat, None)
        if isinstance(outcome, BaseException):
            flight.run.fail(outcome, pm)
        else:
            seed = outcome.config.train.seed
            flight.ended[repeat] = (seed, outcome)
            while len(flight.run.reasons) in flight.ended and flight.run.repeats_needed:
                flight.run.add(*flight.ended.pop(len(flight.run.reasons)))
        if flight.done:
            finish(flight)

    def in_flight() -> int:
        return sum(len(f.running) for f in flights.values())

    def start(trial: optuna.Trial) -> None:
        # In flight (so its heartbeat stops, whatever fails) before anything is written.
        flight = flights[trial.number] = _Flight(trial, TrialRun(spec), contextlib.ExitStack())
        flight.heartbeat.enter_context(storages.heartbeat(study, trial))
        if trial.user_attrs.get(WORKER_ATTR) != identity:
            trial.set_user_attr(WORKER_ATTR, identity)
        with storages.batched(storage):  # the parameters in one append
            params = spec.space.suggest(trial)
        for repeat in range(spec.study.repeats):
            try:
                trainer = repeat_trainer(spec, params, repeat, pm=pm, cache=cache, trial=trial)
                if board is not None:
                    board.training(trial.number, trainer, spec.study.repeats)
                key = stack_key(trainer)
                if key is None:
                    _say_alone(trainer, said_alone)
                    take(flight, repeat, _train_alone(trainer, guard))
                    if flight.done:
                        return
                    continue
                stack = stacks.get(key)
                if stack is None:
                    stack = stacks[key] = Stack(capacity, pm)
                stack.add(trainer, (trial.number, repeat))
                flight.running[repeat] = stack
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # the run cannot be built: the trial fails, not the study
                take(flight, repeat, exc)
                return

    try:
        while True:
            answer = None
            while (
                asking
                and capacity - in_flight() >= spec.study.repeats
                and len(flights) < trials_in_flight(spec, capacity, finished_before + ran)
            ):
                if job.deadline is not None and time.time() >= job.deadline:
                    asking = False
                    break
                answer = next_trial(job, spec, study, storage)
                if answer is None or answer is WAIT:
                    break
                start(answer)
                guard.check()
            if not flights:
                if answer is WAIT and asking:
                    waiting.wait(study, guard, on_trial)
                    continue
                break
            waiting.stop()
            for key, stack in list(stacks.items()):
                if not len(stack):
                    del stacks[key]
                    continue
                with guard.allowed():
                    try:
                        ended = stack.run_epoch()
                    except KeyboardInterrupt:
                        raise
                    except Exception as exc:  # the stack's shared step failed: its trials fail
                        del stacks[key]
                        ended = [(tag, exc) for tag in stack.tags]
                for (number, repeat), outcome in ended:
                    flight = flights.get(number)
                    if flight is not None:
                        take(flight, repeat, outcome)
            guard.check()
    except KeyboardInterrupt:
        with guard.deferred():
            for flight in list(flights.values()):
                flight.heartbeat.close()
                interrupt_trial(study, flight.trial)
                if board is not None:
                    board.ended(flight.trial.number)
        raise
    finally:
        for flight in flights.values():
            flight.heartbeat.close()
    return ran


def _finished_trials(study: optuna.Study) -> int:
    """Trials of the study already finished (complete or pruned), by any worker."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def _train_alone(trainer: Trainer, guard: InterruptGuard) -> RunResult | BaseException:
    """Train a run that cannot be stacked, alone (a plugin's exception ends that run only)."""
    try:
        with guard.allowed():
            return trainer.fit()
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        return exc


def _say_alone(trainer: Trainer, said: set[str]) -> None:
    """One line, once per plugin: this run's plugins cannot be stacked, so it trains alone."""
    objects = [trainer.optimizer, trainer.schedule, *trainer.regularizers.values()]
    objects += trainer.callbacks
    names = sorted({type(o).__name__ for o in objects if not getattr(o, "stackable", True)})
    new = [name for name in names if name not in said]
    if new:
        said.update(new)
        warnings.warn(
            f"{', '.join(new)} cannot run stacked (stackable = False): trials using "
            f"{'it' if len(new) == 1 else 'them'} train alone",
            SweepnpWarning,
            stacklevel=2,
        )
