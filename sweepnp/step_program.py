"""The step program: one mini-batch step and one evaluation, for one run or a stack of runs.

Every way sweepnp trains goes through a :class:`StepProgram`: :meth:`Trainer.fit
<sweepnp.trainer.Trainer.fit>` (a run alone), :class:`~sweepnp.run_stack.RunStack` (many runs on
one leading trial axis), the learning-rate finder and the gradient check. It holds the arrays
and the objects that act on them — the network, the weight penalties, the masks, the gradient
callbacks, the optimizer — and nothing of a run's bookkeeping (schedule, callbacks' epochs,
history, stopping), which stays with each run's :class:`~sweepnp.trainer.Trainer`.

One mini-batch step :math:`(X, y)` at learning rate :math:`\\eta`:

.. math::

    g = \\nabla_\\theta L(f_\\theta(X; m), y) + \\sum_{R} \\sum_{W} \\nabla_W R(W),
    \\qquad g \\leftarrow c_1(\\dots c_n(g)), \\qquad \\theta \\leftarrow
    \\operatorname{step}(\\theta, g, \\eta)

with :math:`m` the masks (dropout), :math:`R` the weight penalties over the weight matrices
:math:`W`, :math:`c_i` the gradient callbacks in order (clipping), and ``step`` the optimizer.
The same code runs on parameters of shape ``shape`` (a run alone) or ``(K, *shape)`` (``K`` runs
stacked, hyperparameters and learning rates as ``(K, 1, 1)`` arrays): the network's maths
broadcasts over the leading axis, so the rule is written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweepnp.model import DenseNetwork, MaskFn
from sweepnp.optimizers import Optimizer
from sweepnp.regularizers import Regularizer

__all__ = ["Evaluation", "StepProgram"]

#: A split's prefix ("", "val_", "test_") → its data loss and metrics, as NumPy numbers.
Scores = dict[str, tuple[Any, dict[str, Any]]]
#: Called with the gradients of a step before the optimizer uses them; may change them in place.
GradientHook = Callable[[dict[str, np.ndarray]], None]


@dataclass
class Evaluation:
    """The scores of the current parameters on every split and their weight penalty: NumPy
    numbers for a run alone, arrays on the trial axis for a stack (:meth:`of_run` picks one)."""

    scores: Scores
    penalty: Any

    def of_run(self, k: int) -> Evaluation:
        """Run ``k``'s own evaluation, out of a stack's."""
        penalty = self.penalty if np.ndim(self.penalty) == 0 else self.penalty[k]
        return Evaluation(
            {
                prefix: (loss[k], {m: v[k] for m, v in metrics.items()})
                for prefix, (loss, metrics) in self.scores.items()
            },
            penalty,
        )

    def logs(self) -> dict[str, float]:
        """Keras-style logs: ``loss`` is the training objective (data loss plus penalty),
        ``val_loss`` and ``test_loss`` data losses, then every metric of every split."""
        logs: dict[str, float] = {}
        for prefix, (loss, metrics) in self.scores.items():
            if prefix == "":
                loss = loss + self.penalty
            logs[prefix + "loss"] = float(loss)
            for metric, value in metrics.items():
                logs[prefix + metric] = float(value)
        return logs


class StepProgram:
    """One mini-batch step and one evaluation over a network's parameters.

    :param network: the network, alone (``network.trials is None``) or stacked.
    :param optimizer: the optimizer, set up for ``network.params``; ``None`` for a program that
        only computes gradients (the gradient check).
    :param penalties: the weight penalties, in the order they add up.
    :param masks: hands out each hidden activation's mask in the order the forward pass asks
        (dropout); ``None`` without masks.
    :param gradient_hooks: called in order with each step's gradients, before the update
        (gradient clipping); they may change the gradients in place.
    """

    def __init__(
        self,
        network: DenseNetwork,
        optimizer: Optimizer | None = None,
        penalties: Sequence[Regularizer] = (),
        *,
        masks: MaskFn | None = None,
        gradient_hooks: Sequence[GradientHook] = (),
    ) -> None:
        self.network = network
        self.optimizer = optimizer
        self.penalties = list(penalties)
        self.masks = masks
        self.gradient_hooks = list(gradient_hooks)

    # -- one step ----------------------------------------------------------------------------

    def gradients(
        self, X: np.ndarray, y: np.ndarray, dlogits: Callable[..., np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """The gradients of one mini-batch: the data loss's, the penalties', then the hooks.

        :param dlogits: instead of the task's ``dlogits`` (see :meth:`loss_and_gradients`).
        """
        grads = self.network.gradients(X, y, self.masks, dlogits)
        if self.penalties:
            params = self.network.params
            for penalty in self.penalties:
                for name in self.network.weight_names:
                    grads[name] += penalty.gradient(params[name])
        for hook in self.gradient_hooks:
            hook(grads)
        return grads

    def loss_and_gradients(self, X: np.ndarray, y: np.ndarray) -> tuple[Any, dict[str, Any]]:
        """The mini-batch's data loss in training mode (masks, batch statistics; before the
        update) and the :meth:`gradients`, from one forward pass (the learning-rate finder)."""
        task = self.network.task
        losses = []

        def dlogits(z: np.ndarray, y: np.ndarray) -> np.ndarray:
            losses.append(task.loss(z, y))
            return task.dlogits(z, y)

        grads = self.gradients(X, y, dlogits)
        return losses[0], grads

    def step(self, grads: Mapping[str, np.ndarray], lr: Any) -> None:
        """Update the parameters in place with the optimizer at learning rate ``lr``."""
        assert self.optimizer is not None, "a program without an optimizer takes no step"
        self.optimizer.step(self.network.params, grads, lr)

    def train_epoch(
        self,
        batches: Iterable[tuple[np.ndarray, np.ndarray]],
        lr: Any,
        *,
        batch_lr: Callable[[int], Any] | None = None,
        after_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        """One step per mini-batch of ``batches``, at ``lr`` (or ``batch_lr(batch)`` for a
        per-batch schedule), calling ``after_batch(batch, rows)`` after each update."""
        assert self.optimizer is not None, "a program without an optimizer takes no step"
        gradients, update, params = self.gradients, self.optimizer.step, self.network.params
        if batch_lr is None and after_batch is None:  # the hot loop: nothing but the step
            for X, y in batches:
                update(params, gradients(X, y), lr)
            return
        rows_axis = 0 if self.network.trials is None else 1
        for batch, (X, y) in enumerate(batches):
            if batch_lr is not None:
                lr = batch_lr(batch)
            update(params, gradients(X, y), lr)
            if after_batch is not None:
                after_batch(batch, X.shape[rows_axis])

    # -- evaluation --------------------------------------------------------------------------

    def penalty(self) -> Any:
        """The total weight penalty of the current parameters."""
        total: Any = 0.0
        params = self.network.params
        for penalty in self.penalties:
            for name in self.network.weight_names:
                total = total + penalty.penalty(params[name])
        return total

    def evaluate(self, splits: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> Evaluation:
        """The data loss and metrics of the current parameters on every split (evaluation
        mode: no masks, batch norm on running statistics), and the weight penalty."""
        network = self.network
        task = network.task
        scores: Scores = {}
        for prefix, (X, y) in splits.items():
            z = network.logits(X)
            scores[prefix] = (task.loss(z, y), task.metrics(z, y))
        return Evaluation(scores, self.penalty())
