"""Data preparation in the run's dtype (issue 19): the same rows in each split as before for the
same seed, the same numbers in float64 and in float32, and no temporary as large as the data.

The reference is the preparation as it was written before: features converted to float64,
split by scikit-learn's ``train_test_split`` (sweepnp's own split is checked against it in
tests/test_split.py), the training rows' mean and standard deviation taken by NumPy on the
float64 copy, every split scaled in float64 and converted to the run's dtype at the end.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

import sweepnp
from sweepnp import Dataset, hookimpl
from sweepnp.config import parse
from sweepnp.datasets import prepare
from sweepnp.errors import DataError
from sweepnp.plugins import PluginManager
from sweepnp.run_parts import load_data
from sweepnp_plugins.datasets import bundled, files

SPLITS = ("train", "val", "test")


def reference(
    X,
    y,
    *,
    classify: bool,
    test_size: float = 0.2,
    val_size: float = 0.2,
    seed: int = 42,
    stratify: bool = True,
    subsample: int | None = None,
    scale: str = "standard",
    dtype=np.float64,
) -> dict[str, np.ndarray]:
    """Rows, features and scaling of each split, the way the preparation computed them before."""
    X = np.asarray(X, dtype=np.float64)
    X = X.reshape(-1, 1) if X.ndim == 1 else X
    labels = np.unique(y, return_inverse=True)[1] if classify else None
    rows = {"train": np.arange(len(X))}
    if test_size > 0:
        strat = labels if classify and stratify else None
        rows["train"], rows["test"] = train_test_split(
            rows["train"], test_size=test_size, random_state=seed, stratify=strat
        )
    if val_size > 0:
        strat = labels[rows["train"]] if classify and stratify else None
        rows["train"], rows["val"] = train_test_split(
            rows["train"], test_size=val_size / (1 - test_size), random_state=seed, stratify=strat
        )
    if subsample is not None:
        rows["train"] = rows["train"][:subsample]
    out: dict[str, np.ndarray] = {f"rows_{name}": index for name, index in rows.items()}
    mean = scale_ = None
    if scale == "standard":
        X_train = X[rows["train"]]
        mean, scale_ = X_train.mean(axis=0), X_train.std(axis=0)
        scale_[scale_ == 0] = 1.0
        out["mean"], out["scale"] = mean, scale_
    for name, index in rows.items():
        features = X[index]
        if mean is not None:
            features = (features - mean) / scale_
        out[f"X_{name}"] = np.ascontiguousarray(features, dtype=dtype)
    return out


def assert_as_before(splits, expected, dtype) -> None:
    """Every split present holds exactly the expected numbers (bit for bit), in ``dtype``."""
    for name in SPLITS:
        part = getattr(splits, f"X_{name}")
        if f"X_{name}" not in expected:
            assert part is None
            continue
        assert part.dtype == dtype and part.flags.c_contiguous
        assert np.array_equal(part, expected[f"X_{name}"]), name
    if "mean" in expected:
        assert np.array_equal(splits.scaler_mean, expected["mean"])
        assert np.array_equal(splits.scaler_scale, expected["scale"])


# -------------------------------------------------------------------------
# The same rows and numbers as before
# -------------------------------------------------------------------------

BUNDLED = {
    "breast_cancer": bundled.breast_cancer,
    "digits": bundled.digits,
    "digits01": bundled.digits01,
    "iris": bundled.iris,
    "diabetes": bundled.diabetes,
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("stratify", [True, False], ids=["stratified", "shuffled"])
@pytest.mark.parametrize("name", list(BUNDLED))
def test_every_bundled_dataset_splits_and_scales_as_before(name, stratify, dtype):
    dataset = BUNDLED[name]()
    classify = dataset.task != "regression"
    for seed, subsample in ((42, None), (0, None), (7, 50)):
        expected = reference(
            dataset.X, dataset.y, classify=classify, seed=seed, stratify=stratify,
            subsample=subsample, dtype=dtype,
        )  # fmt: skip
        splits = prepare(dataset, seed=seed, stratify=stratify, subsample=subsample, dtype=dtype)
        assert_as_before(splits, expected, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(
    "stored", [np.float64, np.float32, np.uint8, np.int64, bool], ids=lambda t: np.dtype(t).name
)
def test_large_data_of_any_stored_type_is_prepared_as_before(stored, dtype):
    """Enough rows and features that the scaling takes many blocks of rows, the sums carried
    from block to block; columns far from zero, a constant one, and a single class that is
    small (the stratified split must keep it)."""
    rng = np.random.default_rng(5)
    n, d = 3001, 211
    raw = rng.standard_normal((n, d)) * 10.0 ** rng.uniform(-3, 3, d) + rng.uniform(-1e4, 1e4, d)
    if stored is bool:
        X = raw > np.median(raw, axis=0)
    elif np.dtype(stored).kind in "iu":
        X = np.abs(raw).astype(stored) if stored is np.uint8 else raw.astype(stored)
    else:
        X = raw.astype(stored)
    X[:, 17] = X[0, 17]  # constant: its scale stays 1
    y = rng.choice(4, size=n, p=[0.5, 0.3, 0.19, 0.01])
    for test_size, val_size, scale in ((0.2, 0.2, "standard"), (0.1, 0.0, "standard"),
                                       (0.25, 0.15, "none")):  # fmt: skip
        expected = reference(
            X, y, classify=True, test_size=test_size, val_size=val_size, scale=scale, dtype=dtype
        )
        dataset = Dataset(X, y, task="multiclass")
        splits = prepare(dataset, test_size=test_size, val_size=val_size, scale=scale, dtype=dtype)
        assert_as_before(splits, expected, dtype)


@pytest.mark.parametrize("n_features", [1, 2, 3])
def test_few_columns_are_scaled_as_before(n_features):
    # NumPy sums a single column pairwise rather than row by row: its own arithmetic.
    rng = np.random.default_rng(n_features)
    X = rng.standard_normal((50_000, n_features)) * 1e3 + 7
    y = rng.standard_normal(50_000)
    for dtype in (np.float64, np.float32):
        expected = reference(X, y, classify=False, dtype=dtype)
        splits = prepare(Dataset(X, y, task="regression"), dtype=dtype)
        assert_as_before(splits, expected, dtype)


def write_table(path, X: np.ndarray, y) -> None:
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["label"] = y
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npz"])
@pytest.mark.parametrize("stratify", [True, False], ids=["stratified", "shuffled"])
def test_file_datasets_split_into_the_same_rows_as_before(tmp_path, suffix, stratify):
    """The first feature is each row's number: unscaled, each split shows which rows it took."""
    rng = np.random.default_rng(11)
    n = 997
    X = np.column_stack([np.arange(n), rng.integers(0, 256, size=(n, 5)) / 256])
    y = rng.choice(["ant", "bee", "cat"], size=n, p=[0.6, 0.3, 0.1])
    path = tmp_path / f"rows{suffix}"
    if suffix == ".npz":
        np.savez(path, X=X.astype(np.float32), y=y)
        table = f'path = "{path}"'
    else:
        write_table(path, X, y)
        table = f'path = "{path}", target = "label"'
    for dtype in ("float32", "float64"):
        for seed in (42, 3):
            config = parse(
                {
                    "data": {
                        "dataset": {"path": str(path)}
                        | ({} if suffix == ".npz" else {"target": "label"}),
                        "seed": seed,
                        "stratify": stratify,
                        "scale": "none",
                    },
                    "model": {"dtype": dtype},
                }
            )
            splits = load_data(config)
            expected = reference(
                X, y, classify=True, seed=seed, stratify=stratify, scale="none", dtype=dtype
            )
            for name in SPLITS:
                part = getattr(splits, f"X_{name}")
                assert part.dtype == np.dtype(dtype), table
                assert np.array_equal(part[:, 0].astype(int), expected[f"rows_{name}"])
                # k/256 is exact in float32: the values too are the ones read before
                assert np.array_equal(part, expected[f"X_{name}"])
            assert splits.classes.tolist() == ["ant", "bee", "cat"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_float64_run_on_a_file_has_the_numbers_it_had(tmp_path, suffix):
    """Decimals of 17 digits, read and scaled in float64: today's numbers to the last bit."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((400, 6)) * [1, 1e-3, 1e3, 5, 1e6, 0.1] + [0, 1, -4, 1e3, 0, 9]
    y = rng.integers(0, 2, size=400)
    path = tmp_path / f"decimals{suffix}"
    write_table(path, X, y)
    config = parse({"data": {"dataset": {"path": str(path), "target": "label"}}})
    as_read = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    expected = reference(as_read.drop(columns=["label"]).to_numpy(), y, classify=True)
    assert_as_before(load_data(config), expected, np.float64)


# -------------------------------------------------------------------------
# The run's dtype, from the file to the splits
# -------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_read_in_many_blocks_of_rows_is_read_whole(tmp_path, monkeypatch, suffix):
    """Blocks of a few rows (CSV: 4 kB of text; Parquet: 7 rows from row groups of 50), each
    copied into the features and dropped: every row lands in its place."""
    monkeypatch.setattr(files, "_CSV_BLOCK", 4096)
    monkeypatch.setattr(files, "_PARQUET_ROWS", 7)
    rng = np.random.default_rng(8)
    X = rng.integers(0, 1000, size=(523, 9)) / 8
    y = rng.integers(0, 3, size=523)
    path = tmp_path / f"blocks{suffix}"
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(9)]).assign(label=y)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False, row_group_size=50)
    data = files.file(path=str(path), target="label", dtype="float32")
    assert data.X.dtype == np.float32 and np.array_equal(data.X, X)
    assert data.y.tolist() == y.tolist()


def test_npz_features_stay_as_saved(tmp_path):
    X = np.arange(40, dtype=np.float32).reshape(10, 4)
    path = tmp_path / "f32.npz"
    np.savez(path, X=X, y=np.arange(10) % 2)
    data = files.file(path=str(path))
    assert data.X.dtype == np.float32 and np.array_equal(data.X, X)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_tables_are_read_into_the_dtype_asked(tmp_path, suffix):
    X = np.array([[0.1, 2.0], [0.2, -3.0], [0.7, 1e30]])
    path = tmp_path / f"t{suffix}"
    write_table(path, X, [0, 1, 0])
    for dtype in ("float32", "float64"):
        data = files.file(path=str(path), target="label", dtype=dtype)
        assert data.X.dtype == np.dtype(dtype)
        assert np.array_equal(data.X, X.astype(dtype))
        assert data.feature_names == ["f0", "f1"] and data.y.tolist() == [0, 1, 0]


def test_a_run_passes_its_dtype_to_a_loader_that_takes_one():
    seen = []

    class Recorder:
        @hookimpl
        def sweepnp_register_datasets(self):
            def recorded(dtype: str = "float64") -> Dataset:
                seen.append(dtype)
                return Dataset(np.arange(20.0).reshape(10, 2), np.arange(10) % 2)

            return {"recorded": recorded}

    pm = PluginManager(load_entrypoints=False, extra=(Recorder(),))
    for dtype in ("float32", "float64"):
        config = parse({"data": {"dataset": "recorded", "test_size": 0.0, "val_size": 0.0},
                        "model": {"dtype": dtype}})  # fmt: skip
        assert load_data(config, pm).X_train.dtype == np.dtype(dtype)
    assert seen == ["float32", "float64"]


def test_a_file_can_be_read_in_float64_for_a_float32_run(tmp_path):
    """``dtype = "float64"`` in the dataset table: the features scaled in float64 from the
    decimals themselves, as before, before the splits are made float32."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((300, 3)) * 0.01 + 1990.0  # far from zero against their spread
    y = rng.integers(0, 2, size=300)
    path = tmp_path / "years.csv"
    write_table(path, X, y)
    dataset = {"path": str(path), "target": "label", "dtype": "float64"}
    config = parse({"data": {"dataset": dataset}, "model": {"dtype": "float32"}})
    expected = reference(pd.read_csv(path).to_numpy()[:, :3], y, classify=True, dtype=np.float32)
    assert_as_before(load_data(config), expected, np.float32)


# -------------------------------------------------------------------------
# The CSV reader: pyarrow where it can, the labels as pandas types them
# -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [
        ["+3", "3", "7"],  # pandas: integers; pyarrow would say float
        ["0x10", "2", "3"],  # pandas: text; pyarrow would read 16
        ["2020-01-01", "2020-01-02", "2020-01-03"],  # pandas: text; pyarrow would read dates
        [" 3", "3 ", "4"],
        ['"a, b"', '"say ""hi"""', "c"],
        ["True", "False", "True"],
        ["9223372036854775808", "1", "2"],  # pandas: uint64
        ["1.5", "2", "-0"],
    ],
    ids=["plus", "hex", "dates", "spaces", "quoted", "bools", "uint64", "floats"],
)
def test_csv_labels_are_what_pandas_reads(tmp_path, labels):
    path = tmp_path / "labels.csv"
    rows = [f"{i}.25,{i % 2},{labels[i % len(labels)]}" for i in range(9)]
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    data = files.file(path=str(path), target="label", dtype="float64")
    before = pd.read_csv(path, engine="c")
    assert data.y.dtype == before["label"].to_numpy().dtype
    assert data.y.tolist() == before["label"].tolist()
    assert np.array_equal(data.X, before[["a", "b"]].to_numpy(dtype=np.float64))


