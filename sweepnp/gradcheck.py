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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sweepnp.model import BatchNormOptions, DenseNetwork
from sweepnp.regularizers import Regularizer
from sweepnp.step_program import StepProgram

if TYPE_CHECKING:
    from sweepnp.config import RunConfig
    from sweepnp.plugins import PluginManager

__all__ = ["GradientCheck", "check_gradients", "check_penalty_gradient", "check_run"]

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
    masks: Sequence[np.ndarray] | None = None,
) -> dict[str, float]:
    """Relative error between analytic and central-difference gradients, per parameter.

    Without ``network``, a small float64 network of ``task``, ``hidden`` and ``activation``
    (with batch norm if asked) is built on random data; with one, ``X`` and ``y`` must be given
    in the network's prepared form. Random masks (dropout) are not drawn: they would make the
    loss random; ``masks`` drawn beforehand are held fixed instead.

    :param regularizers: weight penalties included in the objective.
    :param masks: one mask per hidden layer, multiplying its activation in the forward pass of
        the objective and in the backward pass (how dropout's masks are checked).
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
    params = network.params
    use_batch_stats = network.batch_norm is not None

    def mask() -> Any:
        """A mask function handing out ``masks`` in layer order, afresh for each pass."""
        if masks is None:
            return None
        layers = iter(masks)
        return lambda shape: next(layers)

    # The analytic gradient is a training step's, from the program every run steps with.
    program = StepProgram(network, penalties=[r for r in regularizers if r.penalizes_weights()])

    def objective() -> float:
        z = network.logits(X, batch_statistics=use_batch_stats, mask=mask())
        return float(network.task.loss(z, y) + program.penalty())

    saved = network.get_params()
    program.masks = mask()
    analytic = program.gradients(X, y)
    network.set_params(saved)  # the training pass moved batch-norm running statistics

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


def check_penalty_gradient(
    regularizer: Regularizer, weights: Mapping[str, np.ndarray], *, eps: float = 1e-6
) -> dict[str, float]:
    """Relative error between a penalty's ``gradient(W)`` and central differences of its
    ``penalty(W)``, per weight matrix: the regularizer alone, so a wrong one is named.

    :param weights: weight name → matrix (copied; the originals are not changed).
    :return: weight name → relative error.
    """
    errors: dict[str, float] = {}
    for name, original in weights.items():
        weight = np.array(original, dtype=np.float64)
        analytic = np.asarray(regularizer.gradient(weight.copy()), dtype=np.float64)
        numeric = np.zeros_like(weight)
        flat, grad = weight.reshape(-1), numeric.reshape(-1)
        for k in range(flat.size):
            value = flat[k]
            flat[k] = value + eps
            upper = float(np.sum(regularizer.penalty(weight)))
            flat[k] = value - eps
            lower = float(np.sum(regularizer.penalty(weight)))
            flat[k] = value
            grad[k] = (upper - lower) / (2 * eps)
        errors[name] = _relative_error(analytic, numeric)
    return errors


#: What each task's loss is called in the report.
LOSSES = {
    "binary": "binary cross-entropy",
    "multiclass": "softmax cross-entropy",
    "regression": "mean squared error",
}

#: A relative error above this fails ``sweepnp gradcheck`` (float64, ε = 1e-6).
TOLERANCE = 1e-6


@dataclass
class GradientCheck:
    """The gradient check of one run file: what :func:`check_run` returns.

    :ivar errors: part → parameter → relative error. The parts are ``network`` (the network's
        backward pass and the loss, with every mask regularizer's masks held fixed) and
        ``regularizers.NAME`` for each weight penalty (its ``gradient`` against its
        ``penalty``, on each weight matrix).
    :ivar masked_by: the mask regularizers (dropout) whose masks the network part held fixed.
    :ivar rows: the training rows the network part used.
    :ivar tolerance: the largest relative error that passes.
    :ivar loss: the loss the network part differentiated, in words.
    """

    errors: dict[str, dict[str, float]]
    masked_by: list[str]
    rows: int
    tolerance: float = TOLERANCE
    loss: str = ""
    failed: dict[str, dict[str, float]] = field(init=False)

    def __post_init__(self) -> None:
        self.failed = {
            part: {name: e for name, e in errors.items() if not e <= self.tolerance}
            for part, errors in self.errors.items()
        }
        self.failed = {part: errors for part, errors in self.failed.items() if errors}

    @property
    def ok(self) -> bool:
        return not self.failed


def check_run(
    config: str | Mapping[str, Any] | RunConfig,
    *,
    rows: int = 32,
    eps: float = 1e-6,
    tolerance: float = TOLERANCE,
    plugin_manager: PluginManager | None = None,
) -> GradientCheck:
    """Check the analytic gradients of a run file's network, loss and every active regularizer
    against central differences, in float64 whatever the file's ``model.dtype``.

    The network is the run's own (its data, architecture and initial weights, built as
    training builds it), on the first ``rows`` rows of the training split. Its masks (dropout)
    are drawn once from the run's generator and held fixed, so that the loss is a function of
    the parameters alone; each weight penalty is then checked on its own.
    """
    from sweepnp.config import parse
    from sweepnp.trainer import Trainer

    config = parse(config)
    as_float64 = config.to_dict()
    as_float64["model"] = {**as_float64.get("model", {}), "dtype": "float64"}
    config = parse(as_float64, source=config.source)
    trainer = Trainer(config, plugin_manager=plugin_manager)
    network = trainer.network
    X, y = trainer.data.X_train[:rows], trainer.data.y_train[:rows]
    shapes = [(len(X), width) for width in network.hidden]
    masks = trainer.epoch_masks(shapes)
    maskers = [name for name, r in trainer.regularizers.items() if r.masks_activations()]
    errors = {"network": check_gradients(network, X, y, eps=eps, masks=masks)}
    weights = {name: network.params[name] for name in network.weight_names}
    for name, regularizer in trainer.regularizers.items():
        if regularizer.penalizes_weights():
            errors[f"regularizers.{name}"] = check_penalty_gradient(regularizer, weights, eps=eps)
    return GradientCheck(
        errors,
        masked_by=maskers,
        rows=len(X),
        tolerance=tolerance,
        loss=LOSSES.get(network.task.name, network.task.name),
    )


def _relative_error(a: Any, b: Any) -> float:
    # A gradient that is truly zero (e.g. a bias before batch norm with an identity activation)
    # leaves only rounding noise in both estimates; score it by the absolute difference instead.
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    difference = float(np.linalg.norm(a - b))
    return difference / denominator if denominator > ZERO_GRADIENT else difference
