"""How the command line shows things: consoles, tables, progress, JSON.

Everything the commands print goes through here, so that a number, a cell or a progress bar looks
the same in every command.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from sweepnp.callbacks import Callback

__all__ = [
    "EpochProgress",
    "FittedTable",
    "TableColumn",
    "TrialReporter",
    "cell",
    "epoch_bar",
    "fit_columns",
    "fit_table",
    "json_records",
    "metrics_table",
    "number_texts",
    "resume_header",
    "short_headers",
    "stderr",
    "stdout",
    "table_width",
    "with_options",
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


def cell(value: Any) -> str:
    pd = sys.modules.get("pandas")
    if pd is None:  # nothing here came from pandas: plain values (``study list``)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        return f"{value:.4g}" if isinstance(value, float) else str(value)
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
        return [cell(v) for v in values]
    typical = sorted(finite)[len(finite) // 2] or max(finite)
    if typical == 0:
        decimals = 4
    elif typical < 1e-4 or typical >= 1e7:
        return [f"{float(v):.3e}" if _is_number(v) else cell(v) for v in values]
    else:
        decimals = min(max(0, 3 - math.floor(math.log10(typical))), 8)
    return [f"{float(v):.{decimals}f}" if _is_number(v) else cell(v) for v in values]


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


def fit_table(
    frame: Any,
    *,
    width: int | None,
    texts: Mapping[str, Callable[[Sequence[Any]], list[str]]] | None = None,
    drop_first: Sequence[str | Sequence[str]] = (),
    keep: Sequence[str] = (),
    dotted: Mapping[str, str] | None = None,
) -> FittedTable:
    """Lay ``frame`` out as a table at most ``width`` characters wide (``None``: as wide as it
    needs), never folding a cell or a header over two lines.

    :param texts: column → how to write its values (default: :func:`number_texts` for float
        columns, :func:`cell` for the others).
    :param drop_first: the columns to leave out first, in order, when the table is too wide
        (a tuple: columns left out together, the two bounds of an interval); then the others
        from the right, except those in ``keep``.
    :param dotted: column → the dotted name its header is shortened from, for names whose
        parts are not joined by dots (``val_accuracy_mean`` as ``val_accuracy.mean``: ``mean``).
    """
    import pandas as pd

    texts = texts or {}
    columns = []
    for name, column in zip([str(c) for c in frame.columns], frame.columns, strict=True):
        values = list(frame[column])
        series = frame[column]
        if name in texts:
            written = texts[name](values)
        elif pd.api.types.is_float_dtype(series.dtype):
            written = number_texts(values)
        else:
            written = [cell(v) for v in values]
        columns.append(TableColumn(name, written, right=_numeric(series)))
    return fit_columns(columns, width=width, drop_first=drop_first, keep=keep, dotted=dotted)


@dataclass
class TableColumn:
    """A column of :func:`fit_columns`: its name, each row's text, and whether it holds
    numbers (right-aligned)."""

    name: str
    texts: list[str]
    right: bool = False


def fit_columns(
    columns: Sequence[TableColumn],
    *,
    width: int | None,
    drop_first: Sequence[str | Sequence[str]] = (),
    keep: Sequence[str] = (),
    dotted: Mapping[str, str] | None = None,
) -> FittedTable:
    """:func:`fit_table` of columns already written as text (no table library needed)."""
    names = [column.name for column in columns]
    dotted = dotted or {}
    short = short_headers([dotted.get(n, n) for n in names])
    headers = {n: short[dotted.get(n, n)] for n in names}
    texts = {column.name: column.texts for column in columns}
    right = {column.name: column.right for column in columns}
    rows = len(columns[0].texts) if columns else 0

    def needed(shown: list[str]) -> int:
        sizes = [max([len(headers[n]), *(len(t) for t in texts[n])]) for n in shown]
        return sum(size + 2 for size in sizes) + len(shown) + 1

    shown = list(names)
    groups = [(g,) if isinstance(g, str) else tuple(g) for g in drop_first]
    order = [tuple(n for n in g if n in names) for g in groups]
    order = [g for g in order if g]
    listed = {n for g in order for n in g}
    order += [(n,) for n in reversed(names) if n not in listed and n not in keep]
    dropped: list[str] = []
    while width is not None and needed(shown) > width and order:
        for gone in order.pop(0):
            shown.remove(gone)
            dropped.append(gone)
    table = Table(header_style="bold", show_lines=False)
    for name in shown:
        justify = "right" if right[name] else "left"
        table.add_column(headers[name], justify=justify, no_wrap=True)
    for i in range(rows):
        table.add_row(*(texts[name][i] for name in shown))
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
    """Shows a study's progress from the moment the command starts.

    On a terminal, a live display redrawn four times a second: trials done of the total, the
    best so far, the time since the command was launched, the epochs of the trials this process
    is training (and how many run in other workers), and an ETA once a trial of this run has
    ended. Otherwise one line per trial this run sees end — never the trials an earlier run
    finished, which one line counts instead.

    :param launched: when the command started (``time.monotonic()``); default: now.
    """

    def __init__(
        self,
        spec: Any = None,
        total: int = 0,
        *,
        quiet: bool,
        launched: float | None = None,
    ) -> None:
        from sweepnp.study.progress import ProgressBoard, StudyView

        self.quiet = quiet
        self.launched = time.monotonic() if launched is None else launched
        self.live = not quiet and stderr.is_terminal
        #: What run_study tells of the trials it trains (pass it as its ``board``).
        self.board = ProgressBoard(pause=self.paused)
        self.spec: Any = None
        self.total = 0
        self.started = self.launched
        self.seen: set[int] | None = None
        self.done = 0
        self.finished_here = 0
        self.best = "–"
        self.elsewhere = 0
        self._view = StudyView()
        self._display: Live | None = None
        if spec is not None:
            self.begin(spec, total)

    def __enter__(self) -> TrialReporter:
        if self.live and self._display is None:
            self._display = Live(
                _StudyDisplay(self), console=stderr, refresh_per_second=4, transient=False
            )
            self._display.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._display is not None:
            self._display.stop()
            self._display = None

    def begin(self, spec: Any, total: int) -> None:
        """The study file is loaded: ``total`` trials of study ``spec.name`` are to be held."""
        self.spec, self.total = spec, total
        self.started = time.monotonic()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The display erased and its redrawing thread stopped (while workers are forked)."""
        display = self._display
        if display is None:
            yield
            return
        display.transient = True
        display.stop()
        try:
            yield
        finally:
            display.transient = False
            display.start()

    def eta(self) -> float | None:
        """Seconds until the total is reached, at the pace of the trials that ended since the
        training started; ``None`` until one has."""
        if not self.finished_here:
            return None
        pace = (time.monotonic() - self.started) / self.finished_here
        return max(self.total - self.done, 0) * pace

    def update(self, study: Any) -> None:
        """Refresh from the study (called after each trial, or by polling). Costs what changed
        since the last call — the trials new or in flight — not what the study holds."""
        if self.quiet:
            return  # nothing to show until the summary
        if self.seen is None:
            earlier = self.board.finished_before
            self.seen = set(earlier or ())
            if earlier and not self.live:
                stderr.print(
                    resume_header(self.spec.name, self.board, self.total),
                    soft_wrap=True,
                    highlight=False,
                    markup=False,
                )
        view = self._view
        new = view.read(study, self.seen)
        self.done = view.done
        here = self.board.epochs()
        self.elsewhere = sum(number not in here for number in view.running)
        self.best = _best_text(view, study, self.spec)
        self.finished_here += len(new)
        if self.live:
            if self._display is not None:
                self._display.refresh()
            return
        for trial in new:
            line = _trial_line(trial, self.spec, self.best)
            stderr.print(f"{line} | {self._progress_text()}", soft_wrap=True, highlight=False)

    def _progress_text(self) -> str:
        eta = self.eta()
        elapsed = _clock(time.monotonic() - self.launched)
        return f"{self.done}/{self.total} done, {elapsed} elapsed" + (
            f", ETA {_clock(eta)}" if eta is not None else ""
        )


