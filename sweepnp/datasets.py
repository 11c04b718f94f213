"""Datasets: what a dataset plugin returns, and how sweepnp splits, scales and checks it.

A dataset plugin returns the whole data set as a :class:`Dataset`. :func:`prepare` then checks it
(finite, non-empty, a target that fits the task), encodes class labels, splits it into training,
validation and test sets (stratified for classification, seeded), optionally keeps only the first
``subsample`` training rows, and fits standard scaling on the training split only. The splits
are made in the run's dtype a block of rows at a time from the features as given (float32 stays
float32): no temporary is as large as the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sweepnp.errors import DataError
from sweepnp.splitting import shuffle_split

__all__ = ["TASKS", "Dataset", "Splits", "prepare", "shuffle_split"]

TASKS = ("binary", "multiclass", "regression")


@dataclass
class Dataset:
    """A whole data set, as a dataset plugin returns it.

    :param X: features, shape ``(n_samples, n_features)``, numeric.
    :param y: targets, shape ``(n_samples,)`` (labels or values) or ``(n_samples, k)`` for
        multi-output regression.
    :param task: the task the data is made for (``binary``, ``multiclass``, ``regression``),
        used when the run file says ``task = "auto"``; ``None`` when unknown.
    """

    X: Any
    y: Any
    task: str | None = None
    feature_names: list[str] | None = None
    target_names: list[str] | None = None
    name: str = ""
    description: str = ""


@dataclass
class Splits:
    """The prepared data of one run: arrays per split, the task and the class labels."""

    task: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    classes: np.ndarray | None = None
    feature_names: list[str] | None = None
    scaler_mean: np.ndarray | None = None
    scaler_scale: np.ndarray | None = None
    #: Regression targets standardized with these (``data.scale_target``): the splits' targets
    #: are ``(y - target_mean) / target_scale``.
    target_mean: np.ndarray | None = None
    target_scale: np.ndarray | None = None
    name: str = ""
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_outputs(self) -> int:
        if self.task == "multiclass":
            assert self.classes is not None
            return len(self.classes)
        if self.task == "binary":
            return 1
        return int(self.y_train.shape[1])

    def splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The splits present, by log prefix: ``""`` (training), ``"val_"``, ``"test_"``."""
        out = {"": (self.X_train, self.y_train)}
        if self.X_val is not None and self.y_val is not None:
            out["val_"] = (self.X_val, self.y_val)
        if self.X_test is not None and self.y_test is not None:
            out["test_"] = (self.X_test, self.y_test)
        return out

    def transform(self, X: Any) -> np.ndarray:
        """Apply the fitted scaling to new features (for ``predict`` on raw inputs)."""
        X = np.asarray(X, dtype=np.float64)  # scaled as the splits were: in float64, then cast
        if self.scaler_mean is not None and self.scaler_scale is not None:
            X = (X - self.scaler_mean) / self.scaler_scale
        return X.astype(self.X_train.dtype, copy=False)


def _as_features(X: Any, source: str | None) -> np.ndarray:
    """The features as a 2-D numeric array: a NumPy array of numbers as it is (float32 stays
    float32, no copy); anything else converted to float64."""
    if isinstance(X, np.ndarray) and X.dtype.kind in "biuf":
        array = X
    else:
        try:
            array = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError("features must be numeric", source=source, key="data") from None
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise DataError(
            f"features must be a 2-D array (samples × features), got shape {array.shape}",
            source=source,
            key="data",
        )
    if not array.flags.c_contiguous and array.nbytes > _CONTIGUOUS_FROM:
        array = np.ascontiguousarray(array)  # rows gathered from a column-major array crawl
    return array


def infer_task(dataset: Dataset) -> str:
    """The task a dataset is made for, or a guess from its target when it doesn't say."""
    if dataset.task is not None:
        return dataset.task
    y = np.asarray(dataset.y)
    if y.dtype.kind in "fc" and not np.all(np.mod(y[np.isfinite(y)], 1) == 0):
        return "regression"
    n_classes = len(np.unique(y))
    if n_classes == 2:
        return "binary"
    # Labels that are not numbers are classes however many; many distinct integers are a count.
    numeric = y.dtype.kind in "iufc"
    return "multiclass" if n_classes <= 50 or not numeric else "regression"


