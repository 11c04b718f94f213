"""Learning curves per configuration, and their diagnosis, from ``res.curves``.

One figure per family of metrics (loss, then accuracy or R² when the runs recorded them): small
multiples, one panel per configuration — best first, or in the parameter's order when the study
searches one parameter, so that a trend reads left to right; for a sweep of several parameters,
the best, the median and the worst configuration only (:func:`chosen_configurations`) —
training against validation (and test, when the study is judged on a test metric), each the
mean over the configuration's runs (trials × repeats) with their min–max range, and a dot at
the held-out curve's best epoch: a held-out accuracy that falls while the training accuracy
stays at 1.0 (seed 000's overfitting) shows. The diagnosis table applies
:func:`sweepnp.diagnosis.diagnose` to the same mean loss curves, and :func:`diverged_runs`
applies its divergence rule to each run.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sweepnp.report.configurations import MAX_PANELS, Configuration, in_parameter_order
from sweepnp.report.figures.canvas import (
    LOG_RATIO,
    Drawn,
    Skipped,
    grid,
    grid_columns,
    grid_size,
    new_figure,
    wrap,
)
from sweepnp.report.words import metric_words, param_words

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from sweepnp.diagnosis import Remedies
    from sweepnp.results import StudyResults

__all__ = [
    "ALL_CURVES_UP_TO",
    "band",
    "chosen_configurations",
    "diagnosis_rows",
    "diverged_runs",
    "held_out_split",
    "learning_curves",
    "log_ceiling",
]

#: A loss axis stops this many times above its smallest value (matplotlib cannot tick a diverged
#: run's 200 decades).
_LOG_SPAN = 1e8
#: An R² axis is cut at −1 when some value lies below this.
_R2_FLOOR = -10.0
#: The families of learning curves, in the order of their figures.
_FAMILIES = ("loss", "accuracy", "r2")


def band(runs: pd.DataFrame, metric: str) -> pd.DataFrame | None:
    """Per epoch, the mean of ``metric`` over every run (trial × repeat) in ``runs`` (rows of
    ``res.curves``) and its min–max range; None when the runs did not record it."""
    if metric not in runs or runs[metric].isna().all():
        return None
    wide = runs.pivot(index="epoch", columns=["trial", "repeat"], values=metric).astype(float)
    return pd.DataFrame(
        {"mean": wide.mean(axis=1), "low": wide.min(axis=1), "high": wide.max(axis=1)}
    )


def held_out_split(res: StudyResults) -> str:
    """The held-out split the learning curves mark: ``test`` when the study is judged on a
    test metric (seed 000's overfitting is told by the test accuracy), else ``val``."""
    return "test" if res.metrics[0].startswith("test_") else "val"


#: A study of several parameters with more configurations than this shows the learning curves of
#: three of them: the best, the median and the worst (the best dozen of a sweep look alike).
ALL_CURVES_UP_TO = 4


def chosen_configurations(
    res: StudyResults, configs: list[Configuration]
) -> tuple[list[Configuration], dict[int, str], str]:
    """The configurations whose learning curves are drawn, a word for some of them by rank
    ("best", "median", "worst"), and a sentence saying which were chosen.

    - One searched parameter: every configuration (the best :data:`MAX_PANELS`), in the
      parameter's order, so that a trend reads left to right.
    - Several parameters and at most :data:`ALL_CURVES_UP_TO` configurations with curves, or
      fewer than 3 completed: every one (the best :data:`MAX_PANELS`), best first.
    - Else the best, the median and the worst completed configuration by the study's first metric
      (the ranks of ``summary()``: rank 1, rank ⌈n/2⌉ of n, rank n), the curves that differ; the
      others are in the summary and diagnosis tables.
    """
    with_curves = [c for c in configs if c.has_curves]
    ranked = [c for c in with_curves if c.rank is not None]
    metric = metric_words(res.metrics[0])
    several = len(res.space.params) > 1
    if several and len(with_curves) > ALL_CURVES_UP_TO and len(ranked) >= 3:
        picks = {0: "best", (len(ranked) - 1) // 2: "median", len(ranked) - 1: "worst"}
        shown = [ranked[i] for i in picks]
        words = {ranked[i].rank: word for i, word in picks.items()}
        others = len(with_curves) - len(ranked)
        unfinished = (
            f", with the {others} that never completed (pruned or failed)," if others else ""
        )
        said = (
            f"Three of the {len(ranked)} completed configurations, to show how the curves differ "
            f"across the search: the best (#{shown[0].rank}), the median (#{shown[1].rank}) and "
            f"the worst (#{shown[2].rank}) by {metric}. Every completed configuration is in the "
            f"summary table, and every one{unfinished} in the diagnosis table."
        )
        return shown, words, said
    shown = in_parameter_order(res, with_curves[:MAX_PANELS])
    if len(res.space.params) == 1:
        param = res.space.params[0]
        order = "as the study file lists them" if param.kind == "categorical" else "ascending"
        said = f"Panels in the order of the {param_words(param.path)} ({order})"
    else:
        said = "Panels best first"
    said += f"; #k is the configuration's rank by {metric}."
    if len(with_curves) > MAX_PANELS:
        said += f" Only the best {MAX_PANELS} of {len(with_curves)} configurations are shown."
    return shown, {}, said


def learning_curves(res: StudyResults, configs: list[Configuration]) -> list[Drawn | Skipped]:
    """The learning-curve figures of the configurations :func:`chosen_configurations` picks."""
    if not any(c.has_curves for c in configs):
        return [Skipped("learning_curves_loss", "no trial stored a learning curve yet")]
    shown, words_of_rank, panels = chosen_configurations(res, configs)
    repeats = res.spec.study.repeats
    spread = " and the min–max range across repeats (shaded band)" if repeats > 1 else ""
    held_out = held_out_split(res)
    curves = res.curves
    drawn: list[Drawn | Skipped] = []
    for family in (f for f in _FAMILIES if f in curves or f"val_{f}" in curves):
        words = metric_words(family).removeprefix("training ")
        splits = _splits(curves, family, held_out)
        if not splits:  # recorded, but never a number
            continue
        fig, note = _learning_curves(curves, shown, family, splits, _better(family), words_of_rank)
        named = [f"{split} ({colour})" for _, split, colour in splits]
        lines = " against ".join(named) if len(named) < 3 else ", ".join(named[:-1])
        lines += f" and {named[-1]}" if len(named) >= 3 else ""
        marked = splits[-1][1]
        caption = (
            f"{words.capitalize()} per configuration, {lines}: the mean over {repeats} "
            f"repeat{'s' if repeats > 1 else ''} per epoch (line){spread}; "
            f"the dot marks the best epoch of the {marked} curve, so a {marked} {words} that "
            f"turns worse afterwards shows. Panels share their axes. {panels}{note}"
        )
        drawn.append(Drawn(f"learning_curves_{family}", fig, caption))
    return drawn


#: The colour of each split's curves (matplotlib's C0, C1, C2), named in the captions.
_COLOURS = {"training": ("C0", "blue"), "validation": ("C1", "orange"), "test": ("C2", "green")}


def _splits(curves: pd.DataFrame, family: str, held_out: str) -> list[tuple[str, str, str]]:
    """(metric, split, colour name) of each curve a panel draws: training, validation, and
    test when the study is judged on it; the held-out one last (its best epoch is marked)."""
    splits = [(family, "training"), (f"val_{family}", "validation")]
    if held_out == "test" and f"test_{family}" in curves:
        splits.append((f"test_{family}", "test"))
    present = [(m, split) for m, split in splits if m in curves and curves[m].notna().any()]
    return [(m, split, _COLOURS[split][1]) for m, split in present]


def _better(family: str) -> str:
    """Which way a family of metrics improves."""
    return "min" if family == "loss" else "max"


def _learning_curves(
    curves: pd.DataFrame,
    shown: list[Configuration],
    family: str,
    splits: list[tuple[str, str, str]],
    better: str,
    words_of_rank: dict[int, str] | None = None,
) -> tuple[Figure, str]:
    """Small multiples, one panel per configuration: each split's ``family``, the mean over
    runs with its min–max band, and a dot at the best epoch of the last (held-out) split's
    mean. Returns the figure and a note for its caption when its axis had to be logarithmic
    or cut."""
    from matplotlib.ticker import MaxNLocator

    values = _curve_values(curves, shown, [metric for metric, _, _ in splits])
    ceiling = log_ceiling(values) if family == "loss" else None
    columns = grid_columns(len(shown))
    fig = new_figure(*grid_size(len(shown), columns, (3.3, 2.6)))
    words = metric_words(family).removeprefix("training ")
    axes = grid(
        fig, len(shown), columns=columns, xlabel="epoch", ylabel=words, sharex=True, sharey=True
    )
    notes: list[tuple[Axes, str]] = []
    for ax, config in zip(axes, shown, strict=True):
        runs = curves[curves["trial"].isin(config.trials)]
        drawn = False
        for index, (metric, split, _) in enumerate(splits):
            mean_band = band(runs, metric)
            if mean_band is None:
                continue
            if ceiling is not None:
                mean_band = mean_band.clip(upper=ceiling)
            colour = _COLOURS[split][0]
            x = mean_band.index
            ax.plot(x, mean_band["mean"], color=colour, linewidth=1.5, label=split)
            ax.fill_between(x, mean_band["low"], mean_band["high"], color=colour, alpha=0.2, lw=0)
            finite = mean_band["mean"][np.isfinite(mean_band["mean"])]
            drawn = drawn or not finite.empty
            if index == len(splits) - 1 and not finite.empty:
                best = finite.idxmin() if better == "min" else finite.idxmax()
                ax.plot(
                    [best],
                    [finite[best]],
                    "o",
                    color=colour,
                    markersize=6,
                    markeredgecolor="black",
                    label=f"best {split} epoch",
                )
                # In words too: a fall of 0.02 after the best epoch is easy to miss by eye.
                last = finite.iloc[-1]
                words_of_best = f"{split}: best {finite[best]:.3g} (epoch {best}), last {last:.3g}"
                notes.append((ax, words_of_best))
        if not drawn:  # a diverged run: say so rather than leave the panel blank
            ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center", c="0.4")
        word = (words_of_rank or {}).get(config.rank)
        ax.set_title(wrap(f"{word}: {config.title}" if word else config.title), fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))  # shared by every panel
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=len(labels), frameon=False)
    note = ""
    if family == "r2" and values.size and values.min() < _R2_FLOOR:
        axes[0].set_ylim(bottom=-1)  # a run far below would flatten every other curve
        note = " The R² axis is cut at −1."
    elif ceiling is not None:
        axes[0].set_yscale("log")
        note = f" The {words} axis is logarithmic"
        if math.isfinite(ceiling):
            note += f"; values above {ceiling:.3g} are drawn at {ceiling:.3g}"
        note += "."
    for ax, text in notes:  # now that the axes' scale and limits are final
        _write_clear_of_curves(ax, text)
    return fig, note


