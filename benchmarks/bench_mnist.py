"""Benchmark: a study on MNIST-size data, whole commands, one core each.

The data: ``benchmarks/make_mnist_like.py`` (60 000 × 784 float32 pixels, 10 classes), written
once as ``.npz`` to a folder of generated data (never committed). The study: a grid of
3 learning rates × 2 dropout rates (6 trials), a 784-256-10 ReLU network, Adam, batches of
128, float32, 2 epochs, validation accuracy; every contender alternates run by run, one
BLAS/OpenMP thread each:

``auto``       ``sweepnp study run`` with the default stack (``"auto"``, measured);
``stack1``     the same with ``--stack 1``;
``stack16``    the same with ``--stack 16`` (what the default was);
``batches``    the default stack with ``[train] evaluate = { train = "batches" }``: the training
               split's metrics from the epoch's batches (as Keras reports them, and as a
               PyTorch loop sums its batches' losses), not from a pass over the split; the
               evaluation work the ``torch`` script does;
``torch``      Optuna + PyTorch as a user writes it: the same grid, the same splits
               (sweepnp's, read from the same file), index slices of a shuffled permutation,
               the validation split evaluated after every epoch (``pip install -e '.[bench]'``).

For each: the whole command's wall time and its peak resident memory (``/usr/bin/time``'s
maximum RSS). Then ``--jobs 2``: the sum over its processes of their proportional set size
(PSS, pages shared after the fork counted once) at its peak, against one process's.
Targets (issue 19): ``auto`` no slower than ``stack1`` (≤ 1.02×) and its peak ≤ 1.2×
``stack1``'s; sweepnp ≥ 1.2× faster than ``torch``; ``--jobs 2``'s PSS ≤ 1.3× one process's.

    python benchmarks/bench_mnist.py [--runs 3] [--rows 60000] [--folder DIR]
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
sys.path.insert(0, str(HERE))

from bench_train import THREAD_ENV  # noqa: E402

STUDY = """
[data]
dataset = {{ path = "{data}" }}
test_size = 0.2
val_size = 0.25
seed = 0
[model]
hidden = [256]
dtype = "float32"
[train]
epochs = 2
batch_size = 128
seed = 0
[optimizer]
name = "adam"
lr = 0.001
[regularizers]
dropout = {{ rate = 0.0 }}
[study]
name = "mnist"
metric = "val_accuracy"
sampler = "grid"
pruner = "none"
n_trials = 6
[study.params]
"optimizer.lr" = {{ choices = [0.0003, 0.001, 0.003] }}
"regularizers.dropout.rate" = {{ choices = [0.0, 0.2] }}
"""

TORCH = """
import sys, time, numpy as np, optuna, torch
from torch import nn
torch.set_num_threads(1)
optuna.logging.set_verbosity(optuna.logging.WARNING)
from sweepnp.run_parts import load_data
from sweepnp.config import validate, load_file
config = validate({k: v for k, v in load_file(sys.argv[1]).items() if k != "study"})
data = load_data(config)
X, y = torch.from_numpy(data.X_train), torch.from_numpy(data.y_train).long()
Xv, yv = torch.from_numpy(data.X_val), torch.from_numpy(data.y_val).long()

