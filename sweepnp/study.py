"""The Optuna driver: a study file becomes an Optuna study, trials become runs.

A study file is a run file plus ``[study]`` and ``[study.params]``. For every trial the driver asks
Optuna for a configuration (:mod:`sweepnp.space`), writes it into a copy of the base run file by
dotted path, trains it ``repeats`` times with seeds derived from the study seed, the parameters and
the repeat index, and tells Optuna the aggregate of the monitored metric.

What reaches the storage per trial is what Optuna needs plus one record: the parameters, pruning
reports at the pruner's cadence, the final value(s), the worker that ran it, and one user attribute
``sweepnp`` holding the stop reason, seeds, per-repeat metrics and the compressed learning curves.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import math
import multiprocessing
import os
import signal
import sys
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import optuna
import pandas as pd
from optuna.storages import BaseStorage
from optuna.trial import TrialState
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sweepnp import storage as storages
from sweepnp.config import RunConfig, _config_error, load_file, set_path, validate
from sweepnp.errors import ConfigError, SweepnpError, SweepnpWarning
from sweepnp.optuna_adapter import storage_of
from sweepnp.plugins import PluginManager, get_plugin_manager, validate_options
from sweepnp.space import SearchSpace, decode_params, parse_space

__all__ = [
    "StudyConfig",
    "StudySpec",
    "TrialOutcome",
    "load_spec",
    "rerun_trial",
    "run_study",
    "trial_seed",
]

RECORD_ATTR = "sweepnp"
CONFIG_ATTR = "sweepnp_config"
#: Metrics a study may optimize besides the run's own: wall time and epochs actually trained.
EXTRA_METRICS = ("train_seconds", "epochs")
#: Trials that did not really finish: retried, and not counted against n_trials.
RETRIED_REASONS = ("interrupted", "stale")
#: Seconds between looks at other workers' running trials, once the budget is spent.
WAIT_SECONDS = 0.25
#: Seconds of waiting for other workers after which a worker says why it has not ended.
SAY_WAITING_AFTER = 10.0

SAMPLERS: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "grid": optuna.samplers.GridSampler,
    "qmc": optuna.samplers.QMCSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "nsgaii": optuna.samplers.NSGAIISampler,
}
PRUNERS: dict[str, Callable[..., optuna.pruners.BasePruner]] = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "patient": optuna.pruners.PatientPruner,
    "threshold": optuna.pruners.ThresholdPruner,
}
#: Optional dependencies of samplers, by the module they import.
SAMPLER_NEEDS = {"cmaes": "cmaes", "gp": "torch"}


# -------------------------------------------------------------------------
# [study]
# -------------------------------------------------------------------------

Direction = Literal["maximize", "minimize"]


class StudyConfig(BaseModel):
    """``[study]``: what to optimize, how to search, and how long."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str | None = None
    metric: str | list[str] = "val_loss"
    direction: Direction | list[Direction] | None = None
    sampler: str | dict[str, Any] = "tpe"
    pruner: str | dict[str, Any] = "none"
    n_trials: Annotated[int, Field(ge=1)] = 20
    timeout: Annotated[float, Field(gt=0)] | None = None
    repeats: Annotated[int, Field(ge=1)] = 1
    aggregate: Literal["mean", "lcb"] = "mean"
    seed: Annotated[int, Field(ge=0)] = 0
    params: dict[str, Any] = {}
    #: Dotted path → value: what ``--quick`` changes (fewer epochs, trials, repeats).
    quick: dict[str, Any] = {}


