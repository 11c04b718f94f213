"""Evaluation benchmark: seconds per epoch with evaluation, sweepnp against PyTorch, on MNIST-size
data; and the memory of one evaluation of a stack.

One command::

    python benchmarks/bench_eval.py [--runs 3] [--epochs 3] [--before ../main] [--json FILE]

Data: 60 000 × 784 float32 features, 10 classes (:func:`make_data`, generated here, the same bits
in every process), split as sweepnp splits it (20% test, 20% validation, seed 0: 36 000 /
12 000 / 12 000 rows) and standardized on the training rows, in float32. Network 784→256→10
ReLU, He initialization, Adam (lr 1e-3), mini-batches of 128 rows in a new order every epoch,
cross-entropy. Every contender runs in its own process with one BLAS/OpenMP thread
(``torch.set_num_threads(1)`` too), alternating run by run.

What each evaluates, per workload (the same for both contenders):

* ``default``: after every epoch the whole training split and the validation split, in
  evaluation mode; the test split once, at the end (sweepnp's defaults);
* ``all``: the three splits after every epoch (``train.evaluate.test = "every_epoch"``; what
  sweepnp did before issue 19, hence the only workload the ``--before`` checkout runs);
* ``batches``: the training split's loss and accuracy from the epoch's own batches (sweepnp's
  ``train.evaluate.train = "batches"``; PyTorch adds up ``loss.item()`` and the correct
  predictions of each batch, the way its tutorials do), the validation split after every
  epoch, the test split at the end.

PyTorch is written the usual way: index slices of a ``torch.randperm`` permutation,
``nn.Sequential(Linear, ReLU, Linear)``, ``CrossEntropyLoss``, ``torch.optim.Adam``, and an
evaluation of a whole split at once under ``torch.no_grad()``. Timed: each epoch from before its
first batch to after its evaluation (sweepnp: from a callback's ``on_epoch_begin`` to its
``on_epoch_end``, which runs after the epoch's evaluation is recorded), and apart from it what
each does after the last epoch (sweepnp: the test split, then the final metrics of every split).
The figure is the median epoch of a run, then the median over runs.

``--memory`` (part ``memory``) measures one evaluation of every split by a stack of K runs'
step program (K = 1, 4, 16): the peak of NumPy's allocations during it (``tracemalloc``) and its
seconds, in this checkout and, with ``--before``, in that one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_train import THREAD_ENV, busy_cpu_seconds, machine_info  # noqa: E402

ROWS, FEATURES, CLASSES, HIDDEN = 60_000, 784, 10, 256
BATCH_SIZE, LR, SEED = 128, 1e-3, 0
WORKLOADS = ("default", "all", "batches")
KS = (1, 4, 16)


def make_data(rows: int = ROWS, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-size data: ``rows`` × 784 float32 features in [0, 1], labels 0–9.

    Each class has a random "template" of 784 pixel intensities; a row is a faint copy of its
    class's template in uniform noise, and one label in ten is replaced by a random one — so
    that the loss stays far from zero (no float32 underflow in the gradients) and the accuracy
    near 0.9, as on real digits; the same bits from the same seed in every process.
    """
    rng = np.random.default_rng(seed)
    templates = rng.random((CLASSES, FEATURES), dtype=np.float32)
    y = rng.integers(0, CLASSES, rows)
    X = rng.random((rows, FEATURES), dtype=np.float32)
    X *= 0.9
    X += 0.1 * templates[y]
    noisy = rng.random(rows) < 0.1
    y[noisy] = rng.integers(0, CLASSES, int(noisy.sum()))
    return X, y


def sweepnp_config(epochs: int, workload: str, knows_evaluate: bool = True) -> dict[str, Any]:
    config: dict[str, Any] = {
        "data": {"test_size": 0.2, "val_size": 0.2, "seed": SEED},
        "model": {"task": "multiclass", "hidden": [HIDDEN], "dtype": "float32", "init": "he"},
        "train": {"epochs": epochs, "batch_size": BATCH_SIZE, "seed": SEED},
        "optimizer": {"name": "adam", "lr": LR},
    }
    if knows_evaluate:  # a checkout before issue 19 has no train.evaluate: it evaluates "all"
        evaluate = {"all": {"test": "every_epoch"}, "batches": {"train": "batches"}}
        config["train"]["evaluate"] = evaluate.get(workload, {})
    return config


# -------------------------------------------------------------------------
# Workers
# -------------------------------------------------------------------------


