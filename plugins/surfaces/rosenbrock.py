"""Rosenbrock's banana valley: the classic test of an optimizer's patience."""

from __future__ import annotations

from typing import Any

from sweepnp import Surface, hookimpl, options


class Rosenbrock(Surface):
    r"""Rosenbrock's function, a narrow curved valley with its minimum at :math:`(a, a^2)`.

    Parameters
    ----------
    a : float
        Where the minimum is: :math:`(a, a^2)`, value 0.
    b : float
        Steepness :math:`b` (>= 0) of the valley's walls.

    Notes
    -----
    .. math::

        f(x, y) &= (a - x)^2 + b\,(y - x^2)^2 \\
        \nabla f &= \big(-2(a - x) - 4 b x (y - x^2),\; 2 b (y - x^2)\big)

    With the defaults, source exercise 002's comparison (section 4.4): from (-1, 1), 1000 steps,
    SGD at lr 1e-4 ends at loss 3.664694, momentum 0.9 at 0.410654, Adam at 0.01 near (1, 1).

    References
    ----------
    .. [1] H. H. Rosenbrock, "An Automatic Method for Finding the Greatest or Least Value of a
       Function", The Computer Journal 3(3), 175-184, 1960.
    """

    start = (-1.0, 1.0)
    log_levels = True

    def __init__(self, a: float = 1.0, b: float = 100.0) -> None:
        options.non_negative("b", b)
        self.a = a
        self.b = b
        self.minimum = (a, a * a)
        self.bounds = ((min(-2.0, a - 1), max(2.0, a + 1)), (-1.0, max(3.0, a * a + 1)))

    def value(self, x: Any, y: Any) -> Any:
        return (self.a - x) ** 2 + self.b * (y - x**2) ** 2

    def gradient(self, x: float, y: float) -> tuple[float, float]:
        return -2 * (self.a - x) - 4 * self.b * x * (y - x**2), 2 * self.b * (y - x**2)


@hookimpl
def sweepnp_register_surfaces() -> dict[str, type[Surface]]:
    return {"rosenbrock": Rosenbrock}
