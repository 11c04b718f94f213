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
    assert round(result.metrics["loss"], 4) == 0.8890  # MSE + ½λΣW²
    # The seed prints "Loss = 0.8890" at every 20th epoch from 60 on (its epochs 0-40 start
    # from its own random W).
    printed = {round(result.history["loss"].iloc[epoch], 4) for epoch in range(60, 200, 20)}
    assert printed == {0.8890}
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


def _seed_001_loop(X, y, lr, epochs, batch_size, activation=lambda z: z, loss=None):
    """Seed 001's gradient_descent_no_shuffle (exercise 4), verbatim in substance: the final W
    and b, and the loss it prints after every epoch (``loss(ŷ, y)`` on every row)."""
    W, b = np.zeros((1, 1)), np.zeros((1, 1))
    history = []
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            X_batch, y_batch = X[start : start + batch_size], y[start : start + batch_size]
            error = activation(X_batch @ W + b) - y_batch
            W = W - lr * (X_batch.T @ error) / len(X_batch)
            b = b - lr * np.mean(error)
        if loss is not None:
            history.append(loss(activation(X @ W + b), y))
    return W.item(), b.item(), history


def _mse_loss(y_pred, y):
    return np.mean((y_pred - y) ** 2)  # seed 001's mse_loss


def _binary_cross_entropy(A, y):
    epsilon = 1e-15  # seed 001's binary_cross_entropy
    return -np.mean(y * np.log(A + epsilon) + (1 - y) * np.log(1 - A + epsilon))


LINEAR_RUN = {
    "data": {"test_size": 0.0, "val_size": 0.0, "scale": "none"},
    "model": {"task": "regression", "hidden": [], "init": "zeros"},
    "train": {"epochs": 5, "shuffle": False},
    "optimizer": {"name": "sgd"},
}

#: What seed 001's exercises 1, 2 and 4 print without shuffling (its loop, run): W, b, losses.
SEED_001_Y_EQUALS_2X = {
    2: (1.9436, 0.3571, [5.9820, 0.3447, 0.0377, 0.0266, 0.0274]),
    4: (1.8760, 0.3302, [26.4605, 6.8527, 1.7754, 0.4669, 0.1327]),
}


@pytest.mark.parametrize("batch_size", [2, 4])
def test_seed_001_exercises_1_2_4_y_equals_2x_without_shuffling(batch_size):
    # Seed 001's update uses (ŷ − y)/N, the gradient of ½·mean((ŷ − y)²): with loss = "half_mse"
    # its own lr 0.01 takes its very steps, and the `mse` metric is the loss it prints.
    X = np.arange(1, 9, dtype=float).reshape(-1, 1)
    y = 2 * X
    config = {
        **LINEAR_RUN,
        "model": {**LINEAR_RUN["model"], "loss": "half_mse"},
        "train": {**LINEAR_RUN["train"], "batch_size": batch_size},
        "optimizer": {"name": "sgd", "lr": 0.01},
    }
    result = sweepnp.train(config, X=X, y=y.ravel())
    expected_W, expected_b, losses = _seed_001_loop(X, y, 0.01, 5, batch_size, loss=_mse_loss)
    assert result.model.params["W1"].item() == pytest.approx(expected_W, rel=1e-12)
    assert result.model.params["b1"].item() == pytest.approx(expected_b, rel=1e-12)
    np.testing.assert_allclose(result.history["mse"], losses, rtol=1e-12)
    np.testing.assert_allclose(result.history["loss"], np.multiply(losses, 0.5), rtol=1e-12)
    # the numbers the exercise prints, to the 4 decimals it prints them with
    W, b, printed = SEED_001_Y_EQUALS_2X[batch_size]
    assert round(expected_W, 4) == W and round(expected_b, 4) == b
    assert [round(v, 4) for v in losses] == printed


@pytest.mark.parametrize("batch_size", [2, 4])
def test_seed_001_lr_0_01_under_half_mse_is_lr_0_005_under_mse(batch_size):
    # The default loss, mean((ŷ − y)²), has gradient 2/N·(ŷ − y): half the rate takes the same
    # steps. (The last bit may differ: 2·0.005 and 0.01 round differently.)
    X = np.arange(1, 9, dtype=float).reshape(-1, 1)
    train = {**LINEAR_RUN["train"], "batch_size": batch_size}
    half = sweepnp.train(
        {
            **LINEAR_RUN,
            "model": {**LINEAR_RUN["model"], "loss": "half_mse"},
            "train": train,
            "optimizer": {"name": "sgd", "lr": 0.01},
        },
        X=X,
        y=2 * X.ravel(),
    )
    full = sweepnp.train(
        {**LINEAR_RUN, "train": train, "optimizer": {"name": "sgd", "lr": 0.005}},
        X=X,
        y=2 * X.ravel(),
    )
    for name in ("W1", "b1"):
        np.testing.assert_allclose(full.model.params[name], half.model.params[name], rtol=1e-12)
    np.testing.assert_allclose(full.history["loss"], half.history["mse"], rtol=1e-12)


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
    expected_W, expected_b, losses = _seed_001_loop(
        X, y, 0.01, 10, 2, activation=sigmoid, loss=_binary_cross_entropy
    )
    assert result.model.params["W1"].item() == pytest.approx(expected_W, rel=1e-12)
    assert result.model.params["b1"].item() == pytest.approx(expected_b, rel=1e-12)
    # sweepnp's cross-entropy from logits has no ε = 1e-15 inside the log: equal to ~1e-14
    np.testing.assert_allclose(result.history["loss"], losses, rtol=1e-12)
    assert (round(expected_W, 4), round(expected_b, 4), round(losses[-1], 4)) == (
        0.1006,
        -0.0055,
        0.6600,
    )


#: Seed 003 §4.1's learning_rate_demo: f(x) = x² from x = 10, 20 steps of x ← x − lr·2x.
SEED_003_RATES = {0.01: 44.5700, 0.1: 0.0133, 0.5: 0.0, 1.1: 146977.1568}


@pytest.mark.parametrize("lr", SEED_003_RATES)
def test_seed_003_learning_rate_demo_on_x_squared(lr):
    # One row x = 1 with target −10: the residual ŷ − y starts at 10, and a full-batch step of
    # half_mse (gradient: the residual, for W and for b) multiplies it by 1 − 2·lr.
    config = {
        **LINEAR_RUN,
        "data": {
            **LINEAR_RUN["data"],
            "dataset": {"name": "points", "X": [[1.0]], "y": [-10.0], "task": "regression"},
        },
        "model": {**LINEAR_RUN["model"], "loss": "half_mse"},
        "train": {"epochs": 20, "batch_size": "full", "shuffle": False},
        "optimizer": {"name": "sgd", "lr": lr},
    }
    result = sweepnp.train(config)
    x, history = 10.0, []
    for _ in range(20):
        x = x - lr * 2 * x
        history.append(x**2)
    np.testing.assert_allclose(result.history["mse"], history, rtol=1e-12, atol=1e-300)
    assert round(result.metrics["mse"], 4) == SEED_003_RATES[lr]  # the seed's "Final loss"


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
