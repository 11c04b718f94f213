"""Run files: parse, validate, and address values by dotted path.

A run file is TOML and pure data; nothing in it is executed. The core sections (``[data]``,
``[model]``, ``[train]``) are validated here with pydantic in strict mode (``"0.1"`` is not a
number); plugin sections (``[optimizer]``, ``[regularizers]``, ``[schedule]``, ``[callbacks]``)
name a plugin and its options, which are checked against the plugin's own signature when the run
is built. A study file is a run file plus ``[study]`` (see :mod:`sweepnp.study`).

Every mistake becomes a :class:`~sweepnp.errors.ConfigError` naming the file, the dotted key and
the valid choices.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sweepnp.errors import ConfigError
from sweepnp.tasks import LOSSES

__all__ = [
    "DataConfig",
    "EvaluateConfig",
    "ModelConfig",
    "RunConfig",
    "TrainConfig",
    "apply_overrides",
    "get_path",
    "load_file",
    "parse",
    "set_path",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataConfig(_Section):
    """``[data]``: which dataset, and how it is split and scaled."""

    dataset: str | dict[str, Any] | None = None
    test_size: Annotated[float, Field(ge=0, lt=1)] = 0.2
    val_size: Annotated[float, Field(ge=0, lt=1)] = 0.2
    scale: Literal["standard", "none"] = "standard"
    scale_target: Literal["none", "standard"] = "none"
    seed: Annotated[int, Field(ge=0)] = 42
    subsample: Annotated[int, Field(ge=1)] | None = None
    stratify: bool = True


class ModelConfig(_Section):
    """``[model]``: the network."""

    task: Literal["auto", "binary", "multiclass", "regression"] = "auto"
    loss: Literal["bce", "cross_entropy", "mse", "half_mse"] | None = None
    hidden: list[Annotated[int, Field(ge=1)]] = [16]
    activation: Literal["relu", "leaky_relu", "tanh", "sigmoid", "identity"] = "relu"
    init: Literal["zeros", "normal", "he", "xavier"] | dict[str, Any] = "he"
    batch_norm: bool | dict[str, float] = False
    dtype: Literal["float64", "float32"] = "float64"

    def initializer(self, source: str | None = None) -> tuple[str, dict[str, float]]:
        """``(name, options)`` of the weight initializer (``init = "he"`` or a table)."""
        init = self.init if isinstance(self.init, dict) else {"name": self.init}
        name = init.get("name")
        options = {k: v for k, v in init.items() if k != "name"}
        if not isinstance(name, str) or name not in INITIALIZERS:
            raise ConfigError(
                f"unknown initializer {name!r}; valid choices: {', '.join(INITIALIZERS)}",
                source=source,
                key="model.init",
            )
        for option, value in options.items():
            if option not in INITIALIZERS[name]:
                allowed = ", ".join(INITIALIZERS[name]) or "(none)"
                raise ConfigError(
                    f"unknown option for {name!r}; valid options: {allowed}",
                    source=source,
                    key=f"model.init.{option}",
                )
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(
                    f"must be a number > 0, got {value!r}",
                    source=source,
                    key=f"model.init.{option}",
                )
        return name, options

    def task_loss(self, task: str, source: str | None = None) -> str | None:
        """The loss ``task`` trains on: ``loss`` when it is one of that task's, else an error;
        ``None`` (the task's default) when ``loss`` is not set."""
        if self.loss is not None and self.loss not in LOSSES[task]:
            raise ConfigError(
                f"{self.loss!r} is not a loss of a {task} task; valid choices: "
                + ", ".join(LOSSES[task]),
                source=source,
                key="model.loss",
            )
        return self.loss

    def batch_norm_options(self, source: str | None = None) -> dict[str, float] | None:
        """Batch normalization's options (``momentum``, ``eps``), or ``None`` when it is off."""
        if self.batch_norm is False:
            return None
        if not self.hidden:
            raise ConfigError(
                "batch normalization acts on hidden layers, and model.hidden = [] has none; "
                "set batch_norm = false, or add a hidden layer",
                source=source,
                key="model.batch_norm",
            )
        options = {} if self.batch_norm is True else dict(self.batch_norm)
        unknown = set(options) - {"momentum", "eps"}
        if unknown:
            raise ConfigError("valid options: momentum, eps", source=source, key="model.batch_norm")
        momentum, eps = options.get("momentum", 0.9), options.get("eps", 1e-5)
        if not 0 <= momentum < 1:
            raise ConfigError(
                f"must lie in [0, 1), got {momentum!r}",
                source=source,
                key="model.batch_norm.momentum",
            )
        if not eps > 0:
            raise ConfigError(
                f"must be > 0, got {eps!r}", source=source, key="model.batch_norm.eps"
            )
        return options


#: Weight initializers, and the options each takes.
INITIALIZERS: dict[str, tuple[str, ...]] = {"zeros": (), "normal": ("std",), "he": (), "xavier": ()}


def _check_model(model: ModelConfig, source: str | None) -> None:
    """The parts of ``[model]`` the schema's types cannot say: the initializer's options, and
    batch normalization's (which needs a hidden layer to act on)."""
    model.initializer(source)
    model.batch_norm_options(source)


class EvaluateConfig(_Section):
    """``[train.evaluate]``: what an evaluated epoch measures on the training and test splits
    (the validation split, when present, is measured at every evaluated epoch).

    ``train = "full"``: a pass over the whole training split in evaluation mode after the
    epoch's updates; ``"batches"``: the epoch's own mini-batches, as Keras reports them (each
    batch's loss and metrics in training mode, before its update, averaged over the rows), which
    costs no extra pass. ``test = "end"``: the test split is measured once, where the run ends
    (its last record and the final metrics); ``"every_epoch"``: at every evaluated epoch, for a
    test learning curve.
    """

    train: Literal["full", "batches"] = "full"
    test: Literal["end", "every_epoch"] = "end"


class TrainConfig(_Section):
    """``[train]``: the mini-batch loop."""

    epochs: Annotated[int, Field(ge=1)] = 100
    batch_size: Annotated[int, Field(ge=1)] | Literal["full"] = 32
    seed: Annotated[int, Field(ge=0)] = 42
    shuffle: bool = True
    eval_every: Annotated[int, Field(ge=1)] = 1
    evaluate: EvaluateConfig = EvaluateConfig()


class RunConfig(_Section):
    """A whole run file. Plugin sections keep their options as plain dicts."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    optimizer: dict[str, Any] = {"name": "sgd", "lr": 0.05}
    regularizers: dict[str, dict[str, Any]] = {}
    schedule: dict[str, Any] = {"name": "constant"}
    callbacks: dict[str, dict[str, Any] | bool] = {}
    study: dict[str, Any] | None = None

    #: The file this came from (or ``None``), for messages; not part of the schema.
    source: Annotated[str | None, Field(exclude=True)] = None

    def to_dict(self) -> dict[str, Any]:
        """The run file as a plain dict (what ``parse`` accepts back)."""
        return self.model_dump(exclude={"source"}, exclude_none=True)

    def active_callbacks(
        self, defaults: Mapping[str, Mapping[str, Any]] | None = None
    ) -> dict[str, dict[str, Any]]:
        """The callbacks of this run: ``defaults`` (what plugins turn on in every run), then the
        file's (``false`` removes one)."""
        merged: dict[str, Any] = {**(defaults or {}), **self.callbacks}
        out: dict[str, dict[str, Any]] = {}
        for name, options in merged.items():
            if options is False:
                continue
            out[name] = {} if options is True else dict(options)
        return out

    def dataset_spec(self) -> tuple[str, dict[str, Any]] | None:
        """``(name, options)`` of the dataset; ``{path = …}`` means the ``file`` dataset."""
        spec = self.data.dataset
        if spec is None:
            return None
        if isinstance(spec, str):
            return spec, {}
        options = dict(spec)
        if "name" in options:
            return str(options.pop("name")), options
        if "path" in options:
            # A relative data path is relative to the run file, as paths in config files are.
            path = options["path"]
            if isinstance(path, str) and self.source and not Path(path).is_absolute():
                options["path"] = str(Path(self.source).parent / path)
            return "file", options
        raise ConfigError(
            "a dataset table needs 'name' (a registered dataset) or 'path' (a data file)",
            source=self.source,
            key="data.dataset",
        )


# -------------------------------------------------------------------------
# Loading and parsing
# -------------------------------------------------------------------------


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML run or study file into a dict."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file: {exc}", source=str(path)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=str(path)) from None


