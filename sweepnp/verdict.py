"""What a study can claim: the best configuration, and which others the data cannot tell from it.

A sweep's product is a claim — "this configuration is best" — and :func:`verdict` makes it no
stronger than the data:

* configurations whose mean equals the best's are **tied** with it, never beaten by it;
* with repeats, every other configuration is compared with the best on its differences, seed by
  seed (a paired t-test: repeat r of every configuration trains with the same seed, ``[study]
  seeds = "paired"``), or with Welch's t-test when the study drew its seeds per configuration;
  the p-values are corrected for the number of comparisons by Holm's method, and the
  configurations whose corrected p-value is 0.05 or more are *not distinguishable* from the best
  at 95%; where the data show no variation at all (every paired difference the same), the exact
  randomization test replaces the t-test, whose statistic would divide by zero;
* with one repeat nothing measures the run-to-run spread: given the spread (``spread``, a
  standard deviation measured elsewhere: :func:`sweepnp.study.spread.measure_spread`), the
  configurations within the 95% range of the difference between two seeds of one configuration
  (1.96·√2·spread) are the ones not distinguishable from the best;
* a best configuration whose learning curve the diagnosis flags (diverging, underfitting,
  overfitting — unless early stopping ended every run of it: :func:`sweepnp.diagnosis.diagnose`
  on its mean loss curves) is said to be so.

This is the statistics layer: it returns numbers, parameter dicts and flags, and imports neither
the results tables (it reads the :class:`~sweepnp.results.StudyResults` it is given) nor the
report. The sentence the report and ``sweepnp study show`` print is
:func:`sweepnp.report.verdict_words.verdict_text`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sweepnp.vocabulary import StopReason

if TYPE_CHECKING:
    from sweepnp.results import StudyResults

__all__ = [
    "FLAGGED",
    "LEVEL",
    "Comparison",
    "Verdict",
    "best_trials",
    "config_key",
    "holm",
    "is_missing",
    "verdict",
]

#: The confidence of "distinguishable": a corrected p-value below 1 − LEVEL.
LEVEL = 0.95
#: Diagnoses that put a best configuration's claim in doubt.
FLAGGED = ("diverging", "underfitting", "overfitting")


@dataclass(frozen=True)
class Comparison:
    """One configuration compared with the best.

    :ivar params: its searched values, as the results tables hold them (inactive conditional
        parameters left out).
    :ivar mean: its mean of the metric over its repeats; ``n`` repeats.
    :ivar difference: the best's mean minus its own, oriented so that positive means "worse
        than the best" (for a metric to minimize, its mean minus the best's).
    :ivar test: ``"paired t-test"``, ``"Welch's t-test"``, ``"spread"`` (one repeat, against
        a given run-to-run spread), ``"tie"`` (equal means), or ``None`` (nothing to test with).
    :ivar p_value: the test's two-sided p-value; ``p_holm``: corrected by Holm's method.
    :ivar distinguishable: whether the data tell it from the best at 95%.
    """

    params: dict[str, Any]
    mean: float
    n: int
    difference: float
    test: str | None
    p_value: float = math.nan
    p_holm: float = math.nan
    distinguishable: bool = False

    @property
    def tied(self) -> bool:
        return self.test == "tie"


@dataclass(frozen=True)
class Verdict:
    """What the study can claim about its best configuration by its first metric.

    :ivar metric: the metric; ``direction``: ``maximize`` or ``minimize``.
    :ivar best_params: the best configuration's searched values (the first tried of those tied
        at the top).
    :ivar mean: its mean of the metric; ``ci_low``, ``ci_high``: its 95% confidence interval
        (clipped to the metric's range, as :meth:`~sweepnp.results.StudyResults.summary` gives
        it), None for one repeat.
    :ivar n: its repeats (0: no completed trial yet, :attr:`empty`).
    :ivar comparisons: every other completed configuration, best first.
    :ivar test: how the others were compared (``None`` for one repeat and no spread).
    :ivar spread: the run-to-run standard deviation used for one repeat, if given;
        ``spread_seeds``: over how many seeds of the best configuration it was measured, if
        known.
    :ivar diagnosis: the best configuration's learning-curve diagnosis when it is one of
        :data:`FLAGGED`, with its message.
    """

    metric: str
    direction: str
    best_params: dict[str, Any] = field(default_factory=dict)
    mean: float = math.nan
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    comparisons: list[Comparison] = field(default_factory=list)
    test: str | None = None
    spread: float | None = None
    spread_seeds: int | None = None
    diagnosis: tuple[str, str] | None = None

    @property
    def empty(self) -> bool:
        """Whether the study has no completed trial yet (nothing to claim)."""
        return self.n == 0

    @property
    def tied(self) -> list[Comparison]:
        """The configurations whose mean equals the best's."""
        return [c for c in self.comparisons if c.tied]

    @property
    def indistinguishable(self) -> list[Comparison]:
        """The configurations not told apart from the best at 95% (ties not included)."""
        return [c for c in self.comparisons if not c.tied and not c.distinguishable]


