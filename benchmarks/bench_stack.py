"""Benchmark: stacked trials against one trial at a time (``--stack 1``), side by side.

Three parts, each contender a whole command in its own process, contenders alternating run by
run, every process with one BLAS/OpenMP thread (as ``bench_sweep.py`` and ``bench_train.py``):

``grid``   ``sweepnp study run studies/dropout_rates.toml`` (a grid of 5 dropout rates × 5
           repeats, as the file is) with the default stack against ``--stack 1``: the whole
           command's wall time and the time in the study (first trial's start to last trial's
           end, read back from the journal). Targets: in the study ≥ 5×, whole command ≥ 3×.
``tpe``    ``benchmarks/sweep_brief.toml`` with 100 trials of TPE, for 5 sampler seeds, the
           default against ``--stack 1``, and the Optuna + PyTorch contender of
           ``bench_sweep.py`` (needs ``pip install -e '.[bench]'``). Targets: trials per second
           in the study ≥ 2× ``--stack 1`` with a median best value not worse; the whole command
           ≥ 6× Optuna + PyTorch's trials per second.
``k``      per trial-epoch time of the brief's network for K = 1, 4, 16, 64, 256 stacked runs
           (``sweepnp.run_stack.RunStack``, in-process, one process per K) against one run alone
           (``Trainer.fit``), with the arithmetic limit: the trial-epoch's floating-point
           operations divided by this machine's measured BLAS peak (a 1024² ``dgemm``).

    python benchmarks/bench_stack.py [--parts grid tpe k] [--runs 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

GRID_FILE = HERE.parent / "studies" / "dropout_rates.toml"
TPE_FILE = HERE / "sweep_brief.toml"
TPE_TRIALS = 100
SEEDS = (0, 1, 2, 3, 4)
KS = (1, 4, 16, 64, 256)
K_EPOCHS = 30
TARGETS = {"grid_in_study": 5.0, "grid_command": 3.0, "tpe_in_study": 2.0, "torch_command": 6.0}


# -------------------------------------------------------------------------
# Studies: whole commands
# -------------------------------------------------------------------------


def _study_file(source: Path, folder: Path, seed: int | None = None) -> Path:
    """A copy of a study file (with another sampler seed) in ``folder``."""
    text = source.read_text()
    if seed is not None:
        old = 'sampler = { name = "tpe", seed = 0 }'
        assert old in text
        text = text.replace(old, f'sampler = {{ name = "tpe", seed = {seed} }}')
    path = folder / source.name
    path.write_text(text)
    return path


def _sweepnp_run(study: Path, stack: str | None, trials: int | None) -> dict[str, Any]:
    from bench_sweep import sweepnp_command, timed_command

    from sweepnp.results import load

    name = tomllib.loads(study.read_text())["study"]["name"]
    with tempfile.TemporaryDirectory(prefix="bench_stack_") as tmp:
        journal = Path(tmp) / "s.journal"
        command = [*sweepnp_command(), "study", "run", str(study), "--storage", str(journal)]
        command += ["--quiet"] + (["--stack", stack] if stack else [])
        command += ["--n-trials", str(trials)] if trials else []
        timing = timed_command(command)
        table = load(name, str(journal)).trials
    done = table[table["state"].isin(["complete", "pruned"])]
    in_study = (table["datetime_complete"].max() - table["datetime_start"].min()).total_seconds()
    complete = table[table["state"] == "complete"]
    timing.pop("stdout")
    return {
        **timing,
        "in_study": in_study,
        "trials": len(done),
        "best": float(complete["value"].max()),
        "epochs": int(table["epochs"].sum()),
    }


def grid_part(runs: int) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {"default": [], "stack 1": []}
    for _ in range(runs):
        for contender, stack in (("default", None), ("stack 1", "1")):
            results[contender].append(_sweepnp_run(GRID_FILE, stack, None))
    summary = {c: _medians(r) for c, r in results.items()}
    return {
        "runs": results,
        "summary": summary,
        "ratios": {
            "in_study": summary["stack 1"]["in_study"] / summary["default"]["in_study"],
            "command": summary["stack 1"]["wall"] / summary["default"]["wall"],
        },
    }


def tpe_part(runs: int) -> dict[str, Any]:
    from bench_sweep import (
        baseline_figures,
        contender_command,
        timed_command,
        torch_available,
        write_data,
    )

    results: dict[str, list[dict[str, Any]]] = {"default": [], "stack 1": [], "optuna-torch": []}
    with tempfile.TemporaryDirectory(prefix="bench_stack_tpe_") as tmp:
        folder = Path(tmp)
        data = folder / "data.npz"
        write_data(data)
        for run in range(runs):
            for seed in SEEDS:
                study = _study_file(TPE_FILE, folder, seed)
                for contender, stack in (("default", None), ("stack 1", "1")):
                    figures = _sweepnp_run(study, stack, TPE_TRIALS)
                    results[contender].append({**figures, "seed": seed, "run": run})
            if torch_available():
                journal = folder / f"torch{run}.journal"
                timing = timed_command(contender_command("optuna-torch", TPE_TRIALS, journal, data))
                worker = json.loads(timing.pop("stdout").strip().splitlines()[-1])
                figures = baseline_figures(journal, worker["study_name"])
                results["optuna-torch"].append({**timing, **figures})
    summary = {c: _medians(r) for c, r in results.items() if r}
    best = {c: statistics.median(r["best"] for r in results[c]) for c in ("default", "stack 1")}
    ratios = {
        "in_study": (TPE_TRIALS / summary["default"]["in_study"])
        / (TPE_TRIALS / summary["stack 1"]["in_study"]),
    }
    if "optuna-torch" in summary:
        ratios["torch_command"] = summary["optuna-torch"]["wall"] / summary["default"]["wall"]
    return {"runs": results, "summary": summary, "median_best": best, "ratios": ratios}


def _medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("wall", "in_study", "cpu", "background_cores", "epochs", "best")
    present = [k for k in keys if runs[0].get(k) is not None]
    return {k: statistics.median(r[k] for r in runs if k in r) for k in present}


# -------------------------------------------------------------------------
# K: one stack in one process
# -------------------------------------------------------------------------


def _brief_run(seed: int) -> dict[str, Any]:
    from sweepnp.config import set_path

    study = tomllib.loads(TPE_FILE.read_text())
    run = {k: v for k, v in study.items() if k != "study"}
    run = copy.deepcopy(run)
    set_path(run, "train.epochs", K_EPOCHS)
    set_path(run, "train.seed", seed)
    # never stops early (patience above the epochs), still tracks and restores the best epoch
    set_path(run, "callbacks.early_stopping.patience", 10 * K_EPOCHS)
    set_path(run, "optimizer.lr", 0.02 + 0.0001 * seed)
    # every split every epoch, as _flops_per_trial_epoch counts (and as before issue 19)
    set_path(run, "train.evaluate.test", "every_epoch")
    return run


def k_worker(k: int) -> dict[str, Any]:
    """Seconds per trial-epoch of K runs in one stack (K = 1 also alone), in this process."""
    from sweepnp.config import validate
    from sweepnp.plugins import get_plugin_manager
    from sweepnp.run_stack import RunStack
    from sweepnp.trainer import Trainer, load_data

    pm = get_plugin_manager()
    configs = [validate(_brief_run(seed)) for seed in range(k)]
    data = load_data(configs[0], pm)
    out: dict[str, Any] = {"k": k}
    if k == 1:
        Trainer(configs[0], plugin_manager=pm, data=data).fit()  # warm up
        started = time.perf_counter()
        Trainer(configs[0], plugin_manager=pm, data=data).fit()
        out["alone"] = (time.perf_counter() - started) / K_EPOCHS
    stack = RunStack(k, pm)
    for i, config in enumerate(configs):
        stack.add(Trainer(config, plugin_manager=pm, data=data), i)
    stack.run_epoch()  # lays the stack out
    started = time.perf_counter()
    epochs = 0
    while len(stack):
        stack.run_epoch()
        epochs += 1
    out["stacked"] = (time.perf_counter() - started) / (epochs * k)
    out["flops"] = _flops_per_trial_epoch(data)
    return out


def _flops_per_trial_epoch(data: Any) -> float:
    """Multiply-adds ×2 of one trial-epoch of the 30-16-1 network: forward, backward (weight
    and hidden-input gradients) on the training rows, one forward on every split."""
    sizes = [(data.n_features, 16), (16, 1)]
    forward = sum(2 * a * b for a, b in sizes)
    backward = 2 * forward - 2 * sizes[0][0] * sizes[0][1]  # no gradient for the inputs
    train = len(data.X_train) * (forward + backward)
    evaluated = sum(len(X) for X, _ in data.splits().values()) * forward
    return float(train + evaluated)


def blas_peak() -> float:
    """FLOP/s of one thread's ``dgemm`` on 1024 × 1024 matrices (best of 5)."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((1024, 1024))
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - started)
    return 2 * 1024**3 / best


