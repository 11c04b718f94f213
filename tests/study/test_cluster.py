"""``sweepnp study run FILE --cluster ADDRESS`` on a real Dask cluster: a
``distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1)`` on loopback,
the driver a real ``sweepnp`` process, real signals. No mocks.

End to end (exact ``n_trials``, both workers train, a third-party plugin on the workers, a file
data set scattered once), a worker killed mid-trial, Ctrl-C and SIGKILL of the driver, an
unreachable scheduler, workers that differ from the driver, and no password printed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from sweepnp import results
from sweepnp.study.journal import BufferedJournalStorage

pytestmark = pytest.mark.slow  # Dask clusters and whole studies

distributed = pytest.importorskip("distributed")  # the [dask] extra, part of [test]

ROOT = Path(__file__).resolve().parents[2]
LION = ROOT / "examples" / "sweepnp-lion"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)

STUDY = """
[data]
dataset = {dataset}
test_size = 0.2
val_size = 0.2
seed = 0
[model]
task = "binary"
hidden = [16]
[train]
epochs = {epochs}
batch_size = 32
seed = 0
[optimizer]
name = "{optimizer}"
lr = 0.001
[study]
name = "{name}"
metric = "val_accuracy"
n_trials = {n_trials}
sampler = {{ name = "random", seed = 0 }}
[study.params]
"optimizer.lr" = {{ low = 1e-4, high = 1e-2, log = true }}
"""


def write_study(
    folder: Path,
    *,
    name: str = "c",
    n_trials: int = 6,
    epochs: int = 20,
    optimizer: str = "adam",
    dataset: str = '"breast_cancer"',
) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        STUDY.format(
            name=name, n_trials=n_trials, epochs=epochs, optimizer=optimizer, dataset=dataset
        )
    )
    return path


def lion_site(folder: Path) -> Path:
    """The example plugin sweepnp-lion as pip would install it (its package and a dist-info
    with its entry point), in a folder for ``PYTHONPATH``."""
    site = folder / "site"
    shutil.copytree(LION / "sweepnp_lion", site / "sweepnp_lion")
    info = site / "sweepnp_lion-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sweepnp-lion\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[sweepnp]\nlion = sweepnp_lion\n")
    return site


WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture
def start_cluster():
    """Start a two-worker local cluster (with ``env`` for its worker processes); closed after
    the test."""
    started = []

    def start(env: dict[str, str] | None = None):
        # The worker processes are new interpreters started by multiprocessing's spawn, which
        # hands them this process's sys.path (not PYTHONPATH) and environment.
        saved, saved_path = dict(os.environ), list(sys.path)
        extra = dict(env or {})
        if "PYTHONPATH" in extra:
            sys.path.insert(0, extra.pop("PYTHONPATH"))
        os.environ.update({**WORKER_ENV, **extra})
        try:
            cluster = distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",
            )
        finally:
            os.environ.clear()
            os.environ.update(saved)
            sys.path[:] = saved_path
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.close()


def driver(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sweepnp.cli", "study", "run", *args],
        cwd=cwd,
        env={**os.environ, **WORKER_ENV, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_driver(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout=240):
    process = driver(args, cwd, env)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def trials_of(journal: Path, name: str = "c") -> list[optuna.trial.FrozenTrial]:
    storage = BufferedJournalStorage(str(journal))
    return optuna.load_study(study_name=name, storage=storage).get_trials()


def wait_for(condition, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"gave up waiting: {what}"
        time.sleep(0.1)


def running_on_cluster(journal: Path) -> list[optuna.trial.FrozenTrial]:
    if not journal.exists():
        return []
    try:
        trials = trials_of(journal)
    except KeyError:  # the study is not created yet
        return []
    return [t for t in trials if t.state == TrialState.RUNNING and t.params]


# -- end to end --------------------------------------------------------------------------------


def test_a_study_runs_on_both_workers_with_a_third_party_plugin(start_cluster, tmp_path):
    site = lion_site(tmp_path)
    cluster = start_cluster(env={"PYTHONPATH": str(site)})
    study = write_study(tmp_path, optimizer="lion", n_trials=8, epochs=10)
    journal = tmp_path / "c.journal"
    status, out, err = run_driver(
        [str(study), "--cluster", cluster.scheduler_address, "--storage", str(journal)],
        tmp_path,
        env={"PYTHONPATH": str(site)},
    )
    assert status == 0, err
    trials = trials_of(journal)
    assert len([t for t in trials if t.state in FINISHED]) == 8 == len(trials)
    processes = {t.user_attrs["sweepnp_worker"] for t in trials}
    assert len(processes) == 2  # both workers trained, neither is the driver
    assert all(t.user_attrs["sweepnp_driver"] not in processes for t in trials)
    for trial in trials:  # the learning curve, sent in one request, stored as Optuna's
        assert sorted(trial.intermediate_values) == list(range(10))
        assert "sweepnp_curve_to_store" not in trial.user_attrs
        assert "sweepnp_writes_to_store" not in trial.user_attrs and trial.params
    res = results.load("c", str(journal))
    assert len(res.trials) == 8 and res.trials["epochs"].notna().all()
    curves = res.curves.groupby(["trial", "epoch"])["val_accuracy"].mean()
    for trial in trials:
        stored = [trial.intermediate_values[e] for e in range(10)]
        assert stored == pytest.approx(curves.loc[trial.number].tolist())
    assert "8/8 done" in out + err  # the driver shows the workers' progress


def test_a_file_data_set_the_workers_lack_is_sent_to_them(start_cluster, tmp_path):
    """The data set's relative path exists in the driver's folder, not in the workers': the
    driver prepares it and scatters it once; the workers train on it."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4)).astype(np.float64)
    y = (X[:, 0] > 0).astype(np.int64)
    np.savez(tmp_path / "own.npz", X=X, y=y)
    cluster = start_cluster()
    study = write_study(tmp_path, dataset='{ path = "own.npz" }', n_trials=4, epochs=5)
    status, _, err = run_driver(
        [str(study), "--cluster", cluster.scheduler_address, "--storage", "c.journal"], tmp_path
    )
    assert status == 0, err
    trials = trials_of(tmp_path / "c.journal")
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 4
    assert not (Path.cwd() / "own.npz").exists()  # the workers' folder: they could not read it