def _write_clear_of_curves(ax: Axes, text: str) -> None:
    """Write ``text`` in the panel's right-hand corner the curves leave free: the top one when
    the lines under it (the right four fifths of the panel) lie low, else the bottom one (on a
    white backing, should both be crossed)."""
    ax.get_xlim(), ax.get_ylim()  # autoscale now: the transform below reads the limits
    to_axes = ax.transData + ax.transAxes.inverted()
    heights = []
    for line in ax.get_lines():
        points = np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float)
        points = points[np.isfinite(points).all(axis=1)]
        if len(points):
            placed = to_axes.transform(points)
            heights.extend(placed[placed[:, 0] > 0.2, 1])  # under the text, which is long
    high = np.asarray(heights)
    top_free = not high.size or high.max() < 0.8
    bottom_free = not high.size or high.min() > 0.2
    at_top = top_free or (not bottom_free and high.mean() < 0.5)
    ax.text(
        0.97,
        0.96 if at_top else 0.04,
        text,
        transform=ax.transAxes,
        ha="right",
        va="top" if at_top else "bottom",
        fontsize=7.5,
        color="0.25",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.75, "pad": 1},
    )


def _curve_values(
    curves: pd.DataFrame, shown: list[Configuration], metrics: list[str]
) -> np.ndarray:
    """The finite values of ``metrics`` (the splits drawn) of the configurations shown."""
    trials = [n for config in shown for n in config.trials]
    columns = [m for m in metrics if m in curves]
    values = curves.loc[curves["trial"].isin(trials), columns].to_numpy(dtype=float).ravel()
    return values[np.isfinite(values)]


