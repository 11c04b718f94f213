"""The six things sweepnp needs from Optuna beyond its public API, in one place.

sweepnp drives Optuna by ask-and-tell, not ``study.optimize``, because it stores one record per
trial, gathers a trial's writes into one journal append, and recovers trials of dead workers.
For that it needs what ``optimize`` uses internally; to store a trial's learning curve as
its intermediate values it writes them in one transaction; and so that a pruner's question
does not reread every running trial on PostgreSQL it extends Optuna's cache of an RDB storage
(:class:`FinishedTrialsCache`); and to serve a journal to a Dask cluster's workers it starts
Optuna's gRPC storage proxy without blocking (:func:`storage_proxy_server`). Each use is
pinned by ``tests/study/test_optuna_adapter.py``, which fails when an Optuna release changes it.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Container, Mapping
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

__all__ = [
    "FinishedTrialsCache",
    "heartbeat_thread",
    "set_intermediate_values",
    "storage_of",
    "storage_proxy_server",
    "trial_id",
]


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
    storage that method is a transaction of three statements per step — a trial of 300 epochs
    took 0.9 s on PostgreSQL — so there the trial's stored steps are read in one query and the
    rest inserted in one batch, in one transaction, with Optuna's own models and checks
    (``RDBStorage`` behind Optuna's ``_CachedStorage._backend``, ``_create_scoped_session``,
    ``models.TrialModel``, ``models.TrialIntermediateValueModel``). sweepnp's journal gathers
    them into the trial's final append by itself, and a cluster worker's proxy of its driver's
    storage into the request that ends the trial.
    """
    storage = storage_of(study)
    number = trial_id(trial)
    backend = getattr(storage, "_backend", storage)  # the RDBStorage behind the cache
    if isinstance(backend, optuna.storages.RDBStorage):
        _set_rdb_intermediate_values(backend, number, values)
        return
    for step, value in values.items():
        storage.set_trial_intermediate_value(number, step, value)


def _set_rdb_intermediate_values(
    backend: optuna.storages.RDBStorage, number: int, values: Mapping[int, float]
) -> None:
    import sqlalchemy
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    model = models.TrialIntermediateValueModel
    with _create_scoped_session(backend.scoped_session, True) as session:
        stored_trial = models.TrialModel.find_or_raise_by_id(number, session)
        backend.check_trial_is_updatable(number, stored_trial.state)
        stored = {row.step: row for row in session.query(model).filter(model.trial_id == number)}
        added = []
        for step, value in values.items():
            kept, kind = model.intermediate_value_to_stored_repr(value)
            row = stored.get(step)
            if row is None:
                added.append(
                    {
                        "trial_id": number,
                        "step": step,
                        "intermediate_value": kept,
                        "intermediate_value_type": kind,
                    }
                )
            else:
                row.intermediate_value, row.intermediate_value_type = kept, kind
        if added:  # one executemany, not the ORM's insert per row (it wants their ids back)
            session.execute(sqlalchemy.insert(model), added)


class FinishedTrialsCache(optuna.storages._CachedStorage):
    """Optuna's cache of an RDB storage, which reads only what a question about finished trials
    needs.

    A pruner asks for the completed trials at every report (``study.get_trials(states=
    (COMPLETE,))``). Optuna's cache answers any question by rereading every trial that was
    unfinished when it last looked, with every intermediate value each has reported: on
    PostgreSQL with a stack of trials, a read per report that grows with the running trials and
    their epochs. Here a question whose states are all finished ones reads the number and state
    of those trials and of newer ones (one query, no values), then in full only those that have
    finished since, and keeps Optuna's bookkeeping (``_studies``: ``unfinished_trial_ids``,
    ``last_finished_trial_id``, ``_add_trials_to_cache``; ``RDBStorage._get_trials``) as its
    own full read would leave it; every other question is Optuna's.

    ``optuna.load_study(storage=FinishedTrialsCache(rdb))`` uses it as it is (Optuna wraps only
    an ``RDBStorage`` in its own cache).
    """

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        finished_only = states is not None and not any(
            state in states for state in (TrialState.RUNNING, TrialState.WAITING)
        )
        if not finished_only or study_id not in self._studies:
            return super().get_all_trials(study_id, deepcopy=deepcopy, states=states)
        with self._lock:
            known = self._studies[study_id]
            self._read_finished_trials(study_id, known)
            trials = sorted(
                (t for t in known.trials.values() if t.state in states), key=lambda t: t.number
            )
        return copy.deepcopy(trials) if deepcopy else trials

    def _read_finished_trials(self, study_id: int, known: Any) -> None:
        import sqlalchemy
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        model = models.TrialModel
        with _create_scoped_session(self._backend.scoped_session) as session:
            rows = (
                session.query(model.trial_id, model.state)
                .filter(
                    model.study_id == study_id,
                    sqlalchemy.or_(
                        model.trial_id > known.last_finished_trial_id,
                        model.trial_id.in_(known.unfinished_trial_ids),
                    ),
                )
                .all()
            )
        if not rows:
            return
        finished = {number for number, state in rows if state.is_finished()}
        newest = max(number for number, _ in rows)
        if finished:
            trials = self._backend._get_trials(
                study_id, states=None, included_trial_ids=finished, trial_id_greater_than=newest
            )
            self._add_trials_to_cache(study_id, trials)
        # Every trial up to the newest is now cached finished or known unfinished.
        known.unfinished_trial_ids.update(number for number, _ in rows)
        known.unfinished_trial_ids.difference_update(finished)
        known.last_finished_trial_id = max(known.last_finished_trial_id, newest)


def storage_proxy_server(storage: BaseStorage, host: str, port: int) -> Any:
    """A started gRPC server of Optuna's storage proxy for ``storage`` on ``host:port``
    (``optuna.storages._grpc.server.make_server``): what ``run_grpc_proxy_server`` runs, without
    blocking, so that a cluster run's driver serves its journal to its Dask workers while it
    supervises them, and stops it when they are done. One server thread: sweepnp's journal
    buffers a trial's reports per handle, which concurrent requests must not interleave."""
    from concurrent.futures import ThreadPoolExecutor

    from optuna.storages._grpc.server import make_server

    server = make_server(storage, host, port, thread_pool=ThreadPoolExecutor(max_workers=1))
    server.start()
    return server
