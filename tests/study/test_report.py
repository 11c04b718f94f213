"""`sweepnp study report`: the PNG figures, the self-contained HTML, the verdict and the command.

Every report here is written from a real study, run into a journal file in a temporary folder.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from markupsafe import escape
from PIL import Image

from sweepnp import results
from sweepnp.report import (
    Report,
    config_label,
    format_estimate,
    metric_words,
    param_words,
    value_words,
    verdict,
    write_report,
)
from sweepnp.report.configurations import configurations
from sweepnp.report.figures import comparison, curves, models, optuna_plots, parallel, parameters
from sweepnp.report.verdict_words import config_name
from sweepnp.report.words import estimate
from sweepnp.study.spec import load_spec
from sweepnp.study.storage import open_storage
from sweepnp.study.worker import run_study
from sweepnp_plugins.datasets.synthetic import moons as moons_dataset

#: Two features (so a decision boundary), a 2 × 2 grid, two repeats: 4 configurations, 8 runs.
MOONS_STUDY: dict[str, Any] = {
    "data": {"dataset": {"name": "moons", "n_samples": 200, "noise": 0.25}, "seed": 0},
    "model": {"task": "binary", "hidden": [8]},
    "train": {"epochs": 20, "batch_size": 16},
    "optimizer": {"name": "sgd", "lr": 0.1},
    "study": {
        "name": "moons",
        "metric": "val_accuracy",
        "sampler": {"name": "grid"},
        "repeats": 2,
        "n_trials": 4,
        "params": {
            "optimizer.lr": {"choices": [0.05, 0.3]},
            "model.hidden": {"choices": [[4], [16, 16]]},
        },
    },
}

#: Thirty features, one searched parameter: the verdict reads "best dropout rate …".
DROPOUT_STUDY: dict[str, Any] = {
    "data": {"dataset": "breast_cancer", "seed": 0},
    "model": {"task": "binary", "hidden": [4]},
    "train": {"epochs": 6, "batch_size": 32},
    "optimizer": {"name": "sgd", "lr": 0.1},
    "regularizers": {"dropout": {"rate": 0.1}},
    "study": {
        "name": "dropout",
        "metric": "val_accuracy",
        "sampler": {"name": "grid"},
        "repeats": 2,
        "n_trials": 2,
        "params": {"regularizers.dropout.rate": {"choices": [0.0, 0.3]}},
    },
}

EVERY_FIGURE = {
    "learning_curves_loss",
    "learning_curves_accuracy",
    "compared_at_shared_setting",
    "metric_by_parameter",
    "optimization_history",
    "param_importances",
    "parallel_coordinate",
    "weights",
    "decision_boundary",
}
EMBEDDED = re.compile(
    r'<figure id="figure-(\w+)">\s*<div class="figure-scroll"><img src="data:image/png;base64,'
    r'([^"]+)"'
)


@pytest.fixture(scope="module")
def moons(tmp_path_factory) -> tuple[results.StudyResults, Report]:
    folder = tmp_path_factory.mktemp("moons")
    journal = str(folder / "studies.journal")
    run_study(copy.deepcopy(MOONS_STUDY), storage=journal)
    res = results.load("moons", journal)
    return res, write_report(res, folder / "report")


@pytest.fixture(scope="module")
def drawn(moons) -> dict[str, Any]:
    """Every figure of the moons report drawn again by its module, name → ``Drawn``: the
    figure objects, whose panels, lines and labels say what the PNG files show."""
    res, _ = moons
    configs = configurations(res)
    items = [
        *curves.learning_curves(res, configs),
        comparison.at_shared_setting(res, configs),
        parameters.metric_by_parameter(res),
        *optuna_plots.optuna_figures(res),
        parallel.parallel_coordinates(res),
        *models.trained_models(res, configs)[0],
    ]
    return {item.name: item for item in items}


def _titles(fig) -> list[str]:
    """The panel titles of a figure of small multiples, each on one line."""
    return [" ".join(ax.get_title().split()) for ax in fig.axes if ax.get_title()]


def _ranked(res: results.StudyResults) -> list[str]:
    """``#rank label`` of every configuration, best first, as panels and tables name them."""
    rows = res.summary().iterrows()
    return [
        f"#{rank} {config_label({p: row[p] for p in res.param_columns})}"
        for rank, (_, row) in enumerate(rows, start=1)
    ]


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


# -- figures and HTML --------------------------------------------------------------------------


def test_every_figure_is_a_png_with_real_content(moons):
    _, report = moons
    assert set(report.figures) == EVERY_FIGURE
    assert report.skipped == {}
    for name, path in report.figures.items():
        assert path.parent == report.html.parent and path.name == f"{name}.png"
        pixels = _pixels(path)
        height, width, _ = pixels.shape
        assert 300 <= width <= 2000 and 250 <= height <= 2000, (name, pixels.shape)
        colours = np.unique(pixels.reshape(-1, 3).astype(np.uint32) @ [65536, 256, 1])
        assert pixels.std() > 10 and len(colours) > 50, name  # drawn on, not a blank canvas


def test_the_html_embeds_every_figure_and_needs_no_other_file(moons):
    _, report = moons
    html = report.html.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == len(report.figures)
    embedded = dict(EMBEDDED.findall(html))
    assert set(embedded) == set(report.figures)
    for name, path in report.figures.items():
        assert base64.b64decode(embedded[name]) == path.read_bytes(), name
    assert not re.search(r'(src|href)="(?!data:|#)', html)  # nothing to fetch
    assert report.verdict in html


