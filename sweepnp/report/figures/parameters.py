"""The study's first metric against each searched parameter, from ``res.repeats_table()`` and
``res.summary(by=…)``: one panel per parameter, each repeat a grey dot, each value's mean with its
95% confidence interval in black."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sweepnp.report.figures.canvas import (
    LOG_RATIO,
    Drawn,
    Skipped,
    grid,
    grid_size,
    new_figure,
    wrap,
)
from sweepnp.report.words import choice_names, metric_words, param_words
from sweepnp.study.space import encode_value

if TYPE_CHECKING:
    import pandas as pd
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
    caption = (
        f"Final {metric} ({better} is better) against each searched parameter: grey dots are "
        "single repeats (jittered sideways for categories), black markers the mean per value "
        "with its 95% confidence interval (t distribution) where that value was trained more "
        f"than once. The other parameters vary too: a trend here is a marginal one.{note}"
    )
    return Drawn("metric_by_parameter", fig, caption)


def _metric_by_parameter(res: StudyResults) -> tuple[Figure, str]:
    """One panel per parameter: each repeat's final value of the study's first metric (grey
    dots) and, per value, the mean with its 95% confidence interval (black). Returns the figure
    and a note for its caption on how its y axis was limited."""
    from matplotlib.ticker import MaxNLocator

    metric = res.metrics[0]
    table = res.repeats_table()
    params = res.space.params
    fig = new_figure(*grid_size(len(params), 3, (3.8, 3.0)))
    axes = grid(fig, len(params), columns=3, ylabel=metric_words(metric), sharey=True)
    rng = np.random.default_rng(0)  # the jitter of categorical dots, the same on every report
    for ax, param in zip(axes, params, strict=True):
        rows = table[[param.path, metric]].dropna()
        means = res.summary(by=param.path).dropna(subset=[param.path])
        if param.kind == "categorical":
            x_dots, x_means = _categorical_axis(ax, param.choices, rows, means, rng)
        else:
            x_dots, x_means = rows[param.path].astype(float), means[param.path].astype(float)
            if param.log:
                ax.set_xscale("log")
            elif param.kind == "int":
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.scatter(x_dots, rows[metric], s=12, color="0.55", alpha=0.7, label="one repeat")
        mean = means[f"{metric}_mean"]
        # NaN where a value was trained once: matplotlib draws no bar there.
        errors = np.vstack([mean - means[f"{metric}_ci_low"], means[f"{metric}_ci_high"] - mean])
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
        ax.set_xlabel(param_words(param.path) + (" (log scale)" if param.log else ""))
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=2, frameon=False)
    return fig, _limit_metric_axis(axes[0], metric, table[metric].to_numpy(dtype=float))


def _categorical_axis(
    ax: Axes, choices: Sequence[Any], rows: pd.DataFrame, means: pd.DataFrame, rng: Any
) -> tuple[pd.Series, pd.Series]:
    """Put the choices on the x axis, in the study file's order; return the x of the dots
    (jittered, so that repeats do not hide each other) and of the means."""
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
    return rows[path].map(position) + jitter, means[path].map(position)


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