@dataclass
class StudySpec:
    """A validated study file: the base run file, the study settings and the search space."""

    base: dict[str, Any]  # the run file without [study], as a dict
    study: StudyConfig
    space: SearchSpace
    name: str
    metrics: list[str]
    directions: list[Direction]
    source: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    #: Prepared data shared by every run built from this spec in this process.
    data_cache: Any = field(default=None, repr=False)

    def run_file(self, params: Mapping[str, Any], repeat: int | None = None) -> dict[str, Any]:
        """The run file of one configuration: the base with ``params`` set by dotted path and,
        for ``repeat``, that repeat's training seed (:func:`trial_seed`) — what the study trains.
        """
        run = copy.deepcopy(self.base)
        for path, value in params.items():
            set_path(run, path, value)
        if repeat is not None:
            set_path(run, "train.seed", trial_seed(self.study.seed, params, repeat))
        return run

    @property
    def multi_objective(self) -> bool:
        return len(self.metrics) > 1

    def sampler(self, worker: int = 0) -> optuna.samplers.BaseSampler:
        """The sampler; worker ``w`` of a parallel study gets seed ``seed + w``."""
        name, options = _named(self.study.sampler, "study.sampler", self.source)
        if name not in SAMPLERS:
            raise ConfigError(
                f"unknown sampler {name!r}; valid choices: {', '.join(SAMPLERS)}",
                source=self.source,
                key="study.sampler",
            )
        needed = SAMPLER_NEEDS.get(name)
        if needed is not None:
            try:
                __import__(needed)
            except ImportError:
                raise ConfigError(
                    f"the {name!r} sampler needs the package {needed!r}: pip install {needed}",
                    source=self.source,
                    key="study.sampler",
                ) from None
        factory = SAMPLERS[name]
        if name == "grid" and "search_space" not in options:
            try:
                options["search_space"] = self.space.grid()
            except ConfigError as exc:  # the space does not know the file it came from
                raise ConfigError(exc.reason, source=self.source, key=exc.key) from None
        kwargs = _checked_options(factory, options, key="study.sampler", source=self.source)
        if "seed" in _parameter_names(factory):
            kwargs["seed"] = kwargs.get("seed", self.study.seed) + worker
        return _construct(factory, kwargs, key="study.sampler", source=self.source)

    def pruner(self) -> optuna.pruners.BasePruner:
        return _make_pruner(self.study.pruner, "study.pruner", self.source)

    @property
    def prunes(self) -> bool:
        return _named(self.study.pruner, "study.pruner", self.source)[0] != "none"

    def report_cadence(self) -> tuple[int, int]:
        """``(start, every)``: the epochs at which the pruner looks at intermediate values."""
        name, options = _named(self.study.pruner, "study.pruner", self.source)
        if name in ("median", "percentile", "threshold"):  # the same warm-up and interval rule
            return int(options.get("n_warmup_steps", 0)), int(options.get("interval_steps", 1))
        return 0, 1


def _named(spec: str | Mapping[str, Any], key: str, source: str | None) -> tuple[str, dict]:
    if isinstance(spec, str):
        return spec, {}
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"must be a name or a table with 'name' and options, got {spec!r}",
            source=source,
            key=key,
        )
    options = dict(spec)
    if "name" not in options:
        raise ConfigError("missing 'name'", source=source, key=key)
    return str(options.pop("name")), options


def _parameter_names(factory: Callable[..., Any]) -> set[str]:
    import inspect

    return set(inspect.signature(factory).parameters)


#: Names that Optuna's constructors annotate with but import only for type checkers.
_OPTUNA_TYPE_NAMES: dict[str, Any] = {
    "BaseDistribution": optuna.distributions.BaseDistribution,
    "BasePruner": optuna.pruners.BasePruner,
    "BaseSampler": optuna.samplers.BaseSampler,
    "FrozenTrial": optuna.trial.FrozenTrial,
    "Study": optuna.Study,
    "TrialState": TrialState,
    "np": np,
}
#: What a study file can hold: TOML's values.
_TOML_TYPES = (str, int, float, bool, list, dict)


def _option_hints(factory: Callable[..., Any]) -> dict[str, Any]:
    """The type hints of a sampler's or pruner's parameters. One that cannot be resolved but is
    written as a ``Callable`` is kept as a plain ``Callable``, so that it is still refused."""
    from sweepnp.plugins import type_hints

    hints = type_hints(factory, _OPTUNA_TYPE_NAMES)
    target = factory.__init__ if isinstance(factory, type) else factory
    for name, annotation in getattr(target, "__annotations__", {}).items():
        if name not in hints and isinstance(annotation, str) and "Callable" in annotation:
            hints[name] = Callable[..., Any]
    return hints


def _code_only(hint: Any) -> str | None:
    """What a parameter takes when no TOML value can be it: ``"a Python function"`` or
    ``"a Python object (BaseSampler)"``; ``None`` when a study file can give it."""
    import collections.abc
    import types
    import typing

    members = (
        typing.get_args(hint)
        if typing.get_origin(hint) in (typing.Union, types.UnionType)
        else (hint,)
    )
    found = []
    for member in members:
        if member is type(None):
            continue
        if member is typing.Any:
            return None
        origin = typing.get_origin(member) or member
        args = typing.get_args(member)
        if origin is collections.abc.Callable:
            found.append("a Python function")
        elif origin in (list, collections.abc.Sequence) and args and _code_only(args[0]):
            found.append("a list of Python objects")
        elif (
            isinstance(origin, type)
            and not issubclass(origin, _TOML_TYPES)
            and not issubclass(origin, collections.abc.Sequence | collections.abc.Mapping)
        ):
            found.append(f"a Python object ({origin.__name__})")
        else:
            return None  # some TOML value fits
    return " or ".join(found) or None