def _encode_target(y: np.ndarray, task: str, source: str | None):
    if task == "regression":
        try:
            values = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(
                "a regression target must be numeric; choose task 'binary' or 'multiclass' "
                "for labels",
                source=source,
                key="model.task",
            ) from None
        if not np.all(np.isfinite(values)):
            raise DataError("the target contains NaN or infinite values", source=source, key="data")
        return (values.reshape(-1, 1) if values.ndim == 1 else values), None
    if y.ndim != 1:
        raise DataError(
            f"a {task} target must be one label per row, got shape {y.shape}",
            source=source,
            key="model.task",
        )
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise DataError("the target contains NaN or infinite values", source=source, key="data")
    classes, codes = np.unique(y, return_inverse=True)
    if task == "binary" and len(classes) != 2:
        raise DataError(
            f"a binary task needs exactly 2 classes, the target has {len(classes)} "
            f"({_preview(classes)}); valid tasks: binary, multiclass, regression",
            source=source,
            key="model.task",
        )
    if task == "multiclass" and len(classes) < 2:
        raise DataError(
            f"a multiclass task needs at least 2 classes, the target has {len(classes)}",
            source=source,
            key="model.task",
        )
    if y.dtype.kind == "f" and not np.all(np.mod(classes, 1) == 0):
        raise DataError(
            f"a {task} target must hold class labels, got non-integer values "
            f"({_preview(classes)}); use task 'regression' for continuous targets",
            source=source,
            key="model.task",
        )
    return codes.astype(np.int64), classes


def _preview(values: np.ndarray, limit: int = 5) -> str:
    shown = ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in values[:limit])
    return shown + (", ..." if len(values) > limit else "")


def prepare(
    dataset: Dataset,
    *,
    task: str = "auto",
    test_size: float = 0.2,
    val_size: float = 0.2,
    scale: str = "standard",
    scale_target: str = "none",
    seed: int = 42,
    subsample: int | None = None,
    stratify: bool = True,
    dtype: Any = np.float64,
    source: str | None = None,
) -> Splits:
    """Check, encode, split and scale a dataset for one run.

    ``test_size`` and ``val_size`` are fractions of all rows; ``0`` leaves that split out, and
    both ``0`` trains and reports on every row. The split is seeded by ``seed`` and stratified
    for classification; scaling — of the features, and with ``scale_target = "standard"`` of a
    regression target — is fitted on the training split only.

    The features are used as given when they are a NumPy array of numbers (anything else is
    converted to float64). The scaling is computed in float64 and each split made in ``dtype``
    a block of rows at a time: the numbers of scaling a float64 copy of the data and converting
    the result, bit for bit, with the splits as the only full-size arrays.
    """
    X = _as_features(dataset.X, source)
    y = np.asarray(dataset.y)
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"the data is empty (shape {X.shape})", source=source, key="data")
    if len(y) != X.shape[0]:
        raise DataError(
            f"features have {X.shape[0]} rows but the target has {len(y)}",
            source=source,
            key="data",
        )
    if not _all_finite(X):
        bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
        raise DataError(
            f"the features contain NaN or infinite values (rows {_preview(bad)})",
            source=source,
            key="data",
        )
    task = infer_task(dataset) if task == "auto" else task
    y_enc, classes = _encode_target(y, task, source)

    classify = task != "regression"
    rows = np.arange(X.shape[0])
    holdout = test_size + val_size
    if holdout >= 1:
        raise DataError(
            f"test_size + val_size must be < 1, got {holdout}", source=source, key="data.val_size"
        )
    train_rows, val_rows, test_rows = rows, None, None
    if test_size > 0:
        strat = y_enc if classify and stratify else None
        train_rows, test_rows = _split(rows, test_size, seed, strat, "test", source)
    if val_size > 0:
        strat = y_enc[train_rows] if classify and stratify else None
        train_rows, val_rows = _split(
            train_rows, val_size / (1 - test_size), seed, strat, "validation", source
        )
    if subsample is not None:
        if subsample > len(train_rows):
            raise DataError(
                f"subsample {subsample} exceeds the {len(train_rows)} training rows",
                source=source,
                key="data.subsample",
            )
        train_rows = train_rows[:subsample]
    if classify and len(np.unique(y_enc[train_rows])) < 2:
        raise DataError(
            "the training split holds a single class; use more rows or a larger subsample",
            source=source,
            key="data",
        )

    dtype = np.dtype(dtype)
    mean = scale_ = None
    if scale == "standard":
        mean, scale_ = _feature_statistics(X, train_rows)
    target_mean = target_scale = None
    if scale_target == "standard":
        if classify:
            raise DataError(
                f"only a regression target can be scaled, and this task is {task!r}",
                source=source,
                key="data.scale_target",
            )
        target_mean, target_scale = _standard(y_enc[train_rows])
        with np.errstate(over="ignore", invalid="ignore"):
            y_enc = (y_enc - target_mean) / target_scale

    def part(index: np.ndarray | None):
        if index is None:
            return None, None
        return _features(X, index, mean, scale_, dtype), _target(y_enc[index], task, dtype)

    X_tr, y_tr = part(train_rows)
    X_va, y_va = part(val_rows)
    X_te, y_te = part(test_rows)
    assert X_tr is not None and y_tr is not None
    _check_finite_after_scaling(
        X, [X_tr, X_va, X_te], mean, scale_, dataset.feature_names, dtype, source
    )
    if task == "regression":
        targets = [y_tr, y_va, y_te]
        if not all(t is None or np.all(np.isfinite(t)) for t in targets):
            how = "standardized" if target_scale is not None else f"converted to {np.dtype(dtype)}"
            raise DataError(
                f"the regression target is not finite once {how}: its values (up to "
                f"{np.max(np.abs(np.asarray(dataset.y, dtype=float))):.3g}) overflow "
                f"{np.dtype(dtype)} arithmetic; divide it by a power of ten",
                source=source,
                key="data.scale_target" if target_scale is not None else "model.dtype",
            )
    sizes = {"train": len(train_rows)}
    if val_rows is not None:
        sizes["val"] = len(val_rows)
    if test_rows is not None:
        sizes["test"] = len(test_rows)
    return Splits(
        task=task,
        X_train=X_tr,
        y_train=y_tr,
        X_val=X_va,
        y_val=y_va,
        X_test=X_te,
        y_test=y_te,
        classes=classes,
        feature_names=dataset.feature_names,
        scaler_mean=mean,
        scaler_scale=scale_,
        target_mean=target_mean,
        target_scale=target_scale,
        name=dataset.name,
        sizes=sizes,
    )


