"""Many machines on one PostgreSQL: a real server, two independent `sweepnp study run` commands.

The server is started from the PostgreSQL binaries on this machine (``postgres_server`` in
``tests/conftest.py``); where they are missing the test is skipped with that reason.
"""

from __future__ import annotations

import subprocess
import sys

import optuna
from optuna.trial import TrialState

from sweepnp import results


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
