"""The dense network: gradients, predictions, dtypes, batch norm."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import sweepnp
from sweepnp.model import ACTIVATIONS, DenseNetwork, Model
from sweepnp.plugins import PluginManager

TASKS = ("binary", "multiclass", "regression")
PENALTIES = {
    "none": None,
    "l1": ("l1", {"lam": 0.05}),
    "l2": ("l2", {"lam": 0.05}),
    "elastic_net": ("elastic_net", {"lam": 0.05, "l1_ratio": 0.3}),
    "batch_norm": None,
}


@pytest.fixture(scope="module")
def plugins():
    return PluginManager(load_entrypoints=False)


@pytest.mark.parametrize("variant", PENALTIES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("task", TASKS)
def test_gradient_check(task, activation, variant, plugins):
    regularizers = []
    if PENALTIES[variant] is not None:
        name, options = PENALTIES[variant]
        regularizers.append(plugins.build("regularizers", name, options, key=name))
    errors = sweepnp.check_gradients(
        task=task,
        activation=activation,
        regularizers=regularizers,
        batch_norm=variant == "batch_norm",
    )
    assert max(errors.values()) < 1e-6, errors


def test_half_mse_is_half_the_mse_and_its_gradient_checks():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((12, 5)), rng.standard_normal((12, 2))
    half = DenseNetwork(5, 2, task="regression", loss="half_mse", hidden=[4], rng=rng)
    full = DenseNetwork(5, 2, task="regression", hidden=[4], rng=np.random.default_rng(3))
    full.params = {name: value.copy() for name, value in half.params.items()}
    assert half.loss(X, y) == pytest.approx(0.5 * full.loss(X, y), rel=1e-15)
    z = half.logits(X)
    np.testing.assert_allclose(half.task.dlogits(z, y), 0.5 * full.task.dlogits(z, y), rtol=1e-15)
    # the mse metric stays mean((ŷ − y)²), whichever loss trains
    assert half.task.metrics(z, y)["mse"] == full.task.metrics(z, y)["mse"]
    errors = sweepnp.check_gradients(half, X, y)
    assert max(errors.values()) < 1e-6, errors


def test_model_loss_must_be_one_of_the_tasks_losses(small_run):
    with pytest.raises(sweepnp.ConfigError) as error:
        sweepnp.train({**small_run, "model": {**small_run["model"], "loss": "half_mse"}})
    assert error.value.key == "model.loss"
    assert "not a loss of a binary task; valid choices: bce" in str(error.value)


def test_gradient_check_detects_a_wrong_gradient():
    class WrongL2(sweepnp.Regularizer):
        def penalty(self, weight):
            return 0.5 * np.sum(weight**2)

        def gradient(self, weight):
            return 2 * weight  # should be weight

    errors = sweepnp.check_gradients(regularizers=[WrongL2()])
    assert max(errors[name] for name in ("W1", "W2", "W3")) > 1e-2
    assert errors["b1"] < 1e-6  # biases carry no penalty


def test_linear_model_has_one_layer_and_no_hidden_parameters():
    network = DenseNetwork(4, 1, task="binary", hidden=[], rng=np.random.default_rng(0))
    assert list(network.params) == ["W1", "b1"]
    assert network.weight_names == ("W1",)


def test_batch_norm_layers_carry_gamma_beta_instead_of_bias():
    network = DenseNetwork(4, 3, task="multiclass", hidden=[5, 5], batch_norm=_batch_norm())
    assert set(network.params) == {"W1", "gamma1", "beta1", "W2", "gamma2", "beta2", "W3", "b3"}
    assert set(network.buffers) == {
        "running_mean1",
        "running_var1",
        "running_mean2",
        "running_var2",
    }


def _batch_norm():
    from sweepnp.model import BatchNormOptions

    return BatchNormOptions()


def test_batch_norm_uses_running_statistics_in_evaluation():
    rng = np.random.default_rng(0)
    network = DenseNetwork(3, 1, task="regression", hidden=[4], batch_norm=_batch_norm(), rng=rng)
    X = rng.standard_normal((64, 3)) * 5 + 10
    y = rng.standard_normal((64, 1))
    before = network.logits(X)
    for _ in range(200):
        network.gradients(X, y)  # training passes move the running statistics toward the batch's
    np.testing.assert_allclose(network.buffers["running_mean1"], (X @ network.params["W1"]).mean(0))
    after = network.logits(X)
    assert not np.allclose(before, after)
    # in evaluation one row's output does not depend on the rest of the batch
    np.testing.assert_allclose(network.logits(X[:1]), after[:1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_selectable_end_to_end(dtype, small_run):
    small_run["model"]["dtype"] = dtype
    result = sweepnp.train(small_run)
    assert all(p.dtype == np.dtype(dtype) for p in result.model.params.values())
    assert result.metrics["accuracy"] > 0.8


def test_predict_and_predict_proba_take_raw_features_and_return_original_labels():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 2)) * [100.0, 0.01] + [1000.0, 5.0]  # far from standardized
    labels = np.where(X[:, 0] > 1000.0, "big", "small")
    config = {
        "data": {"test_size": 0.0, "val_size": 0.0},
        "model": {"task": "binary", "hidden": [4]},
        "train": {"epochs": 60},
        "optimizer": {"name": "sgd", "lr": 0.5},
    }
    model = sweepnp.train(config, X=X, y=labels).model
    assert isinstance(model, Model)
    assert set(model.predict(X)) == {"big", "small"}
    assert np.mean(model.predict(X) == labels) > 0.95
    proba = model.predict_proba(X)
    assert proba.shape == (200, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # column order follows model.classes, as in scikit-learn
    assert list(model.classes) == ["big", "small"]
    assert np.mean((proba[:, 1] > 0.5) == (labels == "small")) > 0.95


def test_multiclass_predict_proba_and_regression_predict():
    multiclass = sweepnp.train(
        {"data": {"dataset": "iris", "seed": 0}, "train": {"epochs": 100, "batch_size": 16}}
    )
    assert multiclass.model.task == "multiclass"
    proba = multiclass.model.predict_proba(np.zeros((3, 4)))
    assert proba.shape == (3, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert multiclass.metrics["val_accuracy"] > 0.8

    regression = sweepnp.train({"data": {"dataset": "diabetes"}, "train": {"epochs": 20}})
    assert regression.model.predict(np.zeros((5, 10))).shape == (5,)
    with pytest.raises(AttributeError):
        regression.model.predict_proba(np.zeros((5, 10)))


def test_a_trained_model_pickles_and_predicts_the_same(small_run):
    result = sweepnp.train(small_run)
    again = pickle.loads(pickle.dumps(result.model))
    X = np.random.default_rng(0).normal(size=(7, again.network.params["W1"].shape[0]))
    np.testing.assert_array_equal(again.predict_proba(X), result.model.predict_proba(X))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_scales_raw_inputs_as_training_did_and_keeps_the_dtype(small_run, dtype):
    small_run["model"]["dtype"] = dtype
    trainer = sweepnp.Trainer(small_run)
    result = trainer.fit()
    X_raw = np.random.default_rng(1).normal(size=(5, trainer.data.n_features)) * 10 + 3
    prepared = result.model._prepare(X_raw)
    assert prepared.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(prepared, trainer.data.transform(X_raw))
    assert result.model.decision_function(X_raw).dtype == np.dtype(dtype)
