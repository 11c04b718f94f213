"""A study's results as pandas tables.

```python
import sweepnp.results

res = sweepnp.results.load("quickstart")             # default storage: ./sweepnp.journal
res.trials         # one row per trial
res.history        # one row per (trial, repeat, epoch, metric)
res.summary()      # per configuration across repeats: mean, std, 95% CI, n
res.summary(by="regularizers.dropout.rate")
res.best()         # the best trial (a Series), or the Pareto front (a DataFrame)
res.verdict()      # what the data can claim: the best, and the configurations tied with it or
                   # not distinguishable from it at 95% (numbers; the report says it in words)
```

This is the tables layer: it builds on the statistics (:mod:`sweepnp.verdict`) and never imports
the report, which builds on it (the words: :mod:`sweepnp.report.words`, the verdict's sentence:
:func:`sweepnp.report.verdict`, the notebook view with both: :func:`sweepnp.report.view`).

The tables read only what sweepnp stored through Optuna, so they work on any storage, also while
workers are still adding trials.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from sweepnp.errors import ArgumentError, ConfigError
from sweepnp.garbage import collection_paused
from sweepnp.metrics import interval_by_group
from sweepnp.study import storage as storages
from sweepnp.study.record import CONFIG_ATTR, TrialRecord, retried_numbers
from sweepnp.study.space import SearchSpace, decode_params, encode_value
from sweepnp.study.spec import stored_spec
from sweepnp.vocabulary import STOP_REASONS

if TYPE_CHECKING:
    from sweepnp.verdict import Verdict

__all__ = ["StudyResults", "list_studies", "load"]

STATES = ("complete", "pruned", "fail", "running", "waiting")


@collection_paused()
def load(name: str, storage: str | None = None) -> StudyResults:
    """The results of study ``name`` in ``storage`` (default: ``./sweepnp.journal``)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return StudyResults(storages.load_study(name, storage))


def list_studies(storage: str | None = None) -> pd.DataFrame:
    """One row per study in the storage: name, directions, trials, best value, start."""
    rows = storages.study_rows(storage)
    for row in rows:
        row["best_trial"] = pd.NA if row["best_trial"] is None else row["best_trial"]
    frame = pd.DataFrame(rows, columns=list(storages.STUDY_COLUMNS))
    return frame.astype(
        {"n_trials": "int64", "best_trial": "Int64", "datetime_start": "datetime64[ns]"}
    )


