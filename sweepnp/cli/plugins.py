"""``sweepnp plugins list``: the installed plugins, what each provides and its hooks."""

from __future__ import annotations

import json
import sys

import click
from rich.markup import escape
from rich.table import Table

from sweepnp.cli.app import SweepnpGroup, main
from sweepnp.cli.render import stderr, stdout

__all__ = ["plugins_group"]


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
    console = stdout()
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
