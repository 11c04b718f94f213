"""`sweepnp train` through a real subprocess: output, JSON, overrides (mistakes: test_mistakes)."""

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


def test_train_prints_final_metrics(cli, run_file):
    done = cli("train", str(run_file))
    assert done.returncode == 0, done.stderr
    assert "completed after 3 epochs" in done.stdout
    assert "val_accuracy" in done.stdout


def test_json_prints_exactly_one_object(cli, run_file):
    done = cli("train", str(run_file), "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)  # fails on anything but one JSON document
    assert set(payload) == {"metrics", "history", "stop_reason"}
    assert [row["epoch"] for row in payload["history"]] == [0, 1, 2]
    assert payload["stop_reason"] == "completed"
    assert 0.0 <= payload["metrics"]["val_accuracy"] <= 1.0


def test_set_overrides_by_dotted_key(cli, run_file):
    done = cli(
        "train", str(run_file), "--json", "--set", "train.epochs=2", "--set", "optimizer.lr=0.1"
    )
    payload = json.loads(done.stdout)
    assert len(payload["history"]) == 2
    assert payload["history"][0]["lr"] == 0.1


# User mistakes, for every command: tests/test_mistakes.py.


def test_progress_shows_on_a_terminal_and_not_in_a_pipe(cli, tmp_path, on_a_terminal):
    run_file = write_toml(tmp_path / "run.toml", BASE.replace("epochs = 3", "epochs = 300"))
    status, screen = on_a_terminal(["train", str(run_file)], tmp_path)
    assert status == 0, screen
    assert "training" in screen and "300/300" in screen  # the rich progress bar
    piped = cli("train", str(run_file))
    assert "300/300" not in piped.stdout + piped.stderr
    assert "completed after 300 epochs" in piped.stdout


def test_train_on_a_study_file_trains_its_base_configuration(cli):
    quickstart = Path(__file__).resolve().parents[1] / "studies" / "quickstart.toml"
    done = cli("train", str(quickstart), "--json", "--set", "train.epochs=3")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert len(payload["history"]) == 3
    assert payload["history"][0]["lr"] == 0.05  # the base file's SGD learning rate


def test_a_diverging_regression_run_suggests_scaling_the_target(cli, tmp_path):
    run = tmp_path / "diabetes.toml"
    run.write_text(
        '[data]\ndataset = "diabetes"\n[model]\ntask = "regression"\n[train]\nepochs = 20\n'
    )
    done = cli("train", str(run))
    assert done.returncode == 0, done.stderr
    assert "diverged" in done.stdout
    assert 'set data.scale_target = "standard"' in done.stdout
    scaled = cli("train", str(run), "--set", "data.scale_target=standard")
    assert "completed after 20 epochs" in scaled.stdout
    assert "scale_target" not in scaled.stdout
