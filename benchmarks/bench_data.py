"""Benchmark: preparing MNIST-size data (issue 19, point 1) — time and peak memory.

The data are ``benchmarks/make_mnist_like.py``'s: 60 000 × 784 float32 features, 10 classes, as
``.npz``, CSV and Parquet (generated into a temporary folder unless ``--data`` names one that
holds them). Two parts, each contender in a fresh process of its own, contenders alternating run
by run, one BLAS/OpenMP thread each (and ``torch.set_num_threads(1)``):

``prep``   load + split (20 % test, 20 % validation, seed 42) + standard scaling fitted on the
           training rows, float32 in the end. Each worker imports what it needs first (NumPy,
           sweepnp or PyTorch or scikit-learn, and pandas with pyarrow for CSV and Parquet), then
           times the rest and reads its peak resident memory (``VmHWM``) above the resident
           memory it had after importing:

           * ``sweepnp-npz`` / ``-csv`` / ``-parquet``: ``sweepnp.run_parts.load_data`` of a run
             whose dataset is the file, ``model.dtype = "float32"``, the defaults otherwise
             (stratified). With ``--other CHECKOUT`` the same worker also runs under that
             checkout's own ``.venv`` (its sweepnp): ``…@other``, the figures before a change.
           * ``torch-npz``: the usual PyTorch way — ``np.load``, ``torch.from_numpy``, a seeded
             ``torch.randperm`` sliced into test, validation and training rows, ``mean`` and
             ``std(correction=0)`` of the training rows (a constant column kept at 1), and
             ``(X[rows] - mean) / std`` for each split.
           * ``sklearn-npz``: ``np.load``, ``train_test_split`` twice (stratified, as sweepnp),
             ``StandardScaler().fit(X_train)`` and ``transform`` of each split, in float32.
           * ``torch-csv``: ``pandas.read_csv(engine="pyarrow")``, ``to_numpy(np.float32)``,
             then as ``torch-npz``.

``train``  peak memory of a whole ``sweepnp train`` on the ``.npz`` (and CSV) file: a
           784→256→10 ReLU network, Adam 1e-3, batch 128, float32, ``--epochs`` epochs (1 by
           default: the peak is in loading and the first evaluation). The worker runs the
           command line in its own process: first on a 600-row file of the same format (which
           imports everything the command imports), then reads its resident memory — the import
           baseline — then runs the real command and reads its peak (``VmHWM``). The figure is
           that peak above the baseline, in MiB and as a multiple of the features' bytes
           (188 MB = 179 MiB). Also under ``--other``'s checkout.

    python benchmarks/bench_data.py [--data FOLDER] [--runs 5] [--parts prep train]
                                    [--other /path/to/checkout] [--epochs 1] [--json FILE]

Targets (issue 19): ``sweepnp-npz`` ≤ 1.2 × the faster of ``torch-npz`` and ``sklearn-npz``;
the train peak ≤ 2.5 × the data's bytes above the import baseline. It prints medians (min, max),
the ratios, and how many cores other processes kept busy meanwhile (noisy figures when more
than one). About four minutes with ``--runs 5`` on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import json
import math
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

from bench_train import THREAD_ENV, busy_cpu_seconds  # noqa: E402

STEM = "mnist_like"
TEST, VAL, SEED = 0.2, 0.2, 42
PREP = ("sweepnp-npz", "torch-npz", "sklearn-npz", "sweepnp-csv", "torch-csv", "sweepnp-parquet")
TRAIN = ("train-npz", "train-csv")
#: Contenders that also run under the other checkout (``--other``).
SWEEPNP = ("sweepnp-npz", "sweepnp-csv", "sweepnp-parquet", "train-npz", "train-csv")
MIB = 2**20


# -------------------------------------------------------------------------
# Workers: one process each
# -------------------------------------------------------------------------


def memory() -> dict[str, float]:
    """This process's resident memory now and at its peak, in MiB (Linux)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def run_config(path: Path, epochs: int | None = None) -> dict[str, Any]:
    dataset: dict[str, Any] = {"path": str(path)}
    if path.suffix != ".npz":
        dataset["target"] = "label"
    config: dict[str, Any] = {
        "data": {"dataset": dataset, "test_size": TEST, "val_size": VAL, "seed": SEED},
        "model": {"hidden": [256], "dtype": "float32"},
        "optimizer": {"name": "adam", "lr": 1e-3},
        "train": {"batch_size": 128},
    }
    if epochs is not None:
        config["train"]["epochs"] = epochs
    return config


