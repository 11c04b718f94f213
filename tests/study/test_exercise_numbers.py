"""Every number docs/exercises.md quotes from a study is what a fresh run of that study gives.

Each entry of :data:`NUMBERS` is a phrase of the doc with its numbers as format fields, and how
to compute them from the study's results. The test runs the study (once per module), formats the
fresh numbers into the phrase and looks for it in the doc: a doc edit that changes a number
without a rerun fails, and so does a change of code that moves a number the doc quotes. Runs are
deterministic on a machine (same file and seed, same numbers), so the phrase must match to the
last printed digit; wall-clock times vary, and the doc gives those as measured on a date instead.
A few numbers also vary with the machine's BLAS kernel (a chaotic setting of ``batchnorm``): the
doc quotes the range they take across kernels, a field ``{:~.3f}`` of the phrase, and the fresh
value must fall in it; ``test_the_docs_numbers_hold_on_another_machine`` runs the checks again as
another machine computes.

The studies run in about 20 s: in full, except ``dropout_rates`` and ``optimizers`` (20 s more):
for those the doc quotes, and the test checks, the numbers of their ``--quick`` mode, and the
full study's numbers are marked as measured.
"""

from __future__ import annotations

import json
import math
import os
import re
import string
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import sweepnp.results
from sweepnp.diagnosis import diagnose_runs
from sweepnp.report.verdict_words import config_name, verdict_text
from sweepnp.study.spec import load_spec
from sweepnp.study.worker import run_study

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "exercises.md"

Results = sweepnp.results.StudyResults


@dataclass(frozen=True)
class Number:
    """A phrase of docs/exercises.md (format fields for its numbers) and how to compute them."""

    study: str
    phrase: str
    compute: Callable[[Results], Any]
    quick: bool = False

    @property
    def name(self) -> str:
        return f"{self.study}-quick" if self.quick else self.study


# -- reading results -------------------------------------------------------------------------


def key(**table: Any) -> str:
    """How a table-valued choice reads in the results' parameter columns."""
    return json.dumps(table)


def by(res: Results, column: str, metric: str) -> pd.Series:
    """A trial column (a final metric, ``epochs``…) indexed by one searched parameter, as text."""
    trials = res.trials
    return trials.set_index(trials[column].astype(str))[metric]


def repeats(res: Results, column: str, metric: str) -> pd.Series:
    """One final metric of every (configuration, repeat), indexed by one parameter as text."""
    table = res.repeats_table()
    return table.set_index(table[column].astype(str))[metric]


def mean_curve(res: Results, trial: int, metric: str) -> pd.Series:
    """A trial's curve of one metric, the mean over its repeats, by epoch."""
    curves = res.curves[res.curves["trial"] == trial]
    return curves.groupby("epoch")[metric].mean()


def trial_of(res: Results, column: str, value: str) -> int:
    (number,) = res.trials.loc[res.trials[column].astype(str) == value, "number"]
    return int(number)


def label(res: Results, column: str, value: str) -> tuple[str, str]:
    """The report's learning-curve diagnosis of one configuration (its diagnosis table)."""
    trial = trial_of(res, column, value)
    found = diagnose_runs(res.curves[res.curves["trial"] == trial])
    assert found is not None
    return found


def epochs_up(curve: pd.Series) -> int:
    """How many epochs end with a higher value than the one before."""
    return int((np.diff(curve.to_numpy()) > 0).sum())


# -- the numbers ------------------------------------------------------------------------------

BATCH = "train.batch_size"
REG = "regularizers"
NONE = key()
L2 = key(l2={"lam": 0.2})
DROPOUT = key(dropout={"rate": 0.8})


def _minibatch_loss(res: Results) -> tuple[float, ...]:
    loss = by(res, BATCH, "final_loss")
    return tuple(loss[b] for b in ("1", "8", "32", "128", "full"))


def _minibatch_full(res: Results) -> tuple[Any, ...]:
    accuracy = repeats(res, BATCH, "val_accuracy")["full"].sort_values()
    return (accuracy.mean(), *accuracy.iloc[::-1])


def _overfitting_curve(res: Results) -> tuple[Any, ...]:
    trial = trial_of(res, REG, NONE)
    train, test = mean_curve(res, trial, "accuracy"), mean_curve(res, trial, "test_accuracy")
    below = train[train < 1.0].index
    memorized = int(train.index[train.index > below.max()][0])
    return memorized + 1, test.max(), int(test.idxmax()) + 1, test.iloc[-1]


def _overfitting_gap(res: Results) -> tuple[float, ...]:
    train, test = by(res, REG, "final_accuracy"), by(res, REG, "final_test_accuracy")
    return (train[L2], test[L2], train[NONE] - test[NONE], train[L2] - test[L2])


def _l2_penalty(res: Results) -> tuple[float, float]:
    table = repeats(res, REG, "weight_l2")
    norm = table[key(l2={"lam": 0.01})]
    return by(res, REG, "final_loss")[key(l2={"lam": 0.01})], float((0.005 * norm**2).mean())