# -- faults ------------------------------------------------------------------------------------


def test_a_killed_worker_s_trial_runs_again_elsewhere(start_cluster, tmp_path, cli):
    cluster = start_cluster()
    client = distributed.Client(cluster, set_as_default=False)
    pids = client.run(os.getpid)
    study = write_study(tmp_path, n_trials=6, epochs=400)
    journal = tmp_path / "c.journal"
    process = driver(
        [str(study), "--cluster", cluster.scheduler_address, "--storage", str(journal),
         "--stack", "1", "--quiet"],
        tmp_path,
    )  # fmt: skip
    wait_for(lambda: running_on_cluster(journal), what="a trial training")
    victim = running_on_cluster(journal)[0]
    pid = int(victim.user_attrs["sweepnp_worker"].split(":")[1])
    assert pid in pids.values()
    os.kill(pid, signal.SIGKILL)  # the worker process, mid-trial
    _out, err = process.communicate(timeout=240)
    client.close()
    assert process.returncode == 0, err
    trials = trials_of(journal)
    killed = next(t for t in trials if t.number == victim.number)
    assert killed.state == TrialState.FAIL
    assert killed.user_attrs.get("sweepnp_reason") == "stale"
    assert len([t for t in trials if t.state in FINISHED]) == 6  # exactly n_trials
    retry = next(t for t in trials if t.user_attrs.get("sweepnp_retry_of") == victim.number)
    assert retry.state in FINISHED and retry.params == victim.params
    again = cli("study", "rerun", "c", "--trial", str(retry.number), "--storage", str(journal))
    assert again.returncode == 0 and "identical" in again.stdout, again.stdout + again.stderr


