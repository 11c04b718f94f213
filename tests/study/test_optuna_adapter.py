"""Pins the Optuna behaviour behind each private attribute :mod:`sweepnp.study.optuna_adapter` uses.

If an Optuna release changes one of them, a test here fails and names it.
"""

from __future__ import annotations

import time
import warnings

import optuna
import pytest
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState

from sweepnp.study.journal import BufferedJournalStorage
from sweepnp.study.optuna_adapter import (
    FinishedTrialsCache,
    heartbeat_thread,
    set_intermediate_values,
    storage_of,
    trial_id,
)
from sweepnp.study.storage import open_storage, recover_stale_trials


def test_storage_of_is_the_storage_the_study_reads_and_writes(tmp_path):
    journal = BufferedJournalStorage(str(tmp_path / "s.journal"))
    study = optuna.create_study(study_name="s", storage=journal)
    assert storage_of(study) is journal
    trial = study.ask()
    storage_of(study).set_trial_user_attr(trial_id(trial), "written", "through the storage")
    assert study.get_trials()[0].user_attrs == {"written": "through the storage"}


def test_load_study_wraps_an_rdb_storage_so_its_type_must_not_be_tested(tmp_path):
    """The bug this adapter's docstring warns of: recovery that tested isinstance(RDBStorage)
    never ran, because load_study hands back Optuna's caching wrapper."""
    rdb = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 's.db'}")
    optuna.create_study(study_name="s", storage=rdb)
    study = optuna.load_study(study_name="s", storage=rdb)
    assert storage_of(study) is not rdb
    assert not isinstance(storage_of(study), optuna.storages.RDBStorage)


def test_trial_id_addresses_the_same_trial_as_its_number(tmp_path):
    study = optuna.create_study(storage=BufferedJournalStorage(str(tmp_path / "s.journal")))
    for _ in range(3):
        study.tell(study.ask(), 1.0)
    running = study.ask()
    assert storage_of(study).get_trial(trial_id(running)).number == running.number
    for frozen in study.get_trials():
        assert storage_of(study).get_trial(trial_id(frozen)).number == frozen.number


