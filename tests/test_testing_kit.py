"""sweepnp.testing catches broken plugins, each with a message that says what to fix.

Every plugin below is broken in one deliberate way; the kit must fail it on that check (and name
the check), and pass the correct plugins it is compared with.
"""

from __future__ import annotations

import ast
import copy
import subprocess
import sys
import textwrap
import typing
import unittest
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

import sweepnp.testing
from sweepnp import Callback, Optimizer, Regularizer, Schedule, options
from sweepnp.plugins import PluginManager
from sweepnp.testing import (
    CallbackContract,
    ContractFailure,
    MaskContract,
    OptimizerContract,
    PenaltyContract,
    RegularizerContract,
    ScheduleContract,
    check_callback,
    check_mask,
    check_optimizer,
    check_penalty,
    check_regularizer,
    check_schedule,
)
from sweepnp.testing.stacking import RULES

if TYPE_CHECKING:  # a name only type checkers see, as plugins often import them
    from collections.abc import Callable as StepHook

KIT = Path(sweepnp.testing.__file__).parent

# -------------------------------------------------------------------------
# Optimizers
# -------------------------------------------------------------------------


class GoodSGD(Optimizer):
    stackable = True

    def __init__(self, lr: float = 0.1) -> None:
        options.positive("lr", lr)
        self.lr = lr

    def update(self, param, grad, state, lr):
        param -= lr * grad


class GoodMomentum(GoodSGD):
    def __init__(self, lr: float = 0.02, beta: float = 0.9) -> None:
        super().__init__(lr)
        self.beta = beta

    def init_state(self, param):
        return {"v": np.zeros_like(param)}

    def update(self, param, grad, state, lr):
        v = state["v"]
        v *= self.beta
        v += grad
        param -= lr * v


class AscendingSGD(GoodSGD):
    def update(self, param, grad, state, lr):
        param += lr * grad


class OwnLrSGD(GoodSGD):
    def update(self, param, grad, state, lr):
        param -= self.lr * grad


class RebindingSGD(GoodSGD):
    def step(self, params, grads, lr):
        self.t += 1
        for name in params:
            params[name] = params[name] - lr * grads[name]


class LocalNameSGD(GoodSGD):
    def update(self, param, grad, state, lr):
        param = param - lr * grad


class Float64StateMomentum(GoodMomentum):
    def init_state(self, param):
        return {"v": np.zeros(param.shape)}


class ShallowStateDictMomentum(GoodMomentum):
    def state_dict(self):
        return {"t": self.t, "state": self.state}


class CopyingOnlyTheOuterDictMomentum(GoodMomentum):
    def state_dict(self):
        return {"t": self.t, "state": {k: dict(v) for k, v in self.state.items()}}


class ReferencingLoadMomentum(GoodMomentum):
    def load_state_dict(self, state_dict):
        self.t = state_dict["t"]
        self.state = state_dict["state"]


class ForgetfulMomentum(GoodMomentum):
    """Keeps its velocity outside ``self.state``: state_dict() cannot save it."""

    def setup(self, params, weight_names=()):
        super().setup(params, weight_names)
        self.velocity = {id(p): np.zeros_like(p) for p in params.values()}

    def init_state(self, param):
        return {}

    def update(self, param, grad, state, lr):
        v = self.velocity.setdefault(id(param), np.zeros_like(param))
        v *= self.beta
        v += grad
        param -= lr * v


class FloatCallingMomentum(GoodMomentum):
    def update(self, param, grad, state, lr):
        v = state["v"]
        v *= float(np.mean(self.beta))  # one beta for every trial: the bug under test
        v += grad
        param -= lr * v


class UncheckedLrSGD(GoodSGD):
    def __init__(self, lr: float = 0.1) -> None:
        self.lr = lr


class KwargsSGD(GoodSGD):
    def __init__(self, **kwargs) -> None:
        self.lr = kwargs.get("lr", 0.1)


class DuckTypedSGD:
    """Looks like an optimizer, but is not a sweepnp.Optimizer: no setup(), no state_dict()."""

    def __init__(self, lr: float = 0.1) -> None:
        options.positive("lr", lr)
        self.lr = lr


class NoLrSGD(GoodSGD):
    def __init__(self, lr: float = 0.1) -> None:
        options.positive("lr", lr)
        self.rate = lr


