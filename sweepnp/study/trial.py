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

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweepnp.config import set_path, validate
from sweepnp.errors import ConfigError
from sweepnp.metrics import confidence_half_width
from sweepnp.plugins import PluginManager, get_plugin_manager
from sweepnp.study.record import TrialRecord
from sweepnp.study.space import decode_params
from sweepnp.study.spec import DataCache, Direction, StudySpec, stored_spec

if TYPE_CHECKING:
    import pandas as pd

    from sweepnp.datasets import Splits
    from sweepnp.results import StudyResults
    from sweepnp.trainer import RunResult, Trainer

__all__ = [
    "RepeatRun",
    "TrialOutcome",
    "aggregate",
    "rerun_repeat",
    "rerun_trial",
    "run_configuration",
    "same_curves",
]


@dataclass
class TrialOutcome:
    """What training one configuration ``repeats`` times gave: what Optuna is told (``state``,
    ``values``) and what is stored with the trial (``record``)."""

    state: TrialState
    values: list[float] | None
    record: TrialRecord

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


def run_configuration(
    spec: StudySpec,
    params: Mapping[str, Any],
    *,
    trial: optuna.Trial | None = None,
    pm: PluginManager | None = None,
) -> TrialOutcome:
    """Train ``params`` ``repeats`` times and aggregate; never raises for a failing run.

    :param trial: the Optuna trial, for the callbacks that report to its pruner (first repeat).
    """
    pm = pm or get_plugin_manager()
    cache = spec.data_cache or DataCache()
    started = time.perf_counter()
    pruning = trial is not None and spec.prunes

    per_repeat: dict[str, list[float]] = {m: [] for m in spec.metrics}
    record = TrialRecord(stop_reason="completed", rows=[])
    reasons: list[str] = []
    try:
        for repeat in range(spec.study.repeats):
            watched = trial if pruning and repeat == 0 else None
            trainer = _repeat_trainer(spec, params, repeat, pm=pm, cache=cache, trial=watched)
            result = trainer.fit()
            record.seeds.append(trainer.config.train.seed)
            record.epochs.append(result.epochs_run)
            reasons.append(result.stop_reason)
            metrics = {**result.metrics, "train_seconds": result.seconds}
            metrics["epochs"] = result.epochs_run
            record.final.append({k: float(v) for k, v in metrics.items()})
            for metric in spec.metrics:
                per_repeat[metric].append(float(metrics[metric]))
            record.rows.extend({**row, "repeat": repeat} for row in result.records)
            if result.stop_reason in ("pruned", "diverged"):
                break
    except KeyboardInterrupt:
        raise
    except ConfigError as exc:
        return _failed(record, f"invalid: {exc}", started)
    except Exception as exc:  # a plugin or numeric failure ends this trial, not the study
        found = pm.culprit(exc)
        where = f"plugin {found[0]!r}: " if found else ""
        return _failed(record, f"failed: {where}{type(exc).__name__}: {exc}", started)

    record.seconds = time.perf_counter() - started
    record.stop_reason = _stop_reason(reasons)
    if record.stop_reason == "pruned":
        return TrialOutcome(TrialState.PRUNED, None, record)
    values = [
        aggregate(per_repeat[m], spec.study.aggregate, d)
        for m, d in zip(spec.metrics, spec.directions, strict=True)
    ]
    if record.stop_reason == "diverged" or not all(math.isfinite(v) for v in values):
        record.stop_reason = "diverged"
        return TrialOutcome(TrialState.FAIL, None, record)
    return TrialOutcome(TrialState.COMPLETE, values, record)


def _repeat_trainer(
    spec: StudySpec,
    params: Mapping[str, Any],
    repeat: int,
    *,
    pm: PluginManager,
    cache: DataCache,
    trial: optuna.Trial | None = None,
) -> Trainer:
    """The trainer of one repeat of a configuration, built as every trial builds it: the run
    file with that repeat's seed (:meth:`StudySpec.run_file`), validated as the study file, on
    data prepared once per data section (``cache``).

    :param trial: the Optuna trial whose pruner watches this repeat: the callbacks plugins turn
        on for it are added, and it is ``trainer.context["optuna_trial"]``.
    """
    from sweepnp.trainer import Trainer

    run = spec.run_file(params, repeat)
    if trial is not None:
        for name, options in _trial_callbacks(spec, pm).items():
            set_path(run, f"callbacks.{name}", options)
    config = validate(run, source=spec.source)
    return Trainer(
        config,
        plugin_manager=pm,
        data=cache.get(config, pm),
        context={"optuna_trial": trial} if trial is not None else None,
    )


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
    if reasons[-1] in ("pruned", "diverged"):
        return reasons[-1]
    return "early_stopped" if "early_stopped" in reasons else reasons[-1]


def _failed(record: TrialRecord, reason: str, started: float) -> TrialOutcome:
    record.stop_reason = "failed"
    record.reason = reason
    record.seconds = time.perf_counter() - started
    record.final, record.epochs = [], []
    return TrialOutcome(TrialState.FAIL, None, record)


def rerun_trial(study: optuna.Study, number: int) -> tuple[TrialOutcome, pd.DataFrame | None]:
    """Train trial ``number`` again from its stored parameters and seeds.

    :return: the new outcome and the stored learning curves, to compare.
    """
    trial = _stored_trial(study, number)
    outcome = run_configuration(stored_spec(study), decode_params(trial.params))
    return outcome, TrialRecord.of(trial).curves()


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
        trainer = _repeat_trainer(spec, decode_params(trial.params), repeat, pm=pm, cache=cache)
        return RepeatRun(trainer.fit(), trainer.data)


def _stored_trial(study: optuna.Study, number: int) -> FrozenTrial:
    """Trial ``number`` of ``study``; a :class:`ConfigError` naming the valid numbers if none."""
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in trials:
        valid = f"0..{max(trials)}" if trials else "none"
        raise ConfigError(
            f"no trial {number} in study {study.study_name!r}; trials: {valid}", key="--trial"
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
