"""Sweep benchmark: a sweepnp study against Optuna + PyTorch and Optuna + MLPClassifier.

One command::

    python benchmarks/bench_sweep.py [--trials 50] [--runs 3] [--json FILE]
    python benchmarks/bench_sweep.py --overhead [--trials 100] [--runs 3] [--json FILE]

The study (``benchmarks/sweep_brief.toml``): breast cancer, a 30-16-1 ReLU network, SGD (lr 0.05),
at most 100 epochs, early stopping on the validation loss (restoring the best epoch), searched
over batch size, L2 λ, dropout rate and patience by TPE (seed 0) with the median pruner (5 warm-up
epochs), maximizing the validation accuracy. Four contenders, each run as one command in its own
process, alternating run by run, each on a fresh journal file in a temporary folder:

* ``sweepnp-j1`` / ``sweepnp-j2``: ``sweepnp study run sweep_brief.toml --jobs 1`` / ``--jobs 2``;
* ``optuna-torch``: what a user writes with Optuna and PyTorch on the CPU (``--worker torch``);
* ``optuna-mlp``: what a user writes with Optuna and scikit-learn's ``MLPClassifier``
  (``--worker mlp``).

The parent times each whole command (what a user waits for, start-up included) and reads the
trials back from the journal for the time inside the study (first trial start to last trial
end), the best validation accuracy and the epochs trained. It prints trials per second, the
ratios the issue asks for and their targets.

``--overhead`` measures the study driver instead: a 100-trial ``sweepnp`` study on the default
storage kind (a journal file) against the sum of its trials' own training time, then the same
study in one process with timers around the driver's steps and under ``cProfile``, to say where
the time outside training goes.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import importlib.util
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
STUDY_FILE = HERE / "sweep_brief.toml"
STUDY_NAME = "bench"  # [study] name in sweep_brief.toml

#: Contenders, in the order they run within one round.
CONTENDERS = ("sweepnp-j1", "sweepnp-j2", "optuna-torch", "optuna-mlp")
BASELINES = ("optuna-torch", "optuna-mlp")
#: Cores each contender keeps busy (for the background-load warning).
CORES_USED = {"sweepnp-j1": 1, "sweepnp-j2": 2, "optuna-torch": 1, "optuna-mlp": 1}
#: (label, contender, target): sweepnp's trials/s over the better baseline's.
SPEED_TARGETS = (
    ("sweepnp-j1 / best baseline", "sweepnp-j1", 3.0),
    ("sweepnp-j2 / best baseline", "sweepnp-j2", 5.0),
)
#: Study wall time over the sum of the trials' training time, for --overhead.
OVERHEAD_TARGET = 1.3

# The brief's study, for the hand-written contenders (sweepnp reads it from sweep_brief.toml).
HIDDEN, LR, MAX_EPOCHS, INIT_STD = 16, 0.05, 100, 0.01
BATCH_SIZES = (16, 32, 64, 128)
LAM_RANGE = (1e-5, 1e-1)  # log-uniform
DROPOUT_RANGE = (0.0, 0.7)
PATIENCE_RANGE = (2, 20)
TPE_SEED, N_WARMUP_STEPS = 0, 5


INSTALL_HINT = "pip install -e '.[bench]'"


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


# -------------------------------------------------------------------------
# Data: sweepnp's own split, saved once and loaded by the hand-written contenders
# -------------------------------------------------------------------------


def write_data(path: Path) -> dict[str, int]:
    """Split and scale the data exactly as the study does and save the arrays as ``.npz``.

    ``sweepnp.trainer.load_data`` on the study's base run file: stratified splits of all 569
    rows, 20% test and 20% validation (seed 42), standardized with the training rows' mean and
    std. The hand-written contenders load these arrays, so every contender trains and is judged
    on the very same rows.
    """
    import numpy as np

    from sweepnp.config import load_file, parse
    from sweepnp.trainer import load_data

    raw = load_file(STUDY_FILE)
    config = parse({k: v for k, v in raw.items() if k != "study"})
    splits = load_data(config)
    np.savez(
        path,
        X_train=splits.X_train,
        y_train=splits.y_train.reshape(-1),
        X_val=splits.X_val,
        y_val=splits.y_val.reshape(-1),
    )
    return {"train": len(splits.X_train), "val": len(splits.X_val), "test": len(splits.X_test)}


# -------------------------------------------------------------------------
# Contender: Optuna + PyTorch on the CPU, as a user would write it
# -------------------------------------------------------------------------


def run_torch(trials: int, storage: str, data: str) -> dict[str, Any]:
    """A 50-trial Optuna study of a PyTorch network: one ``trial.report`` per epoch."""
    import copy

    import numpy as np
    import optuna
    import torch
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from torch import nn

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    arrays = np.load(data)
    X_train = torch.tensor(arrays["X_train"], dtype=torch.float32)
    y_train = torch.tensor(arrays["y_train"], dtype=torch.float32).reshape(-1, 1)
    X_val = torch.tensor(arrays["X_val"], dtype=torch.float32)
    y_val = torch.tensor(arrays["y_val"], dtype=torch.float32).reshape(-1, 1)
    n = len(X_train)
    epochs_trained = []

    def objective(trial: optuna.Trial) -> float:
        batch_size = trial.suggest_categorical("batch_size", list(BATCH_SIZES))
        lam = trial.suggest_float("lam", *LAM_RANGE, log=True)
        rate = trial.suggest_float("dropout", *DROPOUT_RANGE)
        patience = trial.suggest_int("patience", *PATIENCE_RANGE)

        torch.manual_seed(trial.number)
        model = nn.Sequential(
            nn.Linear(X_train.shape[1], HIDDEN), nn.ReLU(), nn.Dropout(rate), nn.Linear(HIDDEN, 1)
        )
        for layer in (model[0], model[3]):  # the study's initialization: N(0, 0.01²), zero bias
            nn.init.normal_(layer.weight, std=INIT_STD)
            nn.init.zeros_(layer.bias)
        loss_fn = nn.BCEWithLogitsLoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=LR, weight_decay=lam)

        best_loss, best_state, wait = float("inf"), None, 0
        for epoch in range(MAX_EPOCHS):
            model.train()
            order = torch.randperm(n)
            for start in range(0, n, batch_size):
                index = order[start : start + batch_size]
                optimizer.zero_grad()
                loss = loss_fn(model(X_train[index]), y_train[index])
                loss.backward()
                optimizer.step()

            model.eval()
            with torch.no_grad():
                logits = model(X_val)
                val_loss = loss_fn(logits, y_val).item()
                val_acc = ((logits > 0).float() == y_val).float().mean().item()
            trial.report(val_acc, epoch)
            if trial.should_prune():
                epochs_trained.append(epoch + 1)
                raise optuna.TrialPruned()
            if val_loss < best_loss:  # early stopping on the validation loss
                best_loss, best_state, wait = val_loss, copy.deepcopy(model.state_dict()), 0
            else:
                wait += 1
                if wait >= patience:
                    break
        epochs_trained.append(epoch + 1)

        if best_state is not None:  # restore the best epoch, then score it
            model.load_state_dict(best_state)
        model.eval()
        with torch.no_grad():
            return ((model(X_val) > 0).float() == y_val).float().mean().item()

    study = optuna.create_study(
        study_name="bench-torch",
        storage=JournalStorage(JournalFileBackend(storage)),
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=TPE_SEED),
        pruner=optuna.pruners.MedianPruner(n_warmup_steps=N_WARMUP_STEPS),
    )
    study.optimize(objective, n_trials=trials)
    return {
        "study_name": study.study_name,
        "epochs": sum(epochs_trained),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


# -------------------------------------------------------------------------
# Contender: Optuna + scikit-learn's MLPClassifier, as a user would write it
# -------------------------------------------------------------------------


def run_mlp(trials: int, storage: str, data: str) -> dict[str, Any]:
    """A 50-trial Optuna study of ``MLPClassifier``: no dropout, its own early stopping."""
    import warnings

    import numpy as np
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    arrays = np.load(data)
    X_train, y_train = arrays["X_train"], arrays["y_train"].astype(int)
    X_val, y_val = arrays["X_val"], arrays["y_val"].astype(int)
    epochs_trained = []

    def objective(trial: optuna.Trial) -> float:
        batch_size = trial.suggest_categorical("batch_size", list(BATCH_SIZES))
        alpha = trial.suggest_float("alpha", *LAM_RANGE, log=True)
        patience = trial.suggest_int("patience", *PATIENCE_RANGE)
        mlp = MLPClassifier(
            hidden_layer_sizes=(HIDDEN,),
            activation="relu",
            solver="sgd",
            learning_rate_init=LR,
            learning_rate="constant",
            momentum=0.0,
            nesterovs_momentum=False,
            alpha=alpha,
            batch_size=batch_size,
            max_iter=MAX_EPOCHS,
            early_stopping=True,  # holds out validation_fraction of the training rows itself
            validation_fraction=0.1,
            n_iter_no_change=patience,
            random_state=trial.number,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp.fit(X_train, y_train)
        epochs_trained.append(mlp.n_iter_)
        return float(mlp.score(X_val, y_val))

    study = optuna.create_study(
        study_name="bench-mlp",
        storage=JournalStorage(JournalFileBackend(storage)),
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=TPE_SEED),
        pruner=optuna.pruners.NopPruner(),  # fit() has no per-epoch hook to report from
    )
    study.optimize(objective, n_trials=trials)
    return {"study_name": study.study_name, "epochs": sum(epochs_trained)}


def worker_main(name: str, trials: int, storage: str, data: str | None) -> None:
    """Run one hand-written contender (or an overhead probe) and print one JSON line."""
    if name == "torch":
        assert data is not None
        result = run_torch(trials, storage, data)
    elif name == "mlp":
        assert data is not None
        result = run_mlp(trials, storage, data)
    elif name == "overhead-timers":
        result = overhead_timers(trials, storage)
    elif name == "overhead-profile":
        result = overhead_profile(trials, storage)
    else:
        raise SystemExit(f"unknown worker {name!r}")
    if name in ("torch", "mlp"):
        from threadpoolctl import threadpool_info

        result["threads"] = {p["internal_api"]: p["num_threads"] for p in threadpool_info()}
    print(json.dumps(result))


# -------------------------------------------------------------------------
# The parent: run each contender as one command, read its journal back
# -------------------------------------------------------------------------


def sweepnp_command() -> list[str]:
    """The ``sweepnp`` console script next to this interpreter, as a user runs it."""
    script = Path(sys.executable).with_name("sweepnp")
    if not script.exists():
        raise SystemExit(f"no sweepnp command next to {sys.executable}: pip install -e .")
    return [str(script)]


def contender_command(name: str, trials: int, storage: Path, data: Path) -> list[str]:
    if name.startswith("sweepnp-j"):
        jobs = name.removeprefix("sweepnp-j")
        return [
            *sweepnp_command(),
            *("study", "run", str(STUDY_FILE), "--storage", str(storage), "--quiet"),
            *("--n-trials", str(trials), "--jobs", jobs),
        ]
    worker = {"optuna-torch": "torch", "optuna-mlp": "mlp"}[name]
    return [
        *(sys.executable, str(Path(__file__).resolve()), "--worker", worker),
        *("--trials", str(trials), "--storage", str(storage), "--data", str(data)),
    ]


def timed_command(command: list[str], cwd: str | None = None) -> dict[str, Any]:
    """Run a command with one BLAS/OpenMP thread per process; wall clock, CPU and background.

    The background load is how bench_train.py measures it: machine-wide busy CPU time from
    ``/proc/stat`` minus this benchmark's own (its children included), over the wall time.
    """
    from bench_train import THREAD_ENV, busy_cpu_seconds, own_cpu_seconds

    env = {**os.environ, **THREAD_ENV}
    busy0, own0 = busy_cpu_seconds(), own_cpu_seconds()
    wall0 = time.perf_counter()
    completed = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    wall1, busy1, own1 = time.perf_counter(), busy_cpu_seconds(), own_cpu_seconds()
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr}{completed.stdout}")
    result: dict[str, Any] = {"wall": wall1 - wall0, "cpu": own1 - own0, "stdout": completed.stdout}
    if busy0 is not None and busy1 is not None:
        others = (busy1 - busy0) - (own1 - own0)
        result["background_cores"] = max(0.0, others / (wall1 - wall0))
    return result


def journal_trials(storage: Path, study_name: str) -> list[Any]:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    handle = JournalStorage(JournalFileBackend(str(storage)))
    return optuna.load_study(study_name=study_name, storage=handle).get_trials(deepcopy=False)


def study_window(starts: list[Any], ends: list[Any]) -> float:
    """Seconds from the first trial's start to the last trial's end."""
    return (max(ends) - min(starts)).total_seconds()


def sweepnp_figures(storage: Path) -> dict[str, Any]:
    """Read a sweepnp study back with ``sweepnp.results``: window, states, best, epochs."""
    from sweepnp.results import load

    results = load(STUDY_NAME, str(storage))
    table = results.trials
    records = [t.user_attrs.get("sweepnp", {}) for t in results.study.get_trials(deepcopy=False)]
    complete = table[table["state"] == "complete"]
    return {
        "trials": len(table),
        "states": {str(k): int(v) for k, v in table["state"].value_counts().items() if v},
        "in_study": study_window(list(table["datetime_start"]), list(table["datetime_complete"])),
        "best": float(complete["value"].max()),
        "epochs": int(table["epochs"].sum()),
        "train_seconds": float(table["final_train_seconds"].sum()),
        "record_seconds": float(sum(r.get("seconds", 0.0) for r in records)),
    }


def baseline_figures(storage: Path, study_name: str) -> dict[str, Any]:
    trials = journal_trials(storage, study_name)
    states: dict[str, int] = {}
    for trial in trials:
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    values = [t.value for t in trials if t.value is not None and t.state.name == "COMPLETE"]
    return {
        "trials": len(trials),
        "states": states,
        "in_study": study_window(
            [t.datetime_start for t in trials], [t.datetime_complete for t in trials]
        ),
        "best": max(values),
    }


def run_contender(name: str, trials: int, data: Path) -> dict[str, Any]:
    """One run of one contender on a fresh journal file in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        storage = Path(tmp) / "s.journal"
        timing = timed_command(contender_command(name, trials, storage, data))
        if name.startswith("sweepnp"):
            figures = sweepnp_figures(storage)
            worker: dict[str, Any] = {}
        else:
            worker = json.loads(timing["stdout"].strip().splitlines()[-1])
            figures = baseline_figures(storage, worker["study_name"])
            figures["epochs"] = worker["epochs"]
    if figures["trials"] != trials:
        raise RuntimeError(f"{name}: {figures['trials']} trials in the study, not {trials}")
    timing.pop("stdout")
    return {**timing, **figures, "worker": worker}


