"""A trial's record: every key sweepnp stores with a trial or a study, written and read here alone.

Optuna keeps a trial's parameters, state, value(s) and intermediate values (the pruning reports,
and once the trial ends the study metric's mean curve over repeats, :meth:`TrialRecord.mean_curve`).
Everything else sweepnp knows about a trial lives in its user attributes, under these keys:

============================  ==================================================================
``sweepnp``                   the :class:`TrialRecord`: stop reason, seeds, epochs and final
                              metrics of each repeat, seconds, the learning curves (compressed)
``stop_reason``               the record's stop reason again, on its own, for Optuna's tools
                              (optuna-dashboard lists user attributes; the record is one blob)
``sweepnp_reason``            why a failed trial failed (also ``interrupted``, ``stale``)
``sweepnp_worker``            ``host:pid:start-time`` of the process that runs the trial
``sweepnp_retry_of``          a retry: the number of the trial whose configuration it runs again
``sweepnp_attempt``           a retry: how many times that configuration has been retried
``sweepnp_grid_point``        a system attribute: the grid point a trial of the grid sampler
                              claimed when it was asked (:mod:`sweepnp.study.grid`)
============================  ==================================================================

and a study's: ``sweepnp_config`` (the study file), ``sweepnp_fingerprint`` (what may not
change between runs of the same study) and ``sweepnp_seeds`` (the seed scheme it trains with,
``paired`` or ``per_config``; a study without it predates the key and used ``per_config``).
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from optuna.trial import FrozenTrial, TrialState

from sweepnp.vocabulary import StopReason

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CONFIG_ATTR",
    "DRIVER_ATTR",
    "FINGERPRINT_ATTR",
    "GRID_POINT_ATTR",
    "MAX_RETRY",
    "REASON_ATTR",
    "RECORD_ATTR",
    "RETRY_ATTR",
    "SEEDS_ATTR",
    "STOP_REASON_ATTR",
    "WORKER_ATTR",
    "Failures",
    "TrialRecord",
    "counts_toward_budget",
    "failures",
    "retried_numbers",
    "retry_attrs",
]

RECORD_ATTR = "sweepnp"
STOP_REASON_ATTR = "stop_reason"
REASON_ATTR = "sweepnp_reason"
WORKER_ATTR = "sweepnp_worker"
#: A trial trained on a Dask cluster: the identity of the ``study run --cluster`` process that
#: drives it (its loops reach a journal only through that process).
DRIVER_ATTR = "sweepnp_driver"
RETRY_ATTR = "sweepnp_retry_of"
ATTEMPT_ATTR = "sweepnp_attempt"
GRID_POINT_ATTR = "sweepnp_grid_point"
CONFIG_ATTR = "sweepnp_config"
FINGERPRINT_ATTR = "sweepnp_fingerprint"
SEEDS_ATTR = "sweepnp_seeds"

#: Trials that did not really finish: their configuration is queued again, and they do not count
#: towards ``n_trials`` (the retry does).
RETRIED_REASONS = (StopReason.INTERRUPTED, StopReason.STALE)
#: A configuration whose trial did not finish is run again at most this many times.
MAX_RETRY = 2


@dataclass
class TrialRecord:
    """What sweepnp knows about a trial beyond what Optuna keeps.

    :ivar stop_reason: ``completed``, ``early_stopped``, ``pruned``, ``diverged``, ``failed``,
        ``interrupted``, ``stale``, a plugin's own reason; ``running`` or ``waiting`` for a trial
        that has not ended.
    :ivar seeds: the training seed of each repeat that ran.
    :ivar epochs: epochs trained, per repeat.
    :ivar final: the final metrics of each repeat (``train_seconds`` and ``epochs`` included).
    :ivar seconds: wall time of all repeats.
    :ivar rows: the learning curves: one dict per evaluated epoch and repeat (with ``repeat``).
    :ivar reason: why a failed trial failed.
    """

    stop_reason: str
    seeds: list[int] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    final: list[dict[str, float]] = field(default_factory=list)
    seconds: float | None = None
    rows: list[dict[str, Any]] | None = None
    reason: str | None = None
    _encoded_rows: str | None = field(default=None, repr=False)

    # -- writing -----------------------------------------------------------------------------

    def attrs(self) -> dict[str, Any]:
        """The user attributes that store this record (its reason too, for a failed trial)."""
        record: dict[str, Any] = {"stop_reason": self.stop_reason}
        if self.seeds:
            record["seeds"] = self.seeds
        if self.epochs:
            record["epochs"] = self.epochs
        if self.final:
            record["final"] = self.final
        if self.seconds is not None:
            record["seconds"] = self.seconds
        if self.reason is not None:
            record["reason"] = self.reason
        if self.rows:
            record["history"] = _encode_rows(self.rows)
        attrs: dict[str, Any] = {RECORD_ATTR: record, STOP_REASON_ATTR: self.stop_reason}
        if self.reason is not None:
            attrs[REASON_ATTR] = self.reason
        return attrs

    def mean_curve(self, metric: str) -> dict[int, float]:
        """Per evaluated epoch, the mean of ``metric`` over the repeats that evaluated it — the
        line the report draws for a configuration of one trial — without the epochs where it is
        not finite (a diverged run). Stored as the trial's intermediate values, so that
        optuna-dashboard's curves are the report's."""
        values: dict[int, list[float]] = {}
        for row in self.rows or ():
            value = row.get(metric)
            if value is not None and not math.isnan(value):  # NaN is skipped, as pandas does
                values.setdefault(int(row["epoch"]), []).append(float(value))
        means = {epoch: sum(v) / len(v) for epoch, v in sorted(values.items())}
        return {epoch: mean for epoch, mean in means.items() if math.isfinite(mean)}

    # -- reading -----------------------------------------------------------------------------

    @classmethod
    def of(cls, trial: FrozenTrial, retried: Iterable[int] = ()) -> TrialRecord:
        """The record of a stored trial, also of one written by an older sweepnp.

        :param retried: numbers of the trials that were queued again (:func:`retried_numbers`):
            a failed one without a record was failed by Optuna's heartbeat, ``stale``.
        """
        stored: Mapping[str, Any] = trial.user_attrs.get(RECORD_ATTR) or {}
        reason = trial.user_attrs.get(REASON_ATTR, stored.get("reason"))
        stop_reason = stored.get("stop_reason")
        if stop_reason is None:
            if trial.state in (TrialState.RUNNING, TrialState.WAITING):
                stop_reason = trial.state.name.lower()
            elif reason in RETRIED_REASONS:
                stop_reason = reason
            elif trial.state == TrialState.FAIL and trial.number in _as_set(retried):
                stop_reason = reason = StopReason.STALE  # failed by Optuna's heartbeat: no record
            elif trial.state == TrialState.FAIL:
                stop_reason = StopReason.FAILED
        return cls(
            stop_reason=stop_reason,
            seeds=list(stored.get("seeds", [])),
            epochs=list(stored.get("epochs", [])),
            final=list(stored.get("final", [])),
            seconds=stored.get("seconds"),
            reason=reason,
            _encoded_rows=stored.get("history"),
        )

    @property
    def has_curves(self) -> bool:
        return bool(self.rows) or self._encoded_rows is not None

    def curves(self) -> pd.DataFrame | None:
        """The learning curves, wide: ``repeat``, ``epoch`` and a column per metric."""
        import pandas as pd

        if self.rows:
            return pd.DataFrame(self.rows)
        columns = self.stored_columns()
        return None if columns is None else pd.DataFrame(columns)

    def stored_columns(self) -> dict[str, list[Any]] | None:
        """The learning curves as stored: column → its values, one per evaluated epoch and
        repeat (``repeat``, ``epoch``, each metric); ``None`` for a record that has none stored.
        The results tables gather every trial's into one table, column by column."""
        if self._encoded_rows is None:
            return None
        return json.loads(zlib.decompress(base64.b64decode(self._encoded_rows)))


