"""What a study claims: the verdict and the intervals, on studies whose right answer is known.

The constructed studies are real Optuna studies in a real journal, created as ``sweepnp study
run`` creates them, whose trials carry records with chosen final metrics (and learning curves):
exact ties, a clear winner, configurations within noise, accuracies of 1.0. One study is trained
for real: a parameter that changes nothing gives an exact tie with paired seeds.
"""

from __future__ import annotations

import copy
import csv
import html
import math
import re
from typing import Any

import numpy as np
import optuna
import pytest
from matplotlib.container import ErrorbarContainer
from optuna.distributions import CategoricalDistribution

from sweepnp import results
from sweepnp.report.figures import parameters
from sweepnp.report.verdict_words import config_name, verdict_text
from sweepnp.report.words import estimate, format_estimate
from sweepnp.study.record import TrialRecord
from sweepnp.study.spec import load_spec, trial_seed
from sweepnp.study.spread import measure_spread
from sweepnp.study.worker import create_study, run_study
from sweepnp.verdict import holm

RATES = [0.0, 0.1, 0.2, 0.3]
PATH = "regularizers.dropout.rate"


def _study_file(repeats: int, seeds: str, metric: str) -> dict[str, Any]:
    return {
        "data": {"dataset": "breast_cancer", "seed": 0},
        "model": {"task": "binary", "hidden": [4]},
        "train": {"epochs": 5, "batch_size": 32},
        "optimizer": {"name": "sgd", "lr": 0.1},
        "regularizers": {"dropout": {"rate": 0.1}},
        "study": {
            "name": "constructed",
            "metric": metric,
            "sampler": {"name": "grid"},
            "repeats": repeats,
            "seeds": seeds,
            "n_trials": len(RATES),
            "params": {PATH: {"choices": RATES}},
        },
    }


#: Ten epochs of training and validation loss: "falling" converges, "diverging" rises,
#: "overfitting" has its validation loss turn upward at epoch 2, far above the training loss.
CURVES = {
    "falling": (np.linspace(0.6, 0.2, 10), np.linspace(0.63, 0.21, 10)),
    "diverging": (np.linspace(0.2, 0.6, 10), np.linspace(0.21, 0.63, 10)),
    "overfitting": (
        np.linspace(0.6, 0.05, 10),
        np.array([0.5, 0.4, 0.35, 0.36, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65]),
    ),
}


def _curve(shape: str, repeat: int) -> list[dict[str, Any]]:
    train, val = CURVES[shape]
    return [
        {"repeat": repeat, "epoch": e, "loss": float(t), "val_loss": float(v)}
        for e, (t, v) in enumerate(zip(train, val, strict=True))
    ]


def constructed(
    journal: str,
    finals: dict[float, list[float]],
    *,
    seeds: str = "paired",
    metric: str = "val_accuracy",
    shapes: dict[float, str] | None = None,
    stop_reason: str = "completed",
) -> results.StudyResults:
    """A study whose configuration ``rate`` ended repeat r with ``finals[rate][r]``, each repeat
    recorded with the seed the study's scheme gives it."""
    repeats = len(next(iter(finals.values())))
    spec = load_spec(_study_file(repeats, seeds, metric), validate_runs=False)
    study = create_study(spec, journal)
    for rate, values in finals.items():
        params = {PATH: rate}
        shape = (shapes or {}).get(rate, "falling")
        rows = [row for r in range(repeats) for row in _curve(shape, r)]
        record = TrialRecord(
            stop_reason=stop_reason,
            seeds=[trial_seed(0, params, r, spec.seed_scheme) for r in range(repeats)],
            epochs=[10] * repeats,
            final=[{metric: v, "loss": 0.2, "epochs": 10.0} for v in values],
            rows=rows,
        )
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={PATH: CategoricalDistribution(RATES)},
                value=float(np.mean(values)),
                user_attrs=record.attrs(),
            )
        )
    return results.load("constructed", journal)


@pytest.fixture
def journal(tmp_path) -> str:
    return str(tmp_path / "studies.journal")


# -- ties ------------------------------------------------------------------------------------------