class IdKeyedMomentum(GoodMomentum):
    """Keeps its velocities in a dict of its own, keyed by parameter: a stack, building a new
    optimizer when trials join or leave, loses them."""

    def setup(self, params, weight_names=()):
        super().setup(params, weight_names)
        self.velocity = {}

    def update(self, param, grad, state, lr):
        v = self.velocity.setdefault(id(param), np.zeros_like(param))
        v *= self.beta
        v += grad
        param -= lr * v


class FloatLrSGD(GoodSGD):
    """float() on the learning rate: one number alone, an array of shape (K, 1, 1) stacked."""

    def update(self, param, grad, state, lr):
        param -= float(lr) * grad


def failure(check, factory, **options) -> str:
    with pytest.raises(ContractFailure) as info:
        check(factory, **options)
    return str(info.value)


def checks_of(contract):
    return {name for name in dir(contract) if name.startswith("test_")}


def outcomes(contract, factory, **options) -> dict[str, str]:
    """Each check of ``contract`` run on its own, as pytest runs it: "passed" or "skipped"."""
    found = {}
    for name in sorted(checks_of(contract)):
        instance = contract()
        instance.factory = factory
        instance.options = options
        try:
            getattr(instance, name)()
        except unittest.SkipTest:
            found[name] = "skipped"
        else:
            found[name] = "passed"
    return found


def all_passed(contract) -> dict[str, str]:
    return dict.fromkeys(sorted(checks_of(contract)), "passed")


@pytest.mark.parametrize("factory", [GoodSGD, GoodMomentum])
def test_correct_optimizers_pass(factory):
    check_optimizer(factory)
    assert outcomes(OptimizerContract, factory) == all_passed(OptimizerContract)


class VagueSGD(GoodSGD):
    stackable = "yes"  # not a bool


OPTIMIZER_CASES = [
    (VagueSGD, "test_stackable_is_declared_as_a_bool", "must be True or False, got 'yes'"),
    (AscendingSGD, "test_reduces_a_convex_quadratic", "the loss rose"),
    (OwnLrSGD, "test_uses_the_lr_passed_to_step", "never self.lr"),
    (RebindingSGD, "test_updates_in_place_keeping_the_dtype", "replaced params['w']"),
    (LocalNameSGD, "test_updates_in_place_keeping_the_dtype", "is unchanged after a step"),
    (Float64StateMomentum, "test_updates_in_place_keeping_the_dtype", "np.zeros_like"),
    (ShallowStateDictMomentum, "test_state_dict_is_a_deep_copy", "must return a deep copy"),
    (
        CopyingOnlyTheOuterDictMomentum,
        "test_state_dict_is_a_deep_copy",
        "must return a deep copy",
    ),
    (ReferencingLoadMomentum, "test_state_dict_is_a_deep_copy", "must copy what it is given"),
    (ForgetfulMomentum, "test_state_dict_round_trip", "keep it in self.state[name]"),
    (
        FloatCallingMomentum,
        "test_array_hyperparameters_broadcast_over_a_trial_axis",
        "trial 0 of params['w'] differs",
    ),
    (UncheckedLrSGD, "test_rejects_a_non_positive_lr", "accepted lr=0.0"),
    (IdKeyedMomentum, "test_trains_stacked_as_alone", "self.velocity"),
    (FloatLrSGD, "test_trains_stacked_as_alone", "never `if`/`float()` on it"),
    (KwargsSGD, "test_options_validate_like_a_run_file", "takes **kwargs"),
    (DuckTypedSGD, "test_is_a_sweepnp_optimizer", "subclass sweepnp.Optimizer"),
    (NoLrSGD, "test_is_a_sweepnp_optimizer", "keep the base learning rate as self.lr"),
]


@pytest.mark.parametrize(("factory", "check", "says"), OPTIMIZER_CASES)
def test_broken_optimizers_fail_the_right_check(factory, check, says):
    message = failure(check_optimizer, factory)
    assert f"{factory.__qualname__}() breaks the OptimizerContract" in message
    assert f"- {check}: " in message
    assert says in message


def test_every_failed_check_is_listed():
    message = failure(check_optimizer, ShallowStateDictMomentum)
    assert message.startswith("ShallowStateDictMomentum() breaks the OptimizerContract in 2 check")
    failed = [line.split(":")[0] for line in message.splitlines() if line.startswith("- ")]
    assert failed == ["- test_state_dict_is_a_deep_copy", "- test_state_dict_round_trip"]


class PickyMomentum(GoodMomentum):
    def __init__(self, lr: float = 0.02, beta: float = 0.9) -> None:
        options.in_range("beta", beta, 0.8, 1)
        super().__init__(lr, beta)