def _l2_linear_printed(res: Results) -> tuple[float, ...]:
    """The loss at the epochs seed 004 prints (0, 20, …, 180): one value, 0.8890, from 60 on."""
    loss = mean_curve(res, trial_of(res, "regularizers.l2.lam", "0.1"), "loss")
    (settled,) = {round(loss[epoch], 4) for epoch in range(60, 200, 20)}
    return (settled, loss[0], loss[20], loss[40])


def _early_stopping_test_loss(res: Results) -> tuple[float, ...]:
    """The test loss without early stopping, then with it: the lowest and highest patience's."""
    loss = by(res, "callbacks.early_stopping", "final_test_loss")
    stopped = sorted(loss[_patience(p)] for p in (5, 10, 20))
    return (loss["False"], stopped[0], stopped[-1])


def _label_and_best_epoch(res: Results, column: str, value: str) -> tuple[str, int]:
    found, message = label(res, column, value)
    return found, int(re.search(r"Best epoch was (\d+)", message).group(1))


def _lowest_and_rise(res: Results) -> tuple[int, float]:
    val = mean_curve(res, trial_of(res, "optimizer.lr", "2.0"), "val_loss")
    return int(val.idxmin()), val.iloc[-1] / val.min() - 1


def _none_distinguishable(res: Results) -> int:
    comparisons = res.verdict().comparisons
    assert not any(c.distinguishable for c in comparisons)
    return len(comparisons)


def _tied(res: Results, labels: list[str]) -> float:
    """The mean the verdict names the given configurations tied at (and that they are tied)."""
    verdict = res.verdict()
    assert sorted(
        [config_name(verdict.best_params), *(config_name(c.params) for c in verdict.tied)]
    ) == sorted(labels)
    return res.summary()[f"{verdict.metric}_mean"].iloc[0]


def _early_stopping(res: Results) -> tuple[float, ...]:
    epochs = by(res, "callbacks.early_stopping", "final_epochs")
    return tuple(
        epochs[key(monitor="val_loss", patience=p, restore_best=True)] for p in (5, 10, 20)
    )


def _patience(p: int) -> str:
    return key(monitor="val_loss", patience=p, restore_best=True)


def _batchnorm(res: Results) -> tuple[float, ...]:
    trials = res.trials
    bn = trials["model.batch_norm"].astype(bool)
    accuracy = trials["final_val_accuracy"]  # a failed run's: its last evaluated epoch's
    completed = accuracy[trials["state"] == "complete"]
    (failed,) = accuracy[trials["state"] == "fail"]
    return (
        accuracy[~bn].mean(),
        completed[~bn].mean(),
        completed[~bn].min(),
        failed,
        accuracy[bn].mean(),
        accuracy[bn].min(),
    )


def _batchnorm_he_lr_1(res: Results) -> float:
    """The chaotic setting: He initialization at lr 1 without batch norm."""
    trials = res.trials
    (accuracy,) = trials.loc[
        (trials["model.init"].astype(str) == key(name="he"))
        & (trials["optimizer.lr"] == 1.0)
        & ~trials["model.batch_norm"].astype(bool),
        "final_val_accuracy",
    ]
    return accuracy


def _batchnorm_tiny(res: Results) -> tuple[float, float]:
    trials = res.trials
    tiny = trials[(trials["model.init"].astype(str) == key(name="normal", std=0.01))]
    tiny = tiny.set_index([tiny["model.batch_norm"].astype(bool), tiny["optimizer.lr"]])
    return tiny.loc[(False, 0.01), "final_val_accuracy"], tiny.loc[True, "final_val_accuracy"].max()


def _xor(res: Results) -> tuple[Any, ...]:
    table = res.repeats_table()
    hidden = table[table["model.hidden"] == "[4]"].set_index("model.activation")
    loss = hidden.groupby(level=0)["loss"].mean()
    relu = hidden.loc["relu", "accuracy"]
    return loss["tanh"], loss["sigmoid"], int((relu == 1.0).sum()), relu.mean()


def _clipping(res: Results) -> tuple[float, ...]:
    r2 = res.trials.set_index(
        [res.trials["optimizer.lr"], res.trials["callbacks.gradient_clipping"].astype(str)]
    )["final_val_r2"]
    norm, value = key(by="norm", threshold=1.0), key(by="value", threshold=1.0)
    return (
        r2[(0.5, norm)],
        r2[(0.5, value)],
        r2[(0.1, "False")],
        r2[(0.1, norm)],
        r2[(0.1, value)],
    )


def _learning_rate_curves(res: Results, lr: float) -> list[pd.Series]:
    trial = trial_of(res, "optimizer.lr", str(lr))
    curves = res.curves[res.curves["trial"] == trial]
    return [run.set_index("epoch")["loss"] for _, run in curves.groupby("repeat")]