def test_the_page_reads_on_a_narrow_screen(moons):
    """Layout checked without a browser (screenshots at 1280 and 800 px showed what needed it):
    each figure is given its pixel size, shrinks with the page but not below 70% of it, and
    scrolls sideways in its own box rather than widening the page; tables scroll in theirs; the
    page has a viewport and narrow-screen rules."""
    _, report = moons
    html = report.html.read_text(encoding="utf-8")
    style = re.search(r"<style>(.*)</style>", html, re.S).group(1)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert re.search(r"\.figure-scroll \{ overflow-x: auto; \}", style)
    assert re.search(
        r"figure img \{[^}]*box-sizing: border-box; max-width: 100%; height: auto;", style
    )
    assert re.search(r"\.table-wrap \{ overflow-x: auto; \}", style)
    assert re.search(r"@media \(max-width: 900px\)", style)
    images = re.findall(
        r'<figure id="figure-(\w+)">\s*<div class="figure-scroll"><img src="[^"]+" alt="[^"]+" '
        r'width="(\d+)" height="(\d+)" style="min-width: (\d+)px"></div>',
        html,
    )
    assert {name for name, *_ in images} == set(report.figures)
    for name, width, height, min_width in images:
        with Image.open(report.figures[name]) as image:
            assert image.size == (int(width), int(height))
        assert int(min_width) == round(0.7 * int(width))
    # Every table is in a scrolling box: none starts outside one.
    tables = html.count("<table")
    assert (
        tables >= 2
        and html.count('<div class="table-wrap"><table')
        + html.count('<div class="table-wrap">\n<table')
        == tables
    )
    # The figures made for a narrow screen: 3 learning-curve panels or fewer in a row, and no
    # figure of the report over 1150 px wide (below 800 px when shrunk to 70%).
    assert max(int(width) for _, width, _, _ in images) <= 1150


def test_the_diagnosis_table_folds_the_configurations_that_never_completed(tmp_path):
    """A sweep with a pruner lists twenty pruned configurations after the completed ones: they
    go into a closed <details>, counted in its summary; the completed ones stay in view."""
    from sweepnp.report.page import _render

    rows = [
        {"configuration": "#1 a", "completed": True, "stop": "completed", "label": "converged",
         "message": "m"},
        {"configuration": "b (pruned)", "completed": False, "stop": "pruned",
         "label": "underfitting", "message": "m"},
        {"configuration": "c (pruned)", "completed": False, "stop": "pruned",
         "label": "converged", "message": "m"},
    ]  # fmt: skip
    sections = [
        {"id": "d", "title": "D", "intro": "", "items": [{"kind": "diagnosis", "rows": rows}]}
    ]
    page = _render(
        {"name": "s", "verdict": "v", "overview": {}, "sections": sections, "generated": "now"}
    )
    before, _, folded = page.partition('<details class="unfinished">')
    assert "#1 a" in before and "(pruned)" not in before
    assert folded.startswith(
        "\n<summary>2 configurations that never completed (pruned or failed)</summary>"
    )
    assert "b (pruned)" in folded and "c (pruned)" in folded and "</details>" in folded
    # Only unfinished ones (a study without a completed trial yet): nothing to fold them under.
    sections[0]["items"][0]["rows"] = rows[1:]
    page = _render(
        {"name": "s", "verdict": "v", "overview": {}, "sections": sections, "generated": "now"}
    )
    assert "<details" not in page and "b (pruned)" in page


def test_the_figures_drawn_are_the_figures_written_with_their_captions(moons, drawn):
    _, report = moons
    html = report.html.read_text(encoding="utf-8")
    assert list(drawn) == list(report.figures)
    for name, item in drawn.items():
        assert f"<figcaption>{escape(item.caption)}</figcaption>" in html, name


