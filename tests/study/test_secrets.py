"""No command prints the password of a storage URL: every command that takes ``--storage``, run
against a real PostgreSQL server with password authentication (``postgres_server`` in
tests/conftest.py), including its mistakes and a Ctrl-C. Most commands run in this process
(``invoke``: their output includes what loggers print, as a process's would); a study run, a
failed one and the Ctrl-C run as real processes, so that everything a process prints up to its
exit is seen too."""

from __future__ import annotations

import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import optuna
import pytest

from sweepnp.redact import error_text, mask_url, scrub


def masked(url: str, password: str) -> str:
    """What the user should see: the URL as given, ``***`` in place of the password."""
    assert password in url
    return url.replace(password, "***")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def tiny_study(tmp_path, study_dict, write_study) -> Path:
    study_dict["study"]["n_trials"] = 2
    study_dict["train"]["epochs"] = 3
    return write_study(tmp_path / "tiny.toml", study_dict)


@pytest.mark.slow
@pytest.mark.postgres
def test_no_command_prints_the_password(
    postgres_server, postgres_url, cli, invoke, tmp_path, tiny_study
):
    secret = postgres_server.password
    shown = masked(postgres_url, secret)
    outputs: dict[str, str] = {}

    def run(label: str, *args: str, status: int = 0, real: bool = False) -> str:
        if real:
            process = cli(*args, cwd=tmp_path)
            output, exit_code = process.stdout + process.stderr, process.returncode
        else:
            done = invoke(*args, cwd=tmp_path)
            output, exit_code = done.stdout + done.stderr, done.exit_code
        outputs[label] = output
        assert exit_code == status, (label, output)
        assert "Traceback" not in output, (label, output)
        return output

    url = ("--storage", postgres_url)
    summary = run("run", "study", "run", str(tiny_study), *url, real=True)  # a line per trial
    assert f"study small in {shown}:" in summary
    assert f"results: sweepnp study show small --storage {shlex.quote(shown)}" in summary
    assert "*** hides the password: type it in its place" in summary
    assert "put the URL in $SWEEPNP_STORAGE and leave out --storage" in summary
    assert "small" in run("list", "study", "list", *url)
    run("show", "study", "show", "small", *url)
    run("best", "study", "best", "small", *url, "--json")
    run("export", "study", "export", "small", *url, "--table", "history")
    run("rerun", "study", "rerun", "small", "--trial", "0", *url)
    run("report", "study", "report", "small", *url, "-o", str(tmp_path / "r"), "--no-retrain")

    # an unknown study: every command names the storage, masked
    for command in ("show", "best", "export", "delete", "report"):
        output = run(f"{command} unknown", "study", command, "nope", *url, status=2)
        assert f"no study named 'nope' in {shown}; studies there: small" in output
    output = run("rerun unknown", "study", "rerun", "nope", "--trial", "0", *url, status=2)
    assert f"no study named 'nope' in {shown}" in output

    assert "deleted study 'small'" in run("delete", "study", "delete", "small", *url, "--yes")
    assert f"no studies in {shown}" in run("list empty", "study", "list", *url)

    # storages that cannot be opened (every command opens them through one function)
    host = f"{postgres_server.host}:{postgres_server.port}"
    wrong = "Wr0ng@Pass/42%"
    bad = {
        "malformed": (f"postgresql://sweepnp:{secret}@{host}x/db", secret),
        "one slash": (f"postgresql:/sweepnp:{secret}@{host}/db", secret),
        "unreachable": (f"postgresql://sweepnp:{secret}@127.0.0.1:{free_port()}/db", secret),
        "wrong password": (
            postgres_server.url("postgres", password=quote(wrong, safe="")),
            quote(wrong, safe=""),
        ),
    }
    commands = {"list": ["study", "list"], "run": ["study", "run", str(tiny_study)]}
    for case, (storage, password) in bad.items():
        for name in ("list", "run") if case == "wrong password" else ("list",):
            real = case == "wrong password" and name == "run"
            output = run(
                f"{case} {name}", *commands[name], "--storage", storage, status=2, real=real
            )
            assert len(output.strip().splitlines()) == 1, output
            assert output.startswith("Error: --storage: "), output
            assert masked(storage, password) in output, output
    assert "password authentication failed" in outputs["wrong password list"]
    assert "Connection refused" in outputs["unreachable list"]

    leaks = {label: output for label, output in outputs.items() if secret in output}
    assert not leaks
    for form in (wrong, quote(wrong, safe="")):
        assert not any(form in output for output in outputs.values())


