"""Where studies live: Optuna storages from a URL or a path, and recovery of dead workers' trials.

* Default: Optuna's journal file ``sweepnp.journal`` in the working directory — no server, safe
  for many processes on one machine (Optuna advises against SQLite for parallel work).
* A path (anything without ``://``) is a journal file. sweepnp opens journals with
  :class:`BufferedJournalStorage`, which writes the same journal in fewer appends.
* ``sqlite:///…``, ``postgresql://…``, ``mysql://…``: Optuna's RDB storage, with heartbeats so
  that a dead worker's trial is failed and retried (``RetryFailedTrialCallback``).

Workers take :func:`budget_lock` around "count the trials, then ask for one", so that however many
workers share a study it never holds more than ``n_trials`` trials: a lock file beside a journal
(Optuna's NFS-safe ``JournalFileOpenLock``, so it also holds across machines sharing the file), a
PostgreSQL advisory lock for PostgreSQL (across machines), and a local file lock otherwise.

The journal has no heartbeat, so sweepnp records which process runs each trial
(``sweepnp_worker`` = host, pid and the process's start time) and, before asking for trials, fails
and re-queues trials left RUNNING by a process of this host that no longer exists.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import fcntl
import hashlib
import os
import socket
import tempfile
import warnings
from collections.abc import Container, Iterator, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import (
    BaseStorage,
    JournalStorage,
    RDBStorage,
    RetryHeartbeatStaleTrialCallback,
)
from optuna.storages.journal import BaseJournalBackend, JournalFileBackend, JournalFileOpenLock
from optuna.trial import TrialState

from sweepnp.errors import ConfigError

__all__ = [
    "DEFAULT_STORAGE",
    "BufferedJournalStorage",
    "batched",
    "budget_lock",
    "heartbeat",
    "label_new_trials",
    "open_storage",
    "recover_stale_trials",
    "worker_identity",
]

#: The embedded default: a journal file in the working directory.
DEFAULT_STORAGE = "sweepnp.journal"
#: Seconds between RDB heartbeats, and how long a silent trial may run before it is failed.
HEARTBEAT_INTERVAL = 30
GRACE_PERIOD = 120
#: A failed (dead-worker) trial is retried at most this many times.
MAX_RETRY = 2

WORKER_ATTR = "sweepnp_worker"
REASON_ATTR = "sweepnp_reason"


def describe(url: str | None) -> str:
    """The storage as sweepnp prints it: the path, or the URL with its password masked
    (``postgresql://user:***@host/db``)."""
    from sweepnp.redact import mask_url

    return mask_url(url or DEFAULT_STORAGE)


def open_storage(url: str | None) -> BaseStorage:
    """Open the storage a URL or path names (``None``: the default journal file)."""
    url = url or DEFAULT_STORAGE
    if "://" in url:
        try:
            with _schema_lock(url), warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    heartbeat_interval=HEARTBEAT_INTERVAL,
                    grace_period=GRACE_PERIOD,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(MAX_RETRY),
                )
        except ImportError as exc:
            from sweepnp.redact import error_text

            raise ConfigError(
                f"the driver for {describe(url)!r} is not installed ({error_text(exc, url)}); "
                "for PostgreSQL: pip install 'sweepnp[postgres]'",
                key="--storage",
            ) from None
        except Exception as exc:  # SQLAlchemy's errors: unreachable server, bad URL, ...
            from sweepnp.redact import error_text

            raise ConfigError(
                f"cannot open storage {describe(url)!r}: {error_text(exc, url)}", key="--storage"
            ) from None
    path = Path(url)
    if path.is_dir():
        raise ConfigError(f"{describe(url)!r} is a directory, not a journal file", key="--storage")
    if not path.parent.exists():
        raise ConfigError(f"the folder of {describe(url)!r} does not exist", key="--storage")
    return BufferedJournalStorage(str(path))