@pytest.mark.parametrize("family", ["loss", "accuracy"])
def test_learning_curves_show_each_configuration_best_first_training_against_validation(
    moons, drawn, family
):
    res, _ = moons
    item = drawn[f"learning_curves_{family}"]
    assert "the mean over 2 repeats per epoch" in item.caption
    assert "the min–max range across repeats (shaded band)" in item.caption
    assert "training (blue) against validation (orange)" in item.caption
    assert "Panels best first" in item.caption  # two parameters: no one of them orders them
    fig = item.figure
    assert _titles(fig) == _ranked(res)
    panels = [ax for ax in fig.axes if ax.get_title()]
    lines = ["training", "validation", "best validation epoch"]
    for ax in panels:
        assert [line.get_label() for line in ax.get_lines()] == lines
        assert len(ax.collections) == 2  # a min–max band each
    assert (panels[0].get_ylabel(), panels[-1].get_xlabel()) == (family, "epoch")
    assert [text.get_text() for text in fig.legends[0].get_texts()] == lines
    # The best configuration's lines: the mean of its two repeats, epoch by epoch.
    best = res.summary().iloc[0]
    number = res.trials.set_index(["optimizer.lr", "model.hidden"])["number"][
        (best["optimizer.lr"], best["model.hidden"])
    ]
    runs = res.curves[res.curves["trial"] == number].groupby("epoch")
    mean = runs[[family, f"val_{family}"]].mean()
    training, validation, best_epoch = panels[0].get_lines()
    np.testing.assert_array_equal(training.get_xdata(), mean.index)
    np.testing.assert_allclose(training.get_ydata(), mean[family])
    np.testing.assert_allclose(validation.get_ydata(), mean[f"val_{family}"])
    # The dot: the validation mean's best epoch (the first of equals), in words in the corner.
    val = mean[f"val_{family}"]
    best = val.idxmin() if family == "loss" else val.idxmax()
    assert (best_epoch.get_xdata()[0], best_epoch.get_ydata()[0]) == (best, val[best])
    assert panels[0].texts[0].get_text() == (
        f"validation: best {val[best]:.3g} (epoch {best}), last {val.iloc[-1]:.3g}"
    )
    band = panels[0].collections[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(band.min(), runs[family].min().min())
    assert np.isclose(band.max(), runs[family].max().max())


def test_a_sweep_of_several_parameters_shows_the_best_median_and_worst_curves(tmp_path):
    """Beyond 4 configurations, a study of several parameters draws three panels: the best, the
    median and the worst configuration by the study's metric (the best dozen of a sweep look
    alike), and the caption says which."""
    study = copy.deepcopy(DROPOUT_STUDY)
    study["train"]["epochs"] = 3
    study["study"].update(
        sampler={"name": "random", "seed": 1},
        n_trials=7,
        repeats=1,
        params={
            "optimizer.lr": {"low": 1e-3, "high": 1.0, "log": True},
            "regularizers.dropout.rate": {"low": 0.0, "high": 0.5},
        },
    )
    journal = str(tmp_path / "studies.journal")
    run_study(study, storage=journal)
    res = results.load("dropout", journal)
    configs = configurations(res)
    assert len(configs) == 7
    summary = res.summary()
    means = summary["val_accuracy_mean"].to_numpy()
    assert means[0] > means[-1]  # else best and worst would say nothing
    items = curves.learning_curves(res, configs)
    assert [item.name for item in items] == ["learning_curves_loss", "learning_curves_accuracy"]
    ranked = _ranked(res)
    for item in items:
        titles = _titles(item.figure)
        assert titles == [f"best: {ranked[0]}", f"median: {ranked[3]}", f"worst: {ranked[6]}"]
        # By the metric: the best and worst values, and the median of the seven.
        ordered = np.sort(means)
        assert means[0] == ordered[-1] and means[6] == ordered[0] and means[3] == ordered[3]
        assert (
            "Three of the 7 completed configurations, to show how the curves differ across the "
            "search: the best (#1), the median (#4) and the worst (#7) by validation accuracy."
        ) in item.caption
        assert "Only the best" not in item.caption
        # Each panel draws its own configuration's curves.
        family = item.name.removeprefix("learning_curves_")
        panels = [ax for ax in item.figure.axes if ax.get_title()]
        for ax, rank in zip(panels, (1, 4, 7), strict=True):
            trials = next(c for c in configs if c.rank == rank).trials
            run = res.curves[res.curves["trial"].isin(trials)].groupby("epoch")[family].mean()
            np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), run)
    # Up to 4 configurations every one is drawn, best first (the moons study: 4).
    assert curves.ALL_CURVES_UP_TO == 4


def test_metric_by_parameter_shows_every_repeat_and_each_values_mean(moons, drawn):
    res, _ = moons
    fig = drawn["metric_by_parameter"].figure
    assert [ax.get_xlabel() for ax in fig.axes] == ["learning rate", "hidden layers"]
    assert fig.axes[0].get_ylabel() == "validation accuracy"
    table = res.repeats_table()
    # Each parameter's choices as the tables hold them, and their tick labels, in file order.
    choices = {
        "optimizer.lr": ([0.05, 0.3], ["0.05", "0.3"]),
        "model.hidden": (["[4]", "[16, 16]"], ["[4]", "[16, 16]"]),
    }
    for ax, (path, (values, ticks)) in zip(fig.axes, choices.items(), strict=True):
        assert [tick.get_text() for tick in ax.get_xticklabels()] == ticks
        # One grey dot per repeat, jittered sideways over its own value's tick.
        dots = ax.collections[0].get_offsets()
        shown = sorted(zip(np.round(dots[:, 0]).astype(int), dots[:, 1], strict=True))
        position = table[path].map({value: i for i, value in enumerate(values)})
        assert shown == sorted(zip(position, table["val_accuracy"], strict=True))
        means = ax.containers[0].lines[0].get_ydata()  # the black markers
        assert sorted(means) == sorted(res.summary(by=path)["val_accuracy_mean"])


def test_optuna_figures_name_parameters_and_choices_in_the_reports_words(drawn):
    history = drawn["optimization_history"].figure.axes[0]
    assert history.get_ylabel() == "validation accuracy"
    importances = drawn["param_importances"].figure.axes[0]
    ticks = sorted(tick.get_text() for tick in importances.get_yticklabels())
    assert ticks == ["hidden layers", "learning rate"]
    legend = [text.get_text() for text in importances.get_legend().get_texts()]
    assert legend == ["validation accuracy"]  # not the metric's key, val_accuracy
    parallel_axes = drawn["parallel_coordinate"].figure.axes[0]
    names = [" ".join(tick.get_text().split()) for tick in parallel_axes.get_xticklabels()]
    assert names == ["validation accuracy", "learning rate", "hidden layers"]
    texts = {text.get_text() for text in parallel_axes.texts}
    assert {"0.05", "0.3", "[4]", "[16, 16]"} <= texts
    assert not texts & {"optimizer.lr", "model.hidden"}


def test_the_importances_are_fanovas_and_the_caption_says_so_and_what_the_dashboard_uses(
    moons, drawn
):
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    res, _ = moons
    figure = drawn["param_importances"]
    assert "(fANOVA, seed 0)" in figure.caption
    assert "optuna-dashboard (and Optuna's own default) ranks parameters with PED-ANOVA" in (
        figure.caption
    )
    bars = sorted(patch.get_width() for patch in figure.figure.axes[0].patches)
    expected = get_param_importances(res.study, evaluator=FanovaImportanceEvaluator(seed=0))
    assert bars == pytest.approx(sorted(expected.values()))


