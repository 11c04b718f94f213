"""A study as a self-contained HTML report, with every figure also written as a PNG file.

```python
import sweepnp.results
from sweepnp.report import write_report

report = write_report(sweepnp.results.load("quickstart"), "reports/quickstart")
report.verdict   # 'best dropout rate 0.1: validation accuracy 0.976 ± 0.004 (n = 5)'
report.html      # reports/quickstart/report.html, the figures embedded as data: URIs
report.figures   # name → PNG file
report.skipped   # figure → why it was not drawn
```

On the command line: ``sweepnp study report NAME [-o DIR] [--no-retrain]``.

A *configuration* is one distinct set of searched values; with ``repeats`` a trial trains it with
several seeds, and every figure names configurations with :func:`config_label`. All figures are
``matplotlib.figure.Figure`` objects, except Optuna's own, which use pyplot; those are closed at
once and drawn inside ``rc_context`` so that their style sheet does not leak into the caller's.
matplotlib is imported only when figures are drawn: :func:`verdict` and the word helpers do not
need it.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import sys
import textwrap
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sweepnp.errors import SweepnpError
from sweepnp.results import StudyResults
from sweepnp.study.space import decode_params, decode_value, encode_value

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from sweepnp.datasets import Splits
    from sweepnp.model import Model

__all__ = [
    "Report",
    "config_label",
    "format_estimate",
    "metric_words",
    "param_words",
    "value_words",
    "verdict",
    "write_report",
]

#: At most this many configurations get a panel (the best ones) or are retrained.
MAX_PANELS = 12
DPI = 100

#: Every figure a report can hold; files of these names left in the folder by an earlier report
#: are removed, so that the folder never mixes two reports.
FIGURE_NAMES = (
    "learning_curves_loss",
    "learning_curves_accuracy",
    "learning_curves_r2",
    "metric_by_parameter",
    "optimization_history",
    "param_importances",
    "parallel_coordinate",
    "weights",
    "decision_boundary",
)

#: Metrics shown in the summary table besides the study's own, when the runs recorded them.
EXTRA_METRICS = (
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


# -------------------------------------------------------------------------
# Words: parameter paths, values and metrics as a reader says them
# -------------------------------------------------------------------------

_SECTIONS = {"data", "model", "train", "optimizer", "schedule", "regularizers", "callbacks"}
_KEY_WORDS = {
    "lr": "learning rate",
    "lam": "λ",
    "hidden": "hidden layers",
    "regularizers": "regularization",  # a whole [regularizers] table as one choice
}
_METRIC_BASES = {"r2": "R²", "mse": "MSE", "mae": "MAE", "rmse": "RMSE"}
_METRIC_WORDS = {"train_seconds": "training time (s)", "epochs": "epochs trained"}


def _key_words(key: str) -> str:
    return _KEY_WORDS.get(key, key.replace("_", " "))


def param_words(path: str) -> str:
    """A dotted parameter path in words: ``regularizers.dropout.rate`` → ``dropout rate``,
    ``optimizer.name`` → ``optimizer``, ``optimizer.lr`` → ``learning rate``."""
    parts = path.split(".")
    # The section says little ("train" in train.batch_size) and "name" nothing, unless they are
    # all there is: optimizer.name is "the optimizer".
    kept = parts[1:] if len(parts) > 1 and parts[0] in _SECTIONS else parts
    kept = [part for part in kept if part != "name"] or [parts[0]]
    return " ".join(_key_words(part) for part in kept)


def metric_words(metric: str) -> str:
    """A metric name in words: ``val_accuracy`` → ``validation accuracy``, ``loss`` →
    ``training loss``, ``test_r2`` → ``test R²``."""
    if metric in _METRIC_WORDS:
        return _METRIC_WORDS[metric]
    for prefix, split in (("val_", "validation"), ("test_", "test")):
        if metric.startswith(prefix):
            base = metric.removeprefix(prefix)
            return f"{split} {_METRIC_BASES.get(base, base.replace('_', ' '))}"
    return f"training {_METRIC_BASES.get(metric, metric.replace('_', ' '))}"


def _missing(value: Any) -> bool:
    """An inactive conditional parameter: None, NaN or pandas' NA."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def value_words(value: Any) -> str:
    """A parameter value, compactly: ``0.1``, ``adam``, ``off`` for false, and tables as
    ``l2 λ=0.01`` (``none`` for an empty one)."""
    value = decode_value(value)
    if _missing(value):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "on" if value else "off"
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(value_words(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return _table_words(value) or "none"
    return str(value)


def _table_words(table: Mapping[str, Any]) -> str:
    """A table in words: a plugin and its options read ``l2 λ=0.01``, several plugins are joined
    by ``+`` (``l1 λ=0.001 + dropout rate=0.5``), a named choice reads ``cosine t max=10``."""
    options, plugins = [], []
    for key, value in table.items():
        if key == "name":  # {"name": "cosine", …}: the name alone says which
            options.insert(0, value_words(value))
        elif isinstance(value, Mapping):  # a plugin and its options
            plugins.append(" ".join(filter(None, [_key_words(key), _table_words(value)])))
        elif isinstance(value, bool):  # an option, or a plugin, switched on or off
            options.append(f"{_key_words(key)} {value_words(value)}")
        else:
            options.append(f"{_key_words(key)}={value_words(value)}")
    return " + ".join(filter(None, [" ".join(options), *plugins]))


def config_label(params: Mapping[str, Any]) -> str:
    """A configuration in words, as every figure and table of a report names it:
    ``{"optimizer.name": "adam", "optimizer.lr": 0.01}`` → ``optimizer adam, learning rate
    0.01``. Inactive (missing) conditional parameters are left out."""
    return ", ".join(
        f"{param_words(path)} {value_words(value)}"
        for path, value in params.items()
        if not _missing(value)
    )


def format_estimate(mean: float, low: float | None = None, high: float | None = None) -> str:
    """``mean ± half-width`` of a confidence interval, rounded to the precision the half-width
    warrants (one significant digit, two when it starts with 1); the mean alone without one."""
    half = None if low is None or high is None else (high - low) / 2
    if half is None or not math.isfinite(half):
        return f"{mean:.4g}"
    if half == 0:
        return f"{mean:.4g} ± 0"
    exponent = math.floor(math.log10(half))
    digits = 2 if half / 10**exponent < 2 else 1
    decimals = min(max(0, digits - 1 - exponent), 8)
    return f"{mean:.{decimals}f} ± {half:.{decimals}f}"


def _estimate(row: pd.Series, metric: str) -> str:
    """A summary row's ``mean ± half-width`` of ``metric`` (the mean alone for n = 1)."""
    if row["n"] < 2:
        return format_estimate(row[f"{metric}_mean"])
    return format_estimate(row[f"{metric}_mean"], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"])


def verdict(res: StudyResults) -> str:
    """The report's one line: the best configuration by the study's first metric, e.g.
    ``best dropout rate 0.1: validation accuracy 0.976 ± 0.004 (n = 5)`` — the mean over
    repeats ± the half-width of its 95% confidence interval (t), and the number of repeats."""
    summary = res.summary()
    if summary.empty:
        return "no completed trial yet"
    best = summary.iloc[0]
    params = {path: decode_value(best[path]) for path in res.param_columns}
    active = {path: value for path, value in params.items() if not _missing(value)}
    label = config_label(active)
    head = f"best {label}" if len(active) == 1 else f"best configuration ({label})"
    metric = res.metrics[0]
    return f"{head}: {metric_words(metric)} {_estimate(best, metric)} (n = {int(best['n'])})"


# -------------------------------------------------------------------------
# Configurations: trials grouped by their searched values, best first
# -------------------------------------------------------------------------


@dataclass
class _Configuration:
    """One distinct set of searched values and the trials that trained it."""

    key: tuple[Any, ...]  # its values as the summary's rows hold them (see _key)
    params: dict[str, Any]  # dotted path → run-file value; inactive conditional ones left out
    trials: list[int]
    stop_reasons: list[str]
    rank: int | None = None  # 1 = best by the study's first metric; None: no completed trial
    has_history: bool = False

    @property
    def label(self) -> str:
        return config_label(self.params) or "base configuration"

    @property
    def title(self) -> str:
        """The label with its rank, or with its fate when it never completed."""
        if self.rank is not None:
            return f"#{self.rank} {self.label}"
        return f"{self.label} ({', '.join(sorted(set(self.stop_reasons)))})"


def _key(values: Sequence[Any]) -> tuple[Any, ...]:
    """A configuration's identity, the same from a trial's params and from a summary row."""
    out = []
    for value in values:
        if _missing(value):
            out.append(None)
        else:
            out.append(value.item() if isinstance(value, np.generic) else value)
    return tuple(out)


def _configurations(res: StudyResults) -> list[_Configuration]:
    """Every configuration with a finished trial: ranked ones (a completed trial) in the order of
    ``summary()``, then the others (only pruned or failed) by their first trial."""
    from sweepnp.study.record import RECORD_ATTR

    paths = res.param_columns
    found: dict[tuple[Any, ...], _Configuration] = {}
    for trial in res.study.get_trials(deepcopy=False):
        if not trial.state.is_finished():
            continue
        params = decode_params(trial.params)
        # The results tables hold list and table values as Optuna does (JSON); so does the key.
        key = _key([encode_value(params.get(path)) for path in paths])
        record = trial.user_attrs.get(RECORD_ATTR, {})
        config = found.setdefault(key, _Configuration(key, params, trials=[], stop_reasons=[]))
        config.trials.append(trial.number)
        config.stop_reasons.append(record.get("stop_reason") or trial.state.name.lower())
        config.has_history = config.has_history or "history" in record
    summary = res.summary()
    for rank, (_, row) in enumerate(summary.iterrows(), start=1):
        key = _key([row[path] for path in paths])
        if key in found:
            found[key].rank = rank
    ranked = sorted((c for c in found.values() if c.rank is not None), key=lambda c: c.rank)
    others = sorted((c for c in found.values() if c.rank is None), key=lambda c: c.trials[0])
    return ranked + others


# -------------------------------------------------------------------------
# Drawing helpers
# -------------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    """A figure outside pyplot: nothing to close, no global state."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _grid(
    fig: Figure,
    count: int,
    *,
    columns: int = 4,
    xlabel: str = "",
    ylabel: str = "",
    **shared: Any,
) -> list[Axes]:
    """``count`` axes in rows of ``columns`` (small multiples). Unused cells are removed; the
    lowest axes of each column show the x tick labels and ``xlabel`` (also when the last row is
    short), the first column ``ylabel``."""
    ncols = min(columns, count)
    nrows = math.ceil(count / ncols)
    axes = fig.subplots(nrows, ncols, squeeze=False, **shared)
    for ax in axes.flat[count:]:
        ax.remove()
    for column in range(ncols):
        lowest = axes[(count - 1 - column) // ncols, column]
        lowest.xaxis.set_tick_params(labelbottom=True)
        lowest.set_xlabel(xlabel)
    for row in range(nrows):
        axes[row, 0].set_ylabel(ylabel)
    return list(axes.flat[:count])


def _grid_size(count: int, columns: int, panel: tuple[float, float]) -> tuple[float, float]:
    ncols = min(columns, count)
    nrows = math.ceil(count / ncols)
    return panel[0] * ncols, panel[1] * nrows + 0.6


def _wrap(text: str, width: int = 38) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _pyplot() -> Any:
    """pyplot for Optuna's figures, on the Agg backend unless the caller (a notebook, a GUI)
    already imported pyplot with a backend of its own, which must not be switched under it."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class _Writer:
    """Saves figures into the output folder and remembers them, and what was skipped and why."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.figures: dict[str, Path] = {}
        self.skipped: dict[str, str] = {}

    def save(self, name: str, fig: Figure, caption: str) -> dict[str, Any]:
        """Write ``fig`` as ``NAME.png``; return the template item that embeds it."""
        path = self.out_dir / f"{name}.png"
        fig.savefig(path, dpi=DPI)
        self.figures[name] = path
        return {"kind": "figure", "name": name, "src": _data_uri(path), "caption": caption}

    def skip(self, name: str, why: str) -> dict[str, Any]:
        self.skipped[name] = why
        return {"kind": "skipped", "name": name, "text": why}


# -------------------------------------------------------------------------
# Learning curves and their diagnosis
# -------------------------------------------------------------------------


def _band(runs: pd.DataFrame, metric: str) -> pd.DataFrame | None:
    """Per epoch, the mean of ``metric`` over every run (trial × repeat) and its min–max range;
    None when the runs did not record it."""
    rows = runs[runs["metric"] == metric]
    if rows.empty or rows["value"].isna().all():
        return None
    wide = rows.pivot(index="epoch", columns=["trial", "repeat"], values="value")
    return pd.DataFrame(
        {"mean": wide.mean(axis=1), "low": wide.min(axis=1), "high": wide.max(axis=1)}
    )


def _curve_families(history: pd.DataFrame) -> list[str]:
    """The learning-curve figures to draw: the loss, then accuracy or R² when recorded."""
    recorded = set(history["metric"].astype(str))
    return [f for f in ("loss", "accuracy", "r2") if f in recorded or f"val_{f}" in recorded]


def _learning_curves(
    history: pd.DataFrame, shown: list[_Configuration], family: str
) -> tuple[Figure, str]:
    """Small multiples, one panel per configuration: training and validation ``family``, each
    the mean over runs with its min–max band. Returns the figure and a note for its caption
    when its axis had to be logarithmic or cut."""
    from matplotlib.ticker import MaxNLocator

    values = _curve_values(history, shown, family)
    ceiling = _log_ceiling(values) if family == "loss" else None
    fig = _figure(*_grid_size(len(shown), 4, (3.3, 2.6)))
    words = metric_words(family).removeprefix("training ")
    axes = _grid(fig, len(shown), xlabel="epoch", ylabel=words, sharex=True, sharey=True)
    for ax, config in zip(axes, shown, strict=True):
        runs = history[history["trial"].isin(config.trials)]
        drawn = False
        for metric, colour, split in (
            (family, "C0", "training"),
            (f"val_{family}", "C1", "validation"),
        ):
            band = _band(runs, metric)
            if band is None:
                continue
            if ceiling is not None:
                band = band.clip(upper=ceiling)
            ax.plot(band.index, band["mean"], color=colour, linewidth=1.5, label=split)
            ax.fill_between(band.index, band["low"], band["high"], color=colour, alpha=0.2, lw=0)
            drawn = drawn or bool(np.isfinite(band["mean"]).any())
        if not drawn:  # a diverged run: say so rather than leave the panel blank
            ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center", c="0.4")
        ax.set_title(_wrap(config.title), fontsize=9)
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


#: A loss axis turns logarithmic beyond this ratio of largest to smallest value, and stops this
#: many times above the smallest (matplotlib cannot tick a diverged run's 200 decades).
_LOG_RATIO, _LOG_SPAN = 1e3, 1e8
#: An R² axis is cut at −1 when some value lies below this.
_R2_FLOOR = -10.0


def _curve_values(history: pd.DataFrame, shown: list[_Configuration], family: str) -> np.ndarray:
    """The finite training and validation values of ``family`` of the configurations shown."""
    trials = [n for config in shown for n in config.trials]
    metrics = [family, f"val_{family}"]
    rows = history[history["trial"].isin(trials) & history["metric"].isin(metrics)]
    values = rows["value"].to_numpy(dtype=float)
    return values[np.isfinite(values)]


def _log_ceiling(values: np.ndarray) -> float | None:
    """For a loss that spans many decades (a diverging run would flatten every other curve),
    where its logarithmic axis ends (infinity: where the data ends); None for a linear axis."""
    if not values.size or values.min() <= 0 or values.max() / values.min() <= _LOG_RATIO:
        return None
    ceiling = values.min() * _LOG_SPAN
    return float(ceiling) if values.max() > ceiling else math.inf


def _learning_curve_items(
    res: StudyResults, configs: list[_Configuration], writer: _Writer
) -> list[dict[str, Any]]:
    with_history = [c for c in configs if c.has_history]
    if not with_history:
        return [writer.skip("learning_curves_loss", "no trial stored a learning curve yet")]
    shown = with_history[:MAX_PANELS]
    repeats = res.spec.study.repeats
    spread = "the min–max range across repeats" if repeats > 1 else "no band (one repeat)"
    capped = (
        f" Only the best {MAX_PANELS} of {len(with_history)} configurations are shown."
        if len(with_history) > MAX_PANELS
        else ""
    )
    items = []
    for family in _curve_families(res.history):
        words = metric_words(family).removeprefix("training ")
        caption = (
            f"{words.capitalize()} per configuration, training (blue) against validation "
            f"(orange): the mean over {repeats} repeat{'s' if repeats > 1 else ''} per epoch "
            f"(line) and {spread} (shaded band). Panels share their axes; #k is the "
            f"configuration's rank by {metric_words(res.metrics[0])}.{capped}"
        )
        fig, note = _learning_curves(res.history, shown, family)
        caption += note
        items.append(writer.save(f"learning_curves_{family}", fig, caption))
    return items


def _diagnosis_rows(res: StudyResults, configs: list[_Configuration]) -> list[dict[str, str]]:
    """:func:`diagnose` on each configuration's mean training and validation loss curves."""
    from sweepnp.diagnosis import diagnose

    history = res.history
    rows = []
    for config in configs:
        row = {
            "configuration": config.title,
            "stop": ", ".join(sorted(set(config.stop_reasons))),
            "label": "",
            "message": "no learning curve stored",
        }
        runs = history[history["trial"].isin(config.trials)]
        train = _band(runs, "loss")
        if train is not None:
            val = _band(runs, "val_loss")
            val_mean = None if val is None else val["mean"].reindex(train.index).to_numpy()
            label, message = diagnose(
                train["mean"].to_numpy(), val_mean, epochs=train.index.to_list()
            )
            row.update(label=label, message=message)
        rows.append(row)
    return rows


# -------------------------------------------------------------------------
# The study's metric against each searched parameter
# -------------------------------------------------------------------------


def _metric_by_parameter(res: StudyResults) -> tuple[Figure, str]:
    """One panel per parameter: each repeat's final value of the study's first metric (grey
    dots) and, per value, the mean with its 95% confidence interval (black). Returns the figure
    and a note for its caption on how its y axis was limited."""
    from matplotlib.ticker import MaxNLocator

    metric = res.metrics[0]
    table = res.repeats_table()
    params = res.space.params
    fig = _figure(*_grid_size(len(params), 3, (3.8, 3.0)))
    axes = _grid(fig, len(params), columns=3, ylabel=metric_words(metric), sharey=True)
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
    names = _choice_names(choices)
    ax.set_xticks(range(len(categories)))
    if sum(len(name) for name in names) > 40:  # more than fits side by side under a panel
        names = [name if len(name) <= 24 else name[:23] + "…" for name in names]
        ax.set_xticklabels(names, fontsize=8, rotation=30, ha="right")
    else:
        ax.set_xticklabels([_wrap(name, 14) for name in names], fontsize=8)
    ax.set_xlim(-0.5, len(categories) - 0.5)
    jitter = rng.uniform(-0.12, 0.12, len(rows))
    return rows[path].map(position) + jitter, means[path].map(position)


def _choice_names(choices: Sequence[Any]) -> list[str]:
    """Tick labels for the choices of one parameter: tables leave out the options that every
    table choice shares (``monitor=val_loss`` in each early-stopping table), which would only
    crowd the axis."""
    values = [decode_value(c) for c in choices]
    tables = [v for v in values if isinstance(v, Mapping)]
    shared = {
        key
        for key in (tables[0] if len(tables) > 1 else {})
        if all(key in t and t[key] == tables[0][key] for t in tables)
    }
    names = []
    for value in values:
        if isinstance(value, Mapping):
            # A table of nothing but shared options (the only table) keeps them.
            value = {k: v for k, v in value.items() if k not in shared} or value
        names.append(value_words(value))
    return names


def _limit_metric_axis(ax: Axes, metric: str, values: np.ndarray) -> str:
    """Keep the metric axis readable (it is shared); return what the caption should say."""
    values = values[np.isfinite(values)]
    if "accuracy" in metric:  # with few repeats a t interval easily passes 1, which means nothing
        bottom, top = ax.get_ylim()
        ax.set_ylim(bottom, min(top, 1.01))
        return " Intervals are cut at 1, where accuracy ends."
    if values.size and values.min() > 0 and values.max() / values.min() > _LOG_RATIO:
        ax.set_yscale("log")  # a few runs far off would flatten all the others
        return " The values span many decades: the axis is logarithmic."
    return ""


def _metric_items(res: StudyResults, writer: _Writer) -> list[dict[str, Any]]:
    if res.repeats_table().empty:
        return [writer.skip("metric_by_parameter", "no completed trial yet")]
    metric = metric_words(res.metrics[0])
    better = "higher" if res.spec.directions[0] == "maximize" else "lower"
    fig, note = _metric_by_parameter(res)
    caption = (
        f"Final {metric} ({better} is better) against each searched parameter: grey dots are "
        "single repeats (jittered sideways for categories), black markers the mean per value "
        "with its 95% confidence interval (t distribution) where that value was trained more "
        f"than once. The other parameters vary too: a trend here is a marginal one.{note}"
    )
    return [writer.save("metric_by_parameter", fig, caption)]


# -------------------------------------------------------------------------
# Optuna's own figures
# -------------------------------------------------------------------------


def _varying_params(res: StudyResults) -> list[str]:
    """The parameters that took more than one value among completed trials."""
    complete = res.trials[res.trials["state"] == "complete"]
    return [p for p in res.param_columns if complete[p].astype(str).nunique(dropna=True) > 1]


def _objective_words(res: StudyResults) -> str:
    """What Optuna was told per trial: the mean over repeats, or its pessimistic bound."""
    words = metric_words(res.metrics[0])
    if res.spec.study.aggregate == "lcb" and res.spec.study.repeats > 1:
        return f"{words} (95% bound over repeats)"
    return words


def _optuna_figure(res: StudyResults, draw: Callable[..., Any]) -> Figure:
    """Run one of ``optuna.visualization.matplotlib``'s functions and hand back its figure,
    already closed in pyplot, with parameter paths in words on its ticks. Optuna switches to
    the ggplot style sheet globally: ``rc_context`` puts the caller's style back."""
    import optuna

    plt = _pyplot()
    options: dict[str, Any] = {"target_name": _objective_words(res)}
    if res.spec.multi_objective:  # Optuna needs one number per trial
        options["target"] = lambda trial: trial.values[0]
    with plt.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        fig = draw(res.study, **options).figure
        plt.close(fig)  # it stays drawable; pyplot just forgets it
    words = _optuna_tick_words(res)
    for ax in fig.axes:  # the parallel coordinates hold one twin axes per parameter
        for axis in (ax.xaxis, ax.yaxis):
            texts = [tick.get_text() for tick in axis.get_ticklabels()]
            if any(text in words for text in texts):
                axis.set_ticks(axis.get_ticklocs(), [words.get(text, text) for text in texts])
    fig.set_size_inches(8, 4.8)
    fig.set_layout_engine("tight")
    return fig


def _optuna_tick_words(res: StudyResults) -> dict[str, str]:
    """Tick text on Optuna's figures → the report's words: parameter paths, and choices as
    Optuna shows them (str of the stored value: JSON for tables and lists, ``False``)."""
    words = {path: param_words(path) for path in res.param_columns}
    # Optuna's parallel coordinates cut names of 20 characters or more to 17 and "...".
    words.update({f"{path[:17]}...": param_words(path) for path in words if len(path) >= 20})
    for param in res.space.params:
        if param.kind == "categorical":
            for choice, name in zip(param.choices, _choice_names(param.choices), strict=True):
                words[str(encode_value(choice))] = name if len(name) <= 24 else name[:23] + "…"
    return words


def _optuna_items(res: StudyResults, writer: _Writer) -> list[dict[str, Any]]:
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.visualization import matplotlib as optuna_plots

    complete = int((res.trials["state"] == "complete").sum()) if len(res.trials) else 0
    objective = _objective_words(res)

    def importances(study: Any, **options: Any) -> Any:
        # fANOVA with a fixed seed: the same study always gives the same importances.
        evaluator = FanovaImportanceEvaluator(seed=0)
        return optuna_plots.plot_param_importances(study, evaluator=evaluator, **options)

    figures = [
        (
            "optimization_history",
            optuna_plots.plot_optimization_history,
            f"Optuna's optimization history: each completed trial's objective ({objective}) "
            "in the order the trials ran, and the best value so far.",
        ),
        (
            "param_importances",
            importances,
            f"Optuna's parameter importances (fANOVA): the share of the variance of "
            f"{objective} across completed trials that each parameter explains.",
        ),
        (
            "parallel_coordinate",
            optuna_plots.plot_parallel_coordinate,
            "Optuna's parallel coordinates: one line per completed trial through its parameter "
            f"values, coloured by its objective ({objective}).",
        ),
    ]
    items = []
    for name, draw, caption in figures:
        why = _why_not(name, complete, _varying_params(res) if complete else [])
        if why:
            items.append(writer.skip(name, why))
            continue
        try:
            items.append(writer.save(name, _optuna_figure(res, draw), caption))
        except Exception as exc:  # Optuna refuses some study shapes: say so, do not crash
            items.append(writer.skip(name, f"Optuna could not draw it: {exc}"))
    return items


def _why_not(name: str, complete: int, varying: list[str]) -> str | None:
    """Why an Optuna figure cannot be drawn from this study, or None."""
    needed = 1 if name == "optimization_history" else 2
    if complete < needed:
        return f"needs {needed} completed trial{'s' * (needed > 1)}, the study has {complete}"
    if name == "param_importances" and len(varying) < 2:
        return (
            "needs 2 parameters that vary across completed trials "
            f"({len(varying)} does: its importance would be 1 by definition)"
        )
    return None


# -------------------------------------------------------------------------
# Trained models: retrain repeat 0, then draw weights and decision boundaries
# -------------------------------------------------------------------------


@dataclass
class _Trained:
    """Repeat 0 of one configuration, trained again."""

    config: _Configuration
    model: Model
    splits: Splits
    metrics: dict[str, float]
    stored: dict[str, float]  # the stored final metrics of the same run


def _retrain(res: StudyResults, config: _Configuration) -> _Trained:
    """Train repeat 0 of ``config``'s first completed trial again, exactly as the study did:
    the stored base run with the trial's values and the same seed (``trial_seed``)."""
    from sweepnp.study.record import RECORD_ATTR
    from sweepnp.trainer import Trainer

    trials = {t.number: t for t in res.study.get_trials(deepcopy=False)}
    trial = next(trials[n] for n in config.trials if trials[n].state.name == "COMPLETE")
    run = res.spec.run_file(decode_params(trial.params), repeat=0)
    # What sweepnp.train(run) does, keeping the Trainer for its prepared data (trainer.data).
    trainer = Trainer(run)
    result = trainer.fit()
    stored = trial.user_attrs.get(RECORD_ATTR, {}).get("final", [{}])[0]
    return _Trained(config, result.model, trainer.data, dict(result.metrics), dict(stored))


def _pooled_weights(model: Model) -> np.ndarray:
    """Every weight matrix (W1, W2, …) of a network, flattened into one array; no biases."""
    weights = [np.ravel(v) for k, v in model.params.items() if k.startswith("W")]
    return np.concatenate(weights).astype(float)


def _weights_figure(trained: list[_Trained]) -> Figure:
    pooled = [_pooled_weights(t.model) for t in trained]
    bins = np.linspace(min(w.min() for w in pooled), max(w.max() for w in pooled), 41)
    fig = _figure(*_grid_size(len(trained), 4, (3.3, 2.5)))
    axes = _grid(fig, len(trained), xlabel="weight", ylabel="count (log)", sharex=True, sharey=True)
    for ax, item, weights in zip(axes, trained, pooled, strict=True):
        ax.hist(weights, bins=bins, color="C2", alpha=0.85)
        ax.set_yscale("log")  # the many small weights would hide the few large ones
        ax.set_title(_wrap(item.config.title), fontsize=9)
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


_CLASS_COLOURS = ["#3b6fb6", "#c8553d", "#4f9d4a", "#8e5ea2", "#d4a20b", "#555555", "#1b9e9e"]


def _boundary_figure(trained: list[_Trained]) -> Figure:
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
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    splits = trained[0].splits
    names = [str(n) for n in (splits.feature_names or ["feature 1", "feature 2"])]
    binary = splits.task == "binary"
    n_classes = 2 if binary else len(splits.classes)
    classes = ListedColormap((_CLASS_COLOURS * 4)[:n_classes])
    # Binary: the probability's own diverging colours, points in the same two colours.
    cmap, vmin, vmax = ("RdBu_r", 0, 1) if binary else (classes, -0.5, n_classes - 0.5)

    fig = _figure(*_grid_size(len(trained), 4, (3.3, 3.0)))
    axes = _grid(fig, len(trained), xlabel=names[0], ylabel=names[1], sharex=True, sharey=True)
    filled = None
    for ax, item, X in zip(axes, trained, points, strict=True):
        proba = item.model.predict_proba(grid)  # raw features: the model scales them itself
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
        ax.set_title(_wrap(item.config.title), fontsize=9)
    if binary:
        positive = splits.classes[1] if splits.classes is not None else 1
        fig.colorbar(filled, ax=axes, label=f"P(class {positive})", shrink=0.8)
    else:
        labels = splits.classes if splits.classes is not None else range(n_classes)
        handles = [Patch(color=classes(i), label=str(c)) for i, c in enumerate(labels)]
        fig.legend(handles=handles, loc="outside upper center", ncols=n_classes, frameon=False)
    return fig


def _reproduced(trained: list[_Trained], metrics: Sequence[str]) -> str:
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


def _trained_items(
    res: StudyResults, configs: list[_Configuration], writer: _Writer, retrain: bool
) -> tuple[list[dict[str, Any]], str]:
    """The weight histograms and decision boundaries, and a sentence on what was retrained."""
    ranked = [c for c in configs if c.rank is not None]
    why = None if ranked else "no completed trial to retrain"
    why = why if retrain else "--no-retrain: no model was retrained"
    trained: list[_Trained] = []
    if why is None:
        chosen = ranked if len(ranked) <= MAX_PANELS else ranked[:1]
        try:
            trained = [_retrain(res, config) for config in chosen]
        except SweepnpError as exc:  # e.g. a plugin the study used is no longer installed
            why = f"retraining failed: {exc}"
    if why is not None:
        return [writer.skip("weights", why), writer.skip("decision_boundary", why)], ""

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
    items = [writer.save("weights", _weights_figure(trained), caption)]
    splits = trained[0].splits
    if splits.n_features != 2:
        why = f"needs data with 2 features; this data has {splits.n_features}"
        items.append(writer.skip("decision_boundary", why))
    elif splits.task == "regression":
        items.append(writer.skip("decision_boundary", "a regression task has no classes"))
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
        items.append(writer.save("decision_boundary", _boundary_figure(trained), caption))
    return items, note


# -------------------------------------------------------------------------
# Tables and the page
# -------------------------------------------------------------------------


def _summary_table(res: StudyResults, configs: list[_Configuration]) -> str:
    """The summary across repeats as HTML: one row per configuration, best first, its values in
    words and each metric as ``mean ± half-width``; the study's metrics first."""
    recorded = res.repeats_table().columns
    metrics = list(dict.fromkeys([*res.metrics, *(m for m in EXTRA_METRICS if m in recorded)]))
    summary = res.summary(metrics=metrics)
    trials = {c.key: c.trials for c in configs}
    shown = pd.DataFrame({"#": range(1, len(summary) + 1)})
    for path in res.param_columns:
        shown[param_words(path)] = [value_words(v) for v in summary[path]]
    shown["n"] = summary["n"].to_numpy()
    for metric in metrics:
        shown[metric_words(metric)] = [_estimate(row, metric) for _, row in summary.iterrows()]
    numbers = [
        trials.get(_key([row[p] for p in res.param_columns]), []) for _, row in summary.iterrows()
    ]
    # Wall-clock time per epoch (seed 003's batch-size experiment): the median over every epoch
    # of the configuration's runs, from the history's `epoch_seconds`.
    seconds = res.history.query("metric == 'epoch_seconds'").groupby("trial")["value"]
    per_trial = seconds.median() if len(seconds) else pd.Series(dtype=float)
    shown["ms per epoch (median)"] = [
        f"{1000 * per_trial.reindex(n).median():.3g}" if per_trial.reindex(n).notna().any() else "–"
        for n in numbers
    ]
    shown["trials"] = [", ".join(map(str, n)) for n in numbers]
    return shown.to_html(index=False, border=0, classes="summary", escape=True)


def _summary_items(res: StudyResults, configs: list[_Configuration]) -> list[dict[str, Any]]:
    if res.repeats_table().empty:
        return [{"kind": "note", "text": "No completed trial yet."}]
    return [{"kind": "table", "html": _summary_table(res, configs)}]


def _search_words(param: Any) -> str:
    """One searched parameter and its range or choices, in words."""
    if param.kind == "categorical":
        choices = ", ".join(value_words(c) for c in param.choices)
        return f"{param_words(param.path)} in {{{choices}}}"
    scale = ", log scale" if param.log else ""
    return f"{param_words(param.path)} {value_words(param.low)}–{value_words(param.high)}{scale}"


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
    return {
        "Dataset": value_words(dataset),
        "Objective": objectives,
        "Search": f"{sampler_name} sampler, {repeats} repeat{'s' * (repeats > 1)} per "
        "configuration (seeds derived from the study seed)",
        "Searched": "; ".join(_search_words(p) for p in res.space.params),
        "Trials": f"{len(res.trials)}" + (f" ({counts})" if counts else ""),
    }


def _section(key: str, title: str, items: list[dict[str, Any]], intro: str = "") -> dict:
    return {"id": key, "title": title, "items": items, "intro": intro}


def _render(context: dict[str, Any]) -> str:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("sweepnp", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the tests, not the reader
    )
    return environment.get_template("report.html.j2").render(**context)


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
    configs = _configurations(results)
    first = metric_words(results.metrics[0])
    line = verdict(results)
    sections = [  # drawn in this order, the order of Report.figures
        _section(
            "summary",
            "Summary across repeats",
            _summary_items(results, configs),
            "One row per configuration, best first: each metric's mean over the repeats ± the "
            "half-width of its 95% confidence interval (t distribution); n counts the repeats.",
        ),
        _section("curves", "Learning curves", _learning_curve_items(results, configs, writer)),
        _section(
            "diagnosis",
            "Learning-curve diagnosis",
            [{"kind": "diagnosis", "rows": _diagnosis_rows(results, configs)}]
            if configs
            else [{"kind": "note", "text": "No finished trial yet."}],
            "The rules of the diagnosis callback applied to each configuration's mean training "
            "and validation loss curves (epochs counted from 0).",
        ),
        _section(
            "parameters", f"{first.capitalize()} by parameter", _metric_items(results, writer)
        ),
        _section("search", "The search", _optuna_items(results, writer)),
        _section("models", "Trained models", *_trained_items(results, configs, writer, retrain)),
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
