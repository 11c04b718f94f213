"""Beale's function: flat plateaus and sharp ridges around one minimum."""

from __future__ import annotations

from typing import Any

from sweepnp import Surface, hookimpl


class Beale(Surface):
    r"""Beale's function, minimum 0 at :math:`(3, 0.5)`; no options.

    Notes
    -----
    With :math:`t_k = c_k - x + x y^k` for :math:`c = (1.5, 2.25, 2.625)`, :math:`k = 1, 2, 3`:

    .. math::

        f(x, y) &= \sum_k t_k^2 \\
        \nabla f &= \Big(\sum_k 2 t_k (y^k - 1),\; \sum_k 2 t_k\, k x y^{k-1}\Big)

    References
    ----------
    .. [1] E. M. L. Beale, "On an Iterative Method for Finding a Local Minimum of a Function of
       More than One Variable", Technical Report 25, Statistical Techniques Research Group,
       Princeton University, 1958.
    """

    start = (1.0, 1.0)
    minimum = (3.0, 0.5)
    bounds = ((-4.5, 4.5), (-4.5, 4.5))
    log_levels = True

    def value(self, x: Any, y: Any) -> Any:
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2

    def gradient(self, x: float, y: float) -> tuple[float, float]:
        t1, t2, t3 = 1.5 - x + x * y, 2.25 - x + x * y**2, 2.625 - x + x * y**3
        dx = 2 * t1 * (y - 1) + 2 * t2 * (y**2 - 1) + 2 * t3 * (y**3 - 1)
        dy = 2 * t1 * x + 4 * t2 * x * y + 6 * t3 * x * y**2
        return dx, dy


@hookimpl
def sweepnp_register_surfaces() -> dict[str, type[Surface]]:
    return {"beale": Beale}
