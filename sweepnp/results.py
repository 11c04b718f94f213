"""A study's results as pandas tables.

```python
import sweepnp.results

res = sweepnp.results.load("quickstart")             # default storage: ./sweepnp.journal
res.trials         # one row per trial
res.history        # one row per (trial, repeat, epoch, metric)
res.summary()      # per configuration across repeats: mean, std, 95% CI, n
res.summary(by="regularizers.dropout.rate")
res.best()         # the best trial (a Series), or the Pareto front (a DataFrame)
```

The tables read only what sweepnp stored through Optuna, so they work on any storage, also while
workers are still adding trials.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from sweepnp import storage as storages
from sweepnp.errors import ConfigError
from sweepnp.space import SearchSpace, decode_params, encode_value
from sweepnp.study import CONFIG_ATTR, RECORD_ATTR, decode_history, stored_spec

__all__ = ["StudyResults", "list_studies", "load"]

STATES = ("complete", "pruned", "fail", "running", "waiting")
STOP_REASONS = (
    "completed",
    "early_stopped",
    "pruned",
    "diverged",
    "failed",
    "interrupted",
    "stale",
    "running",
    "waiting",
)


def load(name: str, storage: str | None = None) -> StudyResults:
    """The results of study ``name`` in ``storage`` (default: ``./sweepnp.journal``)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    handle = storages.open_storage(storage, create=False)
    try:
        study = optuna.load_study(study_name=name, storage=handle)
    except KeyError:
        names = optuna.get_all_study_names(handle)
        raise ConfigError(
            f"no study named {name!r} in {storages.describe(storage)}; "
            f"studies there: {', '.join(names) or '(none)'}",
            key="NAME",
        ) from None
    return StudyResults(study)


