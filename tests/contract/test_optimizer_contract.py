"""The optimizer contract, run against every optimizer the plugin manager registers.

A new optimizer gets these tests for free; give it an entry in ``OPTIONS`` only if the default
learning rate below does not suit it.
"""

from __future__ import annotations

import copy
import inspect
import typing

import numpy as np
import pytest

from sweepnp import OptionError
from sweepnp.plugins import PluginManager

REGISTRY = PluginManager(load_entrypoints=False).registry["optimizers"]
NAMES = sorted(REGISTRY)

#: Options that make each optimizer converge on the quadratic below; the default suits most.
DEFAULT_OPTIONS = {"lr": 0.05}
OPTIONS = {
    "sgd": {"lr": 0.1},
    "momentum": {"lr": 0.02},
    "nesterov": {"lr": 0.02},
    "adagrad": {"lr": 0.5},
    "rmsprop": {"lr": 0.01},
    "adam": {"lr": 0.05},
    "adamw": {"lr": 0.05},  # the default weight_decay moves the optimum only slightly
}

STEPS = 300


def make(name, **overrides):
    return REGISTRY[name].factory(**{**OPTIONS.get(name, DEFAULT_OPTIONS), **overrides})


SHAPES = {"w": (3, 2), "b": (2,)}


class Quadratic:
    """f(θ) = ½ θᵀAθ − bᵀθ over θ = (w.ravel(), b): A SPD with eigenvalues in [1, 8]."""

    def __init__(self, seed=0):
        self.shapes = SHAPES
        rng = np.random.default_rng(seed)
        n = sum(int(np.prod(s)) for s in self.shapes.values())
        q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        self.A = q @ np.diag(np.linspace(1.0, 8.0, n)) @ q.T
        self.b = rng.normal(size=n)
        self.optimum = np.linalg.solve(self.A, self.b)
        self.start = self.optimum + rng.normal(size=n)

    def flat(self, params):
        return np.concatenate([params[name].ravel() for name in self.shapes])

    def split(self, theta):
        out, i = {}, 0
        for name, shape in self.shapes.items():
            size = int(np.prod(shape))
            out[name] = theta[i : i + size].reshape(shape).copy()
            i += size
        return out

    def value(self, params):
        theta = self.flat(params)
        return 0.5 * theta @ self.A @ theta - self.b @ theta

    def grads(self, params):
        return self.split(self.A @ self.flat(params) - self.b)

    def initial_params(self):
        return self.split(self.start)


def run_steps(optimizer, problem, params, steps, lr):
    for _ in range(steps):
        optimizer.step(params, problem.grads(params), lr)


@pytest.mark.parametrize("name", NAMES)
def test_minimizes_a_convex_quadratic(name):
    problem = Quadratic()
    params = problem.initial_params()
    optimizer = make(name)
    optimizer.setup(params, weight_names={"w"})
    f_opt = problem.value(problem.split(problem.optimum))
    f_start = problem.value(params)
    run_steps(optimizer, problem, params, STEPS, optimizer.lr)
    gap = problem.value(params) - f_opt
    assert gap <= 0.1 * (f_start - f_opt), f"{name} closed only {1 - gap / (f_start - f_opt):.1%}"


@pytest.mark.parametrize("name", NAMES)
def test_updates_in_place_keeping_the_dtype(name):
    problem = Quadratic()
    params = {k: v.astype(np.float32) for k, v in problem.initial_params().items()}
    before = {k: v.copy() for k, v in params.items()}
    ids = {k: id(v) for k, v in params.items()}
    optimizer = make(name)
    optimizer.setup(params, weight_names={"w"})
    grads = {k: v.astype(np.float32) for k, v in problem.grads(params).items()}
    # schedules return NumPy float64 scalars: they must not turn float32 parameters into float64
    optimizer.step(params, grads, np.float64(optimizer.lr))
    assert optimizer.t == 1
    for k, param in params.items():
        assert id(param) == ids[k]
        assert param.dtype == np.float32
        assert not np.array_equal(param, before[k])
        for array in optimizer.state[k].values():
            assert array.dtype == np.float32


