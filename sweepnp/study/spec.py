"""A study file, read and checked: the base run, ``[study]``, the search space, and the seeds.

A study file is a run file plus ``[study]`` and ``[study.params]``. :func:`load_spec` turns it
into a :class:`StudySpec`, checking everything a trial will need before any trial runs: the
schema, the metric, the sampler and pruner, and every searched value (each checked in the run it
would give, building only the plugin objects it reaches — never the run itself).
:meth:`StudySpec.run_file` then gives the run file of one configuration and repeat — the base
with the parameters set by dotted path, and the repeat's training seed.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import optuna
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sweepnp import run_parts
from sweepnp.config import RunConfig, config_error, load_file, set_path, validate
from sweepnp.errors import ArgumentError, ConfigError, StudyNameTaken, SweepnpError, options_under
from sweepnp.metrics import metric_direction
from sweepnp.plugins import PluginManager, get_plugin_manager
from sweepnp.run_parts import load_data
from sweepnp.study.record import CONFIG_ATTR, SEEDS_ATTR
from sweepnp.study.samplers import make_pruner, make_sampler, named
from sweepnp.study.space import SearchSpace, parse_space
from sweepnp.vocabulary import EXTRA_METRICS

__all__ = [
    "SEED_SCHEMES",
    "StudyConfig",
    "StudySpec",
    "adopt_seed_scheme",
    "load_spec",
    "stored_spec",
    "trial_seed",
]

#: Metrics a study may optimize besides the run's own: wall time and epochs actually trained.

Direction = Literal["maximize", "minimize"]
#: How a repeat's training seed is chosen: ``paired`` — repeat r of every configuration trains
#: with the same seed (common random numbers: configurations differ by their parameters alone,
#: and are compared repeat by repeat); ``per_config`` — each configuration draws its own seeds
#: from a hash of its parameters (sweepnp before 0.x; studies created so keep it).
SeedScheme = Literal["paired", "per_config"]
SEED_SCHEMES: tuple[SeedScheme, ...] = ("paired", "per_config")


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
    #: The seed scheme (:data:`SeedScheme`); unset: ``paired`` for a new study, the stored scheme
    #: for an existing one.
    seeds: SeedScheme | None = None
    params: dict[str, Any] = {}
    #: Dotted path → value: what ``--quick`` changes (fewer epochs, trials, repeats).
    quick: dict[str, Any] = {}
    #: Runs trained at once per worker (stacked trials); ``"auto"`` picks from the network.
    stack: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    #: The Dask scheduler to run the study on (``tcp://host:8786``); none: this machine.
    cluster: str | None = None


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
    #: The seed scheme the study trains with: the file's ``seeds`` (default ``paired``) until
    #: the study is created or opened, then the one stored in it (:func:`adopt_seed_scheme`).
    seed_scheme: SeedScheme = "paired"

    def run_file(self, params: Mapping[str, Any], repeat: int | None = None) -> dict[str, Any]:
        """The run file of one configuration: the base with ``params`` set by dotted path and,
        for ``repeat``, that repeat's training seed (:func:`trial_seed`, in the study's seed scheme)
        — what the study trains.
        """
        run = copy.deepcopy(self.base)
        for path, value in params.items():
            set_path(run, path, value)
        if repeat is not None:
            seed = trial_seed(self.study.seed, params, repeat, self.seed_scheme)
            set_path(run, "train.seed", seed)
        return run

    @property
    def multi_objective(self) -> bool:
        return len(self.metrics) > 1

    def sampler(
        self, worker: int = 0, *, batch: bool = False, resumed_at: int = 0
    ) -> optuna.samplers.BaseSampler:
        """The sampler; worker ``w`` of a parallel study gets seed ``seed + w``; ``batch``: it
        is asked for several trials at once; ``resumed_at``: trials the study already holds
        (:func:`~sweepnp.study.samplers.make_sampler`)."""
        return make_sampler(
            self.study.sampler,
            grid=self.space.grid,
            seed=self.study.seed,
            worker=worker,
            batch=batch,
            resumed_at=resumed_at,
            source=self.source,
        )

    def pruner(self) -> optuna.pruners.BasePruner:
        return make_pruner(self.study.pruner, "study.pruner", self.source)

    @property
    def prunes(self) -> bool:
        return named(self.study.pruner, "study.pruner", self.source)[0] != "none"

    def report_cadence(self) -> tuple[int, int]:
        """``(start, every)``: the epochs at which the pruner looks at intermediate values."""
        name, options = named(self.study.pruner, "study.pruner", self.source)
        if name in ("median", "percentile", "threshold"):  # the same warm-up and interval rule
            return int(options.get("n_warmup_steps", 0)), int(options.get("interval_steps", 1))
        return 0, 1

    def fingerprint(self) -> str:
        """What may not change between runs of the same study: all of the file but ``name``,
        ``n_trials``, ``timeout``, ``stack`` and ``cluster`` (how it runs, not what), and
        ``seeds``, which is stored in the study and checked on its own
        (:func:`adopt_seed_scheme`), so that a mismatch gets its own message."""
        raw = copy.deepcopy(self.raw)
        for key in ("n_trials", "timeout", "name", "stack", "seeds", "cluster"):
            raw.get("study", {}).pop(key, None)
        return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()


def trial_seed(
    study_seed: int, params: Mapping[str, Any], repeat: int, scheme: SeedScheme = "paired"
) -> int:
    """The training seed of one repeat.

    ``paired`` (the default): from the study seed and the repeat index alone, so repeat ``r`` of
    every configuration starts from the same initialization and sees the same shuffles and
    dropout masks — differences between configurations are paired, and compared repeat by
    repeat. ``per_config``: from the parameters too (a hash of them), as sweepnp did before;
    configurations are then compared on different seeds.

    Either way identical parameters get identical seeds, in any worker and in any order, so a
    trial can be re-run exactly (``sweepnp study rerun``).
    """
    if scheme == "paired":
        entropy = [study_seed, repeat]
    else:
        canonical = json.dumps(params, sort_keys=True, default=str).encode()
        digest = int.from_bytes(hashlib.sha256(canonical).digest()[:8], "little")
        entropy = [study_seed, digest, repeat]
    sequence = np.random.SeedSequence(entropy)
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def adopt_seed_scheme(spec: StudySpec, study: optuna.Study) -> None:
    """Give ``spec`` the seed scheme stored in an existing ``study``.

    A study created before the scheme was stored used ``per_config`` and keeps it. A study file
    that names a scheme other than the stored one is refused: its repeats would not be
    comparable with the stored ones.
    """
    stored = study.user_attrs.get(SEEDS_ATTR, "per_config")
    if spec.study.seeds is not None and spec.study.seeds != stored:
        raise StudyNameTaken(
            f"study {spec.name!r} was created with seeds = {stored!r}, and its repeats must stay "
            f"comparable; remove the key or set it to {stored!r} to continue it, or give this "
            "one another name",
            study=spec.name,
            source=spec.source,
            key="study.seeds",
        )
    spec.seed_scheme = stored


class DataCache:
    """Prepared data per data/model section: trials that do not search them share one split."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def get(self, config: RunConfig, pm: PluginManager) -> Any:
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

    def entries(self) -> dict[str, Any]:
        """The prepared data, by section: to hand to workers elsewhere (:meth:`adopt`)."""
        return dict(self._cache)

    def adopt(self, entries: dict[str, Any]) -> None:
        """Use data prepared elsewhere (a cluster run's driver) for these sections."""
        self._cache.update(entries)


