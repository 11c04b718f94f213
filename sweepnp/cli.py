"""The command line: ``sweepnp train | lr-find | study … | plugins list``.

Built on click; progress and tables by rich. A user mistake (any :class:`SweepnpError`, and
click's own usage errors) prints one line, ``Error: <file>: <key>: <what is wrong; valid choices>``,
and exits with status 2; a plugin that fails (:class:`~sweepnp.PluginFailure`) prints one line
naming it and exits with status 1.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
import warnings
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sweepnp.callbacks import Callback
from sweepnp.errors import SweepnpError, SweepnpWarning

__all__ = ["main"]

stderr = Console(stderr=True)


def _console() -> Console:
    """Standard output: the terminal's width, or wide enough for tables in a pipe or a file."""
    console = Console()
    return console if console.is_terminal else Console(width=240)


class UserError(click.ClickException):
    """A mistake in the user's input: one message, exit status 2, no traceback.

    :param exit_code: another status, for a failure that is not a mistake (a plugin that raised).
    """

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(_one_line(message))
        if exit_code is not None:
            self.exit_code = exit_code


def _one_line(message: str) -> str:
    # Messages quoted from other libraries (SQLAlchemy's, a parser's) may span several lines.
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


class SweepnpGroup(click.Group):
    """Answers every mistake with one line and exit status 2: a :class:`SweepnpError` raised by a
    command (with its own exit status: 1 for a :class:`~sweepnp.PluginFailure`), and click's usage
    errors (an unknown option or command, a value out of range), which click would print with
    the usage and a hint over three lines. Warnings of sweepnp print as one ``Warning:`` line."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            raise _usage_error(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with _plain_warnings():
                return super().invoke(ctx)
        except SweepnpError as exc:
            raise UserError(str(exc), exit_code=exc.exit_code) from None
        except click.UsageError as exc:
            raise _usage_error(exc) from None


def _usage_error(exc: click.UsageError) -> click.ClickException:
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):
        return exc  # a bare group: its help, as click shows it
    where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
    return UserError(exc.format_message() + where)


@contextlib.contextmanager
def _plain_warnings() -> Any:
    """Show a :class:`SweepnpWarning` as ``Warning: <message>`` on stderr, once per message
    (a study checks a run before its trials train it), other warnings as Python shows them."""

    with warnings.catch_warnings():
        warnings.filterwarnings("always", category=SweepnpWarning)  # counted here instead
        default = warnings.showwarning
        shown: set[str] = set()

        def show(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
            if not issubclass(category, SweepnpWarning):
                default(message, category, *args, **kwargs)
            elif str(message) not in shown:
                shown.add(str(message))
                click.echo(f"Warning: {_one_line(str(message))}", err=True)

        warnings.showwarning = show
        yield


@click.group(cls=SweepnpGroup)
@click.version_option(package_name="sweepnp")
def main() -> None:
    """Train NumPy networks and sweep their hyperparameters with Optuna."""


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


def _fit(config: Any, pm: Any, *, progress: bool) -> Any:
    from sweepnp.trainer import Trainer

    if not progress:
        return Trainer(config, plugin_manager=pm).fit()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[metrics]}"),
        console=stderr,
        transient=True,
    ) as bar:
        display = EpochProgress(bar, config.train.epochs)
        return Trainer(config, callbacks=[display], plugin_manager=pm).fit()


def _metrics_table(metrics: dict[str, float]) -> Table:
    table = Table(show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.4f}")
    return table


@main.command("train")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a value by dotted key, e.g. --set regularizers.l2.lam=0.01 (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object to stdout.")
@click.option("--quiet", is_flag=True, help="No progress display.")
@click.option(
    "--traceback",
    "show_traceback",
    is_flag=True,
    help="When a plugin fails, also print its traceback.",
)
def train_command(
    file: str, overrides: tuple[str, ...], as_json: bool, quiet: bool, show_traceback: bool
) -> None:
    """Train once from a run file (a study file trains its base configuration).

    A plugin that raises ends the command with one line naming the plugin and the function it
    failed in, and exit status 1 (--traceback shows where).
    """
    from sweepnp.config import parse
    from sweepnp.errors import PluginFailure
    from sweepnp.plugins import get_plugin_manager

    config = parse(file, overrides=overrides)
    pm = get_plugin_manager()
    try:
        with pm.naming_failures(source=file):
            result = _fit(config, pm, progress=not quiet and not as_json and stderr.is_terminal)
    except PluginFailure as exc:
        if show_traceback:
            import traceback

            traceback.print_exception(exc.__cause__, file=sys.stderr)
            raise UserError(str(exc), exit_code=exc.exit_code) from None
        raise UserError(f"{exc} (--traceback shows where)", exit_code=exc.exit_code) from None

    if as_json:
        json.dump(result.to_json_dict(), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
        return
    console = _console()
    console.print(
        f"[bold]{file}[/]: {result.stop_reason} after {result.epochs_run} epochs "
        f"({result.seconds:.2f} s)",
        soft_wrap=True,
    )
    console.print(_metrics_table(result.metrics))
    diagnosis = result.info.get("diagnosis")
    if diagnosis:
        console.print(f"learning curve: {diagnosis['message']}", soft_wrap=True)
    if (
        result.stop_reason == "diverged"
        and result.model.task == "regression"
        and config.data.scale_target == "none"
    ):
        console.print(
            "hint: a regression target far from unit scale makes the loss diverge easily; "
            'set data.scale_target = "standard" (predictions stay in the target\'s units)',
            soft_wrap=True,
            highlight=False,
        )


# -------------------------------------------------------------------------
# sweepnp lr-find
# -------------------------------------------------------------------------


@main.command("lr-find")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--start", type=float, default=1e-7, show_default=True, help="The first rate.")
@click.option(
    "--end", type=float, default=10.0, show_default=True, help="The rate of the last step."
)
@click.option(
    "--steps", type=int, default=100, show_default=True, help="Mini-batches to train (>= 10)."
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a value by dotted key, e.g. --set optimizer.name=adam (repeatable).",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the loss-against-rate curve to this PNG file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object to stdout.")
def lr_find_command(
    file: str,
    start: float,
    end: float,
    steps: int,
    overrides: tuple[str, ...],
    plot_path: str | None,
    as_json: bool,
) -> None:
    """Learning-rate range test: train with a rate growing exponentially every batch and suggest
    the rate where the smoothed loss falls fastest (docs/lr-find.md). A study file's [study] table
    is ignored."""
    from sweepnp.config import parse
    from sweepnp.errors import OptionError
    from sweepnp.lr_finder import find_lr

    try:
        result = find_lr(parse(file, overrides=overrides), start=start, end=end, num_steps=steps)
    except OptionError as exc:  # find_lr checks its arguments; name them as the flags
        flag = {"num_steps": "steps"}.get(exc.option, exc.option)
        raise UserError(f"--{flag} {exc.reason}") from None
    if plot_path is not None:
        _write_lr_plot(result, plot_path)
        stderr.print(f"wrote the curve to {escape(plot_path)}", highlight=False)
    if as_json:
        json.dump(result.to_json_dict(), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
        return

    history = result.history
    console = _console()
    ending = "completed"
    if result.stopped_early:
        ending = f"stopped at step {len(history) - 1}: the smoothed loss diverged"
    console.print(
        f"[bold]{escape(file)}[/]: {len(history)} of {steps} steps, "
        f"lr {start:.1e} → {end:.1e} ({ending})",
        soft_wrap=True,
        highlight=False,
    )
    console.print(_lr_table(result))
    suggestion = f"{result.suggestion:.1e}"
    console.print(f"suggested learning rate: {suggestion}", highlight=False)
    console.print(
        f"use it: sweepnp train {escape(file)} --set optimizer.lr={suggestion}",
        soft_wrap=True,
        highlight=False,
    )
    smoothed = history["smoothed_loss"]
    if not smoothed.iat[result.suggestion_step] < smoothed.iat[0]:
        console.print(
            "note: the smoothed loss never fell below its starting value; "
            "try a larger --end, more --steps, or check the run file",
            soft_wrap=True,
            highlight=False,
        )


def _lr_table(result: Any, around: int = 5) -> Table:
    """The curve from ``around`` steps before the suggestion to ``around`` steps after it."""
    history = result.history
    slope = result.slope()
    k = result.suggestion_step
    table = Table(header_style="bold")
    for column in ("step", "lr", "loss", "smoothed loss", "slope"):
        table.add_column(column, justify="right")
    table.add_column("")
    for row in range(max(0, k - around), min(len(history), k + around + 1)):
        table.add_row(
            str(row),
            f"{history['lr'].iat[row]:.2e}",
            f"{history['loss'].iat[row]:.4g}",
            f"{history['smoothed_loss'].iat[row]:.4g}",
            f"{slope[row]:.3g}",
            "← steepest descent" if row == k else "",
            style="bold" if row == k else None,
        )
    table.caption = "slope: change of the smoothed loss per decade of learning rate"
    return table


def _write_lr_plot(result: Any, path: str) -> None:
    """Draw the curve with matplotlib's Agg canvas (imported here: only --plot needs it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    result.plot(figure.add_subplot())
    try:
        figure.savefig(path, format="png")
    except OSError as exc:
        raise UserError(f"--plot: cannot write {path}: {exc.strerror or exc}") from None


