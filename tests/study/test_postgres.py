"""Many machines on one PostgreSQL: a real server, two independent `sweepnp study run` commands.

The server is started from the PostgreSQL binaries on this machine (``postgres_server`` in
``tests/conftest.py``); where they are missing the test is skipped with that reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from sweepnp import results

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_two_machines_share_one_study_on_postgresql(
    postgres_url, study_dict, tmp_path, write_study
):
    study_dict["study"]["n_trials"] = 12
    study_dict["study"]["sampler"] = {"name": "random", "seed": 0}
    # Trials of a few hundred milliseconds, so that one machine cannot run all twelve while the
    # other is still starting up (about a second and a half here).
    study_dict["train"]["epochs"] = 300
    study_dict["callbacks"] = {}
    path = write_study(tmp_path / "pg.toml", study_dict)
    command = [sys.executable, "-m", "sweepnp.cli", "study", "run", str(path),
               "--storage", postgres_url, "--quiet"]  # fmt: skip
    # the same command on two "machines", started together
    machines = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    for machine in machines:
        _, stderr = machine.communicate(timeout=300)
        assert machine.returncode == 0, stderr

    study = optuna.load_study(study_name="small", storage=postgres_url)
    trials = study.get_trials()
    assert len(trials) == 12  # the advisory lock makes the total exact across machines
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert len({t.user_attrs["sweepnp_worker"] for t in trials}) == 2
    res = results.load("small", postgres_url)
    assert len(res.trials) == 12
    assert res.history["trial"].nunique() == 12


def _other_machine(tmp_path) -> tuple[list[str], dict[str, str], str]:
    """A prefix and environment that run a command as if on another machine, and how.

    With ``unshare -u`` (a UTS namespace of its own) the process really has another host name.
    Where that is not allowed, a stand-in: a ``sitecustomize`` module that makes Python's
    ``socket.gethostname`` answer another name, which is all sweepnp asks of the host.
    """
    probe = subprocess.run(["unshare", "-u", "true"], capture_output=True)
    if probe.returncode == 0:
        return ["unshare", "-u", "sh", "-c", 'hostname other-machine && exec "$@"', "sh"], {}, ""
    stand_in = tmp_path / "other-machine"
    stand_in.mkdir()
    (stand_in / "sitecustomize.py").write_text(
        "import socket\nsocket.gethostname = lambda: 'other-machine'\n"
    )
    return [], {"PYTHONPATH": str(stand_in)}, "stand-in"


def test_a_dead_machines_trial_is_failed_by_its_heartbeat_and_run_again(
    postgres_url, study_dict, tmp_path, write_study
):
    study_dict["study"]["n_trials"] = 8
    study_dict["study"]["sampler"] = {"name": "random", "seed": 0}
    study_dict["train"] = {"epochs": 1000, "batch_size": 16}  # about a second per trial
    study_dict["callbacks"] = {}
    study_dict["study"]["params"] = {
        "regularizers.l2.lam": {"low": 1e-5, "high": 1e-1, "log": True},
        "regularizers.dropout.rate": {"low": 0.0, "high": 0.5},
    }
    path = write_study(tmp_path / "pg.toml", study_dict)
    command = [sys.executable, "-m", "sweepnp.cli", "study", "run", str(path),
               "--storage", postgres_url, "--quiet"]  # fmt: skip
    # A grace of 6 beats: under a loaded CI machine a live worker's beat can lag a few seconds
    # (once, with 3, a live trial was taken for a dead one in a full-suite run).
    env = {**os.environ, "SWEEPNP_HEARTBEAT_INTERVAL": "1", "SWEEPNP_HEARTBEAT_GRACE": "6"}
    prefix, extra_env, _ = _other_machine(tmp_path)

    def start(prefix: list[str], extra: dict[str, str]) -> subprocess.Popen:
        return subprocess.Popen(
            [*prefix, *command], cwd=tmp_path, env={**env, **extra},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    doomed = start(prefix, extra_env)

    def training_elsewhere() -> list:
        try:
            trials = optuna.load_study(study_name="small", storage=postgres_url).get_trials()
        except KeyError:
            return []
        return [
            t for t in trials if t.state == TrialState.RUNNING and t.params
            and t.user_attrs.get("sweepnp_worker", "").startswith("other-machine:")
        ]  # fmt: skip

    deadline = time.time() + 120
    while not training_elsewhere():
        assert time.time() < deadline and doomed.poll() is None, [
            (t.number, t.state, t.params, t.user_attrs)
            for t in optuna.load_study(study_name="small", storage=postgres_url).get_trials()
        ]
        time.sleep(0.2)
    # The others start once the other machine trains (started together, either may ask first
    # and take every trial: the other machine would then have nothing to die with).
    survivors = [start([], {}) for _ in range(2)]
    time.sleep(1.0)
    doomed.kill()  # SIGKILL: the machine is gone, mid-trial
    doomed.communicate(timeout=30)
    for survivor in survivors:
        _, stderr = survivor.communicate(timeout=300)
        assert survivor.returncode == 0, stderr

    trials = optuna.load_study(study_name="small", storage=postgres_url).get_trials()
    dead = [t for t in trials if t.user_attrs.get("sweepnp_worker", "").startswith("other-")
            and t.state == TrialState.FAIL]  # fmt: skip
    assert dead  # failed by their heartbeat: no other machine could check its process
    assert [t for t in trials if t.state == TrialState.RUNNING] == []
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    states = [(t.number, t.state.name, t.user_attrs.get("sweepnp_worker")) for t in trials]
    assert len(done) == 8, states  # exactly n_trials: the dead trial does not count, its retry does
    for trial in dead:  # each of the dead machine's trials in flight ran again elsewhere
        if not trial.params:  # killed as it asked: nothing to run again, and it does not count
            continue
        retries = [t for t in done if t.user_attrs.get("sweepnp_retry_of") == trial.number]
        # PostgreSQL stores each parameter as it is suggested: a machine killed between two
        # keeps those it had, and its retry samples the rest (as Optuna's own retry does).
        assert len(retries) == 1 and retries[0].params.items() >= trial.params.items()
        assert not retries[0].user_attrs["sweepnp_worker"].startswith("other-machine:")
    res = results.load("small", postgres_url)
    assert (res.trials.loc[[t.number for t in dead], "stop_reason"] == "stale").all()


@pytest.mark.parametrize("kill", [False, True], ids=["three-machines", "one-dies"])
def test_three_machines_on_a_grid_run_every_point_once(
    postgres_url, study_dict, tmp_path, write_study, kill
):
    """Three workers (one as if on another machine) on a 9-point grid: nine distinct points
    (before, six with the default stack), 3 ± 1 trained by each (before, the first to start
    filled its stack with all nine). When the other machine dies mid-trial, its points
    run again on the others, once each, and no point is missing or doubled."""
    study_dict["study"].update(sampler="grid", n_trials=9, repeats=2)
    study_dict["study"]["params"] = {
        "train.batch_size": {"choices": [16, 32, 64]},
        "regularizers.dropout.rate": {"choices": [0.0, 0.2, 0.4]},
    }
    # Trials of about a second (longer than the workers take to start one after another): a
    # share counts trials, which is fair when a trial outlasts the start-up of the others.
    study_dict["train"] = {"epochs": 400, "batch_size": 16}
    study_dict["callbacks"] = {}
    path = write_study(tmp_path / "grid.toml", study_dict)
    command = [sys.executable, "-m", "sweepnp.cli", "study", "run", str(path),
               "--storage", postgres_url, "--quiet"]  # fmt: skip
    env = {**os.environ, "SWEEPNP_HEARTBEAT_INTERVAL": "1", "SWEEPNP_HEARTBEAT_GRACE": "6"}
    prefix, extra_env, _ = _other_machine(tmp_path)

    def start(prefix: list[str], extra: dict[str, str]) -> subprocess.Popen:
        return subprocess.Popen(
            [*prefix, *command], cwd=tmp_path, env={**env, **extra},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    other = start(prefix, extra_env)
    workers = [start([], {}) for _ in range(2)]

    def training_elsewhere() -> bool:
        try:
            trials = optuna.load_study(study_name="small", storage=postgres_url).get_trials()
        except KeyError:
            return False
        return any(
            t.state == TrialState.RUNNING and t.params
            and t.user_attrs.get("sweepnp_worker", "").startswith("other-machine:")
            for t in trials
        )  # fmt: skip

    if kill:
        deadline = time.time() + 120
        while not training_elsewhere():
            assert time.time() < deadline and other.poll() is None
            time.sleep(0.2)
        other.kill()  # SIGKILL: the machine is gone, mid-trial
        other.communicate(timeout=30)
    else:
        workers.append(other)
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr

    trials = optuna.load_study(study_name="small", storage=postgres_url).get_trials()
    assert [t for t in trials if t.state == TrialState.RUNNING] == []
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    points = [(t.params["train.batch_size"], t.params["regularizers.dropout.rate"]) for t in done]
    states = [(t.number, t.state.name, t.params, t.user_attrs.get("sweepnp_retry_of"))
              for t in trials]  # fmt: skip
    assert len(points) == 9 and len(set(points)) == 9, states
    dead = [t for t in trials if t.state == TrialState.FAIL]
    assert bool(dead) == kill, states
    if not kill:  # a fair share each: the live workers registered in the study count
        by_worker = [t.user_attrs["sweepnp_worker"] for t in done]
        shares = sorted(by_worker.count(w) for w in set(by_worker))
        assert len(shares) == 3 and all(2 <= n <= 4 for n in shares), (shares, states)
    for trial in dead:  # failed by their heartbeat, run again elsewhere by one retry each
        if trial.params:
            (retry,) = [t for t in done if t.user_attrs.get("sweepnp_retry_of") == trial.number]
            assert retry.params == trial.params
            assert not retry.user_attrs["sweepnp_worker"].startswith("other-machine:")
