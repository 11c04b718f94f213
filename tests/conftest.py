"""Shared fixtures: small run configs and a real `sweepnp` subprocess."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

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


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
    """Run the installed ``sweepnp`` command for real; returns the CompletedProcess."""
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
