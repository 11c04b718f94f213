"""Himmelblau's function: four minima of equal value, so the start decides where you end."""

from __future__ import annotations

from typing import Any

from sweepnp import Surface, hookimpl


class Himmelblau(Surface):
    r"""Himmelblau's function: four minima of value 0, one at :math:`(3, 2)`; no options.

    Notes
    -----
    With :math:`u = x^2 + y - 11` and :math:`w = x + y^2 - 7`:

    .. math:: f(x, y) = u^2 + w^2, \qquad \nabla f = (4 x u + 2 w,\; 2 u + 4 y w)

    The other minima are near (-2.805, 3.131), (-3.779, -3.283) and (3.584, -1.848); the one
    reported and drawn is (3, 2).

    References
    ----------
    .. [1] D. M. Himmelblau, "Applied Nonlinear Programming", McGraw-Hill, 1972.
    """

    start = (0.0, 0.0)
    minimum = (3.0, 2.0)
    bounds = ((-5.0, 5.0), (-5.0, 5.0))
    log_levels = True

    def value(self, x: Any, y: Any) -> Any:
        return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2

    def gradient(self, x: float, y: float) -> tuple[float, float]:
        u, w = x**2 + y - 11, x + y**2 - 7
        return 4 * x * u + 2 * w, 2 * u + 4 * y * w


@hookimpl
def sweepnp_register_surfaces() -> dict[str, type[Surface]]:
    return {"himmelblau": Himmelblau}
