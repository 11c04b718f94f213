"""Gradient checking by central differences, for the core and for plugin authors.

For every parameter θ the analytic gradient of the training objective — data loss plus every
weight penalty — is compared with

    (L(θ + ε) − L(θ − ε)) / 2ε

element by element, and summarized per parameter by the relative error
``‖g_analytic − g_numeric‖ / (‖g_analytic‖ + ‖g_numeric‖)`` (the absolute difference when both
norms are below 1e-7, i.e. the gradient is zero). In float64 with ε = 1e-6 a correct
gradient scores well below 1e-6.

Example, checking a third-party regularizer::

    from sweepnp import check_gradients
    errors = check_gradients(regularizers=[MyPenalty(lam=0.1)])
    assert max(errors.values()) < 1e-6
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sweepnp.model import BatchNormOptions, DenseNetwork
from sweepnp.regularizers import Regularizer

__all__ = ["check_gradients"]

#: Below this combined norm a gradient counts as zero and its absolute error is reported.
ZERO_GRADIENT = 1e-7


def _problem(task: str, n: int, n_features: int, n_classes: int, rng: np.random.Generator):
    X = rng.standard_normal((n, n_features))
    if task == "binary":
        return X, rng.integers(0, 2, (n, 1)).astype(float), 1
    if task == "multiclass":
        return X, rng.integers(0, n_classes, n), n_classes
    return X, rng.standard_normal((n, 2)), 2


def check_gradients(
    network: DenseNetwork | None = None,
    X: np.ndarray | None = None,
    y: np.ndarray | None = None,
    *,
    regularizers: Sequence[Regularizer] = (),
    task: str = "binary",
    hidden: Sequence[int] = (6, 4),
    activation: str = "tanh",
    batch_norm: bool = False,
    eps: float = 1e-6,
    seed: int = 0,
) -> dict[str, float]:
    """Relative error between analytic and central-difference gradients, per parameter.

    Without ``network``, a small float64 network of ``task``, ``hidden`` and ``activation``
    (with batch norm if asked) is built on random data; with one, ``X`` and ``y`` must be given
    in the network's prepared form. Masks (dropout) are not applied: they make the loss random.

    :param regularizers: weight penalties included in the objective.
    :return: parameter name → relative error.
    """
    rng = np.random.default_rng(seed)
    if network is None:
        X, y, n_outputs = _problem(task, 12, 5, 3, rng)
        network = DenseNetwork(
            X.shape[1],
            n_outputs,
            task=task,
            hidden=hidden,
            activation=activation,
            init=("normal", {"std": 0.5}),
            batch_norm=BatchNormOptions() if batch_norm else None,
            rng=rng,
        )
        for name, value in network.params.items():
            if not name.startswith("W"):  # biases and batch-norm parameters away from 0 and 1
                value += rng.standard_normal(value.shape) * 0.3
    elif X is None or y is None:
        raise ValueError("pass X and y with a network")
    penalties = [r for r in regularizers if r.penalizes_weights()]
    params = network.params
    use_batch_stats = network.batch_norm is not None

    def objective() -> float:
        loss = float(network.task.loss(network.logits(X, batch_statistics=use_batch_stats), y))
        for reg in penalties:
            for name in network.weight_names:
                loss = loss + reg.penalty(params[name])
        return float(loss)

    saved = network.get_params()
    analytic = network.gradients(X, y)
    network.set_params(saved)  # the training pass moved batch-norm running statistics
    for reg in penalties:
        for name in network.weight_names:
            analytic[name] = analytic[name] + reg.gradient(params[name])

    errors: dict[str, float] = {}
    for name, param in params.items():
        numeric = np.zeros_like(param)
        flat, grad = param.reshape(-1), numeric.reshape(-1)
        for k in range(flat.size):
            original = flat[k]
            flat[k] = original + eps
            upper = objective()
            flat[k] = original - eps
            lower = objective()
            flat[k] = original
            grad[k] = (upper - lower) / (2 * eps)
        errors[name] = _relative_error(analytic[name], numeric)
    return errors


def _relative_error(a: Any, b: Any) -> float:
    # A gradient that is truly zero (e.g. a bias before batch norm with an identity activation)
    # leaves only rounding noise in both estimates; score it by the absolute difference instead.
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    difference = float(np.linalg.norm(a - b))
    return difference / denominator if denominator > ZERO_GRADIENT else difference
