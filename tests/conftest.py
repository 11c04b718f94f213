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
