"""The search space of a study: ``[study.params]``, one entry per dotted path of the run file.

```toml
[study.params]
"train.batch_size" = { choices = [16, 32, 64, 128] }
"regularizers.l2.lam" = { low = 1e-5, high = 1e-1, log = true }
"regularizers.dropout.rate" = { low = 0.0, high = 0.7 }
"callbacks.early_stopping.patience" = { low = 2, high = 20 }
"optimizer.name" = { choices = ["sgd", "momentum"] }
"optimizer.beta" = { low = 0.5, high = 0.99, when = { "optimizer.name" = "momentum" } }
```

A range is an integer range when its path holds an integer in the base run file (or, when the base
has no value there, when both bounds are integers); ``type = "int" | "float"`` says so explicitly.
Choices are of one type, except that numbers and strings may mix (``[1, 32, "full"]``) and
``false`` may stand among tables, the table switched off
(``"callbacks.gradient_clipping" = { choices = [false, { by = "norm" }] }``).
``when`` makes a parameter conditional: it is searched only in trials whose (already chosen) value
at each named path is among the given ones. Choices that are lists or tables (``model.hidden``) are
passed to Optuna as JSON strings and decoded again, so Optuna and its dashboard can show them.
"""

from __future__ import annotations

import decimal
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import optuna

from sweepnp.config import get_path
from sweepnp.errors import ConfigError

__all__ = ["Param", "SearchSpace", "decode_params", "decode_value", "encode_value", "parse_space"]

ParamKind = Literal["float", "int", "categorical"]
_KEYS = {"low", "high", "log", "step", "choices", "type", "when"}


