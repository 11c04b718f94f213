"""Dense networks in plain NumPy: activations, initializers, forward and backward passes (the
tasks' losses are in :mod:`sweepnp.tasks`).

A :class:`DenseNetwork` is ``n_inputs → hidden[0] → … → hidden[-1] → n_outputs`` with one
activation on every hidden layer and, optionally, batch normalization between each hidden layer's
affine map and its activation. ``hidden = []`` gives linear, logistic and softmax regression.
Parameters are named as in the source exercises: ``W1, b1, W2, b2, …`` and ``gamma1, beta1, …``
for batch norm (whose layers carry no bias ``b``: ``beta`` does that job).

The output layer has no activation: the task's loss works on logits, which keeps binary
cross-entropy and softmax cross-entropy numerically stable. Every loss is a mean over the batch.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweepnp.tasks import LOSSES, TASKS, expit, make_task, softmax

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "LOSSES",
    "TASKS",
    "BatchNormOptions",
    "DenseNetwork",
    "Model",
    "make_task",
    "parameter_shapes",
]

LEAKY_SLOPE = 0.01

# -------------------------------------------------------------------------
# Activations: name → (forward, derivative given pre-activation z and output h)
# -------------------------------------------------------------------------


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0)


def _leaky_relu(z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, z, LEAKY_SLOPE * z)


def _identity(z: np.ndarray) -> np.ndarray:
    return z


# Derivatives given the pre-activation z and the output h. Module-level functions rather than
# lambdas, so that networks (and the models runs return) can be pickled.
def _relu_grad(z: np.ndarray, h: np.ndarray) -> np.ndarray:
    return z > 0


def _leaky_relu_grad(z: np.ndarray, h: np.ndarray) -> np.ndarray:
    return np.where(z > 0, 1.0, LEAKY_SLOPE)


def _tanh_grad(z: np.ndarray, h: np.ndarray) -> np.ndarray:
    return 1 - h * h


def _sigmoid_grad(z: np.ndarray, h: np.ndarray) -> np.ndarray:
    return h * (1 - h)


def _identity_grad(z: np.ndarray, h: np.ndarray) -> int:
    return 1


ACTIVATIONS: dict[str, tuple[Callable[..., np.ndarray], Callable[..., Any]]] = {
    "relu": (_relu, _relu_grad),
    "leaky_relu": (_leaky_relu, _leaky_relu_grad),
    "tanh": (np.tanh, _tanh_grad),
    "sigmoid": (expit, _sigmoid_grad),
    "identity": (_identity, _identity_grad),
}

# -------------------------------------------------------------------------
# Initializers: weights drawn for a (fan_in, fan_out) matrix; biases start at zero
# -------------------------------------------------------------------------


def _zeros(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    return np.zeros((fan_in, fan_out))


def _normal(rng: np.random.Generator, fan_in: int, fan_out: int, std: float = 0.01) -> np.ndarray:
    return rng.standard_normal((fan_in, fan_out)) * std


def _he(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """He et al. (2015): N(0, 2 / fan_in), for ReLU networks."""
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)


def _xavier(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Glorot & Bengio (2010): N(0, 2 / (fan_in + fan_out)), for tanh and sigmoid networks."""
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / (fan_in + fan_out))


INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    "zeros": _zeros,
    "normal": _normal,
    "he": _he,
    "xavier": _xavier,
}

# -------------------------------------------------------------------------
# The network
# -------------------------------------------------------------------------


def parameter_shapes(
    n_inputs: int, n_outputs: int, hidden: Sequence[int] = (), *, batch_norm: bool = False
) -> dict[str, tuple[int, ...]]:
    """The names and shapes of a :class:`DenseNetwork`'s parameters, in its order, without
    drawing them: ``W1, b1, …`` (``W1, gamma1, beta1, …`` on hidden layers with batch norm)."""
    sizes = [n_inputs, *hidden, n_outputs]
    shapes: dict[str, tuple[int, ...]] = {}
    for i in range(1, len(sizes)):
        fan_in, fan_out = sizes[i - 1], sizes[i]
        shapes[f"W{i}"] = (fan_in, fan_out)
        if batch_norm and i < len(sizes) - 1:
            shapes[f"gamma{i}"] = shapes[f"beta{i}"] = (fan_out,)
        else:
            shapes[f"b{i}"] = (fan_out,)
    return shapes


