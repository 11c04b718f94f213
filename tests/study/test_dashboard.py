"""What optuna-dashboard shows of a sweepnp study, read through the dashboard's own JSON API (its
WSGI application, called in this process): the metric names, each trial's stop reason, and the
study metric's mean curve over repeats as intermediate values — the report's curves."""

from __future__ import annotations

import copy
import json
import math
from typing import Any
from wsgiref.util import setup_testing_defaults

import optuna
import pytest

from sweepnp import results
from sweepnp.report.figures.curves import band
from sweepnp.study.record import TrialRecord
from sweepnp.study.storage import open_storage
from sweepnp.study.worker import run_study

#: In the test extra; an environment installed before it skips, saying what to install.
optuna_dashboard = pytest.importorskip(
    "optuna_dashboard", reason="optuna-dashboard is not installed: pip install -e '.[test]'"
)

#: Two searched parameters (the importances need two), two repeats (a mean that is not one
#: run's value), and a pruner that prunes: the reports it watched are rewritten at the end.
STUDY: dict[str, Any] = {
    "data": {"dataset": "breast_cancer", "seed": 0},
    "model": {"task": "binary", "hidden": [4]},
    "train": {"epochs": 8, "batch_size": 32},
    "optimizer": {"name": "sgd", "lr": 0.1},
    "regularizers": {"l2": {"lam": 0.001}},
    "study": {
        "name": "watched",
        "metric": "val_loss",
        "sampler": {"name": "tpe", "seed": 0},
        "pruner": {"name": "median", "n_startup_trials": 2, "n_warmup_steps": 2},
        "repeats": 2,
        "n_trials": 8,
        "params": {
            "optimizer.lr": {"low": 0.001, "high": 1.0, "log": True},
            "regularizers.l2.lam": {"low": 1e-5, "high": 1e-1, "log": True},
        },
    },
}


class Dashboard:
    """optuna-dashboard's WSGI application on a storage, asked as its web page asks."""

    def __init__(self, storage: str) -> None:
        self.app = optuna_dashboard.wsgi(open_storage(storage, create=False))

    def get(self, path: str) -> Any:
        environ: dict[str, Any] = {}
        setup_testing_defaults(environ)
        environ["PATH_INFO"] = path
        statuses: list[str] = []
        body = b"".join(self.app(environ, lambda status, headers, *_: statuses.append(status)))
        assert statuses == ["200 OK"], body[:500]
        return json.loads(body)

    def study(self, name: str) -> dict[str, Any]:
        summaries = self.get("/api/studies")["study_summaries"]
        (study_id,) = [s["study_id"] for s in summaries if s["study_name"] == name]
        return {"id": study_id, **self.get(f"/api/studies/{study_id}")}


@pytest.fixture(scope="module", params=["journal", "sqlite"])
def watched(request, tmp_path_factory) -> tuple[str, results.StudyResults]:
    folder = tmp_path_factory.mktemp(request.param)
    storage = (
        str(folder / "s.journal") if request.param == "journal" else f"sqlite:///{folder}/s.db"
    )
    run_study(copy.deepcopy(STUDY), storage=storage)
    return storage, results.load("watched", storage)


def test_the_dashboard_names_the_objective_after_the_studys_metric(watched):
    storage, _ = watched
    assert Dashboard(storage).study("watched")["objective_names"] == ["val_loss"]


def test_the_dashboard_lists_each_trials_stop_reason_as_its_own_attribute(watched):
    storage, res = watched
    trials = Dashboard(storage).study("watched")["trials"]
    shown = {t["number"]: {a["key"]: a["value"] for a in t["user_attrs"]} for t in trials}
    expected = dict(zip(res.trials["number"], res.trials["stop_reason"].astype(str), strict=True))
    assert {number: attrs["stop_reason"] for number, attrs in shown.items()} == expected
    assert {"completed", "pruned"} <= set(expected.values())  # both kinds are checked


def test_the_dashboards_curves_are_the_reports_mean_over_repeats(watched):
    storage, res = watched
    trials = Dashboard(storage).study("watched")["trials"]
    assert trials
    for trial in trials:
        runs = res.curves[res.curves["trial"] == trial["number"]]
        report = band(runs, "val_loss")["mean"]  # the line the report draws
        shown = {v["step"]: v["value"] for v in trial["intermediate_values"]}
        assert sorted(shown) == report.index.tolist()  # every evaluated epoch
        assert [shown[epoch] for epoch in report.index] == pytest.approx(report.tolist())
        if trial["state"] == "Complete":  # two repeats: not the first repeat's values
            first = runs[runs["repeat"] == 0].set_index("epoch")["val_loss"]
            assert any(shown[e] != pytest.approx(first[e]) for e in first.index)


def test_a_pruned_trials_value_is_its_curves_last_point(watched):
    _, res = watched
    pruned = [t for t in res.study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned
    for trial in pruned:  # Optuna gives a pruned trial its last intermediate value
        assert trial.value == trial.intermediate_values[max(trial.intermediate_values)]


def test_the_dashboards_importances_are_ped_anova_as_the_report_says(watched):
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    storage, res = watched
    dashboard = Dashboard(storage)
    study_id = dashboard.study("watched")["id"]
    (shown,) = dashboard.get(f"/api/studies/{study_id}/param_importances")["param_importances"]
    # PED-ANOVA looks for low values; val_loss is minimized, so the study's own values
    expected = get_param_importances(res.study, evaluator=PedAnovaImportanceEvaluator())
    assert {p["name"]: p["importance"] for p in shown} == pytest.approx(expected)


def test_the_mean_curve_skips_what_a_repeat_did_not_evaluate_and_what_is_not_finite():
    rows = [
        {"repeat": 0, "epoch": 0, "val_loss": 1.0},
        {"repeat": 0, "epoch": 1, "val_loss": 0.5},
        {"repeat": 1, "epoch": 0, "val_loss": 3.0},
        {"repeat": 1, "epoch": 1, "val_loss": math.nan},  # skipped, as pandas' mean skips it
        {"repeat": 1, "epoch": 2, "val_loss": math.inf},  # a diverged epoch: no point
        {"repeat": 0, "epoch": 3, "loss": 0.1},  # val_loss not evaluated at epoch 3
    ]
    assert TrialRecord("completed", rows=rows).mean_curve("val_loss") == {0: 2.0, 1: 0.5}
