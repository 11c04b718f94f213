"""Generate MNIST-size data for the benchmarks: 60 000 images of 28 × 28 pixels, 10 classes.

The images are scikit-learn's bundled handwritten digits (1,797 images of 8 × 8 pixels, read
from its data file), each drawn at random, enlarged to 20 × 20 pixels (bilinear), placed at a
random offset in a 28 × 28 frame (as MNIST centres its digits in a 20 × 20 box), with Gaussian
noise on the digit's pixels, clipped to [0, 1] and rounded to 1/255 steps as MNIST's bytes / 255
are. Pixels near the frame's corners are 0 in every image (constant columns, as in MNIST).
Everything comes from one seeded generator: the same seed writes the same bytes.

    python benchmarks/make_mnist_like.py [FOLDER] [--rows 60000] [--seed 0]
                                         [--formats npz csv parquet]

writes ``FOLDER/mnist_like.npz`` (``X`` float32 (rows, 784), ``y`` int64), ``mnist_like.csv``
(784 columns ``pixel0`` … ``pixel783`` and ``label``, 476 MB at 60 000 rows) and
``mnist_like.parquet``. FOLDER defaults to ``benchmarks/generated`` (in ``.gitignore``: the
data are never committed).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_FOLDER = HERE / "generated"
STEM = "mnist_like"
SIDE, BOX = 28, 20


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8 × 8 digits (values 0–16) and labels, read from its data file."""
    spec = importlib.util.find_spec("sklearn")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    with gzip.open(path / "digits.csv.gz", "rt") as text:
        table = np.loadtxt(text, delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def enlarge(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resampling of (n, 8, 8) images to (n, size, size), pixel centres aligned."""
    side = images.shape[1]
    at = (np.arange(size) + 0.5) * side / size - 0.5
    at = np.clip(at, 0, side - 1)
    low = np.floor(at).astype(int)
    high = np.minimum(low + 1, side - 1)
    w = at - low
    rows = images[:, low, :] * (1 - w)[None, :, None] + images[:, high, :] * w[None, :, None]
    return rows[:, :, low] * (1 - w)[None, None, :] + rows[:, :, high] * w[None, None, :]


def make(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: float32 pixels in [0, 1] in 1/255 steps, shape (rows, 784); int64 labels."""
    base, labels = digits()
    big = (enlarge(base / 16.0, BOX)).astype(np.float32)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(base), size=rows)
    shift = rng.integers(0, SIDE - BOX + 1, size=(rows, 2))
    X = np.zeros((rows, SIDE, SIDE), dtype=np.float32)
    block = 4096
    for start in range(0, rows, block):
        stop = min(start + block, rows)
        for dy in range(SIDE - BOX + 1):
            for dx in range(SIDE - BOX + 1):
                here = start + np.flatnonzero((shift[start:stop] == (dy, dx)).all(axis=1))
                if here.size:
                    X[here, dy : dy + BOX, dx : dx + BOX] = big[pick[here]]
        part = X[start:stop]
        ink = part > 0
        noise = rng.standard_normal(part.shape, dtype=np.float32) * np.float32(0.08)
        part += noise * ink
        np.clip(part, 0, 1, out=part)
        np.round(part * 255, out=part)
        part /= 255
    return X.reshape(rows, SIDE * SIDE), labels[pick]


def write(folder: Path, X: np.ndarray, y: np.ndarray, formats: list[str]) -> list[Path]:
    import pyarrow as pa

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if "npz" in formats:
        path = folder / f"{STEM}.npz"
        np.savez(path, X=X, y=y)
        written.append(path)
    if {"csv", "parquet"} & set(formats):
        names = [f"pixel{i}" for i in range(X.shape[1])]
        table = pa.table({**{n: X[:, i] for i, n in enumerate(names)}, "label": y})
        if "csv" in formats:
            import pyarrow.csv as pacsv

            path = folder / f"{STEM}.csv"
            pacsv.write_csv(table, path)  # float32 written as the shortest text that reads back
            written.append(path)
        if "parquet" in formats:
            import pyarrow.parquet as pq

            path = folder / f"{STEM}.parquet"
            pq.write_table(table, path)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--formats", nargs="+", choices=["npz", "csv", "parquet"], default=["npz", "csv", "parquet"]
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    X, y = make(args.rows, args.seed)
    for path in write(args.folder, X, y, args.formats):
        print(f"{path}  {path.stat().st_size / 1e6:.0f} MB")
    print(f"{X.shape[0]} × {X.shape[1]} float32, {len(np.unique(y))} classes, ", end="")
    print(f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
