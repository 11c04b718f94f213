"""Checking a study file builds no run: the metric names come from the data's splits, the task
and the callbacks' declared metrics, equal to what a built run names; and no ``Trainer`` (no
network, no callback given a trainer) is constructed while a study file is read."""

from __future__ import annotations

import copy
import runpy
import tomllib
import types
import warnings
from pathlib import Path
from typing import Any, ClassVar

import pytest

import sweepnp
from sweepnp import hookimpl, run_parts
from sweepnp import trainer as run
from sweepnp.config import load_file, validate
from sweepnp.model import BatchNormOptions, DenseNetwork, parameter_shapes
from sweepnp.plugins import PluginManager, get_plugin_manager
from sweepnp.study.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
STUDIES = sorted((ROOT / "studies").glob("*.toml"))


def fixture_value(path: str, name: str) -> Any:
    """A module-level value of another test module (the tests folder is no package)."""
    return copy.deepcopy(runpy.run_path(str(ROOT / path))[name])


SPACE_CHECK_BASE = fixture_value("tests/study/test_space_check.py", "BASE")

#: The study and run files the study-file tests start from.
FIXTURES: dict[str, dict[str, Any]] = {
    "small study": tomllib.loads(fixture_value("tests/study/conftest.py", "SMALL_STUDY_TOML")),
    "space check": SPACE_CHECK_BASE,
    "fuzz": fixture_value("tests/test_fuzz_files.py", "BASE_STUDY"),
    "mistakes": tomllib.loads(fixture_value("tests/test_mistakes.py", "RUN")),
}
CASES = [pytest.param(path, id=path.name) for path in STUDIES] + [
    pytest.param(raw, id=label) for label, raw in FIXTURES.items()
]


@pytest.mark.parametrize("study", CASES)
def test_the_metric_names_are_those_a_trained_run_records(study):
    """Named without a trainer, the metrics are exactly those a real run records, in order (in
    its last record, which holds also those measured only where the run ends)."""
    raw = load_file(study) if isinstance(study, Path) else copy.deepcopy(study)
    source = str(study) if isinstance(study, Path) else None
    config = validate({k: v for k, v in raw.items() if k != "study"}, source=source)
    pm = get_plugin_manager()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sweepnp.SweepnpWarning)
        data = run_parts.load_data(config, pm)
        callbacks = run_parts.build_callbacks(config, pm)
        named = run_parts.metric_names(
            config, data, [(f"callbacks.{n}", c) for n, c in callbacks.items()]
        )
        record = run.Trainer(config, plugin_manager=pm, data=data).fit().records[-1]
    assert list(named) == [k for k in record if k not in ("epoch", "epoch_seconds")]


@pytest.mark.parametrize(
    ("hidden", "batch_norm"), [((), False), ((4,), False), ((4, 3), True), ((5,), True)]
)
def test_the_parameter_shapes_are_the_networks(hidden, batch_norm):
    network = DenseNetwork(
        3,
        2,
        task="multiclass",
        hidden=hidden,
        batch_norm=BatchNormOptions() if batch_norm else None,
    )
    shapes = parameter_shapes(3, 2, hidden, batch_norm=batch_norm)
    assert shapes == {name: value.shape for name, value in network.params.items()}
    assert list(shapes) == list(network.params)  # in the network's order


# -------------------------------------------------------------------------
# No Trainer while a study file is read
# -------------------------------------------------------------------------


class TrainerWitness(sweepnp.Callback):
    """A callback every run has (a default one) that records each trainer it is given: any
    ``Trainer`` built from a run file hands it one. It declares a metric of its own."""

    given: ClassVar[list[Any]] = []
    metrics = ("witness",)

    def set_trainer(self, trainer: Any) -> None:
        super().set_trainer(trainer)
        type(self).given.append(trainer)


@pytest.fixture
def witnessed() -> PluginManager:
    """A plugin manager with the built-in plugins and ``trainer_witness``, on in every run."""
    module = types.ModuleType("trainer_witness")
    module.sweepnp_register_callbacks = hookimpl(lambda: {"trainer_witness": TrainerWitness})
    module.sweepnp_default_callbacks = hookimpl(lambda: {"trainer_witness": {}})
    TrainerWitness.given = []
    return PluginManager(load_entrypoints=False, extra=(module,))


def test_the_witness_sees_a_built_run(witnessed):
    # what makes the next test able to fail: building a run hands the witness its trainer
    config = validate({k: v for k, v in load_file(STUDIES[0]).items() if k != "study"})
    trainer = run.Trainer(config, plugin_manager=witnessed)
    assert TrainerWitness.given == [trainer]
    assert "witness" in trainer.metric_names


@pytest.mark.parametrize("path", STUDIES, ids=[p.name for p in STUDIES])
def test_reading_a_study_file_builds_no_trainer(witnessed, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sweepnp.SweepnpWarning)
        load_spec(path, plugin_manager=witnessed)
        load_spec(path, plugin_manager=witnessed, quick=True)
    assert TrainerWitness.given == []


def test_a_value_that_changes_the_data_builds_no_trainer_either(witnessed):
    study = copy.deepcopy(SPACE_CHECK_BASE)
    study["study"]["params"] = {
        "data.subsample": {"low": 20, "high": 50},
        "model.task": {"choices": ["multiclass"]},
        "model.dtype": {"choices": ["float32", "float64"]},
        "data.val_size": {"low": 0.1, "high": 0.3},
    }
    study["study"]["metric"] = "witness"  # a callback's declared metric is a valid one
    load_spec(study, plugin_manager=witnessed)
    assert TrainerWitness.given == []


def test_a_value_that_drops_the_studied_metric_is_refused(witnessed):
    study = copy.deepcopy(SPACE_CHECK_BASE)
    study["study"]["params"] = {"data.val_size": {"choices": [0.2, 0.0]}}
    with pytest.raises(sweepnp.ConfigError) as excinfo:
        load_spec(study, plugin_manager=witnessed)
    assert excinfo.value.key == 'study.params."data.val_size"'
    assert "data.val_size = 0.0 gives an invalid run: study.metric: 'val_accuracy'" in str(
        excinfo.value
    )
    assert TrainerWitness.given == []


def test_the_split_prefixes_follow_the_held_out_sizes():
    study = copy.deepcopy(SPACE_CHECK_BASE)
    base = {k: v for k, v in study.items() if k != "study"}
    for test_size, val_size, prefixes in [
        (0.2, 0.2, ["", "val_", "test_"]),
        (0.0, 0.2, ["", "val_"]),
        (0.2, 0.0, ["", "test_"]),
        (0.0, 0.0, [""]),
    ]:
        base["data"] = {**base["data"], "test_size": test_size, "val_size": val_size}
        config = validate(base)
        data = run.load_data(config)
        names = run_parts.metric_names(config, data, [])
        assert names == (*[p + m for p in prefixes for m in ("loss", "accuracy")], "lr")
