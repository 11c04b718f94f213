"""One trial: train a configuration ``repeats`` times and say what Optuna should be told.

:func:`run_configuration` builds each repeat's run from the spec (:meth:`StudySpec.run_file`),
trains it, and returns a :class:`TrialOutcome`: the state and value(s) for Optuna and the
:class:`~sweepnp.study.record.TrialRecord` to store. It never raises for a failing run: a
plugin's exception or an invalid combination fails the trial, not the study.

:func:`rerun_trial` trains a stored trial again, every repeat; :func:`rerun_repeat` one repeat of
it, keeping the trained model and the data (the study report draws them). All three build a
repeat's trainer in one place, :func:`_repeat_trainer`, so a re-run is the run the study trained.
"""

from __future__ import annotations

import copy
import math
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweepnp.callbacks import Callback
from sweepnp.config import set_path, validate
from sweepnp.errors import ArgumentError, ConfigError
from sweepnp.metrics import confidence_half_width
from sweepnp.plugins import KIND_KEYS, PluginManager, get_plugin_manager
from sweepnp.study.record import RETRY_ATTR, TrialRecord, retried_numbers
from sweepnp.study.space import decode_params
from sweepnp.study.spec import DataCache, Direction, StudySpec, stored_spec
from sweepnp.vocabulary import EPOCHS, TRAIN_SECONDS, StopReason

if TYPE_CHECKING:
    import pandas as pd

    from sweepnp.datasets import Splits
    from sweepnp.results import StudyResults
    from sweepnp.trainer import RunResult, Trainer

__all__ = [
    "ONE_AT_A_TIME",
    "STOPPED_FROM_OUTSIDE",
    "RepeatRun",
    "Rerun",
    "TrialOutcome",
    "TrialRun",
    "aggregate",
    "plugin_object_that_raised",
    "repeat_trainer",
    "rerun",
    "rerun_repeat",
    "rerun_trial",
    "run_configuration",
    "same_curves",
    "stacked_failure",
]


#: How a study file says "train one trial at a time", in the reasons that suggest it (the
#: command line adds its own option where it prints them).
ONE_AT_A_TIME = "study.stack = 1"


@dataclass
class TrialOutcome:
    """What training one configuration ``repeats`` times gave: what Optuna is told (``state``,
    ``values``) and what is stored with the trial (``record``)."""

    state: TrialState
    values: list[float] | None
    record: TrialRecord
    #: The intermediate values to store (epoch → value): the study metric's mean curve over
    #: repeats (:meth:`TrialRecord.mean_curve`); none for a multi-objective study.
    intermediate: dict[int, float] = field(default_factory=dict)

    @property
    def stop_reason(self) -> str:
        return self.record.stop_reason

    @property
    def history(self) -> pd.DataFrame | None:
        """The learning curves of every repeat, wide (``repeat``, ``epoch``, metrics)."""
        return self.record.curves()


def aggregate(values: Sequence[float], how: str, direction: Direction) -> float:
    """The mean of the repeats, or (``lcb``) its pessimistic 95% confidence bound."""
    mean = math.fsum(values) / len(values)
    if how == "mean" or len(values) < 2:
        return mean
    half = confidence_half_width(values)
    return mean - half if direction == "maximize" else mean + half