# -------------------------------------------------------------------------
# sweepnp study …
# -------------------------------------------------------------------------

#: The environment variable that gives the storage when --storage is not given (as Optuna's CLI
#: reads OPTUNA_STORAGE): a URL with a password then never appears in a command line.
STORAGE_ENV = "SWEEPNP_STORAGE"
STORAGE_HELP = (
    "Optuna storage: a journal file path, sqlite:///…, postgresql://… "
    f"(default: ${STORAGE_ENV}, else ./sweepnp.journal)."
)


@main.group("study", cls=SweepnpGroup)
def study_group() -> None:
    """Run hyperparameter studies and read their results."""


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


@study_group.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--storage", default=None, envvar=STORAGE_ENV, help=STORAGE_HELP)
@click.option(
    "--n-trials",
    type=click.IntRange(min=1),
    default=None,
    help="Total trials the study should hold (default: the file's n_trials).",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes on this machine.",
)
@click.option(
    "--name", default=None, help="Study name (default: [study] name, else the file name)."
)
@click.option("--quiet", is_flag=True, help="Print nothing but the final summary.")
@click.option(
    "--quick",
    is_flag=True,
    help="Apply the file's [study.quick] changes (fewer epochs, trials, repeats); "
    "the study is named NAME-quick.",
)
def study_run(
    file: str,
    storage: str | None,
    n_trials: int | None,
    jobs: int,
    name: str | None,
    quiet: bool,
    quick: bool,
) -> None:
    """Run a study, or continue it: finished trials are kept, n_trials counts the total."""
    from sweepnp.study import load_spec, run_study
    from sweepnp.study.storage import describe

    spec = load_spec(file, name=name, quick=quick)
    total = n_trials or spec.study.n_trials
    where = describe(storage)
    with TrialReporter(spec, total, quiet=quiet) as reporter:
        try:
            study = run_study(
                file,
                storage=storage,
                n_trials=total,
                jobs=jobs,
                name=name,
                on_trial=lambda study, trial: reporter.update(study),
                spec=spec,
            )
        except KeyboardInterrupt:
            reporter.__exit__()
            flags = (f" --name {shlex.quote(name)}" if name else "") + (" --quick" if quick else "")
            _interrupted_message(shlex.quote(file) + flags, spec.name, where, storage)
            sys.exit(130)
    _print_summary(study, spec, where, storage)


