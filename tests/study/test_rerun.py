"""`sweepnp study rerun` on every stop reason, `study run` on a study that holds its trials, and
the line a resumed study starts with; through the command line, on journals real studies wrote.
(Ctrl-C through a real process is in test_cli_study.py.)"""

from __future__ import annotations

import optuna
import pytest

from sweepnp.study.ask_tell import interrupt_trial
from sweepnp.study.record import TrialRecord
from sweepnp.study.storage import open_storage
from sweepnp.study.worker import run_study

TABLE = ("┏", "┃", "┡", "│", "└")


def _lines(text: str) -> list[str]:
    """The lines of a re-run's output but its table of the last epochs."""
    return [line for line in text.splitlines() if not line.startswith(TABLE)]


def _records(journal: str, name: str) -> dict[int, TrialRecord]:
    study = optuna.load_study(study_name=name, storage=open_storage(journal))
    return {t.number: TrialRecord.of(t) for t in study.get_trials()}


def _by_reason(journal: str, name: str) -> dict[str, int]:
    """A trial number for each stop reason of the study."""
    return {record.stop_reason: n for n, record in sorted(_records(journal, name).items())}


@pytest.fixture
def four_endings(study_dict, tmp_path, write_study, journal) -> str:
    """A grid study whose trials end in each of the ways a re-run reproduces by training:
    completed (lr 0.1), early-stopped and diverged (lr 1000, patience 1 and 100), failed (an
    early-stopping monitor the run does not record: invalid)."""
    study_dict["regularizers"] = {}
    study_dict["study"].update(sampler={"name": "grid"}, n_trials=6)
    study_dict["study"]["params"] = {
        "optimizer.lr": {"choices": [0.1, 1000.0]},
        "callbacks.early_stopping": {
            "choices": [
                {"monitor": "val_loss", "patience": 1},
                {"monitor": "val_loss", "patience": 100},
                {"monitor": "nope", "patience": 1},
            ]
        },
    }
    run_study(write_study(tmp_path / "endings.toml", study_dict), storage=journal)
    return journal


def test_a_rerun_reproduces_completed_early_stopped_and_diverged_trials_by_training(
    invoke, four_endings
):
    records = _records(four_endings, "small")
    found = _by_reason(four_endings, "small")
    assert set(found) == {"completed", "early_stopped", "diverged", "failed"}
    for reason in ("completed", "early_stopped", "diverged"):
        number = found[reason]
        done = invoke("study", "rerun", "small", "--trial", number, "--storage", four_endings)
        assert done.exit_code == 0, done.output
        epochs = sum(records[number].epochs)
        assert _lines(done.stdout) == [
            f"trial {number} re-run: {reason}",
            "last epochs (re-run)",
            f"identical to the stored learning curve ({epochs} epochs)",
        ]


def test_a_rerun_of_a_failed_trial_fails_again_for_the_same_reason(invoke, four_endings):
    number = _by_reason(four_endings, "small")["failed"]
    done = invoke("study", "rerun", "small", "--trial", number, "--storage", four_endings)
    assert done.exit_code == 0, done.output
    # The study's reason names the study file; the re-run reads it from the storage.
    assert done.stdout.splitlines() == [
        f"trial {number} re-run: invalid: callbacks.early_stopping.monitor: 'nope' is not "
        "recorded in this run; valid: loss, accuracy, val_loss, val_accuracy, test_loss, "
        "test_accuracy, lr",
        "failed again, as in the study",
    ]


@pytest.mark.parametrize("repeats", [1, 2])
def test_a_rerun_of_a_pruned_trial_stops_where_the_pruner_stopped_it(
    invoke, study_dict, tmp_path, write_study, journal, repeats
):
    """The threshold pruner prunes every trial at its first look (epoch 2): no accuracy reaches
    1.01. Without a pruner the re-run would train all 8 epochs, and differ."""
    study_dict["callbacks"] = {}
    study_dict["study"].update(
        sampler={"name": "grid"},
        pruner={"name": "threshold", "lower": 1.01, "n_warmup_steps": 2},
        n_trials=2,
        repeats=repeats,
    )
    study_dict["study"]["params"] = {"optimizer.lr": {"choices": [0.1, 0.2]}}
    run_study(write_study(tmp_path / "pruned.toml", study_dict), storage=journal)
    records = _records(journal, "small")
    assert {r.stop_reason for r in records.values()} == {"pruned"}
    assert all(r.epochs == [3] for r in records.values())  # one repeat trained, to epoch 2
    for number in records:
        done = invoke("study", "rerun", "small", "--trial", number, "--storage", journal)
        assert done.exit_code == 0, done.output
        assert _lines(done.stdout) == [
            f"trial {number} re-run: pruned at epoch 2, where the study's pruner stopped it "
            "(a re-run has no pruner)",
            "last epochs (re-run)",
            "pruned at epoch 2 in the study; identical for its 3 epochs",
        ]


def _interrupt_one(study_file, journal: str) -> int:
    """Run the small study to two trials, then one more that Ctrl-C interrupts as the workers
    do (interrupt_trial: failed as interrupted, its configuration queued); its number."""
    run_study(study_file, storage=journal, n_trials=2)
    study = optuna.load_study(study_name="small", storage=open_storage(journal))
    trial = study.ask()
    trial.suggest_categorical("train.batch_size", [16, 32, 64])
    interrupt_trial(study, trial)
    return trial.number


def test_a_rerun_of_an_interrupted_trial_trains_nothing_and_names_its_retry(
    invoke, study_file, journal
):
    number = _interrupt_one(study_file, journal)
    done = invoke("study", "rerun", "small", "--trial", number, "--storage", journal)
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [
        f"trial {number} was interrupted (Ctrl-C) in the study before it stored any epochs: "
        f"nothing to train again; its configuration is queued to run again as trial "
        f"{number + 1}, in the study's next run"
    ]
    resumed = invoke("study", "run", study_file, "--storage", journal, "--n-trials", "3")
    assert resumed.exit_code == 0, resumed.output
    done = invoke("study", "rerun", "small", "--trial", number, "--storage", journal)
    assert done.stdout.splitlines()[0].endswith(
        f"nothing to train again; its configuration ran again as trial {number + 1}: "
        f"sweepnp study rerun small --trial {number + 1} --storage {journal}"
    )


def test_a_resumed_study_counts_finished_and_interrupted_trials_apart(invoke, study_file, journal):
    """2 finished trials and 1 interrupted: the header counts 2 finished, not 3."""
    _interrupt_one(study_file, journal)
    resumed = invoke("study", "run", study_file, "--storage", journal)
    assert resumed.exit_code == 0, resumed.output
    assert (
        "study small: 2 trials finished in earlier runs (not listed again); 1 interrupted one "
        "runs again; 6 in all"
    ) in resumed.stderr.splitlines()


@pytest.mark.parametrize("options", [[], ["--stack", "1"], ["--quiet"]])
def test_running_a_study_that_holds_its_trials_says_so_in_one_line(
    invoke, study_file, small_journal, options
):
    done = invoke("study", "run", study_file, "--storage", small_journal, *options)
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[0] == (
        "study small already has its 6 trials; --n-trials 9 runs 3 more, --name starts another "
        "study"
    )
    assert len(_records(small_journal, "small")) == 6  # nothing trained
    more = invoke("study", "run", study_file, "--storage", small_journal, "--n-trials", "4")
    assert more.stdout.splitlines()[0] == (
        "study small already has its 6 trials (--n-trials 4 is the total it should hold); "
        "--n-trials 9 runs 3 more, --name starts another study"
    )