class TrialRun:
    """The repeats of one configuration, taken in repeat order as they end, and the outcome they
    make (what Optuna is told and what is stored). Shared by the one-at-a-time loop and the
    stacked one, whose repeats may end in any order.

    :param spec: the study.
    :param started: when the trial started (``time.perf_counter()``), for its record's seconds.
    """

    def __init__(self, spec: StudySpec, started: float | None = None) -> None:
        self.spec = spec
        self.started = time.perf_counter() if started is None else started
        self.record = TrialRecord(stop_reason=StopReason.COMPLETED, rows=[])
        self.per_repeat: dict[str, list[float]] = {m: [] for m in spec.metrics}
        self.reasons: list[str] = []
        self.failure: TrialOutcome | None = None

    @property
    def repeats_needed(self) -> int:
        """How many repeats still matter: none once one was pruned, diverged or failed."""
        if self.failure is not None or self.reasons[-1:] in (
            [StopReason.PRUNED],
            [StopReason.DIVERGED],
        ):
            return 0
        return self.spec.study.repeats - len(self.reasons)

    def add(self, seed: int, result: RunResult) -> None:
        """Take the next repeat's result (trained with training seed ``seed``)."""
        record = self.record
        record.seeds.append(seed)
        record.epochs.append(result.epochs_run)
        self.reasons.append(result.stop_reason)
        metrics = {**result.metrics, TRAIN_SECONDS: result.seconds, EPOCHS: result.epochs_run}
        record.final.append({k: float(v) for k, v in metrics.items()})
        for metric in self.spec.metrics:
            self.per_repeat[metric].append(float(metrics[metric]))
        assert record.rows is not None
        repeat = len(self.reasons) - 1
        record.rows.extend({**row, "repeat": repeat} for row in result.records)

    def interrupted(
        self, ended: Mapping[int, RunResult], training: Mapping[int, Trainer]
    ) -> TrialRecord:
        """The record of a trial Ctrl-C stopped: the repeats taken, then, in repeat order, those
        that ``ended`` but were not taken yet and those still ``training`` (repeat → trainer),
        each with the epochs it trained, so that ``study rerun`` can stop where it stopped."""
        record = copy.deepcopy(self.record)
        record.stop_reason = record.reason = StopReason.INTERRUPTED
        record.seconds = time.perf_counter() - self.started
        assert record.rows is not None
        for repeat in range(len(self.reasons), self.spec.study.repeats):
            if repeat in ended:
                result = ended[repeat]
                seed, epochs, rows = result.config.train.seed, result.epochs_run, result.records
            elif repeat in training:
                trainer = training[repeat]
                seed, epochs, rows = trainer.config.train.seed, trainer.epochs_run, trainer.records
            else:
                break
            if not epochs:
                break
            record.seeds.append(seed)
            record.epochs.append(epochs)
            record.rows.extend({**row, "repeat": repeat} for row in rows)
        return record

    def fail(self, exc: BaseException, pm: PluginManager, *, stacked_with: int = 0) -> None:
        """A repeat could not be built or trained: the trial fails with the reason (a plugin's
        exception names the plugin), not the study.

        :param stacked_with: how many other runs trained in the repeat's stack when it failed;
            a plugin's exception there may come from stacking, and the reason says so and how to
            train without it (:func:`stacked_failure`).
        """
        if isinstance(exc, ConfigError):
            reason = f"invalid: {exc}"
        else:
            found = pm.culprit(exc)
            if found and stacked_with:
                reason = f"failed: {stacked_failure(exc, pm, found[0], stacked_with)}"
            else:
                where = f"plugin {found[0]!r}: " if found else ""
                reason = f"failed: {where}{type(exc).__name__}: {exc}"
        record = self.record
        record.stop_reason, record.reason = StopReason.FAILED, reason
        record.seconds = time.perf_counter() - self.started
        record.final, record.epochs = [], []
        self.failure = TrialOutcome(TrialState.FAIL, None, record)

    def outcome(self) -> TrialOutcome:
        """What the repeats taken so far make."""
        outcome = self._outcome()
        if len(self.spec.metrics) == 1:  # Optuna has intermediate values for one objective
            outcome.intermediate = outcome.record.mean_curve(self.spec.metrics[0])
        return outcome

    def _outcome(self) -> TrialOutcome:
        if self.failure is not None:
            return self.failure
        record = self.record
        record.seconds = time.perf_counter() - self.started
        record.stop_reason = _stop_reason(self.reasons)
        if record.stop_reason == StopReason.PRUNED:
            return TrialOutcome(TrialState.PRUNED, None, record)
        spec = self.spec
        values = [
            aggregate(self.per_repeat[m], spec.study.aggregate, d)
            for m, d in zip(spec.metrics, spec.directions, strict=True)
        ]
        if record.stop_reason == StopReason.DIVERGED or not all(math.isfinite(v) for v in values):
            record.stop_reason = StopReason.DIVERGED
            return TrialOutcome(TrialState.FAIL, None, record)
        return TrialOutcome(TrialState.COMPLETE, values, record)


def stacked_failure(exc: BaseException, pm: PluginManager, plugin: str, others: int) -> str:
    """Why a run that trained stacked with ``others`` other runs failed, when ``plugin`` raised
    ``exc``: the plugin, what of it raised, and the two ways to train it unstacked — declare
    ``stackable = False`` on its class, or train one trial at a time (:data:`ONE_AT_A_TIME`)."""
    raiser = plugin_object_that_raised(exc, pm, plugin)
    if raiser is not None:
        kind, name, cls, function = raiser
        what = f"{kind} {name!r} ({cls}.{function})"
        declare = f"declare `stackable = False` on {cls} (its trials then train one at a time)"
    else:
        what = "it"
        declare = "declare `stackable = False` on the plugin's class"
    runs = "run" if others == 1 else "runs"
    return (
        f"plugin {plugin!r}: {what} raised {type(exc).__name__}: {exc} — while training stacked "
        f"with {others} other {runs}; if it fails only when stacked, {declare}, or train every "
        f"trial one at a time with {ONE_AT_A_TIME}"
    )


