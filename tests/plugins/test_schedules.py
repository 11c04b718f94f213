"""The built-in schedules against known values, including the source exercise's (002, section 5)."""

from __future__ import annotations

import numpy as np
import pytest

from sweepnp import OptionError
from sweepnp_plugins.schedules.constant import ConstantSchedule
from sweepnp_plugins.schedules.cosine import CosineSchedule
from sweepnp_plugins.schedules.exponential import ExponentialSchedule
from sweepnp_plugins.schedules.step import StepSchedule
from sweepnp_plugins.schedules.warmup import WarmupSchedule
from sweepnp_plugins.schedules.warmup_cosine import WarmupCosineSchedule


def ready(schedule, base_lr=0.1, epochs=100):
    schedule.setup(base_lr, epochs)
    return schedule


def values(schedule, epochs):
    return [schedule.lr_at(t) for t in epochs]


def test_constant():
    schedule = ready(ConstantSchedule())
    assert values(schedule, [0, 0.5, 10, 99]) == [0.1, 0.1, 0.1, 0.1]


def test_step_matches_the_source_exercise():
    schedule = ready(StepSchedule(step_size=10, gamma=0.5))
    expected = [0.1, 0.05, 0.025, 0.0125, 0.00625]
    assert values(schedule, [0, 10, 20, 30, 40]) == pytest.approx(expected, rel=1e-15)


def test_step_changes_only_at_multiples_of_step_size():
    schedule = ready(StepSchedule(step_size=3, gamma=0.1))
    expected = [0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001]
    assert values(schedule, [0, 1, 2.99, 3, 4.5, 5.999, 6]) == pytest.approx(expected)


def test_exponential():
    schedule = ready(ExponentialSchedule(gamma=0.5))
    expected = [0.1, 0.1 * 0.5**0.5, 0.05, 0.025, 0.0125]
    assert values(schedule, [0, 0.5, 1, 2, 3]) == pytest.approx(expected, rel=1e-15)


def test_cosine_matches_the_source_exercise():
    # lr_max 0.1, lr_min 0.0001, 50 epochs; the exercise prints these to 6 decimals
    schedule = ready(CosineSchedule(lr_min=0.0001), epochs=50)
    expected = [0.1, 0.090460, 0.050050, 0.009640, 0.0001]
    assert values(schedule, [0, 10, 25, 40, 50]) == pytest.approx(expected, abs=5e-7)


def test_cosine_is_halfway_at_half_time_and_stays_at_lr_min():
    schedule = ready(CosineSchedule(lr_min=0.02, t_max=10))
    assert schedule.lr_at(5) == pytest.approx(0.06)
    assert values(schedule, [10, 11, 50, 99]) == pytest.approx([0.02] * 4)


def test_cosine_defaults_to_the_whole_run():
    schedule = ready(CosineSchedule(), epochs=20)
    assert schedule.lr_at(10) == pytest.approx(0.05)
    assert schedule.lr_at(20) == pytest.approx(0.0, abs=1e-18)


def test_warmup_matches_the_source_exercise():
    schedule = ready(WarmupSchedule(warmup_epochs=5))
    expected = [0.02, 0.04, 0.06, 0.08, 0.1, 0.1, 0.1]
    assert values(schedule, range(7)) == pytest.approx(expected, rel=1e-15)


def test_warmup_never_exceeds_base_lr_between_epochs():
    schedule = ready(WarmupSchedule(warmup_epochs=4))
    assert schedule.lr_at(0.5) == pytest.approx(0.0375)
    assert schedule.lr_at(3.5) == pytest.approx(0.1)


def seed_warmup_cosine(epoch, total_epochs=100, warmup_epochs=10, lr_max=0.1, lr_min=0.0001):
    """Source exercise 002, section 5.3, verbatim."""
    if epoch < warmup_epochs:
        return lr_max * (epoch + 1) / warmup_epochs
    progress = (epoch - warmup_epochs) / (total_epochs - warmup_epochs)
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + np.cos(np.pi * progress))


def test_warmup_cosine_matches_the_source_exercise():
    schedule = ready(WarmupCosineSchedule(warmup_epochs=10, lr_min=0.0001), epochs=100)
    epochs = [0, 5, 9, 10, 50, 55, 99, 100]
    assert values(schedule, epochs) == pytest.approx(
        [seed_warmup_cosine(t) for t in epochs], rel=1e-14
    )
    # the exercise's printed values at its epochs 0, 5, 10, 50 and 100
    expected = [0.01, 0.06, 0.1, 0.058724, 0.0001]
    assert values(schedule, [0, 5, 10, 50, 100]) == pytest.approx(expected, abs=5e-7)