def load_spec(
    file: str | Path | Mapping[str, Any],
    *,
    name: str | None = None,
    plugin_manager: PluginManager | None = None,
    validate_runs: bool = True,
    quick: bool = False,
) -> StudySpec:
    """Read and validate a study file: schema, search space, sampler and pruner.

    Every searched value is checked in the run it would give (both ends of a range, every
    choice), so a path that addresses nothing, or a value a plugin refuses, is reported now
    rather than in trial 37. No run (``Trainer``) is built: the data are prepared, and the plugin
    objects a value reaches built from their options (:func:`_build_reached`); the metric names
    come from the task, the splits and the callbacks (:func:`sweepnp.run_parts.metric_names`).

    :param validate_runs: check the runs, and build the sampler and pruner (off when only
        reading a stored study's results, which needs none of its plugins installed).
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
        error = config_error(exc, source)
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
        directions = [metric_direction(m) for m in metrics]
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
        data_cache=DataCache(),
        base=base,
        study=study,
        space=space,
        name=name or study.name or default_name,
        metrics=metrics,
        directions=list(directions),
        source=source,
        raw=raw,
        seed_scheme=study.seeds or "paired",
    )
    if not validate_runs:
        return spec
    _check_metrics(spec, config, pm)
    spec.sampler()
    spec.pruner()
    if spec.prunes and spec.metrics[0] in EXTRA_METRICS:
        raise ConfigError(
            f"a pruner compares the metric every epoch, and {spec.metrics[0]!r} is known only "
            'when a run ends; study a per-epoch metric, or set pruner = "none"',
            source=source,
            key="study.pruner",
        )
    if spec.prunes and spec.metrics[0].startswith("test_") and config.train.evaluate.test == "end":
        raise ConfigError(
            f"a pruner compares the metric every epoch, and {spec.metrics[0]!r} is measured "
            'only where a run ends (train.evaluate.test = "end"); set train.evaluate.test = '
            '"every_epoch", study a validation metric, or set pruner = "none"',
            source=source,
            key="study.pruner",
        )
    if spec.multi_objective and named(study.pruner, "study.pruner", source)[0] != "none":
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
            'a quick run needs a [study.quick] table of changes, e.g. "train.epochs" = 10',
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
    """Check the base run as building it would, and the study's metrics against its metrics."""
    names = _check_run(config, spec, pm, stacklevel=3)[2]  # warnings: load_spec's caller
    _require_metrics(spec, names)


