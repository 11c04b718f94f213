"""Many workers on one study: storage traffic that does not grow with epochs (a stacked worker
reads the study and asks for trials per trial, and per heartbeat interval once the budget is
spent, never per epoch), and a fair share of the trials for each worker of ``--jobs``.

The storage is the real journal, with its reads and appends counted on the opened instance."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest

import sweepnp.results
from sweepnp.study import storage as storages
from sweepnp.study.budget import fair_share
from sweepnp.study.record import WORKER_ATTR
from sweepnp.study.worker import run_study

#: The storage opener itself (each run's counting wraps this one, not an earlier wrapper).
OPEN_STORAGE = storages.open_storage

GRID = """
[data]
dataset = "breast_cancer"
seed = 0
[model]
task = "binary"
hidden = [4]
[train]
batch_size = 64
[optimizer]
name = "sgd"
lr = 0.1
[study]
name = "grid"
metric = "val_accuracy"
sampler = "grid"
pruner = "none"
n_trials = 3
[study.params]
"optimizer.lr" = { choices = [0.01, 0.1, 0.5] }
"""


def _traffic(tmp_path, monkeypatch, epochs: int) -> dict[str, int]:
    """Run the grid study of ``epochs`` epochs, stacked, counting the storage's whole-study
    reads and its journal appends."""
    counts = {"reads of every trial": 0, "appends to the file": 0}
    opened = OPEN_STORAGE

    def counting(url: str | None, **kwargs: Any):
        storage = opened(url, **kwargs)
        read, write = storage.get_all_trials, storage.journal.write

        def get_all_trials(*args: Any, **kw: Any):
            counts["reads of every trial"] += 1
            return read(*args, **kw)

        def write_to_file(logs: list[dict[str, Any]]) -> None:  # one lock, write and fsync
            counts["appends to the file"] += 1
            write(logs)

        storage.get_all_trials = get_all_trials
        storage.journal.write = write_to_file
        return storage

    monkeypatch.setattr(storages, "open_storage", counting)
    raw = copy.deepcopy(tomllib.loads(GRID))
    raw["train"]["epochs"] = epochs
    raw["study"]["name"] = f"grid{epochs}"
    run_study(raw, storage=str(tmp_path / f"{epochs}.journal"), stack=16)
    return counts


@pytest.mark.parametrize("longer", [60])
def test_a_stacked_study_reads_and_writes_as_much_for_60_epochs_as_for_10(
    tmp_path, monkeypatch, longer
):
    short = _traffic(tmp_path, monkeypatch, 10)
    long = _traffic(tmp_path, monkeypatch, longer)
    assert long == short, f"10 epochs: {short}; {longer} epochs: {long}"
    # per trial, not per epoch (44 and 194 reads before, for 10 and 60 epochs)
    assert short["reads of every trial"] <= 3 * 6, short


def test_a_fair_share_is_the_ceiling_of_what_is_left_over_the_workers():
    assert fair_share(6, 0, 2) == 3
    assert fair_share(9, 0, 3) == 3
    assert fair_share(10, 0, 3) == 4
    assert fair_share(10, 8, 3) == 1
    assert fair_share(10, 10, 3) == 1  # a worker may always hold one (a retried trial)


@pytest.mark.slow
def test_with_jobs_2_each_worker_trains_half_of_a_six_trial_grid(tmp_path, cli):
    """The parent no longer asks every trial into its own stack: each of the two processes
    trains 3 of the 6 (grid sampling fills a stack at once)."""
    text = GRID.replace("n_trials = 3", "n_trials = 6").replace(
        "choices = [0.01, 0.1, 0.5]", "choices = [0.01, 0.05, 0.1, 0.2, 0.5, 1.0]"
    )
    assert "n_trials = 6" in text and "1.0]" in text
    path = tmp_path / "grid6.toml"
    path.write_text(text)
    journal = str(tmp_path / "grid6.journal")
    done = cli("study", "run", str(path), "--storage", journal, "--jobs", "2", "--stack", "16")
    assert done.returncode == 0, done.stderr
    trials = sweepnp.results.load("grid", journal).study.get_trials()
    workers = [t.user_attrs[WORKER_ATTR] for t in trials]
    assert len(trials) == 6
    assert sorted(workers.count(w) for w in set(workers)) == [3, 3], workers


def test_the_registry_counts_the_workers_that_beat_within_the_grace(tmp_path):
    """Workers register in the study (a system attribute each) and beat at most once an
    interval; one that left, or whose last beat is older than the grace, no longer counts."""
    import time

    import optuna

    from sweepnp.study.optuna_adapter import storage_of
    from sweepnp.study.registry import ATTR_PREFIX, WorkerRegistry

    storage = storages.open_storage(str(tmp_path / "r.journal"))
    study = optuna.create_study(study_name="r", storage=storage)
    first, second, third = (
        WorkerRegistry(study, identity, interval=30, grace=120)
        for identity in ("m1:1:1", "m2:2:2", "m3:3:3")
    )
    assert first.live() == 1  # itself, registered or not
    first.beat()
    second.beat()
    assert first.live() == 2 and second.live() == 2
    attrs = storage.get_study_system_attrs(first.study_id)
    beaten = attrs[ATTR_PREFIX + "m1:1:1"]
    first.beat()  # within the interval: no write
    assert storage.get_study_system_attrs(first.study_id)[ATTR_PREFIX + "m1:1:1"] == beaten
    third.beat()
    assert first.live() == 3
    second.leave()
    assert first.live() == 2
    # a worker whose last beat is older than the grace (its machine died) is gone
    storage_of(study).set_study_system_attr(
        first.study_id, ATTR_PREFIX + "m3:3:3", time.time() - 121
    )
    assert first.live() == 1


def _rdb_traffic(tmp_path, monkeypatch, epochs: int) -> dict[str, int]:
    """Run the 3-point grid stacked on SQLite with a median pruner watching every epoch of every
    trial, counting the statements that write and Optuna's reads of every unfinished trial."""
    import sqlalchemy

    counts = {"writes": 0, "reads of the running trials": 0}
    opened = OPEN_STORAGE

    def count_writes(connection, cursor, statement: str, *args: Any) -> None:
        # Heartbeats are written once an interval by a thread, as many as the time taken.
        writes = statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        if writes and "trial_heartbeats" not in statement:
            counts["writes"] += 1

    def counting(url: str | None, **kwargs: Any):
        storage = opened(url, **kwargs)
        read = storage._get_trials
        sqlalchemy.event.listen(storage.engine, "before_cursor_execute", count_writes)

        def get_trials(*args: Any, **kw: Any):
            counts["reads of the running trials"] += 1
            return read(*args, **kw)

        storage._get_trials = get_trials
        return storage

    monkeypatch.setattr(storages, "open_storage", counting)
    raw = copy.deepcopy(tomllib.loads(GRID))
    raw["train"]["epochs"] = epochs
    # Reports at every epoch, each read the completed trials; none is pruned (too few of them).
    raw["study"]["pruner"] = {"name": "median", "n_startup_trials": 10, "n_warmup_steps": 0}
    raw["study"]["name"] = f"pruned{epochs}"
    study = run_study(raw, storage=f"sqlite:///{tmp_path / f'{epochs}.db'}", stack=16)
    counts["reports"] = sum(len(t.intermediate_values) for t in study.get_trials())
    return counts


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_per_stack_epoch_one_write_per_reporting_trial_and_no_read_of_the_study(
    tmp_path, monkeypatch
):
    """On an RDB storage each trial's report is its one write of an epoch, and the pruner's
    question reads no running trial (Optuna's cache reread them all, with their values, at
    every report: 3 trials x 30 more epochs = 90 more reads)."""
    short = _rdb_traffic(tmp_path, monkeypatch, 10)
    long = _rdb_traffic(tmp_path, monkeypatch, 40)
    assert long["reads of the running trials"] == short["reads of the running trials"], (
        short,
        long,
    )
    reports = long["reports"] - short["reports"]
    assert reports == 3 * 30  # every trial reported every epoch
    assert long["writes"] - short["writes"] == reports, (short, long)
