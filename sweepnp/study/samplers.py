"""Optuna samplers and pruners from a study file's names and options.

``sampler = { name = "tpe", seed = 0, n_startup_trials = 5 }``: the name picks an Optuna class,
the other keys are its constructor's arguments, checked against its signature and its type hints
before any trial runs (a parameter that takes a function or an object cannot come from a file).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from sweepnp.errors import ConfigError
from sweepnp.plugins import parameter_names, validate_options
from sweepnp.study.grid import GridSampler

__all__ = ["PRUNERS", "SAMPLERS", "make_pruner", "make_sampler", "named"]

SAMPLERS: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "grid": optuna.samplers.GridSampler,  # its options; the sampler is sweepnp's (grid.py)
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


def named(spec: str | Mapping[str, Any], key: str, source: str | None) -> tuple[str, dict]:
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


def make_pruner(spec: Any, key: str, source: str | None) -> optuna.pruners.BasePruner:
    name, options = named(spec, key, source)
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
        options["wrapped_pruner"] = make_pruner(wrapped, f"{key}.wrapped", source)
        options.setdefault("patience", 3)
    kwargs = _checked_options(PRUNERS[name], options, key=key, source=source)
    return _construct(PRUNERS[name], kwargs, key=key, source=source)


def make_sampler(
    spec: str | Mapping[str, Any],
    *,
    grid: Callable[[], dict[str, list[Any]]],
    seed: int,
    worker: int = 0,
    batch: bool = False,
    resumed_at: int = 0,
    source: str | None = None,
) -> optuna.samplers.BaseSampler:
    """The sampler ``[study] sampler`` names; worker ``w`` of a parallel study gets ``seed + w``.

    A study continued with ``resumed_at`` trials already stored gets a seed drawn from
    ``(seed + w, resumed_at)`` instead: the same seed again would start the random stream over
    and propose the first run's start-up configurations a second time. The same study continued
    at the same point still gets the same seed.

    ``grid`` is sweepnp's :class:`~sweepnp.study.grid.GridSampler` (Optuna's options), seeded
    the same in every worker and run: each trial claims a point of the grid no trial holds.

    :param grid: the search space as the grid sampler takes it (called only for ``grid``).
    :param seed: the study seed, the default of a seeded sampler.
    :param batch: several trials are asked before they are told (stacked trials): TPE then
        assumes the worst value for the running ones (``constant_liar``, unless the file sets
        it), so that it does not propose the same configuration for each of them.
    """
    name, options = named(spec, "study.sampler", source)
    if name not in SAMPLERS:
        raise ConfigError(
            f"unknown sampler {name!r}; valid choices: {', '.join(SAMPLERS)}",
            source=source,
            key="study.sampler",
        )
    needed = SAMPLER_NEEDS.get(name)
    if needed is not None:
        try:
            __import__(needed)
        except ImportError:
            raise ConfigError(
                f"the {name!r} sampler needs the package {needed!r}: pip install {needed}",
                source=source,
                key="study.sampler",
            ) from None
    factory = SAMPLERS[name]
    if batch and name == "tpe":
        options.setdefault("constant_liar", True)
    if name == "grid" and "search_space" not in options:
        try:
            options["search_space"] = grid()
        except ConfigError as exc:  # the space does not know the file it came from
            raise ConfigError(exc.reason, source=source, key=exc.key) from None
    kwargs = _checked_options(factory, options, key="study.sampler", source=source)
    if name == "grid":
        # sweepnp's own, with Optuna's options: each point claimed once. The grid's order must
        # be the same in every worker and every run of the study: the seed as it is.
        kwargs.setdefault("seed", seed)
        return _construct(GridSampler, kwargs, key="study.sampler", source=source)
    if "seed" in parameter_names(factory):
        kwargs["seed"] = kwargs.get("seed", seed) + worker
        if resumed_at and kwargs["seed"] is not None:
            sequence = np.random.SeedSequence([kwargs["seed"], resumed_at])
            kwargs["seed"] = int(sequence.generate_state(1)[0])
    return _construct(factory, kwargs, key="study.sampler", source=source)
