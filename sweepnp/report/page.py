"""The page: the overview and tables, the figures written as PNG files and embedded, the HTML
rendered from ``templates/report.html.j2``, and :func:`write_report`, which does it all."""

from __future__ import annotations

import base64
import datetime as dt
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sweepnp.report.configurations import Configuration, configurations, key_of
from sweepnp.report.figures import comparison, curves, models, optuna_plots, parallel, parameters
from sweepnp.report.figures.canvas import DPI, Drawn, Skipped
from sweepnp.report.verdict_words import verdict
from sweepnp.report.words import estimate, metric_words, param_words, value_words
from sweepnp.results import StudyResults

__all__ = ["FIGURE_NAMES", "Report", "write_report"]

#: Every figure a report can hold; files of these names left in the folder by an earlier report
#: are removed, so that the folder never mixes two reports.
FIGURE_NAMES = (
    "learning_curves_loss",
    "learning_curves_accuracy",
    "learning_curves_r2",
    "compared_at_shared_setting",
    "metric_by_parameter",
    "optimization_history",
    "param_importances",
    "parallel_coordinate",
    "weights",
    "decision_boundary",
)

#: Metrics shown in the summary table besides the study's own, when the runs recorded them.
SUMMARY_METRICS = (
    "val_accuracy",
    "test_accuracy",
    "accuracy",
    "val_r2",
    "test_r2",
    "r2",
    "val_loss",
    "test_loss",
    "loss",
)


@dataclass
class Report:
    """What :func:`write_report` wrote.

    :ivar html: the self-contained HTML file.
    :ivar figures: figure name → its PNG file, in the order of the report.
    :ivar verdict: the one-line verdict at the top of the report (:func:`verdict`).
    :ivar skipped: figure name → why it was not drawn.
    """

    html: Path
    figures: dict[str, Path]
    verdict: str
    skipped: dict[str, str] = field(default_factory=dict)


def write_report(results: StudyResults, out_dir: str | Path, *, retrain: bool = True) -> Report:
    """Write ``out_dir/report.html`` and one PNG per figure into ``out_dir`` (created).

    :param results: the study, from :func:`sweepnp.results.load`.
    :param retrain: retrain repeat 0 of the configurations (all of them up to 12, else only the
        best) for the weight histograms and, on two-feature data, the decision boundaries.
    :return: the files written, the verdict, and the figures not drawn with the reason.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in FIGURE_NAMES:
        (out_dir / f"{name}.png").unlink(missing_ok=True)
    writer = _Writer(out_dir)
    configs = configurations(results)
    first = metric_words(results.metrics[0])
    line = _verdict(results, retrain)
    sections = [  # drawn in this order, the order of Report.figures
        _section(
            "summary",
            "Summary across repeats",
            _summary_items(results, configs),
            "One row per configuration, best first: each metric's mean over the repeats ± the "
            "half-width of its 95% confidence interval (t distribution); an interval that would "
            "leave the metric's range (accuracy [0, 1], a loss ≥ 0) is clipped to it and shown "
            "as mean (low–high). n counts the repeats.",
        ),
        _section(
            "curves",
            "Learning curves",
            writer.items(
                [
                    *curves.learning_curves(results, configs),
                    comparison.at_shared_setting(results, configs),
                ]
            ),
        ),
        _section(
            "diagnosis",
            "Learning-curve diagnosis",
            [{"kind": "diagnosis", "rows": curves.diagnosis_rows(results, configs)}]
            if configs
            else [{"kind": "note", "text": "No finished trial yet."}],
            "The rules of the diagnosis callback applied to each configuration's mean training "
            "and validation loss curves (epochs counted from 0).",
        ),
        _section(
            "parameters",
            f"{first.capitalize()} by parameter",
            writer.items([parameters.metric_by_parameter(results)]),
        ),
        _section(
            "search",
            "The search",
            writer.items(
                [*optuna_plots.optuna_figures(results), parallel.parallel_coordinates(results)]
            ),
        ),
        _models_section(results, configs, writer, retrain),
    ]
    html = out_dir / "report.html"
    page = _render(
        {
            "name": results.name,
            "verdict": line,
            "overview": _overview(results),
            "sections": sections,
            "generated": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        }
    )
    html.write_text(page, encoding="utf-8")
    return Report(html, dict(writer.figures), line, dict(writer.skipped))


def _verdict(res: StudyResults, retrain: bool) -> str:
    """The verdict (:func:`verdict`, as ``study show`` and the notebook view say it); for a study
    of one repeat (when retraining is allowed), with the run-to-run spread measured by training
    its best configuration with more seeds, and stored in the study for them to say too."""
    from sweepnp.study.spread import measure_spread, store_spread, stored_spread

    one_repeat = res.spec.study.repeats == 1 and not res.spec.multi_objective
    if retrain and one_repeat and stored_spread(res) is None:
        measured = measure_spread(res)
        if measured is not None:
            store_spread(res, measured)
    return verdict(res)


class _Writer:
    """Writes figures into the output folder and remembers them, and what was skipped and why."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.figures: dict[str, Path] = {}
        self.skipped: dict[str, str] = {}

    def items(self, drawn: Sequence[Drawn | Skipped]) -> list[dict[str, Any]]:
        """The template items of some figures: each written as ``NAME.png`` and embedded, or
        said to be skipped, and why."""
        return [self._save(d) if isinstance(d, Drawn) else self._skip(d) for d in drawn]

    def _save(self, drawn: Drawn) -> dict[str, Any]:
        path = self.out_dir / f"{drawn.name}.png"
        drawn.figure.savefig(path, dpi=DPI)
        self.figures[drawn.name] = path
        data = path.read_bytes()
        src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        width, height = struct.unpack(">II", data[16:24])  # the PNG header's IHDR chunk
        return {
            "kind": "figure",
            "name": drawn.name,
            "src": src,
            "caption": drawn.caption,
            "width": width,
            "height": height,
        }

    def _skip(self, skipped: Skipped) -> dict[str, Any]:
        self.skipped[skipped.name] = skipped.why
        return {"kind": "skipped", "name": skipped.name, "text": skipped.why}