@pytest.mark.slow  # heartbeats are whole seconds apart: it waits 3.7 s
@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_the_heartbeat_thread_beats_and_a_silent_trial_is_failed_and_retried(tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEPNP_HEARTBEAT_INTERVAL", "1")
    monkeypatch.setenv("SWEEPNP_HEARTBEAT_GRACE", "2")
    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(study_name="s", storage=open_storage(url))
    study = optuna.load_study(study_name="s", storage=open_storage(url))  # wrapped, as in use

    trials = {}
    for name in ("beating", "silent"):
        trials[name] = study.ask()
        trials[name].set_user_attr("sweepnp_worker", "elsewhere:1:1")  # another machine's
        trials[name].suggest_float("x", 0, 1)
    beating, silent = trials["beating"], trials["silent"]
    with heartbeat_thread(study, beating):
        with heartbeat_thread(study, silent):
            time.sleep(0.2)  # one beat each, then the silent trial's worker "dies"
        time.sleep(3.5)  # past the grace period; the beating trial keeps beating
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # Optuna's experimental-feature warning is handled
            recovered = recover_stale_trials(study)
    assert recovered == [silent.number]
    trials = study.get_trials()
    assert trials[silent.number].state == TrialState.FAIL
    assert trials[beating.number].state == TrialState.RUNNING
    (retry,) = [t for t in trials if t.state == TrialState.WAITING]
    assert retry.user_attrs["sweepnp_retry_of"] == silent.number
    assert retry.system_attrs["fixed_params"] == silent.params


def test_no_heartbeat_on_a_journal(tmp_path):
    study = optuna.create_study(storage=BufferedJournalStorage(str(tmp_path / "s.journal")))
    trial = study.ask()
    with heartbeat_thread(study, trial):  # a no-op, and no error
        pass
    assert study.get_trials()[0].state == TrialState.RUNNING


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_set_intermediate_values_overwrites_reported_steps_and_adds_new_ones(tmp_path, kind):
    url = str(tmp_path / "s.journal") if kind == "journal" else f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(study_name="s", storage=open_storage(url))
    study = optuna.load_study(study_name="s", storage=open_storage(url))  # wrapped, as in use
    trial = study.ask()
    trial.report(1.0, step=2)  # as the pruning callback does
    set_intermediate_values(study, trial, {0: 0.5, 1: 0.25, 2: 0.75})
    study.tell(trial, 0.75)
    stored = optuna.load_study(study_name="s", storage=open_storage(url)).trials[0]
    assert stored.intermediate_values == {0: 0.5, 1: 0.25, 2: 0.75}


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_set_intermediate_values_is_one_transaction_of_a_few_statements_on_an_rdb_storage(
    tmp_path,
):
    """Not three statements a step: a trial of 300 epochs took 0.9 s so on PostgreSQL."""
    import sqlalchemy

    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(study_name="s", storage=open_storage(url))
    study = optuna.load_study(study_name="s", storage=open_storage(url))
    trial = study.ask()
    engine = storage_of(study)._backend.engine  # the RDBStorage behind Optuna's cache
    commits = []
    statements = []
    sqlalchemy.event.listen(engine, "commit", lambda connection: commits.append(connection))
    sqlalchemy.event.listen(
        engine, "before_cursor_execute", lambda *args: statements.append(args[2])
    )
    trial.report(9.0, step=3)  # as the pruning callback does: overwritten below
    statements.clear()
    commits.clear()
    set_intermediate_values(study, trial, {step: step / 10 for step in range(50)})
    assert len(commits) == 1
    assert len(statements) <= 6, statements
    assert study.trials[0].intermediate_values == {step: step / 10 for step in range(50)}


def _rdb_study(tmp_path, name: str = "s") -> tuple[optuna.Study, optuna.Study]:
    """Two handles on one SQLite study: a worker's (through FinishedTrialsCache) and another
    process's (plain Optuna)."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    other = optuna.create_study(study_name=name, storage=url)
    worker = optuna.load_study(study_name=name, storage=FinishedTrialsCache(RDBStorage(url)))
    return worker, other


def test_the_cache_answers_a_pruners_question_as_optuna_does(tmp_path):
    worker, other = _rdb_study(tmp_path)
    mine = worker.ask()
    worker.get_trials()  # Optuna's full read: the worker's cache knows trial 0 runs
    theirs = [other.ask() for _ in range(3)]
    other.tell(theirs[1], 0.5)
    mine.report(0.25, step=0)
    worker.tell(mine, 0.75)
    for states in [(TrialState.COMPLETE,), (TrialState.COMPLETE, TrialState.PRUNED), None]:
        assert [(t.number, t.state, t.value) for t in worker.get_trials(states=states)] == [
            (t.number, t.state, t.value) for t in other.get_trials(states=states)
        ]
    other.tell(theirs[0], 0.1)  # finished after the worker's last full read
    other.tell(theirs[2], state=TrialState.PRUNED)
    completed = worker.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert [t.number for t in completed] == [0, 1, 2]
    assert [t.number for t in worker.get_trials(deepcopy=False)] == [0, 1, 2, 3]


def test_a_pruners_question_does_not_reread_running_trials(tmp_path):
    worker, other = _rdb_study(tmp_path)
    running = [worker.ask() for _ in range(3)]
    for step in range(50):  # a stack of three trials, fifty epochs each
        for trial in running:
            trial.report(float(step), step=step)
    worker.get_trials()
    backend = storage_of(worker)._backend
    loaded: list[FrozenTrial] = []
    read = backend._get_trials

    def counting(*args, **kwargs):
        trials = read(*args, **kwargs)
        loaded.extend(trials)
        return trials

    backend._get_trials = counting
    other.tell(other.ask(), 1.0)  # one trial finishes elsewhere
    for _ in running:  # each running trial asks whether to stop, as a pruner does
        worker.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert [t.number for t in loaded] == [3]  # the finished one, once; no running trial
    assert sum(len(t.intermediate_values) for t in loaded) == 0
    new = other.ask()  # and Optuna's next full read still finds a trial started meanwhile
    assert new.number in [t.number for t in worker.get_trials(deepcopy=False)]