def k_part(runs: int) -> dict[str, Any]:
    from bench_train import THREAD_ENV

    env = {**os.environ, **THREAD_ENV}
    measured: dict[int, list[dict[str, Any]]] = {k: [] for k in KS}
    for _ in range(runs):
        for k in KS:
            command = [sys.executable, str(Path(__file__).resolve()), "--worker-k", str(k)]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            measured[k].append(json.loads(done.stdout.strip().splitlines()[-1]))
    peak = json.loads(
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--worker-peak"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout
    )["peak"]  # fmt: skip
    alone = statistics.median(r["alone"] for r in measured[1])
    rows = []
    for k in KS:
        per = statistics.median(r["stacked"] for r in measured[k])
        rows.append({"k": k, "ms": per * 1e3, "speedup": alone / per})
    flops = measured[1][0]["flops"]
    return {
        "alone_ms": alone * 1e3,
        "rows": rows,
        "flops_per_trial_epoch": flops,
        "blas_peak_gflops": peak / 1e9,
        "limit_ms": flops / peak * 1e3,
    }


# -------------------------------------------------------------------------
# The report
# -------------------------------------------------------------------------


def report(data: dict[str, Any]) -> None:
    print(f"sweepnp stacked trials  {data['date']}  at {data['commit']}  ({data['machine']})")
    verdicts = []
    if "grid" in data:
        g = data["grid"]
        print("\ngrid × repeats: studies/dropout_rates.toml (medians)")
        for c, s in g["summary"].items():
            print(f"  {c:8s} command {s['wall']:7.2f} s   in study {s['in_study']:7.2f} s")
        r = g["ratios"]
        verdicts += [
            ("grid: in study, default vs --stack 1", r["in_study"], "grid_in_study"),
            ("grid: whole command, default vs --stack 1", r["command"], "grid_command"),
        ]
    if "tpe" in data:
        t = data["tpe"]
        print(f"\nTPE, {TPE_TRIALS} trials, seeds {list(SEEDS)} (medians)")
        for c, s in t["summary"].items():
            print(
                f"  {c:13s} command {s['wall']:7.2f} s ({TPE_TRIALS / s['wall']:6.2f} trials/s)"
                f"   in study {s['in_study']:7.2f} s ({TPE_TRIALS / s['in_study']:6.2f} trials/s)"
            )
        print(f"  median best: {t['median_best']}")
        ratios = t["ratios"]
        verdicts.append(
            ("TPE: trials/s in study, default vs --stack 1", ratios["in_study"], "tpe_in_study")
        )
        if "torch_command" in ratios:
            verdicts.append(
                ("TPE: whole command vs Optuna + PyTorch", ratios["torch_command"], "torch_command")
            )
        better = t["median_best"]["default"] >= t["median_best"]["stack 1"]
        print(f"  best value not worse: {'PASS' if better else 'FAIL'}")
    if "k" in data:
        k = data["k"]
        print(f"\nper trial-epoch, 30-16-1 network ({k['flops_per_trial_epoch'] / 1e6:.2f} MFLOP)")
        print(f"  alone (Trainer.fit)  {k['alone_ms']:.4f} ms")
        for row in k["rows"]:
            print(f"  K = {row['k']:3d}            {row['ms']:.4f} ms  ({row['speedup']:.2f}x)")
        print(
            f"  arithmetic limit     {k['limit_ms']:.4f} ms  "
            f"(BLAS peak {k['blas_peak_gflops']:.1f} GFLOP/s, one thread)"
        )
    if verdicts:
        print()
        for what, value, key in verdicts:
            target = TARGETS[key]
            verdict = "PASS" if value >= target else "FAIL"
            print(f"  {what}: {value:.2f} (target >= {target}): {verdict}")
    data["verdicts"] = {key: value >= TARGETS[key] for _, value, key in verdicts}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parts = ("grid", "tpe", "k")
    parser.add_argument("--parts", nargs="+", choices=parts, default=list(parts))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--worker-k", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-peak", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker_k:
        print(json.dumps(k_worker(args.worker_k)))
        return
    if args.worker_peak:
        print(json.dumps({"peak": blas_peak()}))
        return
    from bench_train import machine_info

    info = machine_info()
    data: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": info.get("git") or "?",
        "machine": f"{info['cpu_model']}, {info['cores']} cores, {info['platform']}",
        "machine_info": info,
    }
    for part in args.parts:
        data[part] = {"grid": grid_part, "tpe": tpe_part, "k": k_part}[part](args.runs)
    report(data)
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2, default=str))


if __name__ == "__main__":
    main()