def log_ceiling(values: np.ndarray) -> float | None:
    """For a loss that spans many decades (a diverging run would flatten every other curve),
    where its logarithmic axis ends (infinity: where the data ends); None for a linear axis."""
    if not values.size or values.min() <= 0 or values.max() / values.min() <= LOG_RATIO:
        return None
    ceiling = values.min() * _LOG_SPAN
    return float(ceiling) if values.max() > ceiling else math.inf


def diverged_runs(res: StudyResults) -> set[tuple[int, int]]:
    """The runs, as (trial, repeat), whose training loss diverged by the rule of
    :func:`sweepnp.diagnosis.diagnose`: its last value is not finite, or above its first.

    A run the divergence guard stopped ends on a non-finite loss; one it let go on (the guard
    stops only on NaN and infinity unless given a ``max_value``) can end at 1e19 and still
    complete: the rule catches both.
    """
    from sweepnp.diagnosis import diagnose

    curves = res.curves
    if "loss" not in curves:
        return set()
    diverged = set()
    for (trial, repeat), run in curves.groupby(["trial", "repeat"]):
        loss = run.sort_values("epoch")["loss"].to_numpy(dtype=float)
        if loss.size and diagnose(loss)[0] == "diverging":
            diverged.add((int(trial), int(repeat)))
    return diverged


