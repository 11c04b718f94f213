"""The test-surface contract: :class:`SurfaceContract` and :func:`check_surface`.

A surface's ``gradient`` is the gradient of its ``value`` (central differences over its bounds);
``value`` is whole-array NumPy (the contour plot passes a mesh); ``start`` and ``bounds`` are
usable and the ``minimum`` it claims is a minimum.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sweepnp.surfaces import Surface
from sweepnp.testing.contract import Contract

__all__ = ["SurfaceContract", "check_surface"]


class SurfaceContract(Contract):
    """The surface contract: subclass it, set :attr:`factory` and (optionally) :attr:`options`."""

    key = "surface"
    #: Points drawn uniformly in the bounds where the gradient is checked.
    points = 25
    #: The largest relative error ‖analytic − numeric‖ / (‖analytic‖ + ‖numeric‖) allowed.
    gradient_tolerance = 1e-6

    def _points(self, surface: Surface) -> np.ndarray:
        (x_low, x_high), (y_low, y_high) = surface.bounds
        rng = np.random.default_rng(0)
        return np.column_stack(
            [rng.uniform(x_low, x_high, self.points), rng.uniform(y_low, y_high, self.points)]
        )

    def test_is_a_sweepnp_surface(self) -> None:
        surface = self.make()
        if not isinstance(surface, Surface):
            self._fail(f"builds a {type(surface).__name__}; subclass sweepnp.Surface")

    def test_start_and_bounds_are_usable(self) -> None:
        surface = self.make()
        (x_low, x_high), (y_low, y_high) = surface.bounds
        if not (x_low < x_high and y_low < y_high):
            self._fail(f"bounds must be ((x_low, x_high), (y_low, y_high)), got {surface.bounds}")
        if len(surface.start) != 2 or not np.isfinite(surface.value(*surface.start)):
            self._fail(f"start {surface.start} must be a point (x, y) with a finite value")

    def test_gradient_matches_central_differences(self) -> None:
        surface, eps = self.make(), 1e-6
        for x, y in self._points(surface):
            analytic = np.array(surface.gradient(x, y), dtype=float)
            numeric = np.array(
                [
                    (surface.value(x + eps, y) - surface.value(x - eps, y)) / (2 * eps),
                    (surface.value(x, y + eps) - surface.value(x, y - eps)) / (2 * eps),
                ]
            )
            scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
            error = np.linalg.norm(analytic - numeric) / max(scale, 1.0)
            if analytic.shape != (2,) or not error <= self.gradient_tolerance:
                self._fail(
                    f"gradient({x:.4g}, {y:.4g}) = {analytic.tolist()}, but central differences "
                    f"of value() give {numeric.tolist()} (relative error {error:.2e})"
                )

    def test_value_is_whole_array_numpy(self) -> None:
        surface = self.make()
        (x_low, x_high), (y_low, y_high) = surface.bounds
        x, y = np.meshgrid(np.linspace(x_low, x_high, 4), np.linspace(y_low, y_high, 3))
        try:
            z = np.asarray(surface.value(x, y), dtype=float)
        except Exception as exc:
            self._fail(f"value() of a mesh raised {type(exc).__name__}: {exc}; use NumPy maths")
        expected = [[surface.value(float(a), float(b)) for a, b in zip(*row, strict=True)]
                    for row in zip(x, y, strict=True)]  # fmt: skip
        if z.shape != x.shape or not np.allclose(z, expected, rtol=1e-12):
            self._fail("value(x, y) of mesh arrays must equal value() at each point, same shape")

    def test_minimum_is_a_minimum(self) -> None:
        surface = self.make()
        if surface.minimum is None:
            self._skip("no minimum claimed")
        x, y = surface.minimum
        gradient = np.array(surface.gradient(x, y), dtype=float)
        if not np.allclose(gradient, 0, atol=1e-8):
            self._fail(f"minimum {surface.minimum} has gradient {gradient.tolist()}, not 0")
        (x_low, x_high), (y_low, y_high) = surface.bounds
        mesh = np.meshgrid(np.linspace(x_low, x_high, 101), np.linspace(y_low, y_high, 101))
        lowest = float(np.min(surface.value(*mesh)))
        if surface.value(x, y) > lowest + 1e-9 * max(1.0, abs(lowest)):
            self._fail(
                f"value at the minimum {surface.minimum} is {surface.value(x, y)}, above "
                f"{lowest} elsewhere in the bounds"
            )


def check_surface(factory: Callable[..., Any], **options: Any) -> None:
    """Run the whole :class:`SurfaceContract` on ``factory(**options)`` without pytest.

    :raises ContractFailure: listing every check that failed.
    """
    SurfaceContract._check_all(factory, options)
