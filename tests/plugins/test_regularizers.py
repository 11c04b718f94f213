"""The built-in regularizers: penalty values, gradients by finite differences, dropout masks."""

from __future__ import annotations

import numpy as np
import pytest

from sweepnp import OptionError
from sweepnp_plugins.regularizers.dropout import Dropout
from sweepnp_plugins.regularizers.elastic_net import ElasticNetPenalty
from sweepnp_plugins.regularizers.l1 import L1Penalty
from sweepnp_plugins.regularizers.l2 import L2Penalty

W = np.array([[1.0, -2.0], [0.0, 3.0]])  # sum |w| = 6, sum w² = 14


def test_l1_values():
    reg = L1Penalty(lam=0.1)
    assert reg.penalty(W) == pytest.approx(0.6)
    np.testing.assert_array_equal(reg.gradient(W), [[0.1, -0.1], [0.0, 0.1]])


def test_l2_values():
    reg = L2Penalty(lam=0.1)
    assert reg.penalty(W) == pytest.approx(0.7)  # ½ · 0.1 · 14
    np.testing.assert_allclose(reg.gradient(W), 0.1 * W)


def test_elastic_net_values():
    reg = ElasticNetPenalty(lam=0.1, l1_ratio=0.5)
    assert reg.penalty(W) == pytest.approx(0.65)  # 0.1 · (0.5 · 6 + 0.25 · 14)
    np.testing.assert_allclose(reg.gradient(W), [[0.1, -0.15], [0.0, 0.2]])


@pytest.mark.parametrize(("ratio", "pure"), [(1.0, L1Penalty), (0.0, L2Penalty)])
def test_elastic_net_ends_are_l1_and_l2(ratio, pure):
    reg, ref = ElasticNetPenalty(lam=0.3, l1_ratio=ratio), pure(lam=0.3)
    assert reg.penalty(W) == pytest.approx(ref.penalty(W))
    np.testing.assert_allclose(reg.gradient(W), ref.gradient(W))


def test_penalty_is_a_scalar_for_one_matrix():
    for reg in (L1Penalty(lam=0.1), L2Penalty(lam=0.1), ElasticNetPenalty(lam=0.1)):
        assert np.ndim(reg.penalty(W)) == 0


PENALTIES = [
    L1Penalty(lam=0.3),
    L2Penalty(lam=0.3),
    ElasticNetPenalty(lam=0.3, l1_ratio=0.3),
]


@pytest.mark.parametrize("reg", PENALTIES, ids=lambda r: type(r).__name__)
def test_gradient_is_the_derivative_of_the_penalty(reg):
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(4, 3))
    weight += np.where(weight >= 0, 0.1, -0.1)  # keep away from L1's kink at 0
    h = 1e-6
    numerical = np.zeros_like(weight)
    for index in np.ndindex(weight.shape):
        plus, minus = weight.copy(), weight.copy()
        plus[index] += h
        minus[index] -= h
        numerical[index] = (reg.penalty(plus) - reg.penalty(minus)) / (2 * h)
    np.testing.assert_allclose(reg.gradient(weight), numerical, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("cls", [L1Penalty, L2Penalty, ElasticNetPenalty])
def test_penalty_broadcasts_over_a_trial_axis(cls):
    lams = np.array([0.1, 0.5, 2.0])
    weights = np.random.default_rng(1).normal(size=(3, 4, 2))
    stacked = cls(lam=lams.reshape(3, 1, 1))
    penalty, gradient = stacked.penalty(weights), stacked.gradient(weights)
    assert penalty.shape == (3,)
    for k, lam in enumerate(lams):
        single = cls(lam=float(lam))
        assert penalty[k] == pytest.approx(single.penalty(weights[k]), rel=1e-12)
        np.testing.assert_allclose(gradient[k], single.gradient(weights[k]), rtol=1e-12)


@pytest.mark.parametrize("cls", [L1Penalty, L2Penalty, ElasticNetPenalty])
def test_zero_strength_is_no_penalty(cls):
    reg = cls(lam=0.0)
    assert reg.penalty(W) == 0
    np.testing.assert_array_equal(reg.gradient(W), 0)


@pytest.mark.parametrize(
    ("factory", "option"),
    [
        (lambda: L1Penalty(lam=-0.1), "lam"),
        (lambda: L2Penalty(lam=-1e-9), "lam"),
        (lambda: L2Penalty(lam=float("nan")), "lam"),
        (lambda: ElasticNetPenalty(lam=-0.1), "lam"),
        (lambda: ElasticNetPenalty(lam=0.1, l1_ratio=1.5), "l1_ratio"),
        (lambda: ElasticNetPenalty(lam=0.1, l1_ratio=-0.1), "l1_ratio"),
    ],
)
def test_invalid_penalty_options_are_named(factory, option):
    with pytest.raises(OptionError) as info:
        factory()
    assert info.value.option == option


def test_capabilities():
    for reg in PENALTIES:
        assert reg.penalizes_weights()
        assert not reg.masks_activations()
    assert Dropout.masks_activations()
    assert not Dropout.penalizes_weights()


# -- dropout -------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_mask_statistics(rate, dtype):
    mask = Dropout(rate=rate).mask((1000, 200), np.random.default_rng(0), dtype)
    assert mask.shape == (1000, 200)
    assert mask.dtype == dtype
    assert np.mean(mask == 0) == pytest.approx(rate, abs=0.005)
    assert np.mean(mask) == pytest.approx(1.0, abs=0.01)
    np.testing.assert_allclose(np.unique(mask), [0.0, 1 / (1 - rate)], rtol=1e-6)


def test_dropout_rate_zero_keeps_everything():
    mask = Dropout(rate=0.0).mask((5, 7), np.random.default_rng(0), np.float64)
    np.testing.assert_array_equal(mask, 1.0)


def test_dropout_mask_is_reproducible_from_the_generator():
    dropout = Dropout(rate=0.5)
    first = dropout.mask((10, 10), np.random.default_rng(3), np.float64)
    again = dropout.mask((10, 10), np.random.default_rng(3), np.float64)
    np.testing.assert_array_equal(first, again)


def test_dropout_rate_broadcasts_over_a_trial_axis():
    rates = np.array([0.0, 0.2, 0.6])
    mask = Dropout(rate=rates.reshape(3, 1, 1)).mask(
        (3, 1000, 100), np.random.default_rng(0), np.float32
    )
    assert mask.dtype == np.float32
    for k, rate in enumerate(rates):
        assert np.mean(mask[k] == 0) == pytest.approx(rate, abs=0.01)
        assert np.mean(mask[k]) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1, float("nan")])
def test_dropout_rate_outside_zero_one_is_rejected(rate):
    with pytest.raises(OptionError) as info:
        Dropout(rate=rate)
    assert info.value.option == "rate"
