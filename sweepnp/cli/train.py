"""``sweepnp train`` and ``sweepnp lr-find``: one run from a run file."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from sweepnp.cli.app import UserError, check_writable_file, json_option, main, set_option
from sweepnp.cli.render import epoch_bar, metrics_table, stderr, stdout
from sweepnp.vocabulary import StopReason

__all__ = ["lr_find_command", "train_command"]


def _fit(config: Any, pm: Any, *, progress: bool) -> Any:
    from sweepnp.trainer import Trainer

    if not progress:
        return Trainer(config, plugin_manager=pm).fit()
    with epoch_bar(config.train.epochs) as display:
        return Trainer(config, callbacks=[display], plugin_manager=pm).fit()


@main.command("train")
@click.argument("file", type=click.Path(dir_okay=False))
@set_option("regularizers.l2.lam=0.01")
@json_option
@click.option("--quiet", is_flag=True, help="No progress display.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Draw the learning curves to this image file (.png, .svg, .pdf, ...).",
)
@click.option(
    "--traceback",
    "show_traceback",
    is_flag=True,
    help="When a plugin fails, also print its traceback.",
)
def train_command(
    file: str,
    overrides: tuple[str, ...],
    as_json: bool,
    quiet: bool,
    plot_path: str | None,
    show_traceback: bool,
) -> None:
    """Train once from a run file (a study file trains its base configuration).

    A plugin that raises ends the command with one line naming the plugin and the function it
    failed in, and exit status 1 (--traceback shows where).
    """
    from sweepnp.config import parse
    from sweepnp.errors import PluginFailure
    from sweepnp.plugins import get_plugin_manager

    config = parse(file, overrides=overrides)
    if plot_path is not None:
        _check_plot_path(plot_path)
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

    if plot_path is not None:
        try:
            result.plot(plot_path)
        except OSError as exc:
            raise UserError(f"--plot: cannot write {plot_path}: {exc.strerror or exc}") from None
        stderr.print(
            f"wrote the learning curves to {escape(plot_path)}", highlight=False, soft_wrap=True
        )
    if as_json:
        json.dump(result.to_json_dict(), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
        return
    console = stdout()
    console.print(
        f"[bold]{file}[/]: {result.stop_reason} after {result.epochs_run} epochs "
        f"({result.seconds:.2f} s)",
        soft_wrap=True,
    )
    console.print(metrics_table(result.metrics))
    diagnosis = result.info.get("diagnosis")
    if diagnosis:
        console.print(f"learning curve: {diagnosis['message']}", soft_wrap=True)
    if (
        result.stop_reason == StopReason.DIVERGED
        and result.model.task == "regression"
        and config.data.scale_target == "none"
    ):
        console.print(
            "hint: a regression target far from unit scale makes the loss diverge easily; "
            'set data.scale_target = "standard" (predictions stay in the target\'s units)',
            soft_wrap=True,
            highlight=False,
        )


def _check_plot_path(path: str) -> None:
    """Refuse, before training, a --plot file that cannot be written or whose suffix names no
    image format matplotlib writes."""
    from pathlib import Path

    from matplotlib.figure import Figure

    check_writable_file(path, "--plot")
    formats = Figure().canvas.get_supported_filetypes()
    suffix = Path(path).suffix.lower().removeprefix(".")
    if suffix not in formats:
        given = f"suffix '.{suffix}'" if suffix else "no suffix"
        raise UserError(
            f"--plot: {path} has {given}; valid image suffixes: "
            + ", ".join(f".{name}" for name in sorted(formats))
        )


@main.command("lr-find")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--start", type=float, default=1e-7, show_default=True, help="The first rate.")
@click.option(
    "--end", type=float, default=10.0, show_default=True, help="The rate of the last step."
)
@click.option(
    "--steps", type=int, default=100, show_default=True, help="Mini-batches to train (>= 10)."
)
@set_option("optimizer.name=adam")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the loss-against-rate curve to this PNG file.",
)
@json_option
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

    steps = result.steps
    console = stdout()
    ending = "completed"
    if result.stopped_early:
        ending = f"stopped at step {len(steps) - 1}: the smoothed loss diverged"
    console.print(
        f"[bold]{escape(file)}[/]: {len(steps)} of {steps} steps, "
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
    smoothed = steps["smoothed_loss"]
    if not smoothed.iat[result.suggestion_step] < smoothed.iat[0]:
        console.print(
            "note: the smoothed loss never fell below its starting value; "
            "try a larger --end, more --steps, or check the run file",
            soft_wrap=True,
            highlight=False,
        )


def _lr_table(result: Any, around: int = 5) -> Table:
    """The curve from ``around`` steps before the suggestion to ``around`` steps after it."""
    steps = result.steps
    slope = result.slope()
    k = result.suggestion_step
    table = Table(header_style="bold")
    for column in ("step", "lr", "loss", "smoothed loss", "slope"):
        table.add_column(column, justify="right")
    table.add_column("")
    for row in range(max(0, k - around), min(len(steps), k + around + 1)):
        table.add_row(
            str(row),
            f"{steps['lr'].iat[row]:.2e}",
            f"{steps['loss'].iat[row]:.4g}",
            f"{steps['smoothed_loss'].iat[row]:.4g}",
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