def test_exact_ties_are_ties_never_one_winner(journal):
    same = [0.90, 0.95, 0.92]
    res = constructed(
        journal, {0.0: [0.6, 0.62, 0.61], 0.1: same, 0.2: list(same), 0.3: [0.5, 0.52, 0.51]}
    )
    claim = res.verdict()
    assert config_name(claim.best_params) == "dropout rate 0.1"  # of the tied, the first tried
    assert [config_name(c.params) for c in claim.tied] == ["dropout rate 0.2"]
    text = verdict_text(claim)
    assert text.startswith(
        "the top 2 are tied at validation accuracy 0.92 ± 0.06 (n = 3): dropout rate 0.1, "
        "dropout rate 0.2; "
    )
    assert not text.startswith("best")
    assert "every other configuration is worse at 95% (paired t-test, Holm-corrected)" in text


def test_with_one_repeat_ties_are_ties_and_the_spread_is_said_unmeasured(journal):
    res = constructed(journal, {0.0: [0.97], 0.1: [1.0], 0.2: [1.0], 0.3: [0.96]})
    claim = res.verdict()
    assert [config_name(c.params) for c in claim.tied] == [
        "dropout rate 0.2"
    ] and claim.test is None
    assert verdict_text(claim) == (
        "the top 2 are tied at validation accuracy 1 (n = 1): dropout rate 0.1, dropout rate 0.2; "
        "one seed per configuration cannot separate configurations that differ by less than "
        "the run-to-run spread, which this study did not measure (run it with repeats ≥ 2, or "
        "let sweepnp study report measure it)"
    )


def test_with_one_repeat_and_a_measured_spread_the_configurations_within_it_are_named(journal):
    # 1.96·√2·0.01 = 0.0277: 0.975 lies within it of 1.0, 0.96 does not.
    res = constructed(journal, {0.0: [0.975], 0.1: [1.0], 0.2: [0.96], 0.3: [0.5]})
    claim = res.verdict(spread=0.01)
    close = [config_name(c.params) for c in claim.indistinguishable]
    assert close == ["dropout rate 0"]
    assert verdict_text(claim).startswith("best dropout rate 0.1: validation accuracy 1 (n = 1); ")
    assert verdict_text(claim).endswith(
        "than the run-to-run spread (sd 0.01: a difference below 1.96·√2·sd = 0.028); "
        "within it of the best: dropout rate 0"
    )


def test_a_parameter_that_changes_nothing_ties_with_paired_seeds(tmp_path):
    """Trained for real: early-stopping patience beyond the epochs changes nothing. With paired
    seeds every configuration trains the same runs — a tie; with seeds per configuration the
    same configurations differ by their seeds alone, and no test may call that a difference."""
    journal = str(tmp_path / "studies.journal")
    study = _study_file(3, "paired", "val_accuracy")
    study["train"]["epochs"] = 4
    study["callbacks"] = {"early_stopping": {"monitor": "val_loss", "patience": 50}}
    study["study"]["params"] = {"callbacks.early_stopping.patience": {"choices": [50, 60, 70]}}
    study["study"]["n_trials"] = 3
    run_study(copy.deepcopy(study), storage=journal)
    claim = results.load("constructed", journal).verdict()
    assert len(claim.tied) == 2 and verdict_text(claim).startswith("the top 3 are tied at ")

    study["study"].update(name="unpaired", seeds="per_config")
    run_study(study, storage=journal)
    res = results.load("unpaired", journal)
    means = res.summary()["val_accuracy_mean"]
    assert means.nunique() > 1  # different seeds, different numbers
    claim = res.verdict()
    assert claim.test == "Welch's t-test"
    assert not any(c.distinguishable for c in claim.comparisons)


# -- a clear winner, and configurations within noise ----------------------------------------------


def test_a_clear_winner_is_named_alone(journal):
    rng = np.random.default_rng(0)
    best = 0.95 + rng.normal(0, 0.005, 5)
    finals = {r: list(best - 0.1 * i + rng.normal(0, 0.005, 5) * (i > 0)) for i, r in (
        enumerate(RATES)
    )}  # fmt: skip
    res = constructed(journal, finals)
    claim = res.verdict()
    assert (
        config_name(claim.best_params) == "dropout rate 0"
        and not claim.tied
        and not claim.indistinguishable
    )
    assert all(c.p_holm < 0.05 and c.test == "paired t-test" for c in claim.comparisons)
    assert verdict_text(claim).endswith(
        "(n = 5); every other configuration is worse at 95% (paired t-test, Holm-corrected)"
    )