def toml(config: dict[str, Any]) -> str:
    """A run file's text (tables of strings, numbers, lists and inline tables)."""

    def value(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(v)

    return "".join(
        f"[{section}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in table.items())
        for section, table in config.items()
    )


def torch_slices(X: Any, y: Any) -> tuple[Any, ...]:
    """The split and scaling a PyTorch user writes: slices of a seeded permutation."""
    import torch

    X, y = torch.from_numpy(X), torch.from_numpy(y)
    n = X.shape[0]
    n_test, n_val = math.ceil(TEST * n), math.ceil(VAL * n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SEED))
    test, val, train = perm[:n_test], perm[n_test : n_test + n_val], perm[n_test + n_val :]
    X_train = X[train]
    mean, std = X_train.mean(0), X_train.std(0, correction=0)
    std[std == 0] = 1
    X_train = (X_train - mean) / std
    X_val = (X[val] - mean) / std
    X_test = (X[test] - mean) / std
    return X_train, y[train], X_val, y[val], X_test, y[test]


def prep_worker(name: str, folder: Path) -> dict[str, Any]:
    import numpy as np

    contender, kind = name.rsplit("-", 1)
    path = folder / f"{STEM}.{kind}"
    if kind != "npz":
        import pandas  # noqa: F401  (an import, outside the timed part, for every contender)
        import pyarrow.csv
        import pyarrow.parquet  # noqa: F401
    if contender == "sweepnp":
        from sweepnp.config import parse
        from sweepnp.plugins import get_plugin_manager
        from sweepnp.run_parts import load_data

        pm = get_plugin_manager()
        pm.names("datasets")  # plugins loaded before the baseline
        config = parse(run_config(path))
    elif contender == "torch":
        import torch

        torch.set_num_threads(1)
    else:
        from sklearn.model_selection import train_test_split
        from sklearn.preprocessing import StandardScaler
    base = memory()["VmRSS"]
    start = time.perf_counter()
    if contender == "sweepnp":
        data = load_data(config, pm)
        arrays = [data.X_train, data.X_val, data.X_test]
    elif contender == "torch":
        if kind == "npz":
            with np.load(path) as archive:
                X, y = archive["X"], archive["y"]
        else:
            import pandas as pd

            frame = pd.read_csv(path, engine="pyarrow")
            X = frame.drop(columns=["label"]).to_numpy(np.float32)
            y = frame["label"].to_numpy()
            del frame
        arrays = list(torch_slices(X, y))[::2]
    else:
        with np.load(path) as archive:
            X, y = archive["X"], archive["y"]
        X_rest, X_test, y_rest, _y_test = train_test_split(
            X, y, test_size=TEST, random_state=SEED, stratify=y
        )
        X_train, X_val, _y_train, _y_val = train_test_split(
            X_rest, y_rest, test_size=VAL / (1 - TEST), random_state=SEED, stratify=y_rest
        )
        scaler = StandardScaler().fit(X_train)
        arrays = [scaler.transform(part) for part in (X_train, X_val, X_test)]
    seconds = time.perf_counter() - start
    peak = memory()["VmHWM"]
    return {
        "seconds": seconds,
        "peak_above_mib": peak - base,
        "dtype": str(arrays[0].dtype),
        "rows": [int(a.shape[0]) for a in arrays],
    }


def train_worker(name: str, folder: Path, epochs: int) -> dict[str, Any]:
    import numpy as np

    from sweepnp.cli import main

    kind = name.rsplit("-", 1)[1]
    work = Path(tempfile.mkdtemp(prefix="bench-data-"))
    small = work / f"small.{kind}"
    rng = np.random.default_rng(0)
    X_small = rng.random((600, 784), dtype=np.float32)
    y_small = np.arange(600) % 10
    if kind == "npz":
        np.savez(small, X=X_small, y=y_small)
    else:
        import pandas as pd

        frame = pd.DataFrame(X_small, columns=[f"pixel{i}" for i in range(784)])
        frame["label"] = y_small
        frame.to_csv(small, index=False)

    def train(path: Path, run_epochs: int) -> float:
        run = work / f"{path.stem}.toml"
        run.write_text(toml(run_config(path, run_epochs)))
        start = time.perf_counter()
        main(["train", str(run), "--quiet"], standalone_mode=False)
        return time.perf_counter() - start

    train(small, 1)  # imports everything the command imports
    base = memory()["VmRSS"]
    seconds = train(folder / f"{STEM}.{kind}", epochs)
    peak = memory()["VmHWM"]
    with np.load(folder / f"{STEM}.npz") as archive:
        data_mib = archive["X"].nbytes / MIB
    return {
        "seconds": seconds,
        "base_mib": base,
        "peak_mib": peak,
        "peak_above_mib": peak - base,
        "data_mib": data_mib,
        "times_data": (peak - base) / data_mib,
    }


# -------------------------------------------------------------------------
# Parent: alternate the contenders, report medians
# -------------------------------------------------------------------------


