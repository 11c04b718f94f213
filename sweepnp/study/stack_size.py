"""How many runs a worker stacks when the study file says ``stack = "auto"``: measured on this
machine for the study's own network, not guessed.

Stacking K runs replaces K training steps — each a few matrix products and a dozen Python calls
— by one step on arrays with a leading axis of K. It pays while the Python calls and small
products dominate (breast cancer's 30-16-1 network trains 1.6–2.9× faster per run-epoch in a
stack), and not once the products are large enough to keep BLAS busy alone: a 784-256-10
network on batches of 128 gains nothing and holds K copies of every activation. So before its
first trial a worker times both on random data of the study's shapes — K forward and backward
passes and parameter updates one run at a time, against one pass of a stack of K — and keeps
the stack only where it is at least :data:`MIN_GAIN` times faster (:func:`stacking_gain`). The
probe takes a few milliseconds for small networks, up to about a tenth of a second for an
MNIST-size one, once per worker.

The measured network is the study file's base run (its hidden layers, batch size and dtype);
a searched width or batch size is taken at its base value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sweepnp.config import validate
from sweepnp.model import DenseNetwork

if TYPE_CHECKING:
    from sweepnp.plugins import PluginManager
    from sweepnp.study.spec import StudySpec

__all__ = [
    "CANDIDATES",
    "MIN_GAIN",
    "NetworkShape",
    "auto_stack_size",
    "network_shape",
    "stacking_gain",
]

#: The stack sizes ``"auto"`` chooses among, besides 1 (more than 16 gains little: see
#: docs/performance.md, "Stacked trials").
CANDIDATES = (4, 16)
#: How much faster per run a stack must train for ``"auto"`` to use it.
MIN_GAIN = 1.15
#: Timed passes of each contender (the fastest step counts, as with ``timeit``).
PASSES = 5


@dataclass(frozen=True)
class NetworkShape:
    """What the probe builds: a run's network and batch."""

    n_inputs: int
    n_outputs: int
    hidden: tuple[int, ...]
    task: str
    activation: str
    batch_size: int
    dtype: str


def network_shape(spec: StudySpec, pm: PluginManager) -> NetworkShape:
    """The shape of the study file's base run: its data (prepared already, when the study file
    was checked) and its ``[model]`` and ``[train]``."""
    config = validate(spec.run_file({}), source=spec.source)
    data = spec.data_cache.get(config, pm)
    return NetworkShape(
        n_inputs=data.n_features,
        n_outputs=data.n_outputs,
        hidden=tuple(config.model.hidden),
        task=data.task,
        activation=config.model.activation,
        batch_size=min(config.train.batch_size, len(data.X_train)),
        dtype=config.model.dtype,
    )


def _network(shape: NetworkShape, rng: np.random.Generator) -> DenseNetwork:
    return DenseNetwork(
        shape.n_inputs,
        shape.n_outputs,
        task=shape.task,
        hidden=shape.hidden,
        activation=shape.activation,
        init=("he", {}),
        dtype=shape.dtype,
        rng=rng,
    )


def _batch(shape: NetworkShape, rng: np.random.Generator, leading: tuple[int, ...] = ()):
    X = rng.standard_normal((*leading, shape.batch_size, shape.n_inputs)).astype(shape.dtype)
    if shape.task == "multiclass":
        y = rng.integers(0, shape.n_outputs, (*leading, shape.batch_size))
    elif shape.task == "binary":
        y = rng.integers(0, 2, (*leading, shape.batch_size, 1)).astype(shape.dtype)
    else:
        y = rng.standard_normal((*leading, shape.batch_size, shape.n_outputs)).astype(shape.dtype)
    return X, y


def _step(network: DenseNetwork, X: np.ndarray, y: np.ndarray) -> None:
    """One training step as the step program takes it: gradients, then an update per array."""
    grads = network.gradients(X, y)
    for name, grad in grads.items():
        network.params[name] -= 1e-3 * grad


def stacking_gain(shape: NetworkShape, k: int, seed: int = 0) -> float:
    """How many times faster ``k`` runs of ``shape`` train a step in a stack than one after
    another, timed here: ``k`` times the fastest of a run's steps against the fastest of the
    stack's, over :data:`PASSES` each, alternating (the minimum is what a step costs when
    nothing else takes the core: other processes only ever add to a timing)."""
    rng = np.random.default_rng(seed)
    alone = _network(shape, rng)
    stack = alone.stacked(k)
    for name, value in alone.params.items():
        stack.params[name][...] = value
    X, y = _batch(shape, rng)
    Xs, ys = _batch(shape, rng, leading=(k,))
    best_alone = best_stacked = float("inf")
    with np.errstate(all="ignore"):  # random data may overflow a sigmoid: not what is timed
        _step(alone, X, y), _step(stack, Xs, ys)  # first calls allocate; not timed
        for _ in range(PASSES):
            for _ in range(k):
                started = time.perf_counter()
                _step(alone, X, y)
                best_alone = min(best_alone, time.perf_counter() - started)
            started = time.perf_counter()
            _step(stack, Xs, ys)
            best_stacked = min(best_stacked, time.perf_counter() - started)
    return k * best_alone / best_stacked


def auto_stack_size(shape: NetworkShape) -> int:
    """The stack ``"auto"`` trains with: the largest of :data:`CANDIDATES` that is at least
    :data:`MIN_GAIN` times faster per run than the next smaller choice (1 first), timed with
    one BLAS thread, as workers train."""
    from threadpoolctl import threadpool_limits

    chosen, gain_of_chosen = 1, 1.0
    with threadpool_limits(limits=1):
        for k in CANDIDATES:
            gain = stacking_gain(shape, k)
            if gain < gain_of_chosen * MIN_GAIN:
                break
            chosen, gain_of_chosen = k, gain
    return chosen
