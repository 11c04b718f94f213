"""A study on a Dask cluster: ``sweepnp study run FILE --cluster ADDRESS``.

This process — the *driver* — connects a ``distributed.Client`` to the scheduler, checks that
every worker has this sweepnp and the plugins the study names, and submits sweepnp's own worker
loop (:func:`sweepnp.study.cluster_loop.run_loop`) once per worker thread: stacking, pruning,
repeats, early stopping, the fair share and the results tables work as with ``--jobs``. It then
watches them: a worker that dies has its running trials failed and queued again, and a new loop
takes its place; Ctrl-C cancels the loops, which store their running trials as interrupted.

Where the study lives:

* ``--storage postgresql://…`` that the workers reach: they open it themselves, with
  PostgreSQL's budget lock and Optuna's heartbeats, as workers started by hand do.
* otherwise the driver's own store (the journal file on its disk, the default): the driver
  serves it to the workers through Optuna's gRPC storage proxy (``grpc://host:port``,
  :func:`~sweepnp.study.optuna_adapter.storage_proxy_server`), so only the driver writes the
  file and every guarantee of the journal holds — a crash of the driver loses nothing that was
  told, and the next ``study run`` resumes from the file. The workers' budget lock is then a
  ``distributed.Lock``; the trials they train carry the driver's identity
  (``sweepnp_driver``), so that the next run finds those of a driver that died stale.

Data: a bundled data set is loaded on the workers; a file data set that the workers do not
have at the same path is read and prepared once by the driver and sent to every worker once
(``Client.scatter(..., broadcast=True)``).

Without ``--cluster`` nothing of Dask is imported.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import optuna

from sweepnp.errors import ArgumentError
from sweepnp.study import storage as storages
from sweepnp.study.ask_tell import SaidOnce, WorkerJob
from sweepnp.study.cluster_loop import run_loop
from sweepnp.study.optuna_adapter import storage_proxy_server
from sweepnp.study.record import DRIVER_ATTR, WORKER_ATTR
from sweepnp.study.spec import StudySpec
from sweepnp.study.storage_proxy import CURVE_ATTR, WRITES_ATTR
from sweepnp.study.worker import create_study, resolve_stack

__all__ = [
    "CLUSTER_ENV",
    "TIMEOUT_ENV",
    "ServedStorage",
    "check_workers",
    "cluster_address",
    "connect",
    "run_on_cluster",
]

#: The environment variable naming the scheduler when neither ``--cluster`` nor the file does.
CLUSTER_ENV = "SWEEPNP_CLUSTER"
#: Seconds to wait for the scheduler to answer (default :data:`CONNECT_TIMEOUT`).
TIMEOUT_ENV = "SWEEPNP_CLUSTER_TIMEOUT"
CONNECT_TIMEOUT = 10.0
#: Seconds between two looks of the driver at its loops and its workers.
POLL_SECONDS = 0.25
#: Seconds the driver waits, after a Ctrl-C, for its loops to store their trials.
STOP_SECONDS = 30.0
#: Errors of a loop that mean its worker died (the loop runs again elsewhere), by class name.
_WORKER_LOST = ("KilledWorker", "CommClosedError", "FutureCancelledError", "CancelledError")

OnTrial = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


def cluster_address(option: str | None, spec: StudySpec) -> str | None:
    """The scheduler to run on: ``--cluster``, else ``$SWEEPNP_CLUSTER``, else the file's
    ``[study] cluster``; ``None``: this machine."""
    return option or os.environ.get(CLUSTER_ENV) or spec.study.cluster or None


def _timeout() -> float:
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(text) if text else CONNECT_TIMEOUT
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ArgumentError(f"must be a number of seconds > 0, not {text!r}", argument=TIMEOUT_ENV)
    return value


def connect(address: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``; one line naming the address
    when it cannot be reached within the connect timeout."""
    from sweepnp.redact import mask_url

    try:
        import distributed
    except ImportError:
        raise ArgumentError(
            "running on a Dask cluster needs Dask's distributed: pip install 'sweepnp[dask]'",
            argument="cluster",
        ) from None
    timeout = _timeout()
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ArgumentError(
            f"cannot reach the Dask scheduler at {mask_url(address)} within {timeout:g} s "
            f"({mask_url(reason)}); start one with `dask scheduler`, or check the address",
            argument="cluster",
        ) from None