def _checked_options(
    factory: Callable[..., Any], options: dict[str, Any], *, key: str, source: str | None
) -> dict[str, Any]:
    """A sampler's or pruner's options checked against its constructor: names, and types by
    the annotations (strictly: ``"0.5"`` is not a number); a parameter that takes a function or
    an object is refused, since a study file cannot give one."""
    hints = _option_hints(factory)
    for option, value in options.items():
        hint = hints.get(option)
        what = _code_only(hint) if hint is not None else None
        if what is not None and isinstance(value, _TOML_TYPES):
            raise ConfigError(
                f"takes {what}, which a study file cannot give; remove it to use Optuna's "
                f"default, got {value!r}",
                source=source,
                key=f"{key}.{option}",
            )
    return validate_options(factory, options, key=key, source=source, supplied=(), hints=hints)


def _construct(
    factory: Callable[..., Any], kwargs: dict[str, Any], *, key: str, source: str | None
) -> Any:
    try:
        with warnings.catch_warnings():  # QMC, patient, ...: chosen on purpose, not experiments
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return factory(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc), source=source, key=key) from None


def _make_pruner(spec: Any, key: str, source: str | None) -> optuna.pruners.BasePruner:
    name, options = _named(spec, key, source)
    if name not in PRUNERS:
        raise ConfigError(
            f"unknown pruner {name!r}; valid choices: {', '.join(PRUNERS)}", source=source, key=key
        )
    if name == "patient":
        if "wrapped_pruner" in options:
            raise ConfigError(
                "give the pruner to wrap as 'wrapped': a name or a table with 'name'",
                source=source,
                key=f"{key}.wrapped_pruner",
            )
        wrapped = options.pop("wrapped", "median")
        options["wrapped_pruner"] = _make_pruner(wrapped, f"{key}.wrapped", source)
        options.setdefault("patience", 3)
    kwargs = _checked_options(PRUNERS[name], options, key=key, source=source)
    return _construct(PRUNERS[name], kwargs, key=key, source=source)


def _default_direction(metric: str) -> Direction:
    return "maximize" if any(word in metric for word in ("acc", "r2")) else "minimize"


def load_spec(
    file: str | Path | Mapping[str, Any],
    *,
    name: str | None = None,
    plugin_manager: PluginManager | None = None,
    validate_runs: bool = True,
    quick: bool = False,
) -> StudySpec:
    """Read and validate a study file: schema, search space, sampler and pruner.

    Every searched value is checked by building the run it would give (both ends of a range,
    every choice), so a path that addresses nothing, or a value a plugin refuses, is reported now
    rather than in trial 37.

    :param validate_runs: build runs, sampler and pruner to check them (off when only reading
        a stored study's results, which needs none of its plugins installed).
    :param quick: apply the file's ``[study.quick]`` changes, and name the study
        ``<name>-quick`` (unless ``name`` is given), so it never mixes with the full study.
    """
    if isinstance(file, str | Path):
        source: str | None = str(file)
        raw = load_file(file)
        default_name = Path(file).stem
    elif isinstance(file, Mapping):
        source, raw, default_name = None, copy.deepcopy(dict(file)), "study"
    else:
        raise ConfigError(
            f"a study file is a path or a dict of the study-file schema, got {file!r}"
        )
    study_table = raw.get("study")
    if not isinstance(study_table, Mapping):
        raise ConfigError("a study file needs a [study] table", source=source, key="study")
    if quick:
        _apply_quick(raw, source)
        default_name = f"{study_table.get('name') or default_name}-quick"
        name = name or default_name
    try:
        study = StudyConfig.model_validate(study_table)
    except ValidationError as exc:
        error = _config_error(exc, source)
        reason = error.reason
        if exc.errors()[0]["type"] == "extra_forbidden":  # list [study]'s keys, not the run's
            reason = f"unknown key; valid keys: {', '.join(StudyConfig.model_fields)}"
        raise ConfigError(reason, source=source, key=f"study.{error.key}") from None
    base = {k: v for k, v in raw.items() if k != "study"}
    config = validate(base, source=source)  # the base run must itself be valid

    metrics = [study.metric] if isinstance(study.metric, str) else list(study.metric)
    if not metrics:
        raise ConfigError("name at least one metric", source=source, key="study.metric")
    directions = study.direction if study.direction is not None else None
    if directions is None:
        directions = [_default_direction(m) for m in metrics]
    elif isinstance(directions, str):
        directions = [directions]
    if len(directions) != len(metrics):
        raise ConfigError(
            f"{len(metrics)} metric(s) but {len(directions)} direction(s)",
            source=source,
            key="study.direction",
        )
    pm = plugin_manager or get_plugin_manager()
    space = parse_space(study.params, base, source=source)
    spec = StudySpec(
        data_cache=_DataCache(),
        base=base,
        study=study,
        space=space,
        name=name or study.name or default_name,
        metrics=metrics,
        directions=list(directions),
        source=source,
        raw=raw,
    )
    if not validate_runs:
        return spec
    _check_metrics(spec, config, pm)
    spec.sampler()
    spec.pruner()
    if spec.multi_objective and _named(study.pruner, "study.pruner", source)[0] != "none":
        raise ConfigError(
            'Optuna cannot prune multi-objective studies; set pruner = "none"',
            source=source,
            key="study.pruner",
        )
    _check_space(spec, pm)
    return spec


