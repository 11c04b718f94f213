"""The logistic, softmax and log-softmax functions sweepnp computes in NumPy (instead of importing
``scipy.special``): SciPy's values, and stable where the inputs are large."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import special

from sweepnp.tasks import expit, log_softmax, softmax


def logits(shape, scale, seed=0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


@pytest.mark.parametrize("scale", [1.0, 30.0, 1000.0])
@pytest.mark.parametrize("shape", [(32, 10), (4, 32, 3), (1, 2)])
def test_softmax_and_log_softmax_are_scipys_bit_for_bit(shape, scale):
    z = logits(shape, scale)
    assert np.array_equal(softmax(z, axis=-1), special.softmax(z, axis=-1))
    assert np.array_equal(log_softmax(z, axis=-1), special.log_softmax(z, axis=-1))
    assert np.array_equal(softmax(z[0], axis=0), special.softmax(z[0], axis=0))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_expit_is_scipys_to_the_last_bits(dtype):
    z = logits(100_000, 8.0).astype(dtype)
    ours, theirs = expit(z), special.expit(z)
    assert ours.dtype == theirs.dtype == dtype
    np.testing.assert_allclose(ours, theirs, rtol=4 * np.finfo(dtype).eps, atol=0)


def test_expit_is_stable_for_large_inputs():
    z = np.array([-np.inf, -1e308, -1000.0, -745.0, -50.0, 0.0, 50.0, 1000.0, 1e308, np.inf])
    with np.errstate(over="ignore"):  # as in training: e^−z overflows to inf, giving 0
        p = expit(z)
    assert not np.isnan(p).any()
    assert np.array_equal(p[[0, 1, 2, 3]], np.zeros(4))
    assert np.array_equal(p[[6, 7, 8, 9]], np.ones(4))
    assert p[4] == pytest.approx(np.exp(-50.0), rel=1e-15) and p[5] == 0.5


def test_log_softmax_is_accurate_where_softmax_saturates():
    z = np.array([[0.0, -1000.0], [1000.0, 0.0]])
    assert np.array_equal(log_softmax(z), [[0.0, -1000.0], [0.0, -1000.0]])
    assert np.array_equal(softmax(z), [[1.0, 0.0], [1.0, 0.0]])


def test_a_models_predictions_on_huge_inputs_warn_of_nothing(small_run):
    from sweepnp import train

    small_run["model"].update(activation="sigmoid", hidden=[4])
    small_run["train"]["epochs"] = 1
    model = train(small_run).model
    X = np.full((3, 30), 1e12)
    X[1] *= -1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba = model.predict_proba(X)
        model.predict(X)
    assert np.isfinite(proba).all()
