"""sweepnp's split is scikit-learn's ``train_test_split``, reimplemented in NumPy so that a run
need not import scikit-learn: the same rows for every size, fraction, seed and class balance,
and the same refusals."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from sweepnp.datasets import Dataset, prepare
from sweepnp.errors import DataError
from sweepnp.splitting import shuffle_split


def sklearn_split(n: int, fraction: float, seed: int, labels: np.ndarray | None):
    rows = np.arange(n)
    return train_test_split(rows, test_size=fraction, random_state=seed, stratify=labels)


def cases(count: int, stratified: bool):
    """(n rows, fraction, seed, labels) drawn over small and large data, even and skewed class
    balances, tiny classes and fractions that round up."""
    rng = np.random.default_rng(12)
    fractions = (0.1, 0.2, 0.25, 1 / 3, 0.5, 0.7, 0.05, 0.2 / 0.8, 0.15 / 0.85)
    for i in range(count):
        n = int(rng.choice([4, 5, 7, 10, 12, 20, 33, 50, 101, 150, 569, 1797]))
        fraction = float(rng.choice(fractions)) if i % 3 else float(rng.uniform(0.01, 0.95))
        seed = int(rng.integers(0, 2**32 - 1)) if i % 4 == 0 else int(rng.integers(0, 100))
        labels = None
        if stratified:
            k = int(rng.integers(2, min(n // 2, 10) + 1))
            weights = rng.dirichlet(np.full(k, 0.5 if i % 2 else 5.0))
            labels = rng.choice(k, size=n, p=weights)
        yield n, fraction, seed, labels


def outcome(split):
    try:
        return split()
    except ValueError as exc:
        return str(exc)


@pytest.mark.parametrize("stratified", [False, True], ids=["shuffled", "stratified"])
def test_the_same_rows_and_refusals_as_scikit_learn(stratified):
    agreed = refused = 0
    for n, fraction, seed, labels in cases(400, stratified):
        ours = outcome(lambda: shuffle_split(n, fraction, seed, labels))  # noqa: B023
        theirs = outcome(lambda: sklearn_split(n, fraction, seed, labels))  # noqa: B023
        case = f"n={n}, fraction={fraction}, seed={seed}, labels={labels}"
        if isinstance(theirs, str):
            assert ours == theirs, case
            refused += 1
            continue
        assert not isinstance(ours, str), f"{case}: {ours}"
        for mine, sklearns in zip(ours, theirs, strict=True):
            assert mine.dtype == sklearns.dtype and np.array_equal(mine, sklearns), case
        agreed += 1
    # Most cases split; among the stratified ones, many are refused (tiny classes), same words.
    assert agreed >= 200
    assert refused >= 50 if stratified else refused >= 1


@pytest.mark.parametrize(
    ("n", "fraction", "labels"),
    [
        (1, 0.2, None),  # the training part would be empty
        (3, 0.9, None),
        (6, 0.2, np.array([0, 0, 0, 0, 0, 1])),  # a class with one member
        (10, 0.2, np.array([0, 1, 2, 3, 4] * 2)),  # fewer held-out rows than classes
        (10, 0.7, np.array([0, 1, 2, 3, 4] * 2)),  # fewer kept rows than classes
    ],
)
def test_refusals_have_scikit_learns_words(n, fraction, labels):
    with pytest.raises(ValueError) as ours:
        shuffle_split(n, fraction, 0, labels)
    with pytest.raises(ValueError) as theirs:
        sklearn_split(n, fraction, 0, labels)
    assert str(ours.value) == str(theirs.value)


def test_prepare_gives_the_rows_scikit_learn_gives():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((97, 3)), rng.choice(3, size=97, p=[0.6, 0.3, 0.1])
    splits = prepare(
        Dataset(X, y, task="multiclass"), test_size=0.2, val_size=0.2, seed=7, scale="none"
    )
    rows = np.arange(97)
    kept, test = train_test_split(rows, test_size=0.2, random_state=7, stratify=y)
    train, val = train_test_split(kept, test_size=0.2 / 0.8, random_state=7, stratify=y[kept])
    for part, index in ((splits.X_train, train), (splits.X_val, val), (splits.X_test, test)):
        assert np.array_equal(part, X[index])


def test_a_refused_split_is_a_one_line_data_error():
    dataset = Dataset(np.ones((6, 2)), np.array([0, 0, 0, 0, 0, 1]), task="binary")
    with pytest.raises(DataError) as info:
        prepare(dataset, test_size=0.2, val_size=0.0)
    message = str(info.value)
    assert "\n" not in message
    assert "cannot split off the test set (0.2 of 6 rows, stratified by class)" in message
    assert "The least populated classes in y have only 1 member" in message
    assert info.value.key == "data.test_size"
