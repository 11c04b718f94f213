"""The built-in optimizers against hand computations of their first steps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sweepnp import OptionError
from sweepnp_plugins.optimizers.adagrad import AdaGrad
from sweepnp_plugins.optimizers.adam import Adam
from sweepnp_plugins.optimizers.adamw import AdamW
from sweepnp_plugins.optimizers.momentum import Momentum
from sweepnp_plugins.optimizers.nesterov import Nesterov
from sweepnp_plugins.optimizers.rmsprop import RMSprop
from sweepnp_plugins.optimizers.sgd import SGD

ALL = [SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam, AdamW]

GRADS = [0.5, -1.0, 2.0]  # the gradient of the one-element parameter at steps 1, 2, 3


def run(optimizer, grads=GRADS, lr=0.1, start=1.0):
    """Take one step per gradient on the parameter ``[start]``; return the value after each."""
    param = np.array([start])
    optimizer.setup({"theta": param})
    values = []
    for g in grads:
        optimizer.step({"theta": param}, {"theta": np.array([g])}, lr)
        values.append(float(param[0]))
    return values


def test_sgd():
    # theta <- theta - 0.1 g: 1 - 0.05, then + 0.1, then - 0.2
    assert run(SGD(lr=0.1)) == pytest.approx([0.95, 1.05, 0.85], abs=1e-15)


def test_momentum_classical():
    # v = 0.5, -0.45 + ... : v1 = 0.5, v2 = 0.45 - 1 = -0.55, v3 = -0.495 + 2 = 1.505
    # theta: 1 - 0.05 = 0.95, 0.95 + 0.055 = 1.005, 1.005 - 0.1505 = 0.8545
    values = run(Momentum(lr=0.1, beta=0.9))
    assert values == pytest.approx([0.95, 1.005, 0.8545], abs=1e-15)


def test_momentum_ema():
    # v1 = 0.1 * 0.5 = 0.05, v2 = 0.045 - 0.1 = -0.055, v3 = -0.0495 + 0.2 = 0.1505
    # theta: 1 - 0.005 = 0.995, 0.995 + 0.0055 = 1.0005, 1.0005 - 0.01505 = 0.98545
    values = run(Momentum(lr=0.1, beta=0.9, form="ema"))
    assert values == pytest.approx([0.995, 1.0005, 0.98545], abs=1e-15)


def test_momentum_with_beta_zero_is_sgd():
    assert run(Momentum(lr=0.1, beta=0.0)) == pytest.approx(run(SGD(lr=0.1)), abs=1e-15)


def test_nesterov_classical():
    # same velocities as classical momentum; steps 0.1 * (g + 0.9 v):
    # 0.1 * (0.5 + 0.45) = 0.095, 0.1 * (-1 - 0.495) = -0.1495, 0.1 * (2 + 1.3545) = 0.33545
    expected = [0.905, 1.0545, 0.71905]
    assert run(Nesterov(lr=0.1, beta=0.9)) == pytest.approx(expected, abs=1e-15)
    assert run(Momentum(lr=0.1, beta=0.9, nesterov=True)) == pytest.approx(expected, abs=1e-15)


def test_nesterov_ema():
    # same velocities as EMA momentum; steps 0.1 * (0.1 g + 0.9 v):
    # 0.1 * (0.05 + 0.045) = 0.0095, 0.1 * (-0.1 - 0.0495) = -0.01495, 0.1 * (0.2 + 0.13545)
    expected = [0.9905, 1.00545, 0.971905]
    assert run(Nesterov(lr=0.1, beta=0.9, form="ema")) == pytest.approx(expected, abs=1e-15)


def test_nesterov_is_momentum_with_nesterov():
    opt = Nesterov(lr=0.2, beta=0.8, form="ema")
    assert isinstance(opt, Momentum)
    assert (opt.lr, opt.beta, opt.form, opt.nesterov) == (0.2, 0.8, "ema", True)


def test_adagrad_has_eps_inside_the_root():
    # eps = 0.75 makes every G + eps a perfect square: 0.25 + 0.75 = 1, 1 + 0.5625 = 1.25²,
    # 1.5625 + 9 = 3.25². Steps 0.1 * g / sqrt(G + eps): 0.05, -0.06, 0.3 / 3.25.
    values = run(AdaGrad(lr=0.1, eps=0.75), grads=[0.5, -0.75, 3.0])
    assert values == pytest.approx([0.95, 1.01, 1.01 - 0.3 / 3.25], abs=1e-15)


def test_rmsprop():
    # beta = 0.5, eps = 2: E1 = 0.5 * 4 = 2, E2 = 1 + 0.5 * 16 = 9, E3 = 4.5 + 0.5 * 1 = 5
    # steps 0.1 * g / sqrt(E + 2): 0.2 / 2 = 0.1, -0.4 / sqrt(11), 0.1 / sqrt(7)
    values = run(RMSprop(lr=0.1, beta=0.5, eps=2.0), grads=[2.0, -4.0, 1.0])
    theta1 = 0.9
    theta2 = theta1 + 0.4 / math.sqrt(11)
    theta3 = theta2 - 0.1 / math.sqrt(7)
    assert values == pytest.approx([theta1, theta2, theta3], abs=1e-15)


def adam_by_hand(grads, lr, beta1, beta2, eps, decay=0.0, start=1.0):
    """Adam (with decoupled decay) on one scalar, written out as in the paper's Algorithm 1."""
    theta, m, v, values = start, 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        theta -= lr * decay * theta
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        theta -= lr * m_hat / (math.sqrt(v_hat) + eps)
        values.append(theta)
    return values


