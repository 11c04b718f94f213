"""Inverted dropout: zero random hidden units in training, rescale the rest."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sweepnp import Regularizer, hookimpl, options


class Dropout(Regularizer):
    r"""Inverted dropout on every hidden activation, in training only.

    Parameters
    ----------
    rate : float
        Probability :math:`p` of dropping a unit, in [0, 1).

    Notes
    -----
    In training each hidden activation :math:`h` is multiplied, and its gradient in the backward
    pass too, by the mask

    .. math:: m = \frac{b}{1 - p}, \qquad b_i \sim \operatorname{Bernoulli}(1 - p)

    so that :math:`\mathbb{E}[m \odot h] = h` and evaluation uses :math:`h` unchanged (source
    exercise 002, section 2.3). Dropout adds no loss term.

    References
    ----------
    .. [1] N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever and R. Salakhutdinov, "Dropout:
       A Simple Way to Prevent Neural Networks from Overfitting", JMLR 15, 1929-1958, 2014.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(self, rate: float) -> None:
        options.in_range("rate", rate, 0, 1)
        self.rate = rate
        self._scale = 1 / (1 - rate)

    def mask(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: Any) -> np.ndarray:
        """A mask of ``shape`` and ``dtype`` (float32 or float64) holding 0 and ``1/(1-rate)``."""
        keep = rng.random(shape, dtype=dtype) >= self.rate
        return np.multiply(keep, self._scale, dtype=dtype)

    def masks(
        self, shapes: Sequence[tuple[int, ...]], rng: np.random.Generator, dtype: Any
    ) -> list[np.ndarray]:
        """The masks of :meth:`mask` for ``shapes`` in turn, drawn in one call: a generator
        gives the same numbers in one draw as in several (an epoch of a stacked trial)."""
        sizes = [math.prod(shape) for shape in shapes]
        keep = rng.random(sum(sizes), dtype=dtype) >= self.rate
        flat = np.multiply(keep, self._scale, dtype=dtype)
        ends = np.cumsum(sizes)
        return [
            flat[end - size : end].reshape(shape)
            for shape, size, end in zip(shapes, sizes, ends, strict=True)
        ]


@hookimpl
def sweepnp_register_regularizers() -> dict[str, type[Regularizer]]:
    return {"dropout": Dropout}
