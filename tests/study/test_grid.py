"""The grid sampler: every point of the grid once, on any number of workers and stack sizes, with
repeats, and after interrupted or killed trials are run again (each runs in its retry only).

Workers asking in turn, an interrupted trial and a grid larger or smaller than ``n_trials`` run in
this process on a real journal; ``--jobs`` and a killed worker through real processes (slow);
several machines on PostgreSQL are in ``test_postgres.py``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from sweepnp.study import storage as storages
from sweepnp.study.ask_tell import WAIT, WorkerJob, interrupt_trial, next_trial
from sweepnp.study.grid import GridSampler
from sweepnp.study.record import GRID_POINT_ATTR, RETRY_ATTR, WORKER_ATTR
from sweepnp.study.spec import load_spec
from sweepnp.study.worker import create_study, run_study

BATCH, RATE = "train.batch_size", "regularizers.dropout.rate"
#: The nine points of the grid.
POINTS = {(b, r) for b in (16, 32, 64) for r in (0.0, 0.2, 0.4)}


def grid_study(study_dict: dict, *, epochs: int = 8, **study) -> dict:
    """The small study on a 3 x 3 grid of batch sizes and dropout rates."""
    study_dict["train"]["epochs"] = epochs
    study_dict["callbacks"] = {}
    study_dict["study"].update(sampler="grid", n_trials=9, **study)
    study_dict["study"]["params"] = {
        BATCH: {"choices": [16, 32, 64]},
        RATE: {"choices": [0.0, 0.2, 0.4]},
    }
    return study_dict


def _trials(storage: str, name: str = "small") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=storages.open_storage(storage)).get_trials()


def _done_points(trials: list[optuna.trial.FrozenTrial]) -> Counter:
    """How many finished (complete or pruned) trials ran each point."""
    return Counter(
        (t.params[BATCH], t.params[RATE])
        for t in trials
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
    )


def assert_every_point_once(trials: list[optuna.trial.FrozenTrial]) -> None:
    done = _done_points(trials)
    states = [(t.number, t.state.name, t.params, t.user_attrs.get(RETRY_ATTR)) for t in trials]
    assert set(done) == POINTS and set(done.values()) == {1}, states


def test_workers_asking_at_once_each_claim_another_point(study_dict, journal):
    """Three workers — three storage handles, three samplers seeded as workers 0, 1 and 2 —
    ask nine trials in turn before any is told (stacked asking): nine points. (Before, trial k
    was point k of each worker's own shuffle of the grid: six or seven distinct points.)"""
    spec = load_spec(grid_study(study_dict))
    create_study(spec, journal)
    workers = []
    for worker in range(3):
        storage = storages.open_storage(journal)
        study = optuna.load_study(
            study_name="small", storage=storage, sampler=spec.sampler(worker, batch=True)
        )
        job = WorkerJob(spec.raw, None, journal, 9, None, worker, spec=spec, stack=16, workers=3)
        workers.append((job, study, storage))
    points = []
    for ask in range(9):
        job, study, storage = workers[ask % 3]
        trial = next_trial(job, spec, study, storage)
        points.append(trial.params if trial.params else spec.space.suggest(trial))
    assert {(p[BATCH], p[RATE]) for p in points} == POINTS
    job, study, storage = workers[0]
    assert next_trial(job, spec, study, storage) is WAIT  # the others' trials run
    claims = [t.system_attrs[GRID_POINT_ATTR] for t in _trials(journal)]
    assert [{BATCH: c[BATCH], RATE: c[RATE]} for c in claims] == points


@pytest.mark.parametrize("stack", [1, 16])
def test_fewer_trials_than_points_run_that_many_distinct_points(study_dict, journal, stack):
    """n_trials 6 of a 9-point grid: six points, the first six of the grid's order (shuffled
    by the sampler's seed, the same in every worker), whatever the stack."""
    study_dict = grid_study(study_dict, repeats=2)
    run_study(study_dict, storage=journal, n_trials=6, stack=stack)
    done = _done_points(_trials(journal))
    order = GridSampler(load_spec(study_dict).space.grid(), seed=0).points
    assert list(done.values()) == [1] * 6
    assert set(done) == {(p[BATCH], p[RATE]) for p in order[:6]}


@pytest.mark.parametrize("stack", [1, 16])
def test_a_grid_smaller_than_n_trials_ends_the_study_once_every_point_ran(
    study_dict, journal, stack
):
    """As Optuna's grid sampler stopped a study of one trial at a time at its last point: also
    stacked (which asked past the grid and ran three points twice), and when run again."""
    study_dict = grid_study(study_dict)
    run_study(study_dict, storage=journal, n_trials=12, stack=stack)
    assert_every_point_once(_trials(journal))
    assert len(_trials(journal)) == 9
    run_study(study_dict, storage=journal, n_trials=12, stack=stack)  # nothing left to run
    assert len(_trials(journal)) == 9


def test_an_interrupted_trials_point_runs_in_its_retry_only(study_dict, journal):
    """Three trials asked, then interrupted (Ctrl-C): two with their parameters, queued again;
    one before it had them, queued nothing. Continuing, the two retries run their points and
    no new trial takes them; the third point is claimed afresh. Every point once."""
    spec = load_spec(grid_study(study_dict, repeats=2))
    create_study(spec, journal)
    storage = storages.open_storage(journal)
    study = optuna.load_study(study_name="small", storage=storage, sampler=spec.sampler())
    job = WorkerJob(spec.raw, None, journal, 9, None, 0, spec=spec, stack=16)
    asked = [next_trial(job, spec, study, storage) for _ in range(3)]
    for trial in (asked[0], asked[2]):
        spec.space.suggest(trial)
    for trial in asked:
        interrupt_trial(study, trial)

    run_study(spec.raw, storage=journal, spec=spec, stack=16)
    trials = _trials(journal)
    assert_every_point_once(trials)
    for trial in (asked[0], asked[2]):
        (retry,) = [t for t in trials if t.user_attrs.get(RETRY_ATTR) == trial.number]
        assert retry.state == TrialState.COMPLETE and retry.params == trials[trial.number].params
        assert GRID_POINT_ATTR not in retry.system_attrs  # a retry claims nothing
    assert not [t for t in trials if t.user_attrs.get(RETRY_ATTR) == asked[1].number]
    assert len(trials) == 9 + 3  # nine complete, three interrupted


def test_a_trial_that_died_between_two_parameters_runs_its_whole_point_again(study_dict, journal):
    """A worker killed while it suggests leaves a trial with one parameter of two: its retry
    runs the whole grid point it claimed (seen on PostgreSQL, where each parameter is its own
    write: the retry had no value for the second, and failed)."""
    spec = load_spec(grid_study(study_dict))
    create_study(spec, journal)
    storage = storages.open_storage(journal)
    study = optuna.load_study(study_name="small", storage=storage, sampler=spec.sampler())
    job = WorkerJob(spec.raw, None, journal, 9, None, 0, spec=spec, stack=16)
    trial = next_trial(job, spec, study, storage)
    point = study.get_trials()[trial.number].system_attrs[GRID_POINT_ATTR]
    trial.suggest_categorical(BATCH, [16, 32, 64])  # the first parameter only
    interrupt_trial(study, trial)  # what a dead worker's recovery does too: fail, queue again
    (queued,) = [t for t in _trials(journal) if t.state == TrialState.WAITING]
    assert queued.system_attrs["fixed_params"] == point  # both parameters

    run_study(spec.raw, storage=journal, spec=spec, stack=16)
    trials = _trials(journal)
    assert_every_point_once(trials)
    (retry,) = [t for t in trials if t.user_attrs.get(RETRY_ATTR) == trial.number]
    assert retry.state == TrialState.COMPLETE and retry.params == point


def test_a_trial_without_a_claim_holds_the_points_its_parameters_match():
    """A study continued from an earlier sweepnp (whose trials Optuna placed, with no claim):
    its trials' parameters hold their points; a parameter not searched in a trial (a
    conditional one) matches every value; a retry (Optuna's fixed_params) holds nothing itself,
    and a trial that failed before it had parameters frees its claim."""
    sampler = GridSampler({"a": [1, 2], "b": ["x", "y"]})
    distributions = {"a": CategoricalDistribution([1, 2]), "b": CategoricalDistribution(["x", "y"])}

    def trial(params, state=TrialState.COMPLETE, system_attrs=None):
        dists = {key: distributions[key] for key in params}
        return create_trial(
            params=params, distributions=dists, state=state, system_attrs=system_attrs or {},
            value=0.0 if state == TrialState.COMPLETE else None,
        )  # fmt: skip

    free = sampler.unclaimed([trial({"a": 1, "b": "x"})])
    assert free == [p for p in sampler.points if p != {"a": 1, "b": "x"}]
    assert sampler.unclaimed([trial({"a": 2})]) == [p for p in sampler.points if p["a"] == 1]
    retry = trial({"a": 2, "b": "y"}, TrialState.WAITING, {"fixed_params": {"a": 2, "b": "y"}})
    assert len(sampler.unclaimed([retry])) == 4
    assert not sampler.spent([trial(p) for p in sampler.points[:3]] + [retry])
    dead = trial({}, TrialState.FAIL, {GRID_POINT_ATTR: sampler.points[0]})
    assert sampler.unclaimed([dead]) == sampler.points


def _unclaimed_from_scratch(sampler: GridSampler, trials: list) -> list[dict]:
    """The free points as a look at every trial finds them (the sampler's rule, written out)."""
    claimed, matched = set(), []
    for trial in trials:
        if trial.state == TrialState.FAIL and not trial.params:
            continue
        point = trial.system_attrs.get(GRID_POINT_ATTR)
        if point is not None:
            claimed.add(json.dumps(point, sort_keys=True))
        elif "fixed_params" not in trial.system_attrs and trial.params:
            matched.append(trial.params)
    return [
        point
        for point in sampler.points
        if json.dumps(point, sort_keys=True) not in claimed
        and not any(all(point.get(k) == v for k, v in params.items()) for params in matched)
    ]


@pytest.mark.parametrize("seed", range(3))
def test_the_free_points_kept_between_asks_are_those_a_look_at_every_trial_finds(tmp_path, seed):
    """The sampler keeps what the finished trials hold between asks (a study of thousands of
    trials asks at the cost of the trials in flight): after every change — trials asked,
    completed, failed before their parameters (freeing their point), interrupted and queued
    again, retries run — its free points and whether the grid is spent are a look at every
    trial's."""
    import random

    rng = random.Random(seed)
    space = {"a": [1, 2, 3, 4], "b": ["x", "y", "z"]}
    sampler = GridSampler(space, seed=seed)
    study = optuna.create_study(
        storage=storages.BufferedJournalStorage(str(tmp_path / "g.journal")), sampler=sampler
    )
    running: list = []
    for _ in range(80):
        trials = study.get_trials(deepcopy=False)
        free = _unclaimed_from_scratch(sampler, trials)
        assert sampler.unclaimed(trials) == free
        waiting = any(t.state == TrialState.WAITING for t in trials)
        assert sampler.spent(trials) == (not free and not waiting)
        move = rng.random()
        if (move < 0.5 or not running) and (free or waiting):
            sampler.knowing(trials)
            trial = study.ask()
            if rng.random() < 0.8:  # else its worker dies before it has its parameters
                for path in ("a", "b"):
                    trial.suggest_categorical(path, space[path])
            running.append(trial)
        elif running:
            trial = running.pop(rng.randrange(len(running)))
            if not trial.params:  # died: it frees the point it claimed
                study.tell(trial, state=TrialState.FAIL)
            elif move < 0.8:
                study.tell(trial, 1.0)
            else:  # interrupted: its point runs again in a retry
                interrupt_trial(study, trial)
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) >= 8


