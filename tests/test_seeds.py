"""The source exercises (../shared/seeds), reproduced as tests."""

from __future__ import annotations

import numpy as np
import pytest

import sweepnp

SEED_000_PART_A = {
    "data": {"dataset": "breast_cancer", "test_size": 0.2, "val_size": 0.0, "seed": 42},
    "model": {
        "task": "binary",
        "hidden": [16],
        "activation": "relu",
        "init": {"name": "normal", "std": 0.01},
    },
    "train": {"epochs": 100, "batch_size": 32, "seed": 42},
    "optimizer": {"name": "sgd", "lr": 0.05},
}


def test_seed_000_part_a_minibatch_sgd_reaches_train_accuracy_097():
    result = sweepnp.train(SEED_000_PART_A)
    assert result.stop_reason == "completed"
    assert result.epochs_run == 100
    assert result.metrics["accuracy"] >= 0.97
    # The loss falls from chance level (≈ ln 2) as in the exercise's printout (0.68 → 0.05).
    assert result.history["loss"].iloc[0] > 0.6
    assert result.history["loss"].iloc[-1] < 0.08


def test_seed_000_part_b_l2_keeps_weights_smaller():
    plain = sweepnp.train(SEED_000_PART_A)
    with_l2 = sweepnp.train({**SEED_000_PART_A, "regularizers": {"l2": {"lam": 0.01}}})
    assert with_l2.metrics["accuracy"] >= 0.97
    norm = lambda r: sum(float(np.sum(r.model.params[w] ** 2)) for w in ("W1", "W2"))  # noqa: E731
    assert norm(with_l2) < norm(plain)


def test_seed_000_part_c_overfits_50_samples():
    config = {
        **SEED_000_PART_A,
        "data": {**SEED_000_PART_A["data"], "subsample": 50},
        "model": {**SEED_000_PART_A["model"], "hidden": [128]},
        "train": {"epochs": 1000, "batch_size": 32, "seed": 42, "eval_every": 100},
    }
    result = sweepnp.train(config)
    assert result.metrics["accuracy"] == 1.0
    assert result.metrics["test_accuracy"] < result.metrics["accuracy"]


def test_seed_004_l2_linear_regression_settles_at_0_8890():
    config = {
        "data": {
            "dataset": {"name": "linear", "n_samples": 100, "noise": 0.5},
            "seed": 0,
            "test_size": 0.0,
            "val_size": 0.0,
            "scale": "none",
        },
        "model": {"task": "regression", "hidden": []},
        "train": {"epochs": 200, "batch_size": "full", "seed": 0},
        "optimizer": {"name": "sgd", "lr": 0.05},
        "regularizers": {"l2": {"lam": 0.1}},
    }
    result = sweepnp.train(config)
    assert result.metrics["loss"] == pytest.approx(0.8890, abs=5e-4)  # MSE + ½λΣW²
    assert result.metrics["mse"] == pytest.approx(0.2443, abs=5e-4)
    np.testing.assert_allclose(result.model.params["W1"].ravel(), [1.903, -2.883, 0.981], atol=1e-3)


def test_seed_001_digits_0_vs_1_logistic_regression():
    config = {
        "data": {"dataset": "digits01", "test_size": 0.2, "val_size": 0.0, "seed": 0},
        "model": {"task": "binary", "hidden": [], "init": "zeros"},
        "train": {"epochs": 20, "batch_size": 32, "seed": 0},
        "optimizer": {"name": "sgd", "lr": 0.1},
    }
    result = sweepnp.train(config)
    assert result.metrics["test_accuracy"] >= 0.99


def _seed_001_loop(X, y, lr, epochs, batch_size, activation=lambda z: z):
    """Seed 001's gradient_descent_no_shuffle (exercise 4), verbatim in substance."""
    W, b = np.zeros((1, 1)), np.zeros((1, 1))
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            X_batch, y_batch = X[start : start + batch_size], y[start : start + batch_size]
            error = activation(X_batch @ W + b) - y_batch
            W = W - lr * (X_batch.T @ error) / len(X_batch)
            b = b - lr * np.mean(error)
    return W.item(), b.item()


LINEAR_RUN = {
    "data": {"test_size": 0.0, "val_size": 0.0, "scale": "none"},
    "model": {"task": "regression", "hidden": [], "init": "zeros"},
    "train": {"epochs": 5, "shuffle": False},
    "optimizer": {"name": "sgd"},
}


@pytest.mark.parametrize("batch_size", [2, 4])
def test_seed_001_exercises_1_2_4_y_equals_2x_without_shuffling(batch_size):
    # Seed 001 writes the MSE gradient without the factor 2 of d/dŷ mean((ŷ-y)²); sweepnp keeps
    # seed 004's exact 2/N, so its lr 0.005 takes the very steps of the exercise's lr 0.01.
    X = np.arange(1, 9, dtype=float).reshape(-1, 1)
    y = 2 * X
    config = {
        **LINEAR_RUN,
        "train": {**LINEAR_RUN["train"], "batch_size": batch_size},
        "optimizer": {"name": "sgd", "lr": 0.005},
    }
    result = sweepnp.train(config, X=X, y=y.ravel())
    expected_W, expected_b = _seed_001_loop(X, y, lr=0.01, epochs=5, batch_size=batch_size)
    assert result.model.params["W1"].item() == pytest.approx(expected_W, rel=1e-12)
    assert result.model.params["b1"].item() == pytest.approx(expected_b, rel=1e-12)
    # and the fit heads for w = 2: the loss ends far below where the first epoch left it
    assert result.history["loss"].iloc[-1] < 0.01 * result.history["loss"].iloc[0]


def test_seed_001_exercise_3_logistic_regression_without_shuffling():
    X = np.array([[0.5], [1.5], [1.0], [2.0], [3.0], [2.5]])
    y = np.array([[0.0], [0.0], [0.0], [1.0], [1.0], [1.0]])
    config = {
        **LINEAR_RUN,
        "model": {"task": "binary", "hidden": [], "init": "zeros"},
        "train": {"epochs": 10, "batch_size": 2, "shuffle": False},
        "optimizer": {"name": "sgd", "lr": 0.01},
    }
    result = sweepnp.train(config, X=X, y=y.ravel())
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    expected_W, expected_b = _seed_001_loop(X, y, 0.01, 10, 2, activation=sigmoid)
    assert result.model.params["W1"].item() == pytest.approx(expected_W, rel=1e-12)
    assert result.model.params["b1"].item() == pytest.approx(expected_b, rel=1e-12)


def test_seed_003_xor_with_a_2_4_1_network():
    config = {
        "data": {"dataset": "xor", "test_size": 0.0, "val_size": 0.0, "scale": "none"},
        "model": {"task": "binary", "hidden": [4], "activation": "tanh", "init": "xavier"},
        "train": {"epochs": 2000, "batch_size": "full", "seed": 1, "eval_every": 100},
        "optimizer": {"name": "sgd", "lr": 0.5},
    }
    result = sweepnp.train(config)
    assert result.metrics["accuracy"] == 1.0
    np.testing.assert_array_equal(
        result.model.predict([[0, 0], [0, 1], [1, 0], [1, 1]]), [0, 1, 1, 0]
    )
