"""The plugin contract kit: the checks every optimizer, regularizer, schedule and callback passes.

sweepnp runs its own built-in plugins through these classes (``tests/contract``); a plugin author
runs their plugin through the same ones, by subclassing a contract in their own test file::

    from sweepnp.testing import OptimizerContract


    class TestLion(OptimizerContract):
        factory = Lion  # what the plugin registers: a class or a function
        options = {"lr": 0.01}  # the options a run file would give it

pytest then collects every ``test_*`` method of the contract as a test of ``TestLion``. The
contracts are:

* :class:`OptimizerContract` — reduces a convex quadratic; updates in place, keeping the dtype;
  uses the learning rate passed to ``step``; ``state_dict`` round-trips and is a deep copy; float
  options may be arrays over a leading trial axis; a non-positive ``lr`` is refused.
* :class:`PenaltyContract` — a weight penalty: its gradient passes :func:`sweepnp.check_gradients`;
  one finite penalty per matrix, and one per trial for a stack of them.
* :class:`MaskContract` — an activation mask: right shape and dtype, expectation 1, reproducible
  from the generator it is given, stackable over a trial axis.
* :class:`RegularizerContract` — both of the above, each where the regularizer provides it.
* :class:`ScheduleContract` — finite, positive rates over training; deterministic; scalar in,
  scalar out; an array ``base_lr`` broadcasts; ``interval`` is kept and checked.
* :class:`CallbackContract` — trains short runs (float64 and float32) with the callback chosen by
  name, leaves the gradients usable, and keeps runs reproducible.

Every contract also checks that ``options`` pass the run-file validation sweepnp applies (the
factory's signature and type hints, no ``**kwargs``).

Without pytest, :func:`check_optimizer`, :func:`check_penalty`, :func:`check_mask`,
:func:`check_regularizer`, :func:`check_schedule` and :func:`check_callback` run every check of a
contract and raise :class:`ContractFailure` listing the ones that failed. Importing this module
does not import pytest; a check that does not apply raises :class:`unittest.SkipTest`, which pytest
reports as a skip.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import tempfile
import types
import typing
import unittest
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from sweepnp.callbacks import Callback
from sweepnp.errors import OptionError, SweepnpError
from sweepnp.hookspecs import hookimpl
from sweepnp.optimizers import Optimizer
from sweepnp.regularizers import Regularizer
from sweepnp.schedules import Schedule

__all__ = [
    "CallbackContract",
    "Contract",
    "ContractFailure",
    "MaskContract",
    "OptimizerContract",
    "PenaltyContract",
    "Quadratic",
    "RegularizerContract",
    "ScheduleContract",
    "check_callback",
    "check_mask",
    "check_optimizer",
    "check_penalty",
    "check_regularizer",
    "check_schedule",
]


class ContractFailure(AssertionError):
    """A plugin broke its contract; the message says what was expected and what happened."""


def _fail(contract: Contract, message: str) -> typing.NoReturn:
    raise ContractFailure(f"{contract.subject}: {message}")


def _skip(reason: str) -> typing.NoReturn:
    raise unittest.SkipTest(reason)


def _stackable(factory: Callable[..., Any], options: Mapping[str, Any]) -> dict[str, float]:
    """The options hinted ``float`` with a number, given or default: what a sweep may stack."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable annotations: nothing is known to be a float
        return {}
    parameters = inspect.signature(target).parameters
    values = {n: p.default for n, p in parameters.items() if p.default is not p.empty}
    values.update(options)
    return {
        n: values[n]
        for n in parameters
        if hints.get(n) is float and isinstance(values.get(n), int | float)
    }


class Contract:
    """What every contract shares: the plugin under test and its options.

    Set :attr:`factory` (what the plugin registers under its name) and, if it needs any,
    :attr:`options` (the keyword arguments a run file would pass) on the subclass.
    """

    #: The run-file key its options live under, for messages.
    key: str = ""
    #: The factory under test: usually the plugin's class.
    factory: Callable[..., Any]
    #: Options passed to the factory, as a run file would.
    options: Mapping[str, Any] = types.MappingProxyType({})

    @property
    def subject(self) -> str:
        """The factory and its options, as messages name them."""
        try:
            factory = self._factory()
        except ContractFailure:
            return type(self).__name__
        name = getattr(factory, "__qualname__", None) or repr(factory)
        return f"{name}({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"

    def _factory(self) -> Callable[..., Any]:
        try:
            factory = self.factory
        except AttributeError:
            raise ContractFailure(
                f"{type(self).__name__} has no factory: set `factory = YourPlugin` on it"
            ) from None
        # A plain function set as a class attribute comes back bound to the contract.
        if inspect.ismethod(factory) and factory.__self__ is self:
            return factory.__func__
        return factory

    def make(self, **overrides: Any) -> Any:
        """Call the factory with :attr:`options`, updated by ``overrides``."""
        return self._factory()(**{**self.options, **overrides})

    def test_options_validate_like_a_run_file(self) -> None:
        """The options pass the run-file validation: signature, type hints, no ``**kwargs``."""
        from sweepnp.plugins import validate_options

        try:
            validate_options(self._factory(), self.options, key=self.key)
        except SweepnpError as exc:
            _fail(self, f"these options would be refused in a run file: {exc}")


