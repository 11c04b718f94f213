"""A cluster worker's view of the study its driver serves: Optuna's gRPC storage proxy
(``grpc://host:port``, :mod:`sweepnp.study.cluster`), with what sweepnp adds to it.

Every read and write of the study is then a round trip to the driver, which serves them one at
a time; :class:`LabellingProxy` saves the round trips a worker would repeat.
"""

from __future__ import annotations

import contextlib
import copy
import time
import warnings
from collections.abc import Container, Iterator
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from sweepnp.errors import ArgumentError
from sweepnp.study.journal import KeptReports, labelled_template

__all__ = [
    "CURVE_ATTR",
    "FINISHED_READ_SECONDS",
    "GRPC_SCHEME",
    "WRITES_ATTR",
    "LabellingProxy",
    "open_grpc_proxy",
]

#: The storage URL of a study served by a cluster run's driver to its workers (Optuna's gRPC
#: storage proxy): ``grpc://host:port``.
GRPC_SCHEME = "grpc://"


#: The user attribute through which a cluster worker sends a trial's reports, as
#: ``[[step, value], ...]``, to its driver when the trial ends; the driver stores them as the
#: trial's intermediate values (:class:`sweepnp.study.cluster.ServedStorage`), never under this
#: name.
CURVE_ATTR = "sweepnp_curve_to_store"
#: The user attribute through which a cluster worker sends the writes of a batch (a trial's
#: parameters; its record) in one request, as ``[[kind, trial id, ...], ...]``; the driver
#: applies them in order, in one journal append, and never stores this name.
WRITES_ATTR = "sweepnp_writes_to_store"
#: Seconds a cluster worker reuses its read of the finished trials (a pruner's question).
FINISHED_READ_SECONDS = 0.5


class LabellingProxy(KeptReports, optuna.storages.GrpcStorageProxy):
    """Optuna's client of a storage a cluster's driver serves, whose new trials carry their
    worker's labels from the request that creates them (one round trip to the driver less per
    label, and no moment when a trial of a dead worker is unlabelled).

    A pruner asks for the finished trials at every report of every trial of a stack; through
    the proxy each question fetched every running trial again (1.4 s of a 6 s loop of the
    quickstart). An answer is reused for :data:`FINISHED_READ_SECONDS`: a trial another worker
    finished meanwhile counts for pruning half a second later, as it would had it finished
    half a second later. The budget's count always reads afresh.

    A trial's reports to the pruner stay with the worker until the trial ends, and are sent
    with its end in one request (the driver's journal would keep them from the other workers
    until then anyway, :class:`~sweepnp.study.journal.BufferedJournalStorage`); meanwhile the
    trials this handle reads carry them, so its pruner sees them as before. And the writes of
    a :meth:`batched` block — a trial's parameters, its record — go in one request, as they go
    in one append on the journal."""

    new_trial_user_attrs: dict[str, Any] = {}  # noqa: RUF012 - replaced per handle, never mutated

    def __init__(self, *, host: str, port: int) -> None:
        super().__init__(host=host, port=port)
        self._finished_reads: dict[tuple, tuple[float, list[optuna.trial.FrozenTrial]]] = {}
        self._pending: dict[int, dict[int, float]] = {}  # trial id → step → reported value
        self._batch: list[list[Any]] | None = None  # the writes of a batched block

    @contextlib.contextmanager
    def batched(self) -> Iterator[None]:
        """Send the parameter and attribute writes made inside in one request, on the way out
        (even on an error, as the journal's batch); nested blocks join the outermost."""
        if self._batch is not None:
            yield
            return
        self._batch = []
        try:
            yield
        finally:
            self._send_batch()
            self._batch = None

    def _send_batch(self) -> None:
        """Send the batch's writes so far; the block goes on gathering."""
        writes, self._batch = self._batch, []
        if writes:
            super().set_trial_user_attr(writes[0][1], WRITES_ATTR, writes)

    def set_trial_param(
        self, trial_id: int, param_name: str, param_value_internal: float, distribution: Any
    ) -> None:
        if self._batch is None:
            super().set_trial_param(trial_id, param_name, param_value_internal, distribution)
            return
        as_json = optuna.distributions.distribution_to_json(distribution)
        self._batch.append(["param", trial_id, param_name, param_value_internal, as_json])

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        if self._batch is None:
            super().set_trial_user_attr(trial_id, key, value)
            return
        self._batch.append(["user_attr", trial_id, key, value])

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        if self._batch is None:
            super().set_trial_system_attr(trial_id, key, value)
            return
        self._batch.append(["system_attr", trial_id, key, value])

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Any = None) -> bool:
        if self._batch:
            self._send_batch()  # the record before the state, as in the journal's append
        pending = self.pop_reports(trial_id)
        if pending:
            super().set_trial_user_attr(trial_id, CURVE_ATTR, [[s, v] for s, v in pending.items()])
        return super().set_trial_state_values(trial_id, state, values)

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[optuna.trial.FrozenTrial]:
        unfinished = (TrialState.RUNNING, TrialState.WAITING)
        if states is None or any(state in states for state in unfinished):
            trials = super().get_all_trials(study_id, deepcopy=deepcopy, states=states)
            return self._with_reports(trials, states)
        key = (study_id, tuple(sorted(state.value for state in states)))
        now = time.monotonic()
        read = self._finished_reads.get(key)
        if read is None or now - read[0] > FINISHED_READ_SECONDS:
            trials = super().get_all_trials(study_id, deepcopy=False, states=states)
            read = self._finished_reads[key] = (now, trials)
        return copy.deepcopy(read[1]) if deepcopy else list(read[1])

    def create_new_trial(
        self, study_id: int, template_trial: optuna.trial.FrozenTrial | None = None
    ) -> int:
        if template_trial is None and self.new_trial_user_attrs:
            template_trial = labelled_template(self.new_trial_user_attrs)
        return super().create_new_trial(study_id, template_trial)


def open_grpc_proxy(url: str) -> BaseStorage:
    """Optuna's client of a storage a driver serves (``grpc://host:port``)."""
    host, _, port = url.removeprefix(GRPC_SCHEME).rpartition(":")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        proxy = LabellingProxy(host=host, port=int(port))
    try:  # a first request: 2 ms, where the proxy's wait_server_ready polls for 0.2 s
        proxy.get_all_studies()
    except Exception as exc:  # gRPC's error: the driver is gone, or its port is closed
        raise ArgumentError(
            f"the study's driver at {url} does not answer: {exc}", argument="storage"
        ) from None
    return proxy