def _require_metrics(spec: StudySpec, names: tuple[str, ...]) -> None:
    valid = [m for m in names if m != "lr"] + list(EXTRA_METRICS)
    for metric in spec.metrics:
        if metric not in valid:
            raise ConfigError(
                f"{metric!r} is not a metric of this run; valid choices: {', '.join(valid)}",
                source=spec.source,
                key="study.metric",
            )


def _check_run(
    config: RunConfig, spec: StudySpec, pm: PluginManager, *, stacklevel: int
) -> tuple[Any, Any, tuple[str, ...]]:
    """What building the whole run (a ``Trainer``) would refuse, without building it; return
    its optimizer, its schedule (not yet set up) and its metric names.

    In the order a Trainer meets them: the data (prepared once per data section, in
    ``spec.data_cache``), the loss on the data's task, the batch size against the training rows
    (a warning), then the optimizer, the regularizers, the schedule and the callbacks, each
    built from its options. No network weights are drawn, no optimizer is set up over
    parameters, and no callback is given a trainer.

    :param stacklevel: of the batch-size warning, counted from the call of this function.
    """
    data = spec.data_cache.get(config, pm)
    config.model.task_loss(data.task, config.source)
    run_parts.check_batch_size(config, len(data.X_train), stacklevel=stacklevel + 1)
    optimizer = run_parts.build_optimizer(config, pm)
    run_parts.build_regularizers(config, pm)
    schedule = run_parts.build_schedule(config, pm)
    callbacks = run_parts.build_callbacks(config, pm)
    return (
        optimizer,
        schedule,
        run_parts.metric_names(
            config, data, [(f"callbacks.{name}", c) for name, c in callbacks.items()]
        ),
    )


def _check_space(spec: StudySpec, pm: PluginManager) -> None:
    """Check every searched value (both ends of a range, every choice) in the run it gives."""
    for param in spec.space.params:
        for value in param.values_for_validation():
            raw = copy.deepcopy(spec.base)
            for cond_path, allowed in param.when.items():
                set_path(raw, cond_path, allowed[0])
            set_path(raw, param.path, value)
            try:
                config = validate(raw, source=spec.source)
                _build_reached(config, [param.path, *param.when], spec, pm)
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