class _StudyDisplay:
    """What the live display shows, drawn afresh at each refresh (the elapsed time and the
    running trials' epochs change between trials)."""

    def __init__(self, reporter: TrialReporter) -> None:
        self.reporter = reporter

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar

        r = self.reporter
        elapsed = _clock(time.monotonic() - r.launched)
        if r.spec is None:
            return Text(f"checking the study file … {elapsed} elapsed")
        eta = r.eta()
        line = Table.grid(padding=(0, 1))
        line.add_row(
            Text(r.spec.name, style="bold"),
            ProgressBar(total=max(r.total, 1), completed=min(r.done, r.total), width=24),
            f"{r.done}/{r.total}",
            f"best {r.best}",
            f"{elapsed} elapsed",
            "done"
            if r.done >= r.total
            else (f"ETA {_clock(eta)}" if eta is not None else "ETA after the first trial"),
        )
        epochs = r.board.epochs()
        running = [f"trial {n} epoch {done}/{planned}" for n, (done, planned) in epochs.items()]
        if r.elsewhere:
            running.append(f"{r.elsewhere} in other workers")
        if not running and r.done >= r.total:
            return line
        text = "running: " + (", ".join(running) if running else "starting the next trial")
        return Group(line, Text(text, no_wrap=True, overflow="ellipsis"))


