"""A journal's first read, folded one operation a trial (:mod:`sweepnp.study.journal_replay`),
gives the very same studies and trials as Optuna's own replay of the file, line by line — on
journals written by sweepnp and by Optuna, with retries, trials started twice, writes to
finished trials, several studies, a deleted one — and a journal is read from its start once
per process, whatever the command."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from sweepnp.study.journal import BufferedJournalStorage, JournalFile
from sweepnp.study.journal_replay import fold

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _same_replay(path: Path) -> BufferedJournalStorage:
    """Open ``path`` folded (sweepnp's storage) and line by line (Optuna's own file backend);
    check that every study and trial is the same; return the folded storage."""
    folded = BufferedJournalStorage(str(path))
    plain = JournalStorage(JournalFileBackend(str(path)))
    studies = folded.get_all_studies()
    described = [
        (s._study_id, s.study_name, s.directions, s.user_attrs, s.system_attrs) for s in studies
    ]
    assert described == [
        (s._study_id, s.study_name, s.directions, s.user_attrs, s.system_attrs)
        for s in plain.get_all_studies()
    ]
    for study in studies:
        ours = folded.get_all_trials(study._study_id, deepcopy=False)
        theirs = plain.get_all_trials(study._study_id, deepcopy=False)
        assert len(ours) == len(theirs)
        for mine, optunas in zip(ours, theirs, strict=True):
            assert mine == optunas  # every field: number, id, state, values, params, attrs …
    return folded


def _history(study: optuna.Study, rng: random.Random, steps: int) -> None:
    """Random changes, as workers make them: trials asked (a waiting retry first), parameters,
    reports, attributes, trials completed, pruned, failed, interrupted and queued again."""
    running: list[optuna.Trial] = []
    for _ in range(steps):
        move = rng.random()
        if move < 0.35 or not running:
            trial = study.ask()
            trial.suggest_float("x", 0, 1)
            trial.suggest_categorical("k", [16, 32])
            trial.set_user_attr("sweepnp_worker", f"host:{rng.randrange(3)}:1")
            running.append(trial)
            continue
        trial = running.pop(rng.randrange(len(running)))
        for step in range(rng.randrange(3)):
            trial.report(rng.random(), step)
        if move < 0.6:
            study.tell(trial, rng.random())
        elif move < 0.7:
            study.tell(trial, state=TrialState.PRUNED)
        elif move < 0.8:
            trial.set_user_attr("sweepnp_reason", "plugin")
            study.tell(trial, state=TrialState.FAIL)
        else:
            trial.set_user_attr("sweepnp_reason", "interrupted")
            study.tell(trial, state=TrialState.FAIL)
            study.enqueue_trial(trial.params, user_attrs={"sweepnp_retry_of": trial.number})


@pytest.mark.parametrize("seed", range(3))
def test_a_folded_replay_gives_the_trials_a_line_by_line_replay_gives(tmp_path, seed):
    path = tmp_path / "s.journal"
    storage = BufferedJournalStorage(str(path))
    rng = random.Random(seed)
    first = optuna.create_study(storage=storage, study_name="first", direction="maximize")
    second = optuna.create_study(storage=storage, study_name="second")
    first.set_user_attr("sweepnp_config", {"a": 1})
    _history(first, rng, 60)
    _history(second, rng, 20)  # interleaved studies: trial ids are the journal's, numbers not
    _history(first, rng, 40)
    optuna.delete_study(study_name="second", storage=storage)
    again = optuna.create_study(storage=storage, study_name="second")
    _history(again, rng, 10)
    logs = JournalFile(str(path)).read_logs(0)
    assert len(fold(logs)) < len(logs) / 2  # folded: far fewer operations to replay
    _same_replay(path)


def test_trials_another_process_started_or_ended_first_replay_as_optuna_replays_them(tmp_path):
    """Two processes' writes: a queued trial both started (two processes that read the file
    before either wrote: the later start is rejected), and writes to a trial the other one
    finished (ignored): in the file, and replayed the same way."""
    path = tmp_path / "s.journal"
    one, two = (BufferedJournalStorage(str(path)) for _ in range(2))
    study = optuna.create_study(storage=one, study_name="s")
    study.enqueue_trial({"x": 0.5})
    queued = study.get_trials(deepcopy=False)[0]
    assert one.set_trial_state_values(queued._trial_id, TrialState.RUNNING)
    started_too = {
        "op_code": 6,
        "worker_id": "another-process-1",
        "trial_id": queued._trial_id,
        "state": 0,
        "values": None,
        "datetime_start": "2001-01-01T00:00:00.000000+00:00",
    }
    JournalFile(str(path)).write([started_too])
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    study.tell(trial, 0.25)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):  # written, then refused
        two.set_trial_user_attr(trial._trial_id, "late", 1)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        two.set_trial_state_values(trial._trial_id, TrialState.COMPLETE, [0.75])
    lines = path.read_text().splitlines()
    assert sum('"late"' in line for line in lines) == 1  # the refused writes are in the file
    assert sum("2001-01-01T00:00:00" in line for line in lines) == 1
    folded = _same_replay(path)
    replayed = folded.get_all_trials(study._study_id)
    assert replayed[0].state == TrialState.RUNNING and replayed[0].datetime_start.year != 2001
    assert replayed[1].value == 0.25 and "late" not in replayed[1].user_attrs


def test_a_journal_fold_cannot_reproduce_is_replayed_line_by_line(tmp_path):
    """Two distributions of one parameter (Optuna keeps a trial's only where compatible with
    the first trial's): nothing is folded, and the replay is Optuna's."""
    path = tmp_path / "s.journal"
    study = optuna.create_study(storage=BufferedJournalStorage(str(path)))
    for high in (1.0, 2.0):
        trial = study.ask()
        trial.suggest_float("x", 0, high)
        study.tell(trial, high)
    logs = JournalFile(str(path)).read_logs(0)
    assert fold(logs) == logs
    _same_replay(path)


def test_what_is_appended_after_the_folded_start_is_read_in_turn(tmp_path):
    """The log numbers Optuna counts after a folded start still find the file's next lines:
    trials another handle adds later (and this handle's own) are seen, once each."""
    path = tmp_path / "s.journal"
    writer = optuna.create_study(storage=BufferedJournalStorage(str(path)), study_name="s")
    for value in range(5):
        writer.tell(writer.ask({"x": optuna.distributions.FloatDistribution(0, 1)}), value)
    reader = optuna.load_study(study_name="s", storage=BufferedJournalStorage(str(path)))
    assert len(reader.get_trials()) == 5
    for value in range(5, 8):
        writer.tell(writer.ask(), value)
    reader.tell(reader.ask(), 8)
    assert [t.value for t in reader.get_trials()] == list(range(9))
    assert [t.value for t in writer.get_trials()] == list(range(9))
    _same_replay(path)


def test_a_sweepnp_study_replays_folded_as_optuna_replays_it(tmp_path, study_file):
    from sweepnp.study.worker import run_study

    path = tmp_path / "s.journal"
    run_study(study_file, storage=str(path), n_trials=4, stack=2)
    run_study(study_file, storage=str(path), n_trials=6, stack=1)  # resumed
    folded = _same_replay(path)
    lines = len(path.read_text().splitlines())
    assert folded._backend.shift > lines / 2  # the trials' operations were folded


#: ``sweepnp ARGS`` in a fresh process, counting the bytes of the journal it reads.
COUNTING = """
import os, sys
import sweepnp.study.journal as journal

read = journal.JournalFile._read_bytes
total = []

def counted(self, offset, end):
    total.append(end - offset)
    return read(self, offset, end)

journal.JournalFile._read_bytes = counted
from sweepnp.cli.app import main
try:
    main(sys.argv[2:], standalone_mode=False)
finally:
    print("READ", sum(total), "OF", os.path.getsize(sys.argv[1]), file=sys.stderr)
"""


def _times_read(journal: str, *args: str, cwd: Path) -> float:
    """How many times ``sweepnp ARGS`` read the journal in its process: bytes read over the
    journal's size at the end (1.0: every byte once)."""
    done = subprocess.run(
        [sys.executable, "-c", COUNTING, journal, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    read, _, size = done.stderr.rsplit("READ ", 1)[1].split()[:3]
    return int(read) / int(size)


@pytest.mark.slow  # real processes
def test_each_command_reads_the_journal_once(tmp_path, study_file):
    journal = str(tmp_path / "s.journal")
    run = ["study", "run", str(study_file), "--storage", journal, "--n-trials"]
    assert _times_read(journal, *run, "3", cwd=tmp_path) == 1  # what it wrote, read back
    assert _times_read(journal, *run, "5", cwd=tmp_path) == 1  # resumed, two more trained
    assert _times_read(journal, *run, "5", "--quiet", cwd=tmp_path) == 1  # nothing to run
    # (a forked worker opens the journal in its own process; the parent may meet a line it
    # is still writing, and read those bytes again when the line is whole)
    assert _times_read(journal, *run, "7", "--jobs", "2", cwd=tmp_path) < 1.5
    for command in (["show", "small"], ["list"], ["best", "small"], ["export", "small"]):
        storage = ["--storage", journal]
        assert _times_read(journal, "study", *command, *storage, cwd=tmp_path) == 1
