"""What every figure of a report is drawn on: figures outside pyplot, grids of small multiples,
and what a figure function hands back (:class:`Drawn` or :class:`Skipped`)."""

from __future__ import annotations

import math
import sys
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "DPI",
    "LOG_RATIO",
    "Drawn",
    "Skipped",
    "grid",
    "grid_columns",
    "grid_size",
    "new_figure",
    "pyplot",
    "wrap",
]

DPI = 100
#: An axis of losses or metrics turns logarithmic beyond this ratio of largest to smallest value:
#: a few runs far off would flatten all the others.
LOG_RATIO = 1e3


@dataclass
class Drawn:
    """A figure of the report: written as ``<name>.png`` and embedded above its caption."""

    name: str
    figure: Figure
    caption: str


@dataclass
class Skipped:
    """A figure left out, and why (a clause: the page says "Not drawn (name): why.")."""

    name: str
    why: str


def new_figure(width: float, height: float) -> Figure:
    """A figure outside pyplot: nothing to close, no global state."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def grid(
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


def grid_columns(count: int) -> int:
    """Panels per row of a grid of ``count`` small multiples: at most 3 (2 × 2 for 4), so that
    the figure stays about 1000 pixels wide and its labels readable when a page on a narrow
    screen shrinks it."""
    return 2 if count == 4 else min(count, 3)


def grid_size(count: int, columns: int, panel: tuple[float, float]) -> tuple[float, float]:
    """The size in inches of a :func:`grid` of ``count`` panels of size ``panel``."""
    ncols = min(columns, count)
    nrows = math.ceil(count / ncols)
    return panel[0] * ncols, panel[1] * nrows + 0.6


def wrap(text: str, width: int = 38) -> str:
    """A panel title or tick label, wrapped onto lines of ``width`` characters."""
    return "\n".join(textwrap.wrap(text, width)) or text


def pyplot() -> Any:
    """pyplot for Optuna's figures, on the Agg backend unless the caller (a notebook, a GUI)
    already imported pyplot with a backend of its own, which must not be switched under it."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