def test_ctrl_c_on_the_driver_stops_the_loops_and_the_resume_command_works(start_cluster, tmp_path):
    cluster = start_cluster()
    study = write_study(tmp_path, n_trials=6, epochs=400)
    journal = tmp_path / "c.journal"
    args = [str(study), "--cluster", cluster.scheduler_address, "--storage", str(journal)]
    process = driver(args, tmp_path)  # stacked (the default): a cancel stops it within an epoch
    wait_for(lambda: running_on_cluster(journal), what="a trial training")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    trials = trials_of(journal)
    assert [t for t in trials if t.state == TrialState.RUNNING] == []
    assert any(t.user_attrs.get("sweepnp_reason") == "interrupted" for t in trials), [
        (t.number, t.state.name, t.user_attrs) for t in trials
    ]
    resume = (out + err).split("Resume with: ", 1)[1].split(" (", 1)[0].strip()
    assert resume.startswith("sweepnp study run") and "--cluster" in resume
    done = subprocess.run(
        [sys.executable, "-m", "sweepnp.cli", *shlex.split(resume)[1:]],
        cwd=tmp_path,
        env={**os.environ, **WORKER_ENV},
        capture_output=True,
        text=True,
        timeout=240,
    )  # the printed command, as printed
    assert done.returncode == 0, done.stderr
    finished = [t for t in trials_of(journal) if t.state in FINISHED]
    assert len(finished) == 6


def test_a_killed_driver_stops_its_loops_and_the_next_run_resumes(start_cluster, tmp_path):
    cluster = start_cluster()
    client = distributed.Client(cluster, set_as_default=False)
    study = write_study(tmp_path, n_trials=6, epochs=400)
    journal = tmp_path / "c.journal"
    args = [str(study), "--cluster", cluster.scheduler_address, "--storage", str(journal)]
    process = driver([*args, "--stack", "1"], tmp_path)
    wait_for(lambda: running_on_cluster(journal), what="a trial training")
    process.kill()
    process.communicate(timeout=30)

    def executing() -> int:
        return sum(client.run(lambda dask_worker: len(dask_worker.state.executing)).values())

    wait_for(lambda: executing() == 0, timeout=30, what="the loops to stop")
    client.close()
    status, _, err = run_driver(args, tmp_path)
    assert status == 0, err
    trials = trials_of(journal)
    assert [t for t in trials if t.state == TrialState.RUNNING] == []
    assert len([t for t in trials if t.state in FINISHED]) == 6
    stale = [t for t in trials if t.user_attrs.get("sweepnp_reason") == "stale"]
    assert stale  # the dead driver's trials, failed by the next run and run again


# -- mistakes ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_scheduler_is_one_line_naming_it(tmp_path):
    study = write_study(tmp_path)
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    status, _out, err = run_driver(
        [str(study), "--cluster", address], tmp_path, env={"SWEEPNP_CLUSTER_TIMEOUT": "2"}
    )
    assert status == 2
    assert time.monotonic() - started < 30
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and address in lines[0] and "--cluster" in lines[0], err
    assert not (tmp_path / "sweepnp.journal").exists() or "c" not in optuna.get_all_study_names(
        BufferedJournalStorage(str(tmp_path / "sweepnp.journal"))
    )


def test_workers_that_differ_are_listed_before_any_trial(start_cluster, tmp_path):
    """The driver has the Lion plugin, the workers not; then workers with another sweepnp."""
    site = lion_site(tmp_path)
    cluster = start_cluster()
    study = write_study(tmp_path, optimizer="lion")
    journal = tmp_path / "c.journal"
    args = [str(study), "--cluster", cluster.scheduler_address, "--storage", str(journal)]
    status, _, err = run_driver(args, tmp_path, env={"PYTHONPATH": str(site)})
    assert status == 2 and "Traceback" not in err
    for worker in cluster.scheduler_info["workers"]:
        assert f"{worker}: no optimizer 'lion'" in err
    assert not journal.exists() or trials_of(journal) == []

    other = tmp_path / "other"
    info = other / "sweepnp-9.9.9.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sweepnp\nVersion: 9.9.9\n")
    older = start_cluster(env={"PYTHONPATH": str(other)})
    plain = write_study(tmp_path, name="d")
    status, _, err = run_driver(
        [str(plain), "--cluster", older.scheduler_address, "--storage", str(journal)], tmp_path
    )
    assert status == 2 and "sweepnp 9.9.9 (here " in err, err


