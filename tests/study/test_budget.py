"""The incremental count of a study's budget (:class:`sweepnp.study.budget.TrialTally`) agrees
with the count from scratch after every change a study sees: trials asked, completed, pruned,
failed by a plugin, interrupted or found stale (and queued again), retries taken and finished —
in any order, on a real journal storage."""

from __future__ import annotations

import random
import time

import optuna
import pytest
from optuna.trial import TrialState

from sweepnp.study.budget import WAITING_RECOVERY_SECONDS, StudyBudget, TrialTally, budget_of
from sweepnp.study.journal import BufferedJournalStorage
from sweepnp.study.record import REASON_ATTR, RETRY_ATTR
from sweepnp.vocabulary import StopReason


def _random_history(study: optuna.Study, rng: random.Random, steps: int):
    """Yield after each of ``steps`` random changes to the study."""
    running: list[optuna.Trial] = []
    for _ in range(steps):
        move = rng.random()
        if move < 0.35 or not running:
            trial = study.ask()  # takes a waiting retry first, as workers do
            trial.suggest_float("x", 0, 1)
            running.append(trial)
        else:
            trial = running.pop(rng.randrange(len(running)))
            if move < 0.6:
                study.tell(trial, rng.random())
            elif move < 0.7:
                study.tell(trial, state=TrialState.PRUNED)
            elif move < 0.8:  # a plugin's exception: it counts, unless a retry comes later
                trial.set_user_attr(REASON_ATTR, "plugin")
                study.tell(trial, state=TrialState.FAIL)
                if rng.random() < 0.3:  # Optuna's retry callback, by hand
                    study.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: trial.number})
            elif move < 0.85:  # failed by Optuna's heartbeat before its parameters
                bare = study.ask()
                study.tell(bare, state=TrialState.FAIL)
                running.append(trial)
            else:  # interrupted or stale: never counts, its configuration queued again
                reason = rng.choice([StopReason.INTERRUPTED, StopReason.STALE])
                trial.set_user_attr(REASON_ATTR, str(reason))
                study.tell(trial, state=TrialState.FAIL)
                study.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: trial.number})
        yield


@pytest.mark.parametrize("seed", range(4))
def test_the_tally_counts_as_a_count_from_scratch_after_every_change(tmp_path, seed):
    study = optuna.create_study(storage=BufferedJournalStorage(str(tmp_path / "s.journal")))
    tally = TrialTally()
    looked = 0
    for _ in _random_history(study, random.Random(seed), steps=120):
        trials = study.get_trials(deepcopy=False)
        assert tally.count(trials) == budget_of(trials)
        looked += 1
    assert tally.settled > 0  # it did settle trials, not look at every one every time
    assert len(study.trials) > 40 and looked == 120


def test_the_tally_starts_again_on_another_study(tmp_path):
    storage = BufferedJournalStorage(str(tmp_path / "s.journal"))
    first, second = (optuna.create_study(storage=storage, study_name=n) for n in "ab")
    for _ in range(5):
        first.tell(first.ask(), 1.0)
    second.tell(second.ask(), 1.0)
    tally = TrialTally()
    assert tally.count(first.get_trials(deepcopy=False)) == (5, 5)
    assert tally.count(second.get_trials(deepcopy=False)) == (1, 1)


def test_recovery_is_due_once_an_interval_and_once_a_second_while_waiting():
    budget = StudyBudget(recover_every=30.0)
    assert budget.recovery_due()  # the first ask always looks
    assert not budget.recovery_due()  # not again for 30 s of asking
    budget.waiting = True
    assert not budget.recovery_due()
    time.sleep(WAITING_RECOVERY_SECONDS + 0.05)
    assert budget.recovery_due()  # waiting for a dead worker's trial: looked for every second


def test_a_trial_failed_from_outside_before_its_parameters_does_not_count(tmp_path):
    """Optuna's heartbeat fails a dead machine's trial that had no parameters yet: nothing is
    queued in its place (there is nothing to run again), so it must not take a trial of the
    budget (a PostgreSQL study of 8 ended with 7 trained)."""
    study = optuna.create_study(storage=BufferedJournalStorage(str(tmp_path / "s.journal")))
    study.tell(study.ask(), state=TrialState.FAIL)  # as fail_stale_trials leaves it
    failed = study.ask()
    failed.set_user_attr(REASON_ATTR, "plugin")  # sweepnp's own failures say why: they count
    study.tell(failed, state=TrialState.FAIL)
    trials = study.get_trials(deepcopy=False)
    assert budget_of(trials) == (1, 1)
    assert TrialTally().count(trials) == (1, 1)
