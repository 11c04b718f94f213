"""Data from a file: CSV, NPZ or Parquet.

Run-file use (sweepnp maps ``{ path = ..., ... }`` to ``{ name = "file", path = ..., ... }``)::

    [data]
    dataset = { path = "measurements.csv", target = "label" }
"""

from __future__ import annotations

import difflib
import zipfile
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sweepnp import DataError, Dataset, OptionError, hookimpl

__all__ = ["file"]

_SUFFIXES = {".csv": "csv", ".npz": "npz", ".parquet": "parquet", ".pq": "parquet"}
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")


def file(
    path: str,
    target: str | None = None,
    format: Literal["auto", "csv", "npz", "parquet"] = "auto",
    task: Literal["binary", "multiclass", "regression"] | None = None,
) -> Dataset:
    """Load a whole data set from a CSV, NPZ or Parquet file.

    Parameters
    ----------
    path : str
        The file to read (``~`` is expanded).
    target : str or None, default None
        For CSV and Parquet, the name of the target column (required); every other column is a
        feature and must be numeric. Not used for NPZ.
    format : {"auto", "csv", "npz", "parquet"}, default "auto"
        The file format; ``auto`` reads it from the suffix (``.csv``, also compressed as
        ``.csv.gz`` etc., ``.npz``, ``.parquet`` or ``.pq``).
    task : {"binary", "multiclass", "regression"} or None, default None
        The task the data is made for, when known; ``None`` lets sweepnp infer it from the
        target (``model.task = "auto"``).

    Returns
    -------
    Dataset
        ``X`` as float64 of shape (n_samples, n_features), ``y`` as stored (labels of any type
        are kept; sweepnp encodes classes), ``feature_names`` from the columns, ``name`` the
        file's stem.

    Raises
    ------
    DataError
        If the file is missing or unreadable, has no rows, lacks the target column (the message
        lists the first ten columns of a table of data, with their count, and suggests the
        closest name; a file that does not read as one gets the count alone: the first line of
        a file named by mistake may be a secret) or the arrays ``X``/``y``, or has
        non-numeric feature columns (the message names them).

    Notes
    -----
    CSV is read with :func:`pandas.read_csv`, Parquet with :func:`pandas.read_parquet`
    (pyarrow). An NPZ file (:func:`numpy.savez`) must hold arrays ``X`` and ``y``; it is read
    without pickle, so object arrays are refused (save string labels as a ``str`` array). An
    ``X`` of more than two dimensions, e.g. images (n, h, w), is flattened to (n, h·w); a 1-D
    ``X`` is one feature.
    """
    if not isinstance(path, str | Path) or not str(path):
        raise OptionError("path", f"must be a file path, got {path!r}")
    file_path = Path(path).expanduser()
    kind = _format(file_path) if format == "auto" else format
    if kind not in ("csv", "npz", "parquet"):
        raise OptionError(
            "format", f"must be one of 'auto', 'csv', 'npz', 'parquet'; got {format!r}"
        )
    if kind == "npz":
        if target is not None:
            raise OptionError(
                "target", "is not used for NPZ files, which hold arrays 'X' and 'y'; remove it"
            )
        X, y, feature_names = _read_npz(file_path)
    else:
        if target is None:
            raise OptionError("target", f"names the target column and is required for {kind} files")
        X, y, feature_names = _read_table(file_path, kind, target)
    return Dataset(
        X=X,
        y=y,
        task=task,
        feature_names=feature_names,
        name=file_path.stem.split(".")[0] or str(file_path),
        description=f"Loaded from {file_path}.",
    )


def _format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise OptionError(
        "format",
        f"cannot tell the format of {str(path)!r} from its suffix; "
        "set format to one of 'csv', 'npz', 'parquet'",
    )


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise DataError(f"data file {str(path)!r} does not exist", key="data.dataset.path")
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} is not a file", key="data.dataset.path")