def _lr_small(res: Results) -> tuple[float, ...]:
    runs = _learning_rate_curves(res, 0.001)
    accuracy = by(res, "optimizer.lr", "final_accuracy")["0.001"]
    return (np.mean([r.iloc[0] for r in runs]), np.mean([r.iloc[-1] for r in runs]), accuracy)


def _lr_right(res: Results) -> tuple[float, ...]:
    runs = _learning_rate_curves(res, 0.05)
    val = by(res, "optimizer.lr", "final_val_loss")["0.05"]
    return (np.mean([r.iloc[0] for r in runs]), np.mean([r.iloc[-1] for r in runs]), val)


def _lr_large(res: Results) -> tuple[Any, ...]:
    runs = _learning_rate_curves(res, 2.0)
    ups = [epochs_up(r) for r in runs]
    val = repeats(res, "optimizer.lr", "val_loss")
    return (
        min(ups),
        max(ups),
        max(r.iloc[-1] for r in runs),
        val["2.0"].mean(),
        val["2.0"].std(),
        val["0.05"].std(),
    )


def _lr_divergent(res: Results) -> tuple[Any, ...]:
    (run,) = _learning_rate_curves(res, 10.0)
    first = run.iloc[0]
    exponent = math.floor(math.log10(first))
    superscript = str(exponent).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
    nan = int(run.index[~np.isfinite(run.to_numpy())][0]) + 1
    return first / 10**exponent, superscript, nan


def _only(values: pd.Series) -> float:
    (value,) = set(values)
    return value


def _y2x_shuffled(res: Results) -> tuple[float, ...]:
    table = res.repeats_table()
    shuffled = table[table["train.shuffle"].astype(str) == "True"]
    mse = shuffled.groupby(shuffled["train.batch_size"].astype(str))["mse"]
    return mse.mean()["2"], mse.mean()["4"], mse.std()["2"], mse.std()["4"]


def _logistic1d(res: Results) -> tuple[float, ...]:
    trials = res.trials
    unshuffled = trials[trials["train.shuffle"].astype(str) == "False"].set_index("optimizer.lr")
    fast = unshuffled.loc[1.0]
    return (
        unshuffled.loc[0.1, "final_loss"],
        unshuffled.loc[0.1, "final_accuracy"],
        fast["final_loss"],
        fast["final_accuracy"],
        fast["final_W1"],
        fast["final_b1"],
        -fast["final_b1"] / fast["final_W1"],
    )


