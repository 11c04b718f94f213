"""``sweepnp study …``: run a study, and read, export, re-run, report or delete it.

Thin commands: the work is in :mod:`sweepnp.study` and :mod:`sweepnp.results`; what is printed
is shaped in :mod:`sweepnp.cli.render`, and what ``show`` prints in :mod:`sweepnp.cli.study_show`.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

from sweepnp.cli.app import SweepnpGroup, UserError, check_writable_file, main
from sweepnp.cli.render import (
    TrialReporter,
    fit_table,
    json_records,
    stderr,
    stdout,
    table_width,
)
from sweepnp.cli.study_run import (
    STORAGE_ENV,
    cluster_address,
    fail_if_every_trial_failed,
    interrupted_message,
    print_summary,
    say_if_it_had_its_trials,
    storage_flag,
)
from sweepnp.garbage import collection_paused
from sweepnp.study import DEFAULT_STORAGE

__all__ = ["study_group"]

#: The environment variable that gives the storage when --storage is not given (as Optuna's CLI
#: reads OPTUNA_STORAGE): a URL with a password then never appears in a command line.
STORAGE_HELP = (
    "Optuna storage: a journal file path, sqlite:///…, postgresql://… "
    f"(default: ${STORAGE_ENV}, else ./{DEFAULT_STORAGE})."
)


@main.group("study", cls=SweepnpGroup)
def study_group() -> None:
    """Run hyperparameter studies and read their results."""


class StackSize(click.ParamType):
    """``--stack``: a whole number >= 1, or ``auto``."""

    name = "N|auto"

    def convert(self, value: Any, param: Any, ctx: Any) -> int | str:
        if isinstance(value, int) or value == "auto":
            return value
        try:
            number = int(value)
        except ValueError:
            number = 0
        if number < 1:
            self.fail(f'{value!r} is not a whole number >= 1 nor "auto"', param, ctx)
        return number


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
    "--stack",
    type=StackSize(),
    default=None,
    help="Runs each worker trains at once, as one array program (stacked trials): a number, "
    'or "auto" (default: the file\'s [study] stack, else auto); 1 trains one trial at a time.',
)
@click.option(
    "--name", default=None, help="Study name (default: [study] name, else the file name)."
)
@click.option(
    "--cluster",
    default=None,
    metavar="ADDRESS",
    help="Run the study's workers on the Dask cluster whose scheduler is at ADDRESS "
    "(tcp://host:8786), one per worker thread (default: $SWEEPNP_CLUSTER, else the file's "
    "[study] cluster, else this machine); needs pip install 'sweepnp[dask]'.",
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
    stack: int | str | None,
    name: str | None,
    cluster: str | None,
    quiet: bool,
    quick: bool,
) -> None:
    """Run a study, or continue it: finished trials are kept, n_trials counts the total."""
    from sweepnp.study import load_spec, run_study
    from sweepnp.study.storage import describe

    where = describe(storage)
    with TrialReporter(quiet=quiet) as reporter:  # progress from the start: the file's checks
        spec = load_spec(file, name=name, quick=quick)
        total = n_trials or spec.study.n_trials
        reporter.begin(spec, total)
        try:
            address = cluster_address(cluster, spec, jobs)
            if address:
                from sweepnp.study.cluster import run_on_cluster

                study = run_on_cluster(
                    spec,
                    address=address,
                    storage=storage,
                    n_trials=total,
                    stack=stack,
                    on_trial=lambda study, trial: reporter.update(study),
                    board=reporter.board,
                )
            else:
                study = run_study(
                    file,
                    storage=storage,
                    n_trials=total,
                    jobs=jobs,
                    stack=stack,
                    name=name,
                    on_trial=lambda study, trial: reporter.update(study),
                    spec=spec,
                    board=reporter.board,
                )
        except KeyboardInterrupt:
            reporter.__exit__()
            flags = (f" --name {shlex.quote(name)}" if name else "") + (" --quick" if quick else "")
            flags += f" --cluster {shlex.quote(cluster)}" if cluster else ""
            command = shlex.quote(file) + flags
            interrupted_message(command, spec.name, where, storage, reporter.board.study)
            sys.exit(130)
    say_if_it_had_its_trials(reporter.board, spec.name, total, n_trials)
    print_summary(study, spec, where, storage)
    fail_if_every_trial_failed(study)


def format_option(what: str) -> Any:
    """``--format table|json|csv`` (``-f``, as Optuna's CLI): a table to read, or every digit
    for a program."""
    return click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice(["table", "json", "csv"]),
        default="table",
        show_default=True,
        help=f"Print {what} as a table, or as JSON or CSV with every digit.",
    )


def _write_frame(frame: Any, fmt: str) -> None:
    """A table as JSON (a list of row objects, floats exact) or CSV, on standard output."""
    text = json_records(frame) if fmt == "json" else frame.to_csv(index=False)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


@study_group.command("list")
@click.option("--storage", default=None, envvar=STORAGE_ENV, help=STORAGE_HELP)
@format_option("the studies")
@collection_paused()  # one bounded read
def study_list(storage: str | None, fmt: str) -> None:
    """List the studies in a storage."""
    from pathlib import Path

    from sweepnp.study.storage import DEFAULT_STORAGE

    if storage is None and not Path(DEFAULT_STORAGE).exists():
        if fmt != "table":
            _write_frame(_no_studies(), fmt)
            return
        stdout().print(f"no studies here (no {DEFAULT_STORAGE} in this folder)", highlight=False)
        return
    if fmt != "table":
        from sweepnp.results import list_studies

        _write_frame(list_studies(storage), fmt)
        return
    from sweepnp.cli.study_show import print_studies

    print_studies(storage)


def _no_studies() -> Any:
    import pandas as pd

    columns = ["name", "directions", "n_trials", "best_value", "best_trial", "datetime_start"]
    return pd.DataFrame(columns=columns)


@study_group.command("show")
@click.argument("name")
@click.option("--storage", default=None, envvar=STORAGE_ENV, help=STORAGE_HELP)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@format_option("the trials")
@click.option(
    "--wide", is_flag=True, help="Show every column, however wide (default: fit the terminal)."
)
@click.option(
    "--watch",
    is_flag=True,
    help="Show the table again every --interval seconds while trials of the study run; "
    "Ctrl-C stops.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds between refreshes of --watch.",
)
def study_show(
    name: str,
    storage: str | None,
    limit: int,
    fmt: str,
    wide: bool,
    watch: bool,
    interval: float,
) -> None:
    """Show a study's trials (best first), its summary across repeats, and the verdict."""
    if watch and fmt != "table":
        raise UserError(f"--watch shows the table; it cannot be combined with --format {fmt}")
    interval_given = click.get_current_context().get_parameter_source("interval")
    if not watch and interval_given is not click.core.ParameterSource.DEFAULT:
        raise UserError("--interval is the time between the refreshes of --watch; add --watch")
    if watch:
        from sweepnp.cli.study_show import watch_study

        watch_study(name, storage, limit, wide, interval)
        return
    with collection_paused():  # one bounded read (--watch keeps the collector: it runs on)
        _show(name, storage, limit, fmt, wide)


def _show(name: str, storage: str | None, limit: int, fmt: str, wide: bool) -> None:
    from sweepnp.cli.study_show import print_parts, show_parts, trials_shown
    from sweepnp.results import load

    results = load(name, storage)
    if fmt != "table":
        _write_frame(trials_shown(results).head(limit), fmt)
        return
    console = stdout()
    width = None if wide else table_width(console)
    print_parts(console, show_parts(results, limit, width, wide_hint=not wide), width)


@study_group.command("best")
@click.argument("name")
@click.option("--storage", default=None, envvar=STORAGE_ENV, help=STORAGE_HELP)
@format_option("the best trial (or the Pareto front)")
@click.option("--json", "as_json", is_flag=True, hidden=True, help="The same as --format json.")
@collection_paused()  # one bounded read
def study_best(name: str, storage: str | None, fmt: str, as_json: bool) -> None:
    """Print the best configuration (the Pareto front for several metrics), each parameter as
    precisely as it was searched."""
    import pandas as pd

    from sweepnp.cli.study_show import metric_headers, param_texts
    from sweepnp.results import load

    results = load(name, storage)
    best = results.best()
    if as_json:
        fmt = "json"
    if fmt != "table":
        _write_frame(best.to_frame().T if isinstance(best, pd.Series) else best, fmt)
        return
    console = stdout()
    if len(results.metrics) > 1:
        columns = ["number", *[f"value_{m}" for m in results.metrics], *results.param_columns]
        console.print("Pareto front", highlight=False)
        fit_table(
            best[columns],
            width=table_width(console),
            texts=param_texts(results),
            keep=columns[: 1 + len(results.metrics)],
            dotted=metric_headers(results),
        ).print(console)
        return
    console.print(
        f"best trial {best['number']}: {results.metrics[0]} {best['value']:.4f}", highlight=False
    )
    for param in results.space.params:
        console.print(f"  {param.path} = {param.text(best[param.path])}", highlight=False)


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
        check_writable_file(output, "--output")
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
            text = frame.to_csv(index=False) if fmt == "csv" else json_records(frame)
            if output is None:
                sys.stdout.write(text if text.endswith("\n") else text + "\n")
            else:
                with open(output, "w", encoding="utf-8") as handle:
                    handle.write(text)
    except OSError as exc:
        raise UserError(f"--output: cannot write {output}: {exc.strerror or exc}") from None
    if output is not None:
        stderr.print(f"wrote {len(frame)} rows of {table} to {output}", highlight=False)


@study_group.command("delete")
@click.argument("name")
@click.option("--storage", default=None, envvar=STORAGE_ENV, help=STORAGE_HELP)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def study_delete(name: str, storage: str | None, yes: bool) -> None:
    """Delete a study and all its trials from the storage."""
    import optuna

    from sweepnp.study.optuna_adapter import storage_of
    from sweepnp.study.storage import describe, load_study

    study = load_study(name, storage)
    if not yes:
        if not sys.stdin.isatty():
            raise UserError(
                f"not deleting study {name!r} from {describe(storage)}: standard input is not a "
                "terminal, so there is no one to confirm; pass --yes to delete it"
            )
        click.confirm(f"Delete study {name!r} from {describe(storage)}?", abort=True)
    optuna.delete_study(study_name=name, storage=storage_of(study))
    stdout().print(f"deleted study {name!r} from {describe(storage)}")


@study_group.command("rerun")
@click.argument("name")
@click.option("--trial", "number", type=int, required=True, help="The trial number to re-run.")
@click.option("--storage", default=None, envvar=STORAGE_ENV, help=STORAGE_HELP)
def study_rerun(name: str, number: int, storage: str | None) -> None:
    """Train one trial again from its stored parameters and seeds, and compare: a trial the
    study's pruner (or Ctrl-C) stopped is stopped where the study stopped it."""
    from sweepnp.cli.study_rerun import print_rerun
    from sweepnp.study.storage import load_study
    from sweepnp.study.trial import rerun

    again = rerun(load_study(name, storage), number)
    flag, _ = storage_flag(storage)
    if not print_rerun(again, f"sweepnp study rerun {shlex.quote(name)}", flag):
        sys.exit(1)


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
    console = stdout()
    console.print(report.verdict, highlight=False, soft_wrap=True)
    skipped = f", {len(report.skipped)} not drawn (see the report)" if report.skipped else ""
    console.print(
        f"wrote {report.html} with {len(report.figures)} figures{skipped}",
        highlight=False,
        soft_wrap=True,
    )
