"""A study's searched values are checked by building only what each reaches, with the verdict a
whole run built from that value gives (what the check did before, and what a trial meets)."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import pytest

from sweepnp import trainer as run
from sweepnp.config import set_path, validate
from sweepnp.errors import ConfigError, OptionError, SweepnpError, SweepnpWarning
from sweepnp.study.spec import load_spec

BASE: dict[str, Any] = {
    "data": {"dataset": "iris", "seed": 0},
    "model": {"hidden": [4]},
    "train": {"epochs": 5, "batch_size": 16},
    "optimizer": {"name": "sgd", "lr": 0.1},
    "regularizers": {"l2": {"lam": 0.001}},
    "schedule": {"name": "warmup_cosine", "warmup_epochs": 2},
    "callbacks": {"early_stopping": {"monitor": "val_loss", "patience": 3}},
    "study": {"metric": "val_accuracy", "n_trials": 1},
}

#: Label → [study.params]: each parameter's values, valid and invalid, in every section.
SPACES: dict[str, dict[str, Any]] = {
    "optimizer option": {"optimizer.lr": {"low": -0.1, "high": 0.1}},
    "optimizer name": {"optimizer.name": {"choices": ["sgd", "adamx"]}},
    "conditional optimizer option": {
        "optimizer.name": {"choices": ["sgd", "momentum"]},
        "optimizer.beta": {"low": 0.5, "high": 1.5, "when": {"optimizer.name": "momentum"}},
    },
    "regularizer option": {"regularizers.l2.lam": {"low": -1.0, "high": 0.1}},
    "a new regularizer": {"regularizers.dropout.rate": {"low": 0.0, "high": 1.0}},
    "the regularizers table": {"regularizers": {"choices": [{}, {"l1": {"lam": -1.0}}]}},
    "callback option": {"callbacks.early_stopping.patience": {"low": -1, "high": 3}},
    "callback monitor (checked when training starts)": {
        "callbacks.early_stopping.monitor": {"choices": ["val_loss", "nope"]}
    },
    "a default callback": {"callbacks.divergence_guard": {"choices": [False, {"max_value": -1.0}]}},
    "the callbacks table": {
        "callbacks": {"choices": [{}, {"gradient_clipping": {"by": "sideways"}}]}
    },
    "schedule option the set-up refuses": {"schedule.warmup_epochs": {"low": 1, "high": 9}},
    "epochs the schedule refuses": {"train.epochs": {"low": 1, "high": 10}},
    "schedule name": {"schedule.name": {"choices": ["constant", "nope"]}},
    "schedule table": {"schedule": {"choices": [{"name": "constant"}, {"name": "step"}]}},
    "train options": {
        "train.seed": {"low": 0, "high": 5},
        "train.eval_every": {"low": 1, "high": 3},
        "train.shuffle": {"choices": [True, False]},
    },
    "network": {
        "model.hidden": {"choices": [[], [8, 8]]},
        "model.activation": {"choices": ["tanh"]},
    },
    "batch norm without a hidden layer": {
        "model.batch_norm": {"choices": [False, True]},
        "model.hidden": {"choices": [[4], []]},
    },
    "initializer": {"model.init": {"choices": [{"name": "he"}, {"name": "normal", "std": -1.0}]}},
    "task": {"model.task": {"choices": ["multiclass", "binary"]}},
    "dtype": {"model.dtype": {"choices": ["float32", "float64"]}},
    "subsample": {"data.subsample": {"low": 1, "high": 10000}},
    "held-out fraction": {"data.val_size": {"low": 0.1, "high": 0.9}},
    "dataset": {"data.dataset": {"choices": ["iris", "nope"]}},
}


def whole_run_verdict(study: dict[str, Any]) -> str | None:
    """The first refusal when every searched value is built into a whole run (``Trainer``), as
    the check did before; ``None`` when every value gives a valid run."""
    base = {k: v for k, v in study.items() if k != "study"}
    for path, spec in study["study"]["params"].items():
        values = spec["choices"] if "choices" in spec else [spec["low"], spec["high"]]
        for value in values:
            raw = copy.deepcopy(base)
            for cond_path, allowed in spec.get("when", {}).items():
                set_path(raw, cond_path, allowed[0] if isinstance(allowed, list) else allowed)
            set_path(raw, path, value)
            try:
                config = validate(raw)
                trainer = run.Trainer(config)
                try:
                    trainer.schedule.setup(trainer.optimizer.lr, trainer.epochs)
                except OptionError as exc:
                    raise ConfigError(exc.reason, key=f"schedule.{exc.option}") from None
            except ConfigError as exc:
                return f"{path} = {value!r} gives an invalid run: {exc.key}: {exc.reason}"
            except SweepnpError as exc:
                return str(exc)
    return None


def lighter_check_verdict(study: dict[str, Any]) -> str | None:
    try:
        load_spec(study)
    except ConfigError as exc:
        return exc.reason
    return None


@pytest.mark.parametrize("label", SPACES)
def test_the_lighter_check_gives_the_whole_runs_verdict(label):
    study = copy.deepcopy(BASE)
    study["study"]["params"] = SPACES[label]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SweepnpWarning)
        assert lighter_check_verdict(study) == whole_run_verdict(study)


def test_the_cases_cover_refusals_and_valid_spaces():
    verdicts = {}
    for label, params in SPACES.items():
        study = copy.deepcopy(BASE)
        study["study"]["params"] = params
        verdicts[label] = whole_run_verdict(study)
    refused = [label for label, verdict in verdicts.items() if verdict is not None]
    assert 10 <= len(refused) < len(SPACES)


class CountingTrainer(run.Trainer):
    built = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        type(self).built += 1
        super().__init__(*args, **kwargs)


def count_whole_runs(monkeypatch, params: dict[str, Any]) -> tuple[int, int]:
    """Whole runs built, and data sections prepared, while the study is read."""
    monkeypatch.setattr(run, "Trainer", CountingTrainer)
    CountingTrainer.built = 0
    study = copy.deepcopy(BASE)
    study["study"]["params"] = params
    spec = load_spec(study)
    return CountingTrainer.built, len(spec.data_cache._cache)


def test_values_outside_the_data_build_no_whole_run(monkeypatch):
    params = {
        "train.batch_size": {"choices": [8, 16, 32]},
        "optimizer.lr": {"low": 0.01, "high": 0.1},
        "regularizers.l2.lam": {"low": 1e-5, "high": 1e-1, "log": True},
        "callbacks.early_stopping.patience": {"low": 2, "high": 6},
        "model.hidden": {"choices": [[4], [16, 16]]},
    }
    assert count_whole_runs(monkeypatch, params) == (0, 1)  # the base run's data, no run


def test_a_value_that_changes_the_data_prepares_its_data_but_builds_no_whole_run(monkeypatch):
    params = {"data.subsample": {"low": 20, "high": 50}}
    assert count_whole_runs(monkeypatch, params) == (0, 1 + 2)


def test_a_batch_larger_than_the_training_split_is_still_said_when_the_file_is_read():
    study = copy.deepcopy(BASE)
    study["study"]["params"] = {"train.batch_size": {"choices": [16, 1000]}}
    with pytest.warns(SweepnpWarning, match="train.batch_size: 1000 is more than the 90"):
        load_spec(study)
