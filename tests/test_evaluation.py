"""What an evaluation measures and what it costs: chunks of rows that change no number and hold
no whole split, the training split's scores from the epoch's batches, the test split where the
run ends, the final metrics without a pass they can take from the last evaluation, and the
mistakes a run file can make about them."""

from __future__ import annotations

import tracemalloc
from typing import Any

import numpy as np
import pytest

import sweepnp
from sweepnp import ConfigError
from sweepnp.model import BatchNormOptions, DenseNetwork
from sweepnp.step_program import CHUNK_BYTES, MIN_CHUNK_ROWS, BatchScores, StepProgram
from sweepnp.study.spec import load_spec
from sweepnp.tasks import make_task
from sweepnp.trainer import Trainer

OUTPUTS = {"binary": 1, "multiclass": 4, "regression": 2}


def _network(task: str, dtype: Any, *, batch_norm: bool = False, hidden=(512, 32)) -> DenseNetwork:
    rng = np.random.default_rng(0)
    network = DenseNetwork(
        12,
        OUTPUTS[task],
        task=task,
        hidden=hidden,
        init=("he", {}),
        batch_norm=BatchNormOptions() if batch_norm else None,
        dtype=dtype,
        rng=rng,
    )
    for name, value in network.buffers.items():  # running statistics of some spread
        value[...] = rng.random(value.shape) + (0.5 if name.startswith("running_var") else 0)
    return network


def _targets(task: str, rows: int, rng: np.random.Generator, dtype: Any) -> np.ndarray:
    if task == "multiclass":
        return rng.integers(0, OUTPUTS[task], rows)
    if task == "binary":
        return rng.integers(0, 2, (rows, 1)).astype(dtype)
    return rng.standard_normal((rows, OUTPUTS[task])).astype(dtype)


def _stacked(network: DenseNetwork, trials: int) -> DenseNetwork:
    """``trials`` copies of ``network`` on a trial axis, each scaled differently."""
    stacked = network.stacked(trials)
    for group in ("params", "buffers"):
        for name, value in getattr(network, group).items():
            target = getattr(stacked, group)[name]
            for k in range(trials):
                target[k] = value.reshape(target.shape[1:]) * (1 + 0.1 * k)
    return stacked


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("batch_norm", [False, True], ids=["", "batch_norm"])
@pytest.mark.parametrize("trials", [None, 3], ids=["alone", "stacked"])
def test_an_evaluation_in_chunks_gives_the_whole_passes_numbers(dtype, task, batch_norm, trials):
    """The same bits in float64; in float32 within a few units in the last place, since a
    CPU's matrix kernel may sum a block of rows otherwise than the whole (OpenBLAS's Haswell
    kernel does: run with OPENBLAS_CORETYPE=Haswell); the scores are the whole logits'."""
    network = _network(task, dtype, batch_norm=batch_norm)
    if trials is not None:
        network = _stacked(network, trials)
    program = StepProgram(network)
    rows = 3 * program.chunk_rows + 17  # four chunks, none of them a sliver
    rng = np.random.default_rng(1)
    X = rng.standard_normal((rows, 12)).astype(dtype)
    y = _targets(task, rows, rng, dtype)
    whole = network.logits(X)
    chunked = program.logits(X)
    if dtype == np.float64:
        assert np.array_equal(chunked, whole)
    else:
        # a logit near 0 is a difference of larger sums: its rounding is absolute, not relative
        np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=2e-5)
    evaluation = program.evaluate({"": (X, y), "val_": (X[:100], y[:100])})
    loss, metrics = evaluation.scores[""]
    assert np.array_equal(loss, network.task.loss(chunked, y))
    for name, value in network.task.metrics(chunked, y).items():
        assert np.array_equal(metrics[name], value), name


def test_a_chunk_depends_on_the_networks_shape_and_dtype_not_on_the_stack():
    network = _network("multiclass", np.float32)
    alone = StepProgram(network).chunk_rows
    assert alone == CHUNK_BYTES // (512 * 4)  # the widest layer, in float32
    assert StepProgram(network.stacked(16)).chunk_rows == alone
    assert StepProgram(_network("multiclass", np.float64)).chunk_rows == alone // 2
    # a layer of 4 MiB a row still gets chunks of many rows: one row alone goes through BLAS's
    # matrix-vector kernel, whose sums may round otherwise than the matrix kernel's
    wide = DenseNetwork(2, 1, task="binary", hidden=(2**19,), rng=np.random.default_rng(0))
    assert StepProgram(wide).chunk_rows == MIN_CHUNK_ROWS