def _standard(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations; a constant column keeps scale 1, as in
    scikit-learn's ``StandardScaler``. Values too large for float64 arithmetic give infinite
    or NaN statistics, which :func:`_check_finite_after_scaling` reports."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean = values.mean(axis=0)
        scale = values.std(axis=0)
    scale[scale == 0] = 1.0
    return mean, scale


#: Features are gathered, scaled and converted this many bytes of float64 at a time: blocks
#: that stay in the processor's cache, so no temporary is as large as the data.
_BLOCK_BYTES = 1 << 20
#: A column-major feature array larger than this is made row-major once, before rows are taken.
_CONTIGUOUS_FROM = 1 << 20


def _block_rows(n_features: int) -> int:
    return max(1, _BLOCK_BYTES // (8 * n_features))


def _all_finite(X: np.ndarray) -> bool:
    """Whether every value of ``X`` is finite: the minimum and maximum are (NaN propagates
    through both), two passes without a temporary array."""
    if X.dtype.kind != "f":
        return True
    return bool(np.isfinite(X.min()) and np.isfinite(X.max()))


def _feature_statistics(X: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""The standard scaling of ``X[rows]``, in float64 whatever ``X``'s dtype: column means
    :math:`\mu_j = \frac1n \sum_i x_{ij}` and standard deviations
    :math:`\sigma_j = \sqrt{\frac1n \sum_i (x_{ij} - \mu_j)^2}`, a constant column keeping
    :math:`\sigma_j = 1` (:func:`_standard`).

    The rows are converted to float64 a block at a time, and each sum carries on from the last
    block's as the first row of the next: NumPy sums a C-ordered array of two or more columns
    over its rows one row after another, so these are bit for bit the numbers of
    ``X[rows].astype(np.float64).mean(axis=0)`` and ``.std(axis=0)`` (tests/test_data_prep.py
    checks it), without a float64 copy of the training split. A single column NumPy sums
    pairwise instead, and gets its own arithmetic."""
    if X.shape[1] == 1:
        return _standard(np.asarray(X[rows], dtype=np.float64))
    block = _block_rows(X.shape[1])
    buffer = np.empty((min(block, len(rows)) + 1, X.shape[1]))
    with np.errstate(over="ignore", invalid="ignore"):
        mean = _sum_rows(X, rows, buffer, block) / len(rows)
        scale = np.sqrt(_sum_rows(X, rows, buffer, block, mean) / len(rows))
    scale[scale == 0] = 1.0
    return mean, scale


def _sum_rows(
    X: np.ndarray,
    rows: np.ndarray,
    buffer: np.ndarray,
    block: int,
    mean: np.ndarray | None = None,
) -> np.ndarray:
    r""":math:`\sum_i x_i` over ``X[rows]``, or :math:`\sum_i (x_i - \mu)^2` given the mean,
    in float64, row after row as NumPy sums them (see :func:`_feature_statistics`)."""
    total = None
    for start in range(0, len(rows), block):
        chunk = X[rows[start : start + block]]
        first = 0 if total is None else 1
        if total is not None:
            buffer[0] = total
        values = buffer[first : first + len(chunk)]
        if mean is None:
            values[...] = chunk
        else:
            np.subtract(chunk, mean, out=values)
            np.multiply(values, values, out=values)
        total = np.add.reduce(buffer[: first + len(chunk)], axis=0)
    assert total is not None
    return total


def _features(
    X: np.ndarray,
    rows: np.ndarray,
    mean: np.ndarray | None,
    scale: np.ndarray | None,
    dtype: np.dtype,
) -> np.ndarray:
    r"""``X[rows]``, scaled as :math:`(x - \mu) / \sigma` in float64 and converted to ``dtype``:
    the numbers of ``((X[rows].astype(np.float64) - mean) / scale).astype(dtype)``, made a block
    of rows at a time into the result, so that the only full-size array is the result."""
    if mean is None and X.dtype == dtype:
        return X[rows]
    out = np.empty((len(rows), X.shape[1]), dtype=dtype)
    block = _block_rows(X.shape[1])
    # float64 arithmetic needs a float64 block unless the result is float64 itself.
    buffer = None if dtype == np.float64 else np.empty((min(block, len(rows)), X.shape[1]))
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, len(rows), block):
            chunk = X[rows[start : start + block]]
            target = out[start : start + len(chunk)]
            work = target if buffer is None else buffer[: len(chunk)]
            if mean is None:
                work[...] = chunk
            else:
                np.subtract(chunk, mean, out=work)
                np.divide(work, scale, out=work)
            if work is not target:
                target[...] = work
    return out


def _check_finite_after_scaling(
    X: np.ndarray,
    parts: list[np.ndarray | None],
    mean: np.ndarray | None,
    scale: np.ndarray | None,
    names: list[str] | None,
    dtype: Any,
    source: str | None,
) -> None:
    """Refuse features that are finite as given but not once scaled and converted: values near
    float64's limit (1e308) overflow the mean and standard deviation (to inf or NaN, which would
    make the loss NaN at once); float32 cannot hold values beyond 3.4e38."""
    bad = np.zeros(X.shape[1], dtype=bool)
    if mean is not None and scale is not None:
        bad |= ~(np.isfinite(mean) & np.isfinite(scale))
    for part in parts:
        if part is not None and len(part):
            # A column's minimum and maximum are finite only if all its values are (NaN
            # propagates): no temporary as large as the split.
            bad |= ~(np.isfinite(part.min(axis=0)) & np.isfinite(part.max(axis=0)))
    if not bad.any():
        return
    columns = np.flatnonzero(bad)
    shown = ", ".join(names[i] if names and i < len(names) else str(i) for i in columns[:5])
    largest = float(np.max(np.abs(X[:, columns])))
    dtype_name = np.dtype(dtype).name
    if mean is not None:
        where, key = f"after scaling (data.scale = 'standard', {dtype_name})", "data.scale"
    else:
        where, key = f"in {dtype_name}", "model.dtype"
    fix = "divide them by a power of ten"
    if dtype_name != "float64":
        fix += " or use model.dtype = 'float64'"
    raise DataError(
        f"the data is not finite {where}: feature column(s) {shown}"
        f"{', ...' if len(columns) > 5 else ''} hold values up to {largest:.3g}, which overflow "
        f"{dtype_name} arithmetic; {fix}",
        source=source,
        key=key,
    )


def _split(
    rows: np.ndarray,
    fraction: float,
    seed: int,
    stratify: np.ndarray | None,
    split: str,
    source: str | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out ``fraction`` of ``rows`` as the ``split`` ("test" or "validation") set."""
    try:
        kept, held_out = shuffle_split(len(rows), fraction, seed, stratify)
    except ValueError as exc:
        # The message, scikit-learn's, speaks of its own "test_size" whichever split this is.
        how = ", stratified by class" if stratify is not None else ""
        raise DataError(
            f"cannot split off the {split} set ({fraction:g} of {len(rows)} rows{how}): {exc}",
            source=source,
            key="data.test_size" if split == "test" else "data.val_size",
        ) from None
    return rows[kept], rows[held_out]


def _target(y: np.ndarray, task: str, dtype: Any) -> np.ndarray:
    # Binary targets are a column of 0/1 in the float dtype (they meet sigmoid outputs);
    # multiclass targets stay integer labels; regression targets are (n, k) floats.
    if task == "binary":
        return np.ascontiguousarray(y.reshape(-1, 1), dtype=dtype)
    if task == "multiclass":
        return np.ascontiguousarray(y)
    return np.ascontiguousarray(y, dtype=dtype)