def test_weights_and_decision_boundaries_show_each_retrained_network(moons, drawn):
    res, _ = moons
    weights = drawn["weights"].figure
    assert _titles(weights) == _ranked(res)
    for ax, (_, row) in zip(weights.axes, res.summary().iterrows(), strict=True):
        sizes = [2, *json.loads(row["model.hidden"]), 1]  # two features in, one probability out
        count = sum(n_in * n_out for n_in, n_out in itertools.pairwise(sizes))
        assert sum(bar.get_height() for bar in ax.patches) == count  # every weight, no bias
        assert ax.texts[0].get_text().startswith(f"{count} weights")
    boundary = drawn["decision_boundary"].figure
    assert _titles(boundary) == _ranked(res)
    panels = [ax for ax in boundary.axes if ax.get_title()]
    assert (panels[0].get_ylabel(), panels[-1].get_xlabel()) == ("x2", "x1")
    assert [ax.get_ylabel() for ax in boundary.axes if ax not in panels] == ["P(class 1)"]
    # The training points on top, in the data's own units: rows of the moons dataset.
    data = moons_dataset(n_samples=200, noise=0.25, seed=0).X
    for ax in panels:
        points = ax.collections[-1].get_offsets()
        assert 100 <= len(points) < len(data)
        distance = np.abs(points[:, None, :] - data[None]).max(axis=2).min(axis=1)
        assert distance.max() < 1e-9


def test_the_verdict_names_the_best_configuration_and_its_summary_numbers(moons):
    res, report = moons
    best = res.summary().iloc[0]
    assert report.verdict == verdict(res)
    lr, hidden = best["optimizer.lr"], best["model.hidden"]  # hidden as str([16, 16])
    assert report.verdict.startswith(
        f"best configuration (learning rate {lr:g}, hidden layers {hidden}): "
    )
    found = re.search(
        r"validation accuracy (\S+) (?:± (\S+)|\((\S+)–(\S+)\)) \(n = (\d+)\)", report.verdict
    )
    assert found, report.verdict
    mean, half, low, high, n = found.groups()
    _assert_rounded(mean, best["val_accuracy_mean"])
    if half is not None:  # a symmetric interval
        _assert_rounded(half, (best["val_accuracy_ci_high"] - best["val_accuracy_ci_low"]) / 2)
    else:  # clipped to the range of accuracy: its ends
        _assert_rounded(low, best["val_accuracy_ci_low"])
        _assert_rounded(high, best["val_accuracy_ci_high"])
    assert 0 <= best["val_accuracy_ci_low"] <= best["val_accuracy_ci_high"] <= 1
    assert int(n) == best["n"] == 2
    # The other configurations: each named as not distinguishable from the best, or none is.
    claim = res.verdict()
    for other in claim.comparisons:
        assert (f"({config_name(other.params)})" in report.verdict) == (not other.distinguishable)


def _assert_rounded(shown: str, exact: float) -> None:
    """``shown`` is ``exact`` rounded to the decimals it shows."""
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    assert abs(float(shown) - exact) <= 0.5 * 10**-decimals + 1e-12, (shown, exact)


def test_figures_and_tables_name_configurations_alike(moons):
    res, report = moons
    html = report.html.read_text(encoding="utf-8")
    for _, row in res.summary().iterrows():
        label = config_label({p: row[p] for p in res.param_columns})
        assert f"{label}</td>" in html  # the diagnosis table, as in the figures' panel titles
    assert "learning rate</th>" in html and "validation accuracy</th>" in html


def test_the_summary_table_ranks_configurations_and_names_their_trials(moons):
    res, report = moons
    html = report.html.read_text(encoding="utf-8")
    table = html.split('class="dataframe summary">')[1].split("</table>")[0]
    body = table.split("<tbody>")[1]
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
    assert [cells[0] for cells in rows] == ["1", "2", "3", "4"]
    trials = res.trials.set_index(["optimizer.lr", "model.hidden"])["number"]
    for cells, (_, best) in zip(rows, res.summary().iterrows(), strict=True):
        lr, hidden, n, accuracy = cells[1:5]
        assert (lr, hidden, n) == (f"{best['optimizer.lr']:g}", best["model.hidden"], "2")
        number = trials[(best["optimizer.lr"], best["model.hidden"])]
        assert cells[-1] == str(number)
        _assert_rounded(accuracy.split(" ")[0], best["val_accuracy_mean"])
        assert accuracy == estimate(best, "val_accuracy")  # ± or, clipped, (low–high)
        # Wall-clock time per epoch: the median of the trial's epochs, in milliseconds.
        seconds = res.history.query("metric == 'epoch_seconds' and trial == @number")["value"]
        assert cells[-2] == f"{1000 * seconds.median():.3g}"
    assert "ms per epoch (median)</th>" in table


def test_the_retrained_models_reproduce_the_stored_runs(moons):
    _, report = moons
    html = report.html.read_text(encoding="utf-8")
    assert "Retrained repeat 0 of each of the 4 configurations" in html
    assert "reproduce the stored final metrics exactly" in html


def test_no_retrain_draws_no_model_figures_and_removes_old_ones(moons, tmp_path):
    res, report = moons
    folder = shutil.copytree(report.html.parent, tmp_path / "report")
    assert (folder / "decision_boundary.png").exists()
    again = write_report(res, folder, retrain=False)
    assert set(again.figures) == EVERY_FIGURE - {"weights", "decision_boundary"}
    assert set(again.skipped) == {"weights", "decision_boundary"}
    assert "retraining was turned off" in again.skipped["weights"]
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(
        f"{name}.png" for name in again.figures
    )
    assert again.html.read_text(encoding="utf-8").count("data:image/png;base64,") == 7