def test_trial_scales_adapt_the_trial_axis_check_to_narrow_options():
    message = failure(check_optimizer, PickyMomentum)
    assert "refuses its float options scaled to {'lr': 0.01, 'beta': 0.45}" in message
    assert "set `trial_scales`" in message

    contract = OptimizerContract()
    contract.factory = PickyMomentum
    contract.trial_scales = (1.0, 0.95)
    contract.test_array_hyperparameters_broadcast_over_a_trial_axis()


class HookedFloatCallingMomentum(FloatCallingMomentum):
    def __init__(self, lr: float = 0.02, beta: float = 0.9, on_step: StepHook | None = None):
        super().__init__(lr, beta)
        self.on_step = on_step


def test_float_options_are_stacked_when_another_hint_cannot_be_resolved():
    """``StepHook`` exists only for type checkers; ``lr`` and ``beta`` are still floats."""
    message = failure(check_optimizer, HookedFloatCallingMomentum)
    assert "- test_array_hyperparameters_broadcast_over_a_trial_axis: " in message
    assert (
        "with lr, beta stacked over a leading trial axis, trial 0 of params['w'] differs" in message
    )


def test_options_are_passed_and_named():
    # With a learning rate far too high, plain SGD diverges on the quadratic.
    message = failure(check_optimizer, GoodSGD, lr=5.0)
    assert "GoodSGD(lr=5.0)" in message
    assert "set `options`" in message


# -------------------------------------------------------------------------
# Regularizers
# -------------------------------------------------------------------------


class GoodL2(Regularizer):
    stackable = True

    def __init__(self, lam: float = 0.1) -> None:
        options.non_negative("lam", lam)
        self.lam = lam

    def penalty(self, weight):
        return 0.5 * np.sum(self.lam * weight**2, axis=(-2, -1))

    def gradient(self, weight):
        return self.lam * weight


class WrongGradientL2(GoodL2):
    def gradient(self, weight):
        return 2 * self.lam * weight  # the derivative of λ‖W‖², not of ½λ‖W‖²


class SummingEverythingL2(GoodL2):
    def penalty(self, weight):
        return 0.5 * np.sum(self.lam * weight**2)


class GoodDropout(Regularizer):
    stackable = True

    def __init__(self, rate: float = 0.3) -> None:
        options.in_range("rate", rate, 0, 1)
        self.rate = rate

    def mask(self, shape, rng, dtype):
        keep = rng.random(shape, dtype=dtype) >= self.rate
        return np.multiply(keep, 1 / (1 - self.rate), dtype=dtype)


class UnscaledDropout(GoodDropout):
    def mask(self, shape, rng, dtype):
        return (rng.random(shape, dtype=dtype) >= self.rate).astype(dtype)


class GlobalRandomDropout(GoodDropout):
    def mask(self, shape, rng, dtype):
        keep = np.random.default_rng().random(shape) >= self.rate
        return np.multiply(keep, 1 / (1 - self.rate), dtype=dtype)


class Float64Dropout(GoodDropout):
    def mask(self, shape, rng, dtype):
        return super().mask(shape, rng, np.float64)


class PerRowL2(GoodL2):
    def penalty(self, weight):
        return 0.5 * np.sum(self.lam * weight**2, axis=-1)


class KwargsL2(GoodL2):
    def __init__(self, **kwargs) -> None:
        self.lam = kwargs.get("lam", 0.1)


class MatrixOnlyDropout(GoodDropout):
    def mask(self, shape, rng, dtype):
        rows, cols = shape  # two axes only: no trial axis
        return super().mask((rows, cols), rng, dtype)


class KwargsDropout(GoodDropout):
    def __init__(self, **kwargs) -> None:
        self.rate = kwargs.get("rate", 0.3)


class BranchingL2(GoodL2):
    """`if` on a hyperparameter: a number alone, an array of shape (K, 1, 1) stacked."""

    def gradient(self, weight):
        if self.lam > 0:
            return self.lam * weight
        return np.zeros_like(weight)


class ReusingDropout(GoodDropout):
    """Fills one mask array of its own and returns it each call: a stack, asking for an epoch
    of masks at once, gets the last one over and over."""

    def mask(self, shape, rng, dtype):
        buffer = getattr(self, "buffer", None)
        if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
            buffer = self.buffer = np.empty(shape, dtype)
        buffer[...] = super().mask(shape, rng, dtype)
        return buffer


