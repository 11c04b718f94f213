"""Figures of trained networks: weight histograms and, on two-feature classification data,
decision boundaries.

A study stores no network, so repeat 0 of each configuration is trained again with
:func:`sweepnp.study.rerun_repeat` — the run the study trained, with the same seed and data split —
and its final metrics are compared with the stored ones (``res.repeats_table()``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sweepnp.errors import SweepnpError
from sweepnp.report.configurations import MAX_PANELS, Configuration
from sweepnp.report.figures.canvas import (
    Drawn,
    Skipped,
    grid,
    grid_columns,
    grid_size,
    new_figure,
    wrap,
)
from sweepnp.study import rerun_repeat

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from sweepnp.datasets import Splits
    from sweepnp.model import Model
    from sweepnp.results import StudyResults

__all__ = ["pooled_weights", "trained_models"]

_CLASS_COLOURS = ["#3b6fb6", "#c8553d", "#4f9d4a", "#8e5ea2", "#d4a20b", "#555555", "#1b9e9e"]


@dataclass
class _Retrained:
    """Repeat 0 of one configuration, trained again.

    :ivar metrics: the final metrics of the new run.
    :ivar stored: the study's final metrics of the same run (the study's own metrics).
    """

    config: Configuration
    model: Model
    splits: Splits
    metrics: dict[str, float]
    stored: dict[str, float]


def _retrain(res: StudyResults, config: Configuration, finals: pd.DataFrame) -> _Retrained:
    """Train repeat 0 of ``config``'s first completed trial again, exactly as the study did;
    ``finals`` is ``res.repeats_table()``, where the stored final metrics are."""
    number = config.completed[0]
    run = rerun_repeat(res, number, repeat=0)
    row = finals[(finals["trial"] == number) & (finals["repeat"] == 0)].iloc[0]
    stored = {m: float(row[m]) for m in res.metrics if m in row.index}
    return _Retrained(config, run.result.model, run.data, dict(run.result.metrics), stored)


def trained_models(
    res: StudyResults, configs: list[Configuration], *, retrain: bool = True
) -> tuple[list[Drawn | Skipped], str]:
    """The figures ``weights`` and ``decision_boundary`` (or why not), and a sentence on what
    was retrained: every ranked configuration up to :data:`MAX_PANELS`, else the best one only.

    :param retrain: False (``--no-retrain``) skips both figures.
    """
    ranked = [c for c in configs if c.rank is not None]
    why = None if ranked else "no completed trial to retrain"
    why = why if retrain else "retraining was turned off: no model was retrained"
    trained: list[_Retrained] = []
    if why is None:
        chosen = ranked if len(ranked) <= MAX_PANELS else ranked[:1]
        finals = res.repeats_table()
        try:
            trained = [_retrain(res, config, finals) for config in chosen]
        except SweepnpError as exc:  # e.g. a plugin the study used is no longer installed
            why = f"retraining failed: {exc}"
    if why is not None:
        return [Skipped("weights", why), Skipped("decision_boundary", why)], ""

    if len(trained) > 1:
        which = f"repeat 0 of each of the {len(trained)} configurations"
    elif len(ranked) > 1:
        which = f"repeat 0 of the best configuration only (of {len(ranked)}: too many to retrain)"
    else:
        which = "repeat 0 of the only configuration"
    note = f"Retrained {which}, with the stored seeds. {_reproduced(trained, res.metrics)}"
    caption = (
        "Histogram of every weight of each retrained network (all weight matrices pooled, no "
        "biases), counts on a log scale; the panels share their axes."
    )
    drawn: list[Drawn | Skipped] = [Drawn("weights", _weights_figure(trained), caption)]
    splits = trained[0].splits
    if splits.n_features != 2:
        why = f"needs data with 2 features; this data has {splits.n_features}"
        drawn.append(Skipped("decision_boundary", why))
    elif splits.task == "regression":
        drawn.append(Skipped("decision_boundary", "a regression task has no classes"))
    else:
        shading = (
            "colour is the predicted probability of the second class, the black line 0.5"
            if splits.task == "binary"
            else "colour is the predicted class"
        )
        caption = (
            "The decision of each retrained model over the two features, in the data's own "
            f"(unscaled) units, with the training points on top: {shading}."
        )
        drawn.append(Drawn("decision_boundary", _boundary_figure(trained), caption))
    return drawn, note


def _reproduced(trained: list[_Retrained], metrics: Sequence[str]) -> str:
    """Whether the retrained runs gave the stored final metrics: they should, to the bit."""
    differing = sorted(
        {
            t.config.title
            for t in trained
            for m in metrics
            if m in t.stored
            and m in t.metrics
            and not math.isclose(t.metrics[m], t.stored[m], rel_tol=1e-9)
        }
    )
    if not differing:
        return "The retrained runs reproduce the stored final metrics exactly."
    return (
        "The retrained runs do not reproduce the stored final metrics of: "
        + "; ".join(differing)
        + " (were other versions of sweepnp or its plugins installed then?)."
    )


# -- weights -------------------------------------------------------------------------------------


def pooled_weights(model: Model) -> np.ndarray:
    """Every weight matrix (W1, W2, …) of a network, flattened into one array; no biases."""
    weights = [np.ravel(v) for k, v in model.params.items() if k.startswith("W")]
    return np.concatenate(weights).astype(float)


def _weights_figure(trained: list[_Retrained]) -> Figure:
    pooled = [pooled_weights(t.model) for t in trained]
    bins = np.linspace(min(w.min() for w in pooled), max(w.max() for w in pooled), 41)
    columns = grid_columns(len(trained))
    fig = new_figure(*grid_size(len(trained), columns, (3.3, 2.5)))
    axes = grid(
        fig, len(trained), columns=columns, xlabel="weight", ylabel="count (log)",
        sharex=True, sharey=True,
    )  # fmt: skip
    for ax, item, weights in zip(axes, trained, pooled, strict=True):
        ax.hist(weights, bins=bins, color="C2", alpha=0.85)
        ax.set_yscale("log")  # the many small weights would hide the few large ones
        ax.set_title(wrap(item.config.title), fontsize=9)
        ax.text(
            0.97,
            0.95,
            f"{weights.size} weights\nstd {weights.std():.3g}",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
        )
        ax.grid(alpha=0.3)
    return fig


# -- decision boundaries -------------------------------------------------------------------------


def _raw_features(splits: Splits) -> np.ndarray:
    """The training features in the dataset's own units: the splits keep them standardized."""
    X = np.asarray(splits.X_train, dtype=float)
    if splits.scaler_mean is not None and splits.scaler_scale is not None:
        X = X * splits.scaler_scale + splits.scaler_mean
    return X


