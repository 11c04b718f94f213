"""The study's first metric against each searched parameter, from ``res.repeats_table()``: one
panel per parameter, each repeat a grey dot, each value's mean with its 95% confidence interval in
black, as ``res.summary(by=…)`` computes them but without the diverged repeats, which are red
crosses at the top edge: one loss of 1e19 would otherwise set the axis and flatten every other
repeat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sweepnp.report.figures.canvas import (
    LOG_RATIO,
    Drawn,
    Skipped,
    grid,
    grid_size,
    new_figure,
    wrap,
)
from sweepnp.report.figures.curves import diverged_runs
from sweepnp.report.words import choice_names, metric_words, param_words
from sweepnp.study.space import encode_value

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from sweepnp.results import StudyResults

__all__ = ["metric_by_parameter"]


def metric_by_parameter(res: StudyResults) -> Drawn | Skipped:
    """The figure ``metric_by_parameter``, or why there is none (no completed trial yet)."""
    if res.repeats_table().empty:
        return Skipped("metric_by_parameter", "no completed trial yet")
    metric = metric_words(res.metrics[0])
    better = "higher" if res.spec.directions[0] == "maximize" else "lower"
    fig, note = _metric_by_parameter(res)
    if len(res.space.params) > 1:
        marginal = " The other parameters vary too: a trend here is a marginal one."
    else:
        marginal = ""
    caption = (
        f"Final {metric} ({better} is better) against each searched parameter: grey dots are "
        "single repeats (jittered sideways for categories), black markers the mean per value "
        "with its 95% confidence interval (t distribution) where that value was trained more "
        f"than once.{marginal}{note}"
    )
    return Drawn("metric_by_parameter", fig, caption)


def _metric_by_parameter(res: StudyResults) -> tuple[Figure, str]:
    """One panel per parameter: each repeat's final value of the study's first metric (grey
    dots) and, per value, the mean with its 95% confidence interval (black). Diverged repeats
    are red crosses at the top edge, out of the means and of the axis' range. Returns the
    figure and a note for its caption on how its y axis was limited."""
    from matplotlib.ticker import MaxNLocator

    metric = res.metrics[0]
    table = res.repeats_table()
    diverged = _diverged_rows(res, table, metric)
    params = res.space.params
    columns = 2 if len(params) == 4 else 3  # 2 × 2, not 3 + 1: narrow enough for a small screen
    fig = new_figure(*grid_size(len(params), columns, (3.8, 3.0)))
    axes = grid(fig, len(params), columns=columns, ylabel=metric_words(metric), sharey=True)
    rng = np.random.default_rng(0)  # the jitter of categorical dots, the same on every report
    for ax, param in zip(axes, params, strict=True):
        active = table[param.path].notna()
        rows = table.loc[active & ~diverged, [param.path, metric]]
        blown = table.loc[active & diverged, [param.path, metric]]
        means = _means(rows, param.path, metric)
        if param.kind == "categorical":
            x_dots, x_means, x_blown = _categorical_axis(ax, param.choices, rows, means, blown, rng)
        else:
            x_dots, x_means = rows[param.path].astype(float), means[param.path].astype(float)
            x_blown = blown[param.path].astype(float)
            if param.log:
                ax.set_xscale("log")
            elif param.kind == "int":
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.scatter(x_dots, rows[metric], s=12, color="0.55", alpha=0.7, label="one repeat")
        mean = means["mean"]
        # NaN where a value was trained once: matplotlib draws no bar there.
        errors = np.vstack([mean - means["ci_low"], means["ci_high"] - mean])
        ax.errorbar(
            x_means,
            mean,
            yerr=errors,
            fmt="o",
            color="black",
            markersize=4,
            capsize=3,
            label="mean, 95% CI",
        )
        if len(blown):
            # At the top edge whatever the value (1e19 or NaN): in axes units, not data units.
            ax.scatter(
                x_blown,
                np.full(len(blown), 0.97),
                transform=ax.get_xaxis_transform(),
                marker="x",
                s=30,
                color="tab:red",
                label="diverged (not in the mean)",
                clip_on=False,
            )
        ax.set_xlabel(param_words(param.path) + (" (log scale)" if param.log else ""))
        ax.grid(alpha=0.3)
    labels_seen: dict[str, Any] = {}
    for ax in axes:  # the legend of every kind of mark, whichever panel holds it
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            labels_seen.setdefault(label, handle)
    fig.legend(
        list(labels_seen.values()),
        list(labels_seen),
        loc="outside upper center",
        ncols=len(labels_seen),
        frameon=False,
    )
    kept = table.loc[~diverged, metric].to_numpy(dtype=float)
    note = _limit_metric_axis(axes[0], metric, kept)
    count = int(diverged.sum())
    if count:
        note += (
            f" {count} diverged repeat{'s' * (count > 1)} (training loss finally above its "
            "start, or not a number) are red crosses at the top edge, left out of the means "
            "and of the axis' range."
        )
    return fig, note


def _diverged_rows(res: StudyResults, table: pd.DataFrame, metric: str) -> pd.Series:
    """Per row of ``repeats_table()``: whether that repeat diverged (see
    :func:`~sweepnp.report.figures.curves.diverged_runs`) or its metric is not a number."""
    runs = diverged_runs(res)
    pairs = zip(table["trial"], table["repeat"], strict=True)
    by_curve = pd.Series([(int(t), int(r)) in runs for t, r in pairs], index=table.index)
    return by_curve | ~np.isfinite(table[metric].astype(float))


def _means(rows: pd.DataFrame, path: str, metric: str) -> pd.DataFrame:
    """Per value of ``path``: the mean of ``metric`` and its 95% t interval (NaN for a value
    trained once) clipped to the metric's range, as ``res.summary(by=path)`` computes them, of
    the repeats kept."""
    from sweepnp.metrics import interval_by_group

    out = interval_by_group(rows.groupby(path, observed=True)[metric], metric)
    return out.reset_index()


def _categorical_axis(
    ax: Axes,
    choices: Sequence[Any],
    rows: pd.DataFrame,
    means: pd.DataFrame,
    blown: pd.DataFrame,
    rng: Any,
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Put the choices on the x axis, in the study file's order; return the x of the dots
    (jittered, so that repeats do not hide each other), of the means and of the diverged
    repeats (jittered too)."""
    path = rows.columns[0]
    categories = [encode_value(c) for c in choices]
    position = {c: i for i, c in enumerate(categories)}
    names = choice_names(choices)
    ax.set_xticks(range(len(categories)))
    if sum(len(name) for name in names) > 40:  # more than fits side by side under a panel
        names = [name if len(name) <= 24 else name[:23] + "…" for name in names]
        ax.set_xticklabels(names, fontsize=8, rotation=30, ha="right")
    else:
        ax.set_xticklabels([wrap(name, 14) for name in names], fontsize=8)
    ax.set_xlim(-0.5, len(categories) - 0.5)
    jitter = rng.uniform(-0.12, 0.12, len(rows))
    x_blown = blown[path].map(position).astype(float) + rng.uniform(-0.12, 0.12, len(blown))
    return rows[path].map(position) + jitter, means[path].map(position), x_blown


def _limit_metric_axis(ax: Axes, metric: str, values: np.ndarray) -> str:
    """Keep the metric axis readable (it is shared); return what the caption should say."""
    values = values[np.isfinite(values)]
    if "accuracy" in metric:  # the intervals are clipped to [0, 1] (StudyResults.summary)
        bottom, top = ax.get_ylim()
        ax.set_ylim(bottom, min(top, 1.01))
        return " Intervals are clipped to [0, 1], the range of accuracy."
    if values.size and values.min() > 0 and values.max() / values.min() > LOG_RATIO:
        ax.set_yscale("log")  # a few runs far off would flatten all the others
        return " The values span many decades: the axis is logarithmic."
    return ""