# -- the workers' software ---------------------------------------------------------------------


def _needed_plugins(spec: StudySpec) -> set[tuple[str, str]]:
    """The plugins (kind, name) the study's runs name: its base run's and any searched name."""
    base = spec.base
    needed: set[tuple[str, str]] = set()
    for key, kind in (("optimizer", "optimizers"), ("schedule", "schedules")):
        name = base.get(key, {}).get("name")
        if isinstance(name, str):
            needed.add((kind, name))
    needed |= {("regularizers", name) for name in base.get("regularizers", {})}
    needed |= {("callbacks", name) for name in base.get("callbacks", {})}
    dataset = base.get("data", {}).get("dataset")
    if isinstance(dataset, str):
        needed.add(("datasets", dataset))
    kinds = {"optimizer.name": "optimizers", "schedule.name": "schedules"}
    for param in spec.space.params:
        if param.path in kinds and param.kind == "categorical":
            needed |= {(kinds[param.path], str(choice)) for choice in param.choices}
    return needed


def _facts_probe() -> Callable[[], dict[str, Any]]:
    """A function Dask runs on each worker: its Python, sweepnp and plugins. Made here, so that
    it is sent by value and runs on a worker without sweepnp too."""

    def probe() -> dict[str, Any]:
        import importlib.metadata
        import platform

        facts: dict[str, Any] = {"python": platform.python_version()}
        try:
            facts["sweepnp"] = importlib.metadata.version("sweepnp")
        except importlib.metadata.PackageNotFoundError:
            facts["sweepnp"] = None
            return facts
        try:
            from sweepnp.plugins import get_plugin_manager

            registry = get_plugin_manager().registry
        except Exception as exc:  # installed, but broken (a dependency missing)
            facts["broken"] = f"{type(exc).__name__}: {exc}"
            return facts
        facts["plugins"] = {kind: sorted(entries) for kind, entries in registry.items()}
        return facts

    return probe


def check_workers(client: Any, spec: StudySpec) -> dict[str, dict[str, Any]]:
    """Every worker's facts; an :class:`ArgumentError` listing, worker by worker, what differs
    from this machine (no sweepnp, another version, a plugin the study names missing), before
    any trial."""
    import importlib.metadata

    here = importlib.metadata.version("sweepnp")
    facts = client.run(_facts_probe())
    if not facts:
        raise ArgumentError(
            "the Dask cluster has no workers; start some with `dask worker ADDRESS`",
            argument="cluster",
        )
    needed = _needed_plugins(spec)
    problems = []
    for address, fact in sorted(facts.items()):
        if fact.get("sweepnp") is None:
            problems.append(f"{address}: sweepnp is not installed")
            continue
        if fact["sweepnp"] != here:
            problems.append(f"{address}: sweepnp {fact['sweepnp']} (here {here})")
        if "broken" in fact:
            problems.append(f"{address}: sweepnp cannot be imported ({fact['broken']})")
            continue
        plugins = fact.get("plugins", {})
        missing = sorted(
            f"{kind[:-1]} {name!r}" for kind, name in needed if name not in plugins.get(kind, [])
        )
        if missing:
            problems.append(f"{address}: no {', no '.join(missing)}")
    if problems:
        raise ArgumentError(
            "the Dask workers cannot run this study: " + "; ".join(problems) + " (install the "
            "same sweepnp and plugins on every worker)",
            argument="cluster",
        )
    return facts


# -- the study's storage and data, as the workers reach them ----------------------------------