@dataclass(frozen=True)
class BatchNormOptions:
    """Batch normalization (Ioffe & Szegedy 2015) between affine map and activation.

    Running statistics follow ``r ← momentum·r + (1 − momentum)·batch`` (the source exercise's
    convention) and replace the batch statistics in evaluation.
    """

    momentum: float = 0.9
    eps: float = 1e-5


MaskFn = Callable[[tuple[int, ...]], np.ndarray]


# The network's arrays are (rows, features), or (trials, rows, features) with parameters of
# shape (trials, fan_in, fan_out) and (trials, 1, fan_out) for trials stacked on a leading axis.
# Rows are axis -2 and ``.mT`` transposes the last two axes, so one implementation serves both;
# a row statistic of a stack keeps the row axis, the shape of a stacked bias.


def _row_sum(a: np.ndarray) -> np.ndarray:
    return a.sum(axis=-2, keepdims=a.ndim > 2)


def _row_mean(a: np.ndarray) -> np.ndarray:
    return a.mean(axis=-2, keepdims=a.ndim > 2)


def _row_var(a: np.ndarray) -> np.ndarray:
    return a.var(axis=-2, keepdims=a.ndim > 2)


class DenseNetwork:
    """A dense network on prepared (scaled, encoded) arrays.

    :param n_inputs: number of input features.
    :param n_outputs: number of outputs (1 for binary, classes for multiclass, targets for
        regression).
    :param task: ``binary``, ``multiclass`` or ``regression``.
    :param loss: the loss the task trains on (:data:`LOSSES`); ``None``: the task's default.
    :param hidden: the width of each hidden layer; empty for a linear model.
    :param activation: one of :data:`ACTIVATIONS`.
    :param init: initializer name and its options, e.g. ``("normal", {"std": 0.01})``.
    :param batch_norm: options to enable batch normalization on hidden layers, or ``None``.
    :param dtype: ``np.float64`` (default) or ``np.float32``.
    :param rng: the generator drawing the initial weights.
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        *,
        task: str,
        loss: str | None = None,
        hidden: Sequence[int] = (),
        activation: str = "relu",
        init: tuple[str, Mapping[str, Any]] = ("normal", {"std": 0.01}),
        batch_norm: BatchNormOptions | None = None,
        dtype: Any = np.float64,
        rng: np.random.Generator | None = None,
    ) -> None:
        rng = rng if rng is not None else np.random.default_rng()
        self.task = make_task(task, loss)
        self.hidden = tuple(hidden)
        self.activation = activation
        self._act, self._act_grad = ACTIVATIONS[activation]
        self.batch_norm = batch_norm
        self.dtype = np.dtype(dtype)
        init_name, init_options = init
        initializer = INITIALIZERS[init_name]

        self.params: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        sizes = [n_inputs, *self.hidden, n_outputs]
        n_layers = len(sizes) - 1
        for i in range(1, n_layers + 1):
            fan_in, fan_out = sizes[i - 1], sizes[i]
            self.params[f"W{i}"] = initializer(rng, fan_in, fan_out, **init_options).astype(dtype)
            if batch_norm is not None and i < n_layers:
                self.params[f"gamma{i}"] = np.ones(fan_out, dtype=dtype)
                self.params[f"beta{i}"] = np.zeros(fan_out, dtype=dtype)
                self.buffers[f"running_mean{i}"] = np.zeros(fan_out, dtype=dtype)
                self.buffers[f"running_var{i}"] = np.ones(fan_out, dtype=dtype)
            else:
                self.params[f"b{i}"] = np.zeros(fan_out, dtype=dtype)
        self.n_layers = n_layers
        self.weight_names = tuple(f"W{i}" for i in range(1, n_layers + 1))
        #: How many trials are stacked on the parameters' leading axis (``None``: one, unstacked).
        self.trials: int | None = None

    # -- forward passes --------------------------------------------------------------------

    def logits(
        self, X: np.ndarray, *, batch_statistics: bool = False, mask: MaskFn | None = None
    ) -> np.ndarray:
        """Forward pass, by default as evaluation makes it: no masks, batch norm on running
        statistics.

        :param batch_statistics: normalize with the batch's own statistics, as in training
            (without updating the running ones); used by the gradient check.
        :param mask: multiply each hidden activation by ``mask(shape)``, as :meth:`gradients`
            does in training; the gradient check passes the masks it holds fixed.
        """
        p = self.params
        a = X
        for i in range(1, self.n_layers):
            z = a @ p[f"W{i}"]
            if self.batch_norm is not None:
                if batch_statistics:
                    mean, var = _row_mean(z), _row_var(z)
                else:
                    mean, var = self.buffers[f"running_mean{i}"], self.buffers[f"running_var{i}"]
                z = (z - mean) / np.sqrt(var + self.batch_norm.eps) * p[f"gamma{i}"] + p[f"beta{i}"]
            else:
                z += p[f"b{i}"]
            # z is this pass's own array: ReLU in place spares a copy of the layer
            a = np.maximum(z, 0, out=z) if self._act is _relu else self._act(z)
            if mask is not None:
                a = a * mask(a.shape)
        out = a @ p[f"W{self.n_layers}"]
        out += p[f"b{self.n_layers}"]
        return out

    def loss(self, X: np.ndarray, y: np.ndarray) -> float:
        """The data loss (mean over rows) of the evaluation forward pass."""
        with np.errstate(over="ignore"):  # a sigmoid layer's e^−z may overflow: see expit
            return float(self.task.loss(self.logits(X), y))

    def gradients(
        self,
        X: np.ndarray,
        y: np.ndarray,
        mask: MaskFn | None = None,
        dlogits: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Training forward and backward pass on one batch: the gradient of the data loss.

        :param mask: called with each hidden activation's shape, returns the multiplicative
            mask to apply (dropout); ``None`` for no masks.
        :param dlogits: ``(logits, y) → ∂L/∂logits`` instead of the task's own ``dlogits``
            (one that also records the batch's loss, for the learning-rate finder).
        """
        p = self.params
        bn = self.batch_norm
        act, act_grad = self._act, self._act_grad
        inputs: list[np.ndarray] = []
        cache: list[tuple[Any, ...]] = []
        a = X
        for i in range(1, self.n_layers):
            inputs.append(a)
            z = a @ p[f"W{i}"]
            bn_cache = None
            if bn is not None:
                z, bn_cache = self._batch_norm_train(i, z)
            else:
                z += p[f"b{i}"]
            h = act(z)
            m = None
            if mask is not None:
                m = mask(h.shape)
                h_out = h * m
            else:
                h_out = h
            cache.append((z, h, m, bn_cache))
            a = h_out
        inputs.append(a)
        last = self.n_layers
        dz = (dlogits or self.task.dlogits)(a @ p[f"W{last}"] + p[f"b{last}"], y)

        keep = self.trials is not None  # a stacked bias keeps its row axis
        grads: dict[str, np.ndarray] = {}
        grads[f"W{last}"] = a.mT @ dz
        grads[f"b{last}"] = dz.sum(axis=-2, keepdims=keep)
        for i in range(last - 1, 0, -1):
            da = dz @ p[f"W{i + 1}"].mT
            z, h, m, bn_cache = cache[i - 1]
            if m is not None:
                da *= m
            dz = da * act_grad(z, h)
            if bn_cache is not None:
                dz = self._batch_norm_backward(i, dz, bn_cache, grads)
            else:
                grads[f"b{i}"] = dz.sum(axis=-2, keepdims=keep)
            grads[f"W{i}"] = inputs[i - 1].mT @ dz
        return grads

    def _batch_norm_train(self, i: int, z: np.ndarray) -> tuple[np.ndarray, tuple[Any, ...]]:
        bn = self.batch_norm
        assert bn is not None
        mean = _row_mean(z)
        var = _row_var(z)
        running_mean, running_var = (
            self.buffers[f"running_mean{i}"],
            self.buffers[f"running_var{i}"],
        )
        running_mean *= bn.momentum
        running_mean += (1 - bn.momentum) * mean
        running_var *= bn.momentum
        running_var += (1 - bn.momentum) * var
        inv_std = 1.0 / np.sqrt(var + bn.eps)
        x_hat = (z - mean) * inv_std
        return x_hat * self.params[f"gamma{i}"] + self.params[f"beta{i}"], (x_hat, inv_std)

    def _batch_norm_backward(
        self, i: int, dy: np.ndarray, bn_cache: tuple[Any, ...], grads: dict[str, np.ndarray]
    ) -> np.ndarray:
        """dz = (1/B)·σ⁻¹·(B·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂)), with dx̂ = dy·γ."""
        x_hat, inv_std = bn_cache
        grads[f"gamma{i}"] = _row_sum(dy * x_hat)
        grads[f"beta{i}"] = _row_sum(dy)
        dx_hat = dy * self.params[f"gamma{i}"]
        n = dy.shape[-2]
        return (inv_std / n) * (n * dx_hat - _row_sum(dx_hat) - x_hat * _row_sum(dx_hat * x_hat))

    # -- stacking ----------------------------------------------------------------------------

    def stacked(self, trials: int) -> DenseNetwork:
        """A network of the same structure for ``trials`` trials stacked on a leading axis:
        parameters and running statistics of shape ``(trials, *shape)``, biases and batch-norm
        vectors ``(trials, 1, width)``, all zero (each trial's values are copied in)."""
        network = copy.copy(self)
        network.params = {name: _stacked_zeros(v, trials) for name, v in self.params.items()}
        network.buffers = {name: _stacked_zeros(v, trials) for name, v in self.buffers.items()}
        network.trials = trials
        return network

    # -- state -------------------------------------------------------------------------------

    def get_params(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and batch-norm running statistic."""
        return {name: value.copy() for name, value in {**self.params, **self.buffers}.items()}

    def set_params(self, values: Mapping[str, np.ndarray]) -> None:
        """Copy values saved by :meth:`get_params` back into the network, in place."""
        for name, value in values.items():
            target = self.params.get(name)
            if target is None:
                target = self.buffers[name]
            target[...] = value


def _stacked_zeros(value: np.ndarray, trials: int) -> np.ndarray:
    shape = (1, *value.shape) if value.ndim == 1 else value.shape  # a vector is a row
    return np.zeros((trials, *shape), dtype=value.dtype)


class Model:
    """A trained network with its input scaling and class labels: what a run returns.

    ``predict`` and ``predict_proba`` take raw features (as the dataset gave them) and apply the
    scaling fitted on the training split; ``predict`` returns the original class labels.
    """

    def __init__(
        self,
        network: DenseNetwork,
        *,
        classes: np.ndarray | None = None,
        mean: np.ndarray | None = None,
        scale: np.ndarray | None = None,
        target_mean: np.ndarray | None = None,
        target_scale: np.ndarray | None = None,
    ) -> None:
        self.network = network
        self.task = network.task.name
        self.classes = classes
        self._mean = mean
        self._scale = scale
        self._target_mean = target_mean
        self._target_scale = target_scale

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Parameter name → array (``W1``, ``b1``, …), the network's live arrays."""
        return self.network.params

    def get_params(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and batch-norm running statistic (for restore-best)."""
        return self.network.get_params()

    def set_params(self, values: Mapping[str, np.ndarray]) -> None:
        """Copy values saved by :meth:`get_params` back into the network, in place."""
        self.network.set_params(values)

    def _prepare(self, X: Any) -> np.ndarray:
        # As the training data was prepared: scaled in float64, then cast to the network's dtype.
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(-1, 1)
        if self._mean is not None and self._scale is not None:
            X = (X - self._mean) / self._scale
        return X.astype(self.network.dtype, copy=False)

    def decision_function(self, X: Any) -> np.ndarray:
        """The network's outputs for raw features: logits for classification; for regression
        the predictions on the scale trained on (standardized with ``data.scale_target``)."""
        with np.errstate(over="ignore"):  # a sigmoid layer's e^−z may overflow: see expit
            return self.network.logits(self._prepare(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, n_classes)``, for classification."""
        z = self.decision_function(X)
        if self.task == "binary":
            with np.errstate(over="ignore"):
                p = expit(z[:, 0])
            return np.column_stack([1 - p, p])
        if self.task == "multiclass":
            return softmax(z, axis=1)
        raise AttributeError("predict_proba is only available for classification tasks")

    def predict(self, X: Any) -> np.ndarray:
        """Class labels (classification) or predicted values (regression)."""
        z = self.decision_function(X)
        if self.task == "regression":
            if self._target_mean is not None and self._target_scale is not None:
                z = z * self._target_scale + self._target_mean  # back to the target's units
            return z[:, 0] if z.shape[1] == 1 else z
        codes = (z[:, 0] > 0).astype(int) if self.task == "binary" else np.argmax(z, axis=1)
        return self.classes[codes] if self.classes is not None else codes