def objective(trial):
    lr = trial.suggest_categorical("lr", [0.0003, 0.001, 0.003])
    rate = trial.suggest_categorical("rate", [0.0, 0.2])
    torch.manual_seed(trial.number)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Dropout(rate), nn.Linear(256, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(2):
        model.train()
        order = torch.randperm(len(X))
        for start in range(0, len(X), 128):
            index = order[start:start + 128]
            optimizer.zero_grad()
            loss_fn(model(X[index]), y[index]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(Xv).argmax(1) == yv).float().mean().item()
    return accuracy

grid = {"lr": [0.0003, 0.001, 0.003], "rate": [0.0, 0.2]}
study = optuna.create_study(direction="maximize", sampler=optuna.samplers.GridSampler(grid))
study.optimize(objective, n_trials=6)
"""


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """Run ``command``; return its wall seconds and peak resident memory in MB."""
    env = {**os.environ, **THREAD_ENV}
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command], cwd=cwd, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return seconds, int(done.stderr.strip().splitlines()[-1]) / 1024


def pss_of_tree(pid: int) -> float:
    """MB of proportional set size of a process and its children (Linux)."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def peak_pss(command: list[str], cwd: Path) -> float:
    """The peak over a run of the summed PSS of the command's processes, sampled every 20 ms."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, **THREAD_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, pss_of_tree(process.pid))
        time.sleep(0.02)
    return peak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--folder", default=str(HERE / "generated"))
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    data = folder / "mnist_like.npz"
    if not data.exists():
        subprocess.run(
            [sys.executable, str(HERE / "make_mnist_like.py"), str(folder), "--rows",
             str(args.rows), "--formats", "npz"],
            check=True,
        )  # fmt: skip
    work = Path(tempfile.mkdtemp())
    study = work / "mnist.toml"
    study.write_text(STUDY.format(data=data))
    batches = work / "mnist_batches.toml"
    batches.write_text(
        STUDY.format(data=data).replace("[train]\n", '[train]\nevaluate = {train = "batches"}\n')
    )
    script = work / "optuna_torch.py"
    script.write_text(TORCH)
    sweepnp = [sys.executable, "-m", "sweepnp.cli", "study", "run", str(study), "--quiet"]

    def run_with(*extra: str, file: Path = study):
        return lambda run: [
            *sweepnp[:-2],
            str(file),
            "--quiet",
            "--storage",
            str(work / f"{run}{file.stem}{''.join(extra)}.journal"),
            *extra,
        ]

    contenders = {
        "auto": run_with(),
        "stack1": run_with("--stack", "1"),
        "stack16": run_with("--stack", "16"),
        "batches": run_with(file=batches),
    }
    if not args.no_torch:
        contenders["torch"] = lambda run: [sys.executable, str(script), str(study)]
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    peaks: dict[str, list[float]] = {name: [] for name in contenders}
    for run in range(args.runs):
        for name, command in contenders.items():
            wall, peak = timed(command(run), work)
            seconds[name].append(wall)
            peaks[name].append(peak)
    print(f"MNIST-size study, 6 trials x 2 epochs, {args.rows} rows (medians of {args.runs}):")
    for name in contenders:
        shown = ", ".join(f"{s:.2f}" for s in seconds[name])
        print(
            f"  {name:8s} {statistics.median(seconds[name]):7.2f} s   peak "
            f"{statistics.median(peaks[name]):7.0f} MB   ({shown})"
        )
    auto, alone = statistics.median(seconds["auto"]), statistics.median(seconds["stack1"])
    print(f"  auto / stack1 time: {auto / alone:.2f}x (target <= 1.02x); peak "
          f"{statistics.median(peaks['auto']) / statistics.median(peaks['stack1']):.2f}x "
          "(target <= 1.2x)")  # fmt: skip
    if "torch" in contenders:
        torch = statistics.median(seconds["torch"])
        print(f"  sweepnp (auto) vs Optuna + PyTorch: {torch / auto:.2f}x faster (target >= 1.2x)")
        same = statistics.median(seconds["batches"])
        print(
            f"  sweepnp (batches: the evaluation work of the PyTorch script) vs Optuna + "
            f"PyTorch: {torch / same:.2f}x faster (target >= 1.2x)"
        )
    one_pss = [
        peak_pss([*sweepnp, "--storage", str(work / f"p1{r}.journal")], work) for r in range(2)
    ]
    two_pss = [peak_pss([*sweepnp, "--storage", str(work / f"p2{r}.journal"), "--jobs", "2"], work)
               for r in range(2)]  # fmt: skip
    one, two = statistics.median(one_pss), statistics.median(two_pss)
    print(
        f"  PSS peak: one process {one:.0f} MB, --jobs 2 (sum) {two:.0f} MB: {two / one:.2f}x "
        "(target <= 1.3x)"
    )


if __name__ == "__main__":
    main()