class NothingRegularizer(Regularizer):
    def __init__(self, lam: float = 0.1) -> None:
        self.lam = lam


def test_correct_regularizers_pass():
    check_penalty(GoodL2)
    check_mask(GoodDropout)
    check_regularizer(GoodL2, lam=0.5)
    check_regularizer(GoodDropout, rate=0.5)


def test_a_regularizer_passes_what_it_provides_and_skips_the_rest():
    assert outcomes(PenaltyContract, GoodL2) == all_passed(PenaltyContract)
    assert outcomes(MaskContract, GoodDropout) == all_passed(MaskContract)
    mask_only = checks_of(MaskContract) - checks_of(PenaltyContract)
    penalty_only = checks_of(PenaltyContract) - checks_of(MaskContract)
    assert mask_only and penalty_only
    for factory, skipped in [(GoodL2, mask_only), (GoodDropout, penalty_only)]:
        expected = {
            n: "skipped" if n in skipped else "passed" for n in all_passed(RegularizerContract)
        }
        assert outcomes(RegularizerContract, factory) == expected


class VagueL2(GoodL2):
    stackable = "no"  # not a bool


class VagueDropout(GoodDropout):
    stackable = 0  # not a bool


REGULARIZER_CASES = [
    (check_penalty, VagueL2, "test_stackable_is_declared_as_a_bool", "got 'no'"),
    (check_mask, VagueDropout, "test_stackable_is_declared_as_a_bool", "got 0"),
    (check_penalty, WrongGradientL2, "test_gradient_passes_the_gradient_check", "derivative"),
    (check_regularizer, WrongGradientL2, "test_gradient_passes_the_gradient_check", "error"),
    (
        check_penalty,
        SummingEverythingL2,
        "test_penalty_stacks_over_a_trial_axis",
        "axis=(-2, -1)",
    ),
    (check_mask, UnscaledDropout, "test_mask_keeps_the_expectation", "mean is 0.7"),
    (check_mask, GlobalRandomDropout, "test_mask_is_reproducible_from_the_generator", "rng"),
    (check_mask, Float64Dropout, "test_mask_has_the_shape_and_dtype_asked_for", "float64"),
    (check_penalty, GoodDropout, "test_gradient_passes_the_gradient_check", "no weight"),
    (check_mask, GoodL2, "test_mask_keeps_the_expectation", "provides no activation mask"),
    (check_regularizer, NothingRegularizer, "test_provides_a_penalty_or_a_mask", "neither"),
    (check_penalty, PerRowL2, "test_one_finite_penalty_per_matrix", "return a number"),
    (check_penalty, KwargsL2, "test_options_validate_like_a_run_file", "kwargs"),
    (check_mask, MatrixOnlyDropout, "test_mask_stacks_over_a_trial_axis", "raised ValueError"),
    (check_mask, KwargsDropout, "test_options_validate_like_a_run_file", "kwargs"),
    (check_penalty, BranchingL2, "test_trains_stacked_as_alone", "truth value of an array"),
    (check_mask, ReusingDropout, "test_trains_stacked_as_alone", "keeps arrays across calls"),
]


@pytest.mark.parametrize(("check", "factory", "test", "says"), REGULARIZER_CASES)
def test_broken_regularizers_fail_the_right_check(check, factory, test, says):
    message = failure(check, factory)
    assert f"- {test}: " in message
    assert says in message


def test_the_gradient_check_reports_the_error_size():
    message = failure(check_penalty, WrongGradientL2)
    line = next(x for x in message.splitlines() if "gradient check failed" in x)
    error = float(line.split("relative error ")[1].split(" ")[0])
    assert error > 1e-3  # a factor of two in the penalty's gradient, nowhere near 1e-6


# -------------------------------------------------------------------------
# Schedules
# -------------------------------------------------------------------------


class GoodLinearDecay(Schedule):
    stackable = True

    def __init__(self, interval: str = "epoch") -> None:
        super().__init__(interval=interval)

    def lr_at(self, t):
        return self.base_lr * (1 - t / (self.epochs + 1))


class OvershootingDecay(GoodLinearDecay):
    """Decays to zero at half the run, then goes negative: the bug under test."""

    def lr_at(self, t):
        return self.base_lr * (1 - 2 * t / self.epochs)


class NaNSchedule(GoodLinearDecay):
    def lr_at(self, t):
        return self.base_lr if t < 10 else np.nan


class ArraySchedule(GoodLinearDecay):
    def lr_at(self, t):
        return np.asarray(self.base_lr * 0.9**t)