def _apply_quick(raw: dict[str, Any], source: str | None) -> None:
    """Write ``[study.quick]``'s values into the file at their dotted paths."""
    changes = raw["study"].get("quick")
    if not isinstance(changes, Mapping) or not changes:
        raise ConfigError(
            '--quick needs a [study.quick] table of changes, e.g. "train.epochs" = 10',
            source=source,
            key="study.quick",
        )
    for path, value in changes.items():
        if path.split(".")[:2] in (["study", "params"], ["study", "quick"]) or path == "study":
            raise ConfigError(
                "may change run settings and [study] values (n_trials, repeats, …), not "
                "the search space",
                source=source,
                key=f'study.quick."{path}"',
            )
        try:
            set_path(raw, path, value)
        except KeyError:
            raise ConfigError(
                f"{path!r} addresses a value inside a non-table",
                source=source,
                key=f'study.quick."{path}"',
            ) from None


def _check_metrics(spec: StudySpec, config: RunConfig, pm: PluginManager) -> None:
    from sweepnp.trainer import Trainer

    trainer = Trainer(config, plugin_manager=pm, data=spec.data_cache.get(config, pm))
    valid = [m for m in trainer.metric_names if m != "lr"] + list(EXTRA_METRICS)
    for metric in spec.metrics:
        if metric not in valid:
            raise ConfigError(
                f"{metric!r} is not a metric of this run; valid choices: {', '.join(valid)}",
                source=spec.source,
                key="study.metric",
            )


def _check_space(spec: StudySpec, pm: PluginManager) -> None:
    from sweepnp.trainer import Trainer

    for param in spec.space.params:
        for value in param.values_for_validation():
            raw = copy.deepcopy(spec.base)
            for cond_path, allowed in param.when.items():
                set_path(raw, cond_path, allowed[0])
            set_path(raw, param.path, value)
            try:
                config = validate(raw, source=spec.source)
                data = spec.data_cache.get(config, pm)
                trainer = Trainer(config, plugin_manager=pm, data=data)
                trainer.schedule.setup(trainer.optimizer.lr, trainer.epochs)
            except ConfigError as exc:
                raise ConfigError(
                    f"{param.path} = {value!r} gives an invalid run: {exc.key}: {exc.reason}",
                    source=spec.source,
                    key=f'study.params."{param.path}"',
                ) from None
            except SweepnpError as exc:
                raise ConfigError(
                    str(exc), source=spec.source, key=f'study.params."{param.path}"'
                ) from None


# -------------------------------------------------------------------------
# Seeds and records
# -------------------------------------------------------------------------


def trial_seed(study_seed: int, params: Mapping[str, Any], repeat: int) -> int:
    """The training seed of one repeat: from the study seed, the parameters and the repeat index.

    Identical parameters get identical seeds, in any worker and in any order, so a trial can be
    re-run exactly (``sweepnp study rerun``).
    """
    canonical = json.dumps(params, sort_keys=True, default=str).encode()
    digest = int.from_bytes(hashlib.sha256(canonical).digest()[:8], "little")
    sequence = np.random.SeedSequence([study_seed, digest, repeat])
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def encode_history(rows: list[dict[str, Any]]) -> str:
    """A learning curve (rows of all repeats) as compressed, base64, columnar JSON.

    One storage write per trial, whatever the number of epochs.
    """
    columns: dict[str, list[Any]] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, [])
    for key, values in columns.items():
        values.extend(row.get(key) for row in rows)
    payload = json.dumps(columns, separators=(",", ":"))
    return base64.b64encode(zlib.compress(payload.encode(), 6)).decode()


def decode_history(text: str) -> pd.DataFrame:
    return pd.DataFrame(json.loads(zlib.decompress(base64.b64decode(text))))


@dataclass
class TrialOutcome:
    """What training one configuration ``repeats`` times gave."""

    state: TrialState
    values: list[float] | None
    stop_reason: str
    record: dict[str, Any]
    rows: list[dict[str, Any]] | None = None  # the learning curve of every repeat

    @property
    def history(self) -> pd.DataFrame | None:
        return pd.DataFrame(self.rows) if self.rows is not None else None


