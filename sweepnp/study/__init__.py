"""The Optuna driver: a study file becomes an Optuna study, trials become runs.

The data flow, one module a step::

    study file ─ spec.load_spec ─▶ StudySpec (space.py: the search space; samplers.py: Optuna's
        sampler and pruner)
    StudySpec ─ worker.run_study ─▶ Optuna study in a storage (storage.py, journal.py)
        per trial: ask ─ trial.run_configuration ─▶ TrialOutcome ─ tell + record.TrialRecord
    a stored trial ─ trial.rerun_trial (every repeat), trial.rerun_repeat (one, with its model)

``optuna_adapter.py`` is the only module that touches Optuna's private attributes. The tables
read what this package stored through :mod:`sweepnp.results`.

The names below are imported on first use, so that reading results does not import the worker.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DEFAULT_STORAGE",
    "RepeatRun",
    "StudyConfig",
    "StudySpec",
    "TrialOutcome",
    "TrialRecord",
    "load_spec",
    "rerun_repeat",
    "rerun_trial",
    "run_configuration",
    "run_study",
    "stored_spec",
    "trial_seed",
]

#: The embedded default storage: a journal file in the working directory.
DEFAULT_STORAGE = "sweepnp.journal"

_HOMES = {
    "StudyConfig": "spec",
    "StudySpec": "spec",
    "load_spec": "spec",
    "stored_spec": "spec",
    "trial_seed": "spec",
    "TrialRecord": "record",
    "RepeatRun": "trial",
    "TrialOutcome": "trial",
    "rerun_repeat": "trial",
    "rerun_trial": "trial",
    "run_configuration": "trial",
    "run_study": "worker",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"sweepnp.study.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'sweepnp.study' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