class StatefulSchedule(GoodLinearDecay):
    def setup(self, base_lr, epochs):
        super().setup(base_lr, epochs)
        self.calls = 0

    def lr_at(self, t):
        self.calls += 1
        return self.base_lr / (1 + 1e-3 * self.calls)


class ScalarOnlySchedule(GoodLinearDecay):
    def lr_at(self, t):
        return float(self.base_lr) * 0.99**t


class HighStartSchedule(GoodLinearDecay):
    def lr_at(self, t):
        return 10 * self.base_lr * 0.9**t


class NoIntervalSchedule(Schedule):
    def __init__(self, gamma: float = 0.9) -> None:
        super().__init__()
        self.gamma = gamma

    def lr_at(self, t):
        return self.base_lr * self.gamma**t


class MemoizingSchedule(GoodLinearDecay):
    """Memoizes its rates in a class attribute, emptied in setup: every object of the class
    shares it, so trials trained side by side read each other's rates."""

    rates: typing.ClassVar[dict[float, float]] = {}

    def setup(self, base_lr, epochs):
        super().setup(base_lr, epochs)
        type(self).rates = {}

    def lr_at(self, t):
        if t not in self.rates:
            self.rates[t] = super().lr_at(t)
        return self.rates[t]


class KwargsSchedule(GoodLinearDecay):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)


class DuckTypedSchedule:
    def __init__(self, interval: str = "epoch") -> None:
        self.interval = interval

    def setup(self, base_lr, epochs):
        self.base_lr = base_lr

    def lr_at(self, t):
        return self.base_lr


def test_a_correct_schedule_passes():
    check_schedule(GoodLinearDecay)
    assert outcomes(ScheduleContract, GoodLinearDecay) == all_passed(ScheduleContract)


class VagueSchedule(GoodLinearDecay):
    stackable = 1  # not a bool


SCHEDULE_CASES = [
    (VagueSchedule, "test_stackable_is_declared_as_a_bool", "got 1"),
    (OvershootingDecay, "test_finite_and_positive_during_training", "lr_at(50) = 0"),
    (OvershootingDecay, "test_finite_and_positive_during_training", "lr_at(51) = -0.002"),
    (NaNSchedule, "test_finite_and_positive_during_training", "lr_at(10) = nan"),
    (ArraySchedule, "test_scalar_in_scalar_out", "return a scalar"),
    (StatefulSchedule, "test_deterministic", "depends on more than t"),
    (ScalarOnlySchedule, "test_array_base_lr_broadcasts", "whole-array NumPy"),
    (HighStartSchedule, "test_starts_at_or_below_base_lr", "lr_at(0) = 1.0"),
    (NoIntervalSchedule, "test_interval_is_kept_and_checked", "takes no `interval` option"),
    (OvershootingDecay, "test_finite_and_non_negative_at_the_end", "lr_at(100) = -0.1"),
    (KwargsSchedule, "test_options_validate_like_a_run_file", "kwargs"),
    (DuckTypedSchedule, "test_is_a_sweepnp_schedule", "subclass sweepnp.Schedule"),
    (MemoizingSchedule, "test_trains_stacked_as_alone", "never in class attributes"),
]


@pytest.mark.parametrize(("factory", "test", "says"), SCHEDULE_CASES)
def test_broken_schedules_fail_the_right_check(factory, test, says):
    message = failure(check_schedule, factory)
    assert f"- {test}: " in message
    assert says in message


# -------------------------------------------------------------------------
# Callbacks
# -------------------------------------------------------------------------


class GoodEpochCounter(Callback):
    stackable = True

    def __init__(self, every: int = 1) -> None:
        options.positive_int("every", every)
        self.every = every

    def on_epoch_end(self, epoch, logs):
        self.trainer.info["epochs_seen"] = epoch + 1


class FailingCallback(GoodEpochCounter):
    def on_epoch_end(self, epoch, logs):
        raise RuntimeError("the disk is full")


class NoisyGradients(Callback):
    def on_before_optimizer_step(self, grads):
        rng = np.random.default_rng()  # unseeded: the bug under test
        for grad in grads.values():
            grad += 1e-3 * rng.standard_normal(grad.shape)


class UpcastingGradients(Callback):
    def on_before_optimizer_step(self, grads):
        for name in grads:
            grads[name] = grads[name].astype(np.float64)


class DroppingGradients(Callback):
    def on_before_optimizer_step(self, grads):
        grads.pop(next(iter(grads)))