def plugin_object_that_raised(
    exc: BaseException, pm: PluginManager, plugin: str
) -> tuple[str, str, str, str] | None:
    """``(kind, name, class, method)`` of the object of ``plugin`` (an optimizer, a callback, …)
    whose method raised ``exc`` — the outermost of that plugin's methods in the traceback, the
    one sweepnp called — e.g. ``("optimizer", "decaying", "DecayingSGD", "update")``; ``None``
    when no such method is in the traceback (a hook function raised)."""
    modules = pm.plugin_modules()
    classes = [
        (KIND_KEYS[kind], entry.name, entry.factory)
        for kind, entries in pm.registry.items()
        for entry in entries.values()
        if isinstance(entry.factory, type)
    ]
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        if modules.get(frame.f_globals.get("__name__", "")) != plugin:
            continue
        owner = frame.f_locals.get("self")
        # Its own class's name, else the registered class it derives from.
        found = [c for c in classes if type(owner) is c[2]]
        found = found or [c for c in classes if isinstance(owner, c[2])]
        if found:
            kind, name, _ = found[0]
            return kind, name, type(owner).__qualname__, frame.f_code.co_name
    return None


def run_configuration(
    spec: StudySpec,
    params: Mapping[str, Any],
    *,
    trial: optuna.Trial | None = None,
    pm: PluginManager | None = None,
    on_trainer: Callable[[Trainer], None] | None = None,
    number: int | None = None,
    run: TrialRun | None = None,
) -> TrialOutcome:
    """Train ``params`` ``repeats`` times, one after the other, and aggregate; never raises for
    a failing run.

    :param trial: the Optuna trial, for the callbacks that report to its pruner (first repeat).
    :param on_trainer: called with each repeat's trainer before it trains (a progress display
        reads its epochs).
    :param number: the trial's number, when there is no ``trial`` (a re-run).
    :param run: the repeats' record to fill (the caller's, to read after a Ctrl-C).
    """
    pm = pm or get_plugin_manager()
    cache = spec.data_cache or DataCache()
    run = run if run is not None else TrialRun(spec)
    try:
        while run.repeats_needed:
            repeat = len(run.reasons)
            trainer = repeat_trainer(
                spec, params, repeat, pm=pm, cache=cache, trial=trial, number=number
            )
            if on_trainer is not None:
                on_trainer(trainer)
            run.add(trainer.config.train.seed, trainer.fit())
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a plugin or numeric failure ends this trial, not the study
        run.fail(exc, pm)
    return run.outcome()


def repeat_trainer(
    spec: StudySpec,
    params: Mapping[str, Any],
    repeat: int,
    *,
    pm: PluginManager,
    cache: DataCache,
    trial: optuna.Trial | None = None,
    number: int | None = None,
    callbacks: Sequence[Callback] = (),
) -> Trainer:
    """The trainer of one repeat of a configuration, built as every trial builds it: the run
    file with that repeat's seed (:meth:`StudySpec.run_file`), validated as the study file, on
    data prepared once per data section (``cache``).

    Its ``trainer.context`` holds ``"trial_number"`` (when known) and ``"repeat"``: under paired
    seeds every configuration's repeat r has the same ``train.seed``, so a callback naming a file
    per run needs these.

    :param trial: the Optuna trial; when the study prunes, its pruner watches the first repeat:
        the callbacks plugins turn on for it are added, and it is
        ``trainer.context["optuna_trial"]``.
    :param number: the trial's number, when there is no ``trial`` (``study rerun``).
    :param callbacks: callback objects added to the run's own (a re-run's stop).
    """
    from sweepnp.trainer import Trainer

    context: dict[str, Any] = {"repeat": repeat}
    number = trial.number if trial is not None else number
    if number is not None:
        context["trial_number"] = number
    run = spec.run_file(params, repeat)
    if trial is not None and (not spec.prunes or repeat != 0):
        trial = None
    if trial is not None:
        for name, options in _trial_callbacks(spec, pm).items():
            set_path(run, f"callbacks.{name}", options)
        context["optuna_trial"] = trial
    config = validate(run, source=spec.source)
    data = cache.get(config, pm)
    return Trainer(config, plugin_manager=pm, data=data, context=context, callbacks=callbacks)


def _trial_callbacks(spec: StudySpec, pm: PluginManager) -> dict[str, Any]:
    """The callbacks plugins turn on in a run whose trial a pruner watches (name → options)."""
    start, every = spec.report_cadence()
    added: dict[str, Any] = {}
    hook = pm.hook.sweepnp_trial_callbacks
    for callbacks in hook(metric=spec.metrics[0], start=start, every=every):
        added.update(callbacks or {})
    return added