def _storage_flag(storage: str | None) -> tuple[str, str]:
    """The ``--storage`` flag of a command sweepnp suggests, with the URL's password masked, and
    a note saying so when it is; nothing for the default storage or for one given by
    $SWEEPNP_STORAGE, where the command works as printed."""
    from sweepnp.study.storage import describe

    source = click.get_current_context().get_parameter_source("storage")
    if storage is None or source is click.core.ParameterSource.ENVIRONMENT:
        return "", ""
    shown = describe(storage)
    note = ""
    if shown != storage:
        note = (
            f"*** hides the password: type it in its place, or put the URL in ${STORAGE_ENV} "
            "and leave out --storage"
        )
    return f" --storage {shlex.quote(shown)}", note


def _interrupted_message(command: str, name: str, where: str, storage: str | None) -> None:
    from sweepnp.results import load

    finished = 0
    with contextlib.suppress(SweepnpError):
        finished = int(load(name, storage).trials["state"].isin(["complete", "pruned"]).sum())
    flag, note = _storage_flag(storage)
    stderr.print(
        f"Interrupted: {finished} finished trials of study {name!r} are kept in {where}; "
        "running trials ended as failed (interrupted) and will run again. "
        f"Resume with: sweepnp study run {command}{flag}" + (f" ({note})" if note else ""),
        soft_wrap=True,
        highlight=False,
        markup=False,
    )