def list_studies(storage: str | None = None) -> pd.DataFrame:
    """One row per study in the storage: name, directions, trials, best value, start."""
    summaries = optuna.get_all_study_summaries(
        storages.open_storage(storage, create=False), include_best_trial=True
    )
    rows = []
    for summary in summaries:
        best = summary.best_trial
        rows.append(
            {
                "name": summary.study_name,
                "directions": ",".join(d.name.lower() for d in summary.directions),
                "n_trials": summary.n_trials,
                "best_value": best.value
                if best is not None and best.values and len(best.values) == 1
                else np.nan,
                "best_trial": best.number if best is not None else pd.NA,
                "datetime_start": summary.datetime_start,
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=["name", "directions", "n_trials", "best_value", "best_trial", "datetime_start"],
    )
    return frame.astype(
        {"n_trials": "int64", "best_trial": "Int64", "datetime_start": "datetime64[ns]"}
    )


class StudyResults:
    """Tables of one study. Build with :func:`load`."""

    def __init__(self, study: optuna.Study) -> None:
        self.study = study
        self.name = study.study_name
        if CONFIG_ATTR not in study.user_attrs:
            raise ConfigError(f"study {self.name!r} was not created by sweepnp", key="NAME")
        self.spec = stored_spec(study, validate_runs=False)  # reading needs no plugins
        self.metrics: list[str] = self.spec.metrics
        self.space: SearchSpace = self.spec.space
        self._trials = study.get_trials(deepcopy=False)
        self._retried = storages.retried_numbers(self._trials)

    @property
    def config(self) -> dict[str, Any]:
        """The study file, as stored when the study was created."""
        return dict(self.study.user_attrs[CONFIG_ATTR])

    @property
    def param_columns(self) -> list[str]:
        return self.space.paths

    # -- trials --------------------------------------------------------------------------------

    @functools.cached_property
    def trials(self) -> pd.DataFrame:
        """One row per trial: number, state, stop reason, params by dotted path, objective
        value(s), final and best metrics (means over repeats), epochs, duration, seeds."""
        rows = [self._trial_row(t) for t in self._trials]
        frame = pd.DataFrame(rows)
        if frame.empty:
            frame = pd.DataFrame(columns=["number", "state", "stop_reason", *self.param_columns])
        return self._typed(frame)

    def _value_columns(self) -> list[str]:
        return ["value"] if len(self.metrics) == 1 else [f"value_{m}" for m in self.metrics]

    def _trial_row(self, trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
        record = trial.user_attrs.get(RECORD_ATTR, {})
        state = trial.state.name.lower()
        reason = record.get("stop_reason") or {"running": "running", "waiting": "waiting"}.get(
            state
        )
        if reason is None and trial.state == TrialState.FAIL and trial.number in self._retried:
            reason = "stale"  # failed by Optuna's heartbeat, which leaves no record
        row: dict[str, Any] = {"number": trial.number, "state": state, "stop_reason": reason}
        params = decode_params(trial.params)
        for path in self.param_columns:
            value = params.get(path)
            row[path] = encode_value(value)
        values = trial.values or [np.nan] * len(self.metrics)
        for column, value in zip(self._value_columns(), values, strict=True):
            row[column] = value
        final = record.get("final") or []
        names = sorted({k for repeat in final for k in repeat})
        for metric in names:
            row[f"final_{metric}"] = float(np.mean([repeat[metric] for repeat in final]))
        history = self._history_of(trial)
        if history is not None:
            for metric, direction in zip(self.metrics, self.spec.directions, strict=True):
                if metric in history:
                    per_repeat = history.groupby("repeat")[metric]
                    best = per_repeat.max() if direction == "maximize" else per_repeat.min()
                    row[f"best_{metric}"] = float(best.mean())
        row["epochs"] = sum(record.get("epochs", [])) if record.get("epochs") else pd.NA
        row["repeats"] = len(record.get("seeds", [])) or pd.NA
        row["seeds"] = record.get("seeds", [])
        row["datetime_start"] = trial.datetime_start
        row["datetime_complete"] = trial.datetime_complete
        row["reason"] = trial.user_attrs.get(storages.REASON_ATTR)
        return row

    def _typed(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame["number"] = frame["number"].astype("int64")
        frame["state"] = pd.Categorical(frame["state"], categories=STATES)
        frame["stop_reason"] = pd.Categorical(frame["stop_reason"], categories=STOP_REASONS)
        for param in self.space.params:
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

    # -- history -------------------------------------------------------------------------------

    def _history_of(self, trial: optuna.trial.FrozenTrial) -> pd.DataFrame | None:
        record = trial.user_attrs.get(RECORD_ATTR, {})
        return decode_history(record["history"]) if "history" in record else None

    @functools.cached_property
    def history(self) -> pd.DataFrame:
        """Long format: one row per (trial, repeat, epoch, metric), with its ``value``."""
        frames = []
        for trial in self._trials:
            wide = self._history_of(trial)
            if wide is None:
                continue
            long = wide.melt(id_vars=["repeat", "epoch"], var_name="metric", value_name="value")
            frames.append(long.assign(trial=trial.number))
        if not frames:
            return pd.DataFrame(
                {
                    "trial": pd.Series(dtype="int64"),
                    "repeat": pd.Series(dtype="int64"),
                    "epoch": pd.Series(dtype="int64"),
                    "metric": pd.Categorical([]),
                    "value": pd.Series(dtype="float64"),
                }
            )
        frame = pd.concat(frames, ignore_index=True)[
            ["trial", "repeat", "epoch", "metric", "value"]
        ]
        frame = frame.astype({"trial": "int64", "repeat": "int64", "epoch": "int64"})
        frame["value"] = frame["value"].astype("float64")
        frame["metric"] = frame["metric"].astype("category")
        return frame.sort_values(["trial", "repeat", "epoch", "metric"], ignore_index=True)

    # -- summary and best ----------------------------------------------------------------------

    def repeats_table(self) -> pd.DataFrame:
        """One row per (finished trial, repeat): params and every final metric of that repeat."""
        rows = []
        for trial in self._trials:
            if trial.state != TrialState.COMPLETE:
                continue
            record = trial.user_attrs.get(RECORD_ATTR, {})
            params = decode_params(trial.params)
            for repeat, final in enumerate(record.get("final", [])):
                row = {"trial": trial.number, "repeat": repeat}
                row.update({p: encode_value(params.get(p)) for p in self.param_columns})
                row.update(final)
                rows.append(row)
        return pd.DataFrame(rows)

    def summary(
        self, by: str | Sequence[str] | None = None, metrics: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Per configuration across repeats: ``<metric>_mean``, ``_std``, ``_ci_low``,
        ``_ci_high`` (95%, t distribution) and ``n``, best configuration first (of equal
        means, the one tried first).

        :param by: the columns that define a configuration (default: every searched parameter).
        :param metrics: which final metrics to summarize (default: the study's metrics).
        """
        by = [by] if isinstance(by, str) else list(by or self.param_columns)
        metrics = [metrics] if isinstance(metrics, str) else list(metrics or self.metrics)
        unknown = [c for c in by if c not in self.param_columns]
        if unknown:
            raise ConfigError(
                f"cannot group by {', '.join(unknown)}; valid: {', '.join(self.param_columns)}",
                key="by",
            )
        table = self.repeats_table()
        if table.empty:
            return pd.DataFrame(columns=[*by, *(f"{m}_mean" for m in metrics), "n"])
        missing = [m for m in metrics if m not in table]
        if missing:
            skip = {"trial", "repeat", "seed", *by, *self.param_columns}
            valid = ", ".join(c for c in table.columns if c not in skip)
            raise ConfigError(
                f"no metric {', '.join(missing)} in this study; valid: {valid}", key="metrics"
            )
        from scipy import stats  # imported here: half a second that listings do not need

        grouped = table.groupby(by, dropna=False, observed=True)
        out = pd.DataFrame({"n": grouped.size(), "_first": grouped["trial"].min()})
        for metric in metrics:
            mean = grouped[metric].mean()
            std = grouped[metric].std(ddof=1)
            n = grouped[metric].count()
            half = stats.t.ppf(0.975, (n - 1).clip(lower=1)) * std / np.sqrt(n)
            half = half.where(n > 1)
            out[f"{metric}_mean"] = mean
            out[f"{metric}_std"] = std
            out[f"{metric}_ci_low"] = mean - half
            out[f"{metric}_ci_high"] = mean + half
        first = self.metrics[0] if self.metrics[0] in metrics else metrics[0]
        direction = (
            self.spec.directions[self.metrics.index(first)] if first in self.metrics else "minimize"
        )
        # Ties go to the configuration tried first, as Optuna's best_trial does.
        out = out.sort_values(
            [f"{first}_mean", "_first"], ascending=[direction == "minimize", True]
        ).drop(columns="_first")
        out["n"] = out["n"].astype("int64")
        return out.reset_index()

    def best(self) -> pd.Series | pd.DataFrame:
        """The best trial's row; for a multi-objective study, the Pareto front's rows."""
        trials = self.trials
        if len(self.metrics) > 1:
            numbers = [t.number for t in self.study.best_trials]
            return trials.loc[numbers]
        try:
            number = self.study.best_trial.number
        except ValueError:
            raise ConfigError(
                f"study {self.name!r} has no completed trial yet", key="NAME"
            ) from None
        return trials.loc[number]

    def best_config(self) -> dict[str, Any]:
        """The run file of the best trial (single objective): the base with its params set."""
        return self.spec.run_file(decode_params(self.study.best_trial.params))