def parse(
    config: str | Path | Mapping[str, Any] | RunConfig,
    *,
    source: str | None = None,
    overrides: Iterable[str] = (),
) -> RunConfig:
    """Turn a path, a dict of the run-file schema, or a :class:`RunConfig` into a RunConfig.

    :param overrides: ``dotted.key=value`` strings applied before validation (``--set``).
    """
    if isinstance(config, RunConfig):
        if not overrides:
            return config
        source = source or config.source
        config = config.to_dict()
    if isinstance(config, str | Path):
        source = source or str(config)
        raw = load_file(config)
    elif isinstance(config, Mapping):
        raw = copy.deepcopy(dict(config))
    else:
        raise ConfigError(
            "a run is a path to a run file, a dict of the run-file schema or a RunConfig, "
            f"got {type(config).__name__} {config!r}",
            source=source,
        )
    raw = apply_overrides(raw, overrides, source=source)
    return validate(raw, source=source)


def validate(raw: Mapping[str, Any], *, source: str | None = None) -> RunConfig:
    """Validate a run-file dict: core sections fully, plugin sections for their shape."""
    for section in ("optimizer", "schedule"):
        table = raw.get(section)
        if isinstance(table, Mapping) and "name" not in table:
            raise ConfigError("missing 'name' (the plugin to use)", source=source, key=section)
    train = raw.get("train")
    if isinstance(train, Mapping) and not isinstance(train.get("evaluate", {}), Mapping):
        raise ConfigError(
            'must be a table, e.g. { train = "batches", test = "every_epoch" }; valid choices: '
            'train = "full" or "batches", test = "end" or "every_epoch"',
            source=source,
            key="train.evaluate",
        )
    try:
        config = RunConfig.model_validate({**raw, "source": source})
    except ValidationError as exc:
        raise config_error(exc, source) from None
    _check_model(config.model, source)
    return config


