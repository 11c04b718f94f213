"""The regularizer contracts: :class:`PenaltyContract`, :class:`MaskContract`,
:class:`RegularizerContract`, and :func:`check_penalty`, :func:`check_mask`,
:func:`check_regularizer`.

A weight penalty's gradient passes :func:`sweepnp.check_gradients`, and it gives one finite penalty
per matrix and one per trial for a stack of them. An activation mask has the shape and dtype asked
for, expectation 1, is reproducible from the generator it is given, and stacks over a trial axis.
A regularizer passes the checks of what it provides (the others are skipped), and provides one.
"""

from __future__ import annotations

import typing
import unittest
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sweepnp.regularizers import Regularizer
from sweepnp.testing.stacking import RULES, StackingChecks, arrays_of

__all__ = [
    "MaskContract",
    "PenaltyContract",
    "RegularizerContract",
    "check_mask",
    "check_penalty",
    "check_regularizer",
]


def _skip(reason: str) -> typing.NoReturn:
    raise unittest.SkipTest(reason)  # pytest reports it as a skip; not importing pytest


class _RegularizerChecks(StackingChecks):
    key = "regularizers"
    family = "regularizers"
    #: Scales applied to every float option to make the trials of the trial-axis checks.
    trial_scales: Sequence[float] = (1.0, 0.5, 0.25)

    def _place(self, run: dict[str, Any], options: dict[str, Any]) -> None:
        run["regularizers"] = {**run.get("regularizers", {}), self.name: options}

    def _family_diagnosis(self, alone: Any) -> str | None:
        regularizer = alone.regularizers[self.name]
        kept = [attribute for attribute, _ in arrays_of(regularizer)]
        if not kept:
            return None
        shown = ", ".join(f"self.{a}" for a in kept[:3])
        return (
            f"{type(regularizer).__name__} keeps arrays across calls ({shown}). "
            f"Rule broken: {RULES['arrays']}"
        )

    def _stacked_options(self) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
        first = self._float_options()
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
                self._fail(
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
            self._fail(f"gradient() of a {weight.shape} matrix has shape {gradient.shape}")
        errors = check_gradients(regularizers=[regularizer])
        worst = max(errors, key=errors.__getitem__)
        if not errors[worst] < self.gradient_tolerance:
            self._fail(
                f"the gradient check failed: relative error {errors[worst]:.2e} for {worst} "
                f"(needs < {self.gradient_tolerance:g}). gradient(W) must be the derivative of "
                "penalty(W) with respect to W",
            )

    def test_one_finite_penalty_per_matrix(self) -> None:
        regularizer = self._penalty()
        weight = np.random.default_rng(1).normal(size=(5, 4))
        penalty = regularizer.penalty(weight)
        if np.ndim(penalty) != 0:
            self._fail(f"penalty() of one matrix has shape {np.shape(penalty)}: return a number")
        if not np.isfinite(penalty):
            self._fail(f"penalty() of a standard normal matrix is {penalty}")

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
            self._fail(f"on weights stacked as ({n}, 4, 3) it raised {type(exc).__name__}: {exc}")
        if penalty.shape != (n,):
            options = f" and {', '.join(stacked_options)} of shape ({n}, 1, 1)"
            self._fail(
                f"penalty() of {n} stacked (4, 3) matrices{options if stacked_options else ''} "
                f"has shape {penalty.shape}, not ({n},): sum over the last two axes only "
                "(axis=(-2, -1)), with the hyperparameters inside the sum",
            )
        for k, options in enumerate(trials):
            single = self.make(**options)
            if not np.isclose(penalty[k], single.penalty(weights[k]), rtol=1e-12, atol=0):
                self._fail(f"trial {k} of a stacked penalty differs from a single penalty")
            if not np.allclose(gradient[k], single.gradient(weights[k]), rtol=1e-12, atol=0):
                self._fail(f"trial {k} of a stacked gradient differs from a single gradient")


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
                self._fail(
                    "provides no activation mask: subclass sweepnp.Regularizer and override "
                    "mask(shape, rng, dtype)",
                )
            _skip(f"{self.subject} provides no activation mask")
        return regularizer

    def _check_mask(self, mask: Any, shape: tuple[int, ...], dtype: Any, what: str) -> None:
        if not isinstance(mask, np.ndarray) or mask.shape != shape:
            self._fail(f"{what}: mask{shape} gave shape {np.shape(mask)}, not {shape}")
        if mask.dtype != dtype:
            self._fail(f"{what}: mask(..., dtype={np.dtype(dtype).name}) gave {mask.dtype}")
        if not np.all(np.isfinite(mask)):
            self._fail(f"{what}: the mask holds non-finite values")

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
            self._fail(
                f"the mask's mean is {mean:.3f}, not 1: evaluation applies no mask, so a mask "
                "must keep each activation's expectation (inverted dropout divides the kept "
                "units by 1 - rate)",
            )

    def test_mask_is_reproducible_from_the_generator(self) -> None:
        regularizer = self._masker()
        first = regularizer.mask(self.mask_shape, np.random.default_rng(3), np.float64)
        again = regularizer.mask(self.mask_shape, np.random.default_rng(3), np.float64)
        if not np.array_equal(first, again):
            self._fail(
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
            self._fail(f"mask{shape} with stacked options raised {type(exc).__name__}: {exc}")
        self._check_mask(mask, shape, np.float32, f"{n} trials stacked")
        for k in range(n):
            mean = float(np.mean(mask[k], dtype=np.float64))
            if not abs(mean - 1.0) <= self.mean_tolerance:
                self._fail(f"trial {k} of a stacked mask has mean {mean:.3f}, not 1")


class RegularizerContract(PenaltyContract, MaskContract):
    """A regularizer's contract: the penalty checks if it has a penalty, the mask checks if it
    masks, and at least one of the two. (Checks of the part it does not provide are skipped.)"""

    requires_penalty = False
    requires_mask = False

    def test_provides_a_penalty_or_a_mask(self) -> None:
        regularizer = self.make()
        if not isinstance(regularizer, Regularizer):
            self._fail(f"builds a {type(regularizer).__name__}; subclass sweepnp.Regularizer")
        if not (regularizer.penalizes_weights() or regularizer.masks_activations()):
            self._fail(
                "provides neither a weight penalty (penalty() and gradient()) nor an activation "
                "mask (mask()): override the methods of what it provides",
            )


def check_penalty(factory: Callable[..., Any], /, **options: Any) -> None:
    """Run every check of :class:`PenaltyContract`; raise :class:`ContractFailure` on failure."""
    PenaltyContract._check_all(factory, options)


def check_mask(factory: Callable[..., Any], /, **options: Any) -> None:
    """Run every check of :class:`MaskContract`; raise :class:`ContractFailure` on failure."""
    MaskContract._check_all(factory, options)


def check_regularizer(factory: Callable[..., Any], /, **options: Any) -> None:
    """Run :class:`RegularizerContract`: the penalty and the mask checks, each where they apply."""
    RegularizerContract._check_all(factory, options)