def _clock(seconds: float) -> str:
    """``12.3 s`` under a minute, else ``H:MM:SS`` as rich's progress columns write times."""
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _best_text(view: Any, study: Any, spec: Any) -> str:
    """``val_accuracy 0.9825 (trial 30)``: the best so far; for several metrics the size of
    the Pareto front."""
    if spec.multi_objective:
        front = view.front_size(study)
        return "–" if front is None else f"{front} on the Pareto front"
    best = view.best
    return "–" if best is None else f"{spec.metrics[0]} {best.value:.4f} (trial {best.number})"


def resume_header(name: str, board: Any, total: int) -> str:
    """The line a resumed study starts with when its trials are listed one a line: the trials
    earlier runs finished (counted towards the total, failed ones too), and the unfinished ones
    whose configurations run again."""
    held = board.held_before
    line = f"study {name}: {held} trial{'s' * (held != 1)} finished in earlier runs"
    if held:
        line += " (not listed again)"
    again = board.rerunning
    if again:
        words = {"interrupted": "interrupted", "stale": "stale (their worker died)"}
        parts = [f"{n} {words.get(how, how)}" for how, n in sorted(again.items())]
        ones = "one runs" if sum(again.values()) == 1 else "ones run"
        line += f"; {' and '.join(parts)} {ones} again"
    return f"{line}; {total} in all"


def with_options(reason: str) -> str:
    """A stored failure reason as the command line shows it: where it names the study file's
    key for training one trial at a time, the option that does the same."""
    from sweepnp.study.trial import ONE_AT_A_TIME

    return reason.replace(ONE_AT_A_TIME, f"{ONE_AT_A_TIME} (--stack 1)")


def _trial_line(trial: Any, spec: Any, best: str) -> str:
    from sweepnp.study.record import TrialRecord
    from sweepnp.study.space import decode_value

    record = TrialRecord.of(trial)
    reason = record.stop_reason
    if trial.values:
        shown = ", ".join(f"{m} {v:.4f}" for m, v in zip(spec.metrics, trial.values, strict=True))
    else:
        shown = with_options(record.reason or reason)
    texts = {param.path: param for param in spec.space.params}
    params = ", ".join(
        f"{k}={texts[k].text(decode_value(v)) if k in texts else v}"
        for k, v in trial.params.items()
    )
    return f"trial {trial.number} {reason}: {shown} | best {best} | {params}"