def _worker_storage(storage: str | None, handle: Any, client: Any) -> tuple[str, Any]:
    """The storage URL the workers open, and the proxy server this driver runs (or ``None``)."""
    from distributed.utils import get_ip

    if storage is not None and storages.shared_by_machines(handle):
        return storage, None  # a database server: the workers reach it themselves
    scheduler_host = client.scheduler.address.rpartition("://")[2].rpartition(":")[0]
    host = get_ip(scheduler_host.strip("[]") or "127.0.0.1")
    port = _free_port(host)
    server = storage_proxy_server(ServedStorage(handle), host, port)
    return f"{storages.GRPC_SCHEME}{host}:{port}", server


class ServedStorage:
    """The driver's storage as its gRPC proxy serves it to the workers: the storage's own
    methods, except that a learning curve a worker sends as one user attribute
    (:data:`~sweepnp.study.storage_proxy.CURVE_ATTR`) is stored as the trial's intermediate
    values — one request a trial instead of one an epoch — and the writes of a worker's batch
    (:data:`~sweepnp.study.storage_proxy.WRITES_ATTR`: a trial's parameters, its record) are
    applied in order, in one journal append
    (:class:`~sweepnp.study.storage_proxy.LabellingProxy`)."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        if key == CURVE_ATTR:
            for step, intermediate in value:
                self._storage.set_trial_intermediate_value(trial_id, int(step), intermediate)
        elif key == WRITES_ATTR:
            with storages.batched(self._storage):  # one append on the journal
                for kind, trial, *write in value:
                    self._apply(kind, trial, write)
        else:
            self._storage.set_trial_user_attr(trial_id, key, value)

    def _apply(self, kind: str, trial: int, write: list[Any]) -> None:
        if kind == "param":
            name, internal, as_json = write
            distribution = optuna.distributions.json_to_distribution(as_json)
            self._storage.set_trial_param(trial, name, internal, distribution)
        elif kind == "user_attr":
            self._storage.set_trial_user_attr(trial, *write)
        elif kind == "system_attr":
            self._storage.set_trial_system_attr(trial, *write)


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _scattered_data(client: Any, spec: StudySpec) -> Any:
    """The study's prepared data, scattered to every worker once — for a file data set the
    workers do not have at the same path; else ``None`` (they prepare their own)."""
    dataset = spec.base.get("data", {}).get("dataset")
    path = dataset.get("path") if isinstance(dataset, dict) else None
    if path is None:
        return None
    found = client.run(os.path.exists, str(path))
    if found and all(found.values()):
        return None
    return client.scatter(spec.data_cache.entries(), broadcast=True)


# -- the run ----------------------------------------------------------------------------------


def run_on_cluster(
    spec: StudySpec,
    *,
    address: str,
    storage: str | None = None,
    n_trials: int | None = None,
    stack: int | str | None = None,
    on_trial: OnTrial | None = None,
    board: Any = None,
) -> optuna.Study:
    """Run (or continue) ``spec``'s study on the Dask cluster at ``address`` until it holds
    ``n_trials`` trials (default: the file's); return the Optuna study (in this process's
    storage handle). The arguments are :func:`~sweepnp.study.worker.run_study`'s.

    :param spec: the study file, loaded (:func:`~sweepnp.study.load_spec`).
    :param address: the scheduler's, as :func:`cluster_address` finds it.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    total = n_trials if n_trials is not None else spec.study.n_trials
    deadline = time.time() + spec.study.timeout if spec.study.timeout else None
    runs_at_once = resolve_stack(spec, stack)
    client = connect(address)
    server = None
    try:
        check_workers(client, spec)
        handle = storages.open_storage(storage)
        study = create_study(spec, storage, handle)
        if board is not None:
            board.opened(study)  # what it held before, for the progress display
        url, server = _worker_storage(storage, handle, client)
        storages.recover_stale_trials(study)  # those of a driver that died, among others
        job = WorkerJob(
            file=spec.raw,
            name=spec.name,
            storage=url,
            n_trials=total,
            deadline=deadline,
            worker=0,
            stack=runs_at_once,
            said=SaidOnce(),
            workers=sum(client.nthreads().values()),
            labels={DRIVER_ATTR: storages.worker_identity()},
            join_window=False,  # the loops start together, and `workers` counts them all
        )
        _Supervisor(client, study, job, _scattered_data(client, spec), on_trial).run()
        return study
    finally:
        client.close()
        if server is not None:
            server.stop(grace=None)