def sweepnp_worker(epochs: int, workload: str) -> dict[str, Any]:
    import sweepnp
    from sweepnp.config import TrainConfig
    from sweepnp.trainer import Trainer

    knows = "evaluate" in TrainConfig.model_fields
    if not knows and workload != "all":
        raise SystemExit(f"this sweepnp evaluates every split every epoch: no {workload!r}")
    X, y = make_data()

    class Clock(sweepnp.Callback):
        stackable = True

        def __init__(self) -> None:
            self.begun = 0.0
            self.epochs: list[float] = []
            self.updates: list[float] = []
            self.last = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
            self.begun = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
            self.last = time.perf_counter()
            self.epochs.append(self.last - self.begun)

    clock = Clock()
    trainer = Trainer(sweepnp_config(epochs, workload, knows), X, y, callbacks=[clock])
    result = trainer.fit()
    end = time.perf_counter() - clock.last
    return {
        "epochs": clock.epochs,
        "updates": [r["epoch_seconds"] for r in result.records],
        "end": end,
        "final": {k: float(v) for k, v in result.metrics.items()},
        "sizes": {k: len(v[0]) for k, v in trainer.data.splits().items()},
    }


def torch_worker(epochs: int, workload: str) -> dict[str, Any]:
    import torch
    from torch import nn

    from sweepnp.config import validate
    from sweepnp.trainer import load_data

    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    X, y = make_data()
    data = load_data(validate(sweepnp_config(epochs, workload)), X=X, y=y)  # the same rows
    splits = {
        prefix: (torch.from_numpy(np.ascontiguousarray(Xs)), torch.from_numpy(ys.astype(np.int64)))
        for prefix, (Xs, ys) in data.splits().items()
    }
    X_train, y_train = splits[""]
    model = nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES))
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)

    def evaluate(Xs: Any, ys: Any) -> tuple[float, float]:
        out = model(Xs)
        return loss_fn(out, ys).item(), (out.argmax(1) == ys).float().mean().item()

    times, updates, records = [], [], []
    n = len(X_train)
    for _ in range(epochs):
        begun = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=generator)
        total_loss, correct = 0.0, 0
        for start in range(0, n, BATCH_SIZE):
            index = order[start : start + BATCH_SIZE]
            xb, yb = X_train[index], y_train[index]
            optimizer.zero_grad()
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            optimizer.step()
            if workload == "batches":
                total_loss += loss.item() * len(index)
                correct += (out.argmax(1) == yb).sum().item()
        updates.append(time.perf_counter() - begun)
        model.eval()
        record: dict[str, float] = {}
        with torch.no_grad():
            if workload == "batches":
                record["loss"], record["accuracy"] = total_loss / n, correct / n
            else:
                record["loss"], record["accuracy"] = evaluate(X_train, y_train)
            record["val_loss"], record["val_accuracy"] = evaluate(*splits["val_"])
            if workload == "all":
                record["test_loss"], record["test_accuracy"] = evaluate(*splits["test_"])
        records.append(record)
        times.append(time.perf_counter() - begun)
    begun = time.perf_counter()
    with torch.no_grad():
        final = dict(zip(("test_loss", "test_accuracy"), evaluate(*splits["test_"]), strict=True))
    return {
        "epochs": times,
        "updates": updates,
        "end": time.perf_counter() - begun,
        "final": {**records[-1], **final},
        "sizes": {k: len(v[0]) for k, v in splits.items()},
    }


def memory_worker(k: int) -> dict[str, Any]:
    """Peak NumPy allocation and seconds of one evaluation of every split by K stacked runs."""
    import tracemalloc

    from sweepnp.step_program import StepProgram
    from sweepnp.trainer import Trainer

    X, y = make_data()
    trainer = Trainer(sweepnp_config(1, "all", knows_evaluate=False), X, y)
    network = trainer.network.stacked(k)
    for name, value in trainer.network.params.items():
        network.params[name][:] = value.reshape(network.params[name].shape[1:])
    program = StepProgram(network)
    splits = trainer.data.splits()
    program.evaluate(splits)  # warm up
    tracemalloc.start()
    started = time.perf_counter()
    program.evaluate(splits)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"k": k, "peak_mb": peak / 1e6, "seconds": seconds}


# -------------------------------------------------------------------------
# The parent
# -------------------------------------------------------------------------


