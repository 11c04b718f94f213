"""How the command line shows things: consoles, tables, progress, JSON.

Everything the commands print goes through here, so that a number, a cell or a progress bar looks
the same in every command.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sweepnp.callbacks import Callback

__all__ = [
    "EpochProgress",
    "TrialReporter",
    "cell",
    "epoch_bar",
    "frame_table",
    "json_records",
    "metrics_table",
    "stderr",
    "stdout",
]

#: Standard error, where progress, warnings and messages about the command go.
stderr = Console(stderr=True)


def stdout() -> Console:
    """Standard output: the terminal's width, or wide enough for tables in a pipe or a file."""
    console = Console()
    return console if console.is_terminal else Console(width=240)


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
    return str(value)


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