def test_adam_first_step_is_lr_times_sign():
    # m_hat = g and v_hat = g² after one step, so the step is lr * g / (|g| + eps)
    assert run(Adam(lr=0.1), grads=[0.5]) == pytest.approx([0.9], abs=1e-8)
    assert run(Adam(lr=0.1), grads=[-300.0]) == pytest.approx([1.1], abs=1e-8)


def test_adam():
    values = run(Adam(lr=0.1))
    assert values == pytest.approx(adam_by_hand(GRADS, 0.1, 0.9, 0.999, 1e-8), rel=1e-13)


def test_adam_with_other_betas():
    opt = Adam(lr=0.05, beta1=0.5, beta2=0.75, eps=0.01)
    expected = adam_by_hand(GRADS, 0.05, 0.5, 0.75, 0.01)
    assert run(opt, lr=0.05) == pytest.approx(expected, rel=1e-13)


def test_adamw_decays_only_weights():
    opt = AdamW(lr=0.1, weight_decay=0.5)
    w, b = np.array([1.0]), np.array([1.0])
    params = {"w": w, "b": b}
    opt.setup(params, weight_names={"w"})

    def step(g):
        opt.step(params, {"w": np.array([g]), "b": np.array([g])}, 0.1)

    step(GRADS[0])
    # w: decayed to 1 - 0.1 * 0.5 * 1 = 0.95, then Adam's first step of 0.1 * sign(g) -> 0.85
    # b: never decayed, only the Adam step -> 0.9
    assert w[0] == pytest.approx(0.85, abs=1e-8)
    assert b[0] == pytest.approx(0.9, abs=1e-8)
    for g in GRADS[1:]:
        step(g)
    expected_w = adam_by_hand(GRADS, 0.1, 0.9, 0.999, 1e-8, decay=0.5)
    expected_b = adam_by_hand(GRADS, 0.1, 0.9, 0.999, 1e-8)
    assert w[0] == pytest.approx(expected_w[-1], rel=1e-13)
    assert b[0] == pytest.approx(expected_b[-1], rel=1e-13)


def test_adamw_without_decay_is_adam():
    assert run(AdamW(lr=0.1, weight_decay=0.0)) == run(Adam(lr=0.1))


def test_adamw_decay_follows_the_scheduled_lr():
    # the decay uses the lr passed to step (0.2), not the constructor's lr
    opt = AdamW(lr=0.1, weight_decay=0.5)
    w = np.array([2.0])
    opt.setup({"w": w}, weight_names={"w"})
    opt.step({"w": w}, {"w": np.array([0.0])}, 0.2)  # zero gradient: the Adam step is 0
    assert w[0] == pytest.approx(2.0 * (1 - 0.2 * 0.5), abs=1e-15)


