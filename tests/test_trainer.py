"""The mini-batch loop: reproducibility, batching, evaluation cadence, hooks, stop reasons."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import sweepnp
from sweepnp import Callback, hookimpl
from sweepnp.plugins import PluginManager
from sweepnp.trainer import Trainer


def _metrics_only(history: pd.DataFrame) -> pd.DataFrame:
    return history.drop(columns=["epoch_seconds"])


def test_same_config_gives_bit_identical_results(small_run):
    small_run["regularizers"] = {"dropout": {"rate": 0.3}}
    first, second = sweepnp.train(small_run), sweepnp.train(small_run)
    pd.testing.assert_frame_equal(_metrics_only(first.history), _metrics_only(second.history))
    for name, value in first.model.params.items():
        np.testing.assert_array_equal(value, second.model.params[name])


def test_another_seed_gives_other_numbers(small_run):
    first = sweepnp.train(small_run)
    small_run["train"]["seed"] = 1
    assert not np.array_equal(first.model.params["W1"], sweepnp.train(small_run).model.params["W1"])


def test_history_has_one_row_per_epoch_with_every_metric(small_run):
    result = sweepnp.train(small_run)
    assert list(result.history.columns) == [
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "test_loss",
        "test_accuracy",
        "lr",
        "epoch_seconds",
    ]
    assert result.history["epoch"].tolist() == [0, 1, 2, 3, 4]
    assert result.history["lr"].eq(0.05).all()
    # the test split is measured where the run ends only (train.evaluate.test = "end")
    assert result.history["test_loss"].notna().tolist() == [False] * 4 + [True]
    assert result.history["test_loss"].iloc[-1] == result.metrics["test_loss"]
    assert set(result.metrics) == {
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "test_loss",
        "test_accuracy",
    }
    assert result.stop_reason == "completed"
    assert result.epochs_run == 5


def test_regression_reports_mse_and_r2(small_run):
    small_run["data"]["dataset"] = "diabetes"
    small_run["model"]["task"] = "regression"
    result = sweepnp.train(small_run)
    assert {"loss", "mse", "r2", "val_mse", "val_r2", "test_r2"} <= set(result.history.columns)
    assert "accuracy" not in result.history.columns


def test_no_split_trains_and_reports_on_all_rows(small_run):
    small_run["data"].update(test_size=0.0, val_size=0.0)
    trainer = Trainer(small_run)
    assert len(trainer.data.X_train) == 569  # every breast-cancer row
    assert trainer.metric_names == ("loss", "accuracy", "lr")


@pytest.mark.parametrize(("batch_size", "updates_per_epoch"), [("full", 1), (1000, 1), (100, 4)])
def test_batch_size_sets_the_number_of_updates(small_run, batch_size, updates_per_epoch):
    small_run["train"]["batch_size"] = batch_size
    small_run["data"].update(test_size=0.0, val_size=0.3)  # 398 training rows
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = Trainer(small_run)
    trainer.fit()
    assert trainer.optimizer.t == 5 * updates_per_epoch
    # a batch larger than the training split is said once, when the run is built
    said = [str(w.message) for w in caught if issubclass(w.category, sweepnp.SweepnpWarning)]
    if batch_size == 1000:
        assert said == [
            "train.batch_size: 1000 is more than the 398 training rows; every batch is the whole "
            'training split (full-batch gradient descent, as with batch_size = "full")'
        ]
    else:
        assert said == []


def test_eval_every_evaluates_at_the_cadence_and_at_the_last_epoch(small_run):
    small_run["train"].update(epochs=10, eval_every=4)
    result = sweepnp.train(small_run)
    assert result.history["epoch"].tolist() == [3, 7, 9]


def test_shuffle_off_changes_the_result(small_run):
    shuffled = sweepnp.train(small_run)
    small_run["train"]["shuffle"] = False
    assert shuffled.metrics["loss"] != sweepnp.train(small_run).metrics["loss"]


class BatchRecorder(Callback):
    def __init__(self):
        self.rates: list[float] = []

    def on_train_batch_end(self, batch, logs):
        self.rates.append(logs["lr"])


def test_batch_interval_schedule_changes_lr_within_an_epoch(small_run):
    small_run["schedule"] = {"name": "cosine", "interval": "batch"}
    recorder = BatchRecorder()
    sweepnp.train(small_run, callbacks=[recorder])
    n_batches = int(np.ceil(341 / 32))  # 60% of 569 rows train
    assert len(recorder.rates) == 5 * n_batches
    assert np.all(np.diff(recorder.rates) < 0)  # falls at every batch
    assert recorder.rates[0] == pytest.approx(0.05)


def test_epoch_interval_schedule_is_constant_within_an_epoch(small_run):
    small_run["schedule"] = {"name": "step", "step_size": 2, "gamma": 0.5}
    result = sweepnp.train(small_run)
    assert result.history["lr"].tolist() == [0.05, 0.05, 0.025, 0.025, 0.0125]


def test_divergence_ends_the_run_as_diverged(small_run):
    small_run["data"]["dataset"] = "diabetes"
    small_run["data"]["scale"] = "none"  # raw targets in the hundreds
    small_run["model"]["task"] = "regression"
    small_run["optimizer"]["lr"] = 10.0
    small_run["train"]["epochs"] = 50
    result = sweepnp.train(small_run)
    assert result.stop_reason == "diverged"
    assert result.epochs_run < 50


class LifecycleRecorder:
    """A real pluggy plugin implementing the run lifecycle hooks."""

    def __init__(self):
        self.calls: list[tuple[str, object]] = []

    @hookimpl
    def sweepnp_on_train_begin(self, trainer, logs):
        self.calls.append(("train_begin", trainer.epochs))

    @hookimpl
    def sweepnp_on_epoch_end(self, epoch, logs):
        self.calls.append(("epoch_end", (epoch, sorted(logs))))

    @hookimpl
    def sweepnp_on_train_end(self, trainer, logs):
        self.calls.append(("train_end", trainer.stop_reason))


def _hook_calls(pm: PluginManager, config) -> list[str]:
    called: list[str] = []
    undo = pm.pm.add_hookcall_monitoring(
        before=lambda name, impls, kwargs: called.append(name), after=lambda *a: None
    )
    try:
        Trainer(config, plugin_manager=pm).fit()
    finally:
        undo()
    return called


def test_lifecycle_hooks_reach_plugins_with_flat_logs(small_run):
    recorder = LifecycleRecorder()
    pm = PluginManager(load_entrypoints=False, extra=(recorder,))
    calls = _hook_calls(pm, small_run)
    assert calls.count("sweepnp_on_epoch_end") == 5
    assert "sweepnp_on_train_batch_end" not in calls  # nobody implements it: never dispatched
    assert "sweepnp_on_epoch_begin" not in calls
    assert recorder.calls[0] == ("train_begin", 5)
    assert recorder.calls[-1] == ("train_end", "completed")
    epoch, keys = recorder.calls[1][1]
    assert epoch == 0
    # an epoch's logs hold no test metrics: the test split is measured where the run ends
    assert keys == sorted(["loss", "accuracy", "val_loss", "val_accuracy", "lr"])


def test_builtin_plugins_alone_cost_no_hook_dispatch_during_training(small_run):
    pm = PluginManager(load_entrypoints=False)
    assert _hook_calls(pm, small_run) == []


class BatchHookPlugin:
    def __init__(self):
        self.batches = 0

    @hookimpl
    def sweepnp_on_train_batch_end(self, batch, logs):
        self.batches += 1


def test_per_batch_hook_is_dispatched_when_a_plugin_opts_in(small_run):
    plugin = BatchHookPlugin()
    pm = PluginManager(load_entrypoints=False, extra=(plugin,))
    Trainer(small_run, plugin_manager=pm).fit()
    assert plugin.batches == 5 * int(np.ceil(341 / 32))


def test_in_memory_arrays(small_run):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    del small_run["data"]["dataset"]
    small_run["train"]["epochs"] = 30
    result = sweepnp.train(small_run, X=X, y=y)
    assert result.metrics["val_accuracy"] >= 0.85  # a linear boundary; chance is 0.5
    with pytest.raises(sweepnp.ConfigError, match="pass both X and y"):
        sweepnp.train(small_run, X=X)
    with pytest.raises(sweepnp.ConfigError, match=r"data\.dataset"):
        sweepnp.train(small_run)


def test_json_dict_holds_metrics_history_and_stop_reason(small_run):
    out = sweepnp.train(small_run).to_json_dict()
    assert set(out) == {"metrics", "history", "stop_reason"}
    assert len(out["history"]) == 5
    assert out["history"][0]["epoch"] == 0


def test_train_accepts_a_path_a_dict_or_a_parsed_config(small_run, tmp_path):
    from sweepnp.config import parse

    path = tmp_path / "run.toml"
    path.write_text(
        '[data]\ndataset = "breast_cancer"\nseed = 0\n[model]\nhidden = [8]\n'
        '[train]\nepochs = 5\nseed = 0\n[optimizer]\nname = "sgd"\nlr = 0.05\n'
    )
    from_path = sweepnp.train(path)
    from_dict = sweepnp.train(small_run)
    from_config = sweepnp.train(parse(small_run))
    pd.testing.assert_frame_equal(
        _metrics_only(from_path.history), _metrics_only(from_dict.history)
    )
    pd.testing.assert_frame_equal(
        _metrics_only(from_dict.history), _metrics_only(from_config.history)
    )
    assert from_path.config.source == str(path)


@pytest.mark.parametrize(
    ("data", "key", "split"),
    [
        ({"test_size": 0.1, "val_size": 0.0}, "data.test_size", "test"),
        ({"test_size": 0.0, "val_size": 0.1}, "data.val_size", "validation"),
    ],
)
def test_an_impossible_stratified_split_names_its_own_key(data, key, split):
    X = np.arange(24.0).reshape(-1, 2)
    y = np.arange(12) % 4  # a 10% split is 2 rows: fewer than the 4 classes
    with pytest.raises(sweepnp.DataError) as info:
        sweepnp.Trainer({"data": data, "model": {"task": "multiclass"}}, X, y)
    assert info.value.key == key
    assert f"cannot split off the {split} set (0.1 of 12 rows, stratified by class)" in str(
        info.value
    )


def test_a_standardized_regression_target_trains_and_predicts_in_its_units():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)  # targets 25..346: plain SGD diverges on them
    run = {"model": {"task": "regression", "hidden": [16]}, "train": {"epochs": 40}}
    assert sweepnp.train(run, X, y).stop_reason == "diverged"

    run["data"] = {"scale_target": "standard"}
    trainer = sweepnp.Trainer(run, X, y)
    result = trainer.fit()
    assert result.stop_reason == "completed"
    assert result.metrics["test_r2"] > 0.3
    np.testing.assert_allclose(trainer.data.y_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(trainer.data.y_train.std(axis=0), 1, rtol=1e-12)
    predictions = result.model.predict(X)
    assert predictions.shape == y.shape
    # in the target's units: the network's standardized outputs, mapped back
    z = result.model.decision_function(X)[:, 0]
    np.testing.assert_allclose(
        predictions, z * trainer.data.target_scale[0] + trainer.data.target_mean[0]
    )
    assert abs(predictions.mean() - y.mean()) < 0.2 * y.std()
    assert np.corrcoef(predictions, y)[0, 1] > 0.6


def test_only_a_regression_target_can_be_scaled():
    with pytest.raises(sweepnp.DataError) as info:
        sweepnp.Trainer({"data": {"dataset": "iris", "scale_target": "standard"}})
    assert info.value.key == "data.scale_target"
    assert "only a regression target can be scaled" in str(info.value)


# -------------------------------------------------------------------------
# How a result shows itself: repr, a notebook's HTML, its learning curves
# -------------------------------------------------------------------------


def test_a_results_repr_is_one_short_line_of_its_ending_and_metrics(small_run):
    result = sweepnp.train(small_run)
    text = repr(result)
    assert "\n" not in text and len(text) < 300  # not every epoch's record
    assert text.startswith(f"RunResult({result.stop_reason} after {result.epochs_run} epochs")
    for name, value in result.metrics.items():
        assert f"{name}={value:.4g}" in text


def test_a_results_html_tables_the_final_metrics_by_split(small_run):
    result = sweepnp.train(small_run)
    page = result._repr_html_()
    assert f"{result.stop_reason} after {result.epochs_run} epochs" in page
    header, *rows = page.split("<tr>")[1:]
    assert "<th>loss</th>" in header and "<th>accuracy</th>" in header
    by_split = {row.split("</th>")[0].removeprefix("<th>"): row for row in rows}
    assert set(by_split) == {"training", "validation", "test"}
    assert f"<td>{result.metrics['val_accuracy']:.4g}</td>" in by_split["validation"]
    assert f"<td>{result.metrics['loss']:.4g}</td>" in by_split["training"]
    assert result.info["diagnosis"]["message"] in page


def test_plot_draws_a_panel_per_metric_with_a_line_per_split(small_run, tmp_path):
    small_run["train"]["epochs"] = 7
    small_run["callbacks"] = {"early_stopping": {"monitor": "loss", "patience": 0}}
    small_run["optimizer"]["lr"] = 5.0  # the training loss rises soon: stops early
    result = sweepnp.train(small_run)
    fig = result.plot(tmp_path / "curves.svg")
    assert (tmp_path / "curves.svg").read_text().startswith("<?xml")
    loss, accuracy = fig.axes
    assert (loss.get_ylabel(), accuracy.get_ylabel()) == ("loss", "accuracy")
    lines = {line.get_label(): line for line in loss.get_lines() if line.get_label()[0] != "_"}
    assert list(lines) == ["training", "validation", "test (measured once)"]  # at the end
    history = result.history
    np.testing.assert_array_equal(lines["validation"].get_xdata(), history["epoch"])
    np.testing.assert_array_equal(lines["validation"].get_ydata(), history["val_loss"])
    accuracy_lines = [line.get_label() for line in accuracy.get_lines()]
    assert "training" in accuracy_lines
    np.testing.assert_array_equal(
        accuracy.get_lines()[0].get_ydata(), history["accuracy"].to_numpy()
    )
    if result.stop_reason != "completed":  # the last epoch is marked
        marks = [line for line in loss.get_lines() if line.get_label().startswith("_")]
        assert marks and marks[0].get_xdata()[0] == result.epochs_run - 1
    assert fig.get_suptitle().startswith(result.stop_reason.replace("_", " "))


def test_plot_of_a_diverged_run_says_where_there_is_nothing_finite():
    # SGD at lr 0.05 on diabetes' raw target (25..346): NaN from the first epoch
    result = sweepnp.train({"data": {"dataset": "diabetes"}, "model": {"task": "regression"}})
    assert result.stop_reason == "diverged"
    fig = result.plot()
    for ax in fig.axes:
        metric = ax.get_ylabel()
        finite = np.isfinite(result.history[metric].to_numpy(dtype=float)).any()
        assert ("no finite values" in [t.get_text() for t in ax.texts]) == (not finite)
    assert not np.isfinite(result.history["loss"].to_numpy(dtype=float)).any()


def test_plot_shows_itself_in_a_notebook(small_run):
    # IPython displays an object through _repr_png_ when pyplot's inline backend is not set up
    png = sweepnp.train(small_run).plot()._repr_png_()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_the_old_names_of_a_runs_records_still_answer_with_a_warning(small_run):
    """``Trainer.history`` is now ``Trainer.records`` (one vocabulary: a history is a
    DataFrame); the old name still gives the records, with a FutureWarning."""
    from sweepnp.trainer import Trainer

    small_run["train"]["epochs"] = 2
    trainer = Trainer(small_run)
    trainer.fit()
    with pytest.warns(FutureWarning, match="Trainer.records"):
        assert trainer.history is trainer.records
    assert [r["epoch"] for r in trainer.records] == [0, 1]


def test_a_large_training_split_is_gathered_batch_by_batch_as_the_epoch_would_be(monkeypatch):
    """Above ``EPOCH_GATHER_BYTES`` the batches are gathered one by one from the epoch's order
    (no copy of the whole split): the very batches, hence the very run, of one gather."""
    import sweepnp.trainer

    rng = np.random.default_rng(0)
    X = rng.standard_normal((9000, 100))
    y = (X[:, 0] + 0.5 * rng.standard_normal(9000) > 0).astype(int)
    run = {
        "model": {"task": "binary", "hidden": [8]},
        "train": {"epochs": 3, "batch_size": 64},
        "regularizers": {"dropout": {"rate": 0.2}},
    }
    trainer = Trainer(run, X, y)
    assert trainer.data.X_train.nbytes > sweepnp.trainer.EPOCH_GATHER_BYTES
    by_batch = trainer.fit()
    monkeypatch.setattr(sweepnp.trainer, "EPOCH_GATHER_BYTES", 2**40)
    at_once = Trainer(run, X, y).fit()
    assert _metrics_only(by_batch.history).equals(_metrics_only(at_once.history))
    for name, value in at_once.model.params.items():
        assert np.array_equal(by_batch.model.params[name], value)


def test_plot_marks_a_split_measured_once(small_run):
    """The test split is measured where the run ends (the default): a dot, not an invisible
    line of one point."""
    run = small_run  # a fresh copy
    run.setdefault("train", {})["epochs"] = 40  # more evaluations than the small dots show
    result = sweepnp.train(run)
    assert result.history["test_loss"].notna().sum() == 1
    loss = result.plot().axes[0]
    test = next(line for line in loss.get_lines() if line.get_label().startswith("test"))
    assert test.get_marker() == "o" and "measured once" in test.get_label()
