"""Data from a file: CSV, NPZ or Parquet.

Run-file use (sweepnp maps ``{ path = ..., ... }`` to ``{ name = "file", path = ..., ... }``)::

    [data]
    dataset = { path = "measurements.csv", target = "label" }
"""

from __future__ import annotations

import difflib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sweepnp import DataError, Dataset, OptionError, hookimpl

__all__ = ["file"]

_SUFFIXES = {".csv": "csv", ".npz": "npz", ".parquet": "parquet", ".pq": "parquet"}
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")
#: The compressions pyarrow's CSV reader undoes itself, by suffix (the others go through pandas).
_ARROW_CODECS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
#: pyarrow parses a CSV file in blocks of this many bytes, in parallel; each block's rows are
#: copied to the features and dropped together (fewer, larger blocks: fewer copies).
_CSV_BLOCK = 8 << 20
#: Parquet features are decoded this many rows at a time, each block copied and dropped.
_PARQUET_ROWS = 8192


def file(
    path: str,
    target: str | None = None,
    format: Literal["auto", "csv", "npz", "parquet"] = "auto",
    task: Literal["binary", "multiclass", "regression"] | None = None,
    dtype: Literal["float32", "float64"] = "float64",
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
    dtype : {"float32", "float64"}, default "float64"
        What CSV and Parquet features are read into (in a run: its ``model.dtype`` unless the
        dataset table sets it). NPZ features keep the type they were saved in.

    Returns
    -------
    Dataset
        ``X`` of shape (n_samples, n_features): from CSV and Parquet in ``dtype`` (float64
        when a value does not fit in float32), from NPZ as saved (float32 stays float32,
        integers stay integers: sweepnp converts the rows as it splits them); ``y`` as stored
        (labels of any type are kept; sweepnp encodes classes); ``feature_names`` from the
        columns; ``name`` the file's stem.

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
    CSV is read with pyarrow's multithreaded CSV reader, every feature column parsed straight
    into ``dtype`` and the target column typed as :func:`pandas.read_csv` types it; Parquet
    decoded by pyarrow into ``dtype``; both a block of rows at a time. A file that reader does
    not take as it is — a value that is not a number, a missing value, a number beyond float32,
    a compression other than gzip, bz2 and zstd, a duplicated column name, a stored pandas index
    — is read by :func:`pandas.read_csv` or :func:`pandas.read_parquet` as it always was, so
    that the same mistakes get the same messages. An NPZ file (:func:`numpy.savez`) must hold
    arrays ``X`` and ``y``; it is read without pickle, so object arrays are refused (save string
    labels as a ``str`` array). An ``X`` of more than two dimensions, e.g. images (n, h, w), is
    flattened to (n, h·w); a 1-D ``X`` is one feature.
    """
    if not isinstance(path, str | Path) or not str(path):
        raise OptionError("path", f"must be a file path, got {path!r}")
    file_path = Path(path).expanduser()
    kind = _format(file_path) if format == "auto" else format
    if kind not in ("csv", "npz", "parquet"):
        raise OptionError(
            "format", f"must be one of 'auto', 'csv', 'npz', 'parquet'; got {format!r}"
        )
    if dtype not in ("float32", "float64"):
        raise OptionError("dtype", f"must be 'float32' or 'float64', got {dtype!r}")
    if kind == "npz":
        if target is not None:
            raise OptionError(
                "target", "is not used for NPZ files, which hold arrays 'X' and 'y'; remove it"
            )
        X, y, feature_names = _read_npz(file_path)
    else:
        if target is None:
            raise OptionError("target", f"names the target column and is required for {kind} files")
        X, y, feature_names = _read_table(file_path, kind, target, np.dtype(dtype))
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


def _read_table(
    path: Path, kind: str, target: str, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    import pandas as pd  # imported here: pandas takes 0.3 s, which runs on other data skip

    _check_exists(path)
    fast = (
        _read_csv_fast(path, target, dtype)
        if kind == "csv"
        else _read_parquet_fast(path, target, dtype)
    )
    if fast is not None:
        return fast
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
    if dtype != np.float64:
        with np.errstate(over="ignore"):
            narrow = X.astype(dtype)
        if _finite(narrow):  # else float64, and sweepnp's message names the columns
            X = narrow
    y = frame[target].to_numpy()
    return X, y, list(features.columns)


def _finite(X: np.ndarray) -> bool:
    """Every value finite (NaN propagates through the minimum and maximum)."""
    return X.size == 0 or bool(np.isfinite(X.min()) and np.isfinite(X.max()))


def _read_csv_fast(
    path: Path, target: str, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """The features, target and feature names of a CSV file read by pyarrow, or ``None`` when
    the file needs :func:`pandas.read_csv` (see :func:`file`'s notes).

    The features are parsed into ``dtype``; the target column is read as text and typed by
    :func:`pandas.read_csv` (the C reader that read the whole file before), so that its labels
    are what they always were: ``"+3"``, ``"0x10"`` or a date stay what pandas makes of them."""
    import pandas as pd

    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        return None
    suffix = path.suffix.lower()
    if suffix in _COMPRESSED and not (
        suffix in _ARROW_CODECS and pa.Codec.is_available(_ARROW_CODECS[suffix])
    ):
        return None
    try:
        names = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except Exception:  # pandas' reader says what is wrong
        return None
    if target not in names or len(set(names)) != len(names) or len(names) < 2:
        return None
    features = [name for name in names if name != target]
    types = {name: pa.from_numpy_dtype(dtype) for name in features} | {target: pa.string()}
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK),
            convert_options=pacsv.ConvertOptions(column_types=types),
        )
    except Exception:  # a value that is not a number, a ragged row, ...: pandas' reader
        return None
    if table.column_names != names or table.num_rows == 0:
        return None
    rows, labels = table.num_rows, table.column(target).to_numpy(zero_copy_only=False)
    batches = table.select(features).to_batches()
    del table
    X = _matrix(_drained(batches), rows, len(features), dtype, pa)
    if not _finite(X):
        return None
    # Each label quoted, with its quotes doubled: pandas reads the text as it read the file.
    text = "\n".join(['"' + label.replace('"', '""') + '"' for label in labels.tolist()])
    y = pd.read_csv(io.StringIO(text), header=None, names=[target])[target].to_numpy()
    if len(y) != len(X):
        return None
    return X, y, features


def _read_parquet_fast(
    path: Path, target: str, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """The features, target and feature names of a Parquet file, the features decoded by
    pyarrow a block of rows at a time into ``dtype``; ``None`` when the file needs
    :func:`pandas.read_parquet` (a feature column not of numbers or with missing values, a
    stored pandas index, ...)."""
    import pandas as pd

    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    try:
        schema = pq.read_schema(path)
    except Exception:
        return None
    names = list(schema.names)
    index = (schema.pandas_metadata or {}).get("index_columns", [])
    if any(isinstance(column, str) for column in index):  # pandas makes it the index
        return None
    if target not in names or len(set(names)) != len(names) or len(names) < 2:
        return None
    features = [name for name in names if name != target]
    numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
    if not all(any(kind(schema.field(name).type) for kind in numeric) for name in features):
        return None
    try:
        parquet = pq.ParquetFile(path)
        rows = parquet.metadata.num_rows
        if rows == 0:
            return None
        batches = parquet.iter_batches(batch_size=_PARQUET_ROWS, columns=features)
        X = _matrix(batches, rows, len(features), dtype, pa)
        del batches, parquet  # the reader's buffers, given back below
        y = pd.read_parquet(path, columns=[target])[target].to_numpy()
    except Exception:
        return None
    pa.default_memory_pool().release_unused()
    if not _finite(X) or len(y) != len(X):
        return None
    return X, y, features


def _matrix(
    batches: Iterator[Any], rows: int, columns: int, dtype: np.dtype, pa: Any
) -> np.ndarray:
    """pyarrow record batches (blocks of ``rows`` rows in all) as one row-major array of
    ``dtype`` (a missing value becomes NaN). Each batch is dropped once copied and its memory
    given back to the system (pyarrow's allocator would keep it otherwise): the features are
    held twice only a block at a time."""
    X = np.empty((rows, columns), dtype=dtype)
    start = 0
    with np.errstate(over="ignore"):
        for batch in batches:
            stop = start + batch.num_rows
            for j, column in enumerate(batch.columns):
                X[start:stop, j] = column.to_numpy(zero_copy_only=False)
            start = stop
            del batch, column
            pa.default_memory_pool().release_unused()
    if start != rows:
        raise ValueError(f"{start} rows read of {rows}")
    return X


def _drained(batches: list[Any]) -> Iterator[Any]:
    """The batches in order, each let go by the list as it is given."""
    batches.reverse()
    while batches:
        yield batches.pop()


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
    return X, y, None  # as saved: sweepnp converts the rows as it splits them


@hookimpl
def sweepnp_register_datasets():
    return {"file": file}