NUMBERS: list[Number] = [
    # minibatch
    Number(
        "minibatch",
        "the training loss is {:.4f} with batches of 1, {:.3f} with 8, {:.3f} with 32, "
        "{:.3f} with 128 and {:.2f} with the full split",
        _minibatch_loss,
    ),
    Number(
        "minibatch",
        "Validation accuracy is highest at batch sizes 8 and 32 ({:.3f})",
        lambda res: by(res, BATCH, "final_val_accuracy")["32"],
    ),
    Number(
        "minibatch",
        "full-batch gradient descent ends at {:.3f} on average: two of its three seeds leave "
        "the plateau ({:.3f} and {:.3f}), one stays on it ({:.3f})",
        _minibatch_full,
    ),
    Number(
        "minibatch",
        "batch size 32 ends at training accuracy {:.3f} and loss {:.3f}",
        lambda res: (by(res, BATCH, "final_accuracy")["32"], by(res, BATCH, "final_loss")["32"]),
    ),
    # l2
    Number(
        "l2",
        "the L2 norm of the weights goes from {:.2f} without a penalty to {:.2f}, {:.2f} and "
        "{:.2f} as λ grows",
        lambda res: tuple(
            by(res, REG, "final_weight_l2")[k]
            for k in (NONE, key(l2={"lam": 0.001}), key(l2={"lam": 0.01}), key(l2={"lam": 0.1}))
        ),
    ),
    Number(
        "l2",
        "validation accuracy stays {:.3f} up to λ = 0.001, is {:.3f} at 0.01 and {:.3f} at 0.1",
        lambda res: tuple(
            by(res, REG, "final_val_accuracy")[k]
            for k in (NONE, key(l2={"lam": 0.01}), key(l2={"lam": 0.1}))
        ),
    ),
    Number("l2", "the study's final training loss is {:.3f}, of which {:.3f}", _l2_penalty),
    # l2_linear
    Number(
        "l2_linear",
        "at λ = 0.1 the total loss is **{:.4f}** and the MSE {:.4f}",
        lambda res: tuple(
            by(res, "regularizers.l2.lam", m)["0.1"] for m in ("final_loss", "final_mse")
        ),
    ),
    Number(
        "l2_linear",
        "Without a penalty the MSE is {:.4f}; at λ = 1 the weights' norm has fallen from {:.2f} "
        "to {:.2f} and the MSE risen to {:.2f}",
        lambda res: (
            by(res, "regularizers.l2.lam", "final_mse")["0.0"],
            by(res, "regularizers.l2.lam", "final_weight_l2")["0.0"],
            by(res, "regularizers.l2.lam", "final_weight_l2")["1.0"],
            by(res, "regularizers.l2.lam", "final_mse")["1.0"],
        ),
    ),
    Number(
        "l2_linear",
        "(`Loss = {:.4f}` at every 20th epoch from 60 to 180); the seed's first three printed "
        "losses (11.8049, 0.9744, 0.8899) start from its random initial W, sweepnp's from W = 0 "
        "(epochs 0, 20 and 40: {:.4f}, {:.4f}, {:.4f})",
        _l2_linear_printed,
    ),
    # overfitting
    Number(
        "overfitting",
        "training accuracy is 1.0 from epoch {} on, while test accuracy peaks at {:.3f} "
        "(epoch {}) and then falls to {:.3f}",
        _overfitting_curve,
    ),
    Number(
        "overfitting",
        "L2 trades training accuracy for test accuracy ({:.3f} and {:.3f}), closing the gap "
        "from {:.3f} to {:.3f}",
        _overfitting_gap,
    ),
    Number(
        "overfitting",
        "dropout keeps training accuracy at {:.1f} and ends at a test accuracy of {:.3f}",
        lambda res: (
            by(res, REG, "final_accuracy")[DROPOUT],
            by(res, REG, "final_test_accuracy")[DROPOUT],
        ),
    ),
    Number(
        "overfitting",
        "labels the unregularized run *{}* (“{}”)",
        lambda res: label(res, REG, NONE),
    ),
    Number("overfitting", "the L2 run *{}*", lambda res: label(res, REG, L2)[0]),
    Number("overfitting", "The report's verdict: {}", lambda res: verdict_text(res.verdict())),
    # dropout_rates, quick mode
    Number(
        "dropout_rates",
        "in `--quick` mode (10 epochs, two seeds) training accuracy is {:.3f}, {:.3f}, {:.3f}, "
        "{:.3f} and {:.3f}",
        lambda res: tuple(
            res.summary(by="regularizers.dropout.rate", metrics=["accuracy"])
            .set_index("regularizers.dropout.rate")["accuracy_mean"]
            .sort_index()
        ),
        quick=True,
    ),
    # optimizers, quick mode
    Number(
        "optimizers",
        "In `--quick` mode (10 epochs, one seed) Adam's training loss after 10 epochs is {:.3f} "
        "against SGD's {:.3f} at lr 0.001 and {:.3f} against {:.3f} at 0.01",
        lambda res: tuple(
            res.trials.set_index(["optimizer.name", "optimizer.lr"])["final_loss"][(name, lr)]
            for lr in (0.001, 0.01)
            for name in ("adam", "sgd")
        ),
        quick=True,
    ),
    # schedules
    Number(
        "schedules",
        "validation accuracy ({:.3f}–{:.3f}) and test accuracy ({:.3f}–{:.3f})",
        lambda res: (
            res.trials["final_val_accuracy"].min(),
            res.trials["final_val_accuracy"].max(),
            res.trials["final_test_accuracy"].min(),
            res.trials["final_test_accuracy"].max(),
        ),
    ),
    Number(
        "schedules",
        "the decaying schedules end with the higher training loss ({:.3f}–{:.3f} against {:.3f})",
        lambda res: (
            by(res, "schedule", "final_loss").drop(key(name="constant")).min(),
            by(res, "schedule", "final_loss").drop(key(name="constant")).max(),
            by(res, "schedule", "final_loss")[key(name="constant")],
        ),
    ),
    # early_stopping
    Number(
        "early_stopping",
        "patience 5 stops after {:.0f} epochs on average, 10 after {:.0f}, 20 after {:.0f}",
        _early_stopping,
    ),
    Number(
        "early_stopping",
        "Restoring the best epoch cuts the test loss from {:.2f} to {:.2f}–{:.2f}",
        lambda res: (
            by(res, "callbacks.early_stopping", "final_test_loss")["False"],
            *sorted(
                by(res, "callbacks.early_stopping", "final_test_loss")[_patience(p)]
                for p in (20, 5)
            ),
        ),
    ),
    Number(
        "early_stopping",
        "higher without early stopping here ({:.3f} against {:.3f}–{:.3f})",
        lambda res: (
            by(res, "callbacks.early_stopping", "final_test_accuracy")["False"],
            by(res, "callbacks.early_stopping", "final_test_accuracy").drop("False").min(),
            by(res, "callbacks.early_stopping", "final_test_accuracy").drop("False").max(),
        ),
    ),
    # l1_vs_l2
    Number(
        "l1_vs_l2",
        "at λ = 10⁻³, L1 leaves {:.0f} of the 4736 weights near zero ({:.0%}, the mean of two "
        "seeds) and L2 {:.0f} ({:.0%}); at λ = 10⁻⁴, {:.0f} against {:.0f}",
        lambda res: (
            by(res, REG, "final_near_zero_weights")[key(l1={"lam": 0.001})],
            by(res, REG, "final_near_zero_fraction")[key(l1={"lam": 0.001})],
            by(res, REG, "final_near_zero_weights")[key(l2={"lam": 0.001})],
            by(res, REG, "final_near_zero_fraction")[key(l2={"lam": 0.001})],
            by(res, REG, "final_near_zero_weights")[key(l1={"lam": 0.0001})],
            by(res, REG, "final_near_zero_weights")[key(l2={"lam": 0.0001})],
        ),
    ),
    Number(
        "l1_vs_l2",
        "Validation accuracy is the same within noise ({:.3f}–{:.3f})",
        lambda res: (
            res.trials["final_val_accuracy"].min(),
            res.trials["final_val_accuracy"].max(),
        ),
    ),
    # batchnorm
    Number(
        "batchnorm",
        "without batch norm the mean validation accuracy over the nine settings is {:~.3f} "
        "({:~.3f} over the eight that complete, the worst of them {:~.2f}; the diverged run "
        "stopped at {:.2f}, chance); with it the mean is {:.3f} and the worst {:.2f}",
        _batchnorm,
    ),
    Number(
        "batchnorm",
        "Tiny initializations stall without it ({:.2f} at lr 0.01); with it they reach the best "
        "accuracy of the study ({:.3f})",
        _batchnorm_tiny,
    ),
    # y2x
    Number(
        "y2x",
        "batch 2 ends at {:.3f} and batch 4 at {:.3f} (means of three seeds; standard "
        "deviations {:.3f} and {:.3f})",
        _y2x_shuffled,
    ),
    # logistic1d
    Number(
        "logistic1d",
        "lr 0.1 reaches a loss of {:.3f} (accuracy {:.2f}) and lr 1 {:.3f} ({:.2f}; W = {:.2f}, "
        "b = {:.2f}, a boundary at x = {:.2f})",
        _logistic1d,
    ),
    # learning_rates
    Number("learning_rates", "{:.3f} → {:.3f} in 100 epochs (accuracy {:.2f}", _lr_small),
    Number(
        "learning_rates",
        "{:.3f} → {:.3f}, lower after every epoch; validation loss {:.3f}",
        _lr_right,
    ),
    Number(
        "learning_rates",
        "rises again in {}–{} of the 100 epochs; ends at {:.4f} at most, but validation loss "
        "{:.3f}, its standard deviation over seeds {:.3f} ({:.4f} at 0.05)",
        _lr_large,
    ),
    Number(
        "learning_rates",
        "{:.0f}·10{} after the first epoch, NaN at the {}th",
        _lr_divergent,
    ),
    Number(
        "learning_rates",
        "at 0.05) | {} |",
        lambda res: label(res, "optimizer.lr", "2.0")[0],
    ),
    # clipping
    Number(
        "clipping",
        "validation R² {:.2f} against {:.2f} by value). At lr 0.1 clipping is not needed and "
        "costs a little (R² {:.2f} unclipped, {:.2f} by norm, {:.2f} by value)",
        _clipping,
    ),
    # xor
    Number(
        "xor",
        "tanh and sigmoid solve XOR in every seed (tanh to a loss of {:.3f}, sigmoid {:.3f}); "
        "ReLU in {} of five (mean accuracy {:.2f})",
        _xor,
    ),
    Number(
        "xor",
        "accuracy {:.2f} in every seed here",
        lambda res: _only(repeats(res, "model.hidden", "accuracy")["[]"]),
    ),
    Number("xor", "The report's verdict: {}", lambda res: verdict_text(res.verdict())),
    # random_labels
    Number(
        "random_labels",
        "the 4-16-8-3 network ends at validation accuracy {:.3f} and the 4-64-64-3 at {:.3f}, "
        "chance being 1/3, while their training accuracy climbs to {:.3f} and {:.3f}",
        lambda res: (
            *by(res, "model.hidden", "final_val_accuracy")[["[16, 8]", "[64, 64]"]],
            *by(res, "model.hidden", "final_accuracy")[["[16, 8]", "[64, 64]"]],
        ),
    ),
    Number(
        "random_labels",
        "| training {:.3f}, validation {:.3f} (chance 1/3) |",
        lambda res: (
            by(res, "model.hidden", "final_accuracy")["[16, 8]"],
            by(res, "model.hidden", "final_val_accuracy")["[16, 8]"],
        ),
    ),
    # the summary tables' rows
    Number(
        "minibatch",
        "| loss {:.3f}, training accuracy {:.3f} (epoch 100, three seeds) |",
        lambda res: (by(res, BATCH, "final_loss")["32"], by(res, BATCH, "final_accuracy")["32"]),
    ),
    Number(
        "minibatch",
        "| loss {:.4f} … {:.2f}; ms per epoch |",
        lambda res: (by(res, BATCH, "final_loss")["1"], by(res, BATCH, "final_loss")["full"]),
    ),
    Number(
        "l2",
        "| loss {:.3f} (with the penalty ½λΣw², {:.3f} of it), training accuracy {:.3f} |",
        lambda res: (*_l2_penalty(res), by(res, REG, "final_accuracy")[key(l2={"lam": 0.01})]),
    ),
    Number(
        "overfitting",
        "| training accuracy 1.0 against test {:.3f}; L2 narrows the gap",
        lambda res: by(res, REG, "final_test_accuracy")[NONE],
    ),
    Number(
        "overfitting",
        "| training accuracy 1.0; test accuracy peaks at {:.3f}, ends at {:.3f} |",
        lambda res: _overfitting_curve(res)[1::2],
    ),
    Number(
        "l1_vs_l2",
        "| L1 leaves {:.0f}× as many near-zero weights as L2 at λ = 10⁻³ |",
        lambda res: (
            by(res, REG, "final_near_zero_weights")[key(l1={"lam": 0.001})]
            / by(res, REG, "final_near_zero_weights")[key(l2={"lam": 0.001})]
        ),
    ),
    Number(
        "l1_vs_l2",
        "| L1 {:.0f} near-zero weights, L2 {:.0f} |",
        lambda res: tuple(
            by(res, REG, "final_near_zero_weights")[key(**{name: {"lam": 0.001}})]
            for name in ("l1", "l2")
        ),
    ),
    Number(
        "batchnorm",
        "| mean validation accuracy {:~.3f} → {:.3f} |",
        lambda res: (_batchnorm(res)[0], _batchnorm(res)[4]),
    ),
    Number(
        "early_stopping",
        "early stopping cuts the test loss {:.2f} → {:.2f} |",
        lambda res: _early_stopping_test_loss(res)[:2],
    ),
    Number("early_stopping", "| stops after {:.0f}, {:.0f}, {:.0f} epochs |", _early_stopping),
    Number(
        "early_stopping",
        "| test loss {:.2f} → {:.2f} |",
        lambda res: _early_stopping_test_loss(res)[:2],
    ),
    Number(
        "xor",
        "| tanh and sigmoid: accuracy {:.1f} in every seed |",
        lambda res: _only(
            repeats(res, "model.activation", "accuracy")[["tanh", "sigmoid"]].astype(float)
        ),
    ),
    # what the verdicts and the diagnosis say
    Number(
        "minibatch",
        "The report's diagnosis calls batch size 1 *{}*: its validation loss climbs from epoch {} "
        "on",
        lambda res: _label_and_best_epoch(res, BATCH, "1"),
    ),
    Number(
        "minibatch",
        "The verdict: batch sizes 32 and 8 are tied at validation accuracy {:.4f}",
        lambda res: _tied(res, ["batch size 32", "batch size 8"]),
    ),
    Number(
        "schedules",
        "warmup + cosine and constant are tied at validation accuracy {:.3f}",
        lambda res: _tied(res, ["schedule warmup_cosine warmup epochs=5", "schedule constant"]),
    ),
    Number(
        "overfitting",
        "a gap of {:.3f} between two small losses",
        lambda res: by(res, REG, "final_val_loss")[NONE] - by(res, REG, "final_loss")[NONE],
    ),
    Number(
        "learning_rates",
        "at lr 2 the validation loss is lowest at epoch {} and climbs {:.0%} from there",
        lambda res: _lowest_and_rise(res),
    ),
    Number(
        "learning_rates",
        "lr 2's validation loss varies {:.0f} times as much between seeds",
        lambda res: _lr_large(res)[4] / _lr_large(res)[5],
    ),
    Number(
        "batchnorm",
        "the verdict separates nothing: not one of the {} other completed settings is "
        "distinguishable from the best at 95%",
        lambda res: _none_distinguishable(res),
    ),
]


