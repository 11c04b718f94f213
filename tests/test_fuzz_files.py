"""Run files and study files with random values at every documented key: a result or a SweepnpError.

Hypothesis puts TOML values — strings, integers, floats with inf and nan, booleans, arrays, tables,
and names sweepnp knows, so that the loaders get past their first checks — at keys taken from the
schema (the pydantic sections, every installed plugin's options, Optuna's sampler and pruner
options, the search-space keys) and at a few random extra keys. Each document goes through what
``sweepnp train`` and ``sweepnp study run`` do before training: ``parse`` and building the
:class:`~sweepnp.trainer.Trainer` (data, network, every plugin), or ``load_spec``, which also builds
a run for every searched value, the sampler and the pruner. The outcome must be a config or spec,
or a :class:`sweepnp.SweepnpError` — which the command line prints as one line with exit status 2 —
and never another exception, a traceback for the user.

Integers stay small (a network ``hidden = [10**9]`` wide exhausts memory, which is no message's
job); everything else is as random as TOML allows.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweepnp.config import DataConfig, ModelConfig, TrainConfig, parse
from sweepnp.errors import SweepnpError
from sweepnp.plugins import get_plugin_manager
from sweepnp.study.samplers import PRUNERS, SAMPLERS
from sweepnp.study.space import _KEYS as SPACE_KEYS
from sweepnp.study.spec import StudyConfig, load_spec
from sweepnp.trainer import Trainer

PM = get_plugin_manager()

#: A small valid run: generated data, so that building a run costs milliseconds.
BASE_RUN: dict[str, Any] = {
    "data": {"dataset": {"name": "moons", "n_samples": 60}, "seed": 0},
    "model": {"task": "binary", "hidden": [4]},
    "train": {"epochs": 2, "batch_size": 16},
    "optimizer": {"name": "sgd", "lr": 0.1},
    "regularizers": {"l2": {"lam": 0.01}},
    "callbacks": {"early_stopping": {"patience": 2}},
}
BASE_STUDY: dict[str, Any] = {
    **BASE_RUN,
    "study": {
        "name": "fuzz",
        "metric": "val_accuracy",
        "sampler": {"name": "tpe", "seed": 0},
        "n_trials": 2,
        "params": {"optimizer.lr": {"low": 0.01, "high": 0.5, "log": True}},
    },
}


def _options(factory: Any) -> list[str]:
    return [
        name
        for name, p in inspect.signature(factory).parameters.items()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


#: A documented key, and the values it needs around it to be read at all (an optimizer's option
#: is only checked when that optimizer is the one named).
Key = tuple[str, tuple[tuple[str, str], ...]]


def documented_run_keys() -> list[Key]:
    """Every key of the run-file schema: the core sections' fields and what the documented
    tables inside them hold, and every option of every installed plugin."""
    keys: list[Key] = [
        (f"{section}.{name}", ())
        for section, model in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig))
        for name in model.model_fields
    ]
    keys += [("model.init.std", (("model.init.name", "normal"),)), ("model.init.name", ())]
    keys += [("model.batch_norm.momentum", ()), ("model.batch_norm.eps", ())]
    keys += [("data.dataset.path", ()), ("data.dataset.target", ()), ("data.dataset.name", ())]
    for name, entry in PM.registry["datasets"].items():
        keys += [
            (f"data.dataset.{option}", (("data.dataset.name", name),))
            for option in _options(entry.factory)
        ]
    for kind, section in (("optimizers", "optimizer"), ("schedules", "schedule")):
        keys.append((f"{section}.name", ()))
        for name, entry in PM.registry[kind].items():
            keys += [
                (f"{section}.{option}", ((f"{section}.name", name),))
                for option in _options(entry.factory)
            ]
    for kind in ("regularizers", "callbacks"):
        for name, entry in PM.registry[kind].items():
            keys.append((f"{kind}.{name}", ()))
            keys += [(f"{kind}.{name}.{option}", ()) for option in _options(entry.factory)]
    return sorted(set(keys))


def documented_study_keys() -> list[Key]:
    """Every key of [study], and every option of every sampler and pruner."""
    keys: list[Key] = [(f"study.{name}", ()) for name in StudyConfig.model_fields]
    for table, factories in (("sampler", SAMPLERS), ("pruner", PRUNERS)):
        keys.append((f"study.{table}.name", ()))
        for name, factory in factories.items():
            keys += [
                (f"study.{table}.{option}", ((f"study.{table}.name", name),))
                for option in _options(factory)
            ]
    keys.append(("study.pruner.wrapped", (("study.pruner.name", "patient"),)))
    return sorted(set(keys))


RUN_KEYS = documented_run_keys()
STUDY_KEYS = documented_study_keys()
RUN_PATHS = sorted({path for path, _ in RUN_KEYS})

#: Values sweepnp knows, so that a document gets past "unknown name" to the checks behind it.
KNOWN = sorted(
    {name for kind in PM.registry.values() for name in kind}
    | {"full", "standard", "none", "auto", "binary", "multiclass", "regression", "relu", "tanh"}
    | {"he", "normal", "float32", "epoch", "batch", "norm", "value", "min", "max", "mean", "lcb"}
    | {"maximize", "minimize", "loss", "val_loss", "val_accuracy", "train_seconds", "data.csv"}
    | set(SAMPLERS)
    | set(PRUNERS)
    | set(RUN_PATHS)
)

scalars = st.one_of(
    st.sampled_from(KNOWN),
    st.text(max_size=12),
    st.integers(min_value=-5, max_value=300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-2.0, max_value=2.0),
    st.booleans(),
)
#: Any TOML value (no dates): scalars, arrays and tables of them.
toml_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.one_of(st.sampled_from(KNOWN), st.text(max_size=8)), inner, max_size=4)
    ),
    max_leaves=8,
)
dotted_extra = st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=3).map(".".join)


def put(document: dict[str, Any], path: str, value: Any) -> None:
    """Write ``value`` at a dotted path, replacing whatever is in the way by a table (building
    a TOML document, not loading one)."""
    parts = path.split(".")
    node = document
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


numbers = st.integers(min_value=-5, max_value=300) | st.floats(allow_nan=True)


def search_specs(earlier: list[str]) -> st.SearchStrategy[Any]:
    """How to search a path: a range or choices shaped as documented (with random bounds,
    steps, types and conditions on earlier parameters), or anything at all."""
    condition = st.dictionaries(
        st.sampled_from(earlier) if earlier else st.text(max_size=6), toml_values, max_size=2
    )
    extras = {"log": st.booleans(), "step": numbers, "type": st.sampled_from(["int", "float"])}
    ranges = st.fixed_dictionaries(
        {"low": numbers, "high": numbers}, optional={**extras, "when": condition}
    )
    choices = st.fixed_dictionaries(
        {"choices": st.lists(toml_values, max_size=4)}, optional={"when": condition}
    )
    anything = st.dictionaries(st.sampled_from(sorted(SPACE_KEYS)), toml_values, max_size=4)
    return ranges | choices | anything | toml_values


def put_key(document: dict[str, Any], key: Key, value: Any) -> None:
    path, around = key
    for other, needed in around:
        put(document, other, needed)
    put(document, path, value)


@st.composite
def run_documents(draw: st.DrawFn) -> dict[str, Any]:
    document = copy.deepcopy(BASE_RUN)
    for key in draw(st.lists(st.sampled_from(RUN_KEYS), min_size=1, max_size=3)):
        put_key(document, key, draw(toml_values))
    if draw(st.integers(0, 4)) == 0:
        put(document, draw(dotted_extra), draw(toml_values))
    return document


@st.composite
def study_documents(draw: st.DrawFn) -> dict[str, Any]:
    document = copy.deepcopy(BASE_STUDY)
    for key in draw(st.lists(st.sampled_from(STUDY_KEYS), max_size=3)):
        put_key(document, key, draw(toml_values))
    if draw(st.booleans()):  # a searched parameter: a documented path, or any
        path = draw(st.sampled_from(RUN_PATHS) | st.text(max_size=10))
        params = document["study"].get("params")
        if isinstance(params, dict):
            params[path] = draw(search_specs(sorted(params)))
    if draw(st.integers(0, 3)) == 0:
        put_key(document, draw(st.sampled_from(RUN_KEYS)), draw(toml_values))
    if draw(st.integers(0, 4)) == 0:
        put(document, "study." + draw(dotted_extra), draw(toml_values))
    return document


def _quietly(call: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a batch larger than the data: said, not raised
        return call()


FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,  # nothing written into the source tree; a failure prints its example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(run_documents())
def test_a_run_file_with_random_values_loads_or_is_a_sweepnp_error(document):
    try:
        _quietly(lambda: Trainer(parse(document), plugin_manager=PM))
    except SweepnpError as exc:
        assert str(exc) and "\n" not in str(exc)


@FUZZ
@given(study_documents())
def test_a_study_file_with_random_values_loads_or_is_a_sweepnp_error(document):
    try:
        _quietly(lambda: load_spec(document, plugin_manager=PM))
    except SweepnpError as exc:
        assert str(exc) and "\n" not in str(exc)


def test_the_fuzzed_keys_are_the_documented_ones():
    # Every core key is in the run-file guide, and the fuzz reaches plugin options and Optuna's.
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "run-files.md").read_text()
    core = [path for path in RUN_PATHS if path.split(".")[0] in ("data", "model", "train")]
    assert all(f"`{path.split('.')[1]}`" in guide for path in core)
    assert {"optimizer.beta2", "callbacks.early_stopping.patience", "data.dataset.noise"} <= set(
        RUN_PATHS
    )
    study_paths = {path for path, _ in STUDY_KEYS}
    assert {"study.sampler.n_startup_trials", "study.pruner.n_warmup_steps"} <= study_paths


def test_the_base_documents_are_valid():
    # what the fuzz starts from gets through, so a SweepnpError is the fuzzed value's doing
    Trainer(parse(BASE_RUN), plugin_manager=PM)
    load_spec(BASE_STUDY, plugin_manager=PM)