def _read_table(path: Path, kind: str, target: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    import pandas as pd  # imported here: pandas takes 0.3 s, which runs on other data skip

    _check_exists(path)
    try:
        frame = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {str(path)!r} is empty", key="data.dataset.path") from None
    except Exception as exc:  # pandas/pyarrow raise many types for a bad file
        raise DataError(
            f"cannot read {str(path)!r} as {kind}: {type(exc).__name__}: {exc}",
            key="data.dataset.path",
        ) from None
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if target not in columns:
        raise DataError(_no_target(path, frame, target), key="data.dataset.target")
    if len(frame) == 0:
        raise DataError(f"data file {str(path)!r} has no rows", key="data.dataset.path")
    features = frame.drop(columns=[target])
    if features.shape[1] == 0:
        raise DataError(
            f"{str(path)!r} has no feature columns besides the target {target!r}",
            key="data.dataset.path",
        )
    bad = [
        name
        for name in features.columns
        if not pd.api.types.is_numeric_dtype(features[name])
        or pd.api.types.is_complex_dtype(features[name])
    ]
    if bad:
        raise DataError(
            f"{str(path)!r} has non-numeric feature columns: {', '.join(bad)}; "
            "encode them as numbers or drop them",
            key="data.dataset.path",
        )
    X = features.to_numpy(dtype=np.float64, na_value=np.nan)
    y = frame[target].to_numpy()
    return X, y, list(features.columns)


#: A missing target column's message lists at most this many of the file's columns.
LISTED_COLUMNS = 10


def _no_target(path: Path, frame: Any, target: str) -> str:
    """Why ``target`` is not a column of ``frame``: the columns (the first
    :data:`LISTED_COLUMNS` and their count) and the closest name to the asked one.

    The names are listed only when the file reads as a table of data — two columns or more, and
    every column but one (the labels) numeric: for a file named by mistake (a ``.env``, a key, a
    list of passwords) pandas takes the first line for the header, which may be a secret. Such a
    file gets the count alone."""
    import pandas as pd

    columns = list(frame.columns)
    message = f"{str(path)!r} has no target column {target!r}"
    numeric = sum(pd.api.types.is_numeric_dtype(frame[c]) for c in columns)
    if len(columns) < 2 or len(frame) == 0 or numeric < len(columns) - 1:
        return f"{message} (it has {_count(columns, 'column')})"
    shown = ", ".join(columns[:LISTED_COLUMNS])
    more = len(columns) - LISTED_COLUMNS
    listed = f"{shown} and {more} more" if more > 0 else shown
    near = _near_miss(target, columns)
    return f"{message} (it has {_count(columns, 'column')}: {listed})" + (
        f"; did you mean {near!r}?" if near else ""
    )


def _near_miss(name: str, candidates: list[str]) -> str | None:
    """The candidate closest to ``name`` (case ignored), if one is close
    (:func:`difflib.get_close_matches`, similarity 0.6 or more)."""
    by_lower = {candidate.lower(): candidate for candidate in reversed(candidates)}
    close = difflib.get_close_matches(name.lower(), by_lower, n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def _count(items: list[str], noun: str) -> str:
    return f"{len(items)} {noun}" + ("" if len(items) == 1 else "s")


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    _check_exists(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            missing = [name for name in ("X", "y") if name not in names]
            if missing:
                raise DataError(
                    f"{str(path)!r} lacks the array(s) {', '.join(missing)}; an NPZ data file "
                    f"holds 'X' and 'y', this one holds: {', '.join(names) or '(none)'}",
                    key="data.dataset.path",
                )
            X = archive["X"]
            y = archive["y"]
    except DataError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise DataError(
                f"{str(path)!r} holds object arrays, which are not loaded (no pickle); "
                "save labels as a str or numeric array",
                key="data.dataset.path",
            ) from None
        raise DataError(
            f"cannot read {str(path)!r} as npz: {exc}", key="data.dataset.path"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"cannot read {str(path)!r} as npz: {type(exc).__name__}: {exc}",
            key="data.dataset.path",
        ) from None
    if X.dtype.kind not in "biuf":
        raise DataError(
            f"{str(path)!r}: the features X must be numeric, got dtype {X.dtype}",
            key="data.dataset.path",
        )
    if X.ndim == 0 or y.ndim == 0:
        raise DataError(f"{str(path)!r}: X and y must be arrays, not scalars", key="data")
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    elif X.ndim > 2:
        X = X.reshape(X.shape[0], -1)
    if X.shape[0] != y.shape[0]:
        raise DataError(
            f"{str(path)!r}: X has {X.shape[0]} rows but y has {y.shape[0]}",
            key="data.dataset.path",
        )
    if X.shape[0] == 0:
        raise DataError(f"data file {str(path)!r} has no rows", key="data.dataset.path")
    return X.astype(np.float64), y, None


@hookimpl
def sweepnp_register_datasets():
    return {"file": file}