def _print_summary(study: Any, spec: Any, where: str, storage: str | None) -> None:
    console = _console()
    states: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    counts = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    console.print(f"study [bold]{spec.name}[/] in {where}: {counts}", soft_wrap=True)
    if spec.multi_objective:
        front = study.best_trials
        console.print(f"Pareto front: trials {', '.join(str(t.number) for t in front)}")
    else:
        try:
            best = study.best_trial
        except ValueError:
            console.print("no completed trial yet")
            return
        console.print(
            f"best {spec.metrics[0]} {best.value:.4f} at trial {best.number}:", soft_wrap=True
        )
        for path, value in best.params.items():
            console.print(f"  {path} = {value!r}", soft_wrap=True, highlight=False)
    storage_flag, note = _storage_flag(storage)
    name = shlex.quote(spec.name)
    console.print(
        f"results: sweepnp study show {name}{storage_flag}\n"
        f"report:  sweepnp study report {name}{storage_flag}" + (f"\n{note}" if note else ""),
        soft_wrap=True,
        highlight=False,
        markup=False,
    )


def _frame_table(frame: Any, title: str | None = None, limit: int = 30) -> Table:
    """A DataFrame as a rich table (first ``limit`` rows)."""
    table = Table(title=title, header_style="bold", show_lines=False)
    for column in frame.columns:
        table.add_column(str(column), overflow="fold")
    for _, row in frame.head(limit).iterrows():
        table.add_row(*(_cell(v) for v in row))
    return table


def _cell(value: Any) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, list | tuple) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, pd.Timedelta):
        return f"{value.total_seconds():.2f} s"
    return str(value)


@study_group.command("list")
@click.option("--storage", default=None, envvar=STORAGE_ENV, help=STORAGE_HELP)
def study_list(storage: str | None) -> None:
    """List the studies in a storage."""
    from pathlib import Path

    from sweepnp.results import list_studies
    from sweepnp.study.storage import DEFAULT_STORAGE, describe

    if storage is None and not Path(DEFAULT_STORAGE).exists():
        _console().print(f"no studies here (no {DEFAULT_STORAGE} in this folder)", highlight=False)
        return
    frame = list_studies(storage)
    if frame.empty:
        _console().print(f"no studies in {describe(storage)}", highlight=False, markup=False)
        return
    _console().print(_frame_table(frame))


@study_group.command("show")
@click.argument("name")
@click.option("--storage", default=None, envvar=STORAGE_ENV, help=STORAGE_HELP)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
def study_show(name: str, storage: str | None, limit: int) -> None:
    """Show a study's trials (best first) and its summary across repeats."""
    from sweepnp.results import load

    results = load(name, storage)
    trials = results.trials
    value_columns = [c for c in trials.columns if c == "value" or c.startswith("value_")]
    shown = ["number", "state", "stop_reason", *value_columns, *results.param_columns, "epochs"]
    ascending = results.spec.directions[0] == "minimize"
    ordered = trials.sort_values(value_columns[0], ascending=ascending, na_position="last")
    console = _console()
    console.print(
        _frame_table(ordered[shown], title=f"study {name}: {len(trials)} trials", limit=limit)
    )
    summary = results.summary()
    if not summary.empty and (summary["n"] > 1).any():
        console.print(_frame_table(summary, title="across repeats (95% CI)", limit=limit))


@study_group.command("best")
@click.argument("name")
@click.option("--storage", default=None, envvar=STORAGE_ENV, help=STORAGE_HELP)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the best trial (or Pareto front) as JSON."
)
def study_best(name: str, storage: str | None, as_json: bool) -> None:
    """Print the best configuration (the Pareto front for several metrics)."""
    from sweepnp.results import load

    results = load(name, storage)
    best = results.best()
    if as_json:
        import pandas as pd

        frame = best.to_frame().T if isinstance(best, pd.Series) else best
        sys.stdout.write(_json_records(frame) + "\n")
        return
    console = _console()
    if len(results.metrics) > 1:
        console.print(_frame_table(best, title="Pareto front"))
        return
    console.print(f"best trial {best['number']}: {results.metrics[0]} {best['value']:.4f}")
    for path in results.param_columns:
        console.print(f"  {path} = {_cell(best[path])}", highlight=False)