def _section(key: str, title: str, items: list[dict[str, Any]], intro: str = "") -> dict:
    return {"id": key, "title": title, "items": items, "intro": intro}


def _models_section(
    res: StudyResults, configs: list[Configuration], writer: _Writer, retrain: bool
) -> dict[str, Any]:
    drawn, note = models.trained_models(res, configs, retrain=retrain)
    return _section("models", "Trained models", writer.items(drawn), note)


# -- the overview and the summary table ----------------------------------------------------------


def _overview(res: StudyResults) -> dict[str, str]:
    """The facts at the top of the page: data, objective, search, trials."""
    dataset = res.spec.base.get("data", {}).get("dataset", "–")
    states = res.trials["state"].value_counts() if len(res.trials) else pd.Series(dtype=int)
    counts = ", ".join(f"{int(n)} {state}" for state, n in states.items() if n)
    objectives = ", ".join(
        f"{metric_words(m)} ({d})" for m, d in zip(res.metrics, res.spec.directions, strict=True)
    )
    sampler = res.spec.study.sampler
    sampler_name = sampler if isinstance(sampler, str) else sampler.get("name", "tpe")
    repeats = res.spec.study.repeats
    seeds = (
        "repeat r of every configuration trains with the same seed (paired)"
        if res.spec.seed_scheme == "paired"
        else "each configuration its own seeds (per configuration)"
    )
    return {
        "Dataset": value_words(dataset),
        "Objective": objectives,
        "Search": f"{sampler_name} sampler, {repeats} repeat{'s' * (repeats > 1)} per "
        f"configuration; {seeds}",
        "Searched": "; ".join(_search_words(p) for p in res.space.params),
        "Trials": f"{len(res.trials)}" + (f" ({counts})" if counts else ""),
    }


def _search_words(param: Any) -> str:
    """One searched parameter and its range or choices, in words."""
    if param.kind == "categorical":
        choices = ", ".join(value_words(c) for c in param.choices)
        return f"{param_words(param.path)} in {{{choices}}}"
    scale = ", log scale" if param.log else ""
    return f"{param_words(param.path)} {value_words(param.low)}–{value_words(param.high)}{scale}"


def _summary_items(res: StudyResults, configs: list[Configuration]) -> list[dict[str, Any]]:
    if res.repeats_table().empty:
        return [{"kind": "note", "text": "No completed trial yet."}]
    return [{"kind": "table", "html": _summary_table(res, configs)}]


def _summary_table(res: StudyResults, configs: list[Configuration]) -> str:
    """The summary across repeats as HTML: one row per configuration, best first, its values in
    words and each metric as ``mean ± half-width``; the study's metrics first."""
    recorded = res.repeats_table().columns
    metrics = list(dict.fromkeys([*res.metrics, *(m for m in SUMMARY_METRICS if m in recorded)]))
    summary = res.summary(metrics=metrics)
    trials = {c.key: c.trials for c in configs}
    shown = pd.DataFrame({"#": range(1, len(summary) + 1)})
    for path in res.param_columns:
        shown[param_words(path)] = [value_words(v) for v in summary[path]]
    shown["n"] = summary["n"].to_numpy()
    for metric in metrics:
        shown[metric_words(metric)] = [estimate(row, metric) for _, row in summary.iterrows()]
    values = summary[res.param_columns].itertuples(index=False, name=None)
    numbers = [trials.get(key_of(row), []) for row in values]
    # Wall-clock time per epoch (seed 003's batch-size experiment): the median over every epoch
    # of the configuration's runs, from the learning curves' `epoch_seconds`.
    if "epoch_seconds" in res.curves:
        seconds = res.curves["epoch_seconds"].astype(float)
        per_trial = seconds.groupby(res.curves["trial"]).median()
    else:
        per_trial = pd.Series(dtype=float)
    shown["ms per epoch (median)"] = [
        f"{1000 * per_trial.reindex(n).median():.3g}" if per_trial.reindex(n).notna().any() else "–"
        for n in numbers
    ]
    shown["trials"] = [", ".join(map(str, n)) for n in numbers]
    return shown.to_html(index=False, border=0, classes="summary", escape=True)


def _render(context: dict[str, Any]) -> str:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("sweepnp.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the tests, not the reader
    )
    return environment.get_template("report.html.j2").render(**context)