# -- real processes ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("repeats", [1, 2])
@pytest.mark.parametrize("stack", [None, "1"], ids=["stack-auto", "stack-1"])
def test_two_jobs_run_every_point_once(cli, study_dict, tmp_path, write_study, stack, repeats):
    path = write_study(tmp_path / "grid.toml", grid_study(study_dict, epochs=30, repeats=repeats))
    journal = str(tmp_path / "grid.journal")
    flags = ["--stack", stack] if stack else []
    done = cli("study", "run", str(path), "--storage", journal, "--jobs", "2", "--quiet", *flags)
    assert done.returncode == 0, done.stderr
    trials = _trials(journal)
    assert_every_point_once(trials)
    assert len(trials) == 9
    assert all(len(json.loads(json.dumps(t.user_attrs["sweepnp"]["seeds"]))) == repeats
               for t in trials)  # fmt: skip
    assert len({t.user_attrs[WORKER_ATTR] for t in trials}) == 2


@pytest.mark.slow
@pytest.mark.parametrize("stack", [None, "1"], ids=["stack-auto", "stack-1"])
def test_a_killed_workers_points_run_again_once_and_none_is_missing(
    study_dict, tmp_path, write_study, journal, stack
):
    """``--jobs 2``; one forked worker is killed (SIGKILL) while it trains: its trials fail as
    stale, their points run again in the same command, once each, and no other point twice."""
    study_dict = grid_study(study_dict, epochs=600, repeats=2)
    study_dict["model"]["hidden"] = [32]
    path = write_study(tmp_path / "grid.toml", study_dict)
    flags = ["--stack", stack] if stack else []
    process = subprocess.Popen(
        [sys.executable, "-m", "sweepnp.cli", "study", "run", str(path), "--storage", journal,
         "--jobs", "2", "--quiet", *flags],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip

    def a_child_is_training() -> int | None:
        """The pid of a forked worker training a trial whose parameters are stored."""
        try:
            trials = _trials(journal)
        except KeyError:
            return None
        for trial in trials:
            worker = trial.user_attrs.get(WORKER_ATTR, "")
            pid = int(worker.split(":")[1]) if worker else None
            if trial.state == TrialState.RUNNING and trial.params and pid != process.pid:
                return pid
        return None

    deadline = time.time() + 120
    while (child := a_child_is_training()) is None:
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)  # one worker dies mid-trial; its parent lives on
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr

    trials = _trials(journal)
    killed = [t for t in trials if t.state == TrialState.FAIL]
    assert killed and all(t.user_attrs["sweepnp_reason"] == "stale" for t in killed)
    assert [t for t in trials if t.state == TrialState.RUNNING] == []
    assert_every_point_once(trials)
    for trial in killed:
        if trial.params:  # killed after its parameters: run again by its retry alone
            (retry,) = [t for t in trials if t.user_attrs.get(RETRY_ATTR) == trial.number]
            assert retry.params == trial.params and retry.state == TrialState.COMPLETE