# -- the test ---------------------------------------------------------------------------------


def normalized(text: str) -> str:
    """The doc's text with every run of whitespace one space and every minus sign ASCII."""
    return " ".join(text.replace("−", "-").split())


def written(phrase: str, doc: str) -> str | None:
    """The doc's version of a phrase, whatever its numbers: for the failure message."""
    parts = re.split(r"\{[^}]*\}", normalized(phrase))
    pattern = r"(.{1,200}?)".join(re.escape(part) for part in parts)
    if not parts[-1]:  # a number at the very end: up to the next space or punctuation
        pattern += r"[^\s,;)|]*"
    found = re.search(pattern, doc)
    return found.group(0) if found else None


#: How the doc writes a range ("0.66–0.76"): a spread across BLAS kernels (a field ``{:~.3f}``).
RANGE = r"(-?\d+(?:\.\d+)?)–(-?\d+(?:\.\d+)?)"


def fields(phrase: str) -> list[tuple[str, str | None]]:
    """The phrase's literal texts, each with the format spec of the field after it (or None)."""
    return [
        (text, None if name is None else spec)
        for text, name, spec, _ in string.Formatter().parse(phrase)
    ]


def fresh(number: Number, values: Any) -> str:
    """The phrase with a fresh run's numbers, each to its printed digits (a ranged one too)."""
    values = iter(values if isinstance(values, tuple) else (values,))
    return normalized(
        "".join(
            text + ("" if spec is None else format(next(values), spec.removeprefix("~")))
            for text, spec in fields(number.phrase)
        )
    )