def test_a_report_leaves_pyplot_and_its_style_as_it_found_them(moons, tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    res, _ = moons
    style = dict(matplotlib.rcParams)
    write_report(res, tmp_path, retrain=False)  # Optuna's figures use pyplot and ggplot style
    assert plt.get_fignums() == []
    assert dict(matplotlib.rcParams) == style


# -- one-parameter studies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "order"),
    [
        ({"choices": [0.5, 0.0, 0.3]}, "as the study file lists them"),
        ({"low": 0.0, "high": 0.5, "step": 0.25}, "ascending"),
    ],
)
def test_a_one_parameter_studys_panels_follow_the_parameter_not_the_rank(tmp_path, param, order):
    study = copy.deepcopy(DROPOUT_STUDY)
    study["study"]["params"] = {"regularizers.dropout.rate": param}
    study["study"]["n_trials"] = 3
    journal = str(tmp_path / "studies.journal")
    run_study(study, storage=journal)
    res = results.load("dropout", journal)
    configs = configurations(res)
    if "choices" in param:
        expected = [value_words(v) for v in param["choices"]]
    else:
        expected = [value_words(v) for v in sorted(res.trials["regularizers.dropout.rate"])]
    for item in curves.learning_curves(res, configs):
        titles = _titles(item.figure)
        assert [title.split("dropout rate ")[1] for title in titles] == expected
        # Each panel still names its rank, and the ranks are not in order (else this shows
        # nothing): the panels follow the parameter.
        ranks = [int(title.split()[0][1:]) for title in titles]
        assert sorted(ranks) == list(range(1, len(ranks) + 1)) and ranks != sorted(ranks)
        assert f"Panels in the order of the dropout rate ({order})" in item.caption
    by_parameter = parameters.metric_by_parameter(res).caption
    assert "vary too" not in by_parameter  # there are no other parameters
    assert comparison.at_shared_setting(res, configs).why.startswith("needs 2 searched param")


def test_metric_by_parameter_says_the_other_parameters_vary_when_they_do(drawn):
    assert "The other parameters vary too" in drawn["metric_by_parameter"].caption


def test_the_comparison_at_a_shared_setting_draws_every_choice_on_one_axis(moons, drawn):
    res, _ = moons
    item = drawn["compared_at_shared_setting"]
    # learning rate is compared (the first parameter with choices); the file's own hidden
    # layers, [8], were never searched: the setting is the best configuration's.
    best = res.summary().iloc[0]
    hidden = value_words(best["model.hidden"])
    assert item.caption.startswith(
        f"Every learning rate at one shared setting, hidden layers {hidden}"
    )
    assert "the setting of the best configuration" in item.caption
    number = res.trials.set_index(["optimizer.lr", "model.hidden"])["number"]
    for ax, metric in zip(item.figure.axes[:2], ["accuracy", "val_accuracy"], strict=True):
        assert ax.get_title() == f"{metric_words(metric).capitalize()} at hidden layers {hidden}"
        assert [line.get_label() for line in ax.get_lines()] == ["0.05", "0.3"]
        for line, lr in zip(ax.get_lines(), [0.05, 0.3], strict=True):
            runs = res.curves[res.curves["trial"] == number[(lr, best["model.hidden"])]]
            np.testing.assert_allclose(line.get_ydata(), runs.groupby("epoch")[metric].mean())


def test_parallel_coordinates_draw_every_trial_opaque_with_the_best_and_worst_on_top(moons, drawn):
    res, _ = moons
    ax = drawn["parallel_coordinate"].figure.axes[0]
    complete = res.trials[res.trials["state"] == "complete"]
    # Best first (validation accuracy is maximized), equal values in the order trials ran.
    ranked = complete.sort_values("value", ascending=False, kind="stable")["number"].tolist()
    labels = [line.get_label() for line in ax.get_lines() if line.get_label().startswith("trial")]
    assert sorted(labels) == sorted(f"trial {n}" for n in complete["number"])
    # Drawn middle first: the last two lines are the best and the worst trial.
    assert set(labels[-2:]) == {f"trial {ranked[0]}", f"trial {ranked[-1]}"}
    for line in ax.get_lines():
        if line.get_label().startswith("trial"):
            assert line.get_alpha() in (None, 1.0)
            red, green, blue, _ = line.get_color()
            assert 0.2126 * red + 0.7152 * green + 0.0722 * blue < 0.75  # visible on white


def test_parallel_coordinates_place_ranges_on_their_searched_range(tmp_path):
    study = copy.deepcopy(DROPOUT_STUDY)
    study["train"]["epochs"] = 2
    study["study"].update(
        sampler={"name": "random", "seed": 3},
        n_trials=3,
        repeats=1,
        params={
            "train.batch_size": {"low": 8, "high": 42},
            "regularizers.l2.lam": {"low": 1e-4, "high": 1e-2, "log": True},
        },
    )
    journal = str(tmp_path / "studies.journal")
    run_study(study, storage=journal)
    res = results.load("dropout", journal)
    item = parallel.parallel_coordinates(res)
    assert "Logarithmic: l2 λ." in item.caption
    ax = item.figure.axes[0]
    names = [" ".join(tick.get_text().split()) for tick in ax.get_xticklabels()]
    assert names == ["validation accuracy", "batch size", "l2 λ"]
    # Each axis' ticks are written beside it: x - 0.04 for the axis at x.
    ticks = {x: [t.get_text() for t in ax.texts if t.get_position()[0] == x - 0.04] for x in (1, 2)}
    assert all(float(t).is_integer() for t in ticks[1]) and ticks[1][0] == "8"
    assert ticks[2][0] == "0.0001" and ticks[2][-1] == "0.01"
    lines = {line.get_label(): line for line in ax.get_lines() if line.get_label()[0] != "_"}
    for _, trial in res.trials.iterrows():
        y = lines[f"trial {trial['number']}"].get_ydata()
        assert y[1] == pytest.approx((trial["train.batch_size"] - 8) / 34)
        assert y[2] == pytest.approx((np.log10(trial["regularizers.l2.lam"]) + 4) / 2)


