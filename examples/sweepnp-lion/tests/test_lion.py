"""sweepnp-lion's tests: sweepnp's contract suites, then what is particular to this plugin.

Run them with the plugin installed (``pip install -e '.[test]'``, then ``pytest``): the last tests
check that sweepnp finds the plugin through its entry point.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

import sweepnp
from sweepnp.plugins import PluginManager
from sweepnp.testing import CallbackContract, OptimizerContract
from sweepnp_lion import Lion, LogToCSV

# -- the contracts every sweepnp optimizer and callback passes --------------------------------


class TestLionContract(OptimizerContract):
    factory = Lion
    options = {"lr": 0.01}


class TestLogToCSVContract(CallbackContract):
    factory = LogToCSV
    options = {"path": "logs/run-{seed}.csv"}  # the contract runs in a temporary directory


# -- Lion --------------------------------------------------------------------------------------


def test_lion_steps_by_the_sign_of_the_interpolated_momentum():
    param = np.array([1.0, -2.0, 3.0])
    lion = Lion(lr=0.1, beta1=0.9, beta2=0.99)
    lion.setup({"w": param})
    lion.step({"w": param}, {"w": np.array([0.5, -0.1, 0.0])}, 0.1)
    # c = 0.1 g (m starts at 0): a step of lr against sign(g); sign(0) = 0 leaves w[2] alone
    np.testing.assert_allclose(param, [0.9, -1.9, 3.0])
    np.testing.assert_allclose(lion.state["w"]["m"], [0.005, -0.001, 0.0])
    lion.step({"w": param}, {"w": np.array([-1.0, 1.0, 1.0])}, 0.1)
    # c = 0.9 m + 0.1 g = [-0.0955, 0.0991, 0.1]: the new gradient decides the direction
    np.testing.assert_allclose(param, [1.0, -2.0, 2.9])
    np.testing.assert_allclose(lion.state["w"]["m"], [0.00495 - 0.01, -0.00099 + 0.01, 0.01])


def test_lion_decays_only_the_weights_with_the_scheduled_rate():
    params = {"W": np.full((2, 2), 2.0), "b": np.full(2, 2.0)}
    lion = Lion(lr=0.1, weight_decay=0.5)
    lion.setup(params, weight_names={"W"})
    zero = {k: np.zeros_like(v) for k, v in params.items()}  # sign(0) = 0: only the decay acts
    lion.step(params, zero, 0.01)
    np.testing.assert_allclose(params["W"], 2.0 * (1 - 0.01 * 0.5))
    np.testing.assert_array_equal(params["b"], 2.0)


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"beta1": 1.0}, "beta1"),
        ({"beta2": -0.1}, "beta2"),
        ({"weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_lion_refuses_invalid_options(options, option):
    with pytest.raises(sweepnp.OptionError) as info:
        Lion(**options)
    assert info.value.option == option


# -- log_to_csv --------------------------------------------------------------------------------

RUN = {
    "data": {"dataset": "breast_cancer", "seed": 0},
    "model": {"task": "binary", "hidden": [8]},
    "train": {"epochs": 6, "eval_every": 2, "seed": 7},
    "optimizer": {"name": "lion", "lr": 0.003},
}


def test_log_to_csv_writes_one_row_per_epoch(tmp_path):
    path = tmp_path / "logs" / "run-{seed}.csv"
    result = sweepnp.train({**RUN, "callbacks": {"log_to_csv": {"path": str(path)}}})
    written = tmp_path / "logs" / "run-7.csv"
    assert result.info["log_to_csv"] == str(written)
    with written.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["epoch", *result.history.columns.drop(["epoch", "epoch_seconds"])]
    assert [row["epoch"] for row in rows] == ["0", "1", "2", "3", "4", "5"]
    assert rows[0]["loss"] == ""  # epoch 0 is not evaluated with eval_every = 2
    evaluated = [row for row in rows if row["loss"]]
    assert [float(row["loss"]) for row in evaluated] == result.history["loss"].tolist()
    assert all(float(row["lr"]) == pytest.approx(0.003) for row in rows)


def test_log_to_csv_appends_without_repeating_the_header(tmp_path):
    path = str(tmp_path / "log.csv")
    for _ in range(2):
        sweepnp.train({**RUN, "callbacks": {"log_to_csv": {"path": path, "append": True}}})
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * 6
    assert lines.count(lines[0]) == 1


def test_log_to_csv_refuses_unknown_fields_in_the_path():
    with pytest.raises(sweepnp.OptionError, match=r"only the fields \{seed\}, \{trial\}"):
        LogToCSV(path="logs/{epoch}.csv")


def test_log_to_csv_names_a_run_outside_a_study_trial_0_repeat_0(tmp_path):
    path = tmp_path / "logs" / "{trial}-{repeat}-{seed}.csv"
    sweepnp.train({**RUN, "callbacks": {"log_to_csv": {"path": str(path)}}})
    assert [p.name for p in (tmp_path / "logs").iterdir()] == [f"0-0-{RUN['train']['seed']}.csv"]


# -- found by sweepnp through the entry point ---------------------------------------------------


def test_sweepnp_finds_the_installed_plugin():
    pm = PluginManager()
    assert pm.registry["optimizers"]["lion"].factory is Lion
    assert pm.registry["callbacks"]["log_to_csv"].factory is LogToCSV
    assert pm.registry["optimizers"]["lion"].distribution == "sweepnp-lion"