def aggregate(values: list[float], how: str, direction: Direction) -> float:
    """The mean of the repeats, or its pessimistic 95% confidence bound (t distribution)."""
    array = np.asarray(values, dtype=float)
    mean = float(array.mean())
    if how == "mean" or len(array) < 2:
        return mean
    from scipy import stats  # imported here: SciPy's statistics take half a second to import

    half = float(stats.t.ppf(0.975, len(array) - 1) * array.std(ddof=1) / math.sqrt(len(array)))
    return mean - half if direction == "maximize" else mean + half


# -------------------------------------------------------------------------
# Running one trial
# -------------------------------------------------------------------------


class _DataCache:
    """Prepared data per data/model section: trials that do not search them share one split."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def get(self, config: RunConfig, pm: PluginManager) -> Any:
        from sweepnp.trainer import load_data

        key = json.dumps(
            {
                "data": config.data.model_dump(),
                "task": config.model.task,
                "dtype": config.model.dtype,
            },
            sort_keys=True,
            default=str,
        )
        if key not in self._cache:
            self._cache[key] = load_data(config, pm)
        return self._cache[key]


def plugin_of(exc: BaseException, pm: PluginManager) -> str | None:
    """The plugin whose code raised ``exc`` (the deepest frame in a plugin module), if any."""
    found = pm.culprit(exc)
    return found[0] if found else None


def run_configuration(
    spec: StudySpec,
    params: Mapping[str, Any],
    *,
    trial: optuna.Trial | None = None,
    pm: PluginManager | None = None,
) -> TrialOutcome:
    """Train ``params`` ``repeats`` times and aggregate; never raises for a failing run."""
    from sweepnp.trainer import Trainer

    pm = pm or get_plugin_manager()
    cache = spec.data_cache or _DataCache()
    started = time.perf_counter()
    prune_start, prune_every = spec.report_cadence()
    pruning = trial is not None and spec.prunes

    per_repeat: dict[str, list[float]] = {m: [] for m in spec.metrics}
    final: list[dict[str, float]] = []
    histories, seeds, epochs, reasons = [], [], [], []
    try:
        for repeat in range(spec.study.repeats):
            run = spec.run_file(params, repeat)
            seed = run["train"]["seed"]
            if pruning and repeat == 0:
                set_path(
                    run,
                    "callbacks.pruning",
                    {"monitor": spec.metrics[0], "start": prune_start, "every": prune_every},
                )
            config = validate(run, source=spec.source)
            trainer = Trainer(
                config,
                plugin_manager=pm,
                data=cache.get(config, pm),
                context={"optuna_trial": trial} if pruning and repeat == 0 else None,
            )
            result = trainer.fit()
            seeds.append(seed)
            epochs.append(result.epochs_run)
            reasons.append(result.stop_reason)
            metrics = {
                **result.metrics,
                "train_seconds": result.seconds,
                "epochs": result.epochs_run,
            }
            final.append({k: float(v) for k, v in metrics.items()})
            for metric in spec.metrics:
                per_repeat[metric].append(float(metrics[metric]))
            histories.extend({**row, "repeat": repeat} for row in result.records)
            if result.stop_reason in ("pruned", "diverged"):
                break
    except KeyboardInterrupt:
        raise
    except ConfigError as exc:
        return _failed(f"invalid: {exc}", started, seeds, histories)
    except Exception as exc:  # a plugin or numeric failure ends this trial, not the study
        plugin = plugin_of(exc, pm)
        where = f"plugin {plugin!r}: " if plugin else ""
        return _failed(f"failed: {where}{type(exc).__name__}: {exc}", started, seeds, histories)

    stop_reason = reasons[-1] if reasons[-1] in ("pruned", "diverged") else _summary(reasons)
    record = {
        "stop_reason": stop_reason,
        "seeds": seeds,
        "epochs": epochs,
        "final": final,
        "seconds": time.perf_counter() - started,
        "history": encode_history(histories),
    }
    if stop_reason == "pruned":
        return TrialOutcome(TrialState.PRUNED, None, stop_reason, record, histories)
    values = [
        aggregate(per_repeat[m], spec.study.aggregate, d)
        for m, d in zip(spec.metrics, spec.directions, strict=True)
    ]
    if stop_reason == "diverged" or not all(math.isfinite(v) for v in values):
        return TrialOutcome(TrialState.FAIL, None, "diverged", record, histories)
    return TrialOutcome(TrialState.COMPLETE, values, stop_reason, record, histories)


def _summary(reasons: list[str]) -> str:
    return "early_stopped" if "early_stopped" in reasons else reasons[-1]


def _failed(reason: str, started: float, seeds: list[int], histories: list) -> TrialOutcome:
    stop = "failed"
    record: dict[str, Any] = {
        "stop_reason": stop,
        "reason": reason,
        "seeds": seeds,
        "seconds": time.perf_counter() - started,
    }
    if histories:
        record["history"] = encode_history(histories)
    return TrialOutcome(TrialState.FAIL, None, stop, record)


# -------------------------------------------------------------------------
# The worker loop
# -------------------------------------------------------------------------


def counted_trials(study: optuna.Study) -> int:
    """Trials that count against ``n_trials``: finished or running, except retried ones.

    A trial that failed because its run was interrupted or its worker died does not count: its
    parameters were queued again, and the retry counts instead.
    """
    trials = study.get_trials(deepcopy=False)
    retried = storages.retried_numbers(trials)
    count = 0
    for trial in trials:
        if trial.state == TrialState.WAITING:
            continue
        if trial.state == TrialState.FAIL and (
            trial.number in retried or trial.user_attrs.get(storages.REASON_ATTR) in RETRIED_REASONS
        ):
            continue
        count += 1
    return count


def create_study(
    spec: StudySpec, storage_url: str | None, storage: BaseStorage | None = None
) -> optuna.Study:
    """Create the study, or check that the stored one is this same study, and return it.

    :param storage: the storage ``storage_url`` names, already open.
    """
    storage = storage or storages.open_storage(storage_url)
    fingerprint = _fingerprint(spec)
    try:
        study = optuna.load_study(study_name=spec.name, storage=storage)
    except KeyError:
        study = optuna.create_study(
            study_name=spec.name,
            storage=storage,
            directions=spec.directions,
            load_if_exists=True,
        )
        study.set_user_attr(CONFIG_ATTR, spec.raw)
        study.set_user_attr("sweepnp_fingerprint", fingerprint)
        study.set_user_attr("sweepnp_metrics", spec.metrics)
        return study
    stored = study.user_attrs.get("sweepnp_fingerprint")
    if stored is not None and stored != fingerprint:
        raise ConfigError(
            f"a study named {spec.name!r} with another configuration exists in "
            f"{storages.describe(storage_url)}; give this one another name (--name), or delete "
            f"the old one (sweepnp study delete {spec.name})",
            source=spec.source,
            key="study.name",
        )
    return study


def _fingerprint(spec: StudySpec) -> str:
    # n_trials and timeout may change between runs of the same study; nothing else may.
    raw = copy.deepcopy(spec.raw)
    for key in ("n_trials", "timeout", "name"):
        raw.get("study", {}).pop(key, None)
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()


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


def work(
    job: WorkerJob,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
) -> int:
    """Ask, train and tell until the study holds ``n_trials`` counted trials; return how many ran.

    Under the storage's budget lock the count and the ``ask`` are one step, so workers — in
    parallel processes or on other machines — never overshoot ``n_trials``. Before counting,
    trials of dead workers are failed and queued again. When the budget is spent but other
    workers' trials are still running, this worker waits for them: if one's worker dies, its
    trial is run again here, so the study ends with ``n_trials`` finished trials.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pm = job.plugin_manager or get_plugin_manager()
    spec = job.spec or load_spec(job.file, name=job.name, plugin_manager=pm)
    storage = storages.open_storage(job.storage)
    study = optuna.load_study(
        study_name=spec.name,
        storage=storage,
        sampler=spec.sampler(job.worker),
        pruner=spec.pruner(),
    )
    identity = storages.worker_identity()
    storages.label_new_trials(storage, {storages.WORKER_ATTR: identity})
    guard = _InterruptGuard()
    with guard.installed():
        try:
            return _work_loop(job, spec, study, storage, guard, identity, pm, on_trial)
        except Exception as exc:
            failure = storages.storage_failure(exc, job.storage)
            if failure is not None:
                raise failure from exc
            raise


