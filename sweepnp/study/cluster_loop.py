"""What runs on each Dask worker of a cluster study: sweepnp's own worker loop, one per thread.

The driver (:mod:`sweepnp.study.cluster`) submits :func:`run_loop` once per worker thread. The
loop is :func:`sweepnp.study.worker.work` — stacking, pruning, repeats, early stopping, the fair
share and the budget lock as with ``--jobs`` — on the study's storage as the workers reach it:
the PostgreSQL URL itself, or the driver's journal through Optuna's gRPC storage proxy
(``grpc://host:port``). It stops as a Ctrl-C stops a worker (its running trials stored as
interrupted and queued again) when the driver cancels it, and when the driver is gone.

Nothing here is imported by a study that does not use ``--cluster``.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from sweepnp.study import storage as storages
from sweepnp.study.ask_tell import WorkerJob
from sweepnp.study.spec import load_spec
from sweepnp.study.worker import work

__all__ = ["run_loop"]

#: The states of a Dask task on its worker once its client no longer wants it.
_UNWANTED = ("cancelled", "released", "forgotten")


def run_loop(job: WorkerJob, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run one worker loop on this Dask worker's thread until the study's budget is spent;
    return this worker's identity and the trials it ran (``None`` when it was stopped).

    :param job: the study (its file as a dict, so that the workers need not have the file),
        the storage as the workers reach it, and the driver's labels for the trials.
    :param data: the study's prepared data by section (:meth:`DataCache.entries
        <sweepnp.study.spec.DataCache.entries>`), scattered by the driver once; ``None``:
        the workers prepare their own (a bundled data set, or a file every worker has).
    """
    from distributed import get_worker
    from threadpoolctl import threadpool_limits

    worker = get_worker()
    key = worker.get_current_task()

    def unwanted() -> bool:
        task = worker.state.tasks.get(key)
        return task is None or task.state in _UNWANTED

    spec = load_spec(job.file, name=job.name, validate_runs=False)
    if data:
        spec.data_cache.adopt(data)
    job = dataclasses.replace(job, spec=spec)
    identity = storages.worker_identity()
    handle = storages.open_storage(job.storage, create=False)
    try:
        with threadpool_limits(limits=1):
            ran = work(job, storage=handle, stop=unwanted)
    except KeyboardInterrupt:  # cancelled by the driver: its trials are stored as interrupted
        return {"identity": identity, "ran": None}
    finally:
        close = getattr(handle, "close", None)
        if close is not None:  # gRPC takes 0.2 s to close a channel: not the loop's time
            threading.Thread(target=close, daemon=True).start()
    return {"identity": identity, "ran": ran}
