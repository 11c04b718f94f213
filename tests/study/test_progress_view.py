"""What a progress display shows of a study (:class:`sweepnp.study.progress.StudyView`), kept
up to date at the cost of what changed, is after every change what a look at every trial
gives: the trials finished that count, the best (Optuna's ``best_trial``, the first of equal
values), the Pareto front's size, the running trials, and each finished trial once — on a real
journal storage, with trials ended in any order, retried, failed, pruned, and ties."""

from __future__ import annotations

import random

import optuna
import pytest
from optuna.trial import TrialState

from sweepnp.study.budget import budget_of
from sweepnp.study.journal import BufferedJournalStorage
from sweepnp.study.progress import StudyView
from sweepnp.study.record import REASON_ATTR, RETRY_ATTR
from sweepnp.vocabulary import StopReason

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _changes(study: optuna.Study, rng: random.Random, steps: int, objectives: int):
    """Yield after each of ``steps`` random changes (values from a few, so that trials tie)."""
    running: list[optuna.Trial] = []
    for _ in range(steps):
        move = rng.random()
        if move < 0.4 or not running:
            trial = study.ask()
            trial.suggest_float("x", 0, 1)
            running.append(trial)
        else:
            trial = running.pop(rng.randrange(len(running)))
            if move < 0.7:
                values = [rng.choice([0.25, 0.5, 0.75]) for _ in range(objectives)]
                study.tell(trial, values if objectives > 1 else values[0])
            elif move < 0.8:
                study.tell(trial, state=TrialState.PRUNED)
            elif move < 0.9:
                trial.set_user_attr(REASON_ATTR, "plugin")
                study.tell(trial, state=TrialState.FAIL)
            else:
                trial.set_user_attr(REASON_ATTR, str(StopReason.INTERRUPTED))
                study.tell(trial, state=TrialState.FAIL)
                study.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: trial.number})
        yield


@pytest.mark.parametrize(("seed", "direction"), [(0, "maximize"), (1, "minimize"), (2, None)])
def test_the_view_shows_what_a_look_at_every_trial_shows_after_every_change(
    tmp_path, seed, direction
):
    storage = BufferedJournalStorage(str(tmp_path / "s.journal"))
    directions = ["maximize", "minimize"] if direction is None else [direction]
    study = optuna.create_study(storage=storage, directions=directions)
    view, seen, shown = StudyView(), set(), []
    for _ in _changes(study, random.Random(seed), steps=150, objectives=len(directions)):
        new = view.read(study, seen)
        shown += [t.number for t in new]
        trials = study.get_trials(deepcopy=False)
        finished = [t.number for t in trials if t.state.is_finished()]
        assert sorted(shown) == finished and len(set(shown)) == len(shown)  # each once
        assert view.done == budget_of(trials)[1]
        assert view.running == [t.number for t in trials if t.state == TrialState.RUNNING]
        if direction is None:
            assert view.front_size(study) == len(study.best_trials)
            continue
        try:
            best = study.best_trial
        except ValueError:
            assert view.best is None
        else:
            assert (view.best.number, view.best.value) == (best.number, best.value)
    assert view.settled > 0  # it settled trials: it did not look at every one every time


def test_trials_finished_before_are_weighed_but_not_shown_again(tmp_path):
    storage = BufferedJournalStorage(str(tmp_path / "s.journal"))
    study = optuna.create_study(storage=storage)
    for value in (3.0, 1.0, 1.0, 2.0):
        study.tell(study.ask(), value)
    view = StudyView()
    earlier = {t.number for t in study.get_trials()}
    seen = set(earlier)
    assert view.read(study, seen) == []
    assert view.best.number == 1 and view.done == 4  # the first of the two tied at 1.0
    study.tell(study.ask(), 1.0)
    assert [t.number for t in view.read(study, seen)] == [4]
    assert view.best.number == 1