def python_of(checkout: Path) -> str:
    venv = checkout / ".venv" / "bin" / "python"
    if not venv.exists():
        raise SystemExit(f"{checkout} has no .venv: create one with pip install -e . there")
    return str(venv)


def run_worker(python: str, name: str, folder: Path, epochs: int) -> dict[str, Any]:
    command = [python, str(Path(__file__).resolve()), "--worker", name, "--data", str(folder)]
    command += ["--epochs", str(epochs)]
    busy_before, start = busy_cpu_seconds(), time.perf_counter()
    done = subprocess.run(
        command, env={**os.environ, **THREAD_ENV}, capture_output=True, text=True, check=False
    )
    wall, busy_after = time.perf_counter() - start, busy_cpu_seconds()
    if done.returncode != 0:
        raise SystemExit(f"{name} ({python}) failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if busy_before is not None and busy_after is not None:
        # cores kept busy during the worker's whole life, this worker's one included
        result["busy_cores"] = (busy_after - busy_before) / wall
    return result


def torch_installed(python: str) -> bool:
    check = subprocess.run([python, "-c", "import torch"], capture_output=True, check=False)
    return check.returncode == 0


def ensure_data(folder: Path | None) -> Path:
    if folder is not None and all((folder / f"{STEM}.{k}").exists() for k in ("npz", "csv")):
        return folder
    folder = folder or Path(tempfile.mkdtemp(prefix="mnist-like-"))
    print(f"generating the data into {folder} (make_mnist_like.py) ...", flush=True)
    subprocess.run([sys.executable, str(HERE / "make_mnist_like.py"), str(folder)], check=True)
    return folder


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):7.3f} ({min(values):.3f}–{max(values):.3f})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--parts", nargs="+", choices=["prep", "train"], default=["prep", "train"])
    parser.add_argument("--other", type=Path, default=None, help="another checkout, with .venv")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--only", nargs="+", default=None, help="these contenders only")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        if args.worker.startswith("train-"):
            result = train_worker(args.worker, args.data, args.epochs)
        else:
            result = prep_worker(args.worker, args.data)
        print(json.dumps(result))
        return

    folder = ensure_data(args.data)
    this = sys.executable
    names = [*(PREP if "prep" in args.parts else ()), *(TRAIN if "train" in args.parts else ())]
    if args.only:
        names = [n for n in names if n in args.only]
    if not torch_installed(this):
        print("PyTorch is not installed (pip install -e '.[bench]'): no torch contenders")
        names = [n for n in names if not n.startswith("torch")]
    contenders = [(name, this) for name in names]
    if args.other is not None:
        other = python_of(args.other.resolve())
        contenders += [(f"{name}@other", other) for name in names if name in SWEEPNP]
    order = sorted(contenders, key=lambda c: names.index(c[0].split("@")[0]))
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in order}
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, {os.cpu_count()} cores")
    print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    for run in range(args.runs):
        for name, python in order:
            results[name].append(run_worker(python, name.split("@")[0], folder, args.epochs))
        print(f"run {run + 1}/{args.runs} done", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}\n")

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    print(f"{'contender':<24} {'seconds':>24} {'peak above imports, MiB':>28} {'busy cores':>11}")
    for name, _ in order:
        rows = results[name]
        cores = [r["busy_cores"] for r in rows if "busy_cores" in r]
        busy = f"{statistics.median(cores):11.2f}" if cores else ""
        peaks = [r["peak_above_mib"] for r in rows]
        seconds = summary([r["seconds"] for r in rows])
        print(f"{name:<24} {seconds:>24} {summary(peaks):>28} {busy}")
    print()
    if "sweepnp-npz" in results:
        rivals = [n for n in ("torch-npz", "sklearn-npz") if n in results]
        if rivals:
            best = min(rivals, key=lambda n: median(n, "seconds"))
            ratio = median("sweepnp-npz", "seconds") / median(best, "seconds")
            verdict = "met" if ratio <= 1.2 else "NOT met"
            print(f"load + split + scale, sweepnp-npz / {best}: {ratio:.2f} (≤ 1.2: {verdict})")
        if "sweepnp-npz@other" in results:
            ratio = median("sweepnp-npz@other", "seconds") / median("sweepnp-npz", "seconds")
            print(f"sweepnp-npz, other checkout / this one: {ratio:.2f}× the time")
    for name in ("train-npz", "train-csv", "train-npz@other", "train-csv@other"):
        if name in results:
            times = median(name, "times_data")
            verdict = "met" if times <= 2.5 else "NOT met"
            print(f"{name}: peak {median(name, 'peak_above_mib'):.0f} MiB above the imports = "
                  f"{times:.2f}× the data (≤ 2.5: {verdict})")  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps({"folder": str(folder), "results": results}, indent=1))


if __name__ == "__main__":
    main()