def summarize(runs: list[dict[str, Any]], trials: int) -> dict[str, Any]:
    walls = [r["wall"] for r in runs]
    in_study = [r["in_study"] for r in runs]
    wall = statistics.median(walls)
    inside = statistics.median(in_study)
    summary = {
        "n": len(runs),
        "wall_median": wall,
        "wall_min": min(walls),
        "wall_max": max(walls),
        "trials_per_s": trials / wall,
        "in_study_median": inside,
        "in_study_trials_per_s": trials / inside,
        "startup_median": statistics.median(r["wall"] - r["in_study"] for r in runs),
        "cpu_median": statistics.median(r["cpu"] for r in runs),
        "best_median": statistics.median(r["best"] for r in runs),
        "best": [r["best"] for r in runs],
        "epochs_median": statistics.median(r["epochs"] for r in runs),
        "states": runs[-1]["states"],
        "walls": walls,
        "in_study": in_study,
        "background_cores": [r.get("background_cores") for r in runs],
        "worker": runs[-1]["worker"],
    }
    if "train_seconds" in runs[0]:
        summary["train_seconds_median"] = statistics.median(r["train_seconds"] for r in runs)
    return summary


def compute_verdicts(summary: dict[str, dict[str, Any]], n_val: int) -> dict[str, Any]:
    """The issue's targets: speed over the better baseline, and accuracy no worse than theirs.

    Accuracies are compared as counts of correctly classified validation rows: PyTorch computes
    in float32, where 112/114 is 0.98245615 and not NumPy's 0.98245614.
    """
    baselines = [b for b in BASELINES if b in summary]
    best = max(baselines, key=lambda b: summary[b]["trials_per_s"])
    best_inside = max(baselines, key=lambda b: summary[b]["in_study_trials_per_s"])
    speed = []
    for label, contender, target in SPEED_TARGETS:
        value = summary[contender]["trials_per_s"] / summary[best]["trials_per_s"]
        inside = (
            summary[contender]["in_study_trials_per_s"]
            / summary[best_inside]["in_study_trials_per_s"]
        )
        speed.append(
            {
                "ratio": label,
                "baseline": best,
                "value": value,
                "in_study_value": inside,
                "in_study_baseline": best_inside,
                "target": f">= {target}",
                "pass": value >= target,
            }
        )
    accuracy = []
    for contender in ("sweepnp-j1", "sweepnp-j2"):
        for baseline in baselines:
            ours, theirs = summary[contender]["best_median"], summary[baseline]["best_median"]
            accuracy.append(
                {
                    "comparison": f"{contender} vs {baseline}",
                    "sweepnp": ours,
                    "baseline": theirs,
                    "sweepnp_correct": round(ours * n_val),
                    "baseline_correct": round(theirs * n_val),
                    "target": ">=",
                    "pass": round(ours * n_val) >= round(theirs * n_val),
                }
            )
    return {"best_baseline": best, "speed": speed, "accuracy": accuracy}


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("optuna", "torch", "pandas", "sweepnp"):
        with contextlib.suppress(PackageNotFoundError):
            found[package] = version(package)
    return found