def configuration_remedies(res: StudyResults, config: Configuration) -> Remedies | None:
    """What the configuration's runs do against overfitting; None when its run file cannot be
    rebuilt here (a plugin that is not installed where the report is written)."""
    from sweepnp.config import validate
    from sweepnp.diagnosis import remedies_of
    from sweepnp.errors import SweepnpError
    from sweepnp.study.space import decode_params

    try:
        run = res.spec.run_file(decode_params(config.params))
        return remedies_of(validate(run, source=res.spec.source))
    except (SweepnpError, ValueError, TypeError):
        return None


def diagnosis_rows(res: StudyResults, configs: list[Configuration]) -> list[dict[str, str]]:
    """:func:`~sweepnp.diagnosis.diagnose` on each configuration's mean training and validation
    loss curves (:func:`~sweepnp.diagnosis.diagnose_runs`), with how its trials stopped: one row
    of the diagnosis table per configuration; its advice against overfitting fits what the
    configuration's runs do (early stopping, regularizers)."""
    from sweepnp.diagnosis import diagnose_runs

    curves = res.curves
    rows = []
    for config in configs:
        row = {
            "configuration": config.title,
            "completed": config.rank is not None,
            "stop": ", ".join(sorted(set(config.stop_reasons))),
            "label": "",
            "message": "no learning curve stored",
        }
        runs = curves[curves["trial"].isin(config.trials)]
        found = diagnose_runs(runs, remedies=configuration_remedies(res, config))
        if found is not None:
            row.update(label=found[0], message=found[1])
        rows.append(row)
    return rows
