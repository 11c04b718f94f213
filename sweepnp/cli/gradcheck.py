"""``sweepnp gradcheck``: a run file's analytic gradients against central differences."""

from __future__ import annotations

import json
import sys

import click
from rich.markup import escape
from rich.table import Table

from sweepnp.cli.app import UserError, json_option, main, set_option
from sweepnp.cli.render import stdout

__all__ = ["gradcheck_command"]


@main.command("gradcheck")
@click.argument("file", type=click.Path(dir_okay=False))
@set_option("regularizers.l1.lam=0.01")
@click.option(
    "--rows",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Training rows the network's check uses.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0, min_open=True),
    default=1e-6,
    show_default=True,
    help="The largest relative error that passes.",
)
@json_option
def gradcheck_command(
    file: str, overrides: tuple[str, ...], rows: int, tolerance: float, as_json: bool
) -> None:
    """Check a run file's gradients against central differences (exit 1: one is wrong).

    In float64 whatever model.dtype says: the backward pass of the run's own network and loss
    (on its data and initial weights, dropout's masks held fixed), and each weight penalty's
    gradient() against its penalty(), so a wrong regularizer is named. Prints the relative error
    ‖analytic − numeric‖ / (‖analytic‖ + ‖numeric‖) of every parameter, and a verdict.
    """
    from sweepnp.config import parse
    from sweepnp.errors import PluginFailure
    from sweepnp.gradcheck import check_run
    from sweepnp.plugins import get_plugin_manager
    from sweepnp.trainer import json_number

    config = parse(file, overrides=overrides)
    pm = get_plugin_manager()
    try:
        with pm.naming_failures(source=file):
            report = check_run(config, rows=rows, tolerance=tolerance, plugin_manager=pm)
    except PluginFailure as exc:
        raise UserError(str(exc), exit_code=exc.exit_code) from None

    if as_json:
        json.dump(
            {
                "file": file,
                "dtype": "float64",
                "rows": report.rows,
                "tolerance": tolerance,
                "masked_by": report.masked_by,
                "errors": {
                    part: {name: json_number(error) for name, error in errors.items()}
                    for part, errors in report.errors.items()
                },
                "failed": sorted(report.failed),
                "ok": report.ok,
            },
            sys.stdout,
            allow_nan=False,
        )
        sys.stdout.write("\n")
    else:
        _print(file, report)
    if not report.ok:
        sys.exit(1)


def _print(file: str, report: object) -> None:
    console = stdout()
    console.print(
        f"[bold]{escape(file)}[/]: gradients in float64 on {report.rows} training rows "
        f"(tolerance {report.tolerance:.0e})",
        soft_wrap=True,
        highlight=False,
    )
    table = Table(header_style="bold")
    for column in ("checked", "parameter", "relative error", ""):
        table.add_column(column, justify="right" if column == "relative error" else "left")
    for part, errors in report.errors.items():
        label = part
        if part == "network":
            label = f"network and loss ({report.loss})"
            if report.masked_by:
                label += f", {', '.join(report.masked_by)} masks held fixed"
        for parameter, error in errors.items():
            wrong = not error <= report.tolerance
            table.add_row(
                escape(label),
                parameter,
                f"{error:.2e}",
                "[red]WRONG[/]" if wrong else "ok",
            )
            label = ""
    console.print(table)
    if report.ok:
        console.print(f"verdict: every gradient matches (worst {_worst(report.errors):.2e})")
        return
    for part, errors in report.failed.items():
        names = ", ".join(f"{name} {error:.2e}" for name, error in errors.items())
        if part == "network":
            what = "the network's backward pass or its loss gradient"
        else:
            what = f"{part}: its gradient() does not match its penalty()"
        console.print(
            f"[red]verdict: WRONG gradient[/] in {escape(what)} ({names})", soft_wrap=True
        )


def _worst(errors: dict[str, dict[str, float]]) -> float:
    return max((e for part in errors.values() for e in part.values()), default=0.0)
