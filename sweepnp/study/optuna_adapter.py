"""The three things sweepnp needs from Optuna beyond its public API, in one place.

sweepnp drives Optuna by ask-and-tell, not ``study.optimize``, because it stores one record per
trial, gathers a trial's writes into one journal append, and recovers trials of dead workers.
For that it needs what ``optimize`` uses internally. Each use is pinned by
``tests/study/test_optuna_adapter.py``, which fails when an Optuna release changes it.
"""

from __future__ import annotations

import contextlib
from typing import Any

import optuna
from optuna.storages import BaseStorage

__all__ = ["heartbeat_thread", "storage_of", "trial_id"]


def storage_of(study: optuna.Study) -> BaseStorage:
    """The study's storage (``Study._storage``).

    Needed to write to a trial other than the one in hand (failing a dead worker's trial), to
    write a trial's user attributes inside one journal batch, and to read one trial by id. For
    RDB storages this is Optuna's ``_CachedStorage`` wrapper, not the ``RDBStorage`` itself:
    never test its type, use :func:`optuna.storages.fail_stale_trials` and the storage methods.
    """
    return study._storage


def trial_id(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """The storage's id of a trial (``_trial_id``): storages address trials by id, and Optuna
    exposes only the trial's number."""
    return trial._trial_id


def heartbeat_thread(
    study: optuna.Study, trial: optuna.Trial
) -> contextlib.AbstractContextManager[Any]:
    """Optuna's heartbeat thread for a running trial (``optuna.storages._heartbeat``).

    Optuna beats only inside ``study.optimize``; with ask-and-tell the caller starts the thread.
    On a storage without heartbeats (the journal) this does nothing.
    """
    from optuna.storages._heartbeat import get_heartbeat_thread

    return get_heartbeat_thread(trial_id(trial), storage_of(study))