@pytest.mark.parametrize("trials", [None, 4], ids=["alone", "stacked"])
def test_an_evaluation_holds_a_chunk_of_activations_not_the_whole_split(trials):
    network = _network("multiclass", np.float64, hidden=(512,))
    if trials is not None:
        network = _stacked(network, trials)
    program = StepProgram(network)
    rows = 20 * program.chunk_rows
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((rows, 12)), rng.integers(0, 4, rows)
    tracemalloc.start()
    try:
        program.evaluate({"": (X, y)})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    runs = trials or 1
    whole_pass = runs * rows * 512 * 8  # one hidden activation of the whole split
    # a chunk's activations and the whole split's logits (4 per row) with their temporaries
    assert peak < runs * (2 * CHUNK_BYTES + 8 * rows * 4 * 8)
    assert peak < whole_pass / 4


# -- the training split from the epoch's batches -------------------------------------------------


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_batch_scores_are_the_epochs_scores_of_its_batches(task):
    """Losses and accuracies are the row-weighted means of the batches'; R² is the epoch's own,
    from the batches' residuals and the split's spread, not a mean of the batches' R²."""
    rng = np.random.default_rng(3)
    sizes = [128, 128, 37]
    z = rng.standard_normal((sum(sizes), OUTPUTS[task]))
    y = _targets(task, sum(sizes), rng, np.float64)
    if task == "regression":
        y[:, 1] = 2.5  # a constant target column: scikit-learn's rule (1 if fitted exactly, else 0)
    scores = BatchScores(make_task(task))
    start = 0
    for size in sizes:
        gradient = scores.dlogits(z[start : start + size], y[start : start + size])
        expected = make_task(task).dlogits(z[start : start + size], y[start : start + size])
        assert np.array_equal(gradient, expected)
        start += size
    loss, metrics = scores.scores(y)
    whole = make_task(task)
    assert loss == pytest.approx(whole.loss(z, y), rel=1e-13)
    expected = whole.metrics(z, y)
    assert list(metrics) == list(expected)
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, rel=1e-13), name
    if task == "regression":
        batch_r2 = [whole.metrics(z[a : a + s], y[a : a + s])["r2"] for a, s in ((0, 128),)]
        assert metrics["r2"] != pytest.approx(batch_r2[0])


def test_with_one_batch_an_epochs_scores_are_the_last_evaluations(small_run):
    """Full-batch gradient descent without dropout: epoch e's batch is the whole training split
    before its update, which the evaluation after epoch e − 1 measured in the same mode."""
    small_run["train"].update(batch_size="full", epochs=4)
    full = sweepnp.train(small_run).history
    small_run["train"]["evaluate"] = {"train": "batches"}
    batches = sweepnp.train(small_run).history
    for column in ("loss", "accuracy"):
        assert batches[column].iloc[1:].tolist() == pytest.approx(
            full[column].iloc[:-1].tolist(), rel=1e-13, abs=0
        )
    assert batches["loss"].iloc[0] != full["loss"].iloc[0]
    for column in ("val_loss", "val_accuracy"):  # measured as before
        assert batches[column].equals(full[column])


def test_the_batches_loss_adds_the_weights_penalty_at_the_epochs_end(small_run):
    small_run["train"].update(batch_size="full", epochs=1, evaluate={"train": "batches"})
    small_run["regularizers"] = {"l2": {"lam": 0.5}}
    trainer = Trainer(small_run)
    program = trainer.prepare_steps(callbacks=())
    before = float(program.evaluate(trainer.data.splits()).scores[""][0])  # the data loss
    result = trainer.fit()
    after = float(trainer.program.penalty())
    assert after > 0.01
    assert result.records[0]["loss"] == pytest.approx(before + after, rel=1e-13, abs=0)


def test_batch_scores_are_in_training_mode(small_run):
    """With dropout the batches' accuracy is a training-mode one: not the evaluation's."""
    small_run["regularizers"] = {"dropout": {"rate": 0.5}}
    full = sweepnp.train(small_run).history
    small_run["train"]["evaluate"] = {"train": "batches"}
    batches = sweepnp.train(small_run).history
    assert not batches["loss"].equals(full["loss"])
    assert batches["val_loss"].equals(full["val_loss"])  # the same training, measured alike


# -- the test split where the run ends ---------------------------------------------------------


def test_the_test_split_is_measured_where_the_run_ends_by_default(small_run):
    small_run["train"]["epochs"] = 6
    at_end = sweepnp.train(small_run)
    small_run["train"]["evaluate"] = {"test": "every_epoch"}
    every = sweepnp.train(small_run)
    a = at_end.history.drop(columns="epoch_seconds")
    b = every.history.drop(columns="epoch_seconds")
    assert list(a.columns) == list(b.columns)  # the test split's in their place, last row only
    test = ["test_loss", "test_accuracy"]
    assert a[test].iloc[:-1].isna().all().all()
    assert a.iloc[-1].equals(b.iloc[-1])
    assert a.drop(columns=test).equals(b.drop(columns=test))  # nothing else changes
    assert at_end.metrics == every.metrics