def test_warmup_cosine_is_continuous_at_the_end_of_warmup():
    schedule = ready(WarmupCosineSchedule(warmup_epochs=4), epochs=20)
    assert schedule.lr_at(3.5) == pytest.approx(0.1)  # capped, not 0.1 * 4.5 / 4
    assert schedule.lr_at(4) == pytest.approx(0.1)
    assert schedule.lr_at(12) == pytest.approx(0.05)
    assert schedule.lr_at(25) == pytest.approx(0.0, abs=1e-18)


def test_warmup_cosine_needs_epochs_after_warmup():
    schedule = WarmupCosineSchedule(warmup_epochs=10)
    with pytest.raises(OptionError) as info:
        schedule.setup(0.1, 10)
    assert info.value.option == "warmup_epochs"
    schedule.setup(0.1, 11)


ALL = [
    ConstantSchedule(),
    StepSchedule(step_size=3, gamma=0.5),
    ExponentialSchedule(gamma=0.9),
    CosineSchedule(lr_min=0.001),
    CosineSchedule(t_max=5),
    WarmupSchedule(warmup_epochs=3),
    WarmupCosineSchedule(warmup_epochs=3, lr_min=0.001),
]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_array_base_lr_broadcasts(schedule):
    base = np.array([[0.1], [0.2]])
    for t in [0, 0.5, 2, 3, 4.25, 7, 10]:
        schedule.setup(base, 10)
        stacked = schedule.lr_at(t)
        assert np.shape(stacked) == (2, 1)
        for k in range(2):
            schedule.setup(float(base[k, 0]), 10)
            assert stacked[k, 0] == pytest.approx(schedule.lr_at(t), rel=1e-14)


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: type(s).__name__)
def test_scalar_base_lr_gives_a_scalar(schedule):
    schedule.setup(0.1, 10)
    for t in [0, 2.5, 9]:
        lr = schedule.lr_at(t)
        assert np.ndim(lr) == 0
        assert not isinstance(lr, np.ndarray)


def test_array_hyperparameters_broadcast():
    base = np.array([[0.1], [0.2]])
    gammas = np.array([[0.5], [0.25]])
    schedule = ready(StepSchedule(step_size=2, gamma=gammas), base_lr=base)
    np.testing.assert_allclose(schedule.lr_at(4), [[0.025], [0.0125]])
    schedule = ready(ExponentialSchedule(gamma=gammas), base_lr=base)
    np.testing.assert_allclose(schedule.lr_at(2), [[0.025], [0.0125]])
    schedule = ready(CosineSchedule(lr_min=np.array([[0.0], [0.1]])), base_lr=base, epochs=10)
    np.testing.assert_allclose(schedule.lr_at(5), [[0.05], [0.15]])


@pytest.mark.parametrize("interval", ["epoch", "batch"])
def test_interval_is_kept(interval):
    assert CosineSchedule(interval=interval).interval == interval
    assert WarmupCosineSchedule(interval=interval).interval == interval


@pytest.mark.parametrize(
    ("factory", "option"),
    [
        (lambda: ConstantSchedule(interval="step"), "interval"),
        (lambda: StepSchedule(step_size=0), "step_size"),
        (lambda: StepSchedule(step_size=2.5), "step_size"),
        (lambda: StepSchedule(gamma=0.0), "gamma"),
        (lambda: StepSchedule(gamma=1.5), "gamma"),
        (lambda: ExponentialSchedule(gamma=-0.5), "gamma"),
        (lambda: ExponentialSchedule(gamma=1.01), "gamma"),
        (lambda: CosineSchedule(lr_min=-0.1), "lr_min"),
        (lambda: CosineSchedule(t_max=0), "t_max"),
        (lambda: WarmupSchedule(warmup_epochs=0), "warmup_epochs"),
        (lambda: WarmupCosineSchedule(warmup_epochs=0), "warmup_epochs"),
        (lambda: WarmupCosineSchedule(lr_min=-1.0), "lr_min"),
        (lambda: WarmupCosineSchedule(interval="minibatch"), "interval"),
    ],
)
def test_invalid_options_are_named(factory, option):
    with pytest.raises(OptionError) as info:
        factory()
    assert info.value.option == option
