"""The results tables, built for studies of thousands of trials (the trials' values gathered
column by column, the best of each curve without a table a trial), are the very tables the
earlier construction gave — one DataFrame and a groupby per trial, one table per trial's curves
concatenated — in content, columns, dtypes and index, on real studies: several repeats, every
trial state (complete, pruned, failed by a plugin, diverged, running, queued), conditional and
categorical parameters, several objectives. ``REFERENCE`` below is that earlier construction,
kept as it was."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest

import sweepnp
from sweepnp import results
from sweepnp.plugins import PluginManager
from sweepnp.study.record import TrialRecord, retried_numbers
from sweepnp.study.space import encode_value
from sweepnp.study.storage import open_storage
from sweepnp.study.worker import run_study
from sweepnp.vocabulary import STOP_REASONS

# -- the earlier construction (sweepnp/results.py before the tables were built column-wise) -----


def _old_trials(res: results.StudyResults) -> pd.DataFrame:
    trials = res.study.get_trials(deepcopy=False)
    retried = retried_numbers(trials)
    records = {t.number: TrialRecord.of(t, retried) for t in trials}
    value_columns = ["value"] if len(res.metrics) == 1 else [f"value_{m}" for m in res.metrics]
    rows = []
    for trial in trials:
        record = records[trial.number]
        row: dict[str, Any] = {
            "number": trial.number,
            "state": trial.state.name.lower(),
            "stop_reason": record.stop_reason,
        }
        for path in res.param_columns:
            row[path] = trial.params.get(path)
        values = trial.values or [np.nan] * len(res.metrics)
        for column, value in zip(value_columns, values, strict=True):
            row[column] = value
        names = sorted({k for repeat in record.final for k in repeat})
        for metric in names:
            row[f"final_{metric}"] = float(np.mean([repeat[metric] for repeat in record.final]))
        curves = record.curves()
        if curves is not None:
            for metric, direction in zip(res.metrics, res.spec.directions, strict=True):
                if metric in curves:
                    per_repeat = curves.groupby("repeat")[metric]
                    best = per_repeat.max() if direction == "maximize" else per_repeat.min()
                    row[f"best_{metric}"] = float(best.mean())
        row["epochs"] = sum(record.epochs) if record.epochs else pd.NA
        row["repeats"] = len(record.seeds) or pd.NA
        row["seeds"] = record.seeds
        row["datetime_start"] = trial.datetime_start
        row["datetime_complete"] = trial.datetime_complete
        row["reason"] = record.reason
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=["number", "state", "stop_reason", *res.param_columns])
    return _old_typed(res, frame)


def _old_typed(res: results.StudyResults, frame: pd.DataFrame) -> pd.DataFrame:
    frame["number"] = frame["number"].astype("int64")
    frame["state"] = pd.Categorical(frame["state"], categories=results.STATES)
    own = sorted(set(frame["stop_reason"].dropna()) - set(STOP_REASONS))
    frame["stop_reason"] = pd.Categorical(
        frame["stop_reason"], categories=[*map(str, STOP_REASONS), *own]
    )
    for param in res.space.params:
        if param.path not in frame:
            frame[param.path] = pd.NA
        column = frame[param.path]
        if param.kind == "categorical":
            categories = [encode_value(c) for c in param.choices]
            frame[param.path] = pd.Categorical(column, categories=categories)
        elif param.kind == "int":
            frame[param.path] = column.astype("Int64")
        else:
            frame[param.path] = column.astype("float64")
    for column in ("epochs", "repeats"):
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    for column in ("datetime_start", "datetime_complete"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column])
    if "datetime_start" in frame:
        frame["duration"] = frame["datetime_complete"] - frame["datetime_start"]
    return frame.set_index("number", drop=False).rename_axis(None)


def _old_curves(res: results.StudyResults) -> pd.DataFrame:
    trials = res.study.get_trials(deepcopy=False)
    retried = retried_numbers(trials)
    frames = []
    for trial in trials:
        wide = TrialRecord.of(trial, retried).curves()
        if wide is not None:
            frames.append(wide.assign(trial=trial.number))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in ("trial", "repeat", "epoch")})
    frame = pd.concat(frames, ignore_index=True)
    first = ["trial", "repeat", "epoch"]
    frame = frame[first + [c for c in frame.columns if c not in first]]
    frame = frame.astype({c: "int64" for c in first})
    return frame.sort_values(first, ignore_index=True)


def _old_history(curves: pd.DataFrame) -> pd.DataFrame:
    if curves.empty:
        return pd.DataFrame(
            {
                "trial": pd.Series(dtype="int64"),
                "repeat": pd.Series(dtype="int64"),
                "epoch": pd.Series(dtype="int64"),
                "metric": pd.Categorical([]),
                "value": pd.Series(dtype="float64"),
            }
        )
    frame = curves.melt(id_vars=["trial", "repeat", "epoch"], var_name="metric", value_name="value")
    frame["value"] = frame["value"].astype("float64")
    frame["metric"] = frame["metric"].astype("category")
    return frame.sort_values(["trial", "repeat", "epoch", "metric"], ignore_index=True)


def _same_tables(name: str, journal: str) -> results.StudyResults:
    res = results.load(name, journal)
    for new, old in (
        (res.trials, _old_trials(res)),
        (res.curves, _old_curves(res)),
        (res.history, _old_history(_old_curves(res))),
    ):
        pd.testing.assert_frame_equal(new, old, check_exact=True)
        assert list(new.dtypes) == list(old.dtypes)
        assert list(new.index) == list(old.index)
    return res


# -- real studies --------------------------------------------------------------------------


class Flaky:
    """A plugin whose callback breaks on large batches: those trials fail."""

    class Callback(sweepnp.Callback):
        def on_epoch_end(self, epoch, logs):
            if self.trainer.config.train.batch_size == 64 and epoch == 2:
                raise RuntimeError("boom")

    @sweepnp.hookimpl
    def sweepnp_register_callbacks(self):
        return {"flaky": Flaky.Callback}


@pytest.mark.parametrize("stack", [1, 4])
def test_the_tables_of_a_study_of_every_trial_state_are_as_before(
    study_dict, journal, tmp_path, write_study, stack
):
    study_dict["callbacks"]["flaky"] = {}
    study_dict["study"].update(
        repeats=2,
        n_trials=14,
        sampler={"name": "random", "seed": 1},
        pruner={"name": "median", "n_startup_trials": 2, "n_warmup_steps": 1},
        params={
            "train.batch_size": {"choices": [16, 64, 32]},
            "optimizer.name": {"choices": ["sgd", "momentum"]},
            "optimizer.beta": {"low": 0.5, "high": 0.95, "when": {"optimizer.name": "momentum"}},
            "optimizer.lr": {"low": 0.01, "high": 0.5, "log": True},
            "callbacks.early_stopping.patience": {"low": 2, "high": 5},
        },
    )
    pm = PluginManager(load_entrypoints=False, extra=(Flaky(),))
    path = write_study(tmp_path / "every.toml", study_dict)
    run_study(path, storage=journal, stack=stack, plugin_manager=pm)
    # A trial running in another worker now, and one queued to run again.
    study = optuna.load_study(study_name="small", storage=open_storage(journal))
    running = study.ask()
    running.suggest_categorical("train.batch_size", [16, 64, 32])
    study.enqueue_trial({"train.batch_size": 16}, user_attrs={"sweepnp_retry_of": 0})
    res = _same_tables("small", journal)
    states = set(res.trials["state"].astype(str))
    assert {"complete", "pruned", "fail", "running", "waiting"} <= states
    assert res.trials["optimizer.beta"].isna().any() and res.trials["optimizer.beta"].notna().any()
    assert res.trials["best_val_accuracy"].notna().sum() >= 10


def test_the_tables_of_diverging_runs_and_of_several_objectives_are_as_before(
    study_dict, journal, tmp_path, write_study
):
    study_dict["data"] = {"dataset": "linear", "seed": 0}
    study_dict["model"] = {"task": "regression", "hidden": [4]}
    study_dict["callbacks"] = {}
    study_dict["study"].update(
        metric=["val_r2", "val_loss"],
        direction=["maximize", "minimize"],
        repeats=2,
        sampler={"name": "grid"},
        params={"optimizer.lr": {"choices": [0.01, 0.05, 0.4, 2.0]}},
    )
    run_study(write_study(tmp_path / "d.toml", study_dict), storage=journal, n_trials=4)
    res = _same_tables("small", journal)
    assert (res.trials["stop_reason"] == "diverged").any()
    assert {"best_val_r2", "best_val_loss", "value_val_r2"} <= set(res.trials.columns)
    assert not np.isfinite(res.curves["val_loss"]).all()  # the diverged runs' curves


def test_the_tables_of_an_empty_study_are_as_before(study_file, journal):
    run_study(study_file, storage=journal, n_trials=1)
    storage = open_storage(journal)
    attrs = optuna.load_study(study_name="small", storage=storage).user_attrs
    optuna.delete_study(study_name="small", storage=storage)  # the same study, no trial yet
    copy = optuna.create_study(study_name="small", storage=storage, direction="maximize")
    for key, value in attrs.items():
        copy.set_user_attr(key, value)
    res = _same_tables("small", journal)
    assert res.trials.empty and res.curves.empty


def test_the_summary_and_the_repeats_table_are_built_once_and_each_caller_gets_its_own(
    small_journal,
):
    res = results.load("small", small_journal)
    summary, repeats = res.summary(), res.repeats_table()
    assert summary is not res.summary() and repeats is not res.repeats_table()
    summary.loc[0, "n"] = 99
    repeats["seed"] = -1
    pd.testing.assert_frame_equal(res.summary(), results.load("small", small_journal).summary())
    assert (res.repeats_table()["seed"] != -1).all()
