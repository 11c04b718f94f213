"""Study files: validation of [study] and [study.params]."""

from __future__ import annotations

import inspect

import optuna
import pytest

from sweepnp.errors import ConfigError
from sweepnp.study.samplers import PRUNERS, SAMPLERS, _checked_options, _option_hints
from sweepnp.study.spec import load_spec


def test_a_valid_study_file_loads(study_file):
    spec = load_spec(study_file)
    assert spec.name == "small"
    assert spec.metrics == ["val_accuracy"]
    assert spec.directions == ["maximize"]  # inferred from the metric
    kinds = {p.path: p.kind for p in spec.space.params}
    assert kinds == {
        "train.batch_size": "categorical",
        "regularizers.l2.lam": "float",
        "regularizers.dropout.rate": "float",
        "callbacks.early_stopping.patience": "int",
    }


MISTAKES = {
    "path addresses nothing": (
        {"train.epoch": {"low": 1, "high": 5}},
        'study.params."train.epoch"',
        "valid keys",
    ),
    "plugin option addresses nothing": (
        {"regularizers.l2.lambda": {"low": 0.1, "high": 0.5}},
        'study.params."regularizers.l2.lambda"',
        "valid options: lam",
    ),
    "empty range": (
        {"regularizers.dropout.rate": {"low": 0.5, "high": 0.5}},
        'study.params."regularizers.dropout.rate"',
        "empty range",
    ),
    "mixed choices": (
        {"train.batch_size": {"choices": [16, "full", True]}},
        'study.params."train.batch_size".choices',
        "mixes types",
    ),
    "value a plugin refuses": (
        {"regularizers.dropout.rate": {"low": 0.0, "high": 1.0}},
        'study.params."regularizers.dropout.rate"',
        "[0, 1)",
    ),
    "log range from zero": (
        {"regularizers.l2.lam": {"low": 0.0, "high": 0.1, "log": True}},
        'study.params."regularizers.l2.lam".low',
        "log range",
    ),
    "condition on an unknown parameter": (
        {"optimizer.beta": {"low": 0.5, "high": 0.9, "when": {"optimizer.name": "momentum"}}},
        'study.params."optimizer.beta".when',
        "not a parameter listed before",
    ),
    "a step that is not positive": (
        {"regularizers.dropout.rate": {"low": 0.0, "high": 0.5, "step": 0}},
        'study.params."regularizers.dropout.rate".step',
        "must be a number > 0",
    ),
    "a string that is not a batch size among numbers": (
        {"train.batch_size": {"choices": [16, "half"]}},
        'study.params."train.batch_size"',
        "full",
    ),
    "true among tables": (
        {"callbacks.gradient_clipping": {"choices": [True, {"by": "norm"}]}},
        'study.params."callbacks.gradient_clipping".choices',
        "mixes types",
    ),
    "unknown key in a parameter": (
        {"train.epochs": {"low": 1, "high": 5, "steps": 1}},
        'study.params."train.epochs"',
        "valid keys",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_search_space_mistakes_name_the_key(study_dict, tmp_path, mistake, write_study):
    params, key, words = MISTAKES[mistake]
    study_dict["study"]["params"] = params
    path = write_study(tmp_path / "bad.toml", study_dict)
    with pytest.raises(ConfigError) as excinfo:
        load_spec(path)
    assert excinfo.value.key == key
    assert excinfo.value.source == str(path)
    assert words in str(excinfo.value)


SETTING_MISTAKES = {
    "unknown sampler": ({"sampler": "bayes"}, "study.sampler", "valid choices: tpe, random, grid"),
    "unknown pruner": ({"pruner": "early"}, "study.pruner", "valid choices: none, median"),
    "unknown sampler option": (
        {"sampler": {"name": "tpe", "n_startup": 3}},
        "study.sampler.n_startup",
        "valid options",
    ),
    "unknown metric": ({"metric": "val_acc"}, "study.metric", "valid choices: loss, accuracy"),
    "unknown direction": ({"direction": "max"}, "study.direction", "'maximize'"),
    "n_trials < 1": ({"n_trials": 0}, "study.n_trials", "greater than or equal to 1"),
    "unknown study key": ({"trials": 5}, "study.trials", "valid keys: name, metric, direction"),
    "sampler option of the wrong type": (
        {"sampler": {"name": "tpe", "n_startup_trials": 2.5}},
        "study.sampler.n_startup_trials",
        "valid integer, got 2.5",
    ),
    "sampler seed as a string": (
        {"sampler": {"name": "random", "seed": "0"}},
        "study.sampler.seed",
        "valid integer, got '0'",
    ),
    "sampler option that takes a function": (
        {"sampler": {"name": "tpe", "gamma": "os.system"}},
        "study.sampler.gamma",
        "takes a Python function, which a study file cannot give",
    ),
    "sampler option that takes an object": (
        {"sampler": {"name": "qmc", "independent_sampler": "random"}},
        "study.sampler.independent_sampler",
        "takes a Python object (BaseSampler)",
    ),
    "pruner option of the wrong type": (
        {"pruner": {"name": "threshold", "lower": "0.5"}},
        "study.pruner.lower",
        "valid number, got '0.5'",
    ),
    "patient pruner's wrapped pruner given as Optuna's argument": (
        {"pruner": {"name": "patient", "wrapped_pruner": "median"}},
        "study.pruner.wrapped_pruner",
        "as 'wrapped'",
    ),
    "pruning several objectives": (
        {"metric": ["val_accuracy", "train_seconds"], "pruner": "median"},
        "study.pruner",
        "multi-objective",
    ),
    "directions do not match metrics": (
        {"metric": ["val_accuracy", "train_seconds"], "direction": "maximize"},
        "study.direction",
        "2 metric(s) but 1 direction(s)",
    ),
}


@pytest.mark.parametrize("mistake", SETTING_MISTAKES)
def test_study_setting_mistakes_name_the_key(study_dict, tmp_path, mistake, write_study):
    settings, key, words = SETTING_MISTAKES[mistake]
    study_dict["study"].update(settings)
    path = write_study(tmp_path / "bad.toml", study_dict)
    with pytest.raises(ConfigError) as excinfo:
        load_spec(path)
    assert excinfo.value.key == key, str(excinfo.value)
    assert words in str(excinfo.value)


def test_grid_needs_choices_or_steps(study_dict, tmp_path, write_study):
    study_dict["study"]["sampler"] = "grid"
    path = write_study(tmp_path / "grid.toml", study_dict)
    with pytest.raises(ConfigError, match="grid sampler needs") as excinfo:
        load_spec(path)
    assert excinfo.value.source == str(path)
    assert excinfo.value.key == 'study.params."regularizers.l2.lam"'


@pytest.mark.parametrize("name", [*SAMPLERS, *PRUNERS])
def test_every_sampler_and_pruner_option_is_type_checked_or_refused(name):
    # Optuna imports some annotation names only for type checkers; every parameter must still
    # resolve, so that no option reaches Optuna unchecked.
    factory = SAMPLERS.get(name) or PRUNERS[name]
    hints = _option_hints(factory)
    assert set(inspect.signature(factory).parameters) <= set(hints)


@pytest.mark.parametrize("name", [*SAMPLERS, *PRUNERS])
def test_optunas_own_defaults_pass_the_option_check(name):
    # Writing down a default explicitly is always valid: the checks are not stricter than Optuna.
    factory = SAMPLERS.get(name) or PRUNERS[name]
    parameters = inspect.signature(factory).parameters
    options = {
        option: parameter.default
        for option, parameter in parameters.items()
        if parameter.default not in (None, inspect.Parameter.empty)
    }
    required = {
        "percentile": 25.0,
        "search_space": {"train.epochs": [1, 2]},
        "wrapped_pruner": optuna.pruners.MedianPruner(),  # built by sweepnp from "wrapped"
        "patience": 3,
    }
    options |= {option: value for option, value in required.items() if option in parameters}
    assert _checked_options(factory, dict(options), key="k", source=None) == options


def test_int_or_float_follows_the_base_value(study_dict, tmp_path, write_study):
    # patience is an int in the base file, dropout a float: bounds written as 0 and 1 do not decide
    study_dict["study"]["params"] = {
        "regularizers.dropout.rate": {"low": 0, "high": 0.5},
        "callbacks.early_stopping.patience": {"low": 2.0, "high": 6.0},
    }
    spec = load_spec(write_study(tmp_path / "k.toml", study_dict))
    assert [p.kind for p in spec.space.params] == ["float", "int"]


def test_numbers_and_strings_mix_and_false_stands_among_tables(study_dict, tmp_path, write_study):
    study_dict["study"]["params"] = {
        "train.batch_size": {"choices": [16, "full"]},
        "callbacks.early_stopping": {"choices": [False, {"patience": 2}]},
    }
    spec = load_spec(write_study(tmp_path / "mix.toml", study_dict))
    assert [p.choices for p in spec.space.params] == [(16, "full"), (False, {"patience": 2})]


QUICK_MISTAKES = {
    "no [study.quick]": (None, "study.quick", "needs a [study.quick] table"),
    "changes the search space": (
        {"study.params.train": 1},
        'study.quick."study.params.train"',
        "not the search space",
    ),
    "addresses inside a value": (
        {"train.epochs.low": 1},
        'study.quick."train.epochs.low"',
        "non-table",
    ),
    "an invalid value": ({"train.epochs": 0}, "train.epochs", "greater than or equal to 1"),
}


@pytest.mark.parametrize("mistake", QUICK_MISTAKES)
def test_quick_mistakes_name_the_key(study_dict, tmp_path, mistake, write_study):
    changes, key, words = QUICK_MISTAKES[mistake]
    if changes is not None:
        study_dict["study"]["quick"] = changes
    path = write_study(tmp_path / "quick.toml", study_dict)
    load_spec(path)  # the full study is unaffected
    with pytest.raises(ConfigError) as excinfo:
        load_spec(path, quick=True)
    assert excinfo.value.key == key
    assert excinfo.value.source == str(path)
    assert words in str(excinfo.value)


def test_quick_applies_its_changes_under_its_own_name(study_dict, tmp_path, write_study):
    study_dict["study"]["quick"] = {"train.epochs": 2, "study.n_trials": 3, "study.repeats": 2}
    path = write_study(tmp_path / "q.toml", study_dict)
    full, quick = load_spec(path), load_spec(path, quick=True)
    assert (full.name, quick.name) == ("small", "small-quick")
    assert full.base["train"]["epochs"] == 8
    assert quick.base["train"]["epochs"] == 2
    assert (quick.study.n_trials, quick.study.repeats) == (3, 2)
    assert load_spec(path, quick=True, name="mine").name == "mine"
