"""scikit-learn's bundled data sets, available offline: breast_cancer, digits, digits01, iris,
diabetes.

Run-file use::

    [data]
    dataset = "breast_cancer"

The data are read from the files scikit-learn ships (``sklearn/datasets/data/``), as its
``load_*`` functions read them, without importing scikit-learn: ``sklearn.datasets`` takes
more than a second to import (it pulls in SciPy), which every run on a bundled data set would
pay. The arrays are the loaders' exactly (``tests/plugins/test_bundled.py`` compares them); a
file that is missing or not in the format read here (another scikit-learn version) falls back
to scikit-learn's own loader.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sweepnp import Dataset, hookimpl

__all__ = ["breast_cancer", "diabetes", "digits", "digits01", "iris"]

# The feature names scikit-learn's loaders give (they are not in the files).
_MEASURES = (
    "radius",
    "texture",
    "perimeter",
    "area",
    "smoothness",
    "compactness",
    "concavity",
    "concave points",
    "symmetry",
    "fractal dimension",
)
BREAST_CANCER_FEATURES = [
    *(f"mean {m}" for m in _MEASURES),
    *(f"{m} error" for m in _MEASURES),
    *(f"worst {m}" for m in _MEASURES),
]
IRIS_FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
DIGITS_FEATURES = [f"pixel_{row}_{column}" for row in range(8) for column in range(8)]
DIABETES_FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]

#: ``(X, y, feature names, target names or None)``, as a scikit-learn loader's Bunch holds them.
Arrays = tuple[np.ndarray, np.ndarray, list[str], list[str] | None]


class NotAsExpected(Exception):
    """scikit-learn's data file is missing or not in the format this module reads."""


def data_folder() -> Path:
    """``sklearn/datasets/data``, found without importing scikit-learn (finding a top-level
    package's spec does not run its ``__init__``)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise NotAsExpected("scikit-learn is not installed as a package folder")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def _labelled_csv(file: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A file in the format of scikit-learn's ``load_csv_data``: a header ``n_samples,
    n_features,target names…``, then one row per sample, its features and an integer label."""
    with (data_folder() / file).open(encoding="utf-8") as lines:
        header = next(csv.reader([lines.readline()]), [])
        if len(header) < 2:
            raise NotAsExpected(f"{file}: no header of n_samples, n_features, target names")
        n_samples, n_features, target_names = int(header[0]), int(header[1]), header[2:]
        table = np.loadtxt(lines, delimiter=",", dtype=np.float64, ndmin=2)
    if table.shape != (n_samples, n_features + 1):
        raise NotAsExpected(f"{file}: {table.shape[0]} rows for a header of {header[:2]}")
    labels = table[:, -1]
    if not np.array_equal(labels, np.trunc(labels)):
        raise NotAsExpected(f"{file}: labels that are not integers")
    return table[:, :-1], labels.astype(int), target_names


def _gzip_table(file: str, shape: tuple[int, ...], delimiter: str | None = None) -> np.ndarray:
    """A gzip-compressed table, as ``load_gzip_compressed_csv_data`` reads it."""
    with (
        (data_folder() / file).open("rb") as compressed,
        gzip.open(compressed, mode="rt", encoding="utf-8") as text,
    ):
        table = np.loadtxt(text, delimiter=delimiter)
    if table.shape != shape:
        raise NotAsExpected(f"{file}: shape {table.shape}, expected {shape}")
    return table


def _read_breast_cancer() -> Arrays:
    X, y, target_names = _labelled_csv("breast_cancer.csv")
    if X.shape[1] != len(BREAST_CANCER_FEATURES):
        raise NotAsExpected(f"breast_cancer.csv: {X.shape[1]} features")
    return X, y, BREAST_CANCER_FEATURES, target_names


def _read_iris() -> Arrays:
    X, y, target_names = _labelled_csv("iris.csv")
    if X.shape[1] != len(IRIS_FEATURES):
        raise NotAsExpected(f"iris.csv: {X.shape[1]} features")
    return X, y, IRIS_FEATURES, target_names


def _read_digits() -> Arrays:
    table = _gzip_table("digits.csv.gz", (1797, 65), delimiter=",")
    return table[:, :-1], table[:, -1].astype(int), DIGITS_FEATURES, [str(d) for d in range(10)]


def _read_diabetes() -> Arrays:
    data = _gzip_table("diabetes_data_raw.csv.gz", (442, 10))
    target = _gzip_table("diabetes_target.csv.gz", (442,))
    return _scale(data) / data.shape[0] ** 0.5, target, DIABETES_FEATURES, None


def _scale(X: np.ndarray) -> np.ndarray:
    """``sklearn.preprocessing.scale(X, copy=False)`` on a dense float64 array: the same
    operations (centred, divided by the standard deviation, re-centred where rounding left a
    mean not close to 0), in place."""
    mean = np.nanmean(X, axis=0)
    scale = np.nanstd(X, axis=0)
    X -= mean
    mean_1 = np.nanmean(X, axis=0)
    if not np.allclose(mean_1, 0):
        X -= mean_1
    scale[scale < 10 * np.finfo(scale.dtype).eps] = 1.0  # a (near) constant column stays as is
    X /= scale
    mean_2 = np.nanmean(X, axis=0)
    if not np.allclose(mean_2, 0):
        X -= mean_2
    return X


