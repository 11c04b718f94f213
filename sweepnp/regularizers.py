"""The regularizer contract. Concrete regularizers are plugins (``sweepnp_plugins.regularizers``).

A regularizer acts in one or both of two ways, and overrides only the methods it needs; the trainer
calls only what a regularizer overrides, so an unused capability costs nothing per batch.

* A **weight penalty** (L1, L2, elastic net) adds ``penalty(W)`` to the loss and ``gradient(W)`` to
  the gradient of every weight matrix. Biases and batch-norm parameters are never penalized.
* An **activation mask** (dropout) multiplies every hidden activation in training by ``mask(...)``;
  the backward pass multiplies by the same mask. Evaluation never applies masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Regularizer"]


class Regularizer:
    """Base class of every regularizer. Override the methods of the capability you provide.

    :cvar stackable: ``True`` declares that its trials may train stacked: a penalty's
        :meth:`penalty` and :meth:`gradient` work on weights stacked on a leading trial axis,
        with its float options arrays of shape ``(K, 1, 1)`` on that axis (whole-array NumPy,
        never ``if``/``float()`` on them), and it keeps no arrays across calls. Masks are drawn per
        trial. The contract kit proves a declaration (``test_trains_stacked_as_alone`` trains
        stacked trials and compares each with the trial alone). Undeclared (``False``, the
        default), its trials train alone.
    """

    stackable: bool = False

    def penalty(self, weight: np.ndarray) -> Any:
        """The loss term contributed by one weight matrix."""
        raise NotImplementedError

    def gradient(self, weight: np.ndarray) -> np.ndarray:
        """The gradient of :meth:`penalty` with respect to ``weight``."""
        raise NotImplementedError

    def mask(self, shape: tuple[int, ...], rng: np.random.Generator, dtype: Any) -> np.ndarray:
        """A multiplicative mask for a hidden activation of ``shape`` in training."""
        raise NotImplementedError

    def masks(
        self, shapes: Sequence[tuple[int, ...]], rng: np.random.Generator, dtype: Any
    ) -> list[np.ndarray]:
        """The masks that :meth:`mask` gives for ``shapes``, called in turn with ``rng``.

        A stack of trials asks each trial for a whole epoch's masks at once; a regularizer may
        override this to draw them in fewer calls, as long as it returns exactly the masks the
        calls in turn would (the built-in dropout draws all its numbers in one call).
        """
        return [self.mask(shape, rng, dtype) for shape in shapes]

    @classmethod
    def penalizes_weights(cls) -> bool:
        """Whether this regularizer provides a weight penalty."""
        return cls.gradient is not Regularizer.gradient

    @classmethod
    def masks_activations(cls) -> bool:
        """Whether this regularizer provides an activation mask."""
        return cls.mask is not Regularizer.mask
