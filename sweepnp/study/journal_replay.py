"""Opening a journal of thousands of trials: its first read folded, one operation per trial.

Optuna's journal storage rebuilds a study by replaying every operation of the file in order,
and each operation on a trial copies the trial (its parameters, attributes and intermediate
values) to change one thing: a sweepnp trial is nine operations (created, two parameters, the
sampler's note, two attributes, two reports, told), and replaying 2000 trials took 0.11 s of the
0.17 s it takes to open their journal (a resume that runs nothing, ``study show``).

:class:`FoldedStart` is the backend the storage replays from: its first read — the journal as it
stands when it is opened — comes back with the operations on each trial created in that read
folded into the operation that creates it, which Optuna's format allows to carry a whole trial
(parameters, attributes, reports, state, values, times: how ``enqueue_trial`` and ``add_trial``
write theirs). Later reads, of what other processes append meanwhile and of this process's own
writes, are the file's lines as they are.

The folded operations give the very same trials as the file's, number for number
(``tests/study/test_journal_replay.py`` replays real journals both ways): :func:`fold` applies
the rules Optuna's replay applies to a trial's operations — an operation on a trial that does
not exist or has finished is ignored, a trial that is running already is not started again,
trials are numbered in the order their creations apply (one whose study does not exist is
skipped). Where a rule it does not follow could apply — a parameter whose distribution differs
between two operations of one study (Optuna keeps the first compatible one), an operation it
does not know — it folds nothing and the storage replays the file's lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optuna.storages.journal import BaseJournalBackend

__all__ = ["FoldedStart", "fold"]

# Optuna's journal operation codes (``op_code``: part of the file format).
CREATE_STUDY, DELETE_STUDY, SET_STUDY_USER_ATTR, SET_STUDY_SYSTEM_ATTR = 0, 1, 2, 3
CREATE_TRIAL, SET_TRIAL_PARAM, SET_TRIAL_STATE_VALUES = 4, 5, 6
SET_TRIAL_INTERMEDIATE_VALUE, SET_TRIAL_USER_ATTR, SET_TRIAL_SYSTEM_ATTR = 7, 8, 9
DISCARD_TRIALS = 10
#: Optuna's trial states in the file: running, waiting, and the three finished ones.
RUNNING, WAITING, FINISHED = 0, 4, frozenset({1, 2, 3})
_STUDY_OPS = frozenset({SET_STUDY_USER_ATTR, SET_STUDY_SYSTEM_ATTR, DISCARD_TRIALS})
_TRIAL_OPS = frozenset(
    {
        SET_TRIAL_PARAM,
        SET_TRIAL_STATE_VALUES,
        SET_TRIAL_INTERMEDIATE_VALUE,
        SET_TRIAL_USER_ATTR,
        SET_TRIAL_SYSTEM_ATTR,
    }
)


class _CannotFold(Exception):
    """The journal holds something :func:`fold` does not reproduce: replay it as it is."""


def fold(logs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The operations ``logs`` (a journal from its first line, read by a process that wrote
    none of them) with each trial's operations folded into its creation; ``logs`` itself when
    it holds an operation this does not reproduce exactly."""
    try:
        return _fold(logs)
    except (_CannotFold, KeyError, TypeError, ValueError, AttributeError):
        return list(logs)


def _fold(logs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    folded: list[dict[str, Any]] = []
    names: dict[int, str] = {}  # the studies that exist: id → name
    next_study = 0
    created = 0  # trials created: the next trial's id
    open_trials: dict[int, dict[str, Any]] = {}  # unfinished trials: id → their creation
    distributions: dict[tuple[int, str], str] = {}  # (study, parameter) → its distribution
    study_of: dict[int, int] = {}
    for log in logs:
        op = log["op_code"]
        if op == CREATE_STUDY:
            if log["study_name"] not in names.values():
                names[next_study] = log["study_name"]
                next_study += 1
            folded.append(log)
        elif op == DELETE_STUDY:
            names.pop(log["study_id"], None)
            folded.append(log)
        elif op in _STUDY_OPS:
            folded.append(log)
        elif op == CREATE_TRIAL:
            folded.append(log)
            if log["study_id"] not in names:
                continue  # Optuna skips it: no id taken
            trial = _creation(log)
            for name, text in trial["distributions"].items():
                _same(distributions, (log["study_id"], name), text)
            study_of[created] = log["study_id"]
            if trial.get("state", RUNNING) not in FINISHED:
                open_trials[created] = trial
            folded[-1] = trial
            created += 1
        elif op in _TRIAL_OPS:
            trial = open_trials.get(log["trial_id"])
            if trial is None:
                continue  # not created (yet), or finished: Optuna ignores it
            _apply(trial, log, study_of, distributions)
            if trial.get("state", RUNNING) in FINISHED:
                del open_trials[log["trial_id"]]
        else:
            raise _CannotFold
    return folded


def _creation(log: dict[str, Any]) -> dict[str, Any]:
    """A trial's creation, with room for what later operations give it."""
    trial = dict(log)
    for key in ("params", "distributions", "user_attrs", "system_attrs"):
        trial[key] = dict(log.get(key) or {})
    trial["intermediate_values"] = {
        int(step): value for step, value in (log.get("intermediate_values") or {}).items()
    }
    if set(trial["params"]) != set(trial["distributions"]):
        raise _CannotFold
    return trial


def _same(distributions: dict[tuple[int, str], str], key: tuple[int, str], text: str) -> None:
    """Every operation of a study gives a parameter the same distribution (else Optuna's check
    of compatible distributions could drop one: leave that to Optuna)."""
    if distributions.setdefault(key, text) != text:
        raise _CannotFold


def _apply(
    trial: dict[str, Any],
    log: dict[str, Any],
    study_of: dict[int, int],
    distributions: dict[tuple[int, str], str],
) -> None:
    """One operation on an unfinished trial, as Optuna's replay applies it."""
    op = log["op_code"]
    if op == SET_TRIAL_PARAM:
        name = log["param_name"]
        _same(distributions, (study_of[log["trial_id"]], name), log["distribution"])
        trial["params"][name] = log["param_value_internal"]
        trial["distributions"][name] = log["distribution"]
    elif op == SET_TRIAL_STATE_VALUES:
        state = log["state"]
        if state == RUNNING and trial.get("state", RUNNING) == RUNNING:
            return  # started by another process already: Optuna rejects it
        if state == RUNNING:
            trial["datetime_start"] = log["datetime_start"]
        if state in FINISHED:
            trial["datetime_complete"] = log["datetime_complete"]
        trial["state"] = state
        if log["values"] is not None:
            trial["value"], trial["values"] = None, log["values"]
    elif op == SET_TRIAL_INTERMEDIATE_VALUE:
        trial["intermediate_values"][log["step"]] = log["intermediate_value"]
    elif op == SET_TRIAL_USER_ATTR:
        trial["user_attrs"].update(log["user_attr"])
    else:
        trial["system_attrs"].update(log["system_attr"])


class FoldedStart(BaseJournalBackend):
    """The backend a journal storage replays from: ``backend``, its first read folded
    (:func:`fold`). Optuna numbers the operations it has read; after the first read this
    numbers them as the file does, shifted by the operations the fold saved."""

    def __init__(self, backend: BaseJournalBackend) -> None:
        self.backend = backend
        self.shift: int | None = None

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        if self.shift is not None:
            return self.backend.read_logs(log_number_from + self.shift)
        logs = self.backend.read_logs(log_number_from)
        folded = fold(logs) if log_number_from == 0 else logs
        self.shift = len(logs) - len(folded)
        return folded

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self.backend.append_logs(logs)