def test_a_run_that_stops_early_records_the_test_split_where_it_stopped(small_run):
    small_run["train"]["epochs"] = 200
    small_run["callbacks"] = {"early_stopping": {"monitor": "val_loss", "patience": 2}}
    result = sweepnp.train(small_run)
    assert result.stop_reason == "early_stopped"
    history = result.history
    assert history["test_loss"].notna().tolist() == [False] * (len(history) - 1) + [True]


# -- the final metrics ---------------------------------------------------------------------------


class _Passes:
    """The splits each evaluation passes over, as a list per call (the real evaluation runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[str]] = []
        evaluate = StepProgram.evaluate

        def spy(program: StepProgram, splits: Any, train_scores: Any = None) -> Any:
            self.calls.append(list(splits))
            return evaluate(program, splits, train_scores)

        monkeypatch.setattr(StepProgram, "evaluate", spy)


@pytest.mark.parametrize(
    ("evaluate", "at_end"),
    [
        ({}, [["test_"]]),  # the test split for the last record; the rest is the last epoch's
        ({"test": "every_epoch"}, []),
        ({"train": "batches"}, [["test_"], [""]]),  # the final metrics pass over the training split
    ],
    ids=["default", "test every epoch", "train from batches"],
)
def test_the_final_metrics_pass_only_over_what_the_last_evaluation_did_not(
    small_run, monkeypatch, evaluate, at_end
):
    small_run["train"]["evaluate"] = evaluate
    passes = _Passes(monkeypatch)
    trainer = Trainer(small_run)
    result = trainer.fit()
    assert passes.calls[5:] == at_end  # after the 5 epochs' own
    passes.calls.clear()
    assert trainer.evaluate() == result.metrics  # the numbers of a full evaluation, bit for bit
    assert passes.calls == [["", "val_", "test_"]]


def test_parameters_changed_at_the_end_are_measured_again(small_run, monkeypatch):
    """Restoring the best epoch changes the parameters: the final metrics are a new pass."""
    small_run["train"]["epochs"] = 60
    small_run["optimizer"]["lr"] = 2.0  # the validation loss rises after its best epoch
    small_run["callbacks"] = {"early_stopping": {"monitor": "val_loss", "patience": 100}}
    passes = _Passes(monkeypatch)
    trainer = Trainer(small_run)
    result = trainer.fit()
    assert result.info["early_stopping"]["best_epoch"] < 59
    assert passes.calls[-1] == ["", "val_", "test_"]
    assert trainer.evaluate() == result.metrics
    assert result.metrics["val_loss"] == result.info["early_stopping"]["best_value"]


# -- mistakes ------------------------------------------------------------------------------------


def test_watching_a_metric_measured_only_at_the_end_is_refused_before_training(small_run):
    small_run["callbacks"] = {"early_stopping": {"monitor": "test_loss"}}
    trainer = Trainer(small_run)
    with pytest.raises(ConfigError) as caught:
        trainer.fit()
    assert caught.value.key == "callbacks.early_stopping.monitor"
    assert 'train.evaluate.test = "every_epoch"' in caught.value.reason
    assert trainer.records == []  # not one epoch trained
    small_run["train"]["evaluate"] = {"test": "every_epoch"}
    assert sweepnp.train(small_run).stop_reason in ("completed", "early_stopped")


def test_the_command_line_says_the_mistake_in_one_line(invoke, tmp_path):
    run = tmp_path / "run.toml"
    run.write_text(
        '[data]\ndataset = "breast_cancer"\n[train]\nepochs = 2\n'
        '[callbacks.early_stopping]\nmonitor = "test_accuracy"\n'
    )
    result = invoke("train", run)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {run}: callbacks.early_stopping.monitor: ")
    assert "Traceback" not in result.stderr
    assert 'set train.evaluate.test = "every_epoch"' in result.stderr


def test_a_study_pruning_on_a_test_metric_measured_at_the_end_is_refused():
    study = {
        "data": {"dataset": "breast_cancer"},
        "train": {"epochs": 3},
        "study": {
            "name": "s",
            "metric": "test_accuracy",
            "pruner": "median",
            "params": {"train.batch_size": {"choices": [16, 32]}},
        },
    }
    with pytest.raises(ConfigError) as caught:
        load_spec(study)
    assert caught.value.key == "study.pruner"
    assert 'train.evaluate.test = "every_epoch"' in caught.value.reason
    study["train"]["evaluate"] = {"test": "every_epoch"}
    assert load_spec(study).prunes


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"train": "none"}, ["train.evaluate.train", "'full' or 'batches'"]),
        ({"test": "epoch"}, ["train.evaluate.test", "'end' or 'every_epoch'"]),
        ({"tests": "end"}, ["train.evaluate.tests", "valid keys: train, test"]),
        ("end", ["train.evaluate", "must be a table", '"end" or "every_epoch"']),
    ],
)
def test_a_wrong_evaluate_names_the_key_and_the_choices(small_run, value, words):
    small_run["train"]["evaluate"] = value
    with pytest.raises(ConfigError) as caught:
        sweepnp.train(small_run)
    for word in words:
        assert word in str(caught.value)
