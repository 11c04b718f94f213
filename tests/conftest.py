"""Shared fixtures: small run configs, the command line in this process (``invoke``) and as a
real process (``cli``, ``on_a_terminal``), a PostgreSQL server.

Tests that start a real process, a server or a fresh environment, or that take seconds, carry the
marker ``slow`` (and ``postgres``); ``pytest -m "not slow"`` is the fast subset
(docs/contributing.md). Tests using the fixtures ``cli``, ``on_a_terminal`` or
``postgres_server`` must carry their marker: collection fails otherwise.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from postgres_server import PostgresServer, running_postgres
from threadpoolctl import threadpool_limits

# On CI the property tests draw the same examples every run (a red CI is then reproducible);
# on a developer's machine they explore new ones each time. Nothing is stored in the tree.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("dev", database=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

ROOT = Path(__file__).resolve().parents[1]

# One BLAS thread, here and in every process the tests start (as in sweepnp's forked workers and
# its benchmarks): on the tests' small matrices OpenBLAS's threads only wait for each other, and
# on a shared machine they made training several times slower. Results do not depend on it.
_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
for _name, _value in _ONE_THREAD.items():
    os.environ.setdefault(_name, _value)
threadpool_limits(limits=1)

#: Fixtures that make a test slow (a real process, a server), and the markers such a test carries.
MARKERS_OF_FIXTURES = {
    "cli": ("slow",),
    "on_a_terminal": ("slow",),
    "postgres_server": ("slow", "postgres"),
}


def pytest_collection_modifyitems(config, items):
    """Fail collection when a test using a slow fixture lacks its marker (so that the fast subset,
    ``-m "not slow"``, never starts a process or a server by accident)."""
    missing = [
        f"{item.nodeid}: uses {fixture}, mark it {', '.join(markers)}"
        for item in items
        for fixture, markers in MARKERS_OF_FIXTURES.items()
        if fixture in getattr(item, "fixturenames", ())
        and not all(item.get_closest_marker(marker) for marker in markers)
    ]
    if missing:
        raise pytest.UsageError("tests without their markers:\n" + "\n".join(missing))


#: A small, fast binary run: breast cancer, 30-8-1, 5 epochs.
SMALL_RUN: dict[str, Any] = {
    "data": {"dataset": "breast_cancer", "test_size": 0.2, "val_size": 0.2, "seed": 0},
    "model": {"task": "binary", "hidden": [8], "activation": "relu"},
    "train": {"epochs": 5, "batch_size": 32, "seed": 0},
    "optimizer": {"name": "sgd", "lr": 0.05},
}


@pytest.fixture
def small_run() -> dict[str, Any]:
    """A fresh copy of :data:`SMALL_RUN` to modify."""
    return copy.deepcopy(SMALL_RUN)


# -------------------------------------------------------------------------
# The command line
# -------------------------------------------------------------------------


def forget_plugin_manager() -> None:
    """Drop the process-wide plugin manager: the next one is built from the environment and the
    distributions on sys.path as they are then (as a new process would)."""
    import sweepnp.plugins

    sweepnp.plugins.reset_plugin_manager()


@contextlib.contextmanager
def plugins_installed(*sites: Path):
    """Distributions in the folders ``sites`` installed, as for a process with them on PYTHONPATH:
    on sys.path, found by entry point, with a fresh plugin manager. All undone on exit (their
    modules too)."""
    folders = [str(site) for site in sites]
    sys.path[:0] = folders
    importlib.invalidate_caches()
    forget_plugin_manager()
    try:
        yield
    finally:
        for folder in folders:
            sys.path.remove(folder)
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None) or ""
            if any(file.startswith(folder + os.sep) for folder in folders):
                del sys.modules[name]
        importlib.invalidate_caches()
        forget_plugin_manager()


def run_in_process(
    *args: object,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    sites: tuple[Path, ...] = (),
    input: str | None = None,
):
    """Run ``sweepnp ARGS`` in this process (click's CliRunner against ``sweepnp.cli.main``) as a
    new process would: in ``cwd``, with ``env`` added to the environment and the distributions in
    ``sites`` installed, a plugin manager built for the call, Optuna's log level restored after,
    and what loggers write to this process's stdout and stderr (Optuna's handler, say) in the
    command's output, as in a real process. An exception the command does not handle propagates
    (a real process would print its traceback). Returns click's Result: ``exit_code``,
    ``stdout``, ``stderr``."""
    import optuna
    from click.testing import CliRunner

    verbosity = optuna.logging.get_verbosity()
    outer = _Command((sys.stdout, sys.__stdout__), (sys.stderr, sys.__stderr__))
    with contextlib.ExitStack() as undo:
        if cwd is not None:
            undo.enter_context(contextlib.chdir(cwd))
        undo.enter_context(plugins_installed(*sites))
        undo.callback(optuna.logging.set_verbosity, verbosity)
        return CliRunner().invoke(
            outer,  # type: ignore[arg-type]  # CliRunner calls its main() as a command's
            [str(arg) for arg in args],
            input=input,
            env=env,
            prog_name="sweepnp",
            catch_exceptions=False,
        )


class _Command:
    """``sweepnp.cli.main`` with every logging handler that writes to this process's standard
    streams (``stdouts``, ``stderrs``: the ones before CliRunner replaced them) writing to the
    command's captured ones meanwhile; and, as logging's last resort does in a process whose root
    logger has no handler (pytest's has its own), warnings of loggers without a handler on the
    command's stderr."""

    def __init__(self, stdouts: tuple[Any, ...], stderrs: tuple[Any, ...]) -> None:
        self.stdouts, self.stderrs = stdouts, stderrs

    def main(self, **kwargs: Any) -> Any:
        import logging

        from sweepnp.cli import main

        loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        handlers = {
            handler
            for logger in loggers
            if isinstance(logger, logging.Logger)
            for handler in logger.handlers
            if type(handler) is logging.StreamHandler
        }
        moved = []
        for handler in handlers:
            for streams, captured in ((self.stdouts, sys.stdout), (self.stderrs, sys.stderr)):
                if any(handler.stream is stream for stream in streams):
                    moved.append((handler, handler.stream))
                    handler.setStream(captured)
        last_resort = logging.StreamHandler(sys.stderr)
        last_resort.setLevel(logging.WARNING)
        logging.getLogger().addHandler(last_resort)
        try:
            return main.main(**kwargs)
        finally:
            logging.getLogger().removeHandler(last_resort)
            for handler, stream in moved:
                handler.setStream(stream)


@pytest.fixture(scope="session")
def invoke():
    """``invoke(*args, cwd=, env=, sites=, input=)``: ``sweepnp ARGS`` in this process."""
    return run_in_process


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
    """Run the installed ``sweepnp`` command as a real process; returns the CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "sweepnp.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def cli():
    return run_cli


def run_on_a_terminal(args: list[str], cwd: Path, timeout: float = 120) -> tuple[int, str]:
    """Run ``sweepnp ARGS`` with its output on a real pseudo-terminal; return status and screen."""
    import pty

    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "sweepnp.cli", *args],
        cwd=cwd,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closes when the process exits
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return process.wait(timeout=timeout), b"".join(chunks).decode(errors="replace")


@pytest.fixture
def on_a_terminal():
    return run_on_a_terminal


# -------------------------------------------------------------------------
# A real PostgreSQL server
# -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server from the binaries on this machine (Debian's postgresql package);
    where they are missing the test is skipped with that reason."""
    try:
        with running_postgres() as server:
            yield server
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a fresh database on the session's PostgreSQL server."""
    return postgres_server.new_database()


# -------------------------------------------------------------------------
# What an optimizer does, step by step
# -------------------------------------------------------------------------


@pytest.fixture
def step_recorder():
    """A callback (a new one per call) recording each optimizer step of a run: the parameters
    before it, the gradients it was given and the parameters after it, as copies."""
    import sweepnp

    class StepRecorder(sweepnp.Callback):
        def __init__(self) -> None:
            self.steps: list[tuple[dict, dict, dict]] = []

        def on_before_optimizer_step(self, grads):
            before = {k: v.copy() for k, v in self.trainer.model.params.items()}
            self.steps.append((before, {k: g.copy() for k, g in grads.items()}, {}))

        def on_train_batch_end(self, batch, logs):
            self.steps[-1][2].update({k: v.copy() for k, v in self.trainer.model.params.items()})

    return StepRecorder


@pytest.fixture(scope="session")
def installed():
    """``with installed(*sites):`` the distributions in ``sites`` installed in this process
    (see :func:`plugins_installed`)."""
    return plugins_installed
