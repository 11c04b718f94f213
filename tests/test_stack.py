"""Stacked training: every run of a stack trains exactly as it would alone (float64, bit for bit).

Each test trains a few runs alone with the ordinary Trainer, then the same runs in one
:class:`~sweepnp.run_stack.RunStack` — joining at different epochs, leaving when they end — and
compares their learning curves, final metrics, stop reasons and weights number for number.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from sweepnp import Callback, Optimizer, hookimpl
from sweepnp.config import set_path, validate
from sweepnp.plugins import PluginManager, get_plugin_manager
from sweepnp.run_stack import RunStack, stack_key
from sweepnp.trainer import RunResult, Trainer, load_data

PM = get_plugin_manager()

BASE: dict[str, Any] = {
    "data": {"dataset": "breast_cancer", "seed": 0},
    "model": {"task": "binary", "hidden": [16, 8]},
    "train": {"epochs": 6, "batch_size": 32},
    "optimizer": {"name": "sgd", "lr": 0.05},
    "callbacks": {},
}


def _runs(base: dict[str, Any], variants: list[dict[str, Any]]) -> list[Any]:
    configs = []
    for seed, variant in enumerate(variants):
        run = copy.deepcopy(base)
        set_path(run, "train.seed", 100 + seed)
        for path, value in variant.items():
            set_path(run, path, value)
        configs.append(validate(run))
    return configs


def _stacked(
    configs: list[Any], joins: list[int], pm: PluginManager = PM, capacity: int | None = None
) -> dict[int, RunResult]:
    """Train ``configs`` in one stack, run ``i`` joining at epoch ``joins[i]`` of the stack."""
    data = load_data(configs[0], pm)
    trainers = [Trainer(config, plugin_manager=pm, data=data) for config in configs]
    assert len({stack_key(t) for t in trainers}) == 1
    stack = RunStack(capacity or len(configs), pm)
    results: dict[int, RunResult] = {}
    epoch = 0
    while len(results) < len(configs):
        for i, join in enumerate(joins):
            if join == epoch:
                stack.add(trainers[i], i)
        for tag, result in stack.run_epoch():
            assert not isinstance(result, BaseException), result
            results[tag] = result
        epoch += 1
        assert epoch < 500
    return results


def _assert_identical(configs: list[Any], joins: list[int] | None = None, pm=PM) -> None:
    data = load_data(configs[0], pm)
    alone = [Trainer(config, plugin_manager=pm, data=data).fit() for config in configs]
    stacked = _stacked(configs, joins or [0] * len(configs), pm)
    for i, expected in enumerate(alone):
        got = stacked[i]
        a = expected.history.drop(columns="epoch_seconds")
        b = got.history.drop(columns="epoch_seconds")
        assert a.equals(b), f"run {i}: learning curves differ\n{a}\n{b}"
        assert got.metrics == expected.metrics, i
        assert got.stop_reason == expected.stop_reason, i
        assert got.epochs_run == expected.epochs_run, i
        for name, value in expected.model.params.items():
            assert np.array_equal(got.model.params[name], value), (i, name)
            assert got.model.params[name].shape == value.shape


#: Four runs of one optimizer, with different learning rates and (where it has them) options.
OPTIMIZERS = {
    "sgd": {},
    "momentum": {"optimizer.beta": [0.5, 0.9, 0.95, 0.8]},
    "nesterov": {"optimizer.beta": [0.5, 0.9, 0.95, 0.8]},
    "adagrad": {},
    "rmsprop": {"optimizer.beta": [0.9, 0.99, 0.8, 0.95]},
    "adam": {"optimizer.beta1": [0.9, 0.8, 0.95, 0.85], "optimizer.beta2": [0.999, 0.99] * 2},
    "adamw": {"optimizer.weight_decay": [0.0, 0.01, 0.1, 0.001]},
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_stacked_trains_each_run_as_alone(name):
    lrs = [0.01, 0.05, 0.002, 0.03]
    variants = []
    for i in range(4):
        variant = {"optimizer.name": name, "optimizer.lr": lrs[i]}
        variant.update({path: values[i] for path, values in OPTIMIZERS[name].items()})
        variants.append(variant)
    # runs join at different epochs: their step counts differ (Adam's bias correction)
    _assert_identical(_runs(BASE, variants), joins=[0, 0, 2, 3])


@pytest.mark.parametrize(
    ("regularizers", "variants"),
    [
        ({"l2": {"lam": 1e-3}}, {"regularizers.l2.lam": [1e-3, 1e-2, 0.0, 1e-4]}),
        ({"l1": {"lam": 1e-3}}, {"regularizers.l1.lam": [1e-3, 1e-2, 0.0, 1e-4]}),
        (
            {"l1": {"lam": 1e-3}, "elastic_net": {"lam": 1e-3, "l1_ratio": 0.5}},
            {"regularizers.elastic_net.l1_ratio": [0.0, 0.3, 0.7, 1.0]},
        ),
        ({"dropout": {"rate": 0.2}}, {"regularizers.dropout.rate": [0.0, 0.2, 0.5, 0.7]}),
    ],
    ids=["l2", "l1", "l1+elastic_net", "dropout"],
)
def test_every_regularizer_stacked_trains_each_run_as_alone(regularizers, variants):
    base = {**BASE, "regularizers": regularizers}
    runs = [{path: values[i] for path, values in variants.items()} for i in range(4)]
    _assert_identical(_runs(base, runs), joins=[0, 1, 1, 4])


@pytest.mark.parametrize(
    ("schedule", "path", "values"),
    [
        ({"name": "constant"}, "optimizer.lr", [0.01, 0.02, 0.05, 0.1]),
        ({"name": "step", "step_size": 2, "gamma": 0.5}, "schedule.gamma", [0.1, 0.5, 0.9, 0.3]),
        ({"name": "exponential", "gamma": 0.9}, "schedule.gamma", [0.5, 0.9, 0.99, 0.7]),
        ({"name": "cosine"}, "train.epochs", [4, 6, 8, 5]),
        ({"name": "warmup", "warmup_epochs": 2}, "schedule.warmup_epochs", [1, 2, 3, 4]),
        (
            {"name": "warmup_cosine", "warmup_epochs": 2},
            "schedule.warmup_epochs",
            [1, 2, 3, 1],
        ),
    ],
    ids=lambda v: v["name"] if isinstance(v, dict) else None,
)
def test_every_schedule_stacked_trains_each_run_as_alone(schedule, path, values):
    runs = _runs({**BASE, "schedule": schedule}, [{path: v} for v in values])
    _assert_identical(runs, joins=[0, 0, 1, 2])


@pytest.mark.parametrize(
    ("callbacks", "variants"),
    [
        (
            {"early_stopping": {"monitor": "val_loss", "patience": 1, "restore_best": True}},
            {"callbacks.early_stopping.patience": [1, 2, 3, 1]},
        ),
        (
            {"gradient_clipping": {"by": "norm", "threshold": 0.5}},
            {"callbacks.gradient_clipping.threshold": [0.05, 0.5, 5.0, 0.1]},
        ),
        (
            {"gradient_clipping": {"by": "value", "threshold": 0.5}},
            {"callbacks.gradient_clipping.threshold": [0.01, 0.1, 1.0, 0.05]},
        ),
        ({"weight_stats": {}}, {"optimizer.lr": [0.01, 0.05, 0.1, 0.2]}),
        ({"divergence_guard": {}}, {"optimizer.lr": [0.01, 1e3, 1e5, 0.1]}),
        ({"parameters": {"names": ["W3", "b2"]}}, {"optimizer.lr": [0.01, 0.05, 0.1, 0.2]}),
    ],
    ids=[
        "early_stopping",
        "clipping-norm",
        "clipping-value",
        "weight_stats",
        "divergence",
        "parameters",
    ],
)
def test_every_callback_stacked_sees_its_own_run(callbacks, variants):
    base = {**BASE, "train": {"epochs": 12, "batch_size": 32}, "callbacks": callbacks}
    runs = [{path: values[i] for path, values in variants.items()} for i in range(4)]
    _assert_identical(_runs(base, runs), joins=[0, 0, 3, 5])


def test_half_mse_runs_stack_together_and_never_with_mse_runs():
    base = {
        **BASE,
        "data": {"dataset": "diabetes", "seed": 0, "scale_target": "standard"},
        "model": {"task": "regression", "hidden": [8], "loss": "half_mse"},
    }
    runs = _runs(base, [{"optimizer.lr": lr} for lr in (0.01, 0.05, 0.1)])
    _assert_identical(runs, joins=[0, 1, 2])
    data = load_data(runs[0], PM)
    mse = validate({**base, "model": {**base["model"], "loss": "mse"}})
    half = Trainer(runs[0], plugin_manager=PM, data=data)
    assert stack_key(Trainer(mse, plugin_manager=PM, data=data)) != stack_key(half)


def test_a_diverged_run_stops_alone_and_its_stack_mates_go_on():
    runs = _runs(BASE, [{"optimizer.lr": lr} for lr in (0.05, 1e300, 0.01)])
    results = _stacked(runs, [0, 0, 0])
    assert results[1].stop_reason == "diverged"
    assert [results[i].stop_reason for i in (0, 2)] == ["completed", "completed"]
    assert results[0].epochs_run == 6 and results[1].epochs_run < 6


@pytest.mark.parametrize(
    "model",
    [
        {"task": "binary", "hidden": [16, 8], "batch_norm": True},
        {"task": "binary", "hidden": [8], "batch_norm": {"momentum": 0.5}},
    ],
)
def test_batch_norm_stacked_trains_each_run_as_alone(model):
    runs = _runs({**BASE, "model": model}, [{"optimizer.lr": lr} for lr in (0.01, 0.1, 0.05)])
    _assert_identical(runs, joins=[0, 1, 2])


@pytest.mark.parametrize(
    ("data", "model", "optimizer"),
    [
        ({"dataset": "iris"}, {"task": "multiclass", "hidden": [8]}, "rmsprop"),
        (
            {"dataset": "diabetes", "scale_target": "standard"},
            {"task": "regression", "hidden": [8]},
            "adam",
        ),
    ],
    ids=["multiclass", "regression"],
)
def test_every_task_stacked_trains_each_run_as_alone(data, model, optimizer):
    base = {
        **BASE,
        "data": data,
        "model": model,
        "optimizer": {"name": optimizer},
        "regularizers": {"dropout": {"rate": 0.2}},
        "train": {"epochs": 5, "batch_size": 16},
    }
    runs = _runs(base, [{"optimizer.lr": lr} for lr in (0.01, 0.03, 0.005)])
    _assert_identical(runs, joins=[0, 0, 2])


def test_no_shuffle_and_evaluating_every_third_epoch():
    base = {**BASE, "train": {"epochs": 7, "batch_size": 50, "shuffle": False, "eval_every": 3}}
    _assert_identical(_runs(base, [{"optimizer.lr": lr} for lr in (0.01, 0.1)]), joins=[0, 2])


@pytest.mark.parametrize(
    ("base", "variants"),
    [
        (  # the training split from the batches, with dropout, a per-batch schedule, L2
            {
                **BASE,
                "train": {"epochs": 6, "batch_size": 32, "evaluate": {"train": "batches"}},
                "regularizers": {"dropout": {"rate": 0.3}, "l2": {"lam": 1e-3}},
                "schedule": {"name": "cosine", "interval": "batch"},
            },
            {"optimizer.lr": [0.01, 0.1, 0.05]},
        ),
        (  # R² from the batches' sums; batch norm on the batches' statistics
            {
                **BASE,
                "data": {"dataset": "diabetes", "seed": 0, "scale_target": "standard"},
                "model": {"task": "regression", "hidden": [8], "batch_norm": True},
                "train": {"epochs": 5, "batch_size": 16, "evaluate": {"train": "batches"}},
            },
            {"optimizer.lr": [0.01, 0.05, 0.02]},
        ),
        (  # the test split every epoch, every second epoch evaluated
            {**BASE, "train": {"epochs": 7, "eval_every": 2, "evaluate": {"test": "every_epoch"}}},
            {"optimizer.lr": [0.01, 0.1, 0.05]},
        ),
        (  # every split in chunks of rows (a 512-wide layer: 1024 rows a chunk in float64)
            {
                **BASE,
                "data": {"dataset": {"name": "moons", "n_samples": 6000}, "seed": 0},
                "model": {"task": "binary", "hidden": [512]},
                "train": {"epochs": 3, "batch_size": 500, "evaluate": {"test": "every_epoch"}},
                "optimizer": {"name": "adam", "lr": 0.01},
                "callbacks": {"early_stopping": {"monitor": "test_loss", "patience": 1}},
            },
            {"optimizer.lr": [0.01, 0.001, 0.003]},
        ),
    ],
    ids=["train from batches", "regression from batches", "test every epoch", "in chunks"],
)
def test_every_way_of_evaluating_stacked_gives_each_run_as_alone(base, variants):
    runs = _runs(base, [{p: values[i] for p, values in variants.items()} for i in range(3)])
    if base["model"]["hidden"] == [512]:
        trainer = Trainer(runs[0], plugin_manager=PM)
        assert trainer.prepare_steps(callbacks=()).chunk_rows < len(trainer.data.X_train)
    _assert_identical(runs, joins=[0, 1, 1])


def test_runs_that_evaluate_otherwise_stack_apart():
    base = _runs(BASE, [{}])[0]
    data = load_data(base, PM)

    def key(evaluate: dict[str, str]) -> Any:
        run = base.to_dict()
        run["train"]["evaluate"] = evaluate
        return stack_key(Trainer(validate(run), plugin_manager=PM, data=data))

    assert key({}) == key({"train": "full", "test": "end"})
    assert key({"train": "batches"}) != key({})
    assert key({"test": "every_epoch"}) != key({})


def test_continuous_batching_refills_a_freed_slot_at_the_next_epoch():
    """Four runs through a stack of two: the third and fourth take the slots the first two
    free, one epoch boundary later, and every run is still the run it would be alone."""
    runs = _runs(BASE, [{"train.epochs": e} for e in (2, 5, 3, 3)])
    data = load_data(runs[0], PM)
    stack = RunStack(2, PM)
    trainers = [Trainer(config, plugin_manager=PM, data=data) for config in runs]
    waiting = list(enumerate(trainers))
    occupancy, ended_at = [], {}
    epoch = 0
    while len(ended_at) < 4:
        while waiting and stack.free:
            i, trainer = waiting.pop(0)
            stack.add(trainer, i)
        occupancy.append(sorted(stack.tags))
        for tag, result in stack.run_epoch():
            ended_at[tag] = (epoch, result)
        epoch += 1
    assert occupancy[:2] == [[0, 1], [0, 1]]
    assert occupancy[2] == [1, 2]  # run 0 ended after epoch 1; run 2 took its slot
    assert all(len(tags) <= 2 for tags in occupancy)
    assert {tag: at for tag, (at, _) in ended_at.items()} == {0: 1, 1: 4, 2: 4, 3: 7}
    alone = [Trainer(config, plugin_manager=PM, data=data).fit() for config in runs]
    for i, (_, result) in ended_at.items():
        assert result.history.drop(columns="epoch_seconds").equals(
            alone[i].history.drop(columns="epoch_seconds")
        )


def test_runs_of_other_shapes_or_optimizers_have_other_stack_keys():
    base = _runs(BASE, [{}])[0]
    data = load_data(base, PM)

    def key(**changes: Any) -> Any:
        run = base.to_dict()
        for path, value in changes.items():
            set_path(run, path.replace("__", "."), value)
        return stack_key(Trainer(validate(run), plugin_manager=PM, data=data))

    same = key(optimizer__lr=0.5, train__seed=3, train__epochs=9)
    assert same == key()
    assert key(model__hidden=[32, 8]) != key()
    assert key(train__batch_size=64) != key()
    assert key(optimizer__name="adam") != key()
    assert key(model__dtype="float32") != key()


class Alone(Optimizer):
    """An optimizer that keeps a Python float it cannot stack, and says so."""

    stackable = False

    def __init__(self, lr: float = 0.1) -> None:
        self.lr = lr

    def update(self, param, grad, state, lr):
        param -= lr * grad


class AlonePlugin:
    @hookimpl
    def sweepnp_register_optimizers(self):
        return {"alone": Alone}


def test_a_plugin_that_declares_it_cannot_stack_has_no_stack_key():
    pm = PluginManager(load_entrypoints=False, extra=(AlonePlugin(),))
    (run,) = _runs({**BASE, "optimizer": {"name": "alone"}}, [{}])
    trainer = Trainer(run, plugin_manager=pm)
    assert stack_key(trainer) is None


class Raising(Callback):
    def on_epoch_end(self, epoch, logs):
        if epoch == 1:
            raise RuntimeError("boom")


class RaisingPlugin:
    @hookimpl
    def sweepnp_register_callbacks(self):
        return {"raising": Raising}


def test_a_plugin_raising_in_one_run_ends_that_run_only():
    pm = PluginManager(load_entrypoints=False, extra=(RaisingPlugin(),))
    runs = _runs(BASE, [{}, {"callbacks.raising": {}}, {}])
    data = load_data(runs[0], pm)
    stack = RunStack(3, pm)
    for i, run in enumerate(runs):
        stack.add(Trainer(run, plugin_manager=pm, data=data), i)
    ended: dict[int, Any] = {}
    while len(ended) < 3:
        ended.update(dict(stack.run_epoch()))
    assert isinstance(ended[1], RuntimeError)
    assert ended[0].stop_reason == ended[2].stop_reason == "completed"
    assert ended[0].epochs_run == 6


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dropout_draws_an_epochs_masks_at_once_exactly_as_in_turn(dtype):
    """A stack asks each trial for an epoch's masks in one go: they must be the masks the
    batch-by-batch calls give, and leave the generator where those calls leave it."""
    dropout = PM.registry["regularizers"]["dropout"].factory(rate=0.3)
    shapes = [(32, 16), (32, 8)] * 10 + [(21, 16), (21, 8)]
    in_turn, at_once = np.random.default_rng(7), np.random.default_rng(7)
    expected = [dropout.mask(shape, in_turn, dtype) for shape in shapes]
    got = dropout.masks(shapes, at_once, dtype)
    assert len(got) == len(expected)
    for a, b in zip(expected, got, strict=True):
        assert a.dtype == b.dtype == dtype and np.array_equal(a, b)
    assert in_turn.random() == at_once.random()