@pytest.mark.parametrize(
    "rows",
    [
        ["1,True,0", "2,False,1", "3,True,1"],  # a column of booleans: pandas reads them as 1/0
        ["1,,0", "2,5,1", "3,6,1"],  # a missing value
        ["1,2", "2,5,1", "3,6,1"],  # a short row: pandas fills NaN
    ],
    ids=["booleans", "missing", "ragged"],
)
def test_csv_files_pyarrow_does_not_take_are_read_as_before(tmp_path, rows):
    path = tmp_path / "odd.csv"
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    data = files.file(path=str(path), target="label", dtype="float32")
    before = pd.read_csv(path, engine="c")
    assert np.array_equal(data.X, before[["a", "b"]].to_numpy(dtype=np.float64), equal_nan=True)
    np.testing.assert_array_equal(data.y, before["label"].to_numpy())


def test_a_float32_run_refuses_what_float32_cannot_hold_as_before(tmp_path):
    path = tmp_path / "huge.csv"
    write_table(path, np.array([[1e39, 1.0], [2.0, 3.0], [3.0, 1.0]] * 5), [0, 1, 1] * 5)
    config = {"data": {"dataset": {"path": str(path), "target": "label"}, "scale": "none"},
              "model": {"dtype": "float32"}}  # fmt: skip
    with pytest.raises(DataError) as info:
        sweepnp.Trainer(config)
    assert info.value.key == "model.dtype"
    assert "not finite in float32: feature column(s) f0 hold values up to 1e+39" in str(info.value)


