"""``sweepnp surface``: optimizer plugins racing on a two-dimensional test function."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from sweepnp.cli.app import UserError, json_option, main
from sweepnp.cli.render import stderr, stdout

__all__ = ["parse_spec", "surface_command"]


def parse_spec(text: str, what: str) -> tuple[str, dict[str, Any]]:
    """``NAME`` or ``NAME:option=value,option=value`` → ``(name, options)``.

    Values are read as in ``--set`` (TOML: ``1e-4``, ``0.9``, ``true``; anything else is a
    string, so ``form=ema`` needs no quotes).
    """
    from sweepnp.config import parse_value

    name, _, rest = text.partition(":")
    name = name.strip()
    if not name:
        raise UserError(f"{what} {text!r}: give a name, e.g. {what} NAME:option=value,...")
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        option, sep, value = item.partition("=")
        if not sep or not option.strip():
            raise UserError(
                f"{what} {text!r}: {item!r} is not option=value; "
                f"write {what} {name}:option=value,option=value"
            )
        options[option.strip()] = parse_value(value.strip())
    return name, options


def _parse_point(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        x, y = (float(part) for part in parts)
    except ValueError:
        raise UserError(f"--start {text!r}: give two numbers x,y, e.g. --start -1,1") from None
    return x, y


@main.command("surface")
@click.argument("surface_spec", metavar="SURFACE[:OPTION=VALUE,...]")
@click.option(
    "--optimizer",
    "optimizer_specs",
    multiple=True,
    required=True,
    metavar="NAME[:OPTION=VALUE,...]",
    help="An optimizer plugin and its options, e.g. momentum:lr=1e-4,beta=0.9 (repeatable).",
)
@click.option(
    "--start",
    "start_text",
    metavar="X,Y",
    default=None,
    help="The start point (default: the surface's own, e.g. -1,1 for rosenbrock).",
)
@click.option(
    "--steps", type=click.IntRange(min=1), default=1000, show_default=True, help="Steps to take."
)
@click.option(
    "-o",
    "--output",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Draw the paths on a contour plot in this PNG file.",
)
@json_option
def surface_command(
    surface_spec: str,
    optimizer_specs: tuple[str, ...],
    start_text: str | None,
    steps: int,
    plot_path: str | None,
    as_json: bool,
) -> None:
    """Run optimizers on a 2-D test surface and print where each ends.

    Each --optimizer is built by name with its options, exactly as a run file's [optimizer]
    table builds it, and takes STEPS steps at its own lr from the start point, through the same
    step() a training run calls (built-in and third-party optimizers alike). Surfaces are plugins
    too; built in: rosenbrock, quadratic (a x² + b y²), beale, himmelblau.

    Example (source exercise 002, section 4.4):

    \b
        sweepnp surface rosenbrock --start -1,1 --steps 1000 \\
            --optimizer sgd:lr=1e-4 --optimizer momentum:lr=1e-4,beta=0.9 \\
            --optimizer adam:lr=0.01 -o rosenbrock.png
    """
    from sweepnp.plugins import get_plugin_manager
    from sweepnp.surfaces import descend

    pm = get_plugin_manager()
    name, options = parse_spec(surface_spec, "SURFACE")
    surface = pm.build("surfaces", name, options, key="surface", source=surface_spec)
    start = surface.start if start_text is None else _parse_point(start_text)
    descents = {}
    with pm.naming_failures():
        for spec in optimizer_specs:
            optimizer_name, optimizer_options = parse_spec(spec, "--optimizer")
            optimizer = pm.build(
                "optimizers",
                optimizer_name,
                optimizer_options,
                key="optimizer",
                source=f"--optimizer {spec}",
            )
            descents[spec] = descend(surface, optimizer, start, steps)

    if plot_path is not None:
        _write_plot(surface, descents, plot_path, f"{surface_spec} from {_point(start)}")
        stderr.print(f"wrote the paths to {escape(plot_path)}", highlight=False)
    if as_json:
        json.dump(_json(surface_spec, surface, start, steps, descents), sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
        return
    console = stdout()
    minimum = surface.minimum
    where = "" if minimum is None else f"; minimum at {_point(minimum)}"
    console.print(
        f"[bold]{escape(surface_spec)}[/] from {_point(start)}, {steps} steps{where}",
        soft_wrap=True,
        highlight=False,
    )
    console.print(_table(surface, descents, steps))


def _point(point: Any) -> str:
    return f"({point[0]:g}, {point[1]:g})"


def _number(value: float, decimals: int = 6) -> str:
    """Six decimals, as source exercise 002 prints its losses (four for coordinates); tiny and
    huge values (a path on its way to overflow) in scientific form."""
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        return f"{value:.{decimals}f}"
    return f"{value:.3e}"


def _table(surface: Any, descents: dict[str, Any], steps: int) -> Table:
    table = Table(header_style="bold")
    for column in ("optimizer", "x", "y", "value"):
        table.add_column(column, justify="left" if column == "optimizer" else "right")
    if surface.minimum is not None:
        table.add_column("distance to minimum", justify="right")
    diverged = any(descent.diverged for descent in descents.values())
    if diverged:
        table.add_column("")
    for label, descent in descents.items():
        x, y, value = descent.final
        row = [escape(label), _number(x, 4), _number(y, 4), _number(value)]
        if surface.minimum is not None:
            distance = math.hypot(
                x - surface.minimum[0], y - surface.minimum[1]
            )  # inf, not an error
            row.append(_number(distance))
        if diverged:
            row.append(f"diverged at step {descent.steps_run}" if descent.diverged else "")
        table.add_row(*row)
    return table


def _json(spec: str, surface: Any, start: Any, steps: int, descents: dict[str, Any]) -> dict:
    from sweepnp.trainer import json_number

    return {
        "surface": spec,
        "start": [float(start[0]), float(start[1])],
        "steps": steps,
        "minimum": None if surface.minimum is None else [float(c) for c in surface.minimum],
        "optimizers": [
            {
                "optimizer": label,
                "x": json_number(descent.final[0]),
                "y": json_number(descent.final[1]),
                "value": json_number(descent.final[2]),
                "steps_run": descent.steps_run,
                "diverged": descent.diverged,
                "path": [[json_number(c) for c in point] for point in descent.points.tolist()],
                "values": [json_number(v) for v in descent.values.tolist()],
            }
            for label, descent in descents.items()
        ],
    }


def _write_plot(surface: Any, descents: dict[str, Any], path: str, title: str) -> None:
    """Draw with matplotlib's Agg canvas (imported here: only -o needs it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from sweepnp.surfaces import plot

    figure = Figure(figsize=(7, 5.5), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    plot(figure.add_subplot(), surface, descents, title=title)
    try:
        figure.savefig(path, format="png")
    except OSError as exc:
        raise UserError(f"-o: cannot write {path}: {exc.strerror or exc}") from None