def run_worker(python: str, args: list[str]) -> dict[str, Any]:
    command = [python, str(Path(__file__).resolve()), *args]
    busy = busy_cpu_seconds()
    started = time.perf_counter()
    done = subprocess.run(
        command, env={**os.environ, **THREAD_ENV}, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    after = busy_cpu_seconds()
    if busy is not None and after is not None:
        # cores kept busy meanwhile by other processes (this worker uses one)
        result["others_busy_cores"] = max(0.0, (after - busy) / wall - 1)
    return result


def speed_part(runs: int, epochs: int, before: Path | None) -> dict[str, Any]:
    contenders: list[tuple[str, str, str]] = [
        (f"sweepnp {w}", sys.executable, f"sweepnp:{w}") for w in WORKLOADS
    ]
    contenders += [(f"torch {w}", sys.executable, f"torch:{w}") for w in WORKLOADS]
    if before is not None:
        contenders.append(("before all", str(before / ".venv/bin/python"), "sweepnp:all"))
    measured: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in contenders}
    for _ in range(runs):
        for label, python, worker in contenders:
            args = ["--worker", worker, "--epochs", str(epochs)]
            measured[label].append(run_worker(python, args))
    summary = {}
    for label, results in measured.items():
        summary[label] = {
            "epoch_s": statistics.median(statistics.median(r["epochs"]) for r in results),
            "updates_s": statistics.median(statistics.median(r["updates"]) for r in results),
            "end_s": statistics.median(r["end"] for r in results),
            "epoch_s_each_run": [statistics.median(r["epochs"]) for r in results],
            "others_busy_cores": statistics.median(r.get("others_busy_cores", 0) for r in results),
            "final": results[-1]["final"],
            "sizes": results[-1]["sizes"],
        }
    ratios = {
        w: summary[f"sweepnp {w}"]["epoch_s"] / summary[f"torch {w}"]["epoch_s"] for w in WORKLOADS
    }
    if before is not None:
        ratios["after / before, all"] = (
            summary["sweepnp all"]["epoch_s"] / summary["before all"]["epoch_s"]
        )
    return {"summary": summary, "ratios": ratios, "runs": {k: v for k, v in measured.items()}}


def memory_part(runs: int, before: Path | None) -> dict[str, Any]:
    checkouts = {"this": sys.executable}
    if before is not None:
        checkouts["before"] = str(before / ".venv/bin/python")
    measured: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for _ in range(runs):
        for k in KS:
            for name, python in checkouts.items():
                result = run_worker(python, ["--worker-memory", str(k)])
                measured.setdefault((name, k), []).append(result)
    return {
        f"{name} K={k}": {
            "peak_mb": statistics.median(r["peak_mb"] for r in results),
            "seconds": statistics.median(r["seconds"] for r in results),
        }
        for (name, k), results in measured.items()
    }


def report(data: dict[str, Any]) -> None:
    print(f"{data['date']}  load before: {data['load']}  commit {data['commit']}")
    speed = data.get("speed")
    if speed:
        print("\nseconds per epoch with its evaluation (median epoch, median of runs)")
        print(f"{'contender':<18}{'epoch':>8}{'updates':>9}{'at end':>8}{'others busy':>13}")
        for label, row in speed["summary"].items():
            print(
                f"{label:<18}{row['epoch_s']:>8.3f}{row['updates_s']:>9.3f}{row['end_s']:>8.3f}"
                f"{row['others_busy_cores']:>13.2f}"
            )
        print("\nsweepnp / torch per epoch (target <= 1.1):")
        for label, ratio in speed["ratios"].items():
            print(f"  {label:<22}{ratio:.3f}")
    memory = data.get("memory")
    if memory:
        print("\none evaluation of every split by K stacked runs (peak NumPy allocation)")
        for label, row in memory.items():
            print(f"  {label:<14}{row['peak_mb']:>9.1f} MB{row['seconds']:>8.3f} s")


def _commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--before", type=Path, help="another checkout (with its own .venv)")
    parser.add_argument("--parts", nargs="+", default=["speed", "memory"])
    parser.add_argument("--json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-memory", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        contender, workload = args.worker.split(":")
        run = sweepnp_worker if contender == "sweepnp" else torch_worker
        print(json.dumps(run(args.epochs, workload)))
        return
    if args.worker_memory:
        print(json.dumps(memory_worker(args.worker_memory)))
        return
    data: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load": os.getloadavg(),
        "commit": _commit(),
        "machine": machine_info(),
    }
    before = args.before.resolve() if args.before else None
    if "speed" in args.parts:
        data["speed"] = speed_part(args.runs, args.epochs, before)
    if "memory" in args.parts:
        data["memory"] = memory_part(args.runs, before)
    report(data)
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
