"""The four things sweepnp needs from Optuna beyond its public API, in one place.

sweepnp drives Optuna by ask-and-tell, not ``study.optimize``, because it stores one record per
trial, gathers a trial's writes into one journal append, and recovers trials of dead workers.
For that it needs what ``optimize`` uses internally; and to store a trial's learning curve as
its intermediate values it writes them in one transaction. Each use is pinned by
``tests/study/test_optuna_adapter.py``, which fails when an Optuna release changes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.storages import BaseStorage

__all__ = ["heartbeat_thread", "set_intermediate_values", "storage_of", "trial_id"]


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


def set_intermediate_values(
    study: optuna.Study, trial: optuna.Trial, values: Mapping[int, float]
) -> None:
    """Set (or overwrite) a running trial's intermediate values, step → value, in one write.

    ``trial.report`` refuses a step twice, so values are set through the storage, whose
    ``set_trial_intermediate_value`` overwrites a step in every Optuna storage. On an RDB
    storage that method commits each step — on SQLite a synced transaction, tens of
    milliseconds, a second or more for a trial of 100 epochs — so there all steps go into one
    transaction with what the method runs inside its own (``RDBStorage`` behind Optuna's
    ``_CachedStorage._backend``, ``_create_scoped_session`` and
    ``_set_trial_intermediate_value_without_commit``). sweepnp's journal gathers them into the
    trial's final append by itself.
    """
    storage = storage_of(study)
    number = trial_id(trial)
    backend = getattr(storage, "_backend", storage)  # the RDBStorage behind the cache
    if isinstance(backend, optuna.storages.RDBStorage):
        from optuna.storages._rdb.storage import _create_scoped_session

        with _create_scoped_session(backend.scoped_session, True) as session:
            for step, value in values.items():
                backend._set_trial_intermediate_value_without_commit(session, number, step, value)
        return
    for step, value in values.items():
        storage.set_trial_intermediate_value(number, step, value)
