"""Exceptions that sweepnp turns into clear user-facing messages (exit status 2, no traceback)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class SweepnpError(Exception):
    """Base class of every error sweepnp reports to a user as a message rather than a traceback.

    :cvar exit_code: the command line's exit status for it: 2, a mistake in what was asked.
    """

    exit_code = 2


class ConfigError(SweepnpError):
    """A run or study file (or a dict of the same schema) is invalid.

    The message names the file, the dotted key and, where there are any, the valid choices.
    """

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        self.source = source
        self.key = key
        self.reason = message
        shown = repr(key) if key and not key.isprintable() else key  # a key holding a newline
        where = ": ".join(part for part in (source, shown) if part)
        super().__init__(_printable(f"{where}: {message}" if where else message))


class ArgumentError(ConfigError):
    """A mistake in an argument of a sweepnp function rather than in a file: the storage URL,
    a study's name, a trial number, how many runs to stack. Its key is the argument's name
    (``storage``, ``name``, ``trial``, ``stack``); the command line names its own option for the
    argument instead (``--storage``)."""

    def __init__(self, message: str, *, argument: str, source: str | None = None):
        super().__init__(message, source=source, key=argument)
        self.argument = argument


class StudyNameTaken(ConfigError):
    """A study of this name exists and this file cannot continue it: giving the new one another
    name is a way out, or deleting the old one (``study``)."""

    def __init__(self, message: str, *, study: str, source: str | None, key: str):
        super().__init__(message, source=source, key=key)
        self.study = study


def _printable(text: str) -> str:
    """``text`` on one line: control characters (a newline in a key a file gave) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class DataError(ConfigError):
    """Unusable data: unreadable, empty, non-finite, or a target that does not fit the task."""


class PluginError(SweepnpError):
    """A plugin is broken: two plugins provide one name, or a plugin implements an unknown hook."""


class PluginFailure(SweepnpError):
    """A plugin raised while a run was built or trained (not a mistake in the run file).

    The message names the plugin and the function of it that sweepnp called (a hook, or a method
    such as ``on_epoch_end``); the plugin's exception is chained as ``__cause__``. The command line
    exits with status 1 for it, and ``sweepnp train --traceback`` prints the plugin's traceback.
    """

    exit_code = 1

    def __init__(self, plugin: str, function: str, error: BaseException, *, source: str | None):
        self.plugin = plugin
        self.function = function
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(
            f"{where}plugin {plugin!r} failed in {function}: {type(error).__name__}: {error}"
        )


class SweepnpWarning(UserWarning):
    """Something a user should know that does not stop the command: a run that is allowed but
    probably not meant (a batch larger than the training split), a journal repaired. The command
    line prints each as one ``Warning:`` line."""


class OptionError(ValueError):
    """Raised by a plugin constructor for one invalid option.

    sweepnp catches it while building a run and reports it under the option's full dotted key,
    e.g. ``optimizer.lr``. Plugin authors raise it through the helpers in :mod:`sweepnp.options`.
    """

    def __init__(self, option: str, message: str):
        self.option = option
        self.reason = message
        super().__init__(f"{option}: {message}")


@contextlib.contextmanager
def options_under(key: str, source: str | None = None) -> Iterator[None]:
    """Report an :class:`OptionError` raised inside as the :class:`ConfigError` of the run file's
    key ``KEY.OPTION`` (``optimizer.lr``), in ``source``: the one place where a plugin's refused
    option becomes a user's mistake."""
    try:
        yield
    except OptionError as exc:
        raise ConfigError(exc.reason, source=source, key=f"{key}.{exc.option}") from None
