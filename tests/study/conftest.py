"""Fixtures for study tests: a small, fast study file, a storage in a temporary folder, and a
finished run of the small study to read."""

from __future__ import annotations

import copy
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

#: A small study: breast cancer, 30-4-1, 8 epochs; searches the brief's four parameters.
SMALL_STUDY_TOML = """
[data]
dataset = "breast_cancer"
seed = 0
[model]
task = "binary"
hidden = [4]
[train]
epochs = 8
batch_size = 32
[optimizer]
name = "sgd"
lr = 0.1
[regularizers]
l2 = { lam = 0.001 }
dropout = { rate = 0.1 }
[callbacks]
early_stopping = { monitor = "val_loss", patience = 3 }
[study]
name = "small"
metric = "val_accuracy"
sampler = { name = "tpe", seed = 0 }
n_trials = 6
[study.params]
"train.batch_size" = { choices = [16, 32, 64] }
"regularizers.l2.lam" = { low = 1e-5, high = 1e-1, log = true }
"regularizers.dropout.rate" = { low = 0.0, high = 0.5 }
"callbacks.early_stopping.patience" = { low = 2, high = 6 }
"""


@pytest.fixture
def study_dict() -> dict[str, Any]:
    return copy.deepcopy(tomllib.loads(SMALL_STUDY_TOML))


@pytest.fixture
def study_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL_STUDY_TOML)
    return path


@pytest.fixture
def journal(tmp_path: Path) -> str:
    return str(tmp_path / "studies.journal")


@pytest.fixture(scope="session")
def finished_small_study(tmp_path_factory) -> Path:
    """A journal holding the small study, run to its end (6 trials) once for the session; tests
    read copies of it (:func:`small_journal`)."""
    from sweepnp.study.worker import run_study

    folder = tmp_path_factory.mktemp("finished")
    (folder / "small.toml").write_text(SMALL_STUDY_TOML)
    run_study(folder / "small.toml", storage=str(folder / "studies.journal"))
    return folder / "studies.journal"


@pytest.fixture
def small_journal(tmp_path: Path, finished_small_study: Path) -> str:
    """A copy, in this test's folder, of a journal holding the finished small study (6 trials)."""
    path = tmp_path / "studies.journal"
    shutil.copyfile(finished_small_study, path)
    return str(path)


@pytest.fixture
def write_study():
    """Write a study dict as TOML: ``write_study(path, study_dict) -> path``."""
    return _write_study


def _write_study(path: Path, study: dict[str, Any]) -> Path:
    """Write a study dict as TOML (tests build variants as dicts)."""
    import json

    lines: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    def table(prefix: str, body: dict[str, Any]) -> None:
        scalars = {k: v for k, v in body.items() if not (isinstance(v, dict) and k in TABLES)}
        lines.append(f"[{prefix}]")
        lines.extend(f"{json.dumps(k)} = {value(v)}" for k, v in scalars.items())

    TABLES = {"params"}
    for section, body in study.items():
        table(section, body)
        if section == "study" and "params" in body:
            lines.append("[study.params]")
            lines.extend(f"{json.dumps(k)} = {value(v)}" for k, v in body["params"].items())
    path.write_text("\n".join(lines) + "\n")
    return path
