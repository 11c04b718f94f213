"""Where studies live: Optuna storages from a URL or a path, the budget lock, and dead workers.

* Default: a journal file ``sweepnp.journal`` in the working directory — no server, safe for
  many processes on one machine (Optuna advises against SQLite for parallel work). A path
  (anything without ``://``) is a journal file, opened with :mod:`sweepnp.journal`: the file
  Optuna writes, written so that no torn or failed write costs a record.
* ``sqlite:///…``, ``postgresql://…``, ``mysql://…``: Optuna's RDB storage, with heartbeats.

Workers take :func:`budget_lock` around "count the trials, then ask for one", so that however many
workers share a study it never holds more than ``n_trials`` trials: a file lock on
``<journal>.budget.flock`` beside a journal (it also holds across machines sharing the file over
NFS where the mount supports locks), a PostgreSQL advisory lock for PostgreSQL (across machines),
and a file lock of this machine otherwise. All are released when their holder dies, however it
dies: a worker killed inside the lock stops no other (:mod:`sweepnp.study.locks`).

Dead workers (:func:`recover_stale_trials`) — a trial left RUNNING by a process that died is
failed with reason ``stale`` and its parameters are queued again:

* RDB storages: Optuna's heartbeats. Every running trial beats every ``SWEEPNP_HEARTBEAT_INTERVAL``
  seconds (default 30); a trial silent for ``SWEEPNP_HEARTBEAT_GRACE`` seconds (default 120) is
  stale, whichever machine ran it.
* Every storage: sweepnp records which process runs each trial (``sweepnp_worker`` = host, pid
  and the process's start time); a trial of a process of this host that no longer exists (or is
  a zombie) is stale at once. A journal has no heartbeat, so there a trial of another machine is
  never judged.
* Both: a running trial that never got its worker label (its process died right after creating
  it) is stale once it is older than the grace period.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState

from sweepnp.errors import ArgumentError, ConfigError, SweepnpError
from sweepnp.study import DEFAULT_STORAGE
from sweepnp.study.journal import (
    BufferedJournalStorage,
    JournalWriteError,
    lock_path,
)
from sweepnp.study.locks import ProcessLock
from sweepnp.study.optuna_adapter import (
    FinishedTrialsCache,
    heartbeat_thread,
    storage_of,
    trial_id,
)
from sweepnp.study.processes import on_this_host, process_alive, worker_identity
from sweepnp.study.record import (
    DRIVER_ATTR,
    GRID_POINT_ATTR,
    WORKER_ATTR,
    TrialRecord,
    retry_attrs,
)
from sweepnp.study.storage_proxy import GRPC_SCHEME, LabellingProxy, open_grpc_proxy
from sweepnp.vocabulary import StopReason

__all__ = [
    "DEFAULT_STORAGE",
    "STUDY_COLUMNS",
    "BufferedJournalStorage",
    "awaited_trials",
    "batched",
    "budget_lock",
    "cached",
    "fail_trials_of",
    "heartbeat",
    "heartbeat_settings",
    "label_new_trials",
    "load_study",
    "open_storage",
    "recover_stale_trials",
    "requeue",
    "study_rows",
    "worker_identity",
]

#: Seconds between RDB heartbeats, and how long a silent trial may run before it is failed;
#: the environment variables override them (every worker of a study should agree).
HEARTBEAT_INTERVAL = 30
GRACE_PERIOD = 120
INTERVAL_ENV = "SWEEPNP_HEARTBEAT_INTERVAL"
GRACE_ENV = "SWEEPNP_HEARTBEAT_GRACE"


def describe(url: str | None) -> str:
    """The storage as sweepnp prints it: the path, or the URL with its password masked
    (``postgresql://user:***@host/db``)."""
    from sweepnp.redact import mask_url

    return mask_url(url or DEFAULT_STORAGE)


def heartbeat_settings() -> tuple[int, int]:
    """``(interval, grace)`` in seconds, from the environment or the defaults."""
    values = []
    for name, default in ((INTERVAL_ENV, HEARTBEAT_INTERVAL), (GRACE_ENV, GRACE_PERIOD)):
        text = os.environ.get(name, "").strip()
        if not text:
            values.append(default)
            continue
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise ConfigError(f"must be a whole number of seconds >= 1, not {text!r}", key=name)
        values.append(value)
    interval, grace = values
    if grace <= interval:
        raise ConfigError(
            f"the grace period ({grace} s) must be longer than the heartbeat interval "
            f"({interval} s, {INTERVAL_ENV})",
            key=GRACE_ENV,
        )
    return interval, grace


def open_storage(url: str | None, *, create: bool = True) -> BaseStorage:
    """Open the storage a URL or path names (``None``: the default journal file).

    :param create: create a journal file that does not exist (off for commands that only read:
        a misspelt path is then an error, not a new empty journal).
    """
    url = url or DEFAULT_STORAGE
    if url.startswith(GRPC_SCHEME):
        return open_grpc_proxy(url)
    if "://" in url:
        interval, grace = heartbeat_settings()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return _open_rdb(url, interval, grace)
        except ImportError as exc:
            from sweepnp.redact import error_text

            raise ArgumentError(
                f"the driver for {describe(url)!r} is not installed ({error_text(exc, url)}); "
                "for PostgreSQL: pip install 'sweepnp[postgres]'",
                argument="storage",
            ) from None
        except Exception as exc:  # SQLAlchemy's errors: unreachable server, bad URL, ...
            from sweepnp.redact import error_text

            raise ArgumentError(
                f"cannot open storage {describe(url)!r}: {error_text(exc, url)}", argument="storage"
            ) from None
    path = Path(url)
    if path.is_dir():
        raise ArgumentError(
            f"{describe(url)!r} is a directory, not a journal file", argument="storage"
        )
    if not path.parent.exists():
        raise ArgumentError(f"the folder of {describe(url)!r} does not exist", argument="storage")
    if not create and not path.exists():
        where = "in this folder" if url == DEFAULT_STORAGE else "there"
        raise ArgumentError(
            f"no journal {url!r} {where}; name an existing journal file (or run a study first)",
            argument="storage",
        )
    return BufferedJournalStorage(str(path))


def _open_rdb(url: str, interval: int, grace: int) -> RDBStorage:
    """An RDB storage with sweepnp's heartbeats. On PostgreSQL the first worker creates Optuna's
    tables under the schema lock; the workers that waited for it, and every later one, open the
    database without creating them, outside the lock (eight workers on a fresh database spent
    4.5 s each opening it, one after the other)."""

    def opened(create: bool) -> RDBStorage:
        return RDBStorage(
            url,
            heartbeat_interval=interval,
            grace_period=grace,
            heartbeat_stale_trial_callback=requeue,  # called once Optuna failed the trial
            skip_table_creation=not create,
        )

    if not url.startswith(("postgresql", "postgres")):
        return opened(create=True)
    if not _schema_ready(url):
        with _schema_lock(url):
            if not _schema_ready(url):
                return opened(create=True)
    return opened(create=False)


def _schema_ready(url: str) -> bool:
    """Whether a PostgreSQL database holds Optuna's tables already, stamped with their
    ``alembic_version`` (written last): then a worker opens it without the schema lock, and
    without waiting behind the workers that start with it (0.3–1.3 s each)."""
    if not url.startswith(("postgresql", "postgres")):
        return False
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            if not sqlalchemy.inspect(connection).has_table("alembic_version"):
                return False
            row = connection.execute(sqlalchemy.text("SELECT 1 FROM alembic_version LIMIT 1"))
            return row.first() is not None
    finally:
        engine.dispose()


@contextlib.contextmanager
def _schema_lock(url: str) -> Iterator[None]:
    """On PostgreSQL, one process at a time creates Optuna's tables in a fresh database.

    (Two machines starting together would otherwise both try, and one would fail.)
    """
    if not url.startswith(("postgresql", "postgres")):
        yield
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    key = _lock_key("sweepnp-schema")
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        engine.dispose()


def cached(storage: BaseStorage) -> BaseStorage:
    """The storage as a worker's study reads it: an RDB storage behind a cache that answers a
    pruner's question without rereading every running trial
    (:class:`~sweepnp.study.optuna_adapter.FinishedTrialsCache`); the journal as it is."""
    if isinstance(storage, RDBStorage):
        return FinishedTrialsCache(storage)
    return storage


def shared_by_machines(storage: BaseStorage) -> bool:
    """Whether workers on other machines may share the storage: a database server (not a
    journal file or SQLite, which one machine's workers share, and know by ``--jobs``)."""
    backend = getattr(storage, "_backend", storage)
    if type(backend).__name__ == "GrpcStorageProxy":  # a cluster run's workers
        return True
    return isinstance(backend, RDBStorage) and backend.engine.dialect.name != "sqlite"


def label_new_trials(storage: BaseStorage, user_attrs: dict[str, Any]) -> None:
    """Have the trials this handle creates start with ``user_attrs`` (sweepnp's journal, and a
    cluster worker's proxy of its driver's storage).

    On the journal the attributes are then part of the append that creates the trial, not one
    more append; callers check and set them on trials created otherwise (enqueued ones).
    """
    if isinstance(storage, BufferedJournalStorage | LabellingProxy):
        storage.new_trial_user_attrs = dict(user_attrs)


def batched(storage: BaseStorage) -> contextlib.AbstractContextManager[None]:
    """One append for the writes inside the block on sweepnp's journal storage (one request on
    a cluster worker's proxy of its driver's journal); else nothing."""
    if isinstance(storage, BufferedJournalStorage | LabellingProxy):
        return storage.batched()
    return contextlib.nullcontext()


class StorageFailure(SweepnpError):
    """The database behind an RDB storage failed (full disk, server gone, …) mid-study."""


def storage_failure(exc: BaseException, url: str | None) -> StorageFailure | None:
    """A :class:`StorageFailure` for ``exc`` if it is the database failing (SQLAlchemy's errors,
    never a bug in sweepnp), else ``None``."""
    if isinstance(exc, optuna.exceptions.StorageInternalError) and exc.__cause__ is not None:
        exc = exc.__cause__  # Optuna's wrapper around a failed commit
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is None or not isinstance(exc, errors.SQLAlchemyError):
        return None
    from sweepnp.redact import error_text

    return StorageFailure(
        f"the storage {describe(url)} failed: {error_text(exc, url)}. Finished trials are kept "
        "(the database writes each change whole); running the same command again resumes the "
        "study"
    )


def load_study(name: str, storage: str | None) -> optuna.Study:
    """The stored study ``name``; a :class:`ConfigError` naming the studies there if it is not.

    Never creates a storage (a misspelt journal path is an error, not a new empty journal).
    """
    handle = open_storage(storage, create=False)
    try:
        return optuna.load_study(study_name=name, storage=handle)
    except KeyError:
        names = optuna.get_all_study_names(handle)
        raise ArgumentError(
            f"no study named {name!r} in {describe(storage)}; studies there: "
            f"{', '.join(names) or '(none)'}",
            argument="name",
        ) from None


#: The columns of :func:`study_rows` (and of ``sweepnp.results.list_studies``).
STUDY_COLUMNS = ("name", "directions", "n_trials", "best_value", "best_trial", "datetime_start")


def study_rows(storage: str | None) -> list[dict[str, Any]]:
    """One row per study in the storage, as plain values (no table library needed):
    ``name``, ``directions`` (``maximize,minimize``), ``n_trials``, ``best_value`` (NaN unless
    the study has one objective and a completed trial), ``best_trial`` (``None`` without one),
    ``datetime_start`` (``None`` before the first trial)."""
    summaries = optuna.get_all_study_summaries(
        open_storage(storage, create=False), include_best_trial=True
    )
    rows = []
    for summary in summaries:
        best = summary.best_trial
        one = best is not None and best.values is not None and len(best.values) == 1
        rows.append(
            {
                "name": summary.study_name,
                "directions": ",".join(d.name.lower() for d in summary.directions),
                "n_trials": summary.n_trials,
                "best_value": best.value if one else math.nan,
                "best_trial": best.number if best is not None else None,
                "datetime_start": summary.datetime_start,
            }
        )
    return rows


def dispose_connections(storage: BaseStorage) -> None:
    """Close an RDB storage's pooled connections (before forking: a child must not share one)."""
    if isinstance(storage, RDBStorage):
        storage.engine.dispose()


# -------------------------------------------------------------------------
# Workers, alive and dead
# -------------------------------------------------------------------------


def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue the configuration of a trial that did not really finish (interrupted, stale) to run
    again, at most :data:`~sweepnp.study.record.MAX_RETRY` times."""
    attrs = retry_attrs(trial)
    if attrs is not None:
        # A grid trial may die between two of its parameters (a worker killed while it
        # suggests): its retry runs the whole grid point it claimed, which gives every one.
        point = trial.system_attrs.get(GRID_POINT_ATTR)
        study.enqueue_trial(dict(point) if point else trial.params, user_attrs=attrs)


def _fail_as_stale(study: optuna.Study, trial: FrozenTrial) -> bool:
    storage = storage_of(study)
    try:
        for key, value in (
            TrialRecord(stop_reason=StopReason.STALE, reason=StopReason.STALE).attrs().items()
        ):
            storage.set_trial_user_attr(trial_id(trial), key, value)
        storage.set_trial_state_values(trial_id(trial), TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False  # it ended, or another process recovered it first
    requeue(study, trial)
    return True


def fail_trials_of(study: optuna.Study, identity: str) -> list[int]:
    """Fail, as stale, the running trials of the worker ``identity`` (one a cluster's driver
    saw die) and queue them again; return their numbers."""
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get(WORKER_ATTR) == identity and _fail_as_stale(study, trial):
            failed.append(trial.number)
    return failed


def _has_heartbeats(storage: BaseStorage) -> bool:
    interval = getattr(storage, "get_heartbeat_interval", None)
    return interval is not None and interval() is not None


def _unlabelled_for_long(trial: FrozenTrial) -> bool:
    """A running trial without a worker label, older than the grace period: its process died
    between creating it and labelling it."""
    if WORKER_ATTR in trial.user_attrs or trial.datetime_start is None:
        return False
    started = trial.datetime_start
    now = datetime.datetime.now(tz=started.tzinfo)
    return (now - started).total_seconds() > heartbeat_settings()[1]


def recover_stale_trials(study: optuna.Study) -> list[int]:
    """Fail and re-queue the trials whose worker is gone; return their numbers."""
    storage = storage_of(study)
    recovered = []
    if _has_heartbeats(storage):
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # calls requeue for each
        failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        recovered += [t.number for t in failed if t.number not in before]
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        identity = trial.user_attrs.get(WORKER_ATTR)
        driver = trial.user_attrs.get(DRIVER_ATTR)  # a cluster loop stops with its driver
        dead = (
            (identity is not None and not process_alive(identity))
            or (driver is not None and not process_alive(driver))
            or _unlabelled_for_long(trial)
        )
        if dead and _fail_as_stale(study, trial):
            recovered.append(trial.number)
    return recovered


def awaited_trials(
    study: optuna.Study, trials: Sequence[FrozenTrial] | None = None
) -> list[FrozenTrial]:
    """Running trials that will end or be found stale, so that a worker can wait for them.

    On an RDB storage every running trial (heartbeats tell when one is dead); on a journal the
    trials of this machine's processes and unlabelled ones. A journal trial of another machine
    is not awaited: nothing here could tell if its worker died.

    :param trials: the study's trials, already read.
    """
    if trials is None:
        trials = study.get_trials(deepcopy=False)
    running = [t for t in trials if t.state == TrialState.RUNNING]
    if _has_heartbeats(storage_of(study)):
        return running
    return [
        t
        for t in running
        if WORKER_ATTR not in t.user_attrs or on_this_host(t.user_attrs[WORKER_ATTR])
    ]


@contextlib.contextmanager
def heartbeat(study: optuna.Study, trial: optuna.Trial) -> Iterator[None]:
    """Optuna's heartbeat for a running trial on an RDB storage (nothing on a journal).

    The first beat is written before this returns, so a trial labelled with its worker always
    has a heartbeat, and its worker's death is always found.
    """
    storage = storage_of(study)
    if not _has_heartbeats(storage):
        yield
        return
    storage.record_heartbeat(trial_id(trial))
    with heartbeat_thread(study, trial):
        yield


# -------------------------------------------------------------------------
# The budget lock
# -------------------------------------------------------------------------


def _lock_key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def budget_lock(url: str | None, study_name: str, storage: BaseStorage) -> Iterator[None]:
    """Hold the study's budget lock: one worker at a time counts trials and asks for one."""
    url = url or DEFAULT_STORAGE
    if url.startswith(GRPC_SCHEME):  # a cluster's workers: Dask's lock, held by the scheduler
        from distributed import Lock

        with Lock(f"sweepnp-budget-{url}-{study_name}"):
            yield
        return
    if isinstance(storage, RDBStorage) and storage.engine.dialect.name == "postgresql":
        from sqlalchemy import text

        key = _lock_key(study_name)
        with storage.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        return
    if "://" not in url:
        lock = ProcessLock(lock_path(url, "budget"))
        try:
            lock.acquire()
        except OSError as exc:
            raise JournalWriteError(
                f"cannot take the budget lock beside the journal {url}: "
                f"{exc.strerror or exc}; nothing was written"
            ) from exc
    else:  # SQLite and others: a lock file of this machine's, one per storage and study
        key = _lock_key(url + study_name) & 0xFFFFFFFF
        lock = ProcessLock(Path(tempfile.gettempdir()) / f"sweepnp-{key:x}.lock")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
