"""sweepnp's journal storage: fewer appends (each is a lock and an fsync), the same study."""

from __future__ import annotations

import time

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from sweepnp.errors import ConfigError
from sweepnp.study.journal import JournalFile
from sweepnp.study.storage import (
    BufferedJournalStorage,
    batched,
    heartbeat_settings,
    label_new_trials,
    recover_stale_trials,
)


class CountingFileBackend(JournalFile):
    """sweepnp's journal file, counting its appends and the times it opens the file to read."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.appends = 0
        self.reads = 0

    def _read_bytes(self, offset, end):
        self.reads += 1
        return super()._read_bytes(offset, end)

    def write(self, logs):
        self.appends += 1
        super().write(logs)


def test_a_trial_costs_one_append_for_its_params_and_one_for_its_end(tmp_path):
    path = str(tmp_path / "s.journal")
    backend = CountingFileBackend(path)
    storage = BufferedJournalStorage(path, backend)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    trial = study.ask()
    before = backend.appends
    with batched(storage):
        x = trial.suggest_float("x", 0, 1)
        y = trial.suggest_int("y", 0, 9)
        z = trial.suggest_categorical("z", ["a", "b"])
    assert backend.appends == before + 1
    for step in range(5):
        trial.report(x * step, step)
        assert not trial.should_prune()
    assert backend.appends == before + 1  # reports wait for the end of the trial
    with batched(storage):
        storage.set_trial_user_attr(trial._trial_id, "record", {"epochs": 5})
        study.tell(trial, x + y)
    assert backend.appends == before + 2

    # another process sees all of it, with Optuna alone
    (stored,) = optuna.load_study(
        study_name="s", storage=JournalStorage(JournalFileBackend(path))
    ).get_trials()
    assert stored.state == TrialState.COMPLETE
    assert stored.params == {"x": x, "y": y, "z": z}
    assert stored.intermediate_values == {step: x * step for step in range(5)}
    assert stored.user_attrs == {"record": {"epochs": 5}}
    assert stored.value == x + y


def test_a_batch_is_written_even_when_the_block_raises(tmp_path):
    path = str(tmp_path / "s.journal")
    storage = BufferedJournalStorage(path)
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    try:
        with batched(storage):
            trial.suggest_float("x", 0, 1)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    study.tell(trial, state=TrialState.FAIL)
    (stored,) = optuna.load_study(
        study_name="s", storage=JournalStorage(JournalFileBackend(path))
    ).get_trials()
    assert set(stored.params) == {"x"} and stored.state == TrialState.FAIL


def test_other_storages_are_not_batched(tmp_path):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 's.db'}")
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    with batched(storage):
        trial.suggest_float("x", 0, 1)
        # written at once: a fresh handle sees it inside the block
        fresh = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 's.db'}")
        assert set(fresh.get_trials()[0].params) == {"x"}


def test_another_handle_sees_every_change_and_does_not_reread_an_unchanged_file(tmp_path):
    path = str(tmp_path / "s.journal")
    writer = optuna.create_study(study_name="s", storage=BufferedJournalStorage(path))
    backend = CountingFileBackend(path)
    reader = optuna.load_study(study_name="s", storage=BufferedJournalStorage(path, backend))
    for value in range(3):
        trial = writer.ask()
        writer.tell(trial, float(value))
        assert [t.value for t in reader.get_trials()] == [float(v) for v in range(value + 1)]
    reads = backend.reads
    for _ in range(5):  # nothing new: the file is not opened again
        assert len(reader.get_trials()) == 3
    assert backend.reads == reads
    writer.tell(writer.ask(), 3.0)
    assert len(reader.get_trials()) == 4
    assert backend.reads == reads + 1


def test_new_trials_carry_their_label_from_the_append_that_creates_them(tmp_path):
    path = str(tmp_path / "s.journal")
    backend = CountingFileBackend(path)
    storage = BufferedJournalStorage(path, backend)
    study = optuna.create_study(study_name="s", storage=storage)
    label_new_trials(storage, {"sweepnp_worker": "host:1:2"})
    before = backend.appends
    trial = study.ask()
    assert backend.appends == before + 1
    assert trial.user_attrs == {"sweepnp_worker": "host:1:2"}
    assert trial.datetime_start is not None
    study.tell(trial, 1.0)
    (stored,) = optuna.load_study(
        study_name="s", storage=JournalStorage(JournalFileBackend(path))
    ).get_trials()
    assert stored.user_attrs == {"sweepnp_worker": "host:1:2"}
    assert stored.number == 0 and stored.state == TrialState.COMPLETE


@pytest.mark.slow  # the shortest grace period is two seconds: it waits 2.2 s
def test_a_trial_left_unlabelled_is_stale_after_the_grace_period(tmp_path, monkeypatch):
    """A worker that dies between creating a trial and labelling it leaves a running trial
    nobody can judge by its process; once older than the grace period it is recovered."""
    monkeypatch.setenv("SWEEPNP_HEARTBEAT_INTERVAL", "1")
    monkeypatch.setenv("SWEEPNP_HEARTBEAT_GRACE", "2")
    study = optuna.create_study(storage=BufferedJournalStorage(str(tmp_path / "s.journal")))
    old = study.ask()
    old.suggest_float("x", 0, 1)
    time.sleep(2.2)
    young = study.ask()
    young.suggest_float("x", 0, 1)
    assert recover_stale_trials(study) == [old.number]
    trials = study.get_trials()
    assert trials[old.number].state == TrialState.FAIL
    assert trials[old.number].user_attrs["sweepnp_reason"] == "stale"
    assert trials[young.number].state == TrialState.RUNNING
    (retry,) = [t for t in trials if t.state == TrialState.WAITING]
    assert retry.system_attrs["fixed_params"] == old.params


@pytest.mark.parametrize(
    ("interval", "grace", "words"),
    [("0", "", "SWEEPNP_HEARTBEAT_INTERVAL: must be a whole number"),
     ("", "soon", "SWEEPNP_HEARTBEAT_GRACE: must be a whole number"),
     ("30", "20", "must be longer than the heartbeat interval")],
)  # fmt: skip
def test_heartbeat_settings_from_the_environment_are_checked(monkeypatch, interval, grace, words):
    monkeypatch.setenv("SWEEPNP_HEARTBEAT_INTERVAL", interval)
    monkeypatch.setenv("SWEEPNP_HEARTBEAT_GRACE", grace)
    with pytest.raises(ConfigError, match=words):
        heartbeat_settings()