def make_console() -> Any:
    """A rich console; 120 columns when the output is not a terminal, so tables stay legible."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=120)


def header(data: dict[str, Any], title: str) -> str:
    info = data["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in data["versions"].items())
    return (
        f"[bold]{title}[/bold]  {data['date']}\n"
        f"machine: {info['cpu_model']} ({info['machine']}, {info['cores']} cores), "
        f"{info['platform']}\n"
        f"python {info['python']}, numpy {info['numpy']}, scikit-learn {info['sklearn']}, {libs}; "
        f"sweepnp at {info['git'] or '?'}"
    )


def print_load(console: Any, data: dict[str, Any], loads: dict[str, tuple[list, int]]) -> None:
    """The background load, and a warning for each contender that lacked the cores it uses.

    :param loads: contender → (background cores of each of its runs, cores it keeps busy).
    """
    load = data["background_cores"]
    if load is None:
        return
    console.print(
        f"other processes kept {load['mean']:.2f} cores busy on average (max {load['max']:.2f}) "
        "while the contenders ran"
    )
    cores = data["machine"]["cores"] or 1
    short = []
    for name, (values, needed) in loads.items():
        known = [x for x in values if x is not None]
        if known and statistics.fmean(known) > cores - needed + 0.1:
            short.append(name)
    if short:
        console.print(
            f"[yellow]warning: {', '.join(short)} had on average fewer cores to itself than it "
            "uses; their wall-clock figures are noisy (compare the CPU column, or rerun on a "
            "quiet machine).[/yellow]"
        )


def report(data: dict[str, Any]) -> None:
    from rich.table import Table

    console = make_console()
    console.print(header(data, "sweepnp sweep benchmark"))
    console.print(
        f"{data['trials']} trials per study, {data['runs']} runs per contender, contenders "
        "alternating run by run, each command in its own process on a fresh journal file\n"
        f"data: {data['sizes']} rows, sweepnp's own split (saved once for the hand-written "
        "contenders); every process: OMP/OPENBLAS/MKL_NUM_THREADS=1"
    )
    for note in data["notes"]:
        console.print(note, style="yellow", markup=False)
    print_load(
        console,
        data,
        {name: (s["background_cores"], CORES_USED[name]) for name, s in data["contenders"].items()},
    )

    n_val = data["sizes"]["val"]
    table = Table(title="Time per study (seconds, median over runs; wall clock unless marked)")
    columns = ("contender", "command", "min–max", "trials/s", "in study", "trials/s in study")
    for column in (*columns, "start-up", "CPU", "bg cores mean/max"):
        table.add_column(column, justify="left" if column == "contender" else "right")
    for name, s in data["contenders"].items():
        loads = [x for x in s["background_cores"] if x is not None]
        table.add_row(
            name,
            f"{s['wall_median']:.2f}",
            f"{s['wall_min']:.2f}–{s['wall_max']:.2f}",
            f"[bold]{s['trials_per_s']:.2f}[/bold]",
            f"{s['in_study_median']:.2f}",
            f"{s['in_study_trials_per_s']:.2f}",
            f"{s['startup_median']:.2f}",
            f"{s['cpu_median']:.2f}",
            f"{statistics.fmean(loads):.2f}/{max(loads):.2f}" if loads else "?",
        )
    console.print(table)
    found = Table(title="What each study found (median over runs; states of the last run)")
    columns = ("contender", "best val acc", "correct", "epochs trained", "epochs/s in study")
    for column in (*columns, "trials"):
        found.add_column(column, justify="left" if column in ("contender", "trials") else "right")
    for name, s in data["contenders"].items():
        found.add_row(
            name,
            f"{s['best_median']:.4f}",
            f"{round(s['best_median'] * n_val)}/{n_val}",
            f"{s['epochs_median']:.0f}",
            f"{s['epochs_median'] / s['in_study_median']:.0f}",
            ", ".join(f"{n} {k}" for k, n in sorted(s["states"].items())),
        )
    console.print(found)

    verdicts = data["verdicts"]
    speed = Table(title="Trials per second, whole command: sweepnp over the better baseline")
    for column in ("ratio", "baseline", "value", "target", "result", "in study"):
        speed.add_column(column, justify="right" if "value" in column else "left")
    for r in verdicts["speed"]:
        speed.add_row(
            r["ratio"],
            r["baseline"],
            f"{r['value']:.2f}",
            r["target"],
            "[green]PASS[/green]" if r["pass"] else "[red]FAIL[/red]",
            f"{r['in_study_value']:.2f} (vs {r['in_study_baseline']})",
        )
    console.print(speed)
    accuracy = Table(title="Best validation accuracy (median over runs)")
    for column in ("comparison", "sweepnp", "baseline", "target", "result"):
        accuracy.add_column(column)
    for r in verdicts["accuracy"]:
        accuracy.add_row(
            r["comparison"],
            f"{r['sweepnp']:.4f} ({r['sweepnp_correct']}/{n_val})",
            f"{r['baseline']:.4f} ({r['baseline_correct']}/{n_val})",
            r["target"],
            "[green]PASS[/green]" if r["pass"] else "[red]FAIL[/red]",
        )
    console.print(accuracy)


def common_data(runs: int, trials: int) -> dict[str, Any]:
    from bench_train import machine_info

    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/bench_sweep.py", *map(str, sys.argv[1:])]),
        "runs": runs,
        "trials": trials,
        "machine": machine_info(),
        "versions": versions(),
    }


def load_summary(results: dict[str, list[dict[str, Any]]]) -> dict[str, float] | None:
    loads = [
        r["background_cores"] for rs in results.values() for r in rs if "background_cores" in r
    ]
    return {"mean": statistics.fmean(loads), "max": max(loads)} if loads else None


def parent_main(runs: int, trials: int, json_path: str | None) -> None:
    """Run every contender ``runs`` times, alternating, then report (and write JSON)."""
    from rich.progress import Progress

    notes = []
    order = list(CONTENDERS)
    if not torch_available():
        order.remove("optuna-torch")
        notes.append(
            "PyTorch is not installed: the optuna-torch contender is skipped "
            f"({INSTALL_HINT} installs the pinned CPU build)."
        )
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in order}
    with tempfile.TemporaryDirectory(prefix="bench_sweep_data_") as tmp:
        data_file = Path(tmp) / "breast_cancer.npz"
        sizes = write_data(data_file)
        with Progress(transient=True) as progress:
            task = progress.add_task("benchmarking", total=runs * len(order))
            for run in range(1, runs + 1):
                for name in order:  # run r: A, B, C, D; run r + 1: A, B, C, D
                    progress.update(task, description=f"run {run}/{runs}: {name}")
                    results[name].append(run_contender(name, trials, data_file))
                    progress.advance(task)

    summary = {name: summarize(results[name], trials) for name in order}
    data = {
        **common_data(runs, trials),
        "sizes": sizes,
        "notes": notes,
        "background_cores": load_summary(results),
        "contenders": summary,
        "verdicts": compute_verdicts(summary, sizes["val"]),
        "runs_detail": results,
    }
    report(data)
    if json_path:
        Path(json_path).write_text(json.dumps(data, indent=2, default=str) + "\n", "utf-8")


# -------------------------------------------------------------------------
# --overhead: the study driver's cost beyond training
# -------------------------------------------------------------------------


#: The label of ``Trainer.fit``: what the trials table counts as a trial's training time.
FIT_LABEL = "Trainer.fit: epochs (forward, backward, step)"
#: Steps that are part of training itself; any other step inside ``fit`` is marked as such.
TRAINING_LABELS = (
    FIT_LABEL,
    "Trainer.fit: evaluate every split per epoch",
    "Trainer.fit: pd.DataFrame(history)",
    "early stopping",
    "diagnosis",
)
IN_FIT = " [inside fit]"
#: Where a step of the trial loop runs, for the overhead report's totals.
WHERE = ("training", "in fit, not training", "outside fit")


class StepTimers:
    """Wall-clock timers around named functions, with exclusive time (nested timers subtracted).

    The phase is ``setup`` until the worker loop first checks for stale trials, ``trials`` while
    it asks, trains and tells, and ``after`` once it returns. A step that runs inside
    ``Trainer.fit`` without being training (the pruning reports' storage writes, the pruner)
    gets the suffix ``[inside fit]``: its time is part of the trials' recorded training time.
    """

    def __init__(self) -> None:
        self.phase = "setup"
        self.exclusive: dict[tuple[str, str], float] = {}
        self.inclusive: dict[tuple[str, str], float] = {}
        self.calls: dict[tuple[str, str], int] = {}
        self._children: list[float] = []
        self._fit_depth = 0
        self.missing: list[str] = []
        self.phase_started = {"setup": time.perf_counter()}

    def enter_phase(self, phase: str) -> None:
        if phase not in self.phase_started:
            self.phase_started[phase] = time.perf_counter()
            self.phase = phase

    def wrap(self, owner: Any, attribute: str, label: str) -> None:
        # A method inherited from a base class is wrapped on this class only.
        original = getattr(owner, attribute)
        timers = self
        is_fit = label == FIT_LABEL
        marked = label + IN_FIT if label not in TRAINING_LABELS else label

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            key = (timers.phase, marked if timers._fit_depth else label)
            timers._children.append(0.0)
            timers._fit_depth += is_fit
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                timers._fit_depth -= is_fit
                children = timers._children.pop()
                timers.exclusive[key] = timers.exclusive.get(key, 0.0) + elapsed - children
                timers.inclusive[key] = timers.inclusive.get(key, 0.0) + elapsed
                timers.calls[key] = timers.calls.get(key, 0) + 1
                if timers._children:
                    timers._children[-1] += elapsed

        setattr(owner, attribute, timed)


#: (module, attribute path, label) of every timed step, outermost first.
TIMED_STEPS = (
    ("sweepnp.study.spec", "load_spec", "load_spec (validate the study file, build 10 test runs)"),
    ("sweepnp.study.worker", "create_study", "create or check the study"),
    ("sweepnp.study.storage", "recover_stale_trials", "recover_stale_trials (scan RUNNING trials)"),
    ("sweepnp.study.budget", "TrialTally.count", "TrialTally.count (open trials)"),
    ("optuna.study", "Study.ask", "Study.ask (trial creation)"),
    ("sweepnp.study.space", "SearchSpace.suggest", "SearchSpace.suggest (suggest_* calls)"),
    ("optuna.samplers", "TPESampler.infer_relative_search_space", "TPE sampling"),
    ("optuna.samplers", "TPESampler.sample_relative", "TPE sampling"),
    ("optuna.samplers", "TPESampler.sample_independent", "TPE sampling"),
    ("optuna.samplers", "TPESampler.before_trial", "TPE sampling"),
    ("optuna.samplers", "TPESampler.after_trial", "TPE sampling"),
    ("sweepnp.study.worker", "run_configuration", "run_configuration (deepcopy, records, concat)"),
    ("sweepnp.study.spec", "trial_seed", "trial_seed (SHA-256 + SeedSequence)"),
    ("sweepnp.study.trial", "validate", "validate the run (pydantic)"),
    ("sweepnp.trainer", "load_data", "load_data (cached per study)"),
    ("sweepnp.trainer", "Trainer.__init__", "Trainer construction (network, plugins)"),
    ("sweepnp.trainer", "Trainer.fit", FIT_LABEL),
    ("sweepnp.trainer", "Trainer.evaluate", "Trainer.fit: evaluate every split per epoch"),
    ("sweepnp_plugins.callbacks.pruning", "OptunaPruning.on_epoch_end", "pruning callback"),
    ("optuna.pruners", "MedianPruner.prune", "MedianPruner.prune"),
    ("sweepnp_plugins.callbacks.early_stopping", "EarlyStopping.on_epoch_end", "early stopping"),
    ("sweepnp_plugins.callbacks.early_stopping", "EarlyStopping.on_train_end", "early stopping"),
    ("sweepnp_plugins.callbacks.diagnosis", "LearningCurveDiagnosis.on_train_end", "diagnosis"),
    ("sweepnp.study.record", "_encode_rows", "encode the learning curves (JSON + zlib + base64)"),
    ("sweepnp.cli", "TrialReporter.update", "CLI reporter update (--quiet too)"),
    ("optuna.study", "Study.tell", "Study.tell"),
)
JOURNAL_METHODS = (
    "create_new_trial",
    "set_trial_param",
    "set_trial_state_values",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial",
    "get_all_trials",
    "get_study_id_from_name",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_trial_id_from_study_id_trial_number",
)


def install_timers(timers: StepTimers) -> None:
    """Wrap the driver's steps in ``timers`` (in this process only; sweepnp is not edited)."""
    import importlib
    import types

    import pandas as pd
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    import sweepnp.study
    import sweepnp.study.storage
    import sweepnp.trainer

    for module_name, path, label in TIMED_STEPS:
        *classes, attribute = path.split(".")
        try:  # sweepnp moves on: a step that no longer exists is reported, not fatal
            owner: Any = importlib.import_module(module_name)
            for name in classes:
                owner = getattr(owner, name)
            getattr(owner, attribute)
        except (ImportError, AttributeError):
            timers.missing.append(f"{module_name}.{path}")
            continue
        timers.wrap(owner, attribute, label)
    for method in JOURNAL_METHODS:
        timers.wrap(JournalStorage, method, "journal storage: replay, copies, locks")
    # sweepnp's journal file (sweepnp.study.journal.JournalFile); Optuna's, should a version use it
    import sweepnp.study.journal

    for backend in (sweepnp.study.journal.JournalFile, JournalFileBackend):
        write = "write" if backend is sweepnp.study.journal.JournalFile else "append_logs"
        timers.wrap(backend, write, "journal file: append (write)")
        timers.wrap(backend, "read_logs", "journal file: read new lines")

    # pd.DataFrame(self.history) at the end of Trainer.fit, through a stand-in for the module.
    proxy = types.SimpleNamespace(**{k: getattr(pd, k) for k in ("DataFrame", "concat")})
    timers.wrap(proxy, "DataFrame", "Trainer.fit: pd.DataFrame(history)")
    sweepnp.trainer.pd = proxy  # type: ignore[assignment]

    # Phases: the first stale-trial check starts the trial loop; work() returning ends it.
    recover = sweepnp.study.storage.recover_stale_trials
    work = sweepnp.study.worker.work

    def recover_and_mark(study: Any) -> Any:
        timers.enter_phase("trials")
        return recover(study)

    def work_and_mark(*args: Any, **kwargs: Any) -> Any:
        try:
            return work(*args, **kwargs)
        finally:
            timers.enter_phase("after")

    sweepnp.study.storage.recover_stale_trials = recover_and_mark
    sweepnp.study.worker.work = work_and_mark


#: The overhead is measured one trial at a time: it compares the driver with each trial's own
#: training time, and a stacked trial's ``train_seconds`` is its whole stack's wall time (the
#: stacked study is measured by ``bench_stack.py``).
ONE_AT_A_TIME = ("--stack", "1")


def in_process_command(trials: int, storage: str) -> list[str]:
    return [
        *("study", "run", str(STUDY_FILE), "--storage", storage, "--quiet"),
        *("--n-trials", str(trials), *ONE_AT_A_TIME),
    ]


def overhead_timers(trials: int, storage: str) -> dict[str, Any]:
    """The CLI command in this process with timers around each step; µs per trial."""
    started = time.perf_counter()
    import sweepnp.cli
    import sweepnp.study
    import sweepnp.trainer

    imports = time.perf_counter() - started
    timers = StepTimers()
    install_timers(timers)
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        sweepnp.cli.main(in_process_command(trials, storage), standalone_mode=False)
    ended = time.perf_counter()
    starts = timers.phase_started
    phases = {
        "setup": starts["trials"] - starts["setup"],
        "trials": starts["after"] - starts["trials"],
        "after": ended - starts["after"],
    }
    steps = [
        {
            "phase": phase,
            "step": label,
            "calls": timers.calls[phase, label],
            "exclusive_s": timers.exclusive[phase, label],
            "inclusive_s": timers.inclusive[phase, label],
        }
        for phase, label in timers.exclusive
    ]
    return {
        "imports_s": imports,
        "phases_s": phases,
        "trials": trials,
        "steps": steps,
        "missing": timers.missing,
    }


def overhead_profile(trials: int, storage: str) -> dict[str, Any]:
    """The CLI command in this process under cProfile; the top functions by own time."""
    import cProfile
    import pstats

    import sweepnp.cli

    profiler = cProfile.Profile()
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        profiler.enable()
        sweepnp.cli.main(in_process_command(trials, storage), standalone_mode=False)
        profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, function), (_cc, calls, own, cumulative, _) in stats.stats.items():
        where = filename.split("site-packages/")[-1].split("/work/main/")[-1]
        rows.append(
            {
                "function": f"{where}:{line}({function})",
                "calls": calls,
                "own_s": own,
                "cumulative_s": cumulative,
            }
        )
    by_own = sorted(rows, key=lambda r: r["own_s"], reverse=True)[:30]
    by_cumulative = sorted(rows, key=lambda r: r["cumulative_s"], reverse=True)[:60]
    return {"total_s": stats.total_tt, "by_own": by_own, "by_cumulative": by_cumulative}


