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
    for label, descent in descents.items():
        points = descent.points
        (line,) = ax.plot(points[:, 0], points[:, 1], lw=1.8, label=label)
        ax.plot(*points[0], "o", color=line.get_color(), ms=5)
        ax.plot(*points[-1], "x" if descent.diverged else "s", color=line.get_color(), ms=6)
    if surface.minimum is not None:
        ax.plot(*surface.minimum, "*", color="black", ms=12, label="minimum")
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")


def _widen(low: float, high: float, values: np.ndarray, span: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return low, high
    return max(min(low, finite.min()), low - span), min(max(high, finite.max()), high + span)
