"""`sweepnp train`: output, JSON, overrides (mistakes: test_mistakes). In this process, but for
the progress bar, which needs a real process on a real pseudo-terminal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


BASE = """
[data]
dataset = "breast_cancer"
seed = 0
[model]
task = "binary"
hidden = [4]
[train]
epochs = 3
[optimizer]
name = "sgd"
lr = 0.05
"""


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    return write_toml(tmp_path / "run.toml", BASE)


def test_train_prints_final_metrics(invoke, run_file):
    done = invoke("train", run_file)
    assert done.exit_code == 0, done.stderr
    assert "completed after 3 epochs" in done.stdout
    assert "val_accuracy" in done.stdout


def test_json_prints_exactly_one_object(invoke, run_file):
    done = invoke("train", run_file, "--json")
    assert done.exit_code == 0, done.stderr
    payload = json.loads(done.stdout)  # fails on anything but one JSON document
    assert set(payload) == {"metrics", "history", "stop_reason"}
    assert [row["epoch"] for row in payload["history"]] == [0, 1, 2]
    assert payload["stop_reason"] == "completed"
    assert 0.0 <= payload["metrics"]["val_accuracy"] <= 1.0


def test_set_overrides_by_dotted_key(invoke, run_file):
    done = invoke(
        "train", run_file, "--json", "--set", "train.epochs=2", "--set", "optimizer.lr=0.1"
    )
    assert done.exit_code == 0, done.stderr
    payload = json.loads(done.stdout)
    assert len(payload["history"]) == 2
    assert payload["history"][0]["lr"] == 0.1


def test_plot_draws_the_runs_learning_curves(invoke, run_file, tmp_path):
    import matplotlib.image

    png = tmp_path / "curves.png"
    done = invoke("train", run_file, "--plot", png, "--json")
    assert done.exit_code == 0, done.stderr
    assert f"wrote the learning curves to {png}" in done.stderr
    json.loads(done.stdout)  # --json still prints one object, and only it
    pixels = matplotlib.image.imread(png)
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 600
    assert pixels[..., :3].std() > 0.05  # not a blank canvas


# User mistakes, for every command: tests/test_mistakes.py.


@pytest.mark.slow
def test_progress_shows_on_a_terminal_and_not_in_a_pipe(invoke, tmp_path, on_a_terminal):
    run_file = write_toml(tmp_path / "run.toml", BASE.replace("epochs = 3", "epochs = 300"))
    status, screen = on_a_terminal(["train", str(run_file)], tmp_path)
    assert status == 0, screen
    assert "training" in screen and "300/300" in screen  # the rich progress bar
    piped = invoke("train", run_file)  # output that is not a terminal, as a pipe's
    assert piped.exit_code == 0, piped.stderr
    assert "300/300" not in piped.stdout + piped.stderr
    assert "completed after 300 epochs" in piped.stdout


def test_train_on_a_study_file_trains_its_base_configuration(invoke):
    quickstart = Path(__file__).resolve().parents[1] / "studies" / "quickstart.toml"
    done = invoke("train", quickstart, "--json", "--set", "train.epochs=3")
    assert done.exit_code == 0, done.stderr
    payload = json.loads(done.stdout)
    assert len(payload["history"]) == 3
    assert payload["history"][0]["lr"] == 0.05  # the base file's SGD learning rate


def test_a_diverging_regression_run_suggests_scaling_the_target(invoke, tmp_path):
    run = tmp_path / "diabetes.toml"
    run.write_text(
        '[data]\ndataset = "diabetes"\n[model]\ntask = "regression"\n[train]\nepochs = 20\n'
    )
    done = invoke("train", run)
    assert done.exit_code == 0, done.stderr
    assert "diverged" in done.stdout
    assert 'set data.scale_target = "standard"' in done.stdout
    scaled = invoke("train", run, "--set", "data.scale_target=standard")
    assert scaled.exit_code == 0, scaled.stderr
    assert "completed after 20 epochs" in scaled.stdout
    assert "scale_target" not in scaled.stdout


LOGGING_PLUGIN = """
import logging

import optuna

from sweepnp import hookimpl


@hookimpl
def sweepnp_on_train_begin(trainer, logs):
    optuna.logging.get_logger("optuna.noisy").warning("through Optuna's handler")
    logging.getLogger("noisy").warning("through logging's last resort")
"""


def test_in_process_commands_show_what_loggers_print_as_a_process_would(invoke, tmp_path):
    """The fixture ``invoke`` runs commands in this process; what a plugin or a library logs must
    reach the command's stderr, as in a real process (whose stderr tests check)."""
    site = tmp_path / "site"
    (site / "noisy-0.1.dist-info").mkdir(parents=True)
    (site / "noisy.py").write_text(LOGGING_PLUGIN)
    (site / "noisy-0.1.dist-info" / "METADATA").write_text("Name: noisy\nVersion: 0.1\n")
    (site / "noisy-0.1.dist-info" / "entry_points.txt").write_text("[sweepnp]\nnoisy = noisy\n")
    run_file = write_toml(tmp_path / "run.toml", BASE)
    done = invoke("train", run_file, "--quiet", sites=(site,))
    assert done.exit_code == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith("[W ") and lines[0].endswith("] through Optuna's handler")
    assert lines[1] == "through logging's last resort"
    quiet = invoke("train", run_file, "--quiet")  # and nothing of it is left behind
    assert quiet.exit_code == 0 and quiet.stderr == ""
