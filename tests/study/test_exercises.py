"""Every study in studies/ runs in its quick mode, and shows the direction of its finding.

Each test runs one study file exactly as ``sweepnp study run FILE --quick`` does (into a journal in
a temporary folder) and reads the results through ``sweepnp.results``, as a user would. Those are
whole studies (up to 42 trials): marked slow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sweepnp.results
from sweepnp.study.spec import load_spec
from sweepnp.study.worker import run_study

STUDIES = Path(__file__).resolve().parents[2] / "studies"


def run_quick(name: str, journal: str) -> sweepnp.results.StudyResults:
    spec = load_spec(STUDIES / f"{name}.toml", quick=True)
    run_study(STUDIES / f"{name}.toml", storage=journal, spec=spec)
    return sweepnp.results.load(spec.name, journal)


def final(res: sweepnp.results.StudyResults, metric: str, by: str) -> pd.Series:
    """The mean over repeats of a final metric, per value of one searched parameter."""
    trials = res.trials
    return trials.set_index(trials[by].astype(str))[f"final_{metric}"]


def key(**table) -> str:
    """How a table-valued choice reads in the results' parameter columns: as Optuna stores it."""
    return json.dumps(table)


def test_every_study_names_the_seed_it_reproduces_and_has_a_quick_mode():
    files = sorted(STUDIES.glob("*.toml"))
    exercises = [f for f in files if f.stem != "quickstart"]
    assert len(exercises) >= 13
    for file in files:
        head = file.read_text().split("\n[", 1)[0]
        assert "seed 00" in head, f"{file.name} does not name the seed it reproduces"
        spec = load_spec(file, quick=True, validate_runs=False)
        assert spec.study.quick, f"{file.name} has no [study.quick]"
        assert spec.name == f"{spec.study.name or file.stem}-quick"


def test_docs_exercises_has_a_section_for_every_study():
    docs = (STUDIES.parent / "docs" / "exercises.md").read_text()
    for file in STUDIES.glob("*.toml"):
        if file.stem != "quickstart":
            assert f"\n## {file.stem}\n" in docs, file.name
            assert f"sweepnp study run studies/{file.name}" in docs, file.name


@pytest.mark.slow
def test_minibatch_small_batches_learn_more_per_epoch_and_take_longer(journal):
    res = run_quick("minibatch", journal)
    assert (res.trials["state"] == "complete").all()
    loss = final(res, "loss", "train.batch_size")
    assert loss["8"] < loss["128"] < loss["full"] * 1.0001
    seconds = (
        res.history.query("metric == 'epoch_seconds'")
        .merge(res.trials[["number", "train.batch_size"]], left_on="trial", right_on="number")
        .groupby("train.batch_size", observed=True)["value"]
        .median()
    )
    assert seconds[1] > 5 * seconds["full"]


@pytest.mark.slow
def test_l2_shrinks_the_weights(journal):
    res = run_quick("l2", journal)
    norm = final(res, "weight_l2", "regularizers")
    assert norm[key(l2={"lam": 0.1})] < norm[key(l2={"lam": 0.01})] < norm[key()]


@pytest.mark.slow
def test_l2_linear_reproduces_seed_004(journal):
    res = run_quick("l2_linear", journal)
    loss = final(res, "loss", "regularizers.l2.lam")
    assert round(loss["0.1"], 4) == 0.8890  # seed 004's printed loss, every digit
    weights = final(res, "weight_l2", "regularizers.l2.lam")
    assert weights.sort_index(key=lambda s: s.astype(float)).is_monotonic_decreasing


@pytest.mark.slow
def test_overfitting_without_regularization_fits_the_training_set_and_l2_closes_the_gap(journal):
    res = run_quick("overfitting", journal)
    train = final(res, "accuracy", "regularizers")
    test = final(res, "test_accuracy", "regularizers")
    gap = train - test
    assert train[key()] == 1.0
    assert test[key()] < 1.0
    assert gap[key(l2={"lam": 0.2})] < gap[key()]


@pytest.mark.slow
def test_dropout_rates_training_accuracy_falls_as_the_rate_rises(journal):
    res = run_quick("dropout_rates", journal)
    summary = res.summary(by="regularizers.dropout.rate", metrics=["accuracy", "val_accuracy"])
    assert (summary["n"] == 2).all()
    train = summary.set_index("regularizers.dropout.rate")["accuracy_mean"].sort_index()
    assert train[0.7] < train[0.5] < train[0.0]
    assert train.idxmin() == 0.7