class StaleWeightNorm(GoodEpochCounter):
    """Keeps the first weight matrix from on_train_begin and reports its norm: stacked, the
    network's arrays are laid out again, and it reads an array no longer trained."""

    metrics = ("w1_norm",)

    def on_train_begin(self, logs):
        self.W = self.trainer.network.params["W1"]

    def on_evaluate(self, logs):
        logs["w1_norm"] = float(np.sqrt(np.sum(self.W**2)))


class IdleCallback(Callback):
    pass


class KwargsCallback(GoodEpochCounter):
    def __init__(self, **options) -> None:
        self.every = options.get("every", 1)


def test_a_correct_callback_passes():
    check_callback(GoodEpochCounter, every=2)
    assert outcomes(CallbackContract, GoodEpochCounter, every=2) == all_passed(CallbackContract)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_callback_is_chosen_by_name_with_its_options_and_called(dtype):
    contract = CallbackContract()
    contract.factory = GoodEpochCounter
    contract.options = {"every": 2}
    result = contract.fit(dtype)
    assert result.config.callbacks == {contract.name: {"every": 2}}
    assert (
        result.info["epochs_seen"] == result.epochs_run == CallbackContract.run["train"]["epochs"]
    )
    assert {param.dtype for param in result.model.params.values()} == {np.dtype(dtype)}


class VagueCallback(GoodEpochCounter):
    stackable = None  # not a bool


CALLBACK_CASES = [
    (VagueCallback, "test_stackable_is_declared_as_a_bool", "got None"),
    (FailingCallback, "test_trains_a_short_run", "raised RuntimeError: the disk is full"),
    (NoisyGradients, "test_runs_are_reproducible", "different learning curves"),
    (UpcastingGradients, "test_trains_a_short_run", "is float64 for float32 parameters"),
    (DroppingGradients, "test_trains_a_short_run", "the gradients are for"),
    (IdleCallback, "test_is_a_sweepnp_callback", "it would never be called"),
    (KwargsCallback, "test_options_validate_like_a_run_file", "kwargs"),
    (StaleWeightNorm, "test_trains_stacked_as_alone", "StaleWeightNorm.W holds params['W1']"),
]


@pytest.mark.parametrize(("factory", "test", "says"), CALLBACK_CASES)
def test_broken_callbacks_fail_the_right_check(factory, test, says):
    message = failure(check_callback, factory)
    assert f"- {test}: " in message
    assert says in message


def test_an_unknown_option_is_refused_as_in_a_run_file():
    message = failure(check_callback, GoodEpochCounter, evry=2)
    assert "unknown option 'evry'; valid options: every" in message