def _work_loop(
    job: WorkerJob,
    spec: StudySpec,
    study: optuna.Study,
    storage: BaseStorage,
    guard: _InterruptGuard,
    identity: str,
    pm: PluginManager,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None,
) -> int:
    ran = 0
    waiting_since: float | None = None
    said_waiting = False
    while True:
        if job.deadline is not None and time.time() >= job.deadline:
            break
        trial = _next_trial(job, spec, study, storage)
        if trial is None:
            break
        if trial is _WAIT:
            waiting_since = waiting_since or time.monotonic()
            if not said_waiting and time.monotonic() - waiting_since >= SAY_WAITING_AFTER:
                _say_waiting(study)
                said_waiting = True
            _wait_for_others(study, guard, on_trial)
            continue
        waiting_since = None
        try:
            # RDB storages get Optuna's heartbeat while the trial runs (it only beats by
            # itself in optimize()); its first beat is written before the worker label.
            with storages.heartbeat(study, trial):
                if trial.user_attrs.get(storages.WORKER_ATTR) != identity:
                    # At once, so that a trial whose process dies is recognized as stale (on
                    # the journal a new trial has it from its creation; an enqueued one not).
                    trial.set_user_attr(storages.WORKER_ATTR, identity)
                with storages.batched(storage):  # the parameters in one append
                    params = spec.space.suggest(trial)
                guard.check()
                # Ctrl-C stops training at once, never a storage write.
                with guard.allowed():
                    outcome = run_configuration(spec, params, trial=trial, pm=pm)
        except KeyboardInterrupt:
            with guard.deferred():
                _interrupted(study, trial)
            raise
        exhausted = _finish(study, trial, outcome)
        ran += 1
        if on_trial is not None:
            on_trial(study, study.get_trials(deepcopy=False)[-1])
        guard.check()  # a Ctrl-C during the bookkeeping: the trial is safely stored
        if exhausted:
            break
    return ran