def _as_set(numbers: Iterable[int]) -> set[int] | frozenset[int]:
    return numbers if isinstance(numbers, set | frozenset) else set(numbers)


def _encode_rows(rows: list[dict[str, Any]]) -> str:
    """Learning curves as compressed, base64, columnar JSON: one write, whatever the epochs."""
    columns: dict[str, list[Any]] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key, [])
    for key, values in columns.items():
        values.extend(row.get(key) for row in rows)
    payload = json.dumps(columns, separators=(",", ":"))
    return base64.b64encode(zlib.compress(payload.encode(), 6)).decode()


# -------------------------------------------------------------------------
# Retries and the budget
# -------------------------------------------------------------------------


def retried_numbers(trials: Iterable[FrozenTrial]) -> set[int]:
    """Numbers of the trials whose configuration was queued again (by sweepnp, or by Optuna's
    own retry callback)."""
    numbers = set()
    for trial in trials:
        if RETRY_ATTR in trial.user_attrs:
            numbers.add(trial.user_attrs[RETRY_ATTR])
        if "failed_trial" in trial.system_attrs:
            numbers.add(trial.system_attrs["failed_trial"])
    return numbers


def retry_attrs(trial: FrozenTrial) -> dict[str, Any] | None:
    """The user attributes of a retry of ``trial``; ``None`` when it has no configuration or
    has been retried :data:`MAX_RETRY` times already."""
    if not trial.params:
        return None
    attempt = int(trial.user_attrs.get(ATTEMPT_ATTR, 0)) + 1
    if attempt > MAX_RETRY:
        return None
    return {RETRY_ATTR: trial.user_attrs.get(RETRY_ATTR, trial.number), ATTEMPT_ATTR: attempt}


