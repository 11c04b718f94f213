"""scikit-learn's ``train_test_split``, in NumPy: importing ``sklearn.model_selection`` takes about
a second, which a run need not pay.

These are its steps and its messages (scikit-learn 1.4 to 1.9: ``ShuffleSplit`` and
``StratifiedShuffleSplit`` in ``sklearn/model_selection/_split.py``, ``_approximate_mode`` in
``sklearn/utils/extmath.py``); tests/test_split.py checks the indices against scikit-learn's over
many cases. :mod:`sweepnp.datasets` splits a run's data with it.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["shuffle_split"]


def shuffle_split(
    n_samples: int, fraction: float, seed: int, stratify: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The indices ``(kept, held_out)`` that ``train_test_split(np.arange(n_samples),
    test_size=fraction, random_state=seed, stratify=stratify)`` gives.

    ``ceil(fraction · n_samples)`` rows are held out; with ``stratify`` (one label per row)
    each class keeps its share in both parts. Raises ``ValueError`` with scikit-learn's message
    when that cannot be done.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"test_size={fraction} should be a float in the (0, 1) range")
    n_test = math.ceil(fraction * n_samples)
    n_train = n_samples - n_test
    if n_train <= 0:
        raise ValueError(
            f"With n_samples={n_samples}, test_size={fraction} and train_size=None, the "
            "resulting train set will be empty. Adjust any of the aforementioned parameters."
        )
    if stratify is None:
        rng = np.random.RandomState(seed)
        permutation = rng.permutation(n_samples)
        return permutation[n_test : n_test + n_train], permutation[:n_test]
    return _stratified_shuffle_split(n_train, n_test, seed, np.asarray(stratify))


def _stratified_shuffle_split(
    n_train: int, n_test: int, seed: int, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    classes, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    n_classes = classes.shape[0]
    if np.min(class_counts) < 2:
        raise ValueError(
            "The least populated classes in y have only 1 member, which is too few. The "
            "minimum number of groups for any class cannot be less than 2. Classes with too "
            f"few members are: {classes[class_counts < 2].tolist()}"
        )
    if n_train < n_classes:
        raise ValueError(
            f"The train_size = {n_train} should be greater or equal to the number of "
            f"classes = {n_classes}"
        )
    if n_test < n_classes:
        raise ValueError(
            f"The test_size = {n_test} should be greater or equal to the number of "
            f"classes = {n_classes}"
        )
    # Each class's rows in order; np.unique sorted the labels.
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train, test = [], []
    for i in range(n_classes):
        shuffled = class_indices[i][rng.permutation(class_counts[i])]
        train.append(shuffled[: n_i[i]])
        test.append(shuffled[n_i[i] : n_i[i] + t_i[i]])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _approximate_mode(
    class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState
) -> np.ndarray:
    """How many of ``n_draws`` rows to take from each class: each class's share rounded down,
    then one more for the classes with the largest remainders (ties broken by ``rng``) until
    they add up — roughly the mode of the multivariate hypergeometric distribution."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            inds = rng.choice(inds, size=add_now, replace=False)
            floored[inds] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)
