"""`sweepnp study show | list | best` on a terminal's width: whole numbers and headers on one
line, columns left out with a line naming them, `--format table|json|csv`, parameters as
precisely as they were searched, `-h`, and `show --watch` on a study a real process is running."""

from __future__ import annotations

import io
import json
import math
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import optuna
import pandas as pd
import pytest

import sweepnp.results
from sweepnp.cli import main
from sweepnp.study.space import Param
from sweepnp.study.storage import open_storage
from sweepnp.study.worker import run_study

NUMBER = re.compile(r"^-?\d+(\.\d+)?(e[-+]\d+)?$")


def _half_unit(text: str) -> float:
    """Half a unit of the last digit a number was written with (what rounding may hide)."""
    mantissa, _, exponent = text.partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (int(exponent or 0) - decimals)


def _written_as(text: str, value: object) -> bool:
    """Whether the cell ``text`` is the whole number ``value``, rounded where it was written."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return text == ""
    assert NUMBER.match(text), f"{text!r} is not a whole number"
    return abs(float(text) - float(value)) <= _half_unit(text) * (1 + 1e-9)


def _tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """The rich tables in ``text``: each one's headers and rows of cells, one line per row."""
    tables, headers, rows = [], None, []
    for line in text.splitlines():
        if line.startswith("┃"):
            assert headers is None, "a header over two lines"
            headers = [h.strip() for h in line.strip("┃").split("┃")]
        elif line.startswith("│"):
            rows.append([c.strip() for c in line.strip("│").split("│")])
        elif line.startswith("└"):
            tables.append((headers, rows))
            headers, rows = None, []
    return tables


def _full_name(header: str, columns: list[str]) -> str:
    """The one column a header stands for: its name, or the only one ending ``.header`` (or
    ``_header``: a metric's ``val_accuracy_mean``)."""
    found = [c for c in columns if c == header or c.endswith(("." + header, "_" + header))]
    assert len(found) == 1, (header, found)
    return found[0]


@pytest.fixture
def repeated_journal(tmp_path, study_dict, write_study) -> str:
    """A journal holding the small study with 2 repeats per trial (so that `show` adds the
    summary across repeats) and two parameters whose last dotted part is `lam`."""
    study_dict["study"].update(repeats=2, n_trials=4)
    study_dict["regularizers"]["l1"] = {"lam": 0.001}
    study_dict["study"]["params"]["regularizers.l1.lam"] = {"low": 1e-6, "high": 1e-2, "log": True}
    path = write_study(tmp_path / "small.toml", study_dict)
    run_study(path, storage=str(tmp_path / "repeated.journal"))
    return str(tmp_path / "repeated.journal")


@pytest.mark.parametrize("width", [80, 100, 120])
def test_show_fits_the_width_with_every_number_whole(invoke, repeated_journal, width):
    done = invoke(
        "study", "show", "small", "--storage", repeated_journal, env={"COLUMNS": str(width)}
    )
    assert done.exit_code == 0, done.stderr
    out, _, summary_out = done.stdout.partition("across repeats")
    assert summary_out, "no summary across repeats"
    assert all(len(line) <= width for line in done.stdout.splitlines()), done.stdout
    results = sweepnp.results.load("small", repeated_journal)
    trials = results.trials
    shown = ["number", "state", "stop_reason", "value", *results.param_columns, "epochs"]
    [(headers, rows)], [(summary_headers, summary_rows)] = _tables(out), _tables(summary_out)

    # the trials: one line per trial, each header the last dotted part(s) of its column
    assert len(rows) == len(trials)
    names = [_full_name(h, shown) for h in headers]
    assert "lam" not in headers and {"l2.lam", "l1.lam"} <= set(headers)  # made unique
    for header, name in zip(headers, names, strict=True):
        if header != name:
            assert f"{header}={name}" in out  # the line saying what it stands for
    left_out = [c for c in shown if c not in names]
    if left_out:
        note = " ".join(out[out.index("not shown") :].split())  # wrapped between words
        assert all(f" {name}," in note or f" {name} (" in note for name in left_out), note
        assert f"too wide for {width} columns" in note
    else:
        assert "not shown" not in out
    assert names[:1] == ["number"] and "value" in names  # never left out
    for cells in rows:
        trial = trials.loc[int(cells[0])]
        for name, text in zip(names, cells, strict=True):
            if pd.api.types.is_numeric_dtype(trials[name].dtype):
                assert _written_as(text, trial[name]), (name, text, trial[name])
            else:
                assert text == str(trial[name])
    values = [float(cells[names.index("value")]) for cells in rows]
    assert values == sorted(values, reverse=True)  # best first (val_accuracy is maximized)

    # the summary across repeats: every number whole too
    summary = results.summary()
    columns = [str(c) for c in summary.columns]
    summary_names = [_full_name(h, columns) for h in summary_headers]
    assert len(summary_rows) == len(summary) and "n" in summary_names
    assert "val_accuracy_mean" in summary_names
    for header, name in zip(summary_headers, summary_names, strict=True):
        if header != name:
            assert f"{header}={name}" in summary_out
    left_out = [c for c in columns if c not in summary_names]
    if left_out:
        note = " ".join(summary_out[summary_out.index("not shown") :].split())  # wrapped
        assert all(f" {name}," in note or f" {name} (" in note for name in left_out), note
    for cells, (_, row) in zip(summary_rows, summary.iterrows(), strict=True):
        for name, text in zip(summary_names, cells, strict=True):
            if pd.api.types.is_numeric_dtype(summary[name].dtype):
                assert _written_as(text, row[name]), (name, text, row[name])