class StudyResults:
    """Tables of one study. Build with :func:`load`."""

    def __init__(self, study: optuna.Study) -> None:
        self.study = study
        self.name = study.study_name
        if CONFIG_ATTR not in study.user_attrs:
            raise ArgumentError(f"study {self.name!r} was not created by sweepnp", argument="name")
        self.spec = stored_spec(study, validate_runs=False)  # reading needs no plugins
        self.metrics: list[str] = self.spec.metrics
        self.space: SearchSpace = self.spec.space
        self._trials = study.get_trials(deepcopy=False)
        retried = retried_numbers(self._trials)
        self._records = {t.number: TrialRecord.of(t, retried) for t in self._trials}

    # -- how the results show themselves ------------------------------------------------------

    def counts(self) -> str:
        """``6 trials (4 complete, 2 pruned)``: the trials by state, in the order of STATES."""
        states = [t.state.name.lower() for t in self._trials]
        by_state = ", ".join(f"{states.count(s)} {s}" for s in STATES if s in states)
        count = len(states)
        return f"{count} trial{'s' * (count != 1)}" + (f" ({by_state})" if by_state else "")

    def objective(self) -> str:
        """``val_accuracy (maximize), 2 repeats``: what the study optimizes."""
        goals = ", ".join(
            f"{m} ({d})" for m, d in zip(self.metrics, self.spec.directions, strict=True)
        )
        repeats = self.spec.study.repeats
        return f"{goals}, {repeats} repeat{'s' * (repeats != 1)}"

    def __repr__(self) -> str:
        # What a notebook cell or a REPL shows first: which study, how far along, of what.
        return f"StudyResults({self.name!r}: {self.counts()}; {self.objective()})"

    def _repr_html_(self) -> str:
        """A notebook's view, in numbers: the study and its :meth:`summary`'s best
        configurations. The report's view adds the verdict and says each configuration and
        estimate in words: ``sweepnp.report.view(res)``."""
        import html

        shown = 10  # the best configurations; summary() holds the rest
        summary = self.summary()
        head = (
            f"<p><b>StudyResults</b> {html.escape(repr(self.name))}: "
            f"{html.escape(self.counts())}; {html.escape(self.objective())}</p>"
        )
        if summary.empty:
            return f"<div>{head}</div>"
        more = len(summary) - shown
        tail = (
            f"<p>… and {more} more configuration{'s' * (more != 1)}: "
            "<code>.summary()</code> holds them all.</p>"
            if more > 0
            else ""
        )
        table = summary.head(shown).to_html(index=False, escape=True)
        return f"<div>{head}{table}{tail}</div>"

    @property
    def config(self) -> dict[str, Any]:
        """The study file, as stored when the study was created."""
        return dict(self.study.user_attrs[CONFIG_ATTR])

    @property
    def param_columns(self) -> list[str]:
        return self.space.paths

    # -- trials --------------------------------------------------------------------------------

    @functools.cached_property
    @collection_paused()
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
        record = self._records[trial.number]
        row: dict[str, Any] = {
            "number": trial.number,
            "state": trial.state.name.lower(),
            "stop_reason": record.stop_reason,
        }
        for path in self.param_columns:  # as Optuna stores them: lists and tables as JSON
            row[path] = trial.params.get(path)
        values = trial.values or [np.nan] * len(self.metrics)
        for column, value in zip(self._value_columns(), values, strict=True):
            row[column] = value
        names = sorted({k for repeat in record.final for k in repeat})
        for metric in names:
            row[f"final_{metric}"] = _mean([repeat[metric] for repeat in record.final])
        if record.rows:  # a record made in this process, not read from the storage
            curves = self._curves_of(trial.number)
            for metric, direction in zip(self.metrics, self.spec.directions, strict=True):
                if curves is not None and metric in curves:
                    per_repeat = curves.groupby("repeat")[metric]
                    best = per_repeat.max() if direction == "maximize" else per_repeat.min()
                    row[f"best_{metric}"] = float(best.mean())
        else:
            stored = self._stored_columns(trial.number)
            for metric, direction in zip(self.metrics, self.spec.directions, strict=True):
                if stored is not None and metric in stored:
                    row[f"best_{metric}"] = _best_over_repeats(
                        stored["repeat"], stored[metric], direction == "maximize"
                    )
        row["epochs"] = sum(record.epochs) if record.epochs else pd.NA
        row["repeats"] = len(record.seeds) or pd.NA
        row["seeds"] = record.seeds
        row["datetime_start"] = trial.datetime_start
        row["datetime_complete"] = trial.datetime_complete
        row["reason"] = record.reason
        return row

    def _typed(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame["number"] = frame["number"].astype("int64")
        frame["state"] = pd.Categorical(frame["state"], categories=STATES)
        own = sorted(set(frame["stop_reason"].dropna()) - set(STOP_REASONS))  # plugins' reasons
        frame["stop_reason"] = pd.Categorical(
            frame["stop_reason"], categories=[*map(str, STOP_REASONS), *own]
        )
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

    @functools.cache  # noqa: B019 (one StudyResults per load; its records never change)
    def _curves_of(self, number: int) -> pd.DataFrame | None:
        return self._records[number].curves()

    @functools.cache  # noqa: B019 (as above: the curves are decoded once, for both tables)
    def _stored_columns(self, number: int) -> dict[str, list[Any]] | None:
        return self._records[number].stored_columns()

    @functools.cached_property
    @collection_paused()
    def curves(self) -> pd.DataFrame:
        """The learning curves, wide: one row per (trial, repeat, evaluated epoch), ``trial``,
        ``repeat``, ``epoch`` and a column per metric (``epoch_seconds`` too)."""
        return self._curves_table(self._trials)

    def curves_of(self, numbers: Collection[int]) -> pd.DataFrame:
        """The learning curves of the trials ``numbers``: the rows of :attr:`curves`, with the
        metric columns these trials have (a metric only other trials have is left out, where
        :attr:`curves` has it as NaN); built from their curves alone."""
        if "curves" in self.__dict__:
            curves = self.curves
            return curves[curves["trial"].isin(numbers)]
        wanted = set(numbers)
        return self._curves_table([t for t in self._trials if t.number in wanted])

    def _curves_table(self, trials: Sequence[optuna.trial.FrozenTrial]) -> pd.DataFrame:
        frame = self._gathered_curves(trials)
        if frame is None:  # a column some trial has no value of: as pandas concatenates
            frames = []
            for trial in trials:
                wide = self._curves_of(trial.number)
                if wide is not None:
                    frames.append(wide.assign(trial=trial.number))
            frame = pd.concat(frames, ignore_index=True) if frames else None
        if frame is None:
            return pd.DataFrame({c: pd.Series(dtype="int64") for c in ("trial", "repeat", "epoch")})
        first = ["trial", "repeat", "epoch"]
        frame = frame[first + [c for c in frame.columns if c not in first]]
        frame = frame.astype({c: "int64" for c in first})
        return frame.sort_values(first, ignore_index=True)

    def _gathered_curves(self, trials: Sequence[optuna.trial.FrozenTrial]) -> pd.DataFrame | None:
        """Every trial's stored curves gathered column by column into one table (one
        DataFrame, not one a trial); ``None`` when there are none, or when a trial's column
        holds no value at all (a column pandas would type on its own), or holds curves made in
        this process: :attr:`curves` then concatenates the trials' tables."""
        columns: dict[str, list[Any]] = {}
        rows = 0
        for trial in trials:
            record = self._records[trial.number]
            if record.rows:
                return None
            stored = self._stored_columns(trial.number)
            if stored is None:
                continue
            lengths = {len(values) for values in stored.values()}
            if len(lengths) != 1 or any(all(v is None for v in c) for c in stored.values()):
                return None
            length = lengths.pop()
            for name, values in stored.items():
                column = columns.get(name)
                if column is None:
                    column = columns[name] = [math.nan] * rows
                column.extend(values)
            trials = columns.setdefault("trial", [math.nan] * rows)
            trials.extend([trial.number] * length)
            rows += length
            for column in columns.values():
                if len(column) < rows:  # a column this trial does not have
                    column.extend([math.nan] * (rows - len(column)))
        return pd.DataFrame(columns) if rows else None

    @functools.cached_property
    def history(self) -> pd.DataFrame:
        """Long format: one row per (trial, repeat, epoch, metric), with its ``value``."""
        curves = self.curves
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
        frame = curves.melt(
            id_vars=["trial", "repeat", "epoch"], var_name="metric", value_name="value"
        )
        frame["value"] = frame["value"].astype("float64")
        frame["metric"] = frame["metric"].astype("category")
        return frame.sort_values(["trial", "repeat", "epoch", "metric"], ignore_index=True)

    # -- summary and best ----------------------------------------------------------------------

    def repeats_table(self) -> pd.DataFrame:
        """One row per (finished trial, repeat): ``trial``, ``repeat``, the ``seed`` that repeat
        trained with, params and every final metric of that repeat.

        In a study with paired seeds (``[study] seeds = "paired"``, the default) repeat r of
        every configuration has the same seed: compare configurations seed by seed."""
        return self._repeats.copy()  # built once (the verdict and the summary both read it)

    @functools.cached_property
    def _repeats(self) -> pd.DataFrame:
        rows = []
        for trial in self._trials:
            if trial.state != TrialState.COMPLETE:
                continue
            record = self._records[trial.number]
            for repeat, final in enumerate(record.final):
                seed = record.seeds[repeat] if repeat < len(record.seeds) else pd.NA
                row = {"trial": trial.number, "repeat": repeat, "seed": seed}
                row.update({p: trial.params.get(p) for p in self.param_columns})
                row.update(final)
                rows.append(row)
        frame = pd.DataFrame(rows)
        if "seed" in frame:
            frame["seed"] = frame["seed"].astype("Int64")
        return frame

    def summary(
        self, by: str | Sequence[str] | None = None, metrics: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Per configuration across repeats: ``<metric>_mean``, ``_std``, ``_ci_low``,
        ``_ci_high`` (95%, t distribution, clipped to the metric's range: accuracy within
        [0, 1], a loss at or above 0 — :func:`~sweepnp.metrics.metric_bounds`) and ``n``, best
        configuration first (of equal means, the one tried first).

        :param by: the columns that define a configuration (default: every searched parameter).
        :param metrics: which final metrics to summarize (default: the study's metrics).
        """
        by = [by] if isinstance(by, str) else list(by or self.param_columns)
        metrics = [metrics] if isinstance(metrics, str) else list(metrics or self.metrics)
        # Built once per grouping (``study show`` and the verdict both ask for the default).
        return self._summary(tuple(by), tuple(metrics)).copy()

    @functools.cache  # noqa: B019 (one StudyResults per load; its records never change)
    def _summary(self, by_columns: tuple[str, ...], chosen: tuple[str, ...]) -> pd.DataFrame:
        by, metrics = list(by_columns), list(chosen)
        unknown = [c for c in by if c not in self.param_columns]
        if unknown:
            raise ConfigError(
                f"cannot group by {', '.join(unknown)}; valid: {', '.join(self.param_columns)}",
                key="by",
            )
        table = self._repeats
        if table.empty:
            return pd.DataFrame(columns=[*by, *(f"{m}_mean" for m in metrics), "n"])
        missing = [m for m in metrics if m not in table]
        if missing:
            skip = {"trial", "repeat", "seed", *by, *self.param_columns}
            valid = ", ".join(c for c in table.columns if c not in skip)
            raise ConfigError(
                f"no metric {', '.join(missing)} in this study; valid: {valid}", key="metrics"
            )
        grouped = table.groupby(by, dropna=False, observed=True)
        out = pd.DataFrame({"n": grouped.size(), "_first": grouped["trial"].min()})
        for metric in metrics:
            interval = interval_by_group(grouped[metric], metric)
            for part in ("mean", "std", "ci_low", "ci_high"):
                out[f"{metric}_{part}"] = interval[part]
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
            raise ArgumentError(
                f"study {self.name!r} has no completed trial yet", argument="name"
            ) from None
        return trials.loc[number]

    @collection_paused()
    def verdict(self, spread: float | None = None, spread_seeds: int | None = None) -> Verdict:
        """What the study can claim about its best configuration by its first metric: the
        configurations tied with it, and those the data cannot tell from it at 95% (paired
        t-tests on the shared seeds, Holm-corrected: :func:`sweepnp.verdict.verdict`), as
        numbers. :func:`sweepnp.report.verdict_text` of it is the report's sentence.

        :param spread: for a study of one repeat, the run-to-run standard deviation of the
            metric measured elsewhere (:func:`sweepnp.study.spread.measure_spread`), to tell the
            configurations within it; ``spread_seeds``: over how many seeds.
        """
        from sweepnp.verdict import verdict

        return verdict(self, spread, spread_seeds)

    def best_config(self) -> dict[str, Any]:
        """The run file of the best trial (single objective): the base with its params set."""
        return self.spec.run_file(decode_params(self.study.best_trial.params))


def _mean(values: list[Any]) -> float:
    """``float(np.mean(values))``, without NumPy for one float (the same number)."""
    if len(values) == 1 and type(values[0]) is float:
        return values[0]
    return float(np.mean(values))


def _best_over_repeats(repeats: list[Any], values: list[Any], maximize: bool) -> float:
    """The mean over repeats of each repeat's best value, as pandas computes it from the
    curves (``groupby("repeat").max().mean()``, or ``min``): missing values and NaN skipped, a
    repeat with none is NaN, and NaN repeats are left out of the mean."""
    best: dict[Any, float] = {}
    if len(set(repeats)) == 1:  # one repeat: its best is the mean
        found = [v for v in values if v is not None and v == v]
        return float(max(found) if maximize else min(found)) if found else math.nan
    for repeat, value in zip(repeats, values, strict=True):
        if value is None or value != value:
            best.setdefault(repeat, math.nan)
            continue
        held = best.get(repeat)
        if held is None or held != held or (value > held if maximize else value < held):
            best[repeat] = value
    per_repeat = np.array([best[r] for r in sorted(best)], dtype=np.float64)
    missing = np.isnan(per_repeat)
    count = int((~missing).sum())
    if not count:
        return math.nan
    # As pandas' mean: NaN filled with 0, summed in order, divided by the count.
    return float(np.where(missing, 0.0, per_repeat).sum() / count)
