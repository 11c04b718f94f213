"""sweepnp-lion: the Lion optimizer and a CSV-logging callback, as a third-party sweepnp plugin.

The distribution's entry point ``lion = "sweepnp_lion"`` in the group ``sweepnp`` makes sweepnp
load this module at start-up. Its two hook implementations register what it provides: the
optimizer ``lion`` (``[optimizer] name = "lion"``) and the callback ``log_to_csv``
(``[callbacks] log_to_csv = { path = "..." }``).
"""

from __future__ import annotations

from sweepnp import Callback, Optimizer, hookimpl

from .csv_log import LogToCSV
from .lion import Lion

__all__ = ["Lion", "LogToCSV"]


@hookimpl
def sweepnp_register_optimizers() -> dict[str, type[Optimizer]]:
    return {"lion": Lion}


@hookimpl
def sweepnp_register_callbacks() -> dict[str, type[Callback]]:
    return {"log_to_csv": LogToCSV}
