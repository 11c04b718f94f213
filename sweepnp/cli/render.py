"""How the command line shows things: consoles, tables, progress, JSON.

Everything the commands print goes through here, so that a number, a cell or a progress bar looks
the same in every command.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from sweepnp.callbacks import Callback

__all__ = [
    "EpochProgress",
    "FittedTable",
    "TrialReporter",
    "cell",
    "epoch_bar",
    "fit_table",
    "frame_table",
    "json_records",
    "metrics_table",
    "number_texts",
    "short_headers",
    "stderr",
    "stdout",
    "table_width",
]

#: Standard error, where progress, warnings and messages about the command go.
stderr = Console(stderr=True)


def stdout() -> Console:
    """Standard output: the terminal's width (or $COLUMNS), else wide enough for tables in a
    pipe or a file."""
    console = Console()
    return console if table_width(console) is not None else Console(width=240)


def table_width(console: Console) -> int | None:
    """The width tables must fit: the terminal's, or $COLUMNS when set (also in a pipe); ``None``
    in a pipe or a file without $COLUMNS, where nothing wraps a line and every column is kept."""
    import os

    if console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return console.width
    return None


class EpochProgress(Callback):
    """A rich progress bar over epochs, with the latest metrics."""

    def __init__(self, progress: Progress, epochs: int) -> None:
        self.progress = progress
        self.task = progress.add_task("training", total=epochs, metrics="")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        shown = "  ".join(
            f"{k} {v:.4f}" for k, v in logs.items() if k in _SHOWN and isinstance(v, float)
        )
        self.progress.update(self.task, completed=epoch + 1, metrics=shown)


_SHOWN = ("loss", "accuracy", "r2", "val_loss", "val_accuracy", "val_r2")


@contextlib.contextmanager
def epoch_bar(epochs: int) -> Iterator[EpochProgress]:
    """A progress bar over a run's epochs on standard error; yields the callback that moves it."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[metrics]}"),
        console=stderr,
        transient=True,
    ) as bar:
        yield EpochProgress(bar, epochs)


def metrics_table(metrics: dict[str, float]) -> Table:
    table = Table(show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.4f}")
    return table


def frame_table(frame: Any, title: str | None = None, limit: int = 30) -> Table:
    """A DataFrame as a rich table (first ``limit`` rows)."""
    table = Table(title=title, header_style="bold", show_lines=False)
    for column in frame.columns:
        table.add_column(str(column), overflow="fold")
    for _, row in frame.head(limit).iterrows():
        table.add_row(*(cell(v) for v in row))
    return table


def cell(value: Any) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, list | tuple) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, pd.Timedelta):
        return f"{value.total_seconds():.2f} s"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


# -- tables that fit the terminal ---------------------------------------------------------------


@dataclass
class FittedTable:
    """A table laid out for a width: whole cells on one line each, the columns that did not fit
    left out (:attr:`dropped`), long dotted headers shortened (:attr:`legend`)."""

    table: Table
    #: Full names of the columns left out, in the frame's order.
    dropped: list[str]
    #: Shortened header → full column name, for the headers that were shortened.
    legend: dict[str, str]
    #: Characters the table takes on a line.
    width: int

    def notes(self, *, width: int | None, wide_hint: bool = True) -> list[Any]:
        """The table, then a line naming what the shortened headers stand for and one naming
        the columns left out to fit ``width`` (and how to see them)."""
        parts: list[Any] = [self]
        if self.legend:
            named = ", ".join(f"{short}={full}" for short, full in self.legend.items())
            parts.append(Text(f"columns: {named}"))
        if self.dropped:
            hint = " (--wide shows them)" if wide_hint else ""
            parts.append(
                Text(f"not shown, too wide for {width} columns: {', '.join(self.dropped)}{hint}")
            )
        return parts

    def __rich_console__(self, console: Console, options: Any) -> Any:
        # At its own width when wider than the console (--wide, a pipe): cells are never cut.
        yield from console.render(self.table, options.update(width=self.width))

    def print(self, console: Console, *, wide_hint: bool = False) -> None:
        for part in self.notes(width=table_width(console), wide_hint=wide_hint):
            console.print(part, crop=False, highlight=False)


def short_headers(names: Sequence[str]) -> dict[str, str]:
    """Each column's header: the last part of a dotted name where no other column ends the same
    way (``regularizers.l2.lam`` → ``lam``), else as many last parts as make it unique
    (``l1.lam`` and ``l2.lam``)."""
    parts = {name: name.split(".") for name in names}
    taken = dict.fromkeys(names, 1)
    while True:
        headers = {name: ".".join(parts[name][-taken[name] :]) for name in names}
        seen: dict[str, list[str]] = {}
        for name, header in headers.items():
            seen.setdefault(header, []).append(name)
        longer = [
            name
            for group in seen.values()
            if len(group) > 1
            for name in group
            if taken[name] < len(parts[name])
        ]
        if not longer:
            return headers
        for name in longer:
            taken[name] += 1