@pytest.mark.slow
@pytest.mark.postgres
def test_ctrl_c_of_a_study_run_resumes_without_printing_the_password(
    postgres_server, postgres_url, tmp_path, study_dict, write_study
):
    study_dict["study"]["n_trials"] = 2
    study_dict["train"]["epochs"] = 100_000  # a trial runs until it is interrupted
    study_dict["callbacks"] = {}  # no early stopping
    del study_dict["study"]["params"]["callbacks.early_stopping.patience"]
    path = write_study(tmp_path / "long.toml", study_dict)
    storage = optuna.storages.RDBStorage(postgres_url)  # Optuna's tables, before the run starts
    command = [sys.executable, "-m", "sweepnp.cli", "study", "run", str(path),
               "--storage", postgres_url]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not _a_trial_runs(storage):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no trial started"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
        storage.engine.dispose()
    assert process.returncode == 130, stderr
    output = stdout + stderr
    assert postgres_server.password not in output
    shown = masked(postgres_url, postgres_server.password)
    assert f"are kept in {shown};" in stderr
    resume = f"Resume with: sweepnp study run {path} --storage {shlex.quote(shown)}"
    assert resume in stderr and "*** hides the password: type it in its place" in stderr


def _a_trial_runs(storage: optuna.storages.BaseStorage) -> bool:
    try:
        study = optuna.load_study(study_name="small", storage=storage)
    except KeyError:
        return False
    return any(t.state == optuna.trial.TrialState.RUNNING for t in study.get_trials())


@pytest.mark.slow
@pytest.mark.postgres
def test_a_storage_from_the_environment_is_left_out_of_the_suggested_commands(
    postgres_server, postgres_url, invoke, tmp_path, tiny_study
):
    env = {"SWEEPNP_STORAGE": postgres_url}
    done = invoke("study", "run", tiny_study, "--quiet", cwd=tmp_path, env=env)
    assert done.exit_code == 0, done.stderr
    assert f"in {masked(postgres_url, postgres_server.password)}:" in done.stdout
    hint = re.search(r"^results: (.*)$", done.stdout, re.MULTILINE)
    assert hint is not None and hint.group(1) == "sweepnp study show small"
    assert "***" not in done.stdout.split("results:")[1]
    shown = invoke(*shlex.split(hint.group(1))[1:], cwd=tmp_path, env=env)  # works as printed
    assert shown.exit_code == 0 and "study small: 2 trials" in shown.stdout
    assert not (tmp_path / "sweepnp.journal").exists()
    # or the password alone in the environment, where libpq finds it (docs/studies.md)
    no_password = postgres_url.replace(f":{postgres_server.password}@", "@")
    listed = invoke("study", "list", "--storage", no_password, cwd=tmp_path,
                    env={"PGPASSWORD": postgres_server.password})  # fmt: skip
    assert listed.exit_code == 0 and "small" in listed.stdout, listed.stderr


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:secret@host:5432/db", "postgresql://u:***@host:5432/db"),
        ("postgresql+psycopg://u:secret@host/db", "postgresql+psycopg://u:***@host/db"),
        ("postgresql://u:se@cr:et@host/db", "postgresql://u:***@host/db"),  # unencoded @ and :
        ("postgresql://u:s%40cret@[::1]:5432/db", "postgresql://u:***@[::1]:5432/db"),
        ("mysql://u:secret@host/db?charset=utf8", "mysql://u:***@host/db?charset=utf8"),
        ("postgresql://host/db?password=secret&x=1", "postgresql://host/db?password=***&x=1"),
        ("postgresql:/u:secret@host/db", "postgresql:/u:***@host/db"),  # not a URL, still masked
        ("postgresql://u@host:5432/db", "postgresql://u@host:5432/db"),
        ("postgresql://u:@host/db", "postgresql://u:@host/db"),
        ("postgresql://host:5432/db", "postgresql://host:5432/db"),
        ("sqlite:///studies.db", "sqlite:///studies.db"),
        ("runs/a:b.journal", "runs/a:b.journal"),
    ],
)
def test_mask_url(url, expected):
    assert mask_url(url) == expected


def test_mask_url_agrees_with_sqlalchemy():
    from sqlalchemy.engine import make_url

    for url in ("postgresql://u:secret@host:5432/db", "mysql+pymysql://u:p%40ss@h/d?x=1"):
        assert mask_url(url) == make_url(url).render_as_string(hide_password=True)


def test_scrub_removes_the_password_in_every_spelling():
    url = "postgresql://u:p%40ss%2Fw0rd@host/db"
    text = "dsn: password=p@ss/w0rd host=host; url postgresql://u:p%40ss%2Fw0rd@host/db"
    assert scrub(text, url) == "dsn: password=*** host=host; url postgresql://u:***@host/db"
    assert scrub(text, "sweepnp.journal") == text


def test_error_text_is_one_line_without_the_password():
    error = ValueError("cannot connect\n\tto postgresql://u:secret@h/db:\n  try again")
    assert error_text(error, "postgresql://u:secret@h/db") == (
        "cannot connect; to postgresql://u:***@h/db: try again"
    )
