"""Probe: what Optuna itself costs per trial for the sweep benchmark's search, with no training.

Not a contender, a floor: every contender of ``bench_sweep.py`` (sweepnp, Optuna + PyTorch,
Optuna + MLPClassifier) pays at least this per trial. A TPE sampler (seed 0) suggests the brief's
four parameters — batch size, λ, dropout rate, patience — for a trivial objective, on Optuna's
journal file storage (what the hand-written contenders use) and in memory; optionally with one
``trial.report`` + ``should_prune`` (median pruner) per epoch for ``--reports`` epochs.

    python benchmarks/probe_optuna_floor.py [--trials 50] [--runs 5] [--reports 0]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend


def one_study(trials: int, reports: int, storage: optuna.storages.BaseStorage | None) -> float:
    """Milliseconds per trial of one study."""

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_categorical("batch_size", [16, 32, 64, 128])
        lam = trial.suggest_float("lam", 1e-5, 1e-1, log=True)
        rate = trial.suggest_float("dropout", 0.0, 0.7)
        trial.suggest_int("patience", 2, 20)
        for epoch in range(reports):
            trial.report(rate + lam * epoch, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return rate + lam

    study = optuna.create_study(
        storage=storage,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_warmup_steps=5),
    )
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return (time.perf_counter() - started) / trials * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reports", type=int, default=0, help="reports per trial (epochs)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results: dict[str, list[float]] = {"journal file": [], "in memory": []}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            journal = JournalStorage(JournalFileBackend(str(Path(tmp) / "floor.journal")))
            results["journal file"].append(one_study(args.trials, args.reports, journal))
        results["in memory"].append(one_study(args.trials, args.reports, None))
    print(f"{args.trials} trials, TPE over 4 parameters, {args.reports} reports per trial")
    for name, values in results.items():
        print(
            f"{name:>12}: median {statistics.median(values):.2f} ms per trial "
            f"(min {min(values):.2f}, max {max(values):.2f}, {len(values)} runs)"
        )


if __name__ == "__main__":
    main()