def _json_records(frame: Any) -> str:
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


@study_group.command("export")
@click.argument("name")
@click.option("--storage", default=None, envvar=STORAGE_ENV, help=STORAGE_HELP)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "json"]),
    default="csv",
    show_default=True,
)
@click.option(
    "--table",
    type=click.Choice(["trials", "history", "summary"]),
    default="trials",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="File to write (default: stdout; parquet needs a file).",
)
def study_export(name: str, storage: str | None, fmt: str, table: str, output: str | None) -> None:
    """Export a results table as CSV, Parquet or JSON."""
    from sweepnp.results import load

    if fmt == "parquet" and output is None:
        raise UserError("--format parquet needs -o FILE")
    if output is not None:
        _check_writable_file(output, "--output")
    results = load(name, storage)
    if table == "trials":
        frame = results.trials
    elif table == "history":
        frame = results.history
    else:
        frame = results.summary()
    try:
        if fmt == "parquet":
            frame.to_parquet(output, index=False)
        else:
            text = frame.to_csv(index=False) if fmt == "csv" else _json_records(frame)
            if output is None:
                sys.stdout.write(text if text.endswith("\n") else text + "\n")
            else:
                with open(output, "w", encoding="utf-8") as handle:
                    handle.write(text)
    except OSError as exc:
        raise UserError(f"--output: cannot write {output}: {exc.strerror or exc}") from None
    if output is not None:
        stderr.print(f"wrote {len(frame)} rows of {table} to {output}", highlight=False)


def _check_writable_file(path: str, option: str) -> None:
    """Refuse, before any work, a file that cannot be written: its folder is missing or not a
    folder, or it cannot be created there (a read-only place)."""
    import os
    from pathlib import Path

    folder = Path(path).parent
    if not folder.is_dir():
        missing = "is not a folder" if folder.exists() else "does not exist"
        raise UserError(f"{option}: cannot write {path}: the folder {str(folder)!r} {missing}")
    if not os.access(folder, os.W_OK) and not Path(path).exists():
        raise UserError(f"{option}: cannot write {path}: the folder {str(folder)!r} is read-only")


@study_group.command("delete")
@click.argument("name")
@click.option("--storage", default=None, envvar=STORAGE_ENV, help=STORAGE_HELP)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def study_delete(name: str, storage: str | None, yes: bool) -> None:
    """Delete a study and all its trials from the storage."""
    import optuna

    from sweepnp.study.storage import describe, open_storage

    handle = open_storage(storage, create=False)
    names = optuna.get_all_study_names(handle)
    if name not in names:
        raise UserError(
            f"no study named {name!r} in {describe(storage)}; studies there: "
            f"{', '.join(names) or '(none)'}"
        )
    if not yes:
        if not sys.stdin.isatty():
            raise UserError(
                f"not deleting study {name!r} from {describe(storage)}: standard input is not a "
                "terminal, so there is no one to confirm; pass --yes to delete it"
            )
        click.confirm(f"Delete study {name!r} from {describe(storage)}?", abort=True)
    optuna.delete_study(study_name=name, storage=handle)
    _console().print(f"deleted study {name!r} from {describe(storage)}")


@study_group.command("rerun")
@click.argument("name")
@click.option("--trial", "number", type=int, required=True, help="The trial number to re-run.")
@click.option("--storage", default=None, envvar=STORAGE_ENV, help=STORAGE_HELP)
def study_rerun(name: str, number: int, storage: str | None) -> None:
    """Train one trial again from its stored parameters and seeds, and compare."""
    import optuna
    import pandas as pd

    from sweepnp.study import rerun_trial
    from sweepnp.study.storage import describe, open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    handle = open_storage(storage, create=False)
    try:
        study = optuna.load_study(study_name=name, storage=handle)
    except KeyError:
        names = optuna.get_all_study_names(handle)
        raise UserError(
            f"NAME: no study named {name!r} in {describe(storage)}; studies there: "
            f"{', '.join(names) or '(none)'}"
        ) from None
    outcome, stored = rerun_trial(study, number)
    console = _console()
    console.print(f"trial {number} re-run: {outcome.stop_reason}", highlight=False)
    if outcome.history is not None:
        console.print(_frame_table(outcome.history.tail(5), title="last epochs (re-run)"))
    if stored is None or outcome.history is None:
        console.print("nothing stored to compare with")
        return
    columns = [c for c in stored.columns if c != "epoch_seconds"]
    try:
        pd.testing.assert_frame_equal(
            outcome.history[columns].reset_index(drop=True), stored[columns].reset_index(drop=True)
        )
    except AssertionError:
        console.print("[red]the re-run's learning curve differs from the stored one[/]")
        sys.exit(1)
    console.print(f"identical to the stored learning curve ({len(stored)} epochs)")