def is_missing(value: Any) -> bool:
    """An inactive conditional parameter: None, NaN or pandas' NA."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down correction of ``p_values`` (NaN stays NaN and does not count).

    Sorted ascending, the i-th of m p-values is multiplied by m − i + 1, kept monotone and
    capped at 1: the family-wise error rate stays at most the level, whatever the dependence
    between the comparisons (they all share the best configuration's repeats)."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    running = 0.0
    for rank, index in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def verdict(
    res: StudyResults, spread: float | None = None, spread_seeds: int | None = None
) -> Verdict:
    """The claim the study supports about its best configuration by its first metric.

    :param spread: for a study of one repeat: the run-to-run standard deviation of the metric
        (one configuration trained with several seeds), to tell the configurations within it;
        ``spread_seeds``: over how many seeds it was measured
        (:func:`sweepnp.study.spread.measure_spread`).
    """
    metric = res.metrics[0]
    direction = res.spec.directions[0]
    summary = res.summary()
    if summary.empty:
        return Verdict(metric, direction)
    paths = res.param_columns
    table = res.repeats_table()
    values = _values_by_seed(table, paths, metric)
    rows = _rows(summary)
    keys = [config_key(row, paths) for row in rows]
    best_row, best_key = rows[0], keys[0]
    best_values = pd.Series(values[best_key])
    sign = 1.0 if direction == "maximize" else -1.0
    paired = res.spec.seed_scheme == "paired"
    n_best = int(best_row["n"])

    drafts = []
    for row, key in zip(rows[1:], keys[1:], strict=True):
        params = _params(row, paths)
        mean = float(row[f"{metric}_mean"])
        difference = sign * (float(best_row[f"{metric}_mean"]) - mean)
        draft = {
            "params": params,
            "mean": mean,
            "n": int(row["n"]),
            "difference": difference,
            "test": None,
            "p_value": math.nan,
        }
        if math.isclose(difference, 0.0, abs_tol=1e-12):
            draft["test"] = "tie"
        elif n_best >= 2 and int(row["n"]) >= 2:
            draft["test"], draft["p_value"] = _test(best_values, pd.Series(values[key]), paired)
        elif spread is not None:
            draft["test"] = "spread"
            draft["p_value"] = 0.0 if abs(difference) > 1.96 * math.sqrt(2) * spread else 1.0
        drafts.append(draft)

    tested = [d for d in drafts if d["test"] in ("paired t-test", "Welch's t-test")]
    for draft, adjusted in zip(tested, holm([d["p_value"] for d in tested]), strict=True):
        draft["p_holm"] = adjusted
        draft["distinguishable"] = adjusted < 1 - LEVEL
    for draft in drafts:
        if draft["test"] == "spread":
            draft["p_holm"] = draft["p_value"]
            draft["distinguishable"] = draft["p_value"] < 1 - LEVEL
    comparisons = [Comparison(**d) for d in drafts]

    tests = sorted({c.test for c in comparisons if c.test not in (None, "tie")})
    best_params = _params(best_row, paths)
    several = n_best >= 2
    return Verdict(
        metric=metric,
        direction=direction,
        best_params=best_params,
        mean=float(best_row[f"{metric}_mean"]),
        ci_low=float(best_row[f"{metric}_ci_low"]) if several else None,
        ci_high=float(best_row[f"{metric}_ci_high"]) if several else None,
        n=n_best,
        comparisons=comparisons,
        test=" and ".join(tests) if tests else None,
        spread=spread if not several else None,
        spread_seeds=spread_seeds if not several and spread is not None else None,
        diagnosis=_flagged(res, best_key, paths),
    )


def config_key(row: pd.Series | dict[str, Any], paths: list[str]) -> tuple[Any, ...]:
    """A configuration's identity, the same from a ``summary()`` row and a ``repeats_table()``
    row (every kind of missing as None, NumPy scalars as Python values)."""
    return tuple(
        None if is_missing(row[p]) else row[p].item() if isinstance(row[p], np.generic) else row[p]
        for p in paths
    )


def _params(row: pd.Series | dict[str, Any], paths: list[str]) -> dict[str, Any]:
    return {p: row[p] for p in paths if not is_missing(row[p])}


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as ``iterrows`` gives them (each value as it is in
    ``frame.values``), as dicts: thousands of rows without a Series each."""
    columns = list(frame.columns)
    return [dict(zip(columns, values, strict=True)) for values in frame.values]


