"""scikit-learn's bundled data sets, available offline: breast_cancer, digits, digits01, iris,
diabetes.

Run-file use::

    [data]
    dataset = "breast_cancer"
"""

from __future__ import annotations

import numpy as np

from sweepnp import Dataset, hookimpl

__all__ = ["breast_cancer", "diabetes", "digits", "digits01", "iris"]


def _sklearn_datasets():
    # Imported on first use: scikit-learn takes about a second to import, which commands that
    # load no data (``sweepnp study show``, ``sweepnp plugins list``) should not pay.
    from sklearn import datasets

    return datasets


def _from_bunch(bunch, task: str, name: str, description: str) -> Dataset:
    """A scikit-learn Bunch as a Dataset: float64 features, integer labels or float targets."""
    regression = task == "regression"
    return Dataset(
        X=bunch.data.astype(np.float64),
        y=bunch.target.astype(np.float64 if regression else np.int64),
        task=task,
        feature_names=[str(name) for name in bunch.feature_names],
        target_names=None if regression else [str(name) for name in bunch.target_names],
        name=name,
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
    return _from_bunch(
        _sklearn_datasets().load_breast_cancer(),
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
    return _from_bunch(
        _sklearn_datasets().load_digits(),
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
    dataset = _from_bunch(_sklearn_datasets().load_digits(), "binary", "digits01", description)
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
    return _from_bunch(
        _sklearn_datasets().load_iris(),
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
    return _from_bunch(_sklearn_datasets().load_diabetes(), "regression", "diabetes", description)


@hookimpl
def sweepnp_register_datasets():
    return {
        "breast_cancer": breast_cancer,
        "digits": digits,
        "digits01": digits01,
        "iris": iris,
        "diabetes": diabetes,
    }