def test_configurations_within_noise_are_not_distinguishable(journal):
    rng = np.random.default_rng(1)
    finals = {r: list(0.9 + rng.normal(0, 0.02, 4)) for r in RATES}  # one distribution
    res = constructed(journal, finals)
    claim = res.verdict()
    others = [config_name(c.params) for c in claim.comparisons]
    assert len(others) == 3 and [config_name(c.params) for c in claim.indistinguishable] == others
    assert f"not distinguishable from it at 95% (paired t-test, Holm-corrected): {others[0]}, " in (
        verdict_text(claim)
    )


#: Seeds matter more than the parameter: 0.80–0.98 across seeds; dropout 0 is 0.02 better on
#: every seed. Only a comparison seed by seed sees it.
BASE = np.array([0.80, 0.86, 0.92, 0.98, 0.89])
JITTER = np.array([0.001, -0.001, 0.002, 0.0, -0.002])


@pytest.mark.parametrize(("seeds", "told_apart"), [("paired", True), ("per_config", False)])
def test_pairing_tells_apart_a_small_consistent_difference(journal, seeds, told_apart):
    finals = {0.0: list(BASE + 0.02 + JITTER), 0.1: list(BASE), 0.2: list(BASE - 0.2)}
    res = constructed(journal, finals, seeds=seeds)
    table = res.repeats_table()
    assert (table.groupby("repeat")["seed"].nunique() == (1 if seeds == "paired" else 3)).all()
    claim = res.verdict()
    assert config_name(claim.best_params) == "dropout rate 0"
    second = claim.comparisons[0]
    assert config_name(second.params) == "dropout rate 0.1"
    assert second.distinguishable is told_apart
    test = "paired t-test" if seeds == "paired" else "Welch's t-test"
    assert second.test == test and f"({test}, Holm-corrected)" in verdict_text(claim)


def test_holm_multiplies_the_smallest_p_value_by_the_number_of_tests():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, math.nan, 0.2]) == pytest.approx([0.5, math.nan, 0.4], nan_ok=True)
    assert holm([0.04, 0.03]) == pytest.approx([0.06, 0.06])  # monotone
    assert holm([0.6, 0.7, 0.01]) == pytest.approx([1.0, 1.0, 0.03])  # capped at 1


# -- the learning-curve diagnosis ------------------------------------------------------------------


def test_a_best_configuration_diagnosed_diverging_is_said_to_be(journal):
    finals = {0.0: [0.9, 0.91], 0.1: [0.8, 0.81], 0.2: [0.7, 0.7], 0.3: [0.6, 0.6]}
    res = constructed(journal, finals, shapes={0.0: "diverging"})
    claim = res.verdict()
    assert claim.diagnosis is not None and claim.diagnosis[0] == "diverging"
    assert verdict_text(claim).endswith(
        "; its learning curve is diagnosed diverging (DIVERGING: Learning rate may be too high)"
    )


def test_a_sound_best_configuration_gets_no_diagnosis(journal, tmp_path):
    finals = {0.0: [0.9, 0.91], 0.1: [0.8, 0.81], 0.2: [0.7, 0.7], 0.3: [0.6, 0.6]}
    res = constructed(journal, finals, shapes={0.1: "diverging"})  # not the best
    assert res.verdict().diagnosis is None and "diagnosed" not in verdict_text(res.verdict())


@pytest.mark.parametrize(
    ("stop_reason", "flagged"), [("completed", True), ("early_stopped", False)]
)
def test_overfitting_is_flagged_unless_early_stopping_ended_the_runs(journal, stop_reason, flagged):
    finals = {0.0: [0.9, 0.91], 0.1: [0.8, 0.81], 0.2: [0.7, 0.7], 0.3: [0.6, 0.6]}
    res = constructed(journal, finals, shapes={0.0: "overfitting"}, stop_reason=stop_reason)
    assert (
        "diagnosed overfitting (OVERFITTING: Best epoch was 2" in verdict_text(res.verdict())
    ) is flagged