def overhead_run(trials: int) -> dict[str, Any]:
    """One ``sweepnp study run`` of ``trials`` trials on the default storage (cwd = a temp dir)."""
    with tempfile.TemporaryDirectory(prefix="bench_sweep_overhead_") as tmp:
        command = [
            *sweepnp_command(),
            *("study", "run", str(STUDY_FILE), "--quiet", "--n-trials", str(trials)),
            *ONE_AT_A_TIME,
        ]
        timing = timed_command(command, cwd=tmp)
        figures = sweepnp_figures(Path(tmp) / "sweepnp.journal")  # the default storage
    timing.pop("stdout")
    result = {**timing, **figures}
    result["ratio"] = result["in_study"] / result["train_seconds"]
    result["command_ratio"] = result["wall"] / result["train_seconds"]
    return result


def probe(name: str, trials: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench_sweep_probe_") as tmp:
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", name]
        command += ["--trials", str(trials), "--storage", str(Path(tmp) / "s.journal")]
        timing = timed_command(command)
    return {**json.loads(timing["stdout"].strip().splitlines()[-1]), "wall": timing["wall"]}


def overhead_main(runs: int, trials: int, json_path: str | None) -> None:
    from rich.table import Table

    console = make_console()
    with console.status("overhead: timing the command"):
        results = [overhead_run(trials) for _ in range(runs)]
    with console.status("overhead: one in-process run with step timers"):
        timers = probe("overhead-timers", trials)
    with console.status("overhead: one in-process run under cProfile"):
        profile = probe("overhead-profile", trials)

    ratios = [r["ratio"] for r in results]
    summary = {
        "ratio_median": statistics.median(ratios),
        "command_ratio_median": statistics.median(r["command_ratio"] for r in results),
        "in_study_median": statistics.median(r["in_study"] for r in results),
        "wall_median": statistics.median(r["wall"] for r in results),
        "train_seconds_median": statistics.median(r["train_seconds"] for r in results),
        "record_seconds_median": statistics.median(r["record_seconds"] for r in results),
        "target": f"<= {OVERHEAD_TARGET}",
        "pass": statistics.median(ratios) <= OVERHEAD_TARGET,
    }
    data = {
        **common_data(runs, trials),
        "background_cores": load_summary({"overhead": results}),
        "runs_detail": results,
        "summary": summary,
        "timers": timers,
        "profile": profile,
    }

    console.print(header(data, "sweepnp study overhead"))
    console.print(
        f"{runs} runs of: sweepnp study run benchmarks/sweep_brief.toml --quiet --stack 1 "
        f"--n-trials {trials} (default storage: ./sweepnp.journal in a fresh temporary folder)"
    )
    print_load(console, data, {"sweepnp": ([r.get("background_cores") for r in results], 1)})
    table = Table(title="Study time against the trials' own training time")
    for column in ("run", "command s", "in-study s", "Σ train s", "Σ record s", "ratio", "cmd"):
        table.add_column(column, justify="right")
    for i, r in enumerate(results, 1):
        table.add_row(
            str(i),
            f"{r['wall']:.2f}",
            f"{r['in_study']:.2f}",
            f"{r['train_seconds']:.2f}",
            f"{r['record_seconds']:.2f}",
            f"{r['ratio']:.3f}",
            f"{r['command_ratio']:.2f}",
        )
    console.print(table)
    verdict = "[green]PASS[/green]" if summary["pass"] else "[red]FAIL[/red]"
    console.print(
        f"in-study time / Σ training time: median {summary['ratio_median']:.3f} "
        f"(target {summary['target']}): {verdict}; whole command / Σ training time: "
        f"{summary['command_ratio_median']:.2f}"
    )

    phases = timers["phases_s"]
    n = timers["trials"]
    console.print(
        f"one in-process run with timers ({n} trials, wall {timers['wall']:.2f} s): imports "
        f"{timers['imports_s']:.2f} s, set-up before the first trial {phases['setup']:.2f} s, "
        f"trial loop {phases['trials']:.2f} s ({1e3 * phases['trials'] / n:.1f} ms per trial), "
        f"after the loop {phases['after']:.2f} s"
    )
    if timers["missing"]:
        console.print(f"[yellow]not timed (no longer in sweepnp): {timers['missing']}[/yellow]")
    setup = Table(title="Set-up before the first trial (exclusive seconds)")
    for column in ("step", "calls", "s"):
        setup.add_column(column, justify="left" if column == "step" else "right")
    for step in sorted(
        (s for s in timers["steps"] if s["phase"] == "setup"),
        key=lambda s: s["exclusive_s"],
        reverse=True,
    )[:8]:
        setup.add_row(step["step"], str(step["calls"]), f"{step['exclusive_s']:.3f}")
    console.print(setup)

    loop = [s for s in timers["steps"] if s["phase"] == "trials"]
    loop.append(
        {
            "step": "(not under a timer: the loop itself, glue)",
            "calls": n,
            "exclusive_s": phases["trials"] - sum(s["exclusive_s"] for s in loop),
        }
    )
    for step in loop:
        step["where"] = (
            "training"
            if step["step"] in TRAINING_LABELS
            else "in fit, not training"
            if step["step"].endswith(IN_FIT)
            else "outside fit"
        )
    totals = {w: sum(s["exclusive_s"] for s in loop if s["where"] == w) for w in WHERE}
    timers["loop_totals_s"] = totals
    recorded = totals["training"] + totals["in fit, not training"]
    steps = Table(title="Trial loop: exclusive wall time per trial (µs), in-process, timers")
    for column in ("step", "where", "calls/trial", "µs/trial", "share"):
        steps.add_column(column, justify="left" if column in ("step", "where") else "right")
    for step in sorted(loop, key=lambda s: s["exclusive_s"], reverse=True):
        steps.add_row(
            step["step"],
            step["where"],
            f"{step['calls'] / n:.1f}",
            f"{1e6 * step['exclusive_s'] / n:.0f}",
            f"{100 * step['exclusive_s'] / phases['trials']:.1f}%",
        )
    for where in WHERE:
        steps.add_row(
            f"[bold]total: {where}[/bold]",
            "",
            "",
            f"[bold]{1e6 * totals[where] / n:.0f}[/bold]",
            f"{100 * totals[where] / phases['trials']:.1f}%",
        )
    console.print(steps)
    hidden = totals["in fit, not training"] / recorded
    summary["recorded_not_training_share"] = hidden
    summary["ratio_to_pure_training"] = summary["ratio_median"] / (1 - hidden)
    console.print(
        f"of the time fit records as training, {100 * hidden:.1f}% is the pruning callback's "
        "storage traffic and the pruner; against pure training time the ratio would be "
        f"{summary['ratio_to_pure_training']:.2f}"
    )
    top = Table(title=f"cProfile, top functions by own time (µs per trial, {trials} trials)")
    for column in ("function", "calls/trial", "own µs/trial", "cumulative µs/trial"):
        top.add_column(column, justify="left" if column == "function" else "right")
    for row in profile["by_own"][:25]:
        top.add_row(
            row["function"],
            f"{row['calls'] / n:.1f}",
            f"{1e6 * row['own_s'] / n:.0f}",
            f"{1e6 * row['cumulative_s'] / n:.0f}",
        )
    console.print(top)
    if json_path:
        Path(json_path).write_text(json.dumps(data, indent=2, default=str) + "\n", "utf-8")


# -------------------------------------------------------------------------


WORKER_NAMES = ("torch", "mlp", "overhead-timers", "overhead-profile")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, help="trials per study (default 50; 100 overhead)")
    parser.add_argument("--runs", type=int, default=3, help="runs per contender")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument(
        "--overhead", action="store_true", help="measure the study driver's overhead instead"
    )
    parser.add_argument("--worker", choices=WORKER_NAMES, help=argparse.SUPPRESS)
    parser.add_argument("--storage", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    trials = args.trials or (100 if args.overhead or args.worker in WORKER_NAMES[2:] else 50)
    if args.runs < 1 or trials < 1:
        parser.error("--runs and --trials must be >= 1")
    if args.worker:
        worker_main(args.worker, trials, args.storage, args.data)
    elif args.overhead:
        overhead_main(args.runs, trials, args.json)
    else:
        parent_main(args.runs, trials, args.json)


if __name__ == "__main__":
    main()
