"""A few rows written in the run file itself: the toy data of an exercise, exactly as printed.

Seed 001's exercises train on eight points of ``y = 2x`` and on six labelled points of a 1-D
decision boundary; a file for that would hide the very numbers the reader compares. Run-file use::

    [data]
    dataset = { name = "points", X = [[1.0], [2.0], [3.0]], y = [2.0, 4.0, 6.0] }
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from sweepnp import Dataset, OptionError, hookimpl

__all__ = ["points"]


def points(
    X: list[list[float]],
    y: list[float],
    task: Literal["binary", "multiclass", "regression"] | None = None,
) -> Dataset:
    """The rows ``X`` and targets ``y`` as given, in their order.

    Parameters
    ----------
    X : list of lists of float
        One list per row, each of the same length (the features).
    y : list of float
        One target per row.
    task : {"binary", "multiclass", "regression"} or None, default None
        The task the rows are for; ``None`` lets sweepnp infer it from ``y`` (``model.task =
        "auto"``): ``[2.0, 4.0]`` would pass for two classes, so a regression should say so.

    Returns
    -------
    Dataset
        ``X`` as float64 of shape (rows, features), ``y`` as given.

    Notes
    -----
    sweepnp splits and scales these rows like any data set's; to train on them exactly as
    written (seed 001's exercises), set ``test_size = 0``, ``val_size = 0``, ``scale = "none"``
    and ``train.shuffle = false``.
    """
    if not X:
        raise OptionError("X", "must hold at least one row")
    widths = {len(row) for row in X}
    if len(widths) != 1 or 0 in widths:
        raise OptionError("X", f"every row must hold the same number (≥ 1) of features, got {X!r}")
    if len(y) != len(X):
        raise OptionError("y", f"must hold one target per row of X ({len(X)}), got {len(y)}")
    features = np.asarray(X, dtype=np.float64)
    return Dataset(
        X=features,
        y=np.asarray(y, dtype=np.float64),
        task=task,
        feature_names=[f"x{i + 1}" for i in range(features.shape[1])],
        name="points",
        description=f"{len(X)} rows written in the run file.",
    )


@hookimpl
def sweepnp_register_datasets():
    return {"points": points}