# -- the exercise studies' reports show their findings -------------------------------------------

STUDIES = Path(__file__).resolve().parents[2] / "studies"


@pytest.fixture(scope="module")
def exercise(tmp_path_factory):
    """``exercise(name)``: the results of ``studies/NAME.toml`` run in its quick mode (once per
    module, into one journal) and its report written, without retraining."""
    folder = tmp_path_factory.mktemp("exercises")
    journal = str(folder / "studies.journal")
    done: dict[str, tuple[results.StudyResults, Report]] = {}

    def run(name: str) -> tuple[results.StudyResults, Report]:
        if name not in done:
            spec = load_spec(STUDIES / f"{name}.toml", quick=True)
            run_study(STUDIES / f"{name}.toml", storage=journal, spec=spec)
            res = results.load(spec.name, journal)
            done[name] = res, write_report(res, folder / name, retrain=False)
        return done[name]

    return run


def _panel(fig, label: str):
    """The panel of a figure of small multiples whose title names ``label`` (after its rank)."""
    (ax,) = [ax for ax in fig.axes if " ".join(ax.get_title().split()).endswith(f" {label}")]
    return ax


@pytest.mark.slow
def test_overfitting_report_shows_test_accuracy_falling_while_training_accuracy_is_1(exercise):
    res, report = exercise("overfitting")
    assert "learning_curves_accuracy" in report.figures
    item = next(d for d in curves.learning_curves(res, configurations(res)) if "accuracy" in d.name)
    assert "training (blue), validation (orange) and test (green)" in item.caption
    # Regularizations in the study file's order: none, L2, dropout.
    assert [" ".join(t.split()[1:]) for t in _titles(item.figure)] == [
        "regularization none",
        "regularization l2 λ=0.2",
        "regularization dropout rate=0.8",
    ]
    ax = _panel(item.figure, "regularization none")
    training, validation, test, best = ax.get_lines()
    assert [line.get_label() for line in (training, validation, test, best)] == [
        "training",
        "validation",
        "test",
        "best test epoch",
    ]
    train_y, test_y = training.get_ydata(), test.get_ydata()
    assert train_y[-1] == 1.0  # the 50 training rows memorized…
    at_one = np.flatnonzero(train_y == 1.0)[0]
    # … while the test accuracy, after its best epoch, falls: the seed's finding.
    peak = int(np.argmax(test_y))
    assert best.get_ydata()[0] == test_y[peak] > test_y[-1]
    assert test_y[at_one:].max() > test_y[-1]
    assert ax.get_ylim()[1] >= 1.0
    # The same numbers as the study's own curves: the mean of the test accuracy over repeats.
    (number,) = res.trials.loc[res.trials["regularizers"] == "{}", "number"]
    runs = res.curves[res.curves["trial"] == number].groupby("epoch")["test_accuracy"].mean()
    np.testing.assert_allclose(test_y, runs)
    # The diagnosis table calls it overfitting (its validation loss rises from its best epoch
    # while the training loss keeps falling), the L2 run converged.
    rows = curves.diagnosis_rows(res, configurations(res))
    label = {" ".join(row["configuration"].split()[1:]): row["label"] for row in rows}
    assert label["regularization none"] == "overfitting"
    assert label["regularization l2 λ=0.2"] == "converged"


@pytest.mark.slow
def test_dropout_rates_report_reads_left_to_right_in_rate_order(exercise):
    res, report = exercise("dropout_rates")
    assert "compared_at_shared_setting" in report.skipped
    for item in curves.learning_curves(res, configurations(res)):
        rates = [t.split("dropout rate ")[1] for t in _titles(item.figure)]
        assert rates == ["0", "0.1", "0.3", "0.5", "0.7"]
        assert "Panels in the order of the dropout rate" in item.caption
    caption = parameters.metric_by_parameter(res).caption
    assert "vary too" not in caption


@pytest.mark.slow
def test_optimizers_report_compares_every_optimizer_at_the_files_learning_rate(exercise):
    res, report = exercise("optimizers")
    assert "compared_at_shared_setting" in report.figures
    item = comparison.at_shared_setting(res, configurations(res))
    assert item.caption.startswith(
        "Every optimizer at one shared setting, learning rate 0.01 (the study file's own value"
    )
    names = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]
    number = res.trials.set_index(["optimizer.name", "optimizer.lr"])["number"]
    train_ax, val_ax = item.figure.axes[:2]
    assert train_ax.get_title() == "Training loss at learning rate 0.01"
    for ax, metric in ((train_ax, "loss"), (val_ax, "val_loss")):
        assert [line.get_label() for line in ax.get_lines()] == names
        for line, name in zip(ax.get_lines(), names, strict=True):
            runs = res.curves[res.curves["trial"] == number[(name, 0.01)]]
            np.testing.assert_allclose(line.get_ydata(), runs.groupby("epoch")[metric].mean())


