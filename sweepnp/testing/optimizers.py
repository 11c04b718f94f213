"""The optimizer contract: :class:`OptimizerContract`, its test problem :class:`Quadratic`, and
:func:`check_optimizer`.

An optimizer reduces a convex quadratic; updates in place, keeping the dtype; uses the learning
rate passed to ``step``; ``state_dict`` round-trips and is a deep copy; float options may be arrays
over a leading trial axis; a non-positive ``lr`` is refused.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sweepnp.errors import OptionError
from sweepnp.optimizers import Optimizer
from sweepnp.testing.stacking import RULES, StackingChecks, state_outside

__all__ = ["SHAPES", "TRIAL_SHAPES", "OptimizerContract", "Quadratic", "check_optimizer"]

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


class OptimizerContract(StackingChecks):
    """The optimizer contract: subclass it, set :attr:`factory` and (optionally) :attr:`options`.

    ``options`` should make the optimizer converge on :class:`Quadratic` within :attr:`steps`
    steps at its own ``lr`` (e.g. ``{"lr": 0.05}``).
    """

    key = "optimizer"
    family = "optimizers"
    #: Steps taken on the quadratic.
    steps = 300
    #: The fraction of the gap between the start and the minimum those steps must close.
    closes = 0.9
    #: Scales applied to every float option to make two trials for the trial-axis check.
    trial_scales: Sequence[float] = (1.0, 0.5)

    def _place(self, run: dict[str, Any], options: dict[str, Any]) -> None:
        run["optimizer"] = {"name": self.name, **options}

    def _family_diagnosis(self, alone: Any) -> str | None:
        return state_outside(alone.optimizer, alone.network.params)

    def _likely_rules(self) -> str:
        return f"Rules that apply: {RULES['state']}; {RULES['whole-array']}"

    def test_is_a_sweepnp_optimizer(self) -> None:
        optimizer = self.make()
        if not isinstance(optimizer, Optimizer):
            self._fail(f"builds a {type(optimizer).__name__}; subclass sweepnp.Optimizer")
        if getattr(optimizer, "lr", None) is None:
            self._fail("has no `lr` attribute: keep the base learning rate as self.lr")

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
            self._fail(
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
            self._fail(f"t is {optimizer.t} after one step, not 1: step() must count steps")
        for k, param in params.items():
            if param is not arrays[k]:
                self._fail(
                    f"step() replaced params[{k!r}] with a new array; the trainer and the model "
                    "hold the original, so update it in place (param -= ..., not param = ...)",
                )
            if param.dtype != np.float32:
                self._fail(f"params[{k!r}] became {param.dtype} instead of staying float32")
            if np.array_equal(param, before[k]):
                self._fail(
                    f"params[{k!r}] is unchanged after a step with a nonzero gradient: update() "
                    "must change `param` in place (param -= ..., not param = param - ...)",
                )
            for name, array in optimizer.state[k].items():
                if np.asarray(array).dtype != np.float32:
                    self._fail(
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
                self._fail(
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
            self._fail(f"t is {resumed.t} after load_state_dict of a state saved at t = {k}")
        _run_steps(resumed, problem, params_at_k, m, resumed.lr)
        for key in params:
            if not np.array_equal(params_at_k[key], params[key]):
                self._fail(
                    f"resumed from state_dict() after {k} steps, {m} more steps gave a different "
                    f"params[{key!r}] than {k + m} uninterrupted steps: state_dict() must hold "
                    "everything update() depends on (keep it in self.state[name]) and "
                    "load_state_dict() must restore it",
                )
        if resumed.t != optimizer.t:
            self._fail(f"t is {resumed.t} after resuming, {optimizer.t} without interruption")

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
            self._fail(
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
            self._fail(
                f"changing a dict after load_state_dict() changed the optimizer ({difference}): "
                "load_state_dict() must copy what it is given (copy.deepcopy)",
            )

    def test_array_hyperparameters_broadcast_over_a_trial_axis(self) -> None:
        """Two trials stacked on a leading axis, each with its own options and its own step
        count (``t`` an array, as in a stack), match two runs (``stackable = False``: skipped)."""
        if getattr(self.make(), "stackable", False) is not True:
            self._skip("does not declare stackable = True: its trials train alone")
        first = self._float_options()
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
                self._fail(
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
            optimizer.t = np.zeros((n, 1, 1), dtype=np.int64)  # each trial counts its own steps
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
            self._fail(
                f"with {what} as arrays of shape ({n}, 1, 1), one value per trial, it raised "
                f"{type(exc).__name__}: {exc}. Write the maths as whole-array NumPy: never "
                "float() or `if` on a hyperparameter",
            )
        for i, single in enumerate(singles):
            for k, param in single.items():
                if not np.allclose(stacked[k][i].reshape(param.shape), param, rtol=1e-12, atol=0):
                    self._fail(
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
                    self._fail(f"lr={lr} raised an OptionError about {exc.option!r}, not 'lr'")
                continue
            except Exception as exc:
                self._fail(
                    f"lr={lr} raised {type(exc).__name__}, not sweepnp.OptionError: check it with "
                    "sweepnp.options.positive('lr', lr)",
                )
            self._fail(f"accepted lr={lr}: check it with sweepnp.options.positive('lr', lr)")


def check_optimizer(factory: Callable[..., Any], /, **options: Any) -> None:
    """Run every check of :class:`OptimizerContract`; raise :class:`ContractFailure` on failure."""
    OptimizerContract._check_all(factory, options)
