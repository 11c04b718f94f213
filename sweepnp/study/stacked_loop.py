"""The stacked study loop: a worker trains up to ``stack`` runs at once, asking for trials as
slots free (:class:`StackedLoop`). The array program that trains a stack is
:mod:`sweepnp.run_stack`; this module is the study loop around it.

The one-at-a-time loop (:func:`sweepnp.study.worker.work` with ``stack = 1``) asks for a trial,
trains its repeats one after the other, tells, and asks again. Here a worker keeps up to
``stack`` runs in flight — the repeats of a few trials — in
:class:`~sweepnp.run_stack.RunStack` s, one per :func:`~sweepnp.run_stack.stack_key`, and
trains every stack one epoch at a time:

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

The steps both loops share — ask under the budget lock, tell, wait for other workers, Ctrl-C —
are :mod:`sweepnp.study.ask_tell`; :func:`sweepnp.study.worker.work` picks the loop.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.storages import BaseStorage

from sweepnp.errors import SweepnpWarning
from sweepnp.plugins import PluginManager
from sweepnp.run_stack import RunStack, StackKey, stack_key, unstackable_plugins
from sweepnp.study import storage as storages
from sweepnp.study.ask_tell import (
    JOINING,
    SHARE_TAKEN,
    WAIT,
    InterruptGuard,
    OnTrial,
    SaidOnce,
    WaitForOthers,
    WorkerJob,
    finish_trial,
    interrupt_trial,
    next_trial,
    told,
)
from sweepnp.study.budget import StudyBudget
from sweepnp.study.progress import ProgressBoard
from sweepnp.study.record import WORKER_ATTR
from sweepnp.study.registry import WorkerRegistry
from sweepnp.study.samplers import named
from sweepnp.study.spec import DataCache, StudySpec
from sweepnp.study.trial import TrialRun, repeat_trainer
from sweepnp.trainer import RunResult, Trainer

__all__ = [
    "BLIND_SAMPLERS",
    "StackedLoop",
    "say_alone",
    "trials_in_flight",
]


@dataclass
class _Flight:
    """A trial in flight: its repeats training in stacks, and those that ended."""

    trial: optuna.Trial
    run: TrialRun
    heartbeat: contextlib.ExitStack
    #: repeat → the stack it trains in.
    running: dict[int, RunStack] = field(default_factory=dict)
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


class StackedLoop:
    """One worker's stacked loop: ask, train stacked and tell until the study holds
    ``n_trials`` counted trials (:meth:`run`).

    Its state: the trials in flight (:attr:`flights`, by number), the stacks they train in
    (:attr:`stacks`, by :func:`~sweepnp.run_stack.stack_key`), how many trials it ran, and whether
    it still asks for trials (not once the deadline passed).

    :param board: shown each trial in flight and its repeats' trainers (a progress display).
    """

    def __init__(
        self,
        job: WorkerJob,
        spec: StudySpec,
        study: optuna.Study,
        storage: BaseStorage,
        guard: InterruptGuard,
        identity: str,
        pm: PluginManager,
        on_trial: OnTrial | None,
        board: ProgressBoard | None = None,
        registry: WorkerRegistry | None = None,
    ) -> None:
        self.job, self.spec, self.study, self.storage = job, spec, study, storage
        #: This worker's entry among the study's live workers (beaten while it trains).
        self.registry = registry
        self.guard, self.identity, self.pm = guard, identity, pm
        self.on_trial, self.board = on_trial, board
        #: Runs trained at once: the stack, and at least one trial's repeats.
        self.capacity = max(job.stack, spec.study.repeats)
        self.finished_before = _finished_trials(study)
        self.cache = spec.data_cache or DataCache()
        self.stacks: dict[StackKey, RunStack] = {}
        self.flights: dict[int, _Flight] = {}
        self.said = job.said or SaidOnce()
        self.ran = 0
        self.asking = True
        self.waiting = WaitForOthers()
        #: When an ask last found the study's budget spent (``None``: not since the last trial
        #: this worker started). Until a heartbeat interval has passed no other ask can find a
        #: trial to run — only a dead worker's trial, queued again, frees one — so none is made:
        #: the storage is read per trial and per interval, never per epoch.
        self.spent_at: float | None = None
        #: Whether the last ask found this worker holding its fair share (asked again once one
        #: of its trials ends).
        self.share_taken = False
        self.recheck_after = float(storages.heartbeat_settings()[0])
        self.budget = StudyBudget(recover_every=self.recheck_after)

    def run(self) -> int:
        """Ask, train every stack an epoch, tell, until the budget is spent and this worker's
        trials are told; return how many trials this worker ran. Ctrl-C stores the trials in
        flight as interrupted (queued again) and is raised again."""
        try:
            while True:
                answer = self.ask_while_room()
                if not self.flights:
                    if answer is WAIT and self.asking and self.job.wait_for_others:
                        self.waiting.wait(self.study, self.guard, self.on_trial)
                        continue
                    break
                self.waiting.stop()
                self.train_one_epoch()
                self.guard.check()
        except KeyboardInterrupt:
            self.interrupt()
            raise
        finally:
            for flight in self.flights.values():
                flight.heartbeat.close()
        return self.ran

    def runs_in_flight(self) -> int:
        return sum(len(f.running) for f in self.flights.values())

    def has_room(self) -> bool:
        """Whether another trial may start: its repeats fit in the stack, the slow start
        (:func:`trials_in_flight`) lets one more in, and the budget was not found spent within
        a heartbeat interval (with no trial in flight, a worker always asks: it waits or ends)."""
        spent = self.spent_at is not None and time.monotonic() - self.spent_at < self.recheck_after
        joining = self.registry is not None and self.registry.joining()
        if self.flights and (spent or self.share_taken or joining):
            return False
        finished = self.finished_before + self.ran
        return self.capacity - self.runs_in_flight() >= self.spec.study.repeats and len(
            self.flights
        ) < trials_in_flight(self.spec, self.capacity, finished)

    def ask_while_room(self) -> optuna.Trial | None:
        """Ask for trials and start them while there is room; return the last answer of
        :func:`~sweepnp.study.ask_tell.next_trial` (``None`` if none was asked)."""
        answer = None
        while self.asking and self.has_room():
            if self.job.deadline is not None and time.time() >= self.job.deadline:
                self.asking = False
                break
            answer = next_trial(
                self.job,
                self.spec,
                self.study,
                self.storage,
                holding=len(self.flights),
                registry=self.registry,
                budget=self.budget,
            )
            if answer is SHARE_TAKEN:
                self.share_taken = True
                return None
            if answer is JOINING:  # asked again once the window has passed (has_room)
                return None
            if answer is None or answer is WAIT:
                self.spent_at = time.monotonic()
                break
            self.spent_at = None
            self.start(answer)
            self.guard.check()
        return answer

    def start(self, trial: optuna.Trial) -> None:
        """Put a new trial in flight: label it with this worker, suggest its parameters, and
        let each repeat join its stack (or train alone, or fail the trial if it cannot be
        built)."""
        # In flight (so its heartbeat stops, whatever fails) before anything is written.
        flight = _Flight(trial, TrialRun(self.spec), contextlib.ExitStack())
        self.flights[trial.number] = flight
        flight.heartbeat.enter_context(storages.heartbeat(self.study, trial))
        if trial.user_attrs.get(WORKER_ATTR) != self.identity:
            trial.set_user_attr(WORKER_ATTR, self.identity)
        for key, value in self.job.labels.items():
            if trial.user_attrs.get(key) != value:  # an enqueued trial
                trial.set_user_attr(key, value)
        with storages.batched(self.storage):  # the parameters in one append
            params = self.spec.space.suggest(trial)
        for repeat in range(self.spec.study.repeats):
            if not self._start_repeat(flight, params, repeat):
                return

    def _start_repeat(self, flight: _Flight, params: dict[str, Any], repeat: int) -> bool:
        """Build one repeat's run and put it in its stack, or train it alone; return whether
        the trial still needs its next repeat."""
        trial = flight.trial
        try:
            trainer = repeat_trainer(
                self.spec, params, repeat, pm=self.pm, cache=self.cache, trial=trial
            )
            if self.board is not None:
                self.board.training(trial.number, trainer, self.spec.study.repeats)
            key = stack_key(trainer)
            if key is None:
                say_alone(trainer, self.said)
                self.take(flight, repeat, _train_alone(trainer, self.guard))
                return not flight.done
            stack = self.stacks.get(key)
            if stack is None:
                stack = self.stacks[key] = RunStack(self.capacity, self.pm)
            stack.add(trainer, (trial.number, repeat))
            flight.running[repeat] = stack
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # the run cannot be built: the trial fails, not the study
            self.take(flight, repeat, exc)
            return False
        return True

    def train_one_epoch(self) -> None:
        """Train every stack one epoch, and take the runs that ended."""
        if self.registry is not None:
            self.registry.beat()  # a write once a heartbeat interval, not an epoch
        for key, stack in list(self.stacks.items()):
            if not len(stack):
                del self.stacks[key]
                continue
            others = len(stack) - 1  # the runs a failing run trained stacked with
            with self.guard.allowed():
                try:
                    ended = stack.run_epoch()
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # the stack's shared step failed: its trials fail
                    del self.stacks[key]
                    ended = [(tag, exc) for tag in stack.tags]
            for (number, repeat), outcome in ended:
                flight = self.flights.get(number)
                if flight is not None:
                    self.take(flight, repeat, outcome, stacked_with=others)

    def take(
        self,
        flight: _Flight,
        repeat: int,
        outcome: RunResult | BaseException,
        *,
        stacked_with: int = 0,
    ) -> None:
        """A repeat ended (its result, or the exception that ended it, trained stacked with
        ``stacked_with`` other runs): add it to its trial in repeat order, and finish the trial
        once no more repeats are needed."""
        flight.running.pop(repeat, None)
        if isinstance(outcome, BaseException):
            flight.run.fail(outcome, self.pm, stacked_with=stacked_with)
        else:
            seed = outcome.config.train.seed
            flight.ended[repeat] = (seed, outcome)
            while len(flight.run.reasons) in flight.ended and flight.run.repeats_needed:
                flight.run.add(*flight.ended.pop(len(flight.run.reasons)))
        if flight.done:
            self.finish(flight)

    def finish(self, flight: _Flight) -> None:
        """Drop the trial's repeats still training, store its outcome and tell Optuna."""
        flight.cancel_the_rest()
        try:
            finish_trial(self.study, flight.trial, flight.run.outcome())
        finally:
            flight.heartbeat.close()
            self.flights.pop(flight.trial.number, None)
            if self.board is not None:
                self.board.ended(flight.trial.number)
        self.ran += 1
        self.share_taken = False  # one trial fewer held: its share may have room again
        if self.on_trial is not None:
            self.on_trial(self.study, told(self.study, flight.trial))

    def interrupt(self) -> None:
        """Ctrl-C: store every trial in flight as interrupted (queued again)."""
        with self.guard.deferred():
            for flight in list(self.flights.values()):
                flight.heartbeat.close()
                number = flight.trial.number
                training = {
                    repeat: trainer
                    for repeat, stack in flight.running.items()
                    if (trainer := stack.trainer_of((number, repeat))) is not None
                }
                ended = {repeat: result for repeat, (_, result) in flight.ended.items()}
                record = flight.run.interrupted(ended, training)
                interrupt_trial(self.study, flight.trial, record)
                if self.board is not None:
                    self.board.ended(flight.trial.number)


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


def say_alone(trainer: Trainer, said: SaidOnce) -> None:
    """One notice per plugin class and study run: this run's plugins do not declare themselves
    stackable, so its trials train one at a time, and how to declare it."""
    new = said.first_time(unstackable_plugins(trainer))
    if not new:
        return
    one = len(new) == 1
    warnings.warn(
        f"plugin class{'' if one else 'es'} {', '.join(new)} "
        f"{'does' if one else 'do'} not declare stackable = True: trials using "
        f"{'it' if one else 'them'} train one at a time; once sweepnp.testing's stacking "
        f"contract passes, declare `stackable = True` on the class{'' if one else 'es'} to "
        "train them stacked",
        SweepnpWarning,
        stacklevel=2,
    )