def counts_toward_budget(trial: FrozenTrial, retried: set[int]) -> bool:
    """Whether a trial counts against ``n_trials``: finished or running, except one that did
    not really finish and whose configuration was queued again."""
    if trial.state == TrialState.WAITING:
        return False
    if trial.state == TrialState.FAIL:
        retried_one = trial.number in retried
        return not (
            retried_one
            or trial.user_attrs.get(REASON_ATTR) in RETRIED_REASONS
            or _died_before_training(trial)
        )
    return True


def _died_before_training(trial: FrozenTrial) -> bool:
    """A trial failed from outside (by Optuna's heartbeat: no reason of sweepnp's) before it had
    its parameters: it trained nothing and nothing was queued in its place."""
    return not trial.params and REASON_ATTR not in trial.user_attrs


@dataclass(frozen=True)
class Failures:
    """How a study's trials failed (:func:`failures`).

    :ivar trials: the finished trials that count towards ``n_trials`` (retried ones left out).
    :ivar failed: how many of them failed (a plugin's exception, an invalid run, divergence).
    :ivar reason: the most common failure reason (of equal counts, the earliest trial's); the
        stop reason for a failure without one (``diverged``).
    :ivar hits: how many failed trials have that reason.
    """

    trials: int
    failed: int
    reason: str | None
    hits: int

    @property
    def all_failed(self) -> bool:
        """Every finished trial failed (and there is one)."""
        return self.failed > 0 and self.failed == self.trials


def failures(trials: Iterable[FrozenTrial]) -> Failures:
    """Count a study's failed trials and their most common reason."""
    trials = list(trials)
    retried = retried_numbers(trials)
    counted = [t for t in trials if t.state.is_finished() and counts_toward_budget(t, retried)]
    reasons: dict[str, int] = {}
    for trial in sorted(counted, key=lambda t: t.number):
        if trial.state == TrialState.FAIL:
            record = TrialRecord.of(trial, retried)
            reason = record.reason or record.stop_reason or StopReason.FAILED
            reasons[reason] = reasons.get(reason, 0) + 1
    failed = sum(reasons.values())
    if not reasons:
        return Failures(len(counted), 0, None, 0)
    reason = max(reasons, key=lambda r: reasons[r])  # the first of the most common
    return Failures(len(counted), failed, reason, reasons[reason])
