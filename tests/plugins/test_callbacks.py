"""The built-in callbacks: early stopping, gradient clipping, divergence guard and diagnosis."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sweepnp
from sweepnp.diagnosis import LABELS, Remedies, diagnose
from sweepnp.errors import ConfigError, OptionError
from sweepnp.plugins import PluginManager
from sweepnp_plugins.callbacks.diagnosis import LearningCurveDiagnosis
from sweepnp_plugins.callbacks.divergence_guard import DivergenceGuard
from sweepnp_plugins.callbacks.early_stopping import EarlyStopping
from sweepnp_plugins.callbacks.gradient_clipping import GradientClipping, global_norm

# The three scenarios of seed 003, section 5.2, verbatim.
GOOD = (
    [2.0, 1.5, 1.0, 0.7, 0.5, 0.4, 0.35, 0.32, 0.30, 0.29],
    [2.1, 1.6, 1.1, 0.8, 0.6, 0.5, 0.45, 0.42, 0.40, 0.39],
)
OVERFITTING = (
    [2.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002],
    [2.1, 1.1, 0.6, 0.4, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8],
)
DIVERGING = (
    [2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0],
    [2.1, 3.5, 6.0, 15.0, 30.0, 70.0, 150.0, 300.0, 700.0, 1500.0],
)


def test_every_callback_is_registered_by_name():
    pm = PluginManager(load_entrypoints=False)
    assert {"early_stopping", "gradient_clipping", "divergence_guard", "diagnosis"} <= set(
        pm.names("callbacks")
    )


# -------------------------------------------------------------------------
# diagnose: the seed's analyze_learning_curves
# -------------------------------------------------------------------------


def test_diagnose_seed_good_training_is_still_improving_as_in_the_seed():
    # The seed's own function prints "TRAINING: Still improving" for this scenario: its
    # validation loss still fell 0.6 - 0.39 ... = 0.11 over the last five epochs.
    assert diagnose(*GOOD) == ("still_improving", "TRAINING: Still improving")


def test_diagnose_seed_overfitting():
    assert diagnose(*OVERFITTING) == (
        "overfitting",
        "OVERFITTING: Best epoch was 5, consider early stopping",
    )


def test_diagnose_seed_diverging():
    assert diagnose(*DIVERGING) == ("diverging", "DIVERGING: Learning rate may be too high")


def test_diagnose_underfitting():
    train = [1.2, 1.0, 0.9, 0.85, 0.8, 0.79, 0.78]
    val = [1.3, 1.1, 1.0, 0.95, 0.9, 0.89, 0.88]
    assert diagnose(train, val) == (
        "underfitting",
        "UNDERFITTING: Model may need more capacity or training",
    )


def test_diagnose_converged():
    train = [1.0, 0.5, 0.3, 0.2, 0.15, 0.14, 0.14, 0.14, 0.14, 0.14]
    val = [1.0, 0.5, 0.3, 0.25, 0.2, 0.19, 0.19, 0.19, 0.19, 0.19]
    assert diagnose(train, val) == ("converged", "CONVERGED: Training appears to have plateaued")


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_diagnose_non_finite_last_loss_is_diverging(bad):
    assert diagnose([1.0, 0.5, bad])[0] == "diverging"
    assert diagnose([1.0, 0.5, 0.4], [1.0, 0.6, bad])[0] == "diverging"


def test_diagnose_skips_a_non_finite_first_loss():
    # The divergence check compares with the first finite training loss.
    assert diagnose([math.nan, 2.0, 1.0, 0.3, 0.2, 0.1])[0] != "diverging"
    assert diagnose([math.nan, 0.1, 0.2])[0] == "diverging"


def test_diagnose_without_validation_uses_the_training_loss():
    assert diagnose([2.0, 1.0, 0.4, 0.3, 0.2, 0.1]) == ("still_improving", _message("still"))
    assert diagnose([2.0, 1.0, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3])[0] == "converged"
    assert diagnose([2.0, 1.0, 0.9, 0.8])[0] == "underfitting"
    # Without a validation curve, overfitting cannot be seen.
    assert diagnose(OVERFITTING[0])[0] != "overfitting"


def test_diagnose_short_history():
    assert diagnose([0.3]) == ("still_improving", _message("still"))
    assert diagnose([0.3, 0.2], [0.35, 0.3]) == ("still_improving", _message("still"))


def test_diagnose_options_change_the_verdict():
    assert diagnose(*GOOD, plateau=0.2)[0] == "converged"
    assert diagnose(*GOOD, underfit_loss=0.25)[0] == "underfitting"
    # The best validation epoch (index 4 of 10) is old enough for a window of 5, not of 6.
    assert diagnose(*OVERFITTING, window=5)[0] == "overfitting"
    assert diagnose(*OVERFITTING, window=6)[0] != "overfitting"
    assert diagnose(*OVERFITTING, overfit_gap=1.0, overfit_rise=10.0)[0] != "overfitting"


# Seed 000 Part C's shape (the overfitting study): both losses small, the gap under the seed's
# 0.1, the validation loss 3% above its best epoch's while the training loss keeps falling.
SMALL_LOSSES = (
    [0.6, 0.1, 0.02, 0.01, 0.006, 0.004, 0.003, 0.0025, 0.002, 0.0018, 0.0016],
    [0.6, 0.15, 0.1, 0.095, 0.0942, 0.0945, 0.095, 0.0955, 0.096, 0.0965, 0.097],
)


def test_diagnose_a_rising_validation_loss_under_a_falling_training_loss_is_overfitting():
    val, train = SMALL_LOSSES[1], SMALL_LOSSES[0]
    assert val[-1] - train[-1] < 0.1  # the seed's gap rule alone would not see it
    assert diagnose(*SMALL_LOSSES) == (
        "overfitting",
        "OVERFITTING: Best epoch was 5, consider early stopping",
    )
    # A rise within overfit_rise is a plateau; so is one while the training loss rises too.
    assert diagnose(*SMALL_LOSSES, overfit_rise=0.05)[0] == "converged"
    rising_train = [*train[:5], *(t + 0.01 for t in train[5:])]
    assert diagnose(rising_train, val)[0] == "converged"


def test_diagnose_names_the_best_epoch_with_given_numbers():
    label, message = diagnose(*OVERFITTING, epochs=range(0, 100, 10))
    assert label == "overfitting"
    assert message == "OVERFITTING: Best epoch was 40, consider early stopping"


@pytest.mark.parametrize(
    ("remedies", "message"),
    [
        (None, "OVERFITTING: Best epoch was 5, consider early stopping"),
        (
            Remedies(None, {"l2": {"lam": 0.001}}),
            "OVERFITTING: Best epoch was 5, consider early stopping",
        ),
        (
            Remedies({"patience": 10, "restore_best": True}, {"l2": {"lam": 0.001}, "dropout": {}}),
            "OVERFITTING: Best epoch was 5, and early stopping (patience 10) restored its "
            "weights; to overfit less try stronger regularization (now l2 λ 0.001, dropout), "
            "and a shorter patience to stop sooner",
        ),
        (
            Remedies({"patience": 3, "restore_best": False}, {"elastic_net": {"l1_ratio": 0.5}}),
            "OVERFITTING: Best epoch was 5, but early stopping (patience 3) keeps the last "
            "epoch's weights: set restore_best = true to return the best epoch's, or a shorter "
            "patience; to overfit less try stronger regularization (now elastic net l1_ratio 0.5)",
        ),
        (
            Remedies({"patience": 10, "restore_best": True}),
            "OVERFITTING: Best epoch was 5, and early stopping (patience 10) restored its "
            "weights; to overfit less try regularization (l2, dropout), and a shorter patience "
            "to stop sooner",
        ),
    ],
    ids=["unknown", "no early stopping", "restores", "keeps the last", "no regularizer"],
)
def test_the_overfitting_advice_fits_what_the_run_does(remedies, message):
    assert diagnose(*OVERFITTING, remedies=remedies) == ("overfitting", message)


def _adam_quickstart(early_stopping) -> sweepnp.RunResult:
    """The README's ``sweepnp train studies/quickstart.toml --set optimizer.name=adam --set
    optimizer.lr=0.01``, which overfits, with early stopping as given."""
    import tomllib
    from pathlib import Path

    text = (Path(__file__).parents[2] / "studies" / "quickstart.toml").read_text()
    config = tomllib.loads(text)
    del config["study"]
    config["optimizer"] = {"name": "adam", "lr": 0.01}
    config["callbacks"]["early_stopping"] = early_stopping
    return sweepnp.train(config)


@pytest.mark.parametrize(
    ("early_stopping", "advice"),
    [
        (False, ", consider early stopping"),
        (
            {"monitor": "val_loss", "patience": 10, "restore_best": True},
            ", and early stopping (patience 10) restored its weights; to overfit less try "
            "stronger regularization (now l2 λ 0.001, dropout rate 0.1), and a shorter patience",
        ),
        (
            {"monitor": "val_loss", "patience": 10, "restore_best": False},
            ", but early stopping (patience 10) keeps the last epoch's weights: set "
            "restore_best = true",
        ),
    ],
    ids=["off", "restoring", "keeping the last"],
)
def test_a_runs_diagnosis_advises_what_it_does_not_do_yet(early_stopping, advice):
    result = _adam_quickstart(early_stopping)
    diagnosis = result.info["diagnosis"]
    assert diagnosis["label"] == "overfitting", diagnosis
    assert diagnosis["message"].startswith("OVERFITTING: Best epoch was ")
    assert advice in diagnosis["message"]


def test_diagnose_bad_input():
    with pytest.raises(ValueError, match="no training losses"):
        diagnose([])
    with pytest.raises(ValueError, match="val_loss"):
        diagnose([1.0, 0.5], [1.0])
    with pytest.raises(OptionError) as info:
        diagnose([1.0], window=1)
    assert info.value.option == "window"
    with pytest.raises(OptionError) as info:
        diagnose([1.0], plateau=-0.1)
    assert info.value.option == "plateau"


def test_diagnose_labels_are_the_documented_five():
    assert LABELS == ("diverging", "underfitting", "overfitting", "converged", "still_improving")


def _message(prefix: str) -> str:
    return {"still": "TRAINING: Still improving"}[prefix]


# -------------------------------------------------------------------------
# Constructors: options validated up front
# -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "kwargs", "option"),
    [
        (EarlyStopping, {"patience": -1}, "patience"),
        (EarlyStopping, {"patience": 2.5}, "patience"),
        (EarlyStopping, {"min_delta": -0.1}, "min_delta"),
        (EarlyStopping, {"mode": "down"}, "mode"),
        (EarlyStopping, {"monitor": ""}, "monitor"),
        (GradientClipping, {"threshold": 0.0}, "threshold"),
        (GradientClipping, {"threshold": math.inf}, "threshold"),
        (GradientClipping, {"by": "size"}, "by"),
        (DivergenceGuard, {"max_value": math.inf}, "max_value"),
        (LearningCurveDiagnosis, {"window": 0}, "window"),
        (LearningCurveDiagnosis, {"overfit_gap": -1.0}, "overfit_gap"),
        (LearningCurveDiagnosis, {"overfit_rise": -0.1}, "overfit_rise"),
    ],
)
def test_bad_options_name_the_option(factory, kwargs, option):
    with pytest.raises(OptionError) as info:
        factory(**kwargs)
    assert info.value.option == option


@pytest.mark.parametrize(
    ("monitor", "mode"),
    [
        ("val_loss", "min"),
        ("loss", "min"),
        ("val_accuracy", "max"),
        ("accuracy", "max"),
        ("val_r2", "max"),
        ("val_mse", "min"),
    ],
)
def test_early_stopping_auto_mode(monitor, mode):
    assert EarlyStopping(monitor=monitor).mode == mode
    assert EarlyStopping(monitor=monitor, mode="min").mode == "min"


def test_run_file_option_of_the_wrong_type_is_a_config_error():
    config = {"data": {"dataset": "iris"}, "callbacks": {"early_stopping": {"patience": "5"}}}
    with pytest.raises(ConfigError) as info:
        sweepnp.train(config)
    assert info.value.key == "callbacks.early_stopping.patience"


# -------------------------------------------------------------------------
# Gradient clipping on gradient dicts
# -------------------------------------------------------------------------


def _grads(scale: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "W1": scale * rng.normal(size=(4, 3)),
        "b1": scale * rng.normal(size=(1, 3)),
        "W2": scale * rng.normal(size=(3, 1)),
    }


def _norm(grads: dict[str, np.ndarray]) -> float:
    return float(np.sqrt(sum(np.sum(g**2) for g in grads.values())))


def test_clip_by_norm_rescales_to_the_threshold_in_place():
    grads = _grads(10.0)
    before = {k: v.copy() for k, v in grads.items()}
    arrays = {k: id(v) for k, v in grads.items()}
    GradientClipping(by="norm", threshold=1.0).on_before_optimizer_step(grads)
    assert {k: id(v) for k, v in grads.items()} == arrays
    assert _norm(grads) == pytest.approx(1.0)
    scale = 1.0 / _norm(before)
    for name in grads:
        np.testing.assert_allclose(grads[name], before[name] * scale)


def test_clip_by_norm_leaves_small_gradients_alone():
    grads = _grads(0.01)
    before = {k: v.copy() for k, v in grads.items()}
    GradientClipping(by="norm", threshold=1.0).on_before_optimizer_step(grads)
    for name in grads:
        np.testing.assert_array_equal(grads[name], before[name])


def test_clip_by_value_caps_every_entry_in_place():
    grads = _grads(3.0)
    before = {k: v.copy() for k, v in grads.items()}
    GradientClipping(by="value", threshold=0.5).on_before_optimizer_step(grads)
    for name in grads:
        np.testing.assert_array_equal(grads[name], np.clip(before[name], -0.5, 0.5))


def test_global_norm_does_not_overflow():
    huge = {"W": np.full((10, 10), 1e200), "b": np.full(3, -1e200)}
    assert global_norm(huge.values()) == pytest.approx(1e200 * math.sqrt(103))
    GradientClipping(threshold=2.0).on_before_optimizer_step(huge)
    assert _norm(huge) == pytest.approx(2.0)
    assert global_norm([np.array([1.0, np.nan])]) != global_norm([np.array([1.0, np.nan])])


# -------------------------------------------------------------------------
# End to end, through sweepnp.train
# -------------------------------------------------------------------------


def _overfitting_run(patience: int, **early_stopping) -> dict:
    """Seed 000 part C: 50 training rows, 128 hidden units, many epochs."""
    return {
        "data": {"dataset": "breast_cancer", "subsample": 50, "seed": 0},
        "model": {"hidden": [128], "init": {"name": "normal", "std": 0.01}},
        "train": {"epochs": 1000, "batch_size": 32, "seed": 0},
        "optimizer": {"name": "sgd", "lr": 0.05},
        "callbacks": {
            "early_stopping": {"monitor": "val_loss", "patience": patience, **early_stopping}
        },
    }


def test_early_stopping_stops_and_restores_the_best_model():
    result = sweepnp.train(_overfitting_run(10))
    history = result.history
    assert result.stop_reason == "early_stopped"
    assert len(history) < 1000
    record = result.info["early_stopping"]
    best_row = history.loc[history["val_loss"].idxmin()]
    assert record["best_epoch"] == best_row["epoch"]
    assert record["best_value"] == best_row["val_loss"]
    assert record["stopped_epoch"] == history["epoch"].iloc[-1]
    assert record["stopped_epoch"] - record["best_epoch"] == 10
    # The returned model is the best epoch's, not the last one's.
    assert result.metrics["val_loss"] == pytest.approx(best_row["val_loss"], rel=1e-12)
    assert result.metrics["val_loss"] < history["val_loss"].iloc[-1]


def test_early_stopping_without_restore_keeps_the_last_model():
    result = sweepnp.train(_overfitting_run(10, restore_best=False))
    assert result.stop_reason == "early_stopped"
    last = result.history["val_loss"].iloc[-1]
    assert result.metrics["val_loss"] == pytest.approx(last, rel=1e-12)


def test_smaller_patience_stops_no_later():
    runs = {p: sweepnp.train(_overfitting_run(p)) for p in (5, 20)}
    stopped = {p: r.info["early_stopping"]["stopped_epoch"] for p, r in runs.items()}
    assert all(r.stop_reason == "early_stopped" for r in runs.values())
    assert stopped[5] <= stopped[20]
    assert runs[5].epochs_run <= runs[20].epochs_run


def test_early_stopping_on_accuracy_maximizes():
    config = _overfitting_run(15, monitor="val_accuracy", min_delta=0.001)
    result = sweepnp.train(config)
    record = result.info["early_stopping"]
    history = result.history
    assert record["best_value"] == history["val_accuracy"].max()
    first_best = history.loc[history["val_accuracy"].idxmax(), "epoch"]
    assert record["best_epoch"] == first_best


def test_early_stopping_counts_only_evaluated_epochs():
    config = _overfitting_run(4)
    config["train"]["eval_every"] = 3
    result = sweepnp.train(config)
    record = result.info["early_stopping"]
    assert result.stop_reason == "early_stopped"
    assert record["best_epoch"] in set(result.history["epoch"])
    assert record["best_epoch"] % 3 == 2
    assert record["stopped_epoch"] - record["best_epoch"] == 4 * 3


def test_early_stopping_that_never_triggers_still_restores_the_best():
    config = _overfitting_run(10_000)
    config["train"]["epochs"] = 300
    result = sweepnp.train(config)
    record = result.info["early_stopping"]
    assert result.stop_reason == "completed"
    assert record["stopped_epoch"] is None
    assert record["best_epoch"] < 299
    assert result.metrics["val_loss"] == pytest.approx(record["best_value"], rel=1e-12)


@pytest.mark.parametrize("monitor", ["val_loss", "val_mse"])
def test_monitor_not_recorded_is_a_config_error(monitor):
    config = _overfitting_run(5, monitor=monitor)
    config["data"]["val_size"] = 0.0
    with pytest.raises(ConfigError) as info:
        sweepnp.train(config)
    assert info.value.key == "callbacks.early_stopping.monitor"
    assert "valid:" in str(info.value) and "test_loss" in str(info.value)


def _linear_run(lr: float, callbacks: dict) -> dict:
    return {
        "data": {"dataset": {"name": "linear", "n_samples": 200}, "seed": 0},
        "model": {"hidden": [16], "task": "regression"},
        "train": {"epochs": 50, "batch_size": 32, "seed": 0},
        "optimizer": {"name": "sgd", "lr": lr},
        "callbacks": callbacks,
    }


def test_unclipped_high_learning_rate_diverges():
    result = sweepnp.train(_linear_run(0.5, {}))
    assert result.stop_reason == "diverged"
    assert result.epochs_run < 50
    assert not np.isfinite(result.history["loss"].iloc[-1])
    assert result.info["divergence_guard"]["epoch"] == result.history["epoch"].iloc[-1]
    assert result.info["diagnosis"]["label"] == "diverging"


@pytest.mark.parametrize(
    "clipping", [{"by": "norm", "threshold": 1.0}, {"by": "value", "threshold": 0.1}]
)
def test_gradient_clipping_keeps_a_high_learning_rate_finite(clipping, step_recorder):
    recorder = step_recorder()  # runs after the run file's callbacks: it sees what SGD is given
    trainer = sweepnp.Trainer(
        _linear_run(0.5, {"gradient_clipping": clipping}), callbacks=[recorder]
    )
    result = trainer.fit()
    assert result.stop_reason == "completed"
    assert result.epochs_run == 50
    assert np.all(np.isfinite(result.history["loss"]))
    assert result.metrics["val_r2"] > 0.8
    # every step: the gradients within the threshold, and SGD's step taken with them
    threshold = clipping["threshold"]
    assert len(recorder.steps) == 50 * 4  # 128 training rows in batches of 32
    for before, grads, after in recorder.steps:
        if clipping["by"] == "norm":
            assert _norm(grads) <= threshold * (1 + 1e-12)
        else:
            assert max(float(np.abs(g).max()) for g in grads.values()) <= threshold
        for name, grad in grads.items():
            np.testing.assert_array_equal(after[name], before[name] - 0.5 * grad)
    # and clipping acted: in most steps the norm, or some entry, was cut down to the threshold
    if clipping["by"] == "norm":
        at_threshold = [_norm(grads) == pytest.approx(threshold) for _, grads, _ in recorder.steps]
    else:
        at_threshold = [
            any(np.abs(g).max() == threshold for g in grads.values())
            for _, grads, _ in recorder.steps
        ]
    assert sum(at_threshold) > len(recorder.steps) / 2


def test_without_the_guard_a_diverged_run_goes_on_to_the_end():
    result = sweepnp.train(_linear_run(0.5, {"divergence_guard": False}))
    assert result.stop_reason == "completed"
    assert result.epochs_run == 50
    assert "divergence_guard" not in result.info


def test_divergence_guard_max_value():
    config = _linear_run(0.01, {"divergence_guard": {"max_value": 1e-3}})
    result = sweepnp.train(config)
    assert result.stop_reason == "diverged"
    assert result.epochs_run == 1
    assert result.info["divergence_guard"] == {
        "epoch": 0,
        "value": result.history["loss"].iloc[0],
    }


def test_divergence_guard_monitor_not_recorded_is_a_config_error():
    config = _linear_run(0.01, {"divergence_guard": {"monitor": "accuracy"}})
    with pytest.raises(ConfigError) as info:
        sweepnp.train(config)
    assert info.value.key == "callbacks.divergence_guard.monitor"


def test_diagnosis_is_recorded_in_every_run():
    result = sweepnp.train(_overfitting_run(10_000))
    assert result.info["diagnosis"]["label"] == "overfitting"
    assert result.info["diagnosis"]["message"].startswith("OVERFITTING: Best epoch was ")


def test_diagnosis_without_a_validation_split():
    config = _linear_run(0.05, {})
    config["data"]["val_size"] = 0.0
    result = sweepnp.train(config)
    assert "val_loss" not in result.history
    label, message = diagnose(result.history["loss"].tolist())
    assert result.info["diagnosis"] == {"label": label, "message": message}


def test_diagnosis_can_be_turned_off_and_tuned():
    off = sweepnp.train(_linear_run(0.05, {"diagnosis": False}))
    assert "diagnosis" not in off.info
    tuned = sweepnp.train(_linear_run(0.05, {"diagnosis": {"underfit_loss": 1e-9}}))
    assert tuned.info["diagnosis"]["label"] == "underfitting"


# -- weight_stats: metrics added by a callback ------------------------------------------------


def _weight_stats_run(threshold: float = 0.01, **regularizers) -> sweepnp.RunResult:
    return sweepnp.train(
        {
            "data": {"dataset": "breast_cancer"},
            "model": {"hidden": [8]},
            "train": {"epochs": 15},
            "optimizer": {"name": "sgd", "lr": 0.05},
            "regularizers": regularizers,
            "callbacks": {"weight_stats": {"threshold": threshold}},
        }
    )


def test_weight_stats_counts_the_returned_models_weights():
    result = _weight_stats_run(threshold=0.05)
    weights = np.concatenate([result.model.params[n].ravel() for n in ("W1", "W2")])
    assert result.metrics["near_zero_weights"] == np.count_nonzero(np.abs(weights) < 0.05)
    assert result.metrics["near_zero_fraction"] == pytest.approx(np.mean(np.abs(weights) < 0.05))
    assert result.metrics["weight_l1"] == pytest.approx(np.abs(weights).sum())
    assert result.metrics["weight_l2"] == pytest.approx(np.linalg.norm(weights))
    # Every evaluated epoch has them, and the last equals the final metrics (no restore-best).
    assert result.history["near_zero_weights"].notna().all()
    assert result.history["weight_l1"].iloc[-1] == pytest.approx(result.metrics["weight_l1"])


def test_weight_stats_l1_leaves_more_weights_near_zero_than_l2():
    l1 = _weight_stats_run(l1={"lam": 0.001}).metrics["near_zero_weights"]
    l2 = _weight_stats_run(l2={"lam": 0.001}).metrics["near_zero_weights"]
    assert l1 > l2


def test_callback_metrics_are_metrics_a_study_may_optimize():
    trainer = sweepnp.Trainer(
        {"data": {"dataset": "iris"}, "callbacks": {"weight_stats": {}}, "train": {"epochs": 1}}
    )
    assert {"near_zero_weights", "weight_l2"} <= set(trainer.metric_names)


def test_weight_stats_threshold_must_be_positive():
    with pytest.raises(sweepnp.ConfigError) as info:
        _weight_stats_run(threshold=0)
    assert info.value.key == "callbacks.weight_stats.threshold"


# -------------------------------------------------------------------------
# Parameters
# -------------------------------------------------------------------------


def _parameters_run(names, hidden=(), epochs=3):
    return sweepnp.train(
        {
            "data": {"dataset": "iris", "seed": 0},
            "model": {"hidden": list(hidden)},
            "train": {"epochs": epochs, "seed": 0},
            "callbacks": {"parameters": {"names": names}},
        }
    )


def test_parameters_records_each_entry_as_the_returned_model_holds_it():
    result = _parameters_run(["b1", "W1"], epochs=4)
    b1, W1 = result.model.params["b1"], result.model.params["W1"]  # iris: 4 features, 3 classes
    names = [f"b1_{i}" for i in range(3)] + [f"W1_{i}" for i in range(12)]
    assert [m for m in result.metrics if m.startswith(("W1", "b1"))] == names
    np.testing.assert_array_equal([result.metrics[n] for n in names], [*b1, *W1.ravel()])
    # every evaluated epoch has them: the weights' path, not only their end
    assert result.history["W1_0"].notna().all() and result.history["W1_0"].nunique() == 4


def test_a_one_entry_parameter_is_recorded_under_its_own_name():
    X = np.arange(1.0, 9.0).reshape(-1, 1)
    result = sweepnp.train(
        {
            "data": {"test_size": 0.0, "val_size": 0.0, "scale": "none"},
            "model": {"task": "regression", "hidden": []},
            "train": {"epochs": 2, "batch_size": 2},
            "callbacks": {"parameters": {"names": ["W1", "b1"]}},
        },
        X=X,
        y=2 * X.ravel(),
    )
    assert result.metrics["W1"] == result.model.params["W1"].item()
    assert result.metrics["b1"] == result.model.params["b1"].item()


@pytest.mark.parametrize(
    ("names", "hidden", "message"),
    [
        (["W3"], (), "no parameter 'W3' in this network; valid choices: W1, b1"),
        (["W1"], (16,), "these parameters hold 64 entries; at most 32 are recorded"),
        ([], (), "must name at least one parameter"),
    ],
)
def test_parameters_mistakes_name_the_option(names, hidden, message):
    with pytest.raises(ConfigError) as info:
        _parameters_run(names, hidden)
    assert info.value.key == "callbacks.parameters.names"
    assert message in str(info.value)