def _values_by_seed(
    table: pd.DataFrame, paths: list[str], metric: str
) -> dict[tuple, dict[Any, float]]:
    """Per configuration, its metric per training seed (seed → value). Trials of one
    configuration trained with the same seed are copies of one run (one value, not several)."""
    found: dict[tuple, dict[Any, float]] = {}
    for row in _rows(table):
        seed = row["seed"] if not is_missing(row["seed"]) else f"repeat {row['repeat']}"
        found.setdefault(config_key(row, paths), {})[seed] = float(row[metric])
    return found


def _test(best: pd.Series, other: pd.Series, paired: bool) -> tuple[str, float]:
    """The test of one configuration against the best: paired on the seeds both trained with
    (at least two), else Welch's; its two-sided p-value.

    Where the data show no variation to estimate the noise from — every paired difference the
    same, or both configurations the same on every seed (common with accuracies on a small
    split) — a t statistic divides by zero and claims certainty. The exact randomization test
    is used there instead: the chance that random signs (paired) or a random split into the
    two groups (Welch) separate the values as completely, 2 / 2ⁿ or 2 / C(n₁ + n₂, n₁)."""
    from scipy import stats  # imported here: SciPy's statistics take half a second to import

    shared = best.index.intersection(other.index)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # near-identical values
        if paired and len(shared) >= 2:
            differences = (best[shared] - other[shared]).to_numpy(dtype=float)
            if _constant(differences):
                return "paired t-test", min(1.0, 2.0 ** (1 - len(differences)))
            result = stats.ttest_rel(best[shared], other[shared])
            return "paired t-test", float(result.pvalue)
        if _constant(best.to_numpy(dtype=float)) and _constant(other.to_numpy(dtype=float)):
            return "Welch's t-test", min(1.0, 2.0 / math.comb(len(best) + len(other), len(best)))
        result = stats.ttest_ind(best, other, equal_var=False)
        return "Welch's t-test", float(result.pvalue)


def _constant(values: np.ndarray) -> bool:
    """Whether the values are all the same, but for rounding in their last bits."""
    return bool(np.ptp(values) <= 1e-12 * max(1.0, float(np.abs(values).max())))


def _completed_trials(res: StudyResults, key: tuple, paths: list[str]) -> list[int]:
    """The numbers of the completed trials of the configuration ``key``."""
    trials = res.trials
    completed = trials[trials["state"] == "complete"]
    values = completed[paths].astype(object).itertuples(index=False, name=None)
    return [
        int(number)
        for number, row in zip(completed["number"], values, strict=True)
        if config_key(dict(zip(paths, row, strict=True)), paths) == key
    ]


def _flagged(res: StudyResults, key: tuple, paths: list[str]) -> tuple[str, str] | None:
    """The best configuration's learning-curve diagnosis, when it doubts the claim.

    Overfitting is not flagged when every run of it stopped early: its validation loss rose
    after the best epoch, which is what stopped it (and the model it ends with is, with
    ``restore_best``, the one of that epoch)."""
    from sweepnp.diagnosis import diagnose_runs

    numbers = _completed_trials(res, key, paths)
    completed = res.trials.set_index("number")
    found = diagnose_runs(res.curves_of(numbers))
    if found is None or found[0] not in FLAGGED:
        return None
    stopped_early = (completed.loc[numbers, "stop_reason"] == StopReason.EARLY_STOPPED).all()
    if found[0] == "overfitting" and stopped_early:
        return None
    return found


def best_trials(res: StudyResults) -> list[int]:
    """The numbers of the completed trials of the best configuration (by the first metric, as
    :meth:`~sweepnp.results.StudyResults.summary` ranks them), first tried first; empty when
    there is no completed trial."""
    summary = res.summary()
    if summary.empty:
        return []
    paths = res.param_columns
    return _completed_trials(res, config_key(summary.iloc[0], paths), paths)