def number_texts(values: Sequence[Any]) -> list[str]:
    """A column of measured numbers (a metric, a mean, a bound) with one number of decimals for
    the whole column — 4 significant digits of its typical size — so that they line up when
    right-aligned: accuracies ``0.9737``, losses ``0.08123``, seconds ``12.31``; very small or
    very large values in scientific notation. Missing values are blank."""
    import math

    finite = [abs(float(v)) for v in values if _is_number(v) and math.isfinite(float(v))]
    if not finite:
        return [_blank_or_str(v) for v in values]
    typical = sorted(finite)[len(finite) // 2] or max(finite)
    if typical == 0:
        decimals = 4
    elif typical < 1e-4 or typical >= 1e7:
        return [f"{float(v):.3e}" if _is_number(v) else _blank_or_str(v) for v in values]
    else:
        decimals = min(max(0, 3 - math.floor(math.log10(typical))), 8)
    return [f"{float(v):.{decimals}f}" if _is_number(v) else _blank_or_str(v) for v in values]


def _is_number(value: Any) -> bool:
    import math
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return not math.isnan(float(value))


def _numeric(series: Any) -> bool:
    """Whether a column holds numbers (right-aligned): a numeric dtype, or choices that are all
    numbers (a searched batch size)."""
    import pandas as pd

    if isinstance(series.dtype, pd.CategoricalDtype):
        return all(_is_number(c) for c in series.cat.categories) and len(series.cat.categories) > 0
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )


def _blank_or_str(value: Any) -> str:
    return cell(value)


def fit_table(
    frame: Any,
    *,
    width: int | None,
    texts: Mapping[str, Callable[[Sequence[Any]], list[str]]] | None = None,
    drop_first: Sequence[str] = (),
    keep: Sequence[str] = (),
) -> FittedTable:
    """Lay ``frame`` out as a table at most ``width`` characters wide (``None``: as wide as it
    needs), never folding a cell or a header over two lines.

    :param texts: column → how to write its values (default: :func:`number_texts` for float
        columns, :func:`cell` for the others).
    :param drop_first: the columns to leave out first, in order, when the table is too wide;
        then the others from the right, except those in ``keep``.
    """
    import pandas as pd

    texts = texts or {}
    names = [str(c) for c in frame.columns]
    headers = short_headers(names)
    columns: dict[str, list[str]] = {}
    right: dict[str, bool] = {}
    for name, column in zip(names, frame.columns, strict=True):
        values = list(frame[column])
        series = frame[column]
        if name in texts:
            columns[name] = texts[name](values)
        elif pd.api.types.is_float_dtype(series.dtype):
            columns[name] = number_texts(values)
        else:
            columns[name] = [cell(v) for v in values]
        right[name] = _numeric(series)

    def needed(shown: list[str]) -> int:
        sizes = [max([len(headers[n]), *(len(t) for t in columns[n])]) for n in shown]
        return sum(size + 2 for size in sizes) + len(shown) + 1

    shown = list(names)
    order = [n for n in drop_first if n in names]
    order += [n for n in reversed(names) if n not in order and n not in keep]
    dropped: list[str] = []
    while width is not None and needed(shown) > width and order:
        gone = order.pop(0)
        shown.remove(gone)
        dropped.append(gone)
    table = Table(header_style="bold", show_lines=False)
    for name in shown:
        justify = "right" if right[name] else "left"
        table.add_column(headers[name], justify=justify, no_wrap=True)
    for i in range(len(frame)):
        table.add_row(*(columns[name][i] for name in shown))
    legend = {headers[n]: n for n in shown if headers[n] != n}
    return FittedTable(table, [n for n in names if n in dropped], legend, needed(shown))


def json_records(frame: Any) -> str:
    """A table as a JSON list of row objects, floats exact (pandas' ``to_json`` rounds them to
    at most 15 decimals), missing values as ``null``, times in ISO 8601."""
    import pandas as pd

    def value(cell: Any) -> Any:
        if isinstance(cell, list | tuple | dict):
            return cell
        if pd.isna(cell):
            return None
        if isinstance(cell, pd.Timestamp | pd.Timedelta):
            return cell.isoformat()
        return cell.item() if hasattr(cell, "item") else cell

    rows = [{k: value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    return json.dumps(rows, allow_nan=False)


class TrialReporter:
    """Shows a study's progress: a live bar on a terminal, plain log lines otherwise."""

    def __init__(self, spec: Any, total: int, *, quiet: bool) -> None:
        self.spec = spec
        self.total = total
        self.quiet = quiet
        self.live = not quiet and stderr.is_terminal
        self.seen: set[int] = set()
        self.progress: Progress | None = None

    def __enter__(self) -> TrialReporter:
        return self

    def _start(self) -> None:
        # Started on the first update, after any worker processes are forked.
        if self.live and self.progress is None:
            from rich.progress import TimeRemainingColumn

            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("best {task.fields[best]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=stderr,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.spec.name, total=self.total, best="–")

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, study: Any) -> None:
        """Refresh from the study (called after each trial, or by polling)."""
        from sweepnp.study.worker import counted_trials

        if self.quiet:
            return  # nothing to show until the summary
        self._start()
        done = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
        best = _best_text(study, self.spec)
        if self.progress is not None:
            self.progress.update(
                self.task, completed=min(counted_trials(study), self.total), best=best
            )
        else:
            for trial in sorted(done, key=lambda t: t.number):
                if trial.number in self.seen:
                    continue
                self.seen.add(trial.number)
                stderr.print(_trial_line(trial, self.spec, best), soft_wrap=True, highlight=False)


def _best_text(study: Any, spec: Any) -> str:
    if spec.multi_objective:
        try:
            return f"{len(study.best_trials)} on the Pareto front"
        except ValueError:
            return "–"
    try:
        best = study.best_trial
    except ValueError:
        return "–"
    return f"{spec.metrics[0]} {best.value:.4f} (trial {best.number})"


def _trial_line(trial: Any, spec: Any, best: str) -> str:
    from sweepnp.study.record import TrialRecord

    record = TrialRecord.of(trial)
    reason = record.stop_reason
    if trial.values:
        shown = ", ".join(f"{m} {v:.4f}" for m, v in zip(spec.metrics, trial.values, strict=True))
    else:
        shown = record.reason or reason
    params = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    return f"trial {trial.number} {reason}: {shown} | best {best} | {params}"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