@dataclass(frozen=True)
class Param:
    """One searched value: its dotted path, distribution and condition."""

    path: str
    kind: ParamKind
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def active(self, chosen: Mapping[str, Any]) -> bool:
        """Whether this parameter is searched, given the values chosen so far."""
        return all(chosen.get(path) in allowed for path, allowed in self.when.items())

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.kind == "categorical":
            encoded = [encode_value(c) for c in self.choices]
            return decode_value(trial.suggest_categorical(self.path, encoded))
        if self.kind == "int":
            return trial.suggest_int(
                self.path, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.path, self.low, self.high, step=self.step, log=self.log)

    def can_take(self, value: Any) -> bool:
        """Whether a trial can give this parameter ``value`` (for conditions on it)."""
        if self.kind == "categorical":
            # as active() compares, but true is not 1
            return any(
                value == c and isinstance(value, bool) == isinstance(c, bool) for c in self.choices
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return self.low <= value <= self.high

    def values_for_validation(self) -> list[Any]:
        """The values a base config must accept: both ends of a range, or every choice."""
        if self.kind == "categorical":
            return list(self.choices)
        cast = int if self.kind == "int" else float
        return [cast(self.low), cast(self.high)]

    def text(self, value: Any) -> str:
        """``value`` written as precisely as it was searched, not with the 17 digits a float
        carries: a stepped range to the decimals of its step and low end (``step = 0.05``:
        ``0.35``), a log range to 3 significant digits (``0.00363``, ``6.94e-05``), a uniform
        range to 4 significant digits of its width (0 to 0.7: ``0.1003``). Integers and choices
        as they are; a missing value (an inactive conditional parameter) as ``""``."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if self.kind != "float" or isinstance(value, bool) or not isinstance(value, int | float):
            return str(value)
        if self.log:
            return f"{value:#.3g}".rstrip(".")  # "#": 0.00130, not 0.0013
        if self.step is not None:
            decimals = max(_decimals(self.step), _decimals(self.low))
        else:
            width = float(self.high) - float(self.low)
            decimals = max(0, 3 - math.floor(math.log10(width)))
        return f"{value:.{decimals}f}"

    def grid(self) -> list[Any]:
        """Every value, for the grid sampler: the choices, or a stepped range."""
        if self.kind == "categorical":
            return [encode_value(c) for c in self.choices]
        if self.step is None:
            raise ConfigError(
                "the grid sampler needs 'choices' or a 'step' for every parameter",
                key=f'study.params."{self.path}"',
            )
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        values = [self.low + i * self.step for i in range(count)]
        return [int(v) for v in values] if self.kind == "int" else [float(v) for v in values]


def _decimals(number: float | int | None) -> int:
    """Digits after the decimal point of a number as the file wrote it (``0.05``: 2, ``1e-3``:
    3, ``2``: 0)."""
    if number is None:
        return 0
    exponent = decimal.Decimal(repr(number)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def encode_value(value: Any) -> Any:
    """A run-file value as Optuna stores a choice: lists and tables as JSON strings (so they are
    hashable and readable in Optuna's dashboard), other values as they are."""
    return json.dumps(value) if isinstance(value, list | dict) else value


def decode_value(value: Any) -> Any:
    """The inverse of :func:`encode_value`."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def decode_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Optuna's stored params back to run-file values (JSON-encoded choices decoded)."""
    return {path: decode_value(value) for path, value in params.items()}


@dataclass(frozen=True)
class SearchSpace:
    """The parameters of a study, in file order (a condition may only refer to earlier ones)."""

    params: tuple[Param, ...]

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Ask Optuna for one configuration: dotted path → value, conditions respected."""
        chosen: dict[str, Any] = {}
        for param in self.params:
            if param.active(chosen):
                chosen[param.path] = param.suggest(trial)
        return chosen

    def grid(self) -> dict[str, list[Any]]:
        return {param.path: param.grid() for param in self.params}

    @property
    def paths(self) -> list[str]:
        return [param.path for param in self.params]


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def parse_space(
    table: Mapping[str, Any], base: Mapping[str, Any], *, source: str | None = None
) -> SearchSpace:
    """Parse ``[study.params]`` against the base run file (a dict)."""
    params: list[Param] = []
    seen: set[str] = set()
    for path, spec in table.items():
        key = f'study.params."{path}"'

        def error(message: str, key: str = key) -> ConfigError:
            return ConfigError(message, source=source, key=key)

        if not isinstance(spec, Mapping):
            raise error("must be a table: { low = …, high = … } or { choices = [ … ] }")
        unknown = set(spec) - _KEYS
        if unknown:
            raise error(
                f"unknown key(s) {', '.join(sorted(unknown))}; valid keys: "
                "low, high, log, step, choices, type, when"
            )
        when = {}
        conditions = spec.get("when", {})
        if not isinstance(conditions, Mapping):
            raise error(
                "'when' must be a table of earlier parameters and their values, e.g. "
                f'when = {{ "optimizer.name" = "momentum" }}; got {conditions!r}',
                key=f"{key}.when",
            )
        for cond_path, allowed in conditions.items():
            if cond_path not in seen:
                raise error(
                    f"'when' refers to {cond_path!r}, which is not a parameter listed before "
                    f"this one; searched so far: {', '.join(sorted(seen)) or '(none)'}",
                    key=f"{key}.when",
                )
            values = tuple(allowed) if isinstance(allowed, list) else (allowed,)
            if not values:
                raise error(
                    f"'when' gives {cond_path!r} an empty list of values: the parameter would "
                    "never be searched; name at least one of its values",
                    key=f"{key}.when",
                )
            earlier = next(p for p in params if p.path == cond_path)
            never = [v for v in values if not earlier.can_take(v)]
            if never:
                valid = (
                    ", ".join(repr(c) for c in earlier.choices)
                    if earlier.kind == "categorical"
                    else f"{earlier.low} to {earlier.high}"
                )
                raise error(
                    f"'when' asks {cond_path!r} for {', '.join(repr(v) for v in never)}, which "
                    f"it never takes; its values: {valid}",
                    key=f"{key}.when",
                )
            when[cond_path] = values

        if "choices" in spec:
            extra = {"low", "high", "log", "step"} & set(spec)
            if extra:
                raise error(f"'choices' cannot be combined with {', '.join(sorted(extra))}")
            choices = spec["choices"]
            if not isinstance(choices, list) or not choices:
                raise error("'choices' must be a non-empty list", key=f"{key}.choices")
            kinds = {_kind_of(c) for c in choices}
            if kinds == {"bool", "dict"} and not any(c is True for c in choices):
                kinds = {"dict"}  # `false` among tables: the section switched off
            if kinds == {"number", "string"}:
                kinds = {"scalar"}  # batch sizes [1, 32, "full"]; each is checked by a run below
            if len(kinds) > 1:
                raise error(
                    f"'choices' mixes types ({', '.join(sorted(kinds))}): {choices!r}; "
                    "use one type of value",
                    key=f"{key}.choices",
                )
            params.append(Param(path, "categorical", choices=tuple(choices), when=when))
        else:
            if "low" not in spec or "high" not in spec:
                raise error("needs 'low' and 'high' (a range) or 'choices'")
            low, high = spec["low"], spec["high"]
            for name, bound in (("low", low), ("high", high)):
                if isinstance(bound, bool) or not isinstance(bound, int | float):
                    raise error(f"must be a number, got {bound!r}", key=f"{key}.{name}")
            if not low < high:
                raise error(f"empty range: low ({low}) must be below high ({high})")
            log = spec.get("log", False)
            if not isinstance(log, bool):
                raise error(f"must be true or false, got {log!r}", key=f"{key}.log")
            if log and low <= 0:
                raise error(f"a log range needs low > 0, got {low}", key=f"{key}.low")
            step = spec.get("step")
            if step is not None and not _positive_number(step):
                raise error(f"must be a number > 0, got {step!r}", key=f"{key}.step")
            if step is not None and log:
                raise error("'step' and 'log' cannot be combined")
            kind = spec.get("type") or _infer_kind(path, base, low, high, step)
            if kind not in ("int", "float"):
                raise error(f"must be 'int' or 'float', got {kind!r}", key=f"{key}.type")
            if kind == "int" and not all(
                isinstance(v, int) or float(v).is_integer() for v in (low, high, step or 1)
            ):
                raise error("an integer range needs whole-number low, high and step")
            params.append(Param(path, kind, low=low, high=high, log=log, step=step, when=when))
        seen.add(path)
    if not params:
        raise ConfigError("no parameters to search", source=source, key="study.params")
    return SearchSpace(tuple(params))


def _positive_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and value > 0


def _infer_kind(path: str, base: Mapping[str, Any], low: Any, high: Any, step: Any) -> str:
    try:
        current = get_path(base, path)
    except KeyError:
        current = None
    if isinstance(current, bool):
        return "float"
    if isinstance(current, int):
        return "int"
    if isinstance(current, float):
        return "float"
    bounds = [low, high] + ([step] if step is not None else [])
    return "int" if all(isinstance(b, int) for b in bounds) else "float"