@pytest.mark.slow
def test_optimizers_report_marks_diverged_runs_instead_of_flattening_the_axis(exercise):
    res, _ = exercise("optimizers")
    diverged = curves.diverged_runs(res)
    table = res.repeats_table()
    pairs = zip(table["trial"], table["repeat"], strict=True)
    blown = table[[pair in diverged for pair in pairs]]
    assert len(blown) >= 1 and blown["val_loss"].max() > 1e3  # momentum at 0.3 blows up
    item = parameters.metric_by_parameter(res)
    assert f"{len(blown)} diverged repeat" in item.caption
    kept = table.drop(blown.index)
    for ax, path in zip(item.figure.axes, ["optimizer.name", "optimizer.lr"], strict=True):
        crosses = [c for c in ax.collections if c.get_label() == "diverged (not in the mean)"]
        assert len(crosses) == 1 and len(crosses[0].get_offsets()) == len(blown)
        # The means leave the diverged repeats out.
        means = ax.containers[0].lines[0].get_ydata()
        np.testing.assert_allclose(sorted(means), sorted(kept.groupby(path)["val_loss"].mean()))
    top = item.figure.axes[0].get_ylim()[1]
    assert kept["val_loss"].max() <= top < 1e3 < blown["val_loss"].max()
    # The parallel coordinates put those trials at "diverged", above the objective axis …
    ax = parallel.parallel_coordinates(res).figure.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines() if line.get_label()[0] != "_"}
    assert len(lines) == len(res.trials)  # every trial completed: one line each
    for trial in {t for t, _ in diverged}:
        assert lines[f"trial {trial}"].get_ydata()[0] > 1.0
    assert "diverged" in [text.get_text() for text in ax.texts]
    # … and the worst trial is drawn opaque, on top, in a colour that shows on white.
    ranked = res.trials.sort_values("value", kind="stable")["number"].tolist()
    worst = lines[f"trial {ranked[-1]}"]
    assert f"trial {ranked[-1]}" in list(lines)[-2:]
    red, green, blue, _ = worst.get_color()
    assert worst.get_alpha() in (None, 1.0)
    assert 0.2126 * red + 0.7152 * green + 0.0722 * blue < 0.75


# -- studies without results ---------------------------------------------------------------------


def _failing(how: str) -> dict[str, Any]:
    study = copy.deepcopy(DROPOUT_STUDY)
    study["study"]["name"] = how
    if how == "diverged":  # every run blows up: failed trials, with their learning curves
        study["optimizer"]["lr"] = 1e4
    else:  # no validation accuracy reaches 2: every trial pruned at its first report
        study["study"]["pruner"] = {"name": "threshold", "lower": 2.0}
    return study


@pytest.mark.parametrize("how", ["diverged", "pruned"])
def test_a_study_without_a_completed_trial_still_gets_a_report(tmp_path, how):
    journal = str(tmp_path / "studies.journal")
    run_study(_failing(how), storage=journal)
    res = results.load(how, journal)
    assert set(res.trials["stop_reason"]) == {how}
    report = write_report(res, tmp_path / "report")
    assert report.verdict == "no completed trial yet"
    assert set(report.figures) == {"learning_curves_loss", "learning_curves_accuracy"}
    for name in ("optimization_history", "param_importances", "metric_by_parameter", "weights"):
        assert name in report.skipped
    html = report.html.read_text(encoding="utf-8")
    assert "no completed trial yet" in html
    assert html.count("data:image/png;base64,") == 2
    # Configurations that never completed are named with their fate instead of a rank.
    assert (
        f"<td>dropout rate 0 ({how})</td>" in html and f"<td>dropout rate 0.3 ({how})</td>" in html
    )
    if how == "diverged":
        assert "DIVERGING" in html  # the diagnosis of their mean loss curves


# -- the command ---------------------------------------------------------------------------------


def _sweepnp(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sweepnp", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_command_writes_the_report_and_prints_the_verdict(tmp_path):
    journal = str(tmp_path / "studies.journal")
    run_study(copy.deepcopy(DROPOUT_STUDY), storage=journal)
    expected = verdict(results.load("dropout", journal))
    assert expected.startswith("best dropout rate ")

    command = ["study", "report", "dropout", "--storage", journal, "--no-retrain"]
    done = _sweepnp(*command, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "reports" / "dropout"  # the default folder
    pngs = sorted(p.stem for p in folder.glob("*.png"))
    # One parameter: no importances, no comparison at a shared setting; --no-retrain: no
    # weights, no decision boundary.
    one_parameter = {"param_importances", "compared_at_shared_setting"}
    assert pngs == sorted(EVERY_FIGURE - one_parameter - {"weights", "decision_boundary"})
    assert done.stdout.splitlines() == [
        expected,
        "wrote reports/dropout/report.html with 5 figures, 4 not drawn (see the report)",
    ]
    assert expected in (folder / "report.html").read_text(encoding="utf-8")


def test_an_unknown_study_exits_2_with_one_line(tmp_path):
    journal = str(tmp_path / "studies.journal")
    optuna.create_study(study_name="other", storage=open_storage(journal))
    done = _sweepnp("study", "report", "nope", "--storage", journal, cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("Error:") and "'nope'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "reports").exists()


# -- words ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("regularizers.dropout.rate", "dropout rate"),
        ("train.batch_size", "batch size"),
        ("optimizer.name", "optimizer"),
        ("optimizer.lr", "learning rate"),
        ("regularizers.l2.lam", "l2 λ"),
        ("callbacks.early_stopping.patience", "early stopping patience"),
        ("model.hidden", "hidden layers"),
        ("regularizers", "regularization"),
    ],
)
def test_param_words(path, words):
    assert param_words(path) == words


@pytest.mark.parametrize(
    ("metric", "words"),
    [
        ("val_accuracy", "validation accuracy"),
        ("test_loss", "test loss"),
        ("loss", "training loss"),
        ("accuracy", "training accuracy"),
        ("val_r2", "validation R²"),
        ("train_seconds", "training time (s)"),
    ],
)
def test_metric_words(metric, words):
    assert metric_words(metric) == words


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('{"l2": {"lam": 0.01}}', "l2 λ=0.01"),  # as Optuna and the results tables hold it
        ("{}", "none"),
        ({"early_stopping": False}, "early stopping off"),
        ({"l1": {"lam": 0.001}, "dropout": {"rate": 0.5}}, "l1 λ=0.001 + dropout rate=0.5"),
        ({"name": "cosine", "t_max": 10}, "cosine t max=10"),
        ({"monitor": "val_loss", "restore_best": True}, "monitor=val_loss restore best on"),
        ({"l2": {}}, "l2"),
        (False, "off"),
        (0.1, "0.1"),
        (1e-05, "1e-05"),
        ("[32, 16]", "[32, 16]"),
        ("adam", "adam"),
        (None, "–"),
        (float("nan"), "–"),
    ],
)
def test_value_words(value, words):
    assert value_words(value) == words


