"""The bundled data sets read scikit-learn's files without importing scikit-learn, and give
exactly what its ``load_*`` functions give; when the files are not as expected they fall back
to those functions."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys

import numpy as np
import pytest
from sklearn import datasets

from sweepnp_plugins.datasets import bundled

NAMES = ("breast_cancer", "digits", "iris", "diabetes")


def assert_same_arrays(ours, bunch):
    X, y, feature_names, target_names = ours
    assert X.dtype == bunch.data.dtype and np.array_equal(X, bunch.data)
    assert y.dtype == bunch.target.dtype and np.array_equal(y, bunch.target)
    assert feature_names == [str(n) for n in bunch.feature_names]
    if hasattr(bunch, "target_names"):
        assert target_names == [str(n) for n in bunch.target_names]
    else:
        assert target_names is None


@pytest.mark.parametrize("name", NAMES)
def test_the_files_give_what_scikit_learns_loader_gives(name):
    assert_same_arrays(bundled.read(name), getattr(datasets, f"load_{name}")())


@pytest.mark.parametrize(
    ("loader", "name", "keep"),
    [
        (bundled.breast_cancer, "breast_cancer", None),
        (bundled.digits, "digits", None),
        (bundled.digits01, "digits", 1),
        (bundled.iris, "iris", None),
        (bundled.diabetes, "diabetes", None),
    ],
)
def test_each_dataset_is_the_loaders_arrays(loader, name, keep):
    """What each plugin returns, against the scikit-learn Bunch it was built from before."""
    dataset, bunch = loader(), getattr(datasets, f"load_{name}")()
    X, y = bunch.data.astype(np.float64), bunch.target
    y = y.astype(np.float64) if name == "diabetes" else y.astype(np.int64)
    if keep is not None:
        X, y = X[y <= keep], y[y <= keep]
    assert dataset.X.dtype == X.dtype and np.array_equal(dataset.X, X)
    assert dataset.y.dtype == y.dtype and np.array_equal(dataset.y, y)
    assert dataset.feature_names == [str(n) for n in bunch.feature_names]


def copy_data_folder(tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(bundled.data_folder(), folder)
    return folder


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        ("breast_cancer", "missing"),
        ("breast_cancer", "header"),  # the header's row count disagrees with the rows
        ("iris", "labels"),  # labels that are not integers
        ("iris", "text"),  # a value that is not a number
        ("digits", "missing"),
        ("digits", "shape"),
        ("digits", "truncated"),  # a gzip stream that ends early
        ("iris", "empty"),
        ("diabetes", "missing"),
    ],
)
def test_files_not_as_expected_fall_back_to_scikit_learn(tmp_path, monkeypatch, name, damage):
    folder = copy_data_folder(tmp_path)
    file = {
        "breast_cancer": "breast_cancer.csv",
        "iris": "iris.csv",
        "digits": "digits.csv.gz",
        "diabetes": "diabetes_target.csv.gz",
    }[name]
    path = folder / file
    if damage == "missing":
        path.unlink()
    elif damage == "header":
        path.write_text(path.read_text().replace("569,30", "570,30", 1))
    elif damage == "labels":
        path.write_text(path.read_text().replace(",0\n", ",0.5\n", 1))
    elif damage == "text":
        path.write_text(path.read_text().replace("5.1", "five", 1))
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "empty":
        path.write_text("")
    elif damage == "shape":
        rows = gzip.decompress(path.read_bytes()).decode().splitlines()
        path.write_bytes(gzip.compress("\n".join(rows[:-1]).encode()))
    monkeypatch.setattr(bundled, "data_folder", lambda: folder)
    fell_back = []
    from_sklearn = bundled.read_with_sklearn
    monkeypatch.setattr(
        bundled, "read_with_sklearn", lambda n: fell_back.append(n) or from_sklearn(n)
    )
    assert_same_arrays(bundled.read(name), getattr(datasets, f"load_{name}")())
    assert fell_back == [name]


def test_intact_files_need_no_fallback(tmp_path, monkeypatch):
    folder = copy_data_folder(tmp_path)
    monkeypatch.setattr(bundled, "data_folder", lambda: folder)
    monkeypatch.setattr(bundled, "read_with_sklearn", lambda n: pytest.fail(f"fell back: {n}"))
    for name in NAMES:
        assert_same_arrays(bundled.read(name), getattr(datasets, f"load_{name}")())


def test_reading_imports_neither_scikit_learn_nor_scipy():
    code = (
        "import sys\n"
        "from sweepnp_plugins.datasets import bundled\n"
        "for load in (bundled.breast_cancer, bundled.digits, bundled.digits01, bundled.iris,\n"
        "             bundled.diabetes):\n"
        "    load()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'pandas'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