class _BatchingBackend(BaseJournalBackend):
    """A journal file backend that can gather several appends into one (one lock, one fsync),
    and that does not reread an unchanged file.

    Optuna's journal storage reads the file after every operation; most of the time nothing has
    been appended since. The file only grows, so if its size is what it was before the last
    read, that read saw everything there is.
    """

    def __init__(self, backend: BaseJournalBackend, path: str) -> None:
        self.backend = backend
        self.path = path
        self._batch: list[dict[str, Any]] | None = None
        self._seen: tuple[int, int] | None = None  # (next log number, file size before reading)

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        size = os.stat(self.path).st_size
        if self._seen == (log_number_from, size):
            return []
        logs = list(self.backend.read_logs(log_number_from))
        self._seen = (log_number_from + len(logs), size)
        return logs

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        if self._batch is None:
            self.backend.append_logs(logs)
        else:
            self._batch.extend(logs)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Gather the appends made inside into one, written on the way out (even on an error).

        Nested batches join the outermost one.
        """
        if self._batch is not None:
            yield
            return
        self._batch = []
        try:
            yield
        finally:
            logs, self._batch = self._batch, None
            if logs:
                self.backend.append_logs(logs)


class BufferedJournalStorage(JournalStorage):
    """Optuna's journal storage on a file, with fewer appends and reads; the same journal.

    Every journal append is a lock, a write and an ``fsync``, and Optuna's storage rereads the
    file after every operation; for short trials that costs more than training. Here:

    * **Pruning reports wait for the end of the trial.** ``trial.report`` keeps a running
      trial's intermediate values in this process (``get_trial`` includes them, so
      ``should_prune`` sees them); they reach the file in one append just before the trial's
      state changes. Nothing a pruner decides changes: the median and percentile pruners compare
      with *finished* trials' values, which are all written, and successive halving and
      hyperband keep their rungs in system attributes, written at once. Other processes (and
      optuna-dashboard) see a running trial's learning curve when it ends; a trial whose process
      is killed loses its reports along with the trial, which is failed as stale.
    * **Batches.** Inside :meth:`batched` all writes are one append (a trial's parameters; its
      record and final state).
    * **No rereading an unchanged file** (see :class:`_BatchingBackend`).

    :param path: the journal file.
    :param backend: the backend on that file (default: Optuna's, with the open-file lock, which
        costs less per write than its default symlink lock).
    """

    def __init__(self, path: str, backend: BaseJournalBackend | None = None) -> None:
        backend = backend or JournalFileBackend(path, lock_obj=JournalFileOpenLock(path))
        self._batching = _BatchingBackend(backend, path)
        super().__init__(self._batching)
        self._pending: dict[int, dict[int, float]] = {}
        #: User attributes every trial this handle creates starts with, in its creating append.
        self.new_trial_user_attrs: dict[str, Any] = {}

    def create_new_trial(
        self, study_id: int, template_trial: optuna.trial.FrozenTrial | None = None
    ) -> int:
        if template_trial is None and self.new_trial_user_attrs:
            template_trial = optuna.trial.FrozenTrial(
                number=-1,  # numbers and ids are given by the journal
                trial_id=-1,
                state=TrialState.RUNNING,
                value=None,
                datetime_start=datetime.datetime.now(tz=datetime.UTC),
                datetime_complete=None,
                params={},
                distributions={},
                user_attrs=dict(self.new_trial_user_attrs),
                system_attrs={},
                intermediate_values={},
            )
        return super().create_new_trial(study_id, template_trial)

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._pending.setdefault(trial_id, {})[step] = intermediate_value

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        self.flush_reports(trial_id)
        return super().set_trial_state_values(trial_id, state, values)

    def batched(self) -> contextlib.AbstractContextManager[None]:
        """Write everything stored inside the ``with`` block in one append (one ``fsync``).

        For writes that only this process reads back before the block ends: a trial's
        parameters, or its record and final state. The writes reach the file, and other
        processes, when the block ends.
        """
        return self._batching.batch()

    def flush_reports(self, trial_id: int) -> None:
        """Write the trial's buffered intermediate values in one append."""
        pending = self._pending.pop(trial_id, None)
        if not pending:
            return
        with self._batching.batch():
            for step, value in pending.items():
                super().set_trial_intermediate_value(trial_id, step, value)

    def get_trial(self, trial_id: int) -> optuna.trial.FrozenTrial:
        return self._with_pending(super().get_trial(trial_id))

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[optuna.trial.FrozenTrial]:
        trials = super().get_all_trials(study_id, deepcopy=deepcopy, states=states)
        if not self._pending or (states is not None and TrialState.RUNNING not in states):
            return trials  # buffered reports belong to running trials only
        return [self._with_pending(trial) for trial in trials]

    def _with_pending(self, trial: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial:
        pending = self._pending.get(trial._trial_id)
        if not pending:
            return trial
        trial = copy.copy(trial)
        trial.intermediate_values = {**trial.intermediate_values, **pending}
        return trial


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


def label_new_trials(storage: BaseStorage, user_attrs: dict[str, Any]) -> None:
    """Have the trials this handle creates start with ``user_attrs`` (sweepnp's journal only).

    On the journal the attributes are then part of the append that creates the trial, not one
    more append; callers check and set them on trials created otherwise (enqueued ones).
    """
    if isinstance(storage, BufferedJournalStorage):
        storage.new_trial_user_attrs = dict(user_attrs)


def batched(storage: BaseStorage) -> contextlib.AbstractContextManager[None]:
    """One append for the writes inside the block on sweepnp's journal storage; else nothing."""
    if isinstance(storage, BufferedJournalStorage):
        return storage.batched()
    return contextlib.nullcontext()


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell reused pids apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def worker_identity() -> str:
    """``host:pid:start-time`` of this process."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or ''}"


def _alive(identity: str) -> bool:
    host, _, rest = identity.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname():
        return True  # another machine's worker: nothing to check from here
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True
    return not started or _start_time(pid) == started


def recover_stale_trials(study: optuna.Study) -> list[int]:
    """Fail and re-queue trials whose worker is gone; return their numbers.

    RDB storages do this with Optuna's heartbeats; journal storages by checking the recorded
    worker process of each RUNNING trial.
    """
    storage = study._storage
    if isinstance(storage, RDBStorage):
        optuna.storages.fail_stale_trials(study)
        return []
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        identity = trial.user_attrs.get(WORKER_ATTR)
        if identity is None or _alive(identity):
            continue
        try:
            storage.set_trial_user_attr(trial._trial_id, REASON_ATTR, "stale")
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process recovered it first
        study.enqueue_trial(trial.params, user_attrs={"sweepnp_retry_of": trial.number})
        recovered.append(trial.number)
    return recovered


def _lock_key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def budget_lock(url: str | None, study_name: str, storage: BaseStorage) -> Iterator[None]:
    """Hold the study's budget lock: one worker at a time counts trials and asks for one."""
    url = url or DEFAULT_STORAGE
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
        lock = JournalFileOpenLock(f"{url}.budget")
        lock.acquire()
        try:
            yield
        finally:
            lock.release()
        return
    # SQLite and others: a file lock, which holds between the processes of this machine.
    path = (
        Path(tempfile.gettempdir()) / f"sweepnp-{_lock_key(url + study_name) & 0xFFFFFFFF:x}.lock"
    )
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def heartbeat(study: optuna.Study, trial: optuna.Trial) -> contextlib.AbstractContextManager[Any]:
    """Optuna's heartbeat for a running trial on an RDB storage (nothing on a journal)."""
    from optuna.storages._heartbeat import get_heartbeat_thread

    return get_heartbeat_thread(trial._trial_id, study._storage)