def test_config_label_names_active_parameters_in_order():
    params = {"optimizer.name": "adam", "optimizer.lr": 0.01, "optimizer.beta": np.nan}
    assert config_label(params) == "optimizer adam, learning rate 0.01"
    assert config_label({"regularizers": '{"l2": {"lam": 0.01}}'}) == "regularization l2 λ=0.01"


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ((0.97612, 0.97212, 0.98012), "0.976 ± 0.004"),
        ((0.97612, 0.96212, 0.99012), "0.976 ± 0.014"),  # a half-width starting with 1: 2 digits
        ((12.34, 2.34, 22.34), "12 ± 10"),
        ((0.9, 0.9, 0.9), "0.9 ± 0"),
        ((0.98246,), "0.9825"),  # n = 1: no interval
        ((0.98, float("nan"), float("nan")), "0.98"),
    ],
)
def test_format_estimate(args, text):
    assert format_estimate(*args) == text


def _visible_labels(fig) -> list[Any]:
    """Every visible text of a figure that labels something: texts on the axes, tick labels,
    axis labels."""
    texts = []
    for ax in fig.axes:
        texts += [t for t in ax.texts if t.get_visible() and t.get_text()]
        for axis in (ax.xaxis, ax.yaxis):
            texts += [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
            texts += [axis.label] if axis.label.get_text() else []
    return texts


def test_parallel_coordinates_labels_overlap_neither_each_other_nor_the_edge(tmp_path):
    """Forty batch sizes on one axis and long choices on another: the tick labels that would
    touch another are left out, each axis keeps its two ends, and no two labels' boxes (as the
    renderer places them) overlap or leave the figure. Labels sit on opaque boxes above the
    lines."""
    study = copy.deepcopy(DROPOUT_STUDY)
    study["train"]["epochs"] = 1
    sizes = list(range(8, 48))
    hidden = [[4], [8, 8, 8, 8, 8, 8, 8, 8, 8, 8], [16, 16]]
    study["study"].update(
        sampler={"name": "random", "seed": 0},
        n_trials=3,
        repeats=1,
        params={
            "train.batch_size": {"choices": sizes},
            "model.hidden": {"choices": hidden},
        },
    )
    journal = str(tmp_path / "studies.journal")
    run_study(study, storage=journal)
    res = results.load("dropout", journal)
    fig = parallel.parallel_coordinates(res).figure
    fig.draw_without_rendering()
    ax = fig.axes[0]
    labels = _visible_labels(fig)
    boxes = [label.get_window_extent() for label in labels]
    for (a, box_a), (b, box_b) in itertools.combinations(zip(labels, boxes, strict=True), 2):
        assert not box_a.overlaps(box_b), (a.get_text(), b.get_text())
    for label, box in zip(labels, boxes, strict=True):
        assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1), label
    on_batch_axis = [t for t in ax.texts if t.get_position()[0] == 1 - 0.04]
    assert len(on_batch_axis) == 40  # every choice has its tick …
    shown = [t.get_text() for t in on_batch_axis if t.get_visible()]
    assert 3 <= len(shown) < 40 and {"8", "47"} <= set(shown)  # … a few labels, the ends kept
    on_hidden_axis = [t for t in ax.texts if t.get_position()[0] == 2 - 0.04]
    assert all(t.get_visible() for t in on_hidden_axis)
    for text in ax.texts:
        assert text.get_zorder() > max(line.get_zorder() for line in ax.get_lines())
        assert text.get_bbox_patch().get_alpha() in (None, 1.0)


def test_parallel_coordinates_colour_tied_trials_alike(tmp_path):
    """Trials with the same objective get one colour: the figure does not rank what is tied."""
    study = copy.deepcopy(DROPOUT_STUDY)
    study["study"].update({"name": "ties", "n_trials": 4, "sampler": {"name": "random", "seed": 0}})
    study["train"]["epochs"] = 1
    journal = str(tmp_path / "ties.journal")
    run_study(study, storage=journal)
    res = results.load("ties", journal)
    ax = parallel.parallel_coordinates(res).figure.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines() if line.get_label()[0] != "_"}
    colour = {int(label.split()[1]): line.get_color() for label, line in lines.items()}
    values = res.trials.set_index("number")["value"]
    pairs = [(a, b) for a in colour for b in colour if a < b]
    assert any(values[a] == values[b] for a, b in pairs), "the study should hold a tie"
    for a, b in pairs:
        assert (colour[a] == colour[b]) == (values[a] == values[b])


def test_the_diagnosis_advice_knows_each_configurations_early_stopping(small_journal):
    """The report's diagnosis table advises what a configuration's runs do not do yet: the
    remedies it passes are those of each configuration's own run file (its searched patience,
    λ and dropout rate), with early stopping's own defaults (restore_best)."""
    from sweepnp.report.configurations import configurations
    from sweepnp.report.figures.curves import configuration_remedies
    from sweepnp.results import load

    res = load("small", small_journal)
    configs = configurations(res)
    assert configs
    for config in configs:
        remedies = configuration_remedies(res, config)
        assert remedies is not None
        params = config.params
        assert remedies.early_stopping == {
            "patience": params["callbacks.early_stopping.patience"],
            "restore_best": True,
        }
        assert remedies.regularizers == {
            "l2": {"lam": params["regularizers.l2.lam"]},
            "dropout": {"rate": params["regularizers.dropout.rate"]},
        }
