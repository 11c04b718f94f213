"""Learning curves per configuration, and their diagnosis, from ``res.curves``.

One figure per family of metrics (loss, then accuracy or R² when the runs recorded them): small
multiples, one panel per configuration, training against validation, each the mean over the
configuration's runs (trials × repeats) with their min–max range. The diagnosis table applies
:func:`sweepnp.diagnosis.diagnose` to the same mean loss curves.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sweepnp.report.configurations import MAX_PANELS, Configuration
from sweepnp.report.figures.canvas import (
    LOG_RATIO,
    Drawn,
    Skipped,
    grid,
    grid_size,
    new_figure,
    wrap,
)
from sweepnp.report.words import metric_words

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sweepnp.results import StudyResults

__all__ = ["band", "diagnosis_rows", "learning_curves"]

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


def learning_curves(res: StudyResults, configs: list[Configuration]) -> list[Drawn | Skipped]:
    """The learning-curve figures of the best :data:`MAX_PANELS` configurations with curves."""
    with_curves = [c for c in configs if c.has_curves]
    if not with_curves:
        return [Skipped("learning_curves_loss", "no trial stored a learning curve yet")]
    shown = with_curves[:MAX_PANELS]
    repeats = res.spec.study.repeats
    spread = "the min–max range across repeats" if repeats > 1 else "no band (one repeat)"
    capped = (
        f" Only the best {MAX_PANELS} of {len(with_curves)} configurations are shown."
        if len(with_curves) > MAX_PANELS
        else ""
    )
    curves = res.curves
    drawn: list[Drawn | Skipped] = []
    for family in (f for f in _FAMILIES if f in curves or f"val_{f}" in curves):
        words = metric_words(family).removeprefix("training ")
        fig, note = _learning_curves(curves, shown, family)
        caption = (
            f"{words.capitalize()} per configuration, training (blue) against validation "
            f"(orange): the mean over {repeats} repeat{'s' if repeats > 1 else ''} per epoch "
            f"(line) and {spread} (shaded band). Panels share their axes; #k is the "
            f"configuration's rank by {metric_words(res.metrics[0])}.{capped}{note}"
        )
        drawn.append(Drawn(f"learning_curves_{family}", fig, caption))
    return drawn


def _learning_curves(
    curves: pd.DataFrame, shown: list[Configuration], family: str
) -> tuple[Figure, str]:
    """Small multiples, one panel per configuration: training and validation ``family``, each
    the mean over runs with its min–max band. Returns the figure and a note for its caption
    when its axis had to be logarithmic or cut."""
    from matplotlib.ticker import MaxNLocator

    values = _curve_values(curves, shown, family)
    ceiling = _log_ceiling(values) if family == "loss" else None
    fig = new_figure(*grid_size(len(shown), 4, (3.3, 2.6)))
    words = metric_words(family).removeprefix("training ")
    axes = grid(fig, len(shown), xlabel="epoch", ylabel=words, sharex=True, sharey=True)
    for ax, config in zip(axes, shown, strict=True):
        runs = curves[curves["trial"].isin(config.trials)]
        drawn = False
        for metric, colour, split in (
            (family, "C0", "training"),
            (f"val_{family}", "C1", "validation"),
        ):
            mean_band = band(runs, metric)
            if mean_band is None:
                continue
            if ceiling is not None:
                mean_band = mean_band.clip(upper=ceiling)
            x = mean_band.index
            ax.plot(x, mean_band["mean"], color=colour, linewidth=1.5, label=split)
            ax.fill_between(x, mean_band["low"], mean_band["high"], color=colour, alpha=0.2, lw=0)
            drawn = drawn or bool(np.isfinite(mean_band["mean"]).any())
        if not drawn:  # a diverged run: say so rather than leave the panel blank
            ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center", c="0.4")
        ax.set_title(wrap(config.title), fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))  # shared by every panel
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=2, frameon=False)
    if family == "r2" and values.size and values.min() < _R2_FLOOR:
        axes[0].set_ylim(bottom=-1)  # a run far below would flatten every other curve
        return fig, " The R² axis is cut at −1."
    if ceiling is None:
        return fig, ""
    axes[0].set_yscale("log")
    note = f" The {words} axis is logarithmic"
    if math.isfinite(ceiling):
        return fig, f"{note}; values above {ceiling:.3g} are drawn at {ceiling:.3g}."
    return fig, f"{note}."


def _curve_values(curves: pd.DataFrame, shown: list[Configuration], family: str) -> np.ndarray:
    """The finite training and validation values of ``family`` of the configurations shown."""
    trials = [n for config in shown for n in config.trials]
    columns = [m for m in (family, f"val_{family}") if m in curves]
    values = curves.loc[curves["trial"].isin(trials), columns].to_numpy(dtype=float).ravel()
    return values[np.isfinite(values)]


def _log_ceiling(values: np.ndarray) -> float | None:
    """For a loss that spans many decades (a diverging run would flatten every other curve),
    where its logarithmic axis ends (infinity: where the data ends); None for a linear axis."""
    if not values.size or values.min() <= 0 or values.max() / values.min() <= LOG_RATIO:
        return None
    ceiling = values.min() * _LOG_SPAN
    return float(ceiling) if values.max() > ceiling else math.inf


def diagnosis_rows(res: StudyResults, configs: list[Configuration]) -> list[dict[str, str]]:
    """:func:`~sweepnp.diagnosis.diagnose` on each configuration's mean training and validation
    loss curves (:func:`~sweepnp.diagnosis.diagnose_runs`), with how its trials stopped: one row
    of the diagnosis table per configuration."""
    from sweepnp.diagnosis import diagnose_runs

    curves = res.curves
    rows = []
    for config in configs:
        row = {
            "configuration": config.title,
            "stop": ", ".join(sorted(set(config.stop_reasons))),
            "label": "",
            "message": "no learning curve stored",
        }
        found = diagnose_runs(curves[curves["trial"].isin(config.trials)])
        if found is not None:
            row.update(label=found[0], message=found[1])
        rows.append(row)
    return rows
