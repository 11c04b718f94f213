"""The command line: ``sweepnp train | study … | plugins …``.

Built on click; progress and tables by rich. A user mistake (any :class:`SweepnpError`) prints one
line, ``Error: <file>: <key>: <what is wrong; valid choices>``, and exits with status 2.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sweepnp.callbacks import Callback
from sweepnp.errors import SweepnpError

__all__ = ["main"]

stderr = Console(stderr=True)


class UserError(click.ClickException):
    """A mistake in the user's input: one message, exit status 2, no traceback."""

    exit_code = 2


class SweepnpGroup(click.Group):
    """Turns every :class:`SweepnpError` raised by a command into a :class:`UserError`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SweepnpError as exc:
            raise UserError(str(exc)) from None


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
def train_command(file: str, overrides: tuple[str, ...], as_json: bool, quiet: bool) -> None:
    """Train once from a run file (a study file trains its base configuration)."""
    from sweepnp.config import parse
    from sweepnp.trainer import Trainer

    config = parse(file, overrides=overrides)
    show_progress = not quiet and not as_json and stderr.is_terminal
    if not show_progress:
        result = Trainer(config).fit()
    else:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=stderr,
            transient=True,
        ) as progress:
            result = Trainer(config, callbacks=[EpochProgress(progress, config.train.epochs)]).fit()

    if as_json:
        json.dump(result.to_json_dict(), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
        return
    console = Console()
    console.print(
        f"[bold]{file}[/]: {result.stop_reason} after {result.epochs_run} epochs "
        f"({result.seconds:.2f} s)",
        soft_wrap=True,
    )
    console.print(_metrics_table(result.metrics))
    diagnosis = result.info.get("diagnosis")
    if diagnosis:
        console.print(f"learning curve: {diagnosis['message']}", soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    main()
