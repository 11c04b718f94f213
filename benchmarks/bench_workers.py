"""Benchmark: many workers on one study, on the journal and on PostgreSQL.

Every contender is whole ``sweepnp study run`` commands in their own processes, with one BLAS
thread each, on a fresh storage; contenders alternate run by run. PostgreSQL is a real server
started here from Debian's binaries (as the test suite starts one, ``tests/postgres_server.py``).

``pg-one``    one worker, a 3-point grid of 150 epochs (breast cancer, hidden [16], SGD): the
              default stack against ``--stack 1``;
``pg-three``  three worker processes, a 9-point grid of 300 epochs: the default against
              ``--stack 1`` (target: the default at least 1.3× faster), and the distinct grid
              points run;
``pg-three-long``  the same with 3000 epochs a trial, where training outweighs start-up;
``jobs``      the quickstart, ``--jobs 2`` against ``--jobs 1`` (target: ≥ 1.6× the trials per
              second, whole command, two cores);
``ceiling``   trivial trials (one epoch of a 30-2-1 network, ``--stack 1``): trials per second
              that the journal and PostgreSQL sustain with 1, 2, 4 and 8 worker processes.

    python benchmarks/bench_workers.py [--parts pg-one pg-three pg-three-long jobs ceiling]
                                       [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

from bench_train import THREAD_ENV, busy_cpu_seconds, own_cpu_seconds  # noqa: E402

GRID = """
[data]
dataset = "breast_cancer"
seed = 0
[model]
task = "binary"
hidden = [{hidden}]
[train]
epochs = {epochs}
batch_size = 32
[optimizer]
name = "sgd"
lr = 0.05
[study]
name = "{name}"
metric = "val_accuracy"
sampler = "grid"
pruner = "none"
n_trials = {points}
[study.params]
"optimizer.lr" = {{ choices = {choices} }}
"""


def grid_file(folder: Path, name: str, points: int, epochs: int, hidden: int = 16) -> Path:
    choices = [round(0.01 * (k + 1), 2) for k in range(points)]
    path = folder / f"{name}.toml"
    path.write_text(
        GRID.format(name=name, points=points, epochs=epochs, hidden=hidden, choices=choices)
    )
    return path


def sweepnp(*args: str) -> list[str]:
    return [sys.executable, "-m", "sweepnp.cli", "study", "run", *args, "--quiet"]


def timed(commands: list[list[str]], cwd: Path) -> float:
    """Start the commands at once; the seconds until the last ends (each must succeed)."""
    env = {**os.environ, **THREAD_ENV}
    started = time.perf_counter()
    processes = [
        subprocess.Popen(c, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for c in commands
    ]
    for process in processes:
        _, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(stderr.decode(errors="replace"))
    return time.perf_counter() - started


def distinct_points(storage: str, name: str) -> int:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    return len({tuple(sorted(t.params.items())) for t in trials if t.state.is_finished()})


def pg_one(server, runs: int) -> None:
    folder = Path(tempfile.mkdtemp())
    file = grid_file(folder, "one", 3, 150)
    times: dict[str, list[float]] = {"default": [], "--stack 1": []}
    for _ in range(runs):
        for label, extra in (("default", []), ("--stack 1", ["--stack", "1"])):
            url = server.new_database()
            times[label].append(timed([sweepnp(str(file), "--storage", url, *extra)], folder))
    report("pg-one: one worker, 3 grid points x 150 epochs (s, whole command)", times)


def pg_three(server, runs: int, epochs: int = 300) -> None:
    folder = Path(tempfile.mkdtemp())
    file = grid_file(folder, "three", 9, epochs)
    times: dict[str, list[float]] = {"default": [], "--stack 1": []}
    points: dict[str, list[int]] = {"default": [], "--stack 1": []}
    for _ in range(runs):
        for label, extra in (("default", []), ("--stack 1", ["--stack", "1"])):
            url = server.new_database()
            command = sweepnp(str(file), "--storage", url, *extra)
            times[label].append(timed([command] * 3, folder))
            points[label].append(distinct_points(url, "three"))
    report(f"pg-three: three workers, 9 grid points x {epochs} epochs (s, until all end)", times)
    print(f"  distinct grid points run (of 9): {points}")
    print(
        f"  default / --stack 1 speed: "
        f"{statistics.median(times['--stack 1']) / statistics.median(times['default']):.2f}x "
        "(target >= 1.3x)"
    )


def jobs(runs: int) -> None:
    folder = Path(tempfile.mkdtemp())
    study = ROOT / "studies" / "quickstart.toml"
    times: dict[str, list[float]] = {"--jobs 1": [], "--jobs 2": []}
    for run in range(runs):
        for label in times:
            journal = folder / f"{label[-1]}-{run}.journal"
            command = sweepnp(str(study), "--storage", str(journal), "--jobs", label[-1])
            times[label].append(timed([command], folder))
    report("jobs: the quickstart, 40 trials (s, whole command)", times)
    ratio = statistics.median(times["--jobs 1"]) / statistics.median(times["--jobs 2"])
    print(f"  --jobs 2 / --jobs 1 trials per second: {ratio:.2f}x (target >= 1.6x)")


def ceiling(server, runs: int) -> None:
    folder = Path(tempfile.mkdtemp())
    file = folder / "trivial.toml"
    file.write_text(
        GRID.format(name="trivial", points=64, epochs=1, hidden=2, choices=[0.01, 0.1])
        .replace('sampler = "grid"', 'sampler = { name = "random", seed = 0 }')
        .replace("choices = [0.01, 0.1]", "low = 0.01, high = 0.1")
    )
    for storage in ("journal", "postgresql"):
        per_workers: dict[str, list[float]] = {}
        for workers in (1, 2, 4, 8):
            rates = []
            for run in range(runs):
                url = (
                    str(folder / f"c{workers}-{run}.journal")
                    if storage == "journal"
                    else server.new_database()
                )
                command = sweepnp(str(file), "--storage", url, "--stack", "1")
                rates.append(64 / timed([command] * workers, folder))
            per_workers[f"{workers} workers"] = rates
        report(f"ceiling, {storage}: trivial trials per second (64 trials)", per_workers)


def report(title: str, times: dict[str, list[float]]) -> None:
    print(title)
    for label, values in times.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {label:<12} median {statistics.median(values):8.2f}   ({shown})")


def main(argv: list[str] | None = None) -> None:
    parts = ("pg-one", "pg-three", "pg-three-long", "jobs", "ceiling")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", choices=parts, default=list(parts))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    from postgres_server import running_postgres

    busy0, own0, started = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
    with running_postgres() as server:
        if "pg-one" in args.parts:
            pg_one(server, args.runs)
        if "pg-three" in args.parts:
            pg_three(server, args.runs)
        if "pg-three-long" in args.parts:
            pg_three(server, args.runs, epochs=3000)
        if "jobs" in args.parts:
            jobs(args.runs)
        if "ceiling" in args.parts:
            ceiling(server, args.runs)
    busy1 = busy_cpu_seconds()
    if busy0 is not None and busy1 is not None:
        others = (busy1 - busy0) - (own_cpu_seconds() - own0)
        wall = time.perf_counter() - started
        print(f"other processes kept {max(0.0, others / wall):.2f} cores busy on average")


if __name__ == "__main__":
    main()
