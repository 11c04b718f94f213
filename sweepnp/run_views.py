"""How one run shows itself: a short text, an HTML summary for notebooks, and its learning curves.

:class:`~sweepnp.trainer.RunResult` delegates here (``repr``, ``_repr_html_``, ``plot``), so the
trainer's module stays about training, and matplotlib is imported only when a curve is drawn.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepnp.metrics import metric_base
from sweepnp.vocabulary import StopReason

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sweepnp.trainer import RunResult

__all__ = ["SPLITS", "metric_families", "plot_run", "run_html", "run_repr"]

#: The splits a metric name can belong to: (prefix, words, line colour).
SPLITS = (("", "training", "C0"), ("val_", "validation", "C1"), ("test_", "test", "C2"))
#: A loss axis turns logarithmic beyond this ratio of largest to smallest value (as the report's).
_LOG_RATIO = 1e3
#: Columns of the learning curve that are not metrics.
_NOT_METRICS = ("epoch", "lr", "epoch_seconds")


def _number(value: Any) -> str:
    value = float(value)
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def metric_families(names: Sequence[str]) -> list[str]:
    """The metric bases of ``names`` (``loss``, ``accuracy``, …), loss first, each once."""
    bases: list[str] = []
    for name in names:
        if name in _NOT_METRICS:
            continue
        base = metric_base(name)
        if base not in bases:
            bases.append(base)
    return sorted(bases, key=lambda base: base != "loss")


def _ending(result: RunResult) -> str:
    epochs = result.epochs_run
    return (
        f"{result.stop_reason.replace('_', ' ')} after {epochs} epoch{'s' * (epochs != 1)} "
        f"in {result.seconds:.2f} s"
    )


def run_repr(result: RunResult) -> str:
    """One line: how the run ended and its final metrics, e.g.
    ``RunResult(completed after 100 epochs in 0.91 s; loss=0.05, val_accuracy=0.97, …)``."""
    metrics = ", ".join(f"{k}={_number(v)}" for k, v in result.metrics.items())
    return f"RunResult({_ending(result)}; {metrics})"


def run_html(result: RunResult) -> str:
    """A notebook's view of a run: how it ended, the learning-curve diagnosis, and the final
    metrics as a table of splits (rows) by metric (columns)."""
    metrics: Mapping[str, Any] = result.metrics
    bases = metric_families(list(metrics))
    rows = []
    for prefix, words, _ in SPLITS:
        cells = [metrics.get(f"{prefix}{base}") for base in bases]
        if all(cell is None for cell in cells):
            continue
        shown = "".join(f"<td>{'' if c is None else _number(c)}</td>" for c in cells)
        rows.append(f"<tr><th>{words}</th>{shown}</tr>")
    header = "".join(f"<th>{html.escape(base)}</th>" for base in bases)
    diagnosis = (result.info or {}).get("diagnosis")
    said = f"<p>learning curve: {html.escape(diagnosis['message'])}</p>" if diagnosis else ""
    return (
        f"<div><p><b>RunResult</b>: {html.escape(_ending(result))}</p>{said}"
        f"<table><thead><tr><th>final</th>{header}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        "<p><code>.history</code> holds the learning curve, <code>.plot()</code> draws it.</p>"
        "</div>"
    )


def plot_run(result: RunResult, path: str | Path | None = None) -> Figure:
    """The run's learning curves: one panel per metric (loss first), training, validation and
    test per evaluated epoch, the epoch it stopped at marked when it stopped early.

    :param path: also save the figure there (PNG, or any format matplotlib knows by suffix).
    :return: a matplotlib figure outside pyplot (nothing to close), which a notebook shows as
        a PNG whether or not pyplot's inline backend is on.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    class NotebookFigure(Figure):
        """A figure a notebook displays by itself: IPython calls ``_repr_png_`` on an object
        it has no formatter for, and registers one for figures only once pyplot is set up."""

        def _repr_png_(self) -> bytes:
            import io

            buffer = io.BytesIO()
            self.savefig(buffer, format="png")
            return buffer.getvalue()

    records = result.records
    names = list(dict.fromkeys(key for row in records for key in row))
    bases = metric_families(names) or ["loss"]
    fig = NotebookFigure(figsize=(4.2 * len(bases), 3.4), dpi=100, layout="constrained")
    axes = fig.subplots(1, len(bases), squeeze=False)[0]
    epochs = [row["epoch"] for row in records]
    for ax, base in zip(axes, bases, strict=True):
        finite: list[float] = []
        for prefix, words, colour in SPLITS:
            metric = f"{prefix}{base}"
            if metric not in names:
                continue
            values = [float(row.get(metric, math.nan)) for row in records]
            measured = [v for v in values if math.isfinite(v)]
            marker = "." if len(epochs) <= 30 else None  # a few evaluations: show where
            if len(measured) == 1:  # measured once (the test split, at the end): a line of one
                marker, words = "o", f"{words} (measured once)"  # point would not be drawn
            ax.plot(epochs, values, color=colour, linewidth=1.5, marker=marker, label=words)
            finite += measured
        if not finite:  # a diverged run: say so rather than leave the panel blank
            ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center", c="0.4")
        positive = [v for v in finite if v > 0]
        if (
            base == "loss"
            and positive
            and len(positive) == len(finite)
            and max(positive) / min(positive) > _LOG_RATIO
        ):
            ax.set_yscale("log")  # a diverging run would flatten the rest of the curve
        if result.stop_reason != StopReason.COMPLETED and epochs:
            ax.axvline(epochs[-1], color="0.5", linestyle=":", linewidth=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel(base)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize=8)
    fig.suptitle(_ending(result), fontsize=10)
    if path is not None:
        fig.savefig(path)
    return fig