def test_numbers_are_right_aligned(invoke, small_journal):
    done = invoke("study", "show", "small", "--storage", small_journal, env={"COLUMNS": "120"})
    (headers, _), *_ = _tables(done.stdout)
    line = next(line for line in done.stdout.splitlines() if line.startswith("│"))
    cells = line.strip("│").split("│")
    value = cells[headers.index("value")]
    reason = cells[headers.index("stop_reason")]
    assert value.startswith(" ") and value.endswith(" ") and value[-2] != " "
    assert reason.startswith(" ") and reason[1] != " "  # words to the left


def test_wide_shows_every_column_however_narrow(invoke, repeated_journal):
    narrow = invoke("study", "show", "small", "--storage", repeated_journal, env={"COLUMNS": "60"})
    assert "not shown, too wide for 60 columns" in narrow.stdout
    assert "--wide shows them" in narrow.stdout
    wide = invoke(
        "study", "show", "small", "--storage", repeated_journal, "--wide", env={"COLUMNS": "60"}
    )
    assert "not shown" not in wide.stdout
    (headers, rows), *_ = _tables(wide.stdout)
    assert {"state", "stop_reason", "epochs", "patience"} <= set(headers)
    assert len(rows) == 4  # still one line per trial, wider than 60


def test_a_pipe_without_columns_gets_every_column(invoke, repeated_journal):
    done = invoke("study", "show", "small", "--storage", repeated_journal, env={"COLUMNS": None})
    assert "not shown" not in done.stdout


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_show_list_best_as_json_and_csv_keep_every_digit(invoke, small_journal, fmt):
    def read(text: str) -> pd.DataFrame:
        return pd.DataFrame(json.loads(text)) if fmt == "json" else pd.read_csv(io.StringIO(text))

    results = sweepnp.results.load("small", small_journal)
    trials = results.trials
    shown = read(invoke("study", "show", "small", "--storage", small_journal, "-f", fmt).stdout)
    # best first; trials of equal values in number order (the first of them Optuna's best)
    best_first = trials.sort_values("value", ascending=False, kind="stable")
    assert list(shown["number"]) == list(best_first["number"])
    for _, row in shown.iterrows():
        assert row["value"] == trials.loc[row["number"], "value"]  # exact
        lam = row["regularizers.l2.lam"]
        assert lam == trials.loc[row["number"], "regularizers.l2.lam"]
    limited = invoke("study", "show", "small", "--storage", small_journal, "--format", fmt,
                     "--limit", "2")  # fmt: skip
    assert len(read(limited.stdout)) == 2
    best = read(invoke("study", "best", "small", "--storage", small_journal, "-f", fmt).stdout)
    assert list(best["number"]) == [results.study.best_trial.number]
    assert best["value"][0] == results.study.best_trial.value
    listed = read(invoke("study", "list", "--storage", small_journal, "-f", fmt).stdout)
    assert list(listed["name"]) == ["small"] and listed["n_trials"][0] == len(trials)


