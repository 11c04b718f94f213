"""``stack = "auto"``: measured on this machine for the study's network — a stack where it pays
(the breast-cancer networks, overhead-bound), one run at a time where it does not (an
MNIST-size network, arithmetic-bound)."""

from __future__ import annotations

import pytest

from sweepnp.plugins import get_plugin_manager
from sweepnp.study import load_spec
from sweepnp.study.stack_size import (
    MIN_GAIN,
    NetworkShape,
    auto_stack_size,
    network_shape,
    stacking_bound,
    stacking_gain,
)
from sweepnp.study.worker import resolve_stack

BREAST_CANCER = NetworkShape(30, 1, (16,), "binary", "relu", 32, "float64")
MNIST_SIZE = NetworkShape(784, 10, (256,), "multiclass", "relu", 128, "float32")


def test_a_small_network_trains_several_times_faster_stacked():
    assert stacking_gain(BREAST_CANCER, 16) > 2.0  # 3-5x measured here; Python calls dominate


def test_auto_stacks_a_small_network_and_not_an_arithmetic_bound_one():
    assert auto_stack_size(BREAST_CANCER) == 16
    # Its products keep BLAS busy alone: a stack only adds memory (0.55-0.8x measured here).
    assert auto_stack_size(MNIST_SIZE) == 1


def test_the_bound_stops_the_probe_only_where_no_stack_can_pay():
    """A stack saves at most each run's fixed cost of a step: an MNIST-size step is nearly all
    arithmetic (bound ≈ 1.04 here), a breast-cancer one nearly all fixed cost (≈ 6-8)."""
    assert stacking_bound(MNIST_SIZE, 16) < MIN_GAIN
    assert stacking_bound(BREAST_CANCER, 16) > 2 * MIN_GAIN


def test_the_probe_measures_the_study_files_own_network(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        "[data]\ndataset = 'digits'\n[model]\nhidden = [32, 8]\ndtype = 'float32'\n"
        "[train]\nbatch_size = 24\n[optimizer]\nname = 'sgd'\nlr = 0.1\n"
        "[study]\nn_trials = 2\n[study.params]\n'optimizer.lr' = { low = 0.01, high = 0.1 }\n"
    )
    spec = load_spec(str(path))
    shape = network_shape(spec, get_plugin_manager())
    assert shape == NetworkShape(64, 10, (32, 8), "multiclass", "relu", 24, "float32")
    assert resolve_stack(spec, 3) == 3  # a number is taken as it is, nothing measured
    assert resolve_stack(spec) in (1, 4, 16)


@pytest.mark.parametrize("stack", [0, -1, "many", True])
def test_a_stack_that_is_not_a_size_is_refused(tmp_path, stack):
    from sweepnp.errors import ArgumentError

    spec = load_spec(
        {
            "data": {"dataset": "breast_cancer"},
            "optimizer": {"name": "sgd", "lr": 0.1},
            "study": {"name": "s", "params": {"optimizer.lr": {"low": 0.01, "high": 0.1}}},
        }
    )
    with pytest.raises(ArgumentError, match="whole number"):
        resolve_stack(spec, stack)


def test_a_full_batch_is_measured_as_the_training_rows():
    spec = load_spec(
        {
            "data": {"dataset": "breast_cancer", "test_size": 0.2, "val_size": 0.25},
            "train": {"batch_size": "full"},
            "optimizer": {"name": "sgd", "lr": 0.1},
            "study": {"name": "s", "params": {"optimizer.lr": {"low": 0.01, "high": 0.1}}},
        }
    )
    shape = network_shape(spec, get_plugin_manager())
    from sweepnp.config import validate
    from sweepnp.run_parts import load_data

    training_rows = len(load_data(validate(spec.run_file({}))).X_train)
    assert shape.batch_size == training_rows
    assert resolve_stack(spec) in (1, 4, 16)