@study_group.command("report")
@click.argument("name")
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder for report.html and the PNG figures (default: ./reports/NAME, NAME made a safe "
    "file name).",
)
@click.option("--storage", default=None, envvar=STORAGE_ENV, help=STORAGE_HELP)
@click.option(
    "--no-retrain",
    is_flag=True,
    help="Skip the figures that retrain models (weight histograms, decision boundaries).",
)
def study_report(name: str, out_dir: str | None, storage: str | None, no_retrain: bool) -> None:
    """Write a self-contained HTML report of a study, and its figures as PNG files."""
    from pathlib import Path

    from sweepnp.filenames import path_in
    from sweepnp.report import write_report  # imports matplotlib: only for this command
    from sweepnp.results import load

    try:
        folder = Path(out_dir) if out_dir is not None else path_in("reports", name)
    except ValueError as exc:
        raise UserError(f"NAME: {exc}; choose the folder with -o DIR") from None
    results = load(name, storage)
    try:  # before anything is drawn or retrained
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ".sweepnp-write-check").touch()
        (folder / ".sweepnp-write-check").unlink()
    except OSError as exc:
        raise UserError(f"--output: cannot write into {folder}: {exc.strerror or exc}") from None
    try:
        report = write_report(results, folder, retrain=not no_retrain)
    except OSError as exc:
        raise UserError(f"--output: cannot write into {folder}: {exc.strerror or exc}") from None
    console = _console()
    console.print(report.verdict, highlight=False, soft_wrap=True)
    skipped = f", {len(report.skipped)} not drawn (see the report)" if report.skipped else ""
    console.print(
        f"wrote {report.html} with {len(report.figures)} figures{skipped}",
        highlight=False,
        soft_wrap=True,
    )


# -------------------------------------------------------------------------
# sweepnp plugins …
# -------------------------------------------------------------------------


@main.group("plugins", cls=SweepnpGroup)
def plugins_group() -> None:
    """Inspect the installed plugins."""


@plugins_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include sweepnp's built-in plugins.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON list of plugins, and nothing else."
)
def plugins_list(show_all: bool, as_json: bool) -> None:
    """List the installed plugins and what each provides.

    For every third-party plugin (and, with --all, every built-in one): its name, distribution,
    version, what it provides (e.g. optimizers: lion) and the hooks it implements. A plugin that
    failed to import is listed as broken, with its error; everything else keeps working without
    it.
    """
    import os

    from sweepnp.plugins import DISABLE_AUTOLOAD_ENV, get_plugin_manager

    plugins = [p for p in get_plugin_manager().describe() if show_all or not p.builtin]
    if as_json:
        json.dump([p.to_json_dict() for p in plugins], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if os.environ.get(DISABLE_AUTOLOAD_ENV):
        stderr.print(
            f"{DISABLE_AUTOLOAD_ENV} is set: third-party plugins are not loaded.", highlight=False
        )
    console = _console()
    if not plugins:
        console.print("no third-party plugins installed (--all lists the built-in ones)")
        return
    table = Table(header_style="bold")
    for column in ("plugin", "distribution", "version", "state", "provides", "hooks"):
        table.add_column(column, overflow="fold")
    for plugin in plugins:
        provides = "; ".join(f"{k}: {', '.join(names)}" for k, names in plugin.provides.items())
        table.add_row(
            plugin.name,
            plugin.distribution or "",
            plugin.version or "",
            "[red]broken[/]" if plugin.state == "broken" else plugin.state,
            f"[red]{escape(plugin.error or '')}[/]" if plugin.state == "broken" else provides,
            ", ".join(plugin.hooks),
        )
    console.print(table)


if __name__ == "__main__":  # pragma: no cover
    main()