def test_update_uses_the_lr_passed_to_step():
    assert run(SGD(lr=5.0), lr=0.1) == run(SGD(lr=0.1), lr=0.1)


def test_state_is_named_and_shaped_like_the_parameter():
    param = np.zeros((3, 2), dtype=np.float32)
    expected = {
        SGD: set(),
        Momentum: {"velocity"},
        Nesterov: {"velocity"},
        AdaGrad: {"sum_sq"},
        RMSprop: {"mean_sq"},
        Adam: {"m", "v"},
        AdamW: {"m", "v"},
    }
    for cls, keys in expected.items():
        opt = cls()
        opt.setup({"p": param})
        assert set(opt.state["p"]) == keys
        for array in opt.state["p"].values():
            assert array.shape == param.shape
            assert array.dtype == np.float32


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("lr", [0.0, -0.1, float("nan"), float("inf")])
def test_lr_must_be_positive(cls, lr):
    with pytest.raises(OptionError) as info:
        cls(lr=lr)
    assert info.value.option == "lr"


@pytest.mark.parametrize(
    ("cls", "options", "option"),
    [
        (Momentum, {"beta": 1.0}, "beta"),
        (Momentum, {"beta": -0.1}, "beta"),
        (Momentum, {"form": "heavy"}, "form"),
        (Nesterov, {"beta": 1.5}, "beta"),
        (Nesterov, {"form": "nesterov"}, "form"),
        (AdaGrad, {"eps": 0.0}, "eps"),
        (RMSprop, {"beta": 1.0}, "beta"),
        (RMSprop, {"eps": -1e-8}, "eps"),
        (Adam, {"beta1": 1.0}, "beta1"),
        (Adam, {"beta2": -0.5}, "beta2"),
        (Adam, {"eps": 0.0}, "eps"),
        (AdamW, {"weight_decay": -0.01}, "weight_decay"),
        (AdamW, {"beta2": 1.0}, "beta2"),
    ],
)
def test_invalid_options_are_named(cls, options, option):
    with pytest.raises(OptionError) as info:
        cls(**options)
    assert info.value.option == option


def test_array_hyperparameters_are_validated_elementwise():
    Momentum(lr=np.array([0.1, 0.2]), beta=np.array([0.0, 0.9]))
    with pytest.raises(OptionError) as info:
        Momentum(lr=np.array([0.1, 0.2]), beta=np.array([0.5, 1.0]))
    assert info.value.option == "beta"


@pytest.mark.parametrize("factory", [Adam, AdamW])
def test_adam_computes_a_float32_run_in_float32(factory):
    """Its bias corrections, powers of an integer step count, are float64: rounded to the
    options' dtype, a float32 run's update is float32 arithmetic, the reference below bit for
    bit (computed through float64 before, 8x slower on a 784x256 weight)."""
    f32 = np.float32
    beta1, beta2, eps, lr = f32(0.9), f32(0.999), f32(1e-8), f32(0.01)
    options = {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps}
    if factory is AdamW:
        options["weight_decay"] = f32(0.0)
    optimizer = factory(**options)
    rng = np.random.default_rng(0)
    param = rng.standard_normal((4, 3)).astype(f32)
    expected, m, v = param.copy(), np.zeros_like(param), np.zeros_like(param)
    optimizer.setup({"W": param}, ["W"])
    for t in range(1, 4):
        grad = rng.standard_normal((4, 3)).astype(f32)
        optimizer.step({"W": param}, {"W": grad}, lr)
        m = beta1 * m + (f32(1) - beta1) * grad
        v = beta2 * v + (f32(1) - beta2) * grad * grad
        c1 = f32(1 - np.power(beta1, np.int64(t), dtype=np.float64))
        c2 = f32(1 - np.power(beta2, np.int64(t), dtype=np.float64))
        expected = expected - (lr / c1) * m / (np.sqrt(v / c2) + eps)
        assert param.dtype == np.float32
        np.testing.assert_array_equal(param, expected)
