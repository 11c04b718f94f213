"""The schedule contract, run against every schedule the plugin manager registers.

A new schedule gets these tests for free; give it an entry in ``OPTIONS`` only if it has a
required option.
"""

from __future__ import annotations

import numpy as np
import pytest

from sweepnp import OptionError
from sweepnp.plugins import PluginManager

REGISTRY = PluginManager(load_entrypoints=False).registry["schedules"]
NAMES = sorted(REGISTRY)

#: Options for schedules that need some; every built-in schedule works with its defaults.
OPTIONS: dict[str, dict] = {}

BASE_LR = 0.1
EPOCHS = 100
#: Where the trainer asks: every epoch (interval "epoch") and fractions of one (interval "batch").
POSITIONS = np.concatenate([np.arange(EPOCHS), np.arange(0, EPOCHS, 0.37)])


def make(name, **overrides):
    return REGISTRY[name].factory(**{**OPTIONS.get(name, {}), **overrides})


def ready(name, base_lr=BASE_LR, epochs=EPOCHS, **overrides):
    schedule = make(name, **overrides)
    schedule.setup(base_lr, epochs)
    return schedule


@pytest.mark.parametrize("name", NAMES)
def test_finite_and_positive_during_training(name):
    schedule = ready(name)
    lrs = np.array([schedule.lr_at(float(t)) for t in POSITIONS])
    assert np.all(np.isfinite(lrs))
    assert np.all(lrs > 0), f"lr <= 0 at t = {POSITIONS[lrs <= 0]}"


@pytest.mark.parametrize("name", NAMES)
def test_finite_and_non_negative_at_the_end(name):
    # at t = epochs (never asked in training) an annealed rate may have reached lr_min = 0
    lr = ready(name).lr_at(float(EPOCHS))
    assert np.isfinite(lr)
    assert lr >= 0


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name):
    first, second = ready(name), ready(name)
    a = [first.lr_at(float(t)) for t in POSITIONS]
    b = [first.lr_at(float(t)) for t in POSITIONS]
    c = [second.lr_at(float(t)) for t in POSITIONS[::-1]][::-1]
    assert a == b == c


@pytest.mark.parametrize("name", NAMES)
def test_scalar_in_scalar_out(name):
    schedule = ready(name)
    for t in (0.0, 12.5, 99.0):
        lr = schedule.lr_at(t)
        assert np.ndim(lr) == 0
        assert not isinstance(lr, np.ndarray)  # a 0-d array would leak into logs and tables
        float(lr)


@pytest.mark.parametrize("name", NAMES)
def test_array_base_lr_broadcasts(name):
    base = np.array([[0.1], [0.2]])
    stacked = ready(name, base_lr=base)
    singles = [ready(name, base_lr=float(b)) for b in base[:, 0]]
    for t in POSITIONS[::7]:
        lr = stacked.lr_at(float(t))
        assert np.shape(lr) == (2, 1)
        for k, single in enumerate(singles):
            assert lr[k, 0] == pytest.approx(single.lr_at(float(t)), rel=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_starts_at_or_below_base_lr(name):
    # no built-in schedule starts above the optimizer's lr; warmups start below it
    assert 0 < ready(name).lr_at(0.0) <= BASE_LR * (1 + 1e-12)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("interval", ["epoch", "batch"])
def test_interval(name, interval):
    assert make(name, interval=interval).interval == interval


@pytest.mark.parametrize("name", NAMES)
def test_rejects_an_unknown_interval(name):
    with pytest.raises(OptionError) as info:
        make(name, interval="step")
    assert info.value.option == "interval"
