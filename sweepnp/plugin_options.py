"""A plugin factory's options: their names, their type hints, and their check against both.

A plugin's optimizer, regularizer, schedule, callback, data set or surface is built by calling
its factory with the options of the run file's table; :func:`validate_options` checks them first
(an unknown option lists the valid ones; a wrong type is pydantic's strict message, naming the
option). The plugin manager (:mod:`sweepnp.plugins`, which re-exports these functions) and the
study's samplers use them.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from pydantic import ConfigDict, TypeAdapter, ValidationError

from sweepnp.errors import ConfigError, PluginError

__all__ = [
    "factory_parameters",
    "float_options",
    "in_dtype",
    "parameter_names",
    "type_hints",
    "validate_options",
]


def float_options(factory: Callable[..., Any], options: Mapping[str, Any]) -> dict[str, float]:
    """The options of a factory hinted ``float`` that hold a number, given or default, in the
    signature's order: what a stack of trials puts on its trial axis, one value per trial."""
    found = {}
    for name, default in _float_parameters(factory):
        value = options.get(name, default)
        if isinstance(value, int | float) and not isinstance(value, bool):
            found[name] = value
    return found


@functools.cache
def _float_parameters(factory: Callable[..., Any]) -> tuple[tuple[str, Any], ...]:
    """The parameters of a factory hinted ``float``, with their defaults (or ``None``), in the
    signature's order; once per factory (a run builds its plugins with them)."""
    hints = type_hints(factory)  # unresolvable hints are left out: not known to be floats
    parameters = inspect.signature(factory).parameters  # a class: its __init__'s, no self
    return tuple(
        (name, None if p.default is p.empty else p.default)
        for name, p in parameters.items()
        if hints.get(name) is float
    )


def in_dtype(factory: Callable[..., Any], options: Mapping[str, Any], dtype: Any) -> dict:
    """``options`` with the factory's :func:`float_options` (given or default) as NumPy
    scalars of the run's ``dtype``: what a stack of trials hands over as arrays of that dtype
    on its trial axis. A plugin then computes alike alone and stacked: ``1 - beta`` with a
    float32 ``beta`` is float32 arithmetic both ways, where a Python float would be rounded
    from float64 alone and not in the stack (Adam and RMSprop trained float32 runs a bit
    differently stacked before)."""
    scalar = np.dtype(dtype).type
    return {**options, **{name: scalar(v) for name, v in float_options(factory, options).items()}}


def parameter_names(factory: Callable[..., Any]) -> set[str]:
    """The names of a factory's parameters (a class: its constructor's, without ``self``)."""
    return set(inspect.signature(factory).parameters)


@functools.cache
def factory_parameters(factory: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """A factory's named parameters (a class: its constructor's, without ``self``); one that
    takes ``**kwargs`` is refused, since a plugin factory must name every option."""
    params = dict(inspect.signature(factory).parameters)  # a class: its __init__ without self
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise PluginError(f"{factory!r} takes **kwargs; plugin factories must name every option")
    return {n: p for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


#: Names that annotations use but that their modules often import only for type checkers
#: (``if TYPE_CHECKING:``), so that ``typing.get_type_hints`` cannot resolve them.
_TYPING_NAMES: dict[str, Any] = {
    **{name: getattr(collections.abc, name) for name in collections.abc.__all__},
    **{name: getattr(typing, name) for name in typing.__all__ if hasattr(typing, name)},
}


def type_hints(
    factory: Callable[..., Any], namespace: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The type hints of a factory's parameters, resolved one by one.

    A hint that names something its module imports only for type checkers is resolved with
    ``typing``'s and ``collections.abc``'s names and ``namespace``; one that still cannot be
    resolved is left out (its option is not type-checked), the others are kept.
    """
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # some annotation names what the module does not import at run time
        pass
    module_globals = getattr(inspect.unwrap(target), "__globals__", {})
    local_names = {**_TYPING_NAMES, **(namespace or {})}
    hints: dict[str, Any] = {}
    for name, annotation in getattr(target, "__annotations__", {}).items():

        def probe() -> None: ...

        probe.__annotations__ = {name: annotation}
        try:
            hints[name] = typing.get_type_hints(probe, module_globals, local_names)[name]
        except Exception:  # unresolvable: this option goes unchecked
            continue
    return hints


@functools.cache
def _hints(factory: Callable[..., Any]) -> dict[str, Any]:
    return type_hints(factory)


@functools.cache
def _adapter(hint: Any) -> TypeAdapter[Any] | None:
    """A strict validator for a type hint, or ``None`` for types pydantic cannot check."""
    try:
        return TypeAdapter(hint, config=ConfigDict(arbitrary_types_allowed=True))
    except Exception:  # e.g. forward references to unimportable names
        return None


def validate_options(
    factory: Callable[..., Any],
    options: Mapping[str, Any],
    *,
    key: str,
    source: str | None = None,
    supplied: tuple[str, ...] = ("seed",),
    hints: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Check ``options`` against the factory's signature and type hints (pydantic, strict).

    An unknown option is an error listing the valid ones; a missing required option and a value
    of the wrong type are errors naming the option.

    :param hints: the parameters' type hints, when the caller resolved them itself (default:
        :func:`type_hints` of the factory).
    """
    params = factory_parameters(factory)
    hints = _hints(factory) if hints is None else hints
    valid = [n for n in params if n not in supplied]
    out: dict[str, Any] = {}
    for option, value in options.items():
        if option not in params or option in supplied:
            raise ConfigError(
                f"unknown option {option!r}; valid options: {', '.join(valid) or '(none)'}",
                source=source,
                key=f"{key}.{option}",
            )
        adapter = _adapter(hints[option]) if option in hints else None
        if adapter is not None:
            try:
                value = adapter.validate_python(value, strict=True)
            except ValidationError as exc:
                messages = "; or ".join(dict.fromkeys(e["msg"] for e in exc.errors()))
                raise ConfigError(
                    f"{messages}, got {value!r}", source=source, key=f"{key}.{option}"
                ) from None
        out[option] = value
    missing = [
        n
        for n, p in params.items()
        if p.default is inspect.Parameter.empty and n not in out and n not in supplied
    ]
    if missing:
        raise ConfigError(
            f"missing required option(s): {', '.join(missing)}", source=source, key=key
        )
    return out