def test_best_prints_each_parameter_as_precisely_as_it_was_searched(invoke, small_journal):
    done = invoke("study", "best", "small", "--storage", small_journal)
    assert done.exit_code == 0, done.stderr
    printed = dict(line.strip().split(" = ") for line in done.stdout.splitlines() if " = " in line)
    stored = optuna.load_study(study_name="small", storage=open_storage(small_journal))
    params = stored.best_trial.params
    lam = printed["regularizers.l2.lam"]  # log range: 3 significant digits
    assert len(re.sub(r"^[0.]*|e.*$|\.", "", lam)) == 3
    assert abs(float(lam) - params["regularizers.l2.lam"]) <= _half_unit(lam)
    rate = printed["regularizers.dropout.rate"]  # 0 to 0.5: 4 digits of the range's width
    assert re.fullmatch(r"0\.\d{4}", rate)
    assert abs(float(rate) - params["regularizers.dropout.rate"]) <= _half_unit(rate)
    assert printed["callbacks.early_stopping.patience"] == str(
        params["callbacks.early_stopping.patience"]
    )
    assert printed["train.batch_size"] == str(params["train.batch_size"])


@pytest.mark.parametrize(
    ("param", "value", "text"),
    [
        (Param("p", "float", low=0.0, high=0.5, step=0.05), 0.35000000000000003, "0.35"),
        (Param("p", "float", low=0.01, high=0.91, step=0.1), 0.31000000000000005, "0.31"),
        (Param("p", "float", low=0, high=1, step=0.25), 0.5, "0.50"),
        (Param("p", "float", low=1e-5, high=1e-1, log=True), 0.0013046, "0.00130"),
        (Param("p", "float", low=1e-5, high=1e-1, log=True), 6.9431e-05, "6.94e-05"),
        (Param("p", "float", low=1.0, high=1000.0, log=True), 123.456, "123"),
        (Param("p", "float", low=0.0, high=0.7), 0.10034730118633248, "0.1003"),
        (Param("p", "float", low=0.0, high=100.0), 31.234567, "31.2"),
        (Param("p", "int", low=2, high=20), 7, "7"),
        (Param("p", "categorical", choices=("adam", "sgd")), "sgd", "sgd"),
        (Param("p", "float", low=0.0, high=0.7), float("nan"), ""),
    ],
)
def test_a_parameter_is_written_at_the_precision_of_its_search(param, value, text):
    assert param.text(value) == text


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    yield path
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


@pytest.mark.parametrize("path", list(_commands(main)), ids=" ".join)
def test_h_is_help_on_every_command(invoke, path):
    short, long = invoke(*path, "-h"), invoke(*path, "--help")
    assert short.exit_code == 0 and short.stdout.startswith("Usage: sweepnp")
    assert short.stdout == long.stdout


# -- show --watch -------------------------------------------------------------------------------


def test_watching_a_study_with_nothing_running_shows_it_once(invoke, small_journal):
    started = time.monotonic()
    done = invoke("study", "show", "small", "--storage", small_journal, "--watch")
    assert done.exit_code == 0, done.stderr
    assert done.stdout.count("study small: 6 trials") == 1
    assert time.monotonic() - started < 2  # no --interval waited


def _slow_study(tmp_path: Path, trials: int) -> Path:
    """A study of trials of about a second each (1000 epochs, no early stopping)."""
    path = tmp_path / "slow.toml"
    path.write_text(
        '[data]\ndataset = "breast_cancer"\nseed = 0\n[model]\ntask = "binary"\nhidden = [32]\n'
        '[train]\nepochs = 1000\nbatch_size = 16\n[optimizer]\nname = "sgd"\nlr = 0.05\n'
        '[study]\nname = "slow"\nmetric = "val_accuracy"\nsampler = { name = "random", seed = 0 }\n'
        f"n_trials = {trials}\nstack = 1\n[study.params]\n"
        '"optimizer.lr" = { low = 0.01, high = 0.1, log = true }\n'
    )
    return path


def _running(journal: str) -> bool:
    try:
        study = optuna.load_study(study_name="slow", storage=open_storage(journal))
    except (KeyError, FileNotFoundError):
        return False
    return any(t.state == optuna.trial.TrialState.RUNNING for t in study.trials)


def _wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out waiting"
        time.sleep(0.05)