def _stop_reason(reasons: list[str]) -> str:
    """A trial's stop reason from its repeats': the last one's if it ended the trial early,
    else ``early_stopped`` if any repeat stopped early."""
    if reasons[-1] in (StopReason.PRUNED, StopReason.DIVERGED):
        return reasons[-1]
    early = StopReason.EARLY_STOPPED
    return early if early in reasons else reasons[-1]


#: Stop reasons a re-run cannot reach by training alone: the study's pruner (a re-run has none)
#: and Ctrl-C. A re-run of such a trial trains each repeat to the epochs the study stored, and
#: stops it there with the stored reason. (A study's ``timeout`` stops no trial: it only stops
#: new ones from starting.)
STOPPED_FROM_OUTSIDE = (StopReason.PRUNED, StopReason.INTERRUPTED, StopReason.STALE)


class _StopAt(Callback):
    """Stop a re-run after the epochs the study trained, with the reason the study stopped it:
    what the pruner (or Ctrl-C) did in the study, which a re-run cannot do by itself."""

    stackable = True

    def __init__(self, epochs: int, reason: str) -> None:
        self.epochs = epochs
        self.reason = reason

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any]) -> None:
        if epoch + 1 >= self.epochs:
            self.trainer.stop(self.reason)


@dataclass
class Rerun:
    """A stored trial trained again (:func:`rerun`), and what the study stored of it.

    :ivar number: the trial.
    :ivar stored: the study's record of the trial (stop reason, epochs per repeat, curves).
    :ivar outcome: the re-run's outcome; ``None`` when nothing was trained — the trial stored no
        epochs to reproduce (interrupted or stale before its record was written).
    :ivar stopped_at: the epochs per repeat at which the re-run was stopped because the study
        stopped the trial there (:data:`STOPPED_FROM_OUTSIDE`); empty when it trained until it
        stopped by itself.
    :ivar retry: the trial that runs this one's configuration again (an interrupted or stale
        trial), if any; ``retry_waiting`` when it has not started yet.
    """

    number: int
    stored: TrialRecord
    outcome: TrialOutcome | None
    stopped_at: list[int] = field(default_factory=list)
    retry: int | None = None
    retry_waiting: bool = False

    @property
    def stored_curves(self) -> pd.DataFrame | None:
        return self.stored.curves()

    @property
    def epochs(self) -> int:
        """The epochs the study trained this trial, over its repeats."""
        return sum(self.stored.epochs)

    @property
    def identical(self) -> bool:
        """Whether the re-run is the stored trial: for a failed trial, the same failure (the same
        reason); else the same stop reason and learning curves, number for number."""
        if self.outcome is None:
            return False
        if self.stored.stop_reason == StopReason.FAILED:
            return self.outcome.stop_reason == StopReason.FAILED and _same_failure(
                self.stored.reason or "", self.outcome.record.reason or ""
            )
        return self.outcome.stop_reason == self.stored.stop_reason and same_curves(
            self.outcome.history, self.stored_curves
        )


def _same_failure(stored: str, again: str) -> bool:
    """Whether a re-run failed for the stored reason. The study's reason for an invalid run may
    name the study file it read (``invalid: FILE: key: …``); a re-run reads the file from the
    storage, and names none."""
    if stored == again:
        return True
    invalid = "invalid: "
    if not (stored.startswith(invalid) and again.startswith(invalid)):
        return False
    return stored.endswith(": " + again.removeprefix(invalid))


def rerun(study: optuna.Study, number: int) -> Rerun:
    """Train trial ``number`` again from its stored parameters and seeds, as the study trained
    it. Repeats the study stopped from outside (pruned, interrupted: :data:`STOPPED_FROM_OUTSIDE`)
    are stopped at the epochs it stored, with the same reason; the others train until they stop
    by themselves (completed, early-stopped, diverged, failed), which is what is checked. A
    trial that stored no epochs (interrupted before any record was written) is not trained."""
    trials = study.get_trials(deepcopy=False)
    trial = _stored_trial(study, number)
    stored = TrialRecord.of(trial, retried_numbers(trials))
    retry = _next_attempt(trials, trial)
    stopped = stored.stop_reason in STOPPED_FROM_OUTSIDE
    if stopped and not stored.epochs:
        waiting = retry is not None and trials[retry].state == TrialState.WAITING
        return Rerun(number, stored, None, retry=retry, retry_waiting=waiting)
    spec = stored_spec(study)
    params = decode_params(trial.params)
    if not stopped:
        return Rerun(number, stored, run_configuration(spec, params, number=number), retry=retry)
    pm = get_plugin_manager()
    cache = spec.data_cache or DataCache()
    run = TrialRun(spec)
    try:
        for repeat, epochs in enumerate(stored.epochs):
            stop = _StopAt(epochs, stored.stop_reason)
            trainer = repeat_trainer(
                spec, params, repeat, pm=pm, cache=cache, number=number, callbacks=[stop]
            )
            run.add(trainer.config.train.seed, trainer.fit())
    except Exception as exc:  # as in the study: a failing run fails the trial
        run.fail(exc, pm)
    return Rerun(number, stored, run.outcome(), stopped_at=list(stored.epochs), retry=retry)