def _build_reached(config: RunConfig, paths: list[str], spec: StudySpec, pm: PluginManager) -> None:
    """Build the parts of a run that the values at ``paths`` reach, and only those.

    ``validate`` has already checked the whole run file against the schema, and ``[model]``
    beyond it (the initializer's options, batch normalization's): all that building the network
    would check. What is left:

    * ``data.*``, ``model.task``, ``model.dtype`` (or a path naming no section below): the data
      decide the task, the network's shape and the run's metrics, so the run is checked as
      :func:`_check_run` checks the base run — the data prepared (and shared between values
      that do not change them), the loss on their task, the batch size, every plugin object —
      and the study's metrics must be among its metrics; no Trainer is built;
    * ``optimizer.*``, ``schedule.*``, ``train.epochs``: the optimizer and the schedule, set up
      with the optimizer's learning rate and the run's epochs;
    * ``regularizers.NAME…``, ``callbacks.NAME…``: that regularizer or callback (every one for
      the whole table); a callback is not given a trainer;
    * ``train.batch_size``: compared with the training rows (a warning when it exceeds them);
    * the rest of ``[model]`` and ``[train]``: nothing more.
    """
    parts = [path.split(".") for path in paths]
    if any(_reaches_data(p) for p in parts):
        # the batch-size warning, as the base run's, is load_spec's caller's
        optimizer, schedule, names = _check_run(config, spec, pm, stacklevel=4)
        _set_up_schedule(schedule, optimizer.lr, config)
        _require_metrics(spec, names)
        return
    sections = {p[0] for p in parts}
    # In the order a Trainer builds them, so that the first refusal is the one a trial would meet.
    schedule_reached = bool(sections & {"optimizer", "schedule"}) or _reaches(parts, "epochs")
    optimizer = run_parts.build_optimizer(config, pm) if schedule_reached else None
    if "regularizers" in sections:
        run_parts.build_regularizers(config, pm, _names(parts, "regularizers"))
    schedule = run_parts.build_schedule(config, pm) if schedule_reached else None
    if "callbacks" in sections:
        run_parts.build_callbacks(config, pm, _names(parts, "callbacks"))
    if optimizer is not None and schedule is not None:
        _set_up_schedule(schedule, optimizer.lr, config)
    if _reaches(parts, "batch_size"):
        rows = len(spec.data_cache.get(config, pm).X_train)
        run_parts.check_batch_size(config, rows, stacklevel=4)  # load_spec's caller


def _reaches(parts: list[list[str]], train_key: str) -> bool:
    """Whether a path is ``train.<train_key>`` or the whole ``[train]`` table."""
    return any(p[0] == "train" and (len(p) == 1 or p[1] == train_key) for p in parts)


def _reaches_data(path: list[str]) -> bool:
    if path[0] == "model":
        return len(path) == 1 or path[1] in ("task", "dtype")
    return path[0] not in ("train", "optimizer", "schedule", "regularizers", "callbacks")


def _names(parts: list[list[str]], section: str) -> set[str] | None:
    """The plugins of ``section`` the paths address; ``None`` (all) for the whole table."""
    paths = [p for p in parts if p[0] == section]
    if any(len(p) == 1 for p in paths):
        return None
    return {p[1] for p in paths}


def _set_up_schedule(schedule: Any, lr: Any, config: RunConfig) -> None:
    """What a run does with its schedule first; a refused option is reported under its key."""
    with options_under("schedule", config.source):
        schedule.setup(lr, config.train.epochs)


def stored_spec(study: optuna.Study, *, validate_runs: bool = True) -> StudySpec:
    """The study file a study was created from, as stored in it, with the stored seed scheme."""
    raw = study.user_attrs.get(CONFIG_ATTR)
    if raw is None:
        raise ArgumentError(
            f"study {study.study_name!r} was not created by sweepnp", argument="name"
        )
    spec = load_spec(raw, name=study.study_name, validate_runs=validate_runs)
    # Created before the scheme was stored: the parameters' hash.
    spec.seed_scheme = study.user_attrs.get(SEEDS_ATTR, "per_config")
    return spec
