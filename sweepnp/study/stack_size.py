"""How many runs a worker stacks when the study file says ``stack = "auto"``: measured on this
machine for the study's own network, not guessed.

Stacking K runs replaces K training steps — each a few matrix products and a dozen Python calls
— by one step on arrays with a leading axis of K. It pays while the Python calls and small
products dominate (breast cancer's 30-16-1 network trains 1.6–2.9× faster per run-epoch in a
stack), and not once the products are large enough to keep BLAS busy alone: a 784-256-10
network on batches of 128 gains nothing and holds K copies of every activation. So before its
first trial a worker times both on random data of the study's shapes — K forward and backward
passes and parameter updates one run at a time, against one pass of a stack of K — and keeps
the stack only where it is at least :data:`MIN_GAIN` times faster (:func:`stacking_gain`).

A stack saves at most what every step costs whatever its size — the Python calls and each
product's fixed cost — once per run but one; its products do the same arithmetic. So the probe
first times a step of the network alone and a step of the same depth one unit wide on one row
(:func:`stacking_bound`): where even saving all of that cannot make a stack :data:`MIN_GAIN`
times faster, it stops there, without building a stack (an MNIST-size network: about 15 ms
instead of 0.1 s). The probe takes a few milliseconds for small networks, once per worker.

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
    "stacking_bound",
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
    batch, rows = config.train.batch_size, len(data.X_train)
    return NetworkShape(
        n_inputs=data.n_features,
        n_outputs=data.n_outputs,
        hidden=tuple(config.model.hidden),
        task=data.task,
        activation=config.model.activation,
        batch_size=rows if batch == "full" else min(batch, rows),
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


def _fastest_step(network: DenseNetwork, X: np.ndarray, y: np.ndarray, passes: int) -> float:
    best = float("inf")
    with np.errstate(all="ignore"):
        _step(network, X, y)  # the first call allocates; not timed
        for _ in range(passes):
            started = time.perf_counter()
            _step(network, X, y)
            best = min(best, time.perf_counter() - started)
    return best


def stacking_bound(shape: NetworkShape, k: int, seed: int = 0) -> float:
    """The most a stack of ``k`` runs of ``shape`` could gain per run, timed here: a run's step
    against the same step less ``(k - 1) / k`` of a step's fixed cost (a network of the same
    depth, one unit wide, on one row), which is all a stack can save."""
    rng = np.random.default_rng(seed)
    tiny = NetworkShape(1, 1, (1,) * len(shape.hidden), shape.task, shape.activation, 1,
                        shape.dtype)  # fmt: skip
    fixed = _fastest_step(_network(tiny, rng), *_batch(tiny, rng), PASSES)
    alone = _fastest_step(_network(shape, rng), *_batch(shape, rng), PASSES)
    return alone / max(alone - fixed * (k - 1) / k, fixed / k)


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
    one BLAS thread, as workers train; 1 at once where :func:`stacking_bound` says that no
    stack can be."""
    from threadpoolctl import threadpool_limits

    chosen, gain_of_chosen = 1, 1.0
    with threadpool_limits(limits=1):
        if stacking_bound(shape, CANDIDATES[-1]) < MIN_GAIN:
            return 1  # arithmetic-bound: no stack can pay
        for k in CANDIDATES:
            gain = stacking_gain(shape, k)
            if gain < gain_of_chosen * MIN_GAIN:
                break
            chosen, gain_of_chosen = k, gain
    return chosen