@pytest.mark.parametrize("name", NAMES)
def test_uses_the_lr_passed_to_step(name):
    problem = Quadratic()
    results = []
    for own_lr in (0.001, 0.3):
        params = problem.initial_params()
        optimizer = make(name, lr=own_lr)
        optimizer.setup(params, weight_names={"w"})
        run_steps(optimizer, problem, params, 5, 0.01)
        results.append(params)
    for k in results[0]:
        np.testing.assert_array_equal(results[0][k], results[1][k])


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name):
    problem = Quadratic()
    k, m = 7, 11
    params = problem.initial_params()
    optimizer = make(name)
    optimizer.setup(params, weight_names={"w"})
    run_steps(optimizer, problem, params, k, optimizer.lr)
    saved = optimizer.state_dict()
    params_at_k = copy.deepcopy(params)
    run_steps(optimizer, problem, params, m, optimizer.lr)

    resumed = make(name)
    resumed.setup(params_at_k, weight_names={"w"})
    resumed.load_state_dict(saved)
    assert resumed.t == k
    run_steps(resumed, problem, params_at_k, m, resumed.lr)
    for key in params:
        np.testing.assert_array_equal(params_at_k[key], params[key])
    assert resumed.t == optimizer.t == k + m


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_is_a_deep_copy(name):
    problem = Quadratic()
    params = problem.initial_params()
    optimizer = make(name)
    optimizer.setup(params, weight_names={"w"})
    run_steps(optimizer, problem, params, 3, optimizer.lr)
    reference = copy.deepcopy(optimizer.state)

    saved = optimizer.state_dict()
    saved["t"] = 1000
    for state in saved["state"].values():
        for array in state.values():
            array += 1.0
        state["extra"] = np.zeros(1)
    assert optimizer.t == 3
    assert_same_state(optimizer.state, reference)

    # and loading copies too: the saved dict can be changed afterwards
    fresh = make(name)
    fresh.setup(params, weight_names={"w"})
    clean = optimizer.state_dict()
    fresh.load_state_dict(clean)
    for state in clean["state"].values():
        for array in state.values():
            array *= 0.0
    assert_same_state(fresh.state, reference)


def assert_same_state(state, reference):
    assert state.keys() == reference.keys()
    for key in reference:
        assert state[key].keys() == reference[key].keys()
        for name, array in reference[key].items():
            np.testing.assert_array_equal(state[key][name], array)


def float_options(factory):
    """The names of the factory's options hinted ``float``: the ones a sweep may stack."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    hints = typing.get_type_hints(target)
    return [n for n in inspect.signature(target).parameters if hints.get(n) is float]


#: The layout of one trial's parameters when trials are stacked on a leading axis.
TRIAL_SHAPES = {"w": (3, 2), "b": (1, 2)}


@pytest.mark.parametrize("name", NAMES)
def test_array_hyperparameters_broadcast_over_a_trial_axis(name):
    """Two trials stacked on a leading axis, each with its own options, match two single runs."""
    factory = REGISTRY[name].factory
    base = OPTIONS.get(name, DEFAULT_OPTIONS)
    target = factory.__init__ if inspect.isclass(factory) else factory
    defaults = {n: p.default for n, p in inspect.signature(target).parameters.items()}
    first = {**defaults, **base}
    if any(first[option] is inspect.Parameter.empty for option in float_options(factory)):
        pytest.skip("a required float option has no value here")
    # halving keeps every float option valid: lr, beta, eps, weight_decay
    trials = [{o: first[o] * scale for o in float_options(factory)} for scale in (1.0, 0.5)]
    lrs = [0.05, 0.02]
    problems = [Quadratic(seed=1), Quadratic(seed=2)]

    singles = []
    for problem, options, lr in zip(problems, trials, lrs, strict=True):
        params = problem.initial_params()
        optimizer = factory(**{**base, **options})
        optimizer.setup(params, weight_names={"w"})
        run_steps(optimizer, problem, params, 20, lr)
        singles.append(params)

    stacked_options = {o: np.array([t[o] for t in trials]).reshape(-1, 1, 1) for o in trials[0]}
    optimizer = factory(**{**base, **stacked_options})
    stacked = {
        k: np.stack([p.initial_params()[k].reshape(shape) for p in problems])
        for k, shape in TRIAL_SHAPES.items()
    }
    optimizer.setup(stacked, weight_names={"w"})
    for _ in range(20):
        per_trial = [p.grads({k: v[i] for k, v in stacked.items()}) for i, p in enumerate(problems)]
        grads = {
            k: np.stack([g[k].reshape(shape) for g in per_trial])
            for k, shape in TRIAL_SHAPES.items()
        }
        optimizer.step(stacked, grads, np.reshape(lrs, (-1, 1, 1)))

    for i, single in enumerate(singles):
        for k, param in single.items():
            np.testing.assert_allclose(stacked[k][i].reshape(param.shape), param, rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("lr", [0.0, -1.0])
def test_rejects_a_non_positive_lr(name, lr):
    with pytest.raises(OptionError) as info:
        make(name, lr=lr)
    assert info.value.option == "lr"