#: Returned by :func:`_next_trial` when the budget is spent but other workers' trials run.
_WAIT: Any = object()


def _next_trial(
    job: WorkerJob, spec: StudySpec, study: optuna.Study, storage: BaseStorage
) -> optuna.Trial | None:
    """Under the budget lock: recover dead workers' trials, count, and ask for a trial."""
    with storages.budget_lock(job.storage, spec.name, storage):
        storages.recover_stale_trials(study)
        if counted_trials(study) >= job.n_trials:
            return _WAIT if storages.awaited_trials(study) else None
        with warnings.catch_warnings():  # we beat ourselves, in storages.heartbeat
            warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
            return study.ask()


def _say_waiting(study: optuna.Study) -> None:
    running = storages.awaited_trials(study)
    workers = sorted({t.user_attrs.get(storages.WORKER_ATTR, "?") for t in running})
    warnings.warn(
        f"study {study.study_name!r} has its {len(running)} remaining trial(s) running in "
        f"other workers ({', '.join(workers)}); waiting for them, to rerun any whose worker "
        "dies (Ctrl-C stops waiting; nothing is lost)",
        SweepnpWarning,
        stacklevel=2,
    )


def _wait_for_others(
    study: optuna.Study,
    guard: _InterruptGuard,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None,
) -> None:
    """Wait a moment for other workers' running trials (a Ctrl-C ends the wait)."""
    with guard.allowed():
        time.sleep(WAIT_SECONDS)
    if on_trial is not None:
        trials = study.get_trials(deepcopy=False)
        if trials:
            on_trial(study, trials[-1])


def _finish(study: optuna.Study, trial: optuna.Trial, outcome: TrialOutcome) -> bool:
    """Store the outcome and tell Optuna; return whether a grid sampler has run its grid.

    On a journal the record, the pruning reports and the final state are one append, so a
    finished trial is never seen without its record.
    """
    with storages.batched(storage_of(study)):
        return _store_outcome(study, trial, outcome)


def _store_outcome(study: optuna.Study, trial: optuna.Trial, outcome: TrialOutcome) -> bool:
    trial.set_user_attr(RECORD_ATTR, outcome.record)
    if outcome.state == TrialState.FAIL:
        trial.set_user_attr(storages.REASON_ATTR, outcome.record.get("reason", outcome.stop_reason))
    try:
        study.tell(trial, outcome.values, state=outcome.state)
    except RuntimeError as exc:
        # The grid sampler calls study.stop() once every grid point has run, which only works
        # inside study.optimize(); the trial itself is stored by then.
        if "Study.stop" not in str(exc):
            raise
        return True
    return False


class _InterruptGuard:
    """Ctrl-C (SIGINT) that interrupts training at once but never a storage operation.

    Outside :meth:`allowed` a SIGINT only sets a flag, acted on by :meth:`check` once the storage
    is consistent; an interrupted lock file or half-told trial is never left behind.
    """

    def __init__(self) -> None:
        self.requested = False
        self.interruptible = False

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True
        if self.interruptible:
            self.interruptible = False
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
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
        self.check()
        self.interruptible = True
        try:
            yield
        finally:
            self.interruptible = False

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.interruptible = False
        yield

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt


def _interrupted(study: optuna.Study, trial: optuna.Trial) -> None:
    with storages.batched(storage_of(study)):
        trial.set_user_attr(storages.REASON_ATTR, "interrupted")
        trial.set_user_attr(RECORD_ATTR, {"stop_reason": "interrupted"})
        study.tell(trial, state=TrialState.FAIL)
    # re-queue the configuration so that resuming the study runs it again
    if trial.params:
        study.enqueue_trial(trial.params, user_attrs={storages.RETRY_ATTR: trial.number})


