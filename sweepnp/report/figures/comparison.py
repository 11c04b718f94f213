"""The choices of one parameter compared at one shared setting of the others, on one axis.

Seed 002's optimizer comparison (exercise 4) asks how the optimizers converge *at the same
learning rate*; a study that crosses ``optimizer.name`` with ``optimizer.lr`` holds that
comparison, but the per-configuration learning curves scatter it over 42 panels. This figure
draws, for the first categorical parameter of the study file (the one *compared*), the mean
learning curve of each of its choices at one setting of the other parameters, all on one axis.

The setting is one every choice completed at: the study file's own values of the other
parameters when every choice ran there (``lr = 0.01`` under ``[optimizer]`` in
``studies/optimizers.toml``), else the setting of the best configuration among those every
choice ran at. The caption says which, and why.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from sweepnp.config import get_path
from sweepnp.metrics import metric_base
from sweepnp.report.configurations import Configuration, choice_position
from sweepnp.report.figures.canvas import Drawn, Skipped, grid, grid_size, new_figure
from sweepnp.report.figures.curves import band, diverged_runs, log_ceiling
from sweepnp.report.words import choice_names, metric_words, param_words, value_words
from sweepnp.study.space import encode_value

if TYPE_CHECKING:
    from sweepnp.results import StudyResults

__all__ = ["NAME", "at_shared_setting"]

NAME = "compared_at_shared_setting"


def at_shared_setting(res: StudyResults, configs: list[Configuration]) -> Drawn | Skipped:
    """The figure ``compared_at_shared_setting``, or why there is none."""
    params = res.space.params
    compared = next((p for p in params if p.kind == "categorical"), None)
    if len(params) < 2 or compared is None:
        return Skipped(NAME, "needs 2 searched parameters, one of them a list of choices")
    others = [p for p in params if p is not compared]
    settings: dict[tuple[Any, ...], dict[int, Configuration]] = {}
    for config in configs:
        if config.rank is None or not config.has_curves:
            continue
        position = choice_position(compared, config.params.get(compared.path))
        if position is not None:
            setting = tuple(config.params.get(p.path) for p in others)
            settings.setdefault(setting, {})[position] = config
    shared = {s: c for s, c in settings.items() if len(c) == len(compared.choices)}
    if not shared:
        return Skipped(
            NAME,
            f"no setting of the other parameters at which every {param_words(compared.path)} "
            "completed",
        )
    own = tuple(_file_value(res, p.path) for p in others)
    if own in shared:
        own_words = "value" if len(others) == 1 else "values"
        setting, why = own, f"the study file's own {own_words}, at which every choice ran"
    else:  # the setting of the best configuration among the shared ones
        setting = min(shared, key=lambda s: min(c.rank for c in shared[s].values()))
        why = "the setting of the best configuration among those every choice ran at"
    chosen = [shared[setting][i] for i in range(len(compared.choices))]
    where = ", ".join(
        f"{param_words(p.path)} {value_words(v)}" for p, v in zip(others, setting, strict=True)
    )
    family = _family(res)
    metrics = [m for m in (family, f"val_{family}") if m in res.curves]
    fig, note = _draw(res, chosen, choice_names(compared.choices), metrics, where)
    panels = "training (left) and validation (right)" if len(metrics) == 2 else "training"
    caption = (
        f"Every {param_words(compared.path)} at one shared setting, {where} ({why}): the mean "
        f"{metric_words(family).removeprefix('training ')} per epoch over each configuration's "
        f"repeats, {panels}, one line per choice in the study file's order.{note}"
    )
    return Drawn(NAME, fig, caption)


def _file_value(res: StudyResults, path: str) -> Any:
    """The study file's own value at ``path``, as the results tables hold a choice."""
    try:
        return encode_value(get_path(res.spec.base, path))
    except KeyError:
        return None


def _family(res: StudyResults) -> str:
    """The learning curves compared: the family of the study's first metric when the runs
    record it per epoch (``val_loss`` → loss), else the loss."""
    metric = metric_base(res.metrics[0])
    return metric if metric in res.curves else "loss"


def _draw(
    res: StudyResults,
    chosen: list[Configuration],
    names: list[str],
    metrics: list[str],
    where: str,
) -> tuple[Any, str]:
    """A panel per metric (training, validation), one line per choice; a loss spanning many
    decades gets a logarithmic axis, and a diverged choice says so in the legend."""
    from matplotlib.ticker import MaxNLocator

    curves = res.curves
    family = metrics[0]
    diverged = diverged_runs(res)
    trials = [n for config in chosen for n in config.trials]
    values = curves.loc[curves["trial"].isin(trials), metrics].to_numpy(dtype=float).ravel()
    ceiling = log_ceiling(values[np.isfinite(values)]) if family == "loss" else None
    fig = new_figure(*grid_size(len(metrics), 2, (5.2, 3.6)))
    words = metric_words(family).removeprefix("training ")
    axes = grid(
        fig, len(metrics), columns=2, xlabel="epoch", ylabel=words, sharex=True, sharey=True
    )
    for ax, metric in zip(axes, metrics, strict=True):
        for index, (config, name) in enumerate(zip(chosen, names, strict=True)):
            runs = curves[curves["trial"].isin(config.trials)]
            mean_band = band(runs, metric)
            if mean_band is None:
                continue
            mean = mean_band["mean"]
            if ceiling is not None:
                mean = mean.clip(upper=ceiling)
            label = name
            pairs = runs[["trial", "repeat"]].drop_duplicates().itertuples(index=False, name=None)
            if any(pair in diverged for pair in pairs):
                label += " (diverged)"
            ax.plot(mean.index, mean, color=f"C{index % 10}", linewidth=1.6, label=label)
        ax.set_title(metric_words(metric).capitalize() + f" at {where}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", frameon=False)
    if ceiling is None:
        return fig, ""
    axes[0].set_yscale("log")
    note = f" The {words} axis is logarithmic"
    if math.isfinite(ceiling):
        return fig, f"{note}; values above {ceiling:.3g} are drawn at {ceiling:.3g}."
    return fig, f"{note}."
