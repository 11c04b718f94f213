"""Test surfaces: two-dimensional functions to watch optimizers descend (``sweepnp surface``).

A surface is a plugin like an optimizer (``sweepnp_register_surfaces``): a :class:`Surface`
subclass with the function, its analytic gradient, a start point and the region worth drawing.
:func:`descend` runs an optimizer on it through the very ``setup`` and ``step`` a training run
calls, on one parameter ``xy`` holding the point, so that any optimizer plugin — built-in or
third-party — runs here unchanged, and what it does on Rosenbrock's valley is what it does to a
network's weights.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweepnp.optimizers import Optimizer

__all__ = ["PARAMETER", "Descent", "Surface", "descend"]

#: The name of the one parameter an optimizer updates on a surface: the point ``(x, y)``.
#: It counts as a weight, so decoupled weight decay (AdamW, Lion) applies to it as to a network's.
PARAMETER = "xy"


class Surface(abc.ABC):
    """Base class of every test surface: a function of a point ``(x, y)`` and its gradient.

    Subclasses take their options as keyword arguments (checked up front with
    :mod:`sweepnp.options`, as optimizers do) and implement :meth:`value` and :meth:`gradient`
    of the point's two coordinates, as a textbook writes them.

    :cvar start: the default start point.
    :cvar minimum: a global minimum ``(x, y)``, drawn and reported when known (``None``: not).
    :cvar bounds: ``((x_low, x_high), (y_low, y_high))``, the region the contour plot shows.
    :cvar log_levels: draw contours at logarithmically spaced values (for a surface whose value
        spans many orders of magnitude, like Rosenbrock's).
    """

    start: tuple[float, float] = (1.0, 1.0)
    minimum: tuple[float, float] | None = None
    bounds: tuple[tuple[float, float], tuple[float, float]] = ((-2.0, 2.0), (-2.0, 2.0))
    log_levels: bool = False

    @abc.abstractmethod
    def value(self, x: Any, y: Any) -> Any:
        """The function's value at ``(x, y)``.

        Write it as whole-array NumPy: ``x`` and ``y`` are floats on a path, and arrays of one
        shape (a mesh) when the contour plot is drawn.
        """

    @abc.abstractmethod
    def gradient(self, x: float, y: float) -> tuple[float, float]:
        """The analytic gradient ``(∂f/∂x, ∂f/∂y)`` at ``(x, y)``."""


@dataclass
class Descent:
    """One optimizer's path on a surface.

    :ivar points: the start and the point after each step, shape ``(steps_run + 1, 2)``.
    :ivar values: the surface's value at each of those points.
    :ivar diverged: whether the point or the value stopped being finite (the path ends there).
    """

    points: np.ndarray
    values: np.ndarray
    diverged: bool

    @property
    def steps_run(self) -> int:
        return len(self.points) - 1

    @property
    def final(self) -> tuple[float, float, float]:
        """``(x, y, value)`` where the path ends."""
        x, y = self.points[-1]
        return float(x), float(y), float(self.values[-1])


def descend(
    surface: Surface, optimizer: Optimizer, start: Any, steps: int, lr: Any = None
) -> Descent:
    """Take ``steps`` steps of ``optimizer`` on ``surface`` from ``start``.

    The optimizer is set up on the one parameter :data:`PARAMETER` (a weight) and stepped exactly
    as the trainer steps it, at the rate ``lr`` (default: its own ``lr``, a constant schedule).
    The path stops early when it leaves the finite numbers.
    """
    point = np.array(start, dtype=np.float64)
    if point.shape != (2,):
        raise ValueError(f"a start point has two coordinates, got {start!r}")
    rate = optimizer.lr if lr is None else lr
    params = {PARAMETER: point}
    optimizer.setup(params, (PARAMETER,))
    points = [point.copy()]
    values = [float(surface.value(*point))]
    diverged = False
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            grad = np.array(surface.gradient(*point), dtype=np.float64)
            optimizer.step(params, {PARAMETER: grad}, rate)
            value = float(surface.value(*point))
            points.append(point.copy())
            values.append(value)
            if not (np.all(np.isfinite(point)) and np.isfinite(value)):
                diverged = True
                break
    return Descent(np.array(points), np.array(values, dtype=float), diverged)


def plot(ax: Any, surface: Surface, descents: dict[str, Descent], title: str = "") -> None:
    """Draw ``surface``'s contours and each descent's path on a matplotlib ``Axes``.

    The view is the surface's :attr:`~Surface.bounds`, widened to take in the paths where they
    stay below the highest value in those bounds (by at most the bounds' size on each side), so
    that a diverging path leaves the view rather than shrinking the others to a dot.
    """
    from matplotlib.colors import LogNorm  # the caller has matplotlib already; only plots need it

    (x_low, x_high), (y_low, y_high) = surface.bounds
    span_x, span_y = x_high - x_low, y_high - y_low
    with np.errstate(over="ignore", invalid="ignore"):
        mesh = np.meshgrid(np.linspace(x_low, x_high, 50), np.linspace(y_low, y_high, 50))
        ceiling = np.nanmax(np.asarray(surface.value(*mesh), dtype=float))
    for descent in descents.values():
        near = descent.points[np.isfinite(descent.values) & (descent.values <= ceiling)]
        x_low, x_high = _widen(x_low, x_high, near[:, 0], span_x)
        y_low, y_high = _widen(y_low, y_high, near[:, 1], span_y)
    pad_x, pad_y = 0.05 * (x_high - x_low), 0.05 * (y_high - y_low)
    x_low, x_high, y_low, y_high = x_low - pad_x, x_high + pad_x, y_low - pad_y, y_high + pad_y
    x, y = np.meshgrid(np.linspace(x_low, x_high, 300), np.linspace(y_low, y_high, 300))
    with np.errstate(over="ignore", invalid="ignore"):
        z = np.asarray(surface.value(x, y), dtype=float)
    if surface.log_levels:
        positive = z[np.isfinite(z) & (z > 0)]
        low, high = max(positive.min(), 1e-3), positive.max()
        levels = np.geomspace(low, high, 25)
        ax.contour(
            x, y, np.clip(z, low, None), levels=levels, norm=LogNorm(), cmap="Greys_r",
            linewidths=0.7, alpha=0.8,
        )  # fmt: skip
    else:
        ax.contour(x, y, z, levels=25, cmap="Greys_r", linewidths=0.7, alpha=0.8)
    if surface.minimum is not None:  # under the paths' end markers, its points sticking out
        ax.plot(*surface.minimum, "*", color="black", ms=14, label="minimum", zorder=2)
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)
    _draw_paths(ax, descents)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()  # the paths in their order, the minimum last
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "minimum")
    ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="best", fontsize="small")


#: The width in points of the narrowest path (drawn on top) and how much wider each path under
#: it is: where paths run together (on Rosenbrock every optimizer follows the one valley), each
#: shows as a stripe either side of the one above it.
PATH_WIDTH = 1.3
PATH_WIDTH_STEP = 2.4


def _draw_paths(ax: Any, descents: dict[str, Descent]) -> None:
    """Each descent's path, the longest on screen drawn first and widest, each shorter one on
    top of it and narrower, so that no path hides another (Adam's long path used to cover SGD's
    and momentum's short ones whole). Above every path: the start ○ (white, shared by the paths
    starting there) and each path's end ■ (✕: diverged) in its colour. The legend keeps the order
    of ``descents``."""
    from matplotlib import colormaps

    colours = colormaps["tab10"].colors
    to_pixels = ax.transData
    lengths = []
    for descent in descents.values():
        with np.errstate(over="ignore", invalid="ignore"):
            finite = descent.points[np.isfinite(descent.points).all(axis=1)]
            shown = to_pixels.transform(finite) if len(finite) else np.zeros((1, 2))
            steps = np.hypot(*np.diff(shown, axis=0).T) if len(shown) > 1 else np.zeros(1)
        lengths.append(float(np.nansum(np.where(np.isfinite(steps), steps, 0.0))))
    longest_first = sorted(range(len(descents)), key=lambda i: -lengths[i])
    depth = {index: place for place, index in enumerate(longest_first)}
    count = len(descents)
    for index, (label, descent) in enumerate(descents.items()):
        points = descent.points
        colour = colours[index % len(colours)]
        place = depth[index]  # 0: drawn first, under every other path
        ax.plot(
            points[:, 0], points[:, 1], color=colour, label=label,
            lw=PATH_WIDTH + PATH_WIDTH_STEP * (count - 1 - place), zorder=3 + place,
            solid_capstyle="round",
        )  # fmt: skip
        marker = "x" if descent.diverged else "s"
        ax.plot(
            *points[-1], marker, color=colour, markeredgecolor="black", zorder=5 + count,
            ms=7, markeredgewidth=0.6 if marker == "s" else 2.5,
        )  # fmt: skip
    starts = {tuple(descent.points[0]) for descent in descents.values()}
    for x, y in starts:  # white: shared by every path that starts there
        ax.plot(x, y, "o", color="white", markeredgecolor="black", ms=6, zorder=4 + count)


def _widen(low: float, high: float, values: np.ndarray, span: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return low, high
    return max(min(low, finite.min()), low - span), min(max(high, finite.max()), high + span)