# -- intervals inside the metric's range ----------------------------------------------------------


def test_accuracy_intervals_never_leave_zero_to_one(journal):
    finals = {
        0.0: [1.0, 1.0, 0.96],  # t interval 0.987 ± 0.057: past 1
        0.1: [1.0, 1.0, 1.0],  # no spread at all
        0.2: [0.0, 0.02, 0.0],  # past 0
        0.3: [0.5, 0.6, 0.7],  # well inside: symmetric
    }
    res = constructed(journal, finals)
    summary = res.summary().set_index(PATH)
    low, high = summary["val_accuracy_ci_low"], summary["val_accuracy_ci_high"]
    assert (low >= 0).all() and (high <= 1).all()
    assert high[0.0] == 1.0 and low[0.0] < summary.loc[0.0, "val_accuracy_mean"]
    assert low[0.1] == high[0.1] == 1.0
    assert low[0.2] == 0.0
    mean = summary.loc[0.3, "val_accuracy_mean"]
    assert mean - low[0.3] == pytest.approx(high[0.3] - mean)
    # The words: ± for a symmetric interval, its ends when clipped.
    words = {rate: estimate(row, "val_accuracy") for rate, row in summary.iterrows()}
    assert words[0.0] == "0.99 (0.93–1.00)"
    assert words[0.1] == "1 ± 0"
    assert words[0.3] == "0.6 ± 0.2"


def test_loss_intervals_never_go_below_zero(journal):
    finals = {r: [0.001, 0.002, 0.09 + r] for r in RATES}
    res = constructed(journal, finals, metric="val_loss")
    summary = res.summary()
    assert (summary["val_loss_ci_low"] == 0).all()
    assert (summary["val_loss_ci_high"] > summary["val_loss_mean"]).all()


def test_exports_show_and_the_figure_keep_intervals_in_range(journal, tmp_path, invoke):
    finals = {0.0: [1.0, 1.0, 0.96], 0.1: [1.0, 0.98, 0.96], 0.2: [0.9, 0.92, 0.91]}
    res = constructed(journal, finals)
    out = tmp_path / "summary.csv"
    done = invoke(
        "study", "export", "constructed", "--storage", journal, "--format", "csv",
        "--table", "summary", "-o", str(out),
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 3 and max(float(r["val_accuracy_ci_high"]) for r in rows) == 1.0
    assert min(float(r["val_accuracy_ci_low"]) for r in rows) >= 0

    shown = invoke("study", "show", "constructed", "--storage", journal)
    assert shown.exit_code == 0, shown.stderr
    assert verdict_text(res.verdict()) in " ".join(shown.stdout.split())
    numbers = [float(x) for x in shown.stdout.split() if x.replace(".", "", 1).isdigit()]
    assert max(numbers) <= 1.0 or max(numbers) >= 3  # every accuracy ≤ 1 (3: n, trial numbers)

    drawn = parameters.metric_by_parameter(res)
    tops = [
        segment[:, 1].max()
        for ax in drawn.figure.axes
        for container in ax.containers
        if isinstance(container, ErrorbarContainer)
        for segment in container.lines[2][0].get_segments()
    ]
    assert tops and max(tops) <= 1.0
    assert "clipped to [0, 1]" in drawn.caption


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ((0.98667, 0.92931, 1.0), "0.99 (0.93–1.00)"),
        ((0.0067, 0.0, 0.0354), "0.01 (0.00–0.04)"),  # precision from the longer side
    ],
)
def test_a_clipped_interval_reads_as_its_ends(args, text):
    assert format_estimate(*args) == text