def test_a_parquet_file_with_a_stored_index_keeps_it_out_of_the_features(tmp_path):
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "label": [0, 1, 0]}, index=["x", "y", "z"])
    path = tmp_path / "indexed.parquet"
    frame.to_parquet(path)
    data = files.file(path=str(path), target="label", dtype="float32")
    assert data.feature_names == ["a"] and data.X.tolist() == [[1.0], [2.0], [3.0]]


# -------------------------------------------------------------------------
# No full-size temporaries
# -------------------------------------------------------------------------


@pytest.mark.parametrize("stored", [np.float32, np.float64], ids=["float32", "float64"])
def test_a_float32_run_allocates_little_beyond_its_splits(stored):
    """Preparing float32 splits takes the splits' bytes and some blocks of rows: before, a
    float64 copy of the data, of the training split and of each split scaled (about 6×)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 200)).astype(stored)
    y = rng.integers(0, 10, size=20_000)
    dataset = Dataset(X, y, task="multiclass")
    splits_bytes = X.shape[0] * X.shape[1] * 4
    tracemalloc.start()
    try:
        splits = prepare(dataset, dtype=np.float32)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert splits.X_train.dtype == np.float32
    assert peak < splits_bytes + 8 * 2**20, f"{peak / 2**20:.1f} MiB for {splits_bytes / 2**20:.1f}"


# -------------------------------------------------------------------------
# Memory a training step frees, kept for the next (glibc)
# -------------------------------------------------------------------------

STEPS = """
import resource, sys
import numpy as np
from sweepnp.allocator import keep_freed_memory

def page_faults(steps):
    # a step's arrays: a few of 1 MiB alive together, then freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(steps):
        arrays = [np.ones(2**20, np.uint8) for _ in range(4)]
        del arrays
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

page_faults(5)
untuned = page_faults(20)
kept = keep_freed_memory()
page_faults(1)
print(untuned, kept, page_faults(20))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_run_keeps_the_memory_a_step_frees_for_the_next():
    """glibc maps and unmaps a few MB of step arrays at every step until its thresholds are
    raised: 4 MiB a step is a thousand page faults, then none."""
    done = subprocess.run([sys.executable, "-c", STEPS], capture_output=True, text=True, check=True)
    untuned, kept, tuned = done.stdout.split()
    if kept != "True":
        pytest.skip("the C library is not glibc")
    assert int(untuned) > 20 * 500  # every step faulted its arrays' pages in again
    assert int(tuned) < 100
