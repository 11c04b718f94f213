"""Tasks: what a network's logits are scored with — the loss on logits, its gradient, and the
metrics reported per split — and the logistic and softmax functions they use.

A task's arrays are ``(rows, outputs)``, or ``(trials, rows, outputs)`` for runs stacked on a
leading axis; every loss and metric is a mean over the rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["LOSSES", "TASKS", "expit", "log_softmax", "make_task", "softmax"]

# -------------------------------------------------------------------------
# The logistic and softmax functions (SciPy's ``scipy.special`` ones, in NumPy: importing
# ``scipy.special`` takes about 0.3 s, which every command that loads sweepnp would pay)
# -------------------------------------------------------------------------


def expit(z: np.ndarray) -> np.ndarray:
    """The logistic sigmoid 1 / (1 + e^−z), elementwise.

    Stable for large |z|: for z → +∞ e^−z → 0 and the result → 1; for z → −∞ e^−z overflows to
    inf and the result is 0, its limit, with no NaN. That overflow (z below about −709 in
    float64, −88 in float32) would raise NumPy's overflow warning; the training loops run under
    ``np.errstate(over="ignore")``, and :class:`Model` sets it around its predictions.
    """
    e = np.exp(-z)
    e += 1
    return np.reciprocal(e, out=e)


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(z) / Σ exp(z) along ``axis``, shifted by the maximum so that nothing overflows
    (the same operations as ``scipy.special.softmax``)."""
    shifted = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log(softmax(z)) along ``axis``, computed as z − max − log Σ exp(z − max), accurate where
    softmax saturates (the same operations as ``scipy.special.log_softmax``)."""
    z_max = np.max(z, axis=axis, keepdims=True)
    z_max[~np.isfinite(z_max)] = 0  # all −inf (or an inf) along the axis: shift by nothing
    shifted = z - z_max
    with np.errstate(divide="ignore"):  # log(0) = −inf when every entry is −inf
        log_sum = np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return shifted - log_sum


# -------------------------------------------------------------------------
# Tasks: loss on logits, its gradient, and the metrics reported per split
# -------------------------------------------------------------------------


# A task's arrays are (rows, outputs), or (trials, rows, outputs) for trials stacked on a
# leading axis: every mean and sum runs over the last two axes (or the rows, axis -2), so a
# stacked trial gets what it would alone, bit for bit. ``loss`` and ``metrics`` return NumPy
# numbers (one per stacked trial).

_ROWS_AND_OUTPUTS = (-2, -1)


class BinaryTask:
    """Sigmoid output, binary cross-entropy from logits: mean(log(1 + e^z) − y·z)."""

    name = "binary"
    loss_name = "bce"
    metric_names = ("loss", "accuracy")

    def loss(self, z: np.ndarray, y: np.ndarray) -> Any:
        return np.mean(np.logaddexp(0, z) - y * z, axis=_ROWS_AND_OUTPUTS)

    def dlogits(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (expit(z) - y) / z.shape[-2]

    def metrics(self, z: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        return {"accuracy": np.mean((z > 0) == (y > 0.5), axis=_ROWS_AND_OUTPUTS)}


class MulticlassTask:
    """Softmax output, cross-entropy with log-sum-exp; integer labels."""

    name = "multiclass"
    loss_name = "cross_entropy"
    metric_names = ("loss", "accuracy")

    def loss(self, z: np.ndarray, y: np.ndarray) -> Any:
        picked = np.take_along_axis(log_softmax(z, axis=-1), _labels(z, y), axis=-1)
        return -np.mean(picked, axis=_ROWS_AND_OUTPUTS)

    def dlogits(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        p = softmax(z, axis=-1)
        index = _labels(z, y)
        np.put_along_axis(p, index, np.take_along_axis(p, index, axis=-1) - 1, axis=-1)
        p /= z.shape[-2]
        return p

    def metrics(self, z: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        return {"accuracy": np.mean(np.argmax(z, axis=-1) == y, axis=-1)}


class RegressionTask:
    """Identity output, MSE = mean((ŷ − y)²) with gradient 2/N·(ŷ − y) (seed 004).

    ``loss = "half_mse"`` trains on ½·mean((ŷ − y)²) instead, whose gradient (ŷ − y)/N is the
    one many texts write, seed 001 among them: there a learning rate takes the steps it takes
    in the text, where with ``mse`` it takes steps twice as long. The ``mse`` metric is
    mean((ŷ − y)²) either way.
    """

    name = "regression"
    metric_names = ("loss", "mse", "r2")

    def __init__(self, loss: str = "mse") -> None:
        self.loss_name = loss
        # d/dŷ of the loss is factor/N·(ŷ − y): 2 for the mean squared error, 1 for half of it
        self._factor = 1.0 if loss == "half_mse" else 2.0

    def loss(self, z: np.ndarray, y: np.ndarray) -> Any:
        mse = np.mean((z - y) ** 2, axis=_ROWS_AND_OUTPUTS)
        return 0.5 * mse if self.loss_name == "half_mse" else mse

    def dlogits(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (self._factor / (z.shape[-2] * z.shape[-1])) * (z - y)

    def metrics(self, z: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        residual = np.sum((y - z) ** 2, axis=-2)
        total = np.sum((y - y.mean(axis=-2, keepdims=True)) ** 2, axis=-2)
        # r2 as scikit-learn's r2_score: a constant target scores 1 if fitted exactly, else 0.
        r2 = np.where(total > 0, 1 - residual / np.where(total > 0, total, 1), residual == 0)
        mse = np.mean((z - y) ** 2, axis=_ROWS_AND_OUTPUTS)
        return {"mse": mse, "r2": np.mean(r2, axis=-1)}


def _labels(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Integer labels ``y`` as indices into the last axis of ``z`` (rows → rows × 1)."""
    return np.broadcast_to(y, z.shape[:-1])[..., None]


TASKS = {"binary": BinaryTask, "multiclass": MulticlassTask, "regression": RegressionTask}

#: The losses a task can train on (``model.loss``); the first is its default.
LOSSES = {"binary": ("bce",), "multiclass": ("cross_entropy",), "regression": ("mse", "half_mse")}


def make_task(name: str, loss: str | None = None) -> BinaryTask | MulticlassTask | RegressionTask:
    """The task ``name``, training on ``loss`` (one of :data:`LOSSES`; ``None``: its default)."""
    if name == "regression":
        return RegressionTask(loss or "mse")
    return TASKS[name]()