@pytest.mark.slow
def test_watch_refreshes_while_a_study_runs_and_ends_with_it(invoke, tmp_path):
    journal = str(tmp_path / "s.journal")
    runner = subprocess.Popen(
        [sys.executable, "-m", "sweepnp.cli", "study", "run", str(_slow_study(tmp_path, 3)),
         "--storage", journal, "--quiet"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: _running(journal))
        done = invoke("study", "show", "slow", "--storage", journal, "--watch", "--interval",
                      "0.2", env={"COLUMNS": "100"})  # fmt: skip
        assert done.exit_code == 0, done.stderr
        runner.wait(timeout=120)
    finally:
        runner.kill()
    assert runner.returncode == 0, runner.stderr.read()
    titles = re.findall(r"study slow: (\d) trials \(([^)]*)\)", done.stdout)
    assert len(titles) >= 3  # printed again as trials started and ended
    assert titles[0][1].count("running") == 1 and "watching: every 0.2 s" in done.stdout
    assert titles[-1] == ("3", "3 complete")  # it ended with the study
    assert len(set(titles)) == len(titles)  # each one printed because something changed


@pytest.mark.slow
def test_ctrl_c_stops_watching_cleanly(tmp_path):
    journal = str(tmp_path / "s.journal")
    study = str(_slow_study(tmp_path, 20))
    runner = subprocess.Popen(
        [sys.executable, "-m", "sweepnp.cli", "study", "run", study, "--storage", journal,
         "--quiet"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for(lambda: _running(journal))
        watcher = subprocess.Popen(
            [sys.executable, "-m", "sweepnp.cli", "study", "show", "slow", "--storage", journal,
             "--watch", "--interval", "0.2"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        first = watcher.stdout.readline()  # (communicate() below reads past what this buffers)
        assert first.startswith("study slow:")  # it has shown the table
        time.sleep(0.5)
        assert watcher.poll() is None  # still watching
        watcher.send_signal(signal.SIGINT)
        _, err = watcher.communicate(timeout=30)
    finally:
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=60)
    assert watcher.returncode == 0, err
    assert err == ""  # no "Aborted!", no traceback


@pytest.mark.slow
def test_watch_on_a_terminal_redraws_in_place(tmp_path, on_a_terminal):
    journal = str(tmp_path / "s.journal")
    runner = subprocess.Popen(
        [sys.executable, "-m", "sweepnp.cli", "study", "run", str(_slow_study(tmp_path, 2)),
         "--storage", journal, "--quiet"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for(lambda: _running(journal))
        status, screen = on_a_terminal(
            ["study", "show", "slow", "--storage", journal, "--watch", "--interval", "0.2"],
            tmp_path,
        )
    finally:
        runner.wait(timeout=120)
    assert status == 0, screen
    assert "\x1b[1A" in screen or "\x1b[2K" in screen  # the cursor moved up: redrawn in place
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert "(1 running)" in plain and "(2 complete)" in plain and "Traceback" not in plain


def test_several_metrics_are_headed_by_their_names(invoke, tmp_path, study_dict, write_study):
    study_dict["study"].update(metric=["val_accuracy", "train_seconds"], n_trials=4)
    path = write_study(tmp_path / "two.toml", study_dict)
    journal = str(tmp_path / "two.journal")
    run_study(path, storage=journal)
    trials = sweepnp.results.load("small", journal).trials
    for command in ("show", "best"):
        done = invoke("study", command, "small", "--storage", journal, env={"COLUMNS": "80"})
        assert done.exit_code == 0, done.stderr
        assert all(len(line) <= 80 for line in done.stdout.splitlines())
        [(headers, rows)] = _tables(done.stdout)
        assert headers[:3] == ["number", "val_accuracy", "train_seconds"]
        assert "val_accuracy=value_val_accuracy" in done.stdout
        for cells in rows:
            trial = trials.loc[int(cells[0])]
            assert _written_as(cells[1], trial["value_val_accuracy"])
            assert _written_as(cells[2], trial["value_train_seconds"])


def test_a_pipe_gets_the_verdict_on_one_line_never_broken_inside_a_phrase(invoke, small_journal):
    """In a pipe (click's runner is not a terminal) without $COLUMNS, the verdict — longer than
    the 240 columns tables get there — is one line, as the report says it."""
    from sweepnp.report import verdict

    said = verdict(sweepnp.results.load("small", small_journal))
    assert len(said) > 240
    for args in [(), ("--watch",)]:
        done = invoke(
            "study", "show", "small", "--storage", small_journal, *args, env={"COLUMNS": None}
        )
        assert said in done.stdout.splitlines(), done.stdout
