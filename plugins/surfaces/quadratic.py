"""An ill-conditioned bowl: where momentum and Nesterov's look-ahead earn their keep."""

from __future__ import annotations

from typing import Any

from sweepnp import Surface, hookimpl, options


class Quadratic(Surface):
    r"""The quadratic :math:`a x^2 + b y^2`, elongated along :math:`x` when :math:`b \gg a`.

    Parameters
    ----------
    a : float
        Curvature :math:`a` (> 0) along :math:`x`.
    b : float
        Curvature :math:`b` (> 0) along :math:`y`.

    Notes
    -----
    .. math:: f(x, y) = a x^2 + b y^2, \qquad \nabla f = (2 a x,\; 2 b y)

    The condition number is :math:`b / a`; gradient descent is stable only for
    :math:`\eta < 1 / \max(a, b)`, and then crawls along the flat direction. The defaults are
    source exercise 003's exercise 3 (:math:`x^2 + 100 y^2`: standard momentum against
    Nesterov); ``b = 10`` is its section 3.3 example (from (10, 1)).
    """

    minimum = (0.0, 0.0)
    bounds = ((-1.5, 1.5), (-1.5, 1.5))
    log_levels = True

    def __init__(self, a: float = 1.0, b: float = 100.0) -> None:
        options.positive("a", a)
        options.positive("b", b)
        self.a = a
        self.b = b

    def value(self, x: Any, y: Any) -> Any:
        return self.a * x**2 + self.b * y**2

    def gradient(self, x: float, y: float) -> tuple[float, float]:
        return 2 * self.a * x, 2 * self.b * y


@hookimpl
def sweepnp_register_surfaces() -> dict[str, type[Surface]]:
    return {"quadratic": Quadratic}