@pytest.mark.parametrize(
    ("contract", "covered"),
    [
        (OptimizerContract, {case[1] for case in OPTIMIZER_CASES}),
        (PenaltyContract, {t for c, _, t, _ in REGULARIZER_CASES if c is check_penalty}),
        (MaskContract, {t for c, _, t, _ in REGULARIZER_CASES if c is check_mask}),
        (RegularizerContract, {t for _, _, t, _ in REGULARIZER_CASES}),
        (ScheduleContract, {case[1] for case in SCHEDULE_CASES}),
        (CallbackContract, {case[1] for case in CALLBACK_CASES}),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_every_check_of_the_kit_is_shown_failing_here(contract, covered):
    """A check no broken plugin fails might never fail: each needs a case above."""
    assert checks_of(contract) - covered == set()


# -------------------------------------------------------------------------
# The pytest form: subclass a contract in a test file
# -------------------------------------------------------------------------


def test_contract_classes_run_under_pytest_and_report_the_broken_check(tmp_path):
    """A plugin author's test file: one correct optimizer, one that ascends, one callback."""
    (tmp_path / "test_my_plugins.py").write_text(
        textwrap.dedent(
            """
            import numpy as np

            from sweepnp import Callback, Optimizer, options
            from sweepnp.testing import CallbackContract, OptimizerContract


            class SignSGD(Optimizer):
                stackable = True  # proven below by test_trains_stacked_as_alone

                def __init__(self, lr: float = 0.01) -> None:
                    options.positive("lr", lr)
                    self.lr = lr

                def update(self, param, grad, state, lr):
                    param -= lr * np.sign(grad)


            class Ascending(SignSGD):
                def update(self, param, grad, state, lr):
                    param += lr * np.sign(grad)


            def make_sign_sgd(lr: float = 0.01):
                return SignSGD(lr)


            class Marker(Callback):
                stackable = True

                def __init__(self, path: str = "marker.txt") -> None:
                    self.path = path

                def on_train_end(self, logs):
                    with open(self.path, "a") as handle:
                        handle.write("done\\n")


            class TestSignSGD(OptimizerContract):
                factory = SignSGD
                options = {"lr": 0.01}


            class TestSignSGDFromAFunction(OptimizerContract):
                factory = make_sign_sgd
                options = {"lr": 0.01}


            class TestAscending(OptimizerContract):
                factory = Ascending
                options = {"lr": 0.01}


            class TestMarker(CallbackContract):
                factory = Marker
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    n_optimizer = len([n for n in dir(OptimizerContract) if n.startswith("test_")])
    n_callback = len([n for n in dir(CallbackContract) if n.startswith("test_")])
    assert f"1 failed, {3 * n_optimizer + n_callback - 1} passed" in out
    assert "FAILED test_my_plugins.py::TestAscending::test_reduces_a_convex_quadratic" in out
    assert "Ascending(lr=0.01): 300 steps on a convex quadratic at lr=0.01 must close 90%" in out
    assert "the loss rose" in out
    # the callback's relative path went to a temporary directory, not the working directory
    assert not (tmp_path / "marker.txt").exists()


def test_the_kit_does_not_import_pytest():
    code = "import sys, sweepnp.testing; print('pytest' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_the_kit_does_not_change_the_options_it_is_given():
    given = {"lr": 0.1}
    kept = copy.deepcopy(given)
    check_optimizer(GoodSGD, **given)
    assert given == kept


# -------------------------------------------------------------------------
# The kit as a package
# -------------------------------------------------------------------------


def test_the_kit_exports_the_same_names_as_before_its_split():
    # ... plus the surface contract, added with the surface family
    assert sweepnp.testing.__all__ == [
        "CallbackContract",
        "Contract",
        "ContractFailure",
        "MaskContract",
        "OptimizerContract",
        "PenaltyContract",
        "Quadratic",
        "RegularizerContract",
        "ScheduleContract",
        "SurfaceContract",
        "check_callback",
        "check_mask",
        "check_optimizer",
        "check_penalty",
        "check_regularizer",
        "check_schedule",
        "check_surface",
    ]
    from sweepnp.testing import DEFAULT_RUN, SHAPES, TRIAL_SHAPES, Quadratic

    assert CallbackContract.run is DEFAULT_RUN
    assert Quadratic().shapes is SHAPES
    assert SHAPES.keys() == TRIAL_SHAPES.keys()


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("contract", {"Contract", "ContractFailure"}),
        ("optimizers", {"OptimizerContract", "Quadratic", "check_optimizer"}),
        (
            "regularizers",
            {
                "PenaltyContract",
                "MaskContract",
                "RegularizerContract",
                "check_penalty",
                "check_mask",
                "check_regularizer",
            },
        ),
        ("schedules", {"ScheduleContract", "check_schedule"}),
        ("callbacks", {"CallbackContract", "check_callback"}),
        ("surfaces", {"SurfaceContract", "check_surface"}),
    ],
)
def test_each_family_has_its_own_module(module, names):
    where = {n: getattr(sweepnp.testing, n).__module__ for n in sweepnp.testing.__all__}
    assert {n for n, m in where.items() if m == f"sweepnp.testing.{module}"} == names


def _private_names_from_elsewhere(path: Path) -> list[str]:
    """``from m import _x`` and ``name._x`` where ``name`` was imported from another module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    imported, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"from {node.module} import {alias.name}")
                imported.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            imported |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        root = node.value
        while isinstance(root, ast.Attribute):  # sweepnp.plugins._x: the root is sweepnp
            root = root.value
        if not node.attr.startswith("__") and isinstance(root, ast.Name) and root.id in imported:
            found.append(f"{ast.unparse(node.value)}.{node.attr}")
    return found


@pytest.mark.parametrize("path", sorted(KIT.glob("*.py")), ids=lambda p: p.name)
def test_the_kit_uses_no_private_name_of_another_module(path):
    assert _private_names_from_elsewhere(path) == []


class FloatCastingSGD(GoodSGD):
    """Calls float() on its learning rate: it cannot take an array of them (one per trial)."""

    def update(self, param, grad, state, lr):
        param -= float(np.mean(lr)) * grad


def test_an_optimizer_that_cannot_stack_passes_only_by_saying_so():
    message = failure(check_optimizer, FloatCastingSGD)
    assert "- test_array_hyperparameters_broadcast_over_a_trial_axis: " in message

    class DeclaredAlone(FloatCastingSGD):
        stackable = False

    check_optimizer(DeclaredAlone)  # the stacking check is skipped: its trials train alone


# -------------------------------------------------------------------------
# Stacking: a declared `stackable = True` is proven on stacked trials
# -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "factory", "rule"),
    [
        (check_optimizer, IdKeyedMomentum, "state"),
        (check_optimizer, FloatLrSGD, "whole-array"),
        (check_penalty, BranchingL2, "whole-array"),
        (check_mask, ReusingDropout, "arrays"),
        (check_callback, StaleWeightNorm, "arrays"),
        (check_schedule, MemoizingSchedule, "shared"),
    ],
    ids=lambda x: getattr(x, "__name__", x if isinstance(x, str) else ""),
)
def test_a_plugin_that_trains_differently_stacked_fails_naming_the_rule(check, factory, rule):
    message = failure(check, factory)
    line = next(x for x in message.splitlines() if x.startswith("- test_trains_stacked_as_alone"))
    assert RULES[rule] in line
    if rule != "shared":
        assert f"Rule broken: {RULES[rule]}" in line


def test_a_stacked_mismatch_names_the_trial_the_record_and_the_array():
    line = failure(check_callback, StaleWeightNorm).splitlines()[-1]
    assert "trial 0 (optimizer.lr=0.05, float64), trained in a stack" in line
    assert "differs from the same trial alone: epoch 0: w1_norm = " in line
    assert "StaleWeightNorm.W holds params['W1'] of a layout the stack has left" in line
    line = failure(check_optimizer, IdKeyedMomentum).splitlines()[-1]
    assert "IdKeyedMomentum keeps arrays outside self.state: self.velocity (6 of" in line


def test_an_exception_stacked_is_located_in_the_plugin():
    message = failure(check_penalty, BranchingL2)
    assert "ValueError: The truth value of an array with more than one element" in message
    assert "in gradient)" in message and "test_testing_kit.py:" in message


@pytest.mark.parametrize(
    ("contract", "factory"),
    [
        (OptimizerContract, GoodSGD),
        (PenaltyContract, GoodL2),
        (MaskContract, GoodDropout),
        (ScheduleContract, GoodLinearDecay),
        (CallbackContract, GoodEpochCounter),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_an_undeclared_plugin_is_not_stacked_and_the_check_says_why(contract, factory):
    base = next(c for c in factory.__mro__ if c.__module__.startswith("sweepnp."))
    assert base.stackable is False  # the base class's default: undeclared
    undeclared = type(f"Undeclared{factory.__name__}", (factory,), {"stackable": base.stackable})
    instance = contract()
    instance.factory = undeclared
    with pytest.raises(unittest.SkipTest, match="does not declare stackable = True"):
        instance.test_trains_stacked_as_alone()


def test_the_trials_differ_and_a_slot_joins_and_leaves():
    contract = OptimizerContract()
    contract.factory = GoodMomentum
    trials = contract._trials()
    assert [run["optimizer"]["lr"] for run, _ in trials] == [0.02, 0.01, 0.005]
    assert [options["beta"] for _, options in trials] == [0.9, 0.45, 0.225]
    assert [run["train"]["epochs"] for run, _ in trials] == [8, 6, 8]
    assert len({run["train"]["seed"] for run, _ in trials}) == 3
    assert all(run["train"]["shuffle"] for run, _ in trials)
    assert list(contract.stack_joins) == [0, 0, 1]


BUILTIN = PluginManager(load_entrypoints=False).registry


@pytest.mark.parametrize("family", ["optimizers", "regularizers", "schedules", "callbacks"])
def test_every_builtin_plugin_declares_it_stacks(family):
    """The contract suites (tests/contract) then prove each declaration."""
    assert {name: e.factory.stackable for name, e in BUILTIN[family].items()} == dict.fromkeys(
        BUILTIN[family], True
    )


def test_the_example_plugin_declares_it_stacks_and_passes(monkeypatch):
    monkeypatch.syspath_prepend(str(KIT.parents[1] / "examples" / "sweepnp-lion"))
    from sweepnp_lion import Lion, LogToCSV

    assert Lion.stackable is True and LogToCSV.stackable is True
    assert outcomes(OptimizerContract, Lion, lr=0.01) == all_passed(OptimizerContract)
    path = "logs/run-{seed}.csv"
    assert outcomes(CallbackContract, LogToCSV, path=path) == all_passed(CallbackContract)