def test_jobs_and_a_cluster_are_refused(tmp_path):
    study = write_study(tmp_path)
    status, _, err = run_driver(
        [str(study), "--cluster", "tcp://127.0.0.1:1", "--jobs", "2"], tmp_path
    )
    assert status == 2 and "--jobs" in err and "Traceback" not in err


@pytest.mark.postgres
def test_postgres_on_a_cluster_prints_no_password(start_cluster, tmp_path, postgres_url):
    cluster = start_cluster()
    study = write_study(tmp_path, n_trials=4, epochs=5)
    status, out, err = run_driver(
        [str(study), "--cluster", cluster.scheduler_address, "--storage", postgres_url], tmp_path
    )
    assert status == 0, err
    password = postgres_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert password and password not in out + err
    study = optuna.load_study(study_name="c", storage=postgres_url)
    assert len([t for t in study.trials if t.state in FINISHED]) == 4
    assert len({t.user_attrs["sweepnp_worker"] for t in study.trials}) == 2


def test_nothing_of_dask_is_imported_without_a_cluster(tmp_path):
    """A study run on this machine, through the command line's whole path (which looks for a
    cluster address), imports no Dask."""
    study = write_study(tmp_path, n_trials=2, epochs=2)
    code = (
        "import sys\n"
        "from sweepnp.cli.app import main\n"
        "try:\n"
        f"    main(['study', 'run', {str(study)!r}, '--storage', 'c.journal', '--quiet'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('distributed', 'dask'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_a_worker_without_sweepnp_is_named(tmp_path):
    """A real worker without sweepnp: Dask's own worker in a fresh virtual environment of the
    same Python, with only ``distributed`` (this suite's version) installed."""
    venv = tmp_path / "bare"
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", f"distributed=={distributed.__version__}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    scheduler = distributed.LocalCluster(
        n_workers=0, processes=True, host="127.0.0.1", dashboard_address=":0"
    )
    worker = subprocess.Popen(
        [python, "-m", "distributed.cli.dask_worker", scheduler.scheduler_address,
         "--nthreads", "1", "--no-dashboard"],
        cwd=tmp_path,  # not this checkout, whose sweepnp folder would be importable from there
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = distributed.Client(scheduler, set_as_default=False)
        client.wait_for_workers(1, timeout=120)
        address = next(iter(client.nthreads()))
        client.close()
        study = write_study(tmp_path)
        status, _, err = run_driver(
            [str(study), "--cluster", scheduler.scheduler_address, "--storage", "c.journal"],
            tmp_path,
        )
        assert status == 2 and "Traceback" not in err, err[-3000:]
        assert f"{address}: sweepnp is not installed" in err, err
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        scheduler.close()


def test_a_grid_on_the_cluster_runs_every_point_once(start_cluster, tmp_path):
    """A trial's parameters and its claimed grid point travel to the driver in one request a
    batch; still every point of the grid runs exactly once."""
    cluster = start_cluster()
    study = write_study(tmp_path, n_trials=6, epochs=5)
    text = study.read_text().replace('sampler = { name = "random", seed = 0 }', 'sampler = "grid"')
    text = text.replace(
        '"optimizer.lr" = { low = 1e-4, high = 1e-2, log = true }',
        '"optimizer.lr" = { choices = [0.0003, 0.001, 0.003] }\n'
        '"train.batch_size" = { choices = [16, 32] }',
    )
    study.write_text(text)
    journal = tmp_path / "c.journal"
    status, _, err = run_driver(
        [str(study), "--cluster", cluster.scheduler_address, "--storage", str(journal)], tmp_path
    )
    assert status == 0, err
    trials = [t for t in trials_of(journal) if t.state in FINISHED]
    points = {(t.params["optimizer.lr"], t.params["train.batch_size"]) for t in trials}
    assert len(trials) == 6 == len(points)
    assert len({t.user_attrs["sweepnp_worker"] for t in trials}) == 2