class _Supervisor:
    """The driver's watch over its loops: one per worker thread, another for a loop whose
    worker died (its running trials failed and queued again first)."""

    def __init__(
        self, client: Any, study: optuna.Study, job: WorkerJob, data: Any, on_trial: Any
    ) -> None:
        self.client, self.study, self.job, self.data = client, study, job, data
        self.on_trial = on_trial
        self.token = uuid.uuid4().hex[:8]
        self.loops: dict[Any, str] = {}  # future → the worker it runs on
        self.identities: dict[str, str] = {}  # worker → its process's identity
        self.seen: set[str] = set()  # the workers given loops
        self.started = 0
        self.ended = threading.Event()  # set when a loop ends

    def submit(self, worker: str | None) -> None:
        job = dataclasses.replace(self.job, worker=self.started)
        where = {} if worker is None else {"workers": [worker], "allow_other_workers": False}
        future = self.client.submit(
            run_loop,
            job,
            self.data,
            key=f"sweepnp-{self.study.study_name}-{self.token}-{self.started}",
            pure=False,
            **where,
        )
        future.add_done_callback(lambda _: self.ended.set())
        self.loops[future] = worker or ""
        self.started += 1

    def learn_identities(self) -> None:
        self.identities.update(self.client.run(storages.worker_identity))

    def give_loops(self) -> None:
        """A loop for every thread of each worker not yet given loops (all at the start; one
        that joins later, as an autoscaled cluster's do)."""
        for worker, threads in sorted(self.client.nthreads().items()):
            if worker in self.seen:
                continue
            self.seen.add(worker)
            for _ in range(threads):
                self.submit(worker)

    def run(self) -> None:
        self.learn_identities()
        self.give_loops()
        try:
            while self.loops:
                # Woken as soon as a loop ends, else every POLL_SECONDS to look at the workers.
                self.ended.wait(POLL_SECONDS)
                self.ended.clear()
                self.look()
        except KeyboardInterrupt:
            self.stop()
            raise

    def look(self) -> None:
        """Take the loops that ended, and replace those whose worker died."""
        alive = set(self.client.nthreads())
        if alive - set(self.identities):
            self.learn_identities()  # a worker restarted, or joined
        if alive - self.seen and any(not f.done() for f in self.loops):
            self.give_loops()  # joined while the study runs
        for future, worker in list(self.loops.items()):
            lost = worker and worker not in alive
            if future.done() and not lost:
                del self.loops[future]
                if future.status == "error":
                    error = future.exception()
                    if type(error).__name__ not in _WORKER_LOST:
                        raise error
                    self.replace(worker)
            elif lost:
                del self.loops[future]
                future.cancel()
                self.replace(worker)
        if self.on_trial is not None:
            trials = self.study.get_trials(deepcopy=False)
            if trials:
                self.on_trial(self.study, trials[-1])

    def replace(self, worker: str) -> None:
        """A loop's worker died: fail its running trials (queued again) and start a loop on
        any worker."""
        identity = self.identities.get(worker)
        if identity is not None:
            storages.fail_trials_of(self.study, identity)
        alive = self.client.nthreads()
        if alive:
            self.seen |= set(alive)  # its replacement is the one new loop, anywhere
            self.submit(None)

    def stop(self) -> None:
        """Ctrl-C: cancel the loops, and wait until they have stored their running trials as
        interrupted (at most :data:`STOP_SECONDS`)."""
        self.client.cancel(list(self.loops))
        driver = self.job.labels[DRIVER_ATTR]
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline:
            running = [
                t
                for t in self.study.get_trials(deepcopy=False)
                if t.state == optuna.trial.TrialState.RUNNING
                and t.user_attrs.get(DRIVER_ATTR) == driver
            ]
            if not running:
                return
            time.sleep(POLL_SECONDS)
        for trial in running:  # a loop that could not store them: failed here, queued again
            storages.fail_trials_of(self.study, trial.user_attrs.get(WORKER_ATTR, ""))
