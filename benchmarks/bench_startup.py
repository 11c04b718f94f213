"""Start-up benchmark: ``sweepnp study run`` of a one-trial, one-epoch study against
``python -c "import optuna"``.

One command::

    python benchmarks/bench_startup.py [--runs 7] [--json FILE] [--importtime]

runs, alternately and each in a fresh process, ``python -c "import optuna"`` and
``sweepnp study run benchmarks/startup.toml --storage <fresh journal> --quiet`` (the sweep
benchmark's study cut to one trial of one epoch), and prints the median wall time of each, their
ratio and the issue's target (≤ 3). Every process has one BLAS/OpenMP thread; how many cores other
processes kept busy is measured as in ``bench_train.py``. ``--importtime`` also runs the command
once with ``python -X importtime`` and lists the slowest top-level imports.

Python caches compiled modules (``__pycache__``): installed packages such as Optuna come with
theirs, and an editable sweepnp writes its own on first import. The children run without
``PYTHONDONTWRITEBYTECODE``, so that sweepnp's are written by a first, untimed run and used after,
as on a user's machine (with the variable set and no cache yet, every process compiles sweepnp's
modules from source, about 0.1 s more).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# The background load and the threads, measured and set as bench_train.py does.
from bench_train import THREAD_ENV, busy_cpu_seconds, own_cpu_seconds  # noqa: E402

STUDY_FILE = HERE / "startup.toml"
TARGET = 3.0
CONTENDERS = ("import-optuna", "sweepnp-study-run")


def command(name: str, folder: Path, run: int) -> list[str]:
    if name == "import-optuna":
        return [sys.executable, "-c", "import optuna"]
    script = Path(sys.executable).with_name("sweepnp")
    if not script.exists():
        raise SystemExit(f"no sweepnp command next to {sys.executable}: pip install -e .")
    storage = folder / f"run{run}.journal"  # a fresh journal for every run
    return [str(script), "study", "run", str(STUDY_FILE), "--storage", str(storage), "--quiet"]


def child_env() -> dict[str, str]:
    env = {**os.environ, **THREAD_ENV}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Wall time, CPU time and the cores other processes kept busy meanwhile."""
    busy0, own0 = busy_cpu_seconds(), own_cpu_seconds()
    wall0 = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - wall0
    busy1, own1 = busy_cpu_seconds(), own_cpu_seconds()
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr}{done.stdout}")
    result: dict[str, Any] = {"wall": wall, "cpu": own1 - own0}
    if busy0 is not None and busy1 is not None:
        result["background_cores"] = max(0.0, ((busy1 - busy0) - (own1 - own0)) / wall)
    return result


def importtime(folder: Path, env: dict[str, str], top: int = 15) -> list[tuple[float, str]]:
    """The slowest imports of one ``sweepnp study run`` (cumulative seconds, module)."""
    argv = command("sweepnp-study-run", folder, 999)
    code = "import sys; from sweepnp.cli import main; sys.argv[0] = 'sweepnp'; main()"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *argv[1:]],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, module = line.split(":", 1)[1].split("|")
        # importtime indents a module two spaces per level below the import that pulled it in.
        if not module.removeprefix(" ").startswith(" "):
            rows.append((int(cumulative) / 1e6, module.strip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per contender (default 7)")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON")
    parser.add_argument("--importtime", action="store_true", help="list the slowest imports")
    args = parser.parse_args()
    env = child_env()

    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    with tempfile.TemporaryDirectory(prefix="sweepnp-startup-") as tmp:
        folder = Path(tmp)
        # One untimed run first: the file cache, and sweepnp's bytecode cache.
        timed(command("sweepnp-study-run", folder, -1), folder, env)
        for run in range(args.runs):
            for name in CONTENDERS:
                runs[name].append(timed(command(name, folder, run), folder, env))
        slowest = importtime(folder, env) if args.importtime else []

    medians = {name: statistics.median(r["wall"] for r in runs[name]) for name in CONTENDERS}
    ratio = medians["sweepnp-study-run"] / medians["import-optuna"]
    every = [r for name in CONTENDERS for r in runs[name]]
    background = [r["background_cores"] for r in every if "background_cores" in r]
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {args.runs} runs each, alternating")
    for name in CONTENDERS:
        walls = [r["wall"] for r in runs[name]]
        cpu = statistics.median(r["cpu"] for r in runs[name])
        print(
            f"  {name:<18} median {medians[name]:.3f} s (min {min(walls):.3f}, "
            f"max {max(walls):.3f}), CPU median {cpu:.3f} s"
        )
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(f"  ratio of medians   {ratio:.2f} (target <= {TARGET:g}): {verdict}")
    if background:
        print(
            f"  other processes kept {statistics.mean(background):.2f} cores busy on average "
            f"(max {max(background):.2f}) of {os.cpu_count()}"
        )
    if slowest:
        print("  slowest top-level imports of the command (cumulative s):")
        for seconds, module in slowest:
            print(f"    {seconds:6.3f}  {module}")
    if args.json:
        figures = {"runs": runs, "medians": medians, "ratio": ratio, "importtime": slowest}
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
