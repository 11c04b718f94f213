"""Exceptions that sweepnp turns into clear user-facing messages (exit status 2, no traceback)."""

from __future__ import annotations


class SweepnpError(Exception):
    """Base class of every error sweepnp reports to a user as a message rather than a traceback."""


class ConfigError(SweepnpError):
    """A run or study file (or a dict of the same schema) is invalid.

    The message names the file, the dotted key and, where there are any, the valid choices.
    """

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        self.source = source
        self.key = key
        self.reason = message
        where = ": ".join(part for part in (source, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class DataError(ConfigError):
    """Unusable data: unreadable, empty, non-finite, or a target that does not fit the task."""


class PluginError(SweepnpError):
    """A plugin is broken: two plugins provide one name, or a plugin implements an unknown hook."""


class OptionError(ValueError):
    """Raised by a plugin constructor for one invalid option.

    sweepnp catches it while building a run and reports it under the option's full dotted key,
    e.g. ``optimizer.lr``. Plugin authors raise it through the helpers in :mod:`sweepnp.options`.
    """

    def __init__(self, option: str, message: str):
        self.option = option
        self.reason = message
        super().__init__(f"{option}: {message}")


class SweepnpWarning(UserWarning):
    """Something a user should know that does not stop the command; shown as one line."""