def check(number: Number, values: Any, doc: str) -> str | None:
    """None if the (normalized) doc says what a fresh run gives: its exact digits, or, for a field
    ``{:~SPEC}``, a range "LOW–HIGH" holding the fresh value printed with SPEC. Else what is
    wrong."""
    values = values if isinstance(values, tuple) else (values,)
    pattern, ranged, values_left = "", [], iter(values)
    for text, spec in fields(normalized(number.phrase)):
        pattern += re.escape(text)
        if spec is None:
            continue
        value = next(values_left)
        if spec.startswith("~"):
            pattern += RANGE
            ranged.append(float(format(value, spec[1:])))
        else:
            pattern += re.escape(format(value, spec))
    found = re.search(pattern, doc)
    outside = []
    if found:
        bounds = [float(bound) for bound in found.groups()]
        outside = [
            f"{value} is outside {low}–{high}"
            for value, low, high in zip(ranged, bounds[::2], bounds[1::2], strict=True)
            if not low <= value <= high
        ]
    if found and not outside:
        return None
    return (
        f"a fresh run: {fresh(number, values)!r}{''.join('; ' + o for o in outside)}\n"
        f"    the doc:   {written(number.phrase, doc)!r}"
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Callable[[str, bool], Results]:
    """``results(study, quick)``: the study run once for the module, in a temporary journal."""
    journal = str(tmp_path_factory.mktemp("exercise-numbers") / "studies.journal")
    done: dict[str, Results] = {}

    def run(study: str, quick: bool) -> Results:
        spec = load_spec(ROOT / "studies" / f"{study}.toml", quick=quick)
        if spec.name not in done:
            run_study(ROOT / "studies" / f"{study}.toml", storage=journal, spec=spec)
            done[spec.name] = sweepnp.results.load(spec.name, journal)
        return done[spec.name]

    return run


STUDIES = sorted({(n.study, n.quick) for n in NUMBERS})


@pytest.mark.slow
@pytest.mark.parametrize(
    ("study", "quick"), STUDIES, ids=[f"{s}-quick" if q else s for s, q in STUDIES]
)
def test_the_docs_numbers_are_a_fresh_runs(results, study, quick):
    res = results(study, quick)
    doc = normalized(DOC.read_text())
    wrong = [
        problem
        for number in NUMBERS
        if (number.study, number.quick) == (study, quick)
        and (problem := check(number, number.compute(res), doc))
    ]
    assert not wrong, "docs/exercises.md is not what a fresh run gives:\n" + "\n".join(wrong)


# -- numbers that depend on the machine ------------------------------------------------------
#
# NumPy's matrix products are OpenBLAS's, whose kernel depends on the CPU (OpenBLAS picks one at
# import; OPENBLAS_CORETYPE forces another), and NumPy's own ufuncs (exp, tanh, maximum…) have
# SIMD versions chosen by CPU too (NPY_DISABLE_CPU_FEATURES turns the newer ones off). Each
# machine is deterministic, but the last bits differ between kernels, and a chaotic setting
# (batchnorm's He initialization at lr 1 without batch norm) turns them into other accuracies.
# The doc gives the numbers that move as ranges (fields ``{:~SPEC}``) and a table of the values
# measured under each (kernel, SIMD) pair; the test below checks this machine's row.


def blas_kernel() -> str:
    """The kernel OpenBLAS chose for this process (``OPENBLAS_CORETYPE`` forces one), or the BLAS
    library's name where NumPy does not use OpenBLAS."""
    import threadpoolctl

    for pool in threadpoolctl.threadpool_info():
        if pool["user_api"] == "blas":
            return pool.get("architecture") or pool["internal_api"]
    return "unknown"


def numpy_simd() -> str:
    """The SIMD target of NumPy's float64 ``exp`` here ("X86_V4", "baseline(X86_V2)"…)."""
    try:
        from numpy.lib.introspect import opt_func_info

        (targets,) = opt_func_info(func_name="^exp$", signature="^float64").values()
        (target,) = {target["current"] for target in targets.values()}
    except (ImportError, ValueError, KeyError):
        return "unknown"
    return target


#: A row of the doc's table of batchnorm's numbers under each (kernel, SIMD) pair.
KERNEL_ROW = "| {} | {} | {:.3f} | {:.3f} | {:.2f} | {:.3f} |"


def _kernel_row(res: Results) -> tuple[Any, ...]:
    mean, completed, worst = _batchnorm(res)[:3]
    return (blas_kernel(), numpy_simd(), mean, completed, worst, _batchnorm_he_lr_1(res))


@pytest.mark.slow
def test_the_docs_table_of_kernels_holds_this_machines_row(results):
    """The doc's table of batchnorm's numbers by kernel: every row within the ranges the doc
    quotes, and this machine's row, where the table has one, what a fresh run gives."""
    doc = normalized(DOC.read_text())
    number = next(n for n in NUMBERS if n.study == "batchnorm" and "nine settings" in n.phrase)
    quoted = re.search(r"over the nine settings is " + RANGE, doc)
    assert quoted, f"the doc quotes no range for {number.phrase!r}"
    low, high = (float(bound) for bound in quoted.groups())
    number_ = r"(\d+\.\d+)"
    cells = r"\| (\w+) \| ([\w()]+) \| " + r" \| ".join([number_] * 4) + r" \|"
    rows = re.findall(cells, doc)
    assert len(rows) >= 2, "the doc's table of kernels has gone"
    wrong = [row for row in rows if not low <= float(row[2]) <= high]
    assert not wrong, f"rows of the table outside the quoted {low}–{high}: {wrong}"

    expected = normalized(KERNEL_ROW.format(*_kernel_row(results("batchnorm", False))))
    here = normalized("| {} | {} |".format(*_kernel_row(results("batchnorm", False))[:2]))
    if here not in doc:
        pytest.skip(f"the table has no row for this machine: {expected}")
    assert expected in doc, f"this machine's row in the table is not a fresh run's: {expected}"


#: Machines to emulate on this one: (OpenBLAS kernel, the CPU feature it needs, NumPy's dispatch
#: targets it lacks). NumPy 2.4 names its targets X86_V3, X86_V4…; NumPy 2.0–2.3 AVX2, AVX512F…
OTHER_MACHINES = [
    ("Haswell", "AVX2", ("X86_V4", "AVX512")),
    ("Sandybridge", "AVX", ("X86_V3", "X86_V4", "AVX512", "AVX2", "FMA3", "F16C")),
    ("Nehalem", "SSE42", ("X86_V3", "X86_V4", "AVX512", "AVX2", "FMA3", "F16C", "AVX")),
]


def another_machine() -> dict[str, str] | None:
    """The environment that makes a process compute as another x86-64 machine would: another
    OpenBLAS kernel, one this CPU can run, and NumPy's ufuncs without the SIMD targets that
    machine lacks. None where NumPy's BLAS is not OpenBLAS or the CPU is not x86."""
    from numpy._core import _multiarray_umath as umath

    kernel = blas_kernel()
    features = getattr(umath, "__cpu_features__", {})
    dispatch = getattr(umath, "__cpu_dispatch__", [])
    for other, needs, lacks in OTHER_MACHINES:
        if other != kernel and features.get(needs):
            off = [target for target in dispatch if target.startswith(lacks)]
            return {"OPENBLAS_CORETYPE": other, "NPY_DISABLE_CPU_FEATURES": " ".join(off)}
    return None


@pytest.mark.slow
def test_the_docs_numbers_hold_on_another_machine(tmp_path):
    """This module's tests once more in a process that computes as another machine would (another
    OpenBLAS kernel, as docs/exercises.md's README command runs on any machine): an exact number
    that moves with the kernel fails there, and so does a ranged one outside its range."""
    env = another_machine()
    if env is None:
        pytest.skip(f"no other kernel to emulate (BLAS kernel {blas_kernel()})")
    env = {**os.environ, **env}
    probe = subprocess.run(
        [sys.executable, __file__, "--machine"], env=env, capture_output=True, text=True
    )
    assert probe.returncode == 0, probe.stderr
    if probe.stdout.split()[0] != env["OPENBLAS_CORETYPE"]:
        pytest.skip(f"OpenBLAS ignores OPENBLAS_CORETYPE here: {probe.stdout.strip()}")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider",
         "-k", "not another_machine", f"--basetemp={tmp_path / 'pytest'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, (
        f"under {probe.stdout.strip()}:\n{run.stdout[-6000:]}{run.stderr[-2000:]}"
    )