def config_error(exc: ValidationError, source: str | None) -> ConfigError:
    errors = exc.errors()
    first = errors[0]
    loc = [str(part) for part in first["loc"] if not _is_union_tag(part)]
    key = ".".join(loc)
    if first["type"] == "extra_forbidden":
        valid = _valid_keys(loc[:-1])
        return ConfigError(f"unknown key; valid keys: {', '.join(valid)}", source=source, key=key)
    # A union (e.g. batch_size = int | "full") fails once per member: report them together.
    same_place = [e for e in errors if _clean_loc(e["loc"])[: len(loc)] == loc[: len(loc)]]
    messages = list(dict.fromkeys(e["msg"][:1].lower() + e["msg"][1:] for e in same_place))
    value = first.get("input")
    shown = "" if isinstance(value, dict) else f", got {value!r}"
    return ConfigError("; or ".join(messages) + shown, source=source, key=key)


def _is_union_tag(part: Any) -> bool:
    # pydantic inserts the member type into union locations, e.g. ("train", "batch_size", "int").
    return isinstance(part, str) and (
        part in {"int", "float", "str", "bool", "none"}
        or part.startswith(("literal[", "dict[", "list[", "function-"))
        or "constrained" in part
    )


def _clean_loc(loc: tuple[Any, ...]) -> list[str]:
    return [str(part) for part in loc if not _is_union_tag(part)]


def _valid_keys(section: list[str]) -> list[str]:
    model: type[BaseModel] = RunConfig
    for part in section:
        annotation = model.model_fields[part].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return []
    return [name for name in model.model_fields if name != "source"]


# -------------------------------------------------------------------------
# Dotted paths: "regularizers.dropout.rate"
# -------------------------------------------------------------------------


def get_path(raw: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` in a nested dict; ``KeyError`` if the path addresses nothing."""
    node: Any = raw
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def set_path(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at ``path``, creating intermediate tables as needed."""
    parts = path.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {} if child is None or child is True else child
            if not isinstance(child, dict):
                raise KeyError(path)
            node[part] = child
        node = child
    node[parts[-1]] = value


def parse_value(text: str) -> Any:
    """A ``--set`` value as TOML (``0.1``, ``true``, ``[16, 16]``, ``"adam"``), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(
    raw: dict[str, Any], overrides: Iterable[str], *, source: str | None = None
) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides to a run-file dict (in place; returned for chaining)."""
    for item in overrides:
        path, sep, text = item.partition("=")
        path = path.strip()
        if not sep or not path:
            raise ConfigError(
                f"an override must look like dotted.key=value, got {item!r}", source=source
            )
        try:
            set_path(raw, path, parse_value(text.strip()))
        except KeyError:
            raise ConfigError(
                "cannot set a key below a value that is not a table", source=source, key=path
            ) from None
    return raw