# -------------------------------------------------------------------------
# Optimizers
# -------------------------------------------------------------------------

#: The parameters of the quadratic problem: one weight matrix and one bias.
SHAPES = {"w": (3, 2), "b": (2,)}
#: The layout of one trial's parameters when trials are stacked on a leading axis.
TRIAL_SHAPES = {"w": (3, 2), "b": (1, 2)}


class Quadratic:
    """f(θ) = ½ θᵀAθ − bᵀθ over θ = (w.ravel(), b), with A SPD and eigenvalues in [1, 8].

    The problem every optimizer must make progress on: a convex bowl whose minimum is known.

    Parameters
    ----------
    seed : int
        Seeds A, b and the starting point (the optimum plus a standard normal offset).
    """

    def __init__(self, seed: int = 0) -> None:
        self.shapes = SHAPES
        rng = np.random.default_rng(seed)
        n = sum(int(np.prod(s)) for s in self.shapes.values())
        q, _ = np.linalg.qr(rng.normal(size=(n, n)))
        self.A = q @ np.diag(np.linspace(1.0, 8.0, n)) @ q.T
        self.b = rng.normal(size=n)
        self.optimum = np.linalg.solve(self.A, self.b)
        self.start = self.optimum + rng.normal(size=n)

    def flat(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([params[name].ravel() for name in self.shapes])

    def split(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        out, i = {}, 0
        for name, shape in self.shapes.items():
            size = int(np.prod(shape))
            out[name] = theta[i : i + size].reshape(shape).copy()
            i += size
        return out

    def value(self, params: Mapping[str, np.ndarray]) -> float:
        theta = self.flat(params)
        return float(0.5 * theta @ self.A @ theta - self.b @ theta)

    def grads(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.split(self.A @ self.flat(params) - self.b)

    def initial_params(self) -> dict[str, np.ndarray]:
        return self.split(self.start)

    def minimum(self) -> float:
        return self.value(self.split(self.optimum))


def _run_steps(
    optimizer: Optimizer, problem: Quadratic, params: dict[str, np.ndarray], steps: int, lr: Any
) -> None:
    for _ in range(steps):
        optimizer.step(params, problem.grads(params), lr)


def _same_state(state: Mapping[str, Any], reference: Mapping[str, Any]) -> str | None:
    """How ``state`` differs from ``reference`` (per-parameter dicts of arrays), or ``None``."""
    if state.keys() != reference.keys():
        return f"parameters {sorted(state)} instead of {sorted(reference)}"
    for key in reference:
        if state[key].keys() != reference[key].keys():
            return f"state[{key!r}] holds {sorted(state[key])}, not {sorted(reference[key])}"
        for name, array in reference[key].items():
            if not np.array_equal(state[key][name], array):
                return f"state[{key!r}][{name!r}] changed"
    return None


class OptimizerContract(Contract):
    """The optimizer contract: subclass it, set :attr:`factory` and (optionally) :attr:`options`.

    ``options`` should make the optimizer converge on :class:`Quadratic` within :attr:`steps`
    steps at its own ``lr`` (e.g. ``{"lr": 0.05}``).
    """

    key = "optimizer"
    #: Steps taken on the quadratic.
    steps = 300
    #: The fraction of the gap between the start and the minimum those steps must close.
    closes = 0.9
    #: Scales applied to every float option to make two trials for the trial-axis check.
    trial_scales: Sequence[float] = (1.0, 0.5)

    def test_is_a_sweepnp_optimizer(self) -> None:
        optimizer = self.make()
        if not isinstance(optimizer, Optimizer):
            _fail(self, f"builds a {type(optimizer).__name__}; subclass sweepnp.Optimizer")
        if getattr(optimizer, "lr", None) is None:
            _fail(self, "has no `lr` attribute: keep the base learning rate as self.lr")

    def test_reduces_a_convex_quadratic(self) -> None:
        problem = Quadratic()
        params = problem.initial_params()
        optimizer = self.make()
        optimizer.setup(params, weight_names={"w"})
        f_opt, f_start = problem.minimum(), problem.value(params)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging optimizer is reported
            _run_steps(optimizer, problem, params, self.steps, optimizer.lr)
            f_end = problem.value(params)
        closed = (f_start - f_end) / (f_start - f_opt) if np.isfinite(f_end) else -np.inf
        if not closed >= self.closes:
            if closed > 0:
                progress = f"they closed only {closed:.1%}"
            else:
                progress = f"the loss rose from {f_start:.4g} to {f_end:.4g}"
            _fail(
                self,
                f"{self.steps} steps on a convex quadratic at lr={optimizer.lr!r} must close "
                f"{self.closes:.0%} of the gap to its minimum {f_opt:.4g}, but {progress}. "
                "update() must move the parameters against the gradient; if it needs other "
                "options to converge here, set `options`.",
            )

    def test_updates_in_place_keeping_the_dtype(self) -> None:
        problem = Quadratic()
        params = {k: v.astype(np.float32) for k, v in problem.initial_params().items()}
        before = {k: v.copy() for k, v in params.items()}
        arrays = dict(params)
        optimizer = self.make()
        optimizer.setup(params, weight_names={"w"})
        grads = {k: v.astype(np.float32) for k, v in problem.grads(params).items()}
        # Schedules return NumPy float64 scalars: they must not turn float32 parameters to float64.
        optimizer.step(params, grads, np.float64(optimizer.lr))
        if optimizer.t != 1:
            _fail(self, f"t is {optimizer.t} after one step, not 1: step() must count steps")
        for k, param in params.items():
            if param is not arrays[k]:
                _fail(
                    self,
                    f"step() replaced params[{k!r}] with a new array; the trainer and the model "
                    "hold the original, so update it in place (param -= ..., not param = ...)",
                )
            if param.dtype != np.float32:
                _fail(self, f"params[{k!r}] became {param.dtype} instead of staying float32")
            if np.array_equal(param, before[k]):
                _fail(
                    self,
                    f"params[{k!r}] is unchanged after a step with a nonzero gradient: update() "
                    "must change `param` in place (param -= ..., not param = param - ...)",
                )
            for name, array in optimizer.state[k].items():
                if np.asarray(array).dtype != np.float32:
                    _fail(
                        self,
                        f"state[{k!r}][{name!r}] is {np.asarray(array).dtype} for float32 "
                        "parameters: allocate state with np.zeros_like(param)",
                    )

    def test_uses_the_lr_passed_to_step(self) -> None:
        problem = Quadratic()
        results = []
        for own_lr in (0.001, 0.3):
            params = problem.initial_params()
            optimizer = self.make(lr=own_lr)
            optimizer.setup(params, weight_names={"w"})
            _run_steps(optimizer, problem, params, 5, 0.01)
            results.append(params)
        for k in results[0]:
            if not np.array_equal(results[0][k], results[1][k]):
                _fail(
                    self,
                    "two optimizers built with lr=0.001 and lr=0.3, stepped with the same "
                    f"lr=0.01, moved params[{k!r}] differently: use the `lr` argument of "
                    "update()/begin_step() (the scheduled rate), never self.lr",
                )

    def test_state_dict_round_trip(self) -> None:
        problem = Quadratic()
        k, m = 7, 11
        params = problem.initial_params()
        optimizer = self.make()
        optimizer.setup(params, weight_names={"w"})
        _run_steps(optimizer, problem, params, k, optimizer.lr)
        saved = optimizer.state_dict()
        params_at_k = copy.deepcopy(params)
        _run_steps(optimizer, problem, params, m, optimizer.lr)

        resumed = self.make()
        resumed.setup(params_at_k, weight_names={"w"})
        resumed.load_state_dict(saved)
        if resumed.t != k:
            _fail(self, f"t is {resumed.t} after load_state_dict of a state saved at t = {k}")
        _run_steps(resumed, problem, params_at_k, m, resumed.lr)
        for key in params:
            if not np.array_equal(params_at_k[key], params[key]):
                _fail(
                    self,
                    f"resumed from state_dict() after {k} steps, {m} more steps gave a different "
                    f"params[{key!r}] than {k + m} uninterrupted steps: state_dict() must hold "
                    "everything update() depends on (keep it in self.state[name]) and "
                    "load_state_dict() must restore it",
                )
        if resumed.t != optimizer.t:
            _fail(self, f"t is {resumed.t} after resuming, {optimizer.t} without interruption")

    def test_state_dict_is_a_deep_copy(self) -> None:
        problem = Quadratic()
        params = problem.initial_params()
        optimizer = self.make()
        optimizer.setup(params, weight_names={"w"})
        _run_steps(optimizer, problem, params, 3, optimizer.lr)
        reference = copy.deepcopy(optimizer.state)

        saved = optimizer.state_dict()
        saved["t"] = 1000
        for state in saved["state"].values():
            for array in state.values():
                array += 1.0
            state["extra"] = np.zeros(1)
        difference = _same_state(optimizer.state, reference)
        if optimizer.t != 3 or difference:
            _fail(
                self,
                "changing the dict returned by state_dict() changed the optimizer itself "
                f"({difference or 't changed'}): state_dict() must return a deep copy "
                "(copy.deepcopy, as the base class does)",
            )

        fresh = self.make()
        fresh.setup(params, weight_names={"w"})
        clean = optimizer.state_dict()
        fresh.load_state_dict(clean)
        for state in clean["state"].values():
            for array in state.values():
                array *= 0.0
            state["extra"] = np.zeros(1)
        difference = _same_state(fresh.state, reference)
        if difference:
            _fail(
                self,
                f"changing a dict after load_state_dict() changed the optimizer ({difference}): "
                "load_state_dict() must copy what it is given (copy.deepcopy)",
            )

    def test_array_hyperparameters_broadcast_over_a_trial_axis(self) -> None:
        """Two trials stacked on a leading axis, each with its own options, match two runs."""
        first = _stackable(self._factory(), self.options)
        floats = list(first)
        trials = [{o: first[o] * scale for o in floats} for scale in self.trial_scales]
        lrs = [0.05 * scale for scale in self.trial_scales]
        problems = [Quadratic(seed=1 + i) for i in range(len(trials))]

        singles = []
        for problem, options, lr in zip(problems, trials, lrs, strict=True):
            params = problem.initial_params()
            try:
                optimizer = self.make(**options)
            except OptionError as exc:
                _fail(
                    self,
                    f"refuses its float options scaled to {options}: {exc}; set `trial_scales`",
                )
            optimizer.setup(params, weight_names={"w"})
            _run_steps(optimizer, problem, params, 20, lr)
            singles.append(params)

        n = len(trials)
        stacked_options = {o: np.array([t[o] for t in trials]).reshape(n, 1, 1) for o in floats}
        stacked = {
            k: np.stack([p.initial_params()[k].reshape(shape) for p in problems])
            for k, shape in TRIAL_SHAPES.items()
        }
        what = ", ".join(dict.fromkeys(["lr", *floats]))
        try:
            optimizer = self.make(**stacked_options)
            optimizer.setup(stacked, weight_names={"w"})
            for _ in range(20):
                per_trial = [
                    p.grads({k: v[i] for k, v in stacked.items()}) for i, p in enumerate(problems)
                ]
                grads = {
                    k: np.stack([g[k].reshape(shape) for g in per_trial])
                    for k, shape in TRIAL_SHAPES.items()
                }
                optimizer.step(stacked, grads, np.reshape(lrs, (n, 1, 1)))
        except Exception as exc:
            _fail(
                self,
                f"with {what} as arrays of shape ({n}, 1, 1), one value per trial, it raised "
                f"{type(exc).__name__}: {exc}. Write the maths as whole-array NumPy: never "
                "float() or `if` on a hyperparameter",
            )
        for i, single in enumerate(singles):
            for k, param in single.items():
                if not np.allclose(stacked[k][i].reshape(param.shape), param, rtol=1e-12, atol=0):
                    _fail(
                        self,
                        f"with {what} stacked over a leading trial axis, trial {i} of "
                        f"params[{k!r}] differs from a single run with that trial's values: "
                        "write the maths as whole-array NumPy that broadcasts (never float() or "
                        "`if` on a hyperparameter)",
                    )

    def test_rejects_a_non_positive_lr(self) -> None:
        for lr in (0.0, -1.0):
            try:
                self.make(lr=lr)
            except OptionError as exc:
                if exc.option != "lr":
                    _fail(self, f"lr={lr} raised an OptionError about {exc.option!r}, not 'lr'")
                continue
            except Exception as exc:
                _fail(
                    self,
                    f"lr={lr} raised {type(exc).__name__}, not sweepnp.OptionError: check it with "
                    "sweepnp.options.positive('lr', lr)",
                )
            _fail(self, f"accepted lr={lr}: check it with sweepnp.options.positive('lr', lr)")


# -------------------------------------------------------------------------
# Regularizers
# -------------------------------------------------------------------------


class _RegularizerChecks(Contract):
    key = "regularizers"
    #: Scales applied to every float option to make the trials of the trial-axis checks.
    trial_scales: Sequence[float] = (1.0, 0.5, 0.25)

    def _stacked_options(self) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
        first = _stackable(self._factory(), self.options)
        trials = [{o: value * scale for o, value in first.items()} for scale in self.trial_scales]
        n = len(trials)
        stacked = {o: np.array([t[o] for t in trials]).reshape(n, 1, 1) for o in first}
        return trials, stacked


class PenaltyContract(_RegularizerChecks):
    """The contract of a regularizer that adds a weight penalty (``penalty`` and ``gradient``)."""

    #: The largest relative error :func:`sweepnp.check_gradients` may report.
    gradient_tolerance = 1e-6
    #: Fail (rather than skip) when the regularizer provides no penalty.
    requires_penalty = True

    def _penalty(self) -> Regularizer:
        regularizer = self.make()
        provides = getattr(regularizer, "penalizes_weights", None)
        if provides is None or not provides():
            if self.requires_penalty:
                _fail(
                    self,
                    "provides no weight penalty: subclass sweepnp.Regularizer and override "
                    "penalty() and gradient()",
                )
            _skip(f"{self.subject} provides no weight penalty")
        return regularizer

    def test_gradient_passes_the_gradient_check(self) -> None:
        from sweepnp.gradcheck import check_gradients

        regularizer = self._penalty()
        weight = np.random.default_rng(0).normal(size=(4, 3))
        gradient = np.asarray(regularizer.gradient(weight))
        if gradient.shape != weight.shape:
            _fail(self, f"gradient() of a {weight.shape} matrix has shape {gradient.shape}")
        errors = check_gradients(regularizers=[regularizer])
        worst = max(errors, key=errors.__getitem__)
        if not errors[worst] < self.gradient_tolerance:
            _fail(
                self,
                f"the gradient check failed: relative error {errors[worst]:.2e} for {worst} "
                f"(needs < {self.gradient_tolerance:g}). gradient(W) must be the derivative of "
                "penalty(W) with respect to W",
            )

    def test_one_finite_penalty_per_matrix(self) -> None:
        regularizer = self._penalty()
        weight = np.random.default_rng(1).normal(size=(5, 4))
        penalty = regularizer.penalty(weight)
        if np.ndim(penalty) != 0:
            _fail(self, f"penalty() of one matrix has shape {np.shape(penalty)}: return a number")
        if not np.isfinite(penalty):
            _fail(self, f"penalty() of a standard normal matrix is {penalty}")

    def test_penalty_stacks_over_a_trial_axis(self) -> None:
        """Weights and float options stacked on a leading axis: one penalty per trial."""
        regularizer = self._penalty()
        trials, stacked_options = self._stacked_options()
        n = len(trials)
        weights = np.random.default_rng(2).normal(size=(n, 4, 3))
        try:
            stacked = self.make(**stacked_options) if stacked_options else regularizer
            penalty = np.asarray(stacked.penalty(weights))
            gradient = np.asarray(stacked.gradient(weights))
        except Exception as exc:
            _fail(self, f"on weights stacked as ({n}, 4, 3) it raised {type(exc).__name__}: {exc}")
        if penalty.shape != (n,):
            options = f" and {', '.join(stacked_options)} of shape ({n}, 1, 1)"
            _fail(
                self,
                f"penalty() of {n} stacked (4, 3) matrices{options if stacked_options else ''} "
                f"has shape {penalty.shape}, not ({n},): sum over the last two axes only "
                "(axis=(-2, -1)), with the hyperparameters inside the sum",
            )
        for k, options in enumerate(trials):
            single = self.make(**options)
            if not np.isclose(penalty[k], single.penalty(weights[k]), rtol=1e-12, atol=0):
                _fail(self, f"trial {k} of a stacked penalty differs from a single penalty")
            if not np.allclose(gradient[k], single.gradient(weights[k]), rtol=1e-12, atol=0):
                _fail(self, f"trial {k} of a stacked gradient differs from a single gradient")


class MaskContract(_RegularizerChecks):
    """The contract of a regularizer that masks hidden activations in training (``mask``)."""

    #: The activation shape masks are drawn for.
    mask_shape: tuple[int, int] = (400, 50)
    #: How far a mask's mean may be from 1.
    mean_tolerance = 0.05
    #: Fail (rather than skip) when the regularizer provides no mask.
    requires_mask = True

    def _masker(self) -> Regularizer:
        regularizer = self.make()
        provides = getattr(regularizer, "masks_activations", None)
        if provides is None or not provides():
            if self.requires_mask:
                _fail(
                    self,
                    "provides no activation mask: subclass sweepnp.Regularizer and override "
                    "mask(shape, rng, dtype)",
                )
            _skip(f"{self.subject} provides no activation mask")
        return regularizer

    def _check_mask(self, mask: Any, shape: tuple[int, ...], dtype: Any, what: str) -> None:
        if not isinstance(mask, np.ndarray) or mask.shape != shape:
            _fail(self, f"{what}: mask{shape} gave shape {np.shape(mask)}, not {shape}")
        if mask.dtype != dtype:
            _fail(self, f"{what}: mask(..., dtype={np.dtype(dtype).name}) gave {mask.dtype}")
        if not np.all(np.isfinite(mask)):
            _fail(self, f"{what}: the mask holds non-finite values")

    def test_mask_has_the_shape_and_dtype_asked_for(self) -> None:
        regularizer = self._masker()
        for dtype in (np.float32, np.float64):
            mask = regularizer.mask(self.mask_shape, np.random.default_rng(0), dtype)
            self._check_mask(mask, self.mask_shape, dtype, np.dtype(dtype).name)

    def test_mask_keeps_the_expectation(self) -> None:
        regularizer = self._masker()
        mask = regularizer.mask(self.mask_shape, np.random.default_rng(0), np.float64)
        mean = float(np.mean(mask))
        if not abs(mean - 1.0) <= self.mean_tolerance:
            _fail(
                self,
                f"the mask's mean is {mean:.3f}, not 1: evaluation applies no mask, so a mask "
                "must keep each activation's expectation (inverted dropout divides the kept "
                "units by 1 - rate)",
            )

    def test_mask_is_reproducible_from_the_generator(self) -> None:
        regularizer = self._masker()
        first = regularizer.mask(self.mask_shape, np.random.default_rng(3), np.float64)
        again = regularizer.mask(self.mask_shape, np.random.default_rng(3), np.float64)
        if not np.array_equal(first, again):
            _fail(
                self,
                "two masks drawn from generators with the same seed differ: draw every random "
                "number from the `rng` argument (never np.random.* or a generator of your own), "
                "or runs cannot be reproduced",
            )

    def test_mask_stacks_over_a_trial_axis(self) -> None:
        self._masker()
        trials, stacked_options = self._stacked_options()
        n = len(trials)
        shape = (n, *self.mask_shape)
        regularizer = self.make(**stacked_options)
        try:
            mask = regularizer.mask(shape, np.random.default_rng(0), np.float32)
        except Exception as exc:
            _fail(self, f"mask{shape} with stacked options raised {type(exc).__name__}: {exc}")
        self._check_mask(mask, shape, np.float32, f"{n} trials stacked")
        for k in range(n):
            mean = float(np.mean(mask[k], dtype=np.float64))
            if not abs(mean - 1.0) <= self.mean_tolerance:
                _fail(self, f"trial {k} of a stacked mask has mean {mean:.3f}, not 1")


class RegularizerContract(PenaltyContract, MaskContract):
    """A regularizer's contract: the penalty checks if it has a penalty, the mask checks if it
    masks, and at least one of the two. (Checks of the part it does not provide are skipped.)"""

    requires_penalty = False
    requires_mask = False

    def test_provides_a_penalty_or_a_mask(self) -> None:
        regularizer = self.make()
        if not isinstance(regularizer, Regularizer):
            _fail(self, f"builds a {type(regularizer).__name__}; subclass sweepnp.Regularizer")
        if not (regularizer.penalizes_weights() or regularizer.masks_activations()):
            _fail(
                self,
                "provides neither a weight penalty (penalty() and gradient()) nor an activation "
                "mask (mask()): override the methods of what it provides",
            )


# -------------------------------------------------------------------------
# Schedules
# -------------------------------------------------------------------------


class ScheduleContract(Contract):
    """The schedule contract: subclass it, set :attr:`factory` and (optionally) :attr:`options`."""

    key = "schedule"
    #: The optimizer's learning rate the schedule is set up with.
    base_lr = 0.1
    #: The run's epochs.
    epochs = 100

    def positions(self) -> np.ndarray:
        """Where the trainer asks: every epoch (``interval = "epoch"``) and fractions of one."""
        return np.concatenate([np.arange(self.epochs), np.arange(0, self.epochs, 0.37)])

    def ready(self, base_lr: Any = None, **overrides: Any) -> Schedule:
        schedule = self.make(**overrides)
        schedule.setup(self.base_lr if base_lr is None else base_lr, self.epochs)
        return schedule

    def test_is_a_sweepnp_schedule(self) -> None:
        schedule = self.make()
        if not isinstance(schedule, Schedule):
            _fail(self, f"builds a {type(schedule).__name__}; subclass sweepnp.Schedule")

    def test_finite_and_positive_during_training(self) -> None:
        schedule = self.ready()
        positions = self.positions()
        with np.errstate(all="ignore"):  # as in training; a bad value is reported below
            lrs = np.array([schedule.lr_at(float(t)) for t in positions], dtype=float)
        bad = ~(np.isfinite(lrs) & (lrs > 0))
        if bad.any():
            pairs = list(zip(positions[bad], lrs[bad], strict=True))
            shown = ", ".join(f"lr_at({t:g}) = {lr:g}" for t, lr in pairs[:4])
            if len(pairs) > 4:
                shown += f", ... ({len(pairs)} of {len(positions)} positions)"
            _fail(
                self,
                f"with base_lr={self.base_lr} over {self.epochs} epochs the rate must be finite "
                f"and > 0 wherever training asks (0 <= t < epochs), but {shown}",
            )

    def test_finite_and_non_negative_at_the_end(self) -> None:
        # at t = epochs (never asked in training) an annealed rate may have reached 0
        lr = self.ready().lr_at(float(self.epochs))
        if not (np.isfinite(lr) and lr >= 0):
            _fail(self, f"lr_at({self.epochs}) = {lr} at the end of {self.epochs} epochs")

    def test_deterministic(self) -> None:
        first, second = self.ready(), self.ready()
        positions = self.positions()
        a = [first.lr_at(float(t)) for t in positions]
        b = [first.lr_at(float(t)) for t in positions]
        c = [second.lr_at(float(t)) for t in positions[::-1]][::-1]
        if not a == b == c:
            _fail(
                self,
                "lr_at(t) depends on more than t (asked twice, or in another order, it gave "
                "other rates): compute the rate from t alone, keeping no state between calls",
            )

    def test_scalar_in_scalar_out(self) -> None:
        schedule = self.ready()
        for t in (0.0, self.epochs / 8, self.epochs - 1.0):
            lr = schedule.lr_at(t)
            if np.ndim(lr) != 0 or isinstance(lr, np.ndarray):
                _fail(
                    self,
                    f"lr_at({t}) with a float base_lr returned {type(lr).__name__} of shape "
                    f"{np.shape(lr)}; return a scalar (np.where(...)[()] turns a 0-d array into "
                    "one)",
                )
            float(lr)

    def test_array_base_lr_broadcasts(self) -> None:
        base = np.array([[self.base_lr], [2 * self.base_lr]])
        stacked = self.ready(base_lr=base)
        singles = [self.ready(base_lr=float(b)) for b in base[:, 0]]
        for t in self.positions()[::7]:
            try:
                lr = stacked.lr_at(float(t))
            except Exception as exc:
                _fail(
                    self,
                    f"with base_lr of shape (2, 1) (two trials), lr_at({t:g}) raised "
                    f"{type(exc).__name__}: {exc}. Write the maths as whole-array NumPy: never "
                    "float() or `if` on base_lr or a hyperparameter",
                )
            if np.shape(lr) != (2, 1):
                _fail(
                    self,
                    f"with base_lr of shape (2, 1) (two trials), lr_at({t:g}) has shape "
                    f"{np.shape(lr)}, not (2, 1): write the maths as whole-array NumPy",
                )
            for k, single in enumerate(singles):
                expected = single.lr_at(float(t))
                if not np.isclose(lr[k, 0], expected, rtol=1e-12, atol=0):
                    _fail(
                        self,
                        f"trial {k} of a stacked base_lr gives {lr[k, 0]} at t = {t:g}, a "
                        f"single run {expected}",
                    )

    def test_starts_at_or_below_base_lr(self) -> None:
        lr = self.ready().lr_at(0.0)
        if not 0 < lr <= self.base_lr * (1 + 1e-12):
            _fail(
                self,
                f"lr_at(0) = {lr} with base_lr={self.base_lr}: a schedule starts from the "
                "optimizer's lr (or below it, warming up)",
            )

    def test_interval_is_kept_and_checked(self) -> None:
        for interval in ("epoch", "batch"):
            try:
                schedule = self.make(interval=interval)
            except TypeError:
                _fail(
                    self,
                    "takes no `interval` option: accept `interval` and call "
                    "super().__init__(interval=interval)",
                )
            if schedule.interval != interval:
                _fail(self, f"interval={interval!r} gave interval {schedule.interval!r}")
        try:
            self.make(interval="step")
        except OptionError as exc:
            if exc.option != "interval":
                _fail(self, f"interval='step' raised an OptionError about {exc.option!r}")
            return
        _fail(self, "accepted interval='step': call super().__init__(interval=interval)")


# -------------------------------------------------------------------------
# Callbacks
# -------------------------------------------------------------------------

#: The run callbacks are tried in: breast cancer, 30-8-1, a validation split, four epochs.
DEFAULT_RUN: Mapping[str, Any] = types.MappingProxyType(
    {
        "data": {"dataset": "breast_cancer", "test_size": 0.2, "val_size": 0.2, "seed": 0},
        "model": {"task": "binary", "hidden": [8], "activation": "relu"},
        "train": {"epochs": 4, "batch_size": 64, "seed": 0},
        "optimizer": {"name": "sgd", "lr": 0.05},
    }
)


class _GradientWatch(Callback):
    """Runs after the callback under test and checks the gradients it left behind."""

    def __init__(self) -> None:
        self.problem: str | None = None

    def on_before_optimizer_step(self, grads: dict[str, np.ndarray]) -> None:
        if self.problem is not None:
            return
        params = self.trainer.model.params
        if set(grads) != set(params):
            self.problem = f"the gradients are for {sorted(grads)}, the parameters {sorted(params)}"
            return
        for name, param in params.items():
            grad = grads[name]
            if not isinstance(grad, np.ndarray) or grad.shape != param.shape:
                self.problem = f"grads[{name!r}] has shape {np.shape(grad)}, not {param.shape}"
            elif grad.dtype != param.dtype:
                self.problem = f"grads[{name!r}] is {grad.dtype} for {param.dtype} parameters"


@contextlib.contextmanager
def _in_a_temporary_directory() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="sweepnp-contract-") as where, contextlib.chdir(where):
        yield where


class CallbackContract(Contract):
    """The callback contract: subclass it, set :attr:`factory` and (optionally) :attr:`options`.

    The checks train short runs of :attr:`run` with the callback chosen by :attr:`name` in
    ``[callbacks]``, in a temporary working directory (relative paths in ``options`` land there).
    """

    key = "callbacks"
    #: The name the callback is registered under for the runs.
    name = "contract_subject"
    #: The run file (as a dict) the callback is tried in.
    run: Mapping[str, Any] = DEFAULT_RUN

    def _run_config(self) -> dict[str, Any]:
        config = copy.deepcopy(dict(self.run))
        config["callbacks"] = {**config.get("callbacks", {}), self.name: dict(self.options)}
        return config

    def _plugin_manager(self) -> Any:
        from sweepnp.plugins import PluginManager

        factory, name = self._factory(), self.name

        class ContractPlugin:
            @hookimpl
            def sweepnp_register_callbacks(self) -> dict[str, Any]:
                return {name: factory}

        return PluginManager(load_entrypoints=False, extra=(ContractPlugin(),))

    def fit(self, dtype: str = "float64") -> Any:
        """Train :attr:`run` with the callback (and a check of the gradients it leaves)."""
        from sweepnp.trainer import Trainer

        config = self._run_config()
        config.setdefault("model", {})["dtype"] = dtype
        watch = _GradientWatch()
        try:
            trainer = Trainer(config, plugin_manager=self._plugin_manager(), callbacks=[watch])
            result = trainer.fit()
        except Exception as exc:
            raised = f"{type(exc).__name__}: {exc}"
            self._check_gradients_left(watch, dtype, also=f" (and the run raised {raised})")
            _fail(self, f"a {dtype} run with the callback raised {raised}")
        self._check_gradients_left(watch, dtype)
        return result

    def _check_gradients_left(self, watch: _GradientWatch, dtype: str, also: str = "") -> None:
        if watch.problem:
            _fail(
                self,
                f"in a {dtype} run, after on_before_optimizer_step {watch.problem}{also}: "
                "change the gradients in place, keeping their names, shapes and dtype",
            )

    def test_is_a_sweepnp_callback(self) -> None:
        callback = self.make()
        if not isinstance(callback, Callback):
            _fail(self, f"builds a {type(callback).__name__}; subclass sweepnp.Callback")
        methods = [m for m in vars(Callback) if m.startswith("on_")]
        if not any(type(callback).overrides(m) for m in methods):
            _fail(self, f"overrides none of {', '.join(methods)}: it would never be called")

    def test_trains_a_short_run(self) -> None:
        with _in_a_temporary_directory():
            for dtype in ("float64", "float32"):
                result = self.fit(dtype)
                if result.epochs_run < 1:
                    _fail(self, f"the {dtype} run trained no epoch")

    def test_runs_are_reproducible(self) -> None:
        with _in_a_temporary_directory():
            runs = [self.fit() for _ in range(2)]
        curves = [
            [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in run.records]
            for run in runs
        ]
        if curves[0] != curves[1] or runs[0].stop_reason != runs[1].stop_reason:
            _fail(
                self,
                "two runs with the same seeds gave different learning curves: a callback must "
                "not change training with global random state or the clock (sweepnp study "
                "rerun relies on identical curves)",
            )


# -------------------------------------------------------------------------
# The same checks without pytest
# -------------------------------------------------------------------------


def _check(contract: type[Contract], factory: Callable[..., Any], options: Mapping[str, Any]):
    failures, subject = [], ""
    for name in sorted(n for n in dir(contract) if n.startswith("test_")):
        instance = contract()
        instance.factory = factory  # an instance attribute: never bound as a method
        instance.options = dict(options)
        subject = instance.subject
        try:
            getattr(instance, name)()
        except unittest.SkipTest:
            continue
        except ContractFailure as exc:
            failures.append(f"{name}: {str(exc).removeprefix(subject + ': ')}")
        except Exception as exc:
            failures.append(f"{name}: raised {type(exc).__name__}: {exc}")
    if failures:
        raise ContractFailure(
            f"{subject} breaks the {contract.__name__} in {len(failures)} check(s):\n- "
            + "\n- ".join(failures)
        )


def check_optimizer(factory: Callable[..., Any], /, **options: Any) -> None:
    """Run every check of :class:`OptimizerContract`; raise :class:`ContractFailure` on failure."""
    _check(OptimizerContract, factory, options)


def check_penalty(factory: Callable[..., Any], /, **options: Any) -> None:
    """Run every check of :class:`PenaltyContract`; raise :class:`ContractFailure` on failure."""
    _check(PenaltyContract, factory, options)


def check_mask(factory: Callable[..., Any], /, **options: Any) -> None:
    """Run every check of :class:`MaskContract`; raise :class:`ContractFailure` on failure."""
    _check(MaskContract, factory, options)


def check_regularizer(factory: Callable[..., Any], /, **options: Any) -> None:
    """Run :class:`RegularizerContract`: the penalty and the mask checks, each where they apply."""
    _check(RegularizerContract, factory, options)


def check_schedule(factory: Callable[..., Any], /, **options: Any) -> None:
    """Run every check of :class:`ScheduleContract`; raise :class:`ContractFailure` on failure."""
    _check(ScheduleContract, factory, options)


def check_callback(factory: Callable[..., Any], /, **options: Any) -> None:
    """Run every check of :class:`CallbackContract`; raise :class:`ContractFailure` on failure."""
    _check(CallbackContract, factory, options)
