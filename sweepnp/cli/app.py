"""The ``sweepnp`` command group: one line and exit status 2 for every mistake.

A user mistake (any :class:`~sweepnp.SweepnpError`, and click's own usage errors) prints one line,
``Error: <file>: <key>: <what is wrong; valid choices>``, and exits with status 2; a plugin that
fails (:class:`~sweepnp.PluginFailure`) prints one line naming it and exits with status 1. Each
:class:`~sweepnp.SweepnpWarning` prints once, as one ``Warning:`` line.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import click

from sweepnp.errors import ArgumentError, StudyNameTaken, SweepnpError, SweepnpWarning

__all__ = [
    "SweepnpGroup",
    "UserError",
    "check_writable_file",
    "json_option",
    "main",
    "set_option",
]


class UserError(click.ClickException):
    """A mistake in the user's input: one message, exit status 2, no traceback.

    :param exit_code: another status, for a failure that is not a mistake (a plugin that raised).
    """

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(_one_line(message))
        if exit_code is not None:
            self.exit_code = exit_code


def set_option(example: str) -> Any:
    """The ``--set KEY=VALUE`` option of the commands reading a run file (repeatable), its
    help with ``example``, e.g. ``regularizers.l2.lam=0.01``."""
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help=f"Override a value by dotted key, e.g. --set {example} (repeatable).",
    )


#: ``--json``: the commands that print one result print it as one JSON object instead.
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object to stdout."
)


def check_writable_file(path: str, option: str) -> None:
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


#: A library function's argument → the command line's option or argument that gives it.
OPTION_OF_ARGUMENT = {
    "storage": "--storage",
    "stack": "--stack",
    "cluster": "--cluster",
    "jobs": "--jobs",
    "trial": "--trial",
    "name": "NAME",
}


def as_command_line(error: SweepnpError) -> str:
    """A library error as the command line says it: an argument named by the option that gives
    it (``storage`` → ``--storage``), and a taken study name with the options that get round it.
    The library's messages name no option: a Python user has none."""
    if isinstance(error, ArgumentError):
        key = OPTION_OF_ARGUMENT.get(error.argument, error.argument)
        return str(type(error)(error.reason, argument=key, source=error.source))
    if isinstance(error, StudyNameTaken):
        return f"{error} (--name NEW, or sweepnp study delete {error.study})"
    return str(error)


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
            raise UserError(as_command_line(exc), exit_code=exc.exit_code) from None
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


#: ``-h`` as well as ``--help``, on every command (click hands a group's context settings down).
HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}


@click.group(cls=SweepnpGroup, context_settings=HELP_OPTIONS)
@click.version_option(package_name="sweepnp")
def main() -> None:
    """Train NumPy networks and sweep their hyperparameters with Optuna."""