_READERS: dict[str, Callable[[], Arrays]] = {
    "breast_cancer": _read_breast_cancer,
    "digits": _read_digits,
    "iris": _read_iris,
    "diabetes": _read_diabetes,
}


def read(name: str) -> Arrays:
    """``(X, y, feature names, target names)`` of scikit-learn's ``load_<name>()``: read from
    its files, or from the loader itself when the files are not as expected."""
    try:
        return _READERS[name]()
    except (OSError, EOFError, zlib.error, ValueError, NotAsExpected):
        return read_with_sklearn(name)


def read_with_sklearn(name: str) -> Arrays:
    """The same from scikit-learn's loader (which imports scikit-learn)."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    target_names = getattr(bunch, "target_names", None)
    return (
        bunch.data,
        bunch.target,
        [str(n) for n in bunch.feature_names],
        None if target_names is None else [str(n) for n in target_names],
    )


def _dataset(name: str, task: str, title: str, description: str) -> Dataset:
    """A bundled data set as a Dataset: float64 features, integer labels or float targets."""
    X, y, feature_names, target_names = read(name)
    regression = task == "regression"
    return Dataset(
        X=X.astype(np.float64),
        y=y.astype(np.float64 if regression else np.int64),
        task=task,
        feature_names=list(feature_names),
        target_names=None if regression else list(target_names or []),
        name=title,
        description=description,
    )


def breast_cancer() -> Dataset:
    """Wisconsin diagnostic breast cancer: 569 tumours, 30 features, binary.

    Returns
    -------
    Dataset
        ``X`` of shape (569, 30), ``y`` in {0 = malignant, 1 = benign}, ``task="binary"``.

    Notes
    -----
    The data of the "Go Beyond Full-Batch Training" exercise (seed 000): a 30-16-1 MLP
    reaches about 0.98 training accuracy.

    References
    ----------
    .. [1] W. N. Street, W. H. Wolberg and O. L. Mangasarian, "Nuclear feature extraction for
       breast tumor diagnosis", IS&T/SPIE Electronic Imaging, 1993.
    """
    return _dataset(
        "breast_cancer",
        "binary",
        "breast_cancer",
        "Wisconsin diagnostic breast cancer (scikit-learn): malignant vs benign.",
    )


def digits() -> Dataset:
    """Handwritten digits: 1,797 images of 8 × 8 pixels (values 0-16), 10 classes.

    Returns
    -------
    Dataset
        ``X`` of shape (1797, 64), ``y`` in 0..9, ``task="multiclass"``.

    References
    ----------
    .. [1] E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine
       Learning Repository, 1998.
    """
    return _dataset(
        "digits",
        "multiclass",
        "digits",
        "Handwritten digits 0-9, 8x8 pixels (scikit-learn).",
    )


def digits01() -> Dataset:
    """The digits 0 and 1 only: 360 images of 8 × 8 pixels, binary.

    Returns
    -------
    Dataset
        ``X`` of shape (360, 64), ``y`` in {0, 1} (the digit), ``task="binary"``.

    Notes
    -----
    The offline stand-in for the MNIST 0-vs-1 logistic regression of the "Mini-Batch Gradient
    Descent" text (seed 001).
    """
    description = "Handwritten digits 0 vs 1, 8x8 pixels (scikit-learn); stand-in for MNIST."
    dataset = _dataset("digits", "binary", "digits01", description)
    keep = dataset.y <= 1
    dataset.X, dataset.y, dataset.target_names = dataset.X[keep], dataset.y[keep], ["0", "1"]
    return dataset


def iris() -> Dataset:
    """Fisher's iris: 150 flowers, 4 measurements, 3 species.

    Returns
    -------
    Dataset
        ``X`` of shape (150, 4), ``y`` in 0..2, ``task="multiclass"``.

    References
    ----------
    .. [1] R. A. Fisher, "The use of multiple measurements in taxonomic problems", Annals of
       Eugenics 7(2), 1936.
    """
    return _dataset(
        "iris",
        "multiclass",
        "iris",
        "Fisher's iris (scikit-learn): setosa, versicolor, virginica.",
    )


def diabetes() -> Dataset:
    """Diabetes progression: 442 patients, 10 baseline variables, a continuous target.

    Returns
    -------
    Dataset
        ``X`` of shape (442, 10) (already mean-centred and scaled by scikit-learn), ``y`` the
        disease progression one year after baseline (25-346), ``task="regression"``.

    References
    ----------
    .. [1] B. Efron, T. Hastie, I. Johnstone and R. Tibshirani, "Least Angle Regression",
       Annals of Statistics 32(2), 2004.
    """
    description = "Diabetes disease progression after one year (scikit-learn)."
    return _dataset("diabetes", "regression", "diabetes", description)


@hookimpl
def sweepnp_register_datasets():
    return {
        "breast_cancer": breast_cancer,
        "digits": digits,
        "digits01": digits01,
        "iris": iris,
        "diabetes": diabetes,
    }