def test_the_report_measures_the_spread_of_a_one_repeat_study_on_its_best_configuration(tmp_path):
    """One repeat: the report trains the best configuration with 4 more seeds. With paired seeds
    those are the seeds repeats 1–4 of a 5-repeat study train with: the spread it measures is
    that study's standard deviation of the same configuration, exactly."""
    from sweepnp.report import write_report

    journal = str(tmp_path / "studies.journal")
    study = _study_file(1, "paired", "val_accuracy")
    study["study"]["params"] = {PATH: {"choices": [0.0, 0.3]}}
    study["study"]["n_trials"] = 2
    run_study(copy.deepcopy(study), storage=journal)
    res = results.load("constructed", journal)
    report = write_report(res, tmp_path / "report")
    found = re.search(
        r"run-to-run spread \(sd (\S+) over 5 seeds of the best configuration: ", (report.verdict)
    )
    assert found, report.verdict
    assert "did not measure" not in report.verdict and report.verdict in (
        report.html.read_text(encoding="utf-8")
    )

    study["study"].update(name="five", repeats=5)
    run_study(study, storage=journal)
    five = results.load("five", journal).summary().set_index(PATH)
    best = res.summary().iloc[0][PATH]
    assert found.group(1) == f"{five.loc[best, 'val_accuracy_std']:.2g}"
    spread = measure_spread(res)
    assert spread.seeds == 5 and spread.sd == pytest.approx(
        five.loc[best, "val_accuracy_std"], rel=1e-12
    )


def test_the_run_summary_names_the_trials_tied_with_the_best(tmp_path, invoke, write_study):
    study = _study_file(1, "paired", "val_accuracy")
    study["callbacks"] = {"early_stopping": {"monitor": "val_loss", "patience": 50}}
    study["study"]["params"] = {"callbacks.early_stopping.patience": {"choices": [50, 60, 70]}}
    study["study"]["n_trials"] = 3
    path = write_study(tmp_path / "tie.toml", study)
    done = invoke("study", "run", str(path), "--storage", str(tmp_path / "j.journal"), "--quiet")
    assert done.exit_code == 0, done.stderr
    assert " at trial 0 (tied with trials 1, 2):\n" in done.stdout


@pytest.mark.parametrize(("repeats", "told_apart"), [(3, False), (5, False), (6, True)])
def test_a_constant_difference_is_told_apart_only_with_enough_seeds(journal, repeats, told_apart):
    """One validation row better on every seed: no variation, so no t statistic. The exact
    sign test gives 2/2ⁿ: 0.25 for 3 seeds, 0.0625 for 5, 0.031 for 6."""
    finals = {0.0: [0.9474] * repeats, 0.1: [0.9298] * repeats}
    claim = constructed(journal, finals).verdict()
    (other,) = claim.comparisons
    assert other.p_value == pytest.approx(2.0 ** (1 - repeats))
    assert other.distinguishable is told_apart


def test_constant_unpaired_values_get_the_exact_randomization_p_value(journal):
    finals = {0.0: [0.9474] * 3, 0.1: [0.9298] * 3}
    claim = constructed(journal, finals, seeds="per_config").verdict()
    (other,) = claim.comparisons
    assert other.test == "Welch's t-test" and other.p_value == pytest.approx(2 / 20)
    assert not other.distinguishable


def test_show_the_notebook_view_and_the_report_say_one_verdict(tmp_path):
    """A study of one repeat: before its report, ``study show`` and the notebook view say the
    spread is not measured; the report measures it and stores it, and from then on all three
    print the report's verdict, word for word."""
    from sweepnp.cli.study_show import show_parts
    from sweepnp.report import results_html, verdict, write_report

    journal = str(tmp_path / "studies.journal")
    study = _study_file(1, "paired", "val_accuracy")
    study["study"]["params"] = {PATH: {"choices": [0.0, 0.3]}}
    study["study"]["n_trials"] = 2
    run_study(study, storage=journal)

    def said() -> tuple[str, str, str]:
        res = results.load("constructed", journal)
        shown = str(show_parts(res, 20, None, wide_hint=False)[-1])
        return shown, verdict(res), results_html(res)

    before, line, _ = said()
    assert before == line and "did not measure" in line and "sweepnp study report" in line
    report = write_report(results.load("constructed", journal), tmp_path / "report")
    assert "over 5 seeds of the best configuration" in report.verdict
    shown, line, page = said()
    assert shown == line == report.verdict
    assert html.escape(report.verdict) in page