def _next_attempt(trials: Sequence[FrozenTrial], trial: FrozenTrial) -> int | None:
    """The trial that ran ``trial``'s configuration again after it (its retry), if any."""
    origin = trial.user_attrs.get(RETRY_ATTR, trial.number)
    later = [
        t.number
        for t in trials
        if t.number > trial.number and t.user_attrs.get(RETRY_ATTR) == origin
    ]
    return min(later, default=None)


def rerun_trial(study: optuna.Study, number: int) -> tuple[TrialOutcome, pd.DataFrame | None]:
    """Train trial ``number`` again from its stored parameters and seeds (:func:`rerun`).

    :return: the new outcome and the stored learning curves, to compare.
    :raises ArgumentError: for a trial that stored no epochs to train again (interrupted before
        its record was written).
    """
    again = rerun(study, number)
    if again.outcome is None:
        raise ArgumentError(
            f"trial {number} of study {study.study_name!r} was {again.stored.stop_reason} "
            "before it stored any epochs: there is nothing to train again",
            argument="trial",
        )
    return again.outcome, again.stored_curves


@dataclass
class RepeatRun:
    """One repeat of a stored trial, trained again by :func:`rerun_repeat`.

    :ivar result: the run's :class:`~sweepnp.trainer.RunResult`: its trained ``model``, final
        ``metrics`` and learning curve.
    :ivar data: the data splits it was trained on, prepared as the study prepared them.
    """

    result: RunResult
    data: Splits


def rerun_repeat(study: optuna.Study | StudyResults, number: int, repeat: int = 0) -> RepeatRun:
    """Train repeat ``repeat`` of trial ``number`` again, exactly as the study trained it: the
    stored study file with the trial's parameters, that repeat's seed and the same data split.
    No pruner watches the re-run: a repeat the study pruned trains to its end here.

    :param study: the study, or its :class:`~sweepnp.results.StudyResults`, whose study file is
        read already and which keep the data they prepare for the next re-run.
    :raises ConfigError: for a trial or repeat the study does not have, or a run that is no
        longer valid (a plugin it used is not installed).
    :raises PluginFailure: when a plugin raises while the run is built or trained.
    """
    if isinstance(study, optuna.Study):
        spec = stored_spec(study)
    else:
        study, spec = study.study, study.spec
    trial = _stored_trial(study, number)
    repeats = spec.study.repeats
    if not 0 <= repeat < repeats:
        raise ConfigError(
            f"trial {number} has repeats 0..{repeats - 1}, not {repeat}", key="repeat"
        )
    pm = get_plugin_manager()
    cache = spec.data_cache or DataCache()
    with pm.naming_failures(source=spec.source):
        params = decode_params(trial.params)
        trainer = repeat_trainer(spec, params, repeat, pm=pm, cache=cache, number=trial.number)
        return RepeatRun(trainer.fit(), trainer.data)


def _stored_trial(study: optuna.Study, number: int) -> FrozenTrial:
    """Trial ``number`` of ``study``; a :class:`ConfigError` naming the valid numbers if none."""
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in trials:
        valid = f"0..{max(trials)}" if trials else "none"
        raise ArgumentError(
            f"no trial {number} in study {study.study_name!r}; trials: {valid}", argument="trial"
        )
    return trials[number]


def same_curves(rerun: pd.DataFrame | None, stored: pd.DataFrame | None) -> bool:
    """Whether a re-run's learning curves are the stored ones, number for number (every column
    but the wall-clock ``epoch_seconds``)."""
    import pandas as pd

    if rerun is None or stored is None:
        return False
    columns = [c for c in stored.columns if c != "epoch_seconds"]
    if set(columns) - set(rerun.columns):
        return False
    try:
        pd.testing.assert_frame_equal(
            rerun[columns].reset_index(drop=True), stored[columns].reset_index(drop=True)
        )
    except AssertionError:
        return False
    return True
