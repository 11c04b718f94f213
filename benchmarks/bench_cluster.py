"""Benchmark: a study on a two-worker Dask cluster against ``--jobs 2``, whole commands.

The cluster is a ``distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1)``
on loopback, started once before the runs (a user's cluster is running already); each run is a
whole ``sweepnp study run`` command on a fresh journal, one BLAS thread per process, the
contenders alternating run by run:

``quickstart``  ``studies/quickstart.toml`` (40 trials): ``--cluster`` against ``--jobs 2``,
                trials per second of the whole command (target: the cluster ≥ 0.85× ``--jobs 2``);
``long``        16 trials of 300 epochs (breast cancer, hidden [16], Adam, no pruning);
``longer``      the same with 5000 epochs a trial: where training outweighs the cluster's fixed
                cost and its per-trial round trips;
``overhead``    200 trivial trials (one epoch of a 30-2-1 network, ``--stack 1``): the cluster
                path's time per trial over ``--jobs 2``'s — the driver's proxy, the gRPC calls
                and Dask's lock for every ask and tell.

    python benchmarks/bench_cluster.py [--runs 3] [--parts quickstart long longer overhead]
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

from bench_train import THREAD_ENV  # noqa: E402

TRIVIAL = """
[data]
dataset = "breast_cancer"
seed = 0
[model]
task = "binary"
hidden = [2]
[train]
epochs = 1
batch_size = 64
[optimizer]
name = "sgd"
lr = 0.05
[study]
name = "trivial"
metric = "val_accuracy"
n_trials = {trials}
sampler = {{ name = "random", seed = 0 }}
[study.params]
"optimizer.lr" = {{ low = 0.001, high = 0.1, log = true }}
"""


LONG = """
[data]
dataset = "breast_cancer"
seed = 0
[model]
task = "binary"
hidden = [16]
[train]
epochs = 300
batch_size = 32
[optimizer]
name = "adam"
lr = 0.001
[study]
name = "long"
metric = "val_accuracy"
n_trials = 16
sampler = { name = "random", seed = 0 }
[study.params]
"optimizer.lr" = { low = 0.0001, high = 0.01, log = true }
"""


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=cwd, env={**os.environ, **THREAD_ENV}, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parts", nargs="+", default=["quickstart", "long", "longer", "overhead"])
    parser.add_argument("--trivial-trials", type=int, default=200)
    args = parser.parse_args(argv)

    import distributed

    os.environ.update(THREAD_ENV)  # the workers inherit it
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    )
    address = cluster.scheduler_address
    work = Path(tempfile.mkdtemp())
    trivial = work / "trivial.toml"
    trivial.write_text(TRIVIAL.format(trials=args.trivial_trials))
    long = work / "long.toml"
    long.write_text(LONG)
    longer = work / "longer.toml"
    longer.write_text(LONG.replace("epochs = 300", "epochs = 5000").replace('"long"', '"longer"'))
    studies = {"quickstart": (ROOT / "studies" / "quickstart.toml", 40, []),
               "long": (long, 16, []),
               "longer": (longer, 16, []),
               "overhead": (trivial, args.trivial_trials, ["--stack", "1"])}  # fmt: skip
    sweepnp = [sys.executable, "-m", "sweepnp.cli", "study", "run"]
    try:
        for part in args.parts:
            file, trials, extra = studies[part]
            seconds: dict[str, list[float]] = {"cluster": [], "jobs2": []}
            for run in range(args.runs):
                order = ["cluster", "jobs2"] if run % 2 == 0 else ["jobs2", "cluster"]
                for contender in order:
                    flags = ["--cluster", address] if contender == "cluster" else ["--jobs", "2"]
                    journal = work / f"{part}-{contender}-{run}.journal"
                    command = [*sweepnp, str(file), "--storage", str(journal), "--quiet"]
                    seconds[contender].append(timed([*command, *extra, *flags], work))
            cluster_s = statistics.median(seconds["cluster"])
            jobs_s = statistics.median(seconds["jobs2"])
            print(f"{part}: {trials} trials, medians of {args.runs} (all runs in parentheses)")
            for name, values in seconds.items():
                shown = ", ".join(f"{v:.2f}" for v in values)
                print(
                    f"  {name:8s} {statistics.median(values):6.2f} s  "
                    f"{trials / statistics.median(values):6.1f} trials/s  ({shown})"
                )
            ratio = jobs_s / cluster_s
            print(f"  cluster / --jobs 2, trials per second: {ratio:.2f}x (target >= 0.85x)")
            if part == "overhead":
                per_trial = (cluster_s - jobs_s) / trials * 1000
                print(f"  the cluster path's time per trial over --jobs 2: {per_trial:+.1f} ms")
    finally:
        cluster.close()
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
