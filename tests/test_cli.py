"""`sweepnp train` through a real subprocess: output, JSON, overrides, and user mistakes."""

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


# (file text or None for a missing file, extra files, --set overrides, words the message must hold)
MISTAKES = {
    "unknown key": (
        BASE + "[callbacks]\n",
        {},
        ["model.hiden=[8]"],
        ["model.hiden", "valid keys", "hidden"],
    ),
    "unknown section": (BASE + "[modle]\nx = 1\n", {}, [], ["modle", "valid keys", "model"]),
    "unknown optimizer": (
        BASE,
        {},
        ["optimizer.name=adamx"],
        ["optimizer", "adamx", "valid choices", "adam, adamw"],
    ),
    "unknown option": (BASE, {}, ["optimizer.lrr=0.1"], ["optimizer.lrr", "valid options", "lr"]),
    "unknown dataset": (
        BASE,
        {},
        ["data.dataset=breast"],
        ["data.dataset", "breast", "valid choices", "breast_cancer"],
    ),
    "unknown schedule": (
        BASE,
        {},
        ["schedule.name=cosin"],
        ["schedule", "valid choices", "cosine"],
    ),
    "wrong type": (BASE, {}, ['train.epochs="ten"'], ["train.epochs", "integer"]),
    "lr <= 0": (BASE, {}, ["optimizer.lr=0"], ["optimizer.lr", "> 0"]),
    "dropout rate >= 1": (
        BASE,
        {},
        ["regularizers.dropout.rate=1.0"],
        ["regularizers.dropout.rate", "[0, 1)"],
    ),
    "dropout rate < 0": (
        BASE,
        {},
        ["regularizers.dropout.rate=-0.1"],
        ["regularizers.dropout.rate", "[0, 1)"],
    ),
    "batch size < 1": (
        BASE,
        {},
        ["train.batch_size=0"],
        ["train.batch_size", "greater than or equal to 1", "'full'"],
    ),
    "epochs < 1": (BASE, {}, ["train.epochs=0"], ["train.epochs", "greater than or equal to 1"]),
    "task choice": (BASE, {}, ["model.task=binry"], ["model.task", "'binary'", "'multiclass'"]),
    "missing file": (None, {}, [], ["no such file"]),
    "invalid toml": ("[data\n", {}, [], ["invalid TOML"]),
    "nan in data": (
        '[data]\ndataset = { path = "d.csv", target = "y" }\n',
        {"d.csv": "a,b,y\n1,2,0\nnan,3,1\n4,5,0\n6,7,1\n8,9,0\n1,1,1\n"},
        [],
        ["data", "NaN"],
    ),
    "target does not fit the task": (
        BASE,
        {},
        ["data.dataset=iris"],
        ["model.task", "2 classes", "3"],
    ),
    "empty data": (
        '[data]\ndataset = { path = "d.csv", target = "y" }\n',
        {"d.csv": "a,b,y\n"},
        [],
        ["data", "no rows"],
    ),
    "unknown target column": (
        '[data]\ndataset = { path = "d.csv", target = "label" }\n',
        {"d.csv": "a,b,y\n1,2,0\n"},
        [],
        ["data.dataset.target", "no target column 'label'", "3 columns"],
    ),
    "misspelt target column": (
        '[data]\ndataset = { path = "d.csv", target = "lable" }\n',
        {"d.csv": "a,b,Label\n1,2,0\n"},
        [],
        ["no target column 'lable'", "3 columns", "did you mean 'Label'?"],
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_user_mistakes_get_one_clear_message_and_exit_status_2(cli, tmp_path, mistake):
    text, files, overrides, words = MISTAKES[mistake]
    path = tmp_path / "run.toml"
    if text is not None:
        write_toml(path, text)
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    args = ["train", str(path)]
    for override in overrides:
        args += ["--set", override]
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"Error: {path}"), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert done.stdout == ""


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


#: Files a user might name as data by mistake; pandas takes the first line for column names.
SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYzz"
SECRET_FILES = {
    ".env": f"AWS_SECRET_ACCESS_KEY={SECRET}\nDEBUG=1\n",
    "private key": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}\n",
    "password list": f"admin,{SECRET}\nbob,{SECRET[::-1]}\n",
    "near the target": f"labels{SECRET},x\n1,2\n",
}


@pytest.mark.parametrize("kind", SECRET_FILES)
def test_an_error_about_a_data_file_never_prints_its_contents(cli, tmp_path, kind):
    (tmp_path / "data.csv").write_text(SECRET_FILES[kind])
    run = write_toml(
        tmp_path / "run.toml", '[data]\ndataset = { path = "data.csv", target = "label" }\n'
    )
    done = cli("train", str(run), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "no target column 'label'" in done.stderr
    output = done.stdout + done.stderr
    for secret in (SECRET, SECRET[::-1], "AWS_SECRET", "PRIVATE KEY", "admin"):
        assert secret not in output, output
