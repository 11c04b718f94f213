"""Parallel coordinates: one line per completed trial through its objective and its parameter
values, coloured by its rank.

Drawn here rather than by Optuna's ``plot_parallel_coordinate``, which colours by value on a
scale that ends in white: one blown-up trial (a loss of 1e19) squeezed every other colour to one
end, and the worst trials, drawn near-white, vanished into the background. Here the colour is
the rank (a 1e19 is just the last rank), both ends of the colour map are dark enough to see on
white, every line is opaque, and the middle ranks are drawn first so that the best and the worst
lie on top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sweepnp.report.configurations import choice_position
from sweepnp.report.figures.canvas import LOG_RATIO, Drawn, Skipped, new_figure, wrap
from sweepnp.report.figures.curves import diverged_runs
from sweepnp.report.figures.optuna_plots import objective_words
from sweepnp.report.words import choice_names, param_words

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from sweepnp.results import StudyResults

__all__ = ["COLOUR_RANGE", "parallel_coordinates"]

NAME = "parallel_coordinate"
#: The part of matplotlib's ``plasma`` map used, best → worst: dark blue to orange, both ends
#: visible on white (its last, yellow, tenth is left out).
COLOUR_RANGE = (0.0, 0.85)
#: Where an inactive conditional parameter's value is drawn, below its axis' range.
_INACTIVE = -0.12
#: Where a diverged trial's objective is drawn, above its axis' range.
_DIVERGED = 1.12


def parallel_coordinates(res: StudyResults) -> Drawn | Skipped:
    """The figure ``parallel_coordinate``, or why there is none (fewer than 2 completed
    trials)."""
    trials = res.trials
    complete = trials[trials["state"] == "complete"] if len(trials) else trials
    if len(complete) < 2:
        return Skipped(NAME, f"needs 2 completed trials, the study has {len(complete)}")
    column = "value" if len(res.metrics) == 1 else f"value_{res.metrics[0]}"
    objective = complete[column].to_numpy(dtype=float)
    maximize = res.spec.directions[0] == "maximize"
    # Rank 0 is the best; tied trials share the rank (and colour) of the first of them, so a
    # colour never tells apart what the objective does not.
    order = np.argsort(-objective if maximize else objective, kind="stable")
    rank = np.empty(len(order), dtype=int)
    rank[order] = np.arange(len(order))
    sorted_values = objective[order]
    for position in range(1, len(order)):
        if sorted_values[position] == sorted_values[position - 1]:
            rank[order[position]] = rank[order[position - 1]]
    words = objective_words(res)
    blown = {trial for trial, _ in diverged_runs(res)}
    diverged = complete["number"].isin(blown).to_numpy() | ~np.isfinite(objective)
    columns = [(words, *_objective_axis(objective, diverged))]
    columns += [(param_words(p.path), *_param_axis(p, complete[p.path])) for p in res.space.params]
    fig = new_figure(max(6.0, 1.6 * len(columns) + 1.5), 4.8)  # 950 px for 5 axes
    ax = fig.add_subplot()
    _draw_lines(ax, complete["number"].to_numpy(), rank, np.column_stack([c[1] for c in columns]))
    _draw_axes(ax, columns)
    _colour_bar(fig, ax, objective, order, words)
    _thin_tick_labels(fig, ax)
    logarithmic = [name for name, _, _, log in columns if log]
    note = f" Logarithmic: {', '.join(logarithmic)}." if logarithmic else ""
    if diverged.any():
        count = int(diverged.sum())
        note += (
            f" {count} trial{'s' * (count > 1)} with a diverged run (training loss finally "
            "above its start, or not a number) sit above the objective axis, at “diverged”."
        )
    caption = (
        f"Parallel coordinates: one line per completed trial ({len(complete)}) through its "
        f"objective ({words}) and its parameter values (choices in the study file's order), "
        "coloured by its rank: the best dark blue, the worst orange; tied trials share a colour. "
        "Every line is opaque and "
        "the middle ranks are drawn first, so the best and the worst trials lie on top."
        f"{note}"
    )
    return Drawn(NAME, fig, caption)


def _objective_axis(
    values: np.ndarray, diverged: np.ndarray
) -> tuple[np.ndarray, list[tuple[float, str]], bool]:
    """The objective scaled to 0–1 over the trials that did not diverge (logarithmic when
    positive and spanning more than :data:`LOG_RATIO`), its ticks, and whether it is
    logarithmic. Diverged trials go above the axis, at "diverged": a 1e19 would flatten every
    other trial against the bottom."""
    kept = values[~diverged & np.isfinite(values)]
    low, high = (kept.min(), kept.max()) if kept.size else (0.0, 1.0)
    log = bool(low > 0 and high / low > LOG_RATIO)
    y, ticks, log = _scaled(values, low, high, log)
    if diverged.any():
        y[diverged] = _DIVERGED
        ticks.append((_DIVERGED, "diverged"))
    return y, ticks, log


def _param_axis(param: Any, values: pd.Series) -> tuple[np.ndarray, list[tuple[float, str]], bool]:
    """A parameter's values scaled to 0–1: choices evenly spaced in the study file's order,
    ranges over the searched range (logarithmic for ``log = true``); inactive values below."""
    if param.kind == "categorical":
        count = len(param.choices)
        positions = [choice_position(param, v) for v in values]
        spaced = [0.5 if count == 1 else i / (count - 1) for i in range(count)]
        y = np.array([_INACTIVE if p is None else spaced[p] for p in positions], dtype=float)
        ticks = list(zip(spaced, choice_names(param.choices), strict=True))
        if any(p is None for p in positions):
            ticks.append((_INACTIVE, "inactive"))
        return y, ticks, False
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    y, ticks, log = _scaled(
        numbers, float(param.low), float(param.high), bool(param.log), param.kind == "int"
    )
    y[~np.isfinite(numbers)] = _INACTIVE
    if not np.isfinite(numbers).all():
        ticks.append((_INACTIVE, "inactive"))
    return y, ticks, log


def _scaled(
    values: np.ndarray, low: float, high: float, log: bool, integer: bool = False
) -> tuple[np.ndarray, list[tuple[float, str]], bool]:
    """``values`` mapped onto 0–1 between ``low`` and ``high`` (in log10 when ``log``), values
    beyond the range (a non-finite objective) cut at its ends, and five ticks (whole numbers
    for an integer parameter)."""
    forward = np.log10 if log else (lambda v: v)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo, hi = forward(low), forward(high)
        span = hi - lo
        y = (forward(values) - lo) / span if span else np.full(len(values), 0.5)
    y = np.clip(np.nan_to_num(y, nan=1.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    steps = np.linspace(lo, hi, 5) if span else np.array([lo])
    if integer:  # whole numbers, where an integer parameter's values can be
        steps = forward(np.unique(np.round(10**steps if log else steps)))
    ticks = [((s - lo) / span if span else 0.5, f"{(10**s if log else s):.3g}") for s in steps]
    return y, ticks, log


def _draw_lines(ax: Axes, numbers: np.ndarray, rank: np.ndarray, y: np.ndarray) -> None:
    """One opaque line per trial. Middle ranks first, then outwards: the best and the worst
    trials are drawn last, on top of the others."""
    from matplotlib import colormaps

    cmap = colormaps["plasma"]
    last = max(len(rank) - 1, 1)
    middle = last / 2
    x = np.arange(y.shape[1])
    for i in np.argsort(np.abs(rank - middle), kind="stable"):
        share = rank[i] / last
        colour = cmap(COLOUR_RANGE[0] + share * (COLOUR_RANGE[1] - COLOUR_RANGE[0]))
        ax.plot(x, y[i], color=colour, linewidth=1.3, alpha=1.0, label=f"trial {numbers[i]}")


def _draw_axes(ax: Axes, columns: list[tuple[str, np.ndarray, list, bool]]) -> None:
    """A vertical axis per column, its ticks written beside it on an opaque white box above
    every line (lines crossing a label used to make it unreadable), its name underneath,
    wrapped so that neighbouring names do not run into each other."""
    for x, (_, _, ticks, _) in enumerate(columns):
        ax.axvline(x, color="0.2", linewidth=1.0, zorder=0)
        for y, text in ticks:
            ax.plot([x - 0.02, x], [y, y], color="0.2", linewidth=1.0)
            ax.text(
                x - 0.04,
                y,
                wrap(text, 16),
                ha="right",
                va="center",
                fontsize=8,
                zorder=10_000,  # above every line
                bbox={"facecolor": "white", "edgecolor": "0.75", "linewidth": 0.5, "pad": 1.5},
            )
    ax.set_xticks(range(len(columns)), [wrap(name, 18) for name, _, _, _ in columns])
    ax.set_xlim(-0.45, len(columns) - 0.85)
    ax.set_ylim(_INACTIVE - 0.06, _DIVERGED + 0.04)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def _thin_tick_labels(fig: Any, ax: Axes) -> None:
    """Hide the tick labels that would overlap another of their axis (a parameter with many
    choices): once the layout is final, each axis keeps its labels from the bottom up, skipping
    any that would touch the last one kept, but always keeps *inactive* and *diverged*, and
    then its top label in place of the one below it that it would touch."""
    fig.draw_without_rendering()  # the constrained layout, and so the labels' places, final
    by_axis: dict[float, list[Any]] = {}
    for text in ax.texts:
        by_axis.setdefault(text.get_position()[0], []).append(text)
    for texts in by_axis.values():
        fixed = [t for t in texts if t.get_position()[1] in (_INACTIVE, _DIVERGED)]
        ticks = sorted((t for t in texts if t not in fixed), key=lambda t: t.get_position()[1])
        kept = [t.get_window_extent().padded(2) for t in fixed]
        top = ticks[-1:] if len(ticks) > 1 else []
        for text in top + ticks[:-1]:  # the top label's place first: the range's end
            box = text.get_window_extent().padded(2)
            if any(box.overlaps(other) for other in kept):
                text.set_visible(False)
            else:
                kept.append(box)


def _colour_bar(fig: Any, ax: Axes, objective: np.ndarray, order: np.ndarray, words: str) -> None:
    """The colours' key: rank 1 (best) to the last, with the objective at a few ranks."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize

    plasma = colormaps["plasma"]
    cmap = ListedColormap(plasma(np.linspace(*COLOUR_RANGE, 256)))
    count = len(order)
    bar = fig.colorbar(ScalarMappable(Normalize(1, max(count, 2)), cmap), ax=ax, pad=0.02)
    shown = sorted({1, (count + 1) // 2, count})
    bar.set_ticks(shown, labels=[f"#{r}: {objective[order[r - 1]]:.3g}" for r in shown])
    bar.ax.invert_yaxis()  # the best at the top, as in the ranked tables
    bar.set_label(f"rank by {words}")