# -- every number, for this machine ----------------------------------------------------------


def main() -> None:
    """Print every number the test checks, as this machine computes them (a ranged one with its
    printed digits), and this machine's row of the doc's table of kernels; run the script under
    several kernels (``OPENBLAS_CORETYPE=Haswell python tests/study/test_exercise_numbers.py``,
    NPY_DISABLE_CPU_FEATURES…) and compare. ``--machine``: only the kernel and SIMD target;
    study names: only those studies."""
    import tempfile

    print(blas_kernel(), numpy_simd())
    if sys.argv[1:] == ["--machine"]:
        return
    with tempfile.TemporaryDirectory() as folder:
        journal = str(Path(folder) / "studies.journal")
        for study, quick in STUDIES:
            if sys.argv[1:] and study not in sys.argv[1:]:
                continue
            spec = load_spec(ROOT / "studies" / f"{study}.toml", quick=quick)
            run_study(ROOT / "studies" / f"{study}.toml", storage=journal, spec=spec)
            res = sweepnp.results.load(spec.name, journal)
            for number in (n for n in NUMBERS if (n.study, n.quick) == (study, quick)):
                print(f"{number.name}: {fresh(number, number.compute(res))}")
            if study == "batchnorm":
                print(f"batchnorm table: {KERNEL_ROW.format(*_kernel_row(res))}")


if __name__ == "__main__":
    main()