def _class_codes(y: np.ndarray) -> np.ndarray:
    """Class indices from a split's targets (a 0/1 column, labels, or one-hot rows)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    return np.ravel(y).astype(int)


def _boundary_figure(trained: list[_Retrained]) -> Figure:
    """Per configuration, the model's decision over a grid of the two raw features, with the
    training points on top: P(second class) for a binary task, the predicted class otherwise."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    points = [_raw_features(t.splits) for t in trained]
    low = np.min([p.min(axis=0) for p in points], axis=0)
    high = np.max([p.max(axis=0) for p in points], axis=0)
    margin = 0.08 * (high - low)
    xx, yy = np.meshgrid(
        np.linspace(low[0] - margin[0], high[0] + margin[0], 200),
        np.linspace(low[1] - margin[1], high[1] + margin[1], 200),
    )
    plane = np.column_stack([xx.ravel(), yy.ravel()])
    splits = trained[0].splits
    names = [str(n) for n in (splits.feature_names or ["feature 1", "feature 2"])]
    binary = splits.task == "binary"
    n_classes = 2 if binary else len(splits.classes)
    classes = ListedColormap((_CLASS_COLOURS * 4)[:n_classes])
    # Binary: the probability's own diverging colours, points in the same two colours.
    cmap, vmin, vmax = ("RdBu_r", 0, 1) if binary else (classes, -0.5, n_classes - 0.5)

    columns = grid_columns(len(trained))
    fig = new_figure(*grid_size(len(trained), columns, (3.3, 3.0)))
    axes = grid(
        fig, len(trained), columns=columns, xlabel=names[0], ylabel=names[1],
        sharex=True, sharey=True,
    )  # fmt: skip
    filled = None
    for ax, item, X in zip(axes, trained, points, strict=True):
        proba = item.model.predict_proba(plane)  # raw features: the model scales them itself
        if binary:
            z = proba[:, 1].reshape(xx.shape)
            filled = ax.contourf(xx, yy, z, levels=np.linspace(0, 1, 11), cmap=cmap, alpha=0.75)
            ax.contour(xx, yy, z, levels=[0.5], colors="black", linewidths=1)
        else:
            z = np.argmax(proba, axis=1).reshape(xx.shape)
            ax.contourf(xx, yy, z, levels=np.arange(n_classes + 1) - 0.5, cmap=cmap, alpha=0.35)
        codes = _class_codes(item.splits.y_train)
        # White rims keep the points visible on the background of their own class.
        ax.scatter(
            *X.T, c=codes, cmap=cmap, vmin=vmin, vmax=vmax, s=14, edgecolors="w", linewidths=0.6
        )
        ax.set_title(wrap(item.config.title), fontsize=9)
    if binary:
        positive = splits.classes[1] if splits.classes is not None else 1
        fig.colorbar(filled, ax=axes, label=f"P(class {positive})", shrink=0.8)
    else:
        labels = splits.classes if splits.classes is not None else range(n_classes)
        handles = [Patch(color=classes(i), label=str(c)) for i, c in enumerate(labels)]
        fig.legend(handles=handles, loc="outside upper center", ncols=n_classes, frameon=False)
    return fig
