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

An evaluation runs the forward pass over a split in chunks of :attr:`StepProgram.chunk_rows`
rows (about :data:`CHUNK_BYTES` of the widest layer's activations per run), so that its memory
grows with the stack, not with the split: only the logits, ``(K, rows, outputs)``, are whole.
The loss and the metrics are then taken over the whole logits as one pass would. A row's logits
in a chunk are those of the whole split up to BLAS's rounding: in float64 the same bits with
every kernel tried, in float32 within a few units in the last place where a CPU's matrix kernel
sums a block of rows otherwise than the whole (OpenBLAS's Haswell kernel does;
``tests/test_evaluation.py``). The chunk size depends on the network's shape and dtype only,
never on the stack's size: a run stacked is chunked as it is alone, so stacked and alone stay
the same bits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweepnp.model import DenseNetwork, MaskFn
from sweepnp.optimizers import Optimizer
from sweepnp.regularizers import Regularizer

__all__ = ["CHUNK_BYTES", "BatchScores", "Evaluation", "Measured", "StepProgram"]

#: A split's prefix ("", "val_", "test_") → its data loss and metrics, as NumPy numbers.
Scores = dict[str, tuple[Any, dict[str, Any]]]
#: Called with the gradients of a step before the optimizer uses them; may change them in place.
GradientHook = Callable[[dict[str, np.ndarray]], None]

#: Bytes of one run's widest layer of activations an evaluation holds at once (a chunk of rows).
CHUNK_BYTES = 4 * 2**20
#: The fewest rows of a chunk: one row goes through BLAS's matrix-vector kernel, whose sums may
#: round otherwise than the matrix-matrix kernel's (a row's bits must not depend on its chunk).
MIN_CHUNK_ROWS = 64


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


@dataclass
class Measured:
    """An evaluation's full passes over splits (their scores, the weight penalty) and a copy of
    the parameters and buffers they measured: what a run's final metrics may reuse."""

    scores: Scores
    penalty: Any
    params: dict[str, np.ndarray]

    def evaluation(
        self,
        program: StepProgram,
        splits: Mapping[str, tuple[np.ndarray, np.ndarray]],
        params: Mapping[str, np.ndarray],
    ) -> Evaluation | None:
        """``splits``' evaluation by ``program`` for ``params``: these scores, and passes over
        the splits not measured; ``None`` when ``params`` are not the ones measured."""
        if any(not np.array_equal(params[k], v, equal_nan=True) for k, v in self.params.items()):
            return None
        scores = dict(self.scores)
        missing = {p: split for p, split in splits.items() if p not in scores}
        if missing:
            scores.update(program.evaluate(missing).scores)
        return Evaluation({p: scores[p] for p in splits}, self.penalty)


class BatchScores:
    r"""The training split's loss and metrics from an epoch's own mini-batches, as Keras reports
    them: each batch's, in training mode (masks, batch statistics) and before its update,
    averaged over the epoch's rows.

    With batch :math:`b` of :math:`n_b` rows, loss :math:`L_b` and metric :math:`m_b` (means
    over its rows), the epoch's are :math:`\sum_b n_b L_b / \sum_b n_b` and the same for
    :math:`m`, summed in float64. R² is not a mean over rows: it is the epoch's
    :math:`1 - \sum_b \sum_i (y_i - \hat y_i)^2 / \sum_i (y_i - \bar y)^2` per output
    (:math:`\bar y` the training split's mean), averaged over the outputs, with the task's rule
    for a constant target — Keras' ``R2Score`` over an epoch.

    :meth:`dlogits` is handed to the network's backward pass in place of the task's: it scores
    the batch's logits, then returns the task's gradient of them.
    """

    def __init__(self, task: Any) -> None:
        self.task = task
        self.rows = 0
        self._sums: dict[str, Any] = {}

    def _add(self, name: str, value: Any) -> None:
        self._sums[name] = self._sums.get(name, 0.0) + value

    def dlogits(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        task = self.task
        rows = z.shape[-2]
        self.rows += rows
        self._add("loss", np.asarray(task.loss(z, y), dtype=np.float64) * rows)
        for name, value in task.metrics(z, y).items():
            if name == "r2":  # the epoch's residual sums, per output
                self._add(name, np.sum((y - z) ** 2, axis=-2, dtype=np.float64))
            else:
                self._add(name, np.asarray(value, dtype=np.float64) * rows)
        return task.dlogits(z, y)

    def scores(self, y: np.ndarray) -> tuple[Any, dict[str, Any]]:
        """The epoch's loss and metrics; ``y`` is the training split's targets (for R²)."""
        rows = self.rows
        metrics = {}
        for name, total in self._sums.items():
            if name == "r2":
                spread = np.sum((y - y.mean(axis=-2)) ** 2, axis=-2, dtype=np.float64)
                r2 = np.where(spread > 0, 1 - total / np.where(spread > 0, spread, 1), total == 0)
                metrics[name] = np.mean(r2, axis=-1)
            elif name != "loss":
                metrics[name] = total / rows
        return self._sums["loss"] / rows, metrics


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
        widest = max(network.params[name].shape[-1] for name in network.weight_names)
        #: Rows per chunk of an evaluation's forward pass (from the network's shape and dtype).
        self.chunk_rows = max(MIN_CHUNK_ROWS, CHUNK_BYTES // (widest * network.dtype.itemsize))

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
        score: bool = False,
    ) -> BatchScores | None:
        """One step per mini-batch of ``batches``, at ``lr`` (or ``batch_lr(batch)`` for a
        per-batch schedule), calling ``after_batch(batch, rows)`` after each update.

        :param score: also score every batch on the way, and return the :class:`BatchScores`
            (the training split's ``train.evaluate.train = "batches"``).
        """
        assert self.optimizer is not None, "a program without an optimizer takes no step"
        gradients, update, params = self.gradients, self.optimizer.step, self.network.params
        scores = BatchScores(self.network.task) if score else None
        if scores is not None:
            gradients = functools.partial(self.gradients, dlogits=scores.dlogits)
        if batch_lr is None and after_batch is None:  # the hot loop: nothing but the step
            for X, y in batches:
                update(params, gradients(X, y), lr)
            return scores
        rows_axis = 0 if self.network.trials is None else 1
        for batch, (X, y) in enumerate(batches):
            if batch_lr is not None:
                lr = batch_lr(batch)
            update(params, gradients(X, y), lr)
            if after_batch is not None:
                after_batch(batch, X.shape[rows_axis])
        return scores

    # -- evaluation --------------------------------------------------------------------------

    def penalty(self) -> Any:
        """The total weight penalty of the current parameters."""
        total: Any = 0.0
        params = self.network.params
        for penalty in self.penalties:
            for name in self.network.weight_names:
                total = total + penalty.penalty(params[name])
        return total

    def evaluate(
        self,
        splits: Mapping[str, tuple[np.ndarray, np.ndarray]],
        train_scores: tuple[Any, dict[str, Any]] | None = None,
    ) -> Evaluation:
        """The data loss and metrics of the current parameters on every split (evaluation
        mode: no masks, batch norm on running statistics), and the weight penalty.

        :param train_scores: the training split's loss and metrics measured otherwise (from
            the epoch's batches, :meth:`BatchScores.scores`), put first.
        """
        task = self.network.task
        scores: Scores = {} if train_scores is None else {"": train_scores}
        for prefix, (X, y) in splits.items():
            z = self.logits(X)
            scores[prefix] = (task.loss(z, y), task.metrics(z, y))
        return Evaluation(scores, self.penalty())

    def logits(self, X: np.ndarray) -> np.ndarray:
        """The evaluation forward pass over ``X``'s rows, :attr:`chunk_rows` at a time (in
        chunks of equal size, give or take a row), into one array of logits."""
        network = self.network
        rows = X.shape[-2]
        if rows <= self.chunk_rows:
            return network.logits(X)
        chunks = -(-rows // self.chunk_rows)
        out: np.ndarray | None = None
        for i in range(chunks):
            start, end = i * rows // chunks, (i + 1) * rows // chunks
            z = network.logits(X[..., start:end, :])
            if out is None:
                out = np.empty((*z.shape[:-2], rows, z.shape[-1]), dtype=z.dtype)
            out[..., start:end, :] = z
        assert out is not None
        return out
