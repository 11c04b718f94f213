"""Many machines on one PostgreSQL: a real server, two independent `sweepnp study run` commands.

The server is started from the PostgreSQL binaries on this machine (Debian's postgresql package);
where they are missing the test is skipped with that reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sweepnp import results


def _binary(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="sweepnp-pg-"))
    as_server_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        as_server_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_server_user, *command], check=True, capture_output=True, timeout=120)

    run(initdb, "-D", str(data), "-U", "sweepnp", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -h 127.0.0.1 -k {root}"
    run(pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
    try:
        yield f"postgresql+psycopg2://sweepnp@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


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