def _worker_process(job: WorkerJob, errors: Any) -> None:
    """A forked worker: work, and hand a user-facing error to the parent instead of printing a
    traceback (the parent reports it once)."""
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(limits=1), contextlib.suppress(KeyboardInterrupt):
            work(job)
    except SweepnpError as exc:
        errors.put(str(exc))
        sys.exit(2)


def run_study(
    file: str | Path | Mapping[str, Any],
    *,
    storage: str | None = None,
    n_trials: int | None = None,
    jobs: int = 1,
    name: str | None = None,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
    plugin_manager: PluginManager | None = None,
    spec: StudySpec | None = None,
) -> optuna.Study:
    """Run (or continue) a study until it holds ``n_trials`` trials; return the Optuna study.

    With ``jobs > 1`` this process is worker 0 and forks ``jobs - 1`` more: forked workers start
    at once with everything imported. Each opens its own storage handle, seeds its own sampler
    (``seed + worker``) and uses one BLAS thread, since the workers are the parallelism. When a
    worker dies (killed, out of memory), this process collects it, fails its trial and runs the
    trial again, so the command still ends with ``n_trials`` finished trials.

    :param on_trial: called with the study and the latest trial after each trial this process
        runs, and about twice a second while other workers finish.
    :param plugin_manager: the plugins to build runs with (default: the installed ones).
    :param spec: ``file`` already loaded with :func:`load_spec` (with ``name``), so that it is
        not validated twice.
    """
    from threadpoolctl import threadpool_limits

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if spec is None:
        spec = load_spec(file, name=name, plugin_manager=plugin_manager)
    handle = storages.open_storage(storage)
    study = create_study(spec, storage, handle)
    total = n_trials if n_trials is not None else spec.study.n_trials
    deadline = time.time() + spec.study.timeout if spec.study.timeout else None
    job_file: str | dict[str, Any] = str(file) if isinstance(file, str | Path) else dict(file)

    def job(worker: int) -> WorkerJob:
        return WorkerJob(job_file, name, storage, total, deadline, worker, plugin_manager, spec)

    if jobs <= 1:
        work(job(0), on_trial=on_trial)
        return study
    storages.dispose_connections(handle)  # no pooled connection may be shared with a child
    context = multiprocessing.get_context("fork")
    errors = context.SimpleQueue()
    children = [
        context.Process(target=_worker_process, args=(job(w), errors)) for w in range(1, jobs)
    ]
    for child in children:
        child.start()
    try:
        with threadpool_limits(limits=1):
            # work() returns once the budget is spent and no child's trial is running: a child
            # that dies meanwhile is found (a zombie is dead) and its trial run again here.
            work(job(0), on_trial=on_trial)
            for child in children:
                while child.is_alive():
                    child.join(timeout=0.5)
                    if on_trial is not None:
                        on_trial(study, study.get_trials(deepcopy=False)[-1])
            work(job(0), on_trial=on_trial)  # a child that died last: its trial runs here
    except BaseException:
        _stop_children(children)
        raise
    if not errors.empty():
        raise SweepnpError(errors.get())
    return study


def _stop_children(children: list[Any]) -> None:
    """Interrupt the children as Ctrl-C would (each stores its running trial as interrupted)."""
    for child in children:
        if child.is_alive() and child.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGINT)
    for child in children:
        child.join(timeout=30)


# -------------------------------------------------------------------------
# Re-running one trial
# -------------------------------------------------------------------------


def stored_spec(study: optuna.Study, *, validate_runs: bool = True) -> StudySpec:
    """The study file a study was created from, as stored in it."""
    raw = study.user_attrs.get(CONFIG_ATTR)
    if raw is None:
        raise ConfigError(f"study {study.study_name!r} was not created by sweepnp", key="NAME")
    return load_spec(raw, name=study.study_name, validate_runs=validate_runs)


def rerun_trial(study: optuna.Study, number: int) -> tuple[TrialOutcome, pd.DataFrame | None]:
    """Train trial ``number`` again from its stored parameters and seeds.

    :return: the new outcome and the stored learning curve, to compare.
    """
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in trials:
        valid = f"0..{max(trials)}" if trials else "none"
        raise ConfigError(
            f"no trial {number} in study {study.study_name!r}; trials: {valid}", key="--trial"
        )
    trial = trials[number]
    spec = stored_spec(study)
    params = decode_params(trial.params)
    outcome = run_configuration(spec, params)
    record = trial.user_attrs.get(RECORD_ATTR, {})
    stored = decode_history(record["history"]) if "history" in record else None
    return outcome, stored
