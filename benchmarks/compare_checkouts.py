"""Before and after: the training loop of two checkouts of sweepnp, timed alternately.

A change to the trainer or the stack must keep its speed; this times this checkout against
another one (say, a ``git worktree`` of the commit before the change, with its own virtual
environment), each in processes of its own, alternating checkout by checkout, round by round::

    git worktree add ../before HEAD~3
    (cd ../before && python3 -m venv .venv && .venv/bin/pip install -e .)
    python benchmarks/compare_checkouts.py ../before [--rounds 7]

Per round and checkout it runs each checkout's own benchmark workers, with one BLAS thread:

* ``plain`` and ``all-on``: ``bench_train.py``'s sweepnp workloads, ms per epoch of
  ``Trainer.fit`` (100 epochs);
* ``K = 16``: ``bench_stack.py``'s 16 runs in one stack, ms per trial-epoch.

It prints the medians and the minima, and the ratios this / other of each; a ratio above 1 is
slower here. On a shared machine the minimum is the steadier estimate of what the code costs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_train import THREAD_ENV, busy_cpu_seconds, own_cpu_seconds  # noqa: E402

#: Figure → (benchmark file, its worker arguments, how to read ms from its JSON line).
FIGURES = {
    "plain, ms/epoch": (
        "bench_train.py",
        ["--worker", "sweepnp", "--epochs", "100"],
        lambda r: 1000 * r["seconds"] / r["epochs"],
    ),
    "all-on, ms/epoch": (
        "bench_train.py",
        ["--worker", "sweepnp-all-on", "--epochs", "100"],
        lambda r: 1000 * r["seconds"] / r["epochs"],
    ),
    "K = 16, ms/trial-epoch": (
        "bench_stack.py",
        ["--worker-k", "16"],
        lambda r: 1000 * r["stacked"],
    ),
}


def python_of(checkout: Path) -> str:
    """The checkout's own interpreter (its ``.venv``), so each imports its own sweepnp."""
    venv = checkout / ".venv" / "bin" / "python"
    if not venv.exists():
        raise SystemExit(f"{checkout} has no .venv: create one with pip install -e . there")
    return str(venv)


def measure(checkout: Path, figure: str) -> float:
    script, args, read = FIGURES[figure]
    command = [python_of(checkout), str(checkout / "benchmarks" / script), *args]
    done = subprocess.run(
        command, env={**os.environ, **THREAD_ENV}, capture_output=True, text=True, check=True
    )
    return read(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("other", type=Path, help="the other checkout (with its own .venv)")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    this, other = HERE.parent, args.other.resolve()
    times: dict[tuple[str, str], list[float]] = {}
    busy0, own0 = busy_cpu_seconds(), own_cpu_seconds()
    started = time.perf_counter()
    for round_ in range(args.rounds):
        order = [("other", other), ("this", this)]
        if round_ % 2:
            order.reverse()
        for figure in FIGURES:
            for side, checkout in order:
                times.setdefault((side, figure), []).append(measure(checkout, figure))
    wall = time.perf_counter() - started
    busy1 = busy_cpu_seconds()
    print(f"this: {this}\nother: {other}\nrounds: {args.rounds}")
    if busy0 is not None and busy1 is not None:
        others = (busy1 - busy0) - (own_cpu_seconds() - own0)
        print(f"other processes kept {max(0.0, others / wall):.2f} cores busy on average")
    print(f"{'figure':<24} {'':>6} {'other':>9} {'this':>9} {'this/other':>11}")
    for figure in FIGURES:
        for label, pick in (("median", statistics.median), ("min", min)):
            before, after = pick(times[("other", figure)]), pick(times[("this", figure)])
            print(f"{figure:<24} {label:>6} {before:>9.4f} {after:>9.4f} {after / before:>11.3f}")


if __name__ == "__main__":
    main()