@pytest.mark.slow
def test_optimizers_adam_beats_sgd_after_10_epochs_at_the_same_learning_rate(journal):
    res = run_quick("optimizers", journal)
    trials = res.trials.set_index(["optimizer.name", "optimizer.lr"])["number"]
    loss = res.history.query("metric == 'loss' and epoch == 9").set_index("trial")["value"]
    for lr in (0.001, 0.01):
        assert loss[trials[("adam", lr)]] < loss[trials[("sgd", lr)]]
    # Tuned, every optimizer reaches a test accuracy above 0.9.
    best = res.trials.groupby("optimizer.name", observed=True)["final_test_accuracy"].max()
    assert len(best) == 7
    assert (best > 0.9).all()


@pytest.mark.slow
def test_schedules_follow_their_formulas(journal):
    res = run_quick("schedules", journal)
    lr = (
        res.history.query("metric == 'lr' and repeat == 0")
        .merge(res.trials[["number", "schedule"]], left_on="trial", right_on="number")
        .pivot(index="epoch", columns="schedule", values="value")
    )
    lr.columns = [str(c) for c in lr.columns]
    step = lr[key(name="step", step_size=20, gamma=0.5)]
    assert step[19] == 0.1 and step[20] == pytest.approx(0.05)
    assert (lr[key(name="constant")] == 0.1).all()
    cosine = lr[key(name="cosine")]
    assert cosine.is_monotonic_decreasing and cosine.iloc[-1] < 0.01
    warmup = lr[key(name="warmup_cosine", warmup_epochs=5)]
    assert warmup[0] == pytest.approx(0.02) and warmup.idxmax() == 4
    # every epoch of the quick mode's 25, at the value of its formula (docs/run-files.md)
    t = np.arange(25)
    assert list(lr.index) == list(t)
    expected = {
        key(name="constant"): np.full(25, 0.1),
        key(name="step", step_size=20, gamma=0.5): 0.1 * 0.5 ** (t // 20),
        key(name="cosine"): 0.05 * (1 + np.cos(np.pi * t / 25)),  # lr_min 0, over the run
        key(name="warmup_cosine", warmup_epochs=5): np.where(
            t < 5, 0.1 * (t + 1) / 5, 0.05 * (1 + np.cos(np.pi * (t - 5) / 20))
        ),
    }
    assert sorted(lr.columns) == sorted(expected)
    for schedule, values in expected.items():
        np.testing.assert_allclose(lr[schedule], values, rtol=1e-12, err_msg=schedule)


@pytest.mark.slow
def test_early_stopping_smaller_patience_stops_no_later_and_lowers_the_test_loss(journal):
    res = run_quick("early_stopping", journal)
    trials = res.trials.set_index(res.trials["callbacks.early_stopping"].astype(str))

    def patience(n: int) -> str:
        return key(monitor="val_loss", patience=n, restore_best=True)

    epochs = trials["epochs"].astype(float)
    assert epochs[patience(5)] <= epochs[patience(10)] <= epochs[patience(20)] < epochs["False"]
    assert trials.loc["False", "stop_reason"] == "completed"
    assert trials.loc[patience(5), "stop_reason"] == "early_stopped"
    assert trials.loc[patience(5), "final_test_loss"] < trials.loc["False", "final_test_loss"]


@pytest.mark.slow
def test_l1_leaves_more_near_zero_weights_than_l2_at_equal_lambda(journal):
    res = run_quick("l1_vs_l2", journal)
    near_zero = final(res, "near_zero_weights", "regularizers")
    for lam in (0.0001, 0.001):
        l1, l2 = (near_zero[key(**{name: {"lam": lam}})] for name in ("l1", "l2"))
        assert l1 > l2


@pytest.mark.slow
def test_batchnorm_makes_training_less_sensitive_to_learning_rate_and_init(journal):
    res = run_quick("batchnorm", journal)
    trials = res.trials
    accuracy = trials["final_val_accuracy"].where(trials["state"] == "complete", 0.0)
    by_bn = accuracy.groupby(trials["model.batch_norm"], observed=True)
    assert by_bn.mean()[True] > by_bn.mean()[False]
    assert by_bn.min()[True] > by_bn.min()[False]
    assert not (trials["model.batch_norm"].astype(bool) & (trials["state"] == "fail")).any()


@pytest.mark.slow
def test_digits01_every_batch_size_and_shuffling_separates_0_from_1(journal):
    res = run_quick("digits01", journal)
    assert len(res.trials) == 4
    assert (res.trials["final_test_accuracy"] >= 0.99).all()


@pytest.mark.slow
def test_clipping_keeps_a_run_finite_where_the_unclipped_one_diverges(journal):
    res = run_quick("clipping", journal)
    trials = res.trials.set_index(
        [res.trials["optimizer.lr"], res.trials["callbacks.gradient_clipping"].astype(str)]
    )
    assert trials.loc[(0.5, "False"), "stop_reason"] == "diverged"
    clipped = trials.loc[0.5].drop(index="False")
    assert len(clipped) == 2
    assert (clipped["state"] == "complete").all()
    assert np.isfinite(clipped["final_loss"]).all()
    assert trials.loc[(0.1, "False"), "state"] == "complete"


@pytest.mark.slow
def test_xor_a_hidden_layer_solves_it_and_a_linear_model_cannot(journal):
    res = run_quick("xor", journal)
    hidden = res.trials[res.trials["model.hidden"] == "[4]"]
    accuracy = hidden.set_index("model.activation")["final_accuracy"]
    assert accuracy["tanh"] == 1.0
    assert res.best()["model.activation"] == "tanh"
    # No line separates XOR: every seed of the linear model gets at most 3 of the 4 points, and
    # its loss stays at ln 2, that of calling every point 0.5.
    linear = res.trials.loc[res.trials["model.hidden"] == "[]", "number"]
    assert len(linear) > 0
    last = res.history.query("metric == 'accuracy' and trial in @linear")
    last = last[last["epoch"] == last["epoch"].max()]
    assert len(last) == len(linear) * 3  # every repeat of the quick mode's 3
    assert (last["value"] <= 0.75).all()
    loss = res.trials.loc[res.trials["model.hidden"] == "[]", "final_loss"]
    assert (loss > np.log(2) - 0.01).all()


def _seed_001_loop(X, y, lr, epochs, batch_size, activation, loss):
    """Seed 001's loop without shuffling (exercise 4): the final W, b and the loss per epoch."""
    W, b = np.zeros((1, 1)), np.zeros((1, 1))
    history = []
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            X_batch, y_batch = X[start : start + batch_size], y[start : start + batch_size]
            error = activation(X_batch @ W + b) - y_batch
            W = W - lr * (X_batch.T @ error) / len(X_batch)
            b = b - lr * np.mean(error)
        history.append(loss(activation(X @ W + b), y))
    return W.item(), b.item(), history


def _curve(res: sweepnp.results.StudyResults, trial: int, metric: str) -> np.ndarray:
    rows = res.history.query("trial == @trial and repeat == 0 and metric == @metric")
    return rows.sort_values("epoch")["value"].to_numpy()


@pytest.mark.slow
def test_y2x_reproduces_seed_001_exercises_1_2_and_4(journal):
    res = run_quick("y2x", journal)
    trials = res.trials.set_index(["train.batch_size", "train.shuffle"])
    X = np.arange(1.0, 9.0).reshape(-1, 1)
    for batch_size in (2, 4):
        W, b, losses = _seed_001_loop(
            X, 2 * X, 0.01, 5, batch_size, lambda z: z, lambda p, y: np.mean((p - y) ** 2)
        )
        seed = trials.loc[(batch_size, False)]
        assert seed["final_W1"] == pytest.approx(W, rel=1e-12)
        assert seed["final_b1"] == pytest.approx(b, rel=1e-12)
        np.testing.assert_allclose(_curve(res, seed["number"], "mse"), losses, rtol=1e-12)
    # the numbers the docs and the study file quote
    assert round(trials.loc[(2, False), "final_mse"], 4) == 0.0274
    assert round(trials.loc[(4, False), "final_mse"], 4) == 0.1327
    # batch size 2 makes twice the updates per epoch: lower loss after 5 epochs, shuffled or not
    mse = trials["final_mse"]
    assert mse[(2, False)] < mse[(4, False)] and mse[(2, True)] < mse[(4, True)]


@pytest.mark.slow
def test_logistic1d_reproduces_seed_001_exercise_3(journal):
    res = run_quick("logistic1d", journal)
    trials = res.trials.set_index(["optimizer.lr", "train.shuffle"])
    X = np.array([[0.5], [1.5], [1.0], [2.0], [3.0], [2.5]])
    y = np.array([[0.0], [0.0], [0.0], [1.0], [1.0], [1.0]])

    def bce(A, y):  # seed 001's binary_cross_entropy
        return -np.mean(y * np.log(A + 1e-15) + (1 - y) * np.log(1 - A + 1e-15))

    W, b, losses = _seed_001_loop(X, y, 0.01, 10, 2, lambda z: 1 / (1 + np.exp(-z)), bce)
    seed = trials.loc[(0.01, False)]
    assert seed["final_W1"] == pytest.approx(W, rel=1e-12)
    assert seed["final_b1"] == pytest.approx(b, rel=1e-12)
    np.testing.assert_allclose(_curve(res, seed["number"], "loss"), losses, rtol=1e-12)
    assert (round(W, 4), round(b, 4), round(losses[-1], 4)) == (0.1006, -0.0055, 0.6600)
    # at the seed's rate 10 epochs leave every point on the same side: accuracy 0.5
    assert seed["final_accuracy"] == 0.5
    # a larger rate learns more in the same 10 epochs, shuffled or not
    loss = trials["final_loss"]
    for shuffle in (False, True):
        assert loss[(1.0, shuffle)] < loss[(0.1, shuffle)] < loss[(0.01, shuffle)]


@pytest.mark.slow
def test_x_squared_reproduces_seed_003_learning_rate_demo(journal):
    res = run_quick("x_squared", journal)
    final_mse = res.trials.set_index("optimizer.lr")["final_mse"]
    for lr, printed in {0.01: 44.5700, 0.1: 0.0133, 0.5: 0.0, 1.1: 146977.1568}.items():
        x = 10.0
        for _ in range(20):
            x = x - lr * 2 * x  # seed 003's learning_rate_demo
        assert final_mse[lr] == pytest.approx(x**2, rel=1e-12, abs=1e-300)
        assert round(final_mse[lr], 4) == printed


@pytest.mark.slow
def test_learning_rates_too_small_right_too_large_and_divergent(journal):
    res = run_quick("learning_rates", journal)
    trials = res.trials.set_index("optimizer.lr")
    loss = res.history.query("metric == 'loss'")

    def curves(lr: float) -> list[np.ndarray]:
        rows = loss[loss["trial"] == trials.loc[lr, "number"]]
        return [g.sort_values("epoch")["value"].to_numpy() for _, g in rows.groupby("repeat")]

    # too small: after every epoch the loss is still within 0.01 of where it started (≈ ln 2)
    for curve in curves(0.001):
        assert np.all(np.diff(curve) < 0) and curve[0] - curve[-1] < 0.01
    # right: it falls every epoch, by more than 5×
    for curve in curves(0.05):
        assert np.all(np.diff(curve) < 0) and curve[-1] < curve[0] / 5
    # too large: it still ends low, but rises again in some epochs: it oscillates
    for curve in curves(2.0):
        assert np.sum(np.diff(curve) > 0) >= 1 and curve[-1] < curve[0]
    # divergent: the guard stops it when its loss overflows, and the curve up to then is kept
    assert trials.loc[10.0, "state"] == "fail"
    assert trials.loc[10.0, "stop_reason"] == "diverged"
    (curve,) = curves(10.0)
    epochs = res.trials["epochs"].max()  # per trial, summed over repeats
    assert 1 < len(curve) < epochs and curve[0] > 1e6 and not np.isfinite(curve[-1])


@pytest.mark.slow
def test_random_labels_are_memorized_not_learned(journal):
    res = run_quick("random_labels", journal)
    table = res.repeats_table()
    table["model.hidden"] = table["model.hidden"].astype(str)
    # Nothing to learn: every repeat validates near chance, 1/3 (80 rows: ±0.1 is 2 std errors)
    assert (abs(table["val_accuracy"] - 1 / 3) < 0.1).all()
    # ... yet the network fits its training rows, the larger one more
    training = table.groupby("model.hidden")["accuracy"].mean()
    assert training["[16, 8]"] > 0.45 and training["[64, 64]"] > training["[16, 8]"] + 0.05
    assert (table["accuracy"] > table["val_accuracy"]).all()


def test_random_labels_dataset_is_seed_003s_data():
    from sweepnp_plugins.datasets.synthetic import random_labels

    np.random.seed(42)  # noqa: NPY002 — seed 003 §5.3, verbatim
    X = np.random.randn(500, 4)  # noqa: NPY002
    y_labels = np.random.randint(0, 3, 500)  # noqa: NPY002
    data = random_labels(seed=42)
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.y, y_labels)
    assert data.task == "multiclass" and random_labels(n_classes=2, seed=0).task == "binary"
