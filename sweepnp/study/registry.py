"""The live workers of a study, on every machine, so that each takes a fair share of its trials.

``--jobs J`` tells a worker how many processes of its own command share the study; workers
started on other machines (the same command against one PostgreSQL database) know nothing of
each other. So every worker registers itself in the study — a study system attribute
``sweepnp_worker_alive:IDENTITY`` holding the time of its last beat — beats again at most once a
heartbeat interval while it works, and sets it to 0 when it ends. The live workers are those
that beat within the heartbeat grace period; a worker's fair share of the trials still to run is
divided by their number (:func:`sweepnp.study.budget.fair_share`). A worker knows only of
those registered when it asks, and the trials it took stay with it: so on a storage shared by
machines, a stacked worker first holds one trial for its *join window* — as long as it took
itself to start, since workers started together take about as long — while the others
register (:meth:`WorkerRegistry.joining`). Workers that join later shrink the shares of the
asks that follow.

Writes: one at the start, one a heartbeat interval (30 s by default), one at the end — on the
journal one append each.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import optuna

from sweepnp.study.optuna_adapter import storage_of

__all__ = ["ATTR_PREFIX", "WorkerRegistry", "seconds_since_start"]

#: The study system attributes that register workers: this prefix, then the worker's identity.
ATTR_PREFIX = "sweepnp_worker_alive:"
#: Bounds of a join window, in seconds.
JOIN_WINDOW_BOUNDS = (0.5, 10.0)

_IMPORTED_AT = time.monotonic()


def seconds_since_start() -> float:
    """Seconds since this process started (on Linux from ``/proc``; elsewhere since this module
    was imported, which misses the interpreter's own start)."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - int(stat[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED_AT


class WorkerRegistry:
    """This worker's entry in the study's register of live workers.

    :param interval: seconds between beats (the heartbeat interval).
    :param grace: seconds after which a worker that has not beaten counts as gone.
    :param join_window: seconds after registering during which this worker holds one trial
        at a time (:meth:`joining`); 0: none.
    """

    def __init__(
        self,
        study: optuna.Study,
        identity: str,
        *,
        interval: float,
        grace: float,
        join_window: float = 0.0,
    ) -> None:
        self.storage = storage_of(study)
        self.study_id = self.storage.get_study_id_from_name(study.study_name)
        self.key = ATTR_PREFIX + identity
        self.interval, self.grace = interval, grace
        self.join_window = join_window
        self.registered_at: float | None = None
        self.beaten_at = -float("inf")

    @staticmethod
    def start_up_window() -> float:
        """A join window as long as this process took to start (within
        :data:`JOIN_WINDOW_BOUNDS`)."""
        low, high = JOIN_WINDOW_BOUNDS
        return min(high, max(low, seconds_since_start()))

    def joining(self) -> bool:
        """Whether this worker is within its join window: workers started with it may still be
        starting, so it holds one trial at a time, not a share computed without them."""
        return (
            self.registered_at is not None
            and time.monotonic() - self.registered_at < self.join_window
        )

    def beat(self) -> None:
        """Register, or say this worker is still alive: a write once a heartbeat interval."""
        now = time.monotonic()
        if now - self.beaten_at < self.interval:
            return
        self.storage.set_study_system_attr(self.study_id, self.key, time.time())
        self.beaten_at = now
        if self.registered_at is None:
            self.registered_at = now

    def leave(self) -> None:
        """This worker ends: it no longer counts among the live ones."""
        if self.registered_at is not None:
            self.storage.set_study_system_attr(self.study_id, self.key, 0.0)

    def live(self) -> int:
        """How many workers beat within the grace period (this one always counts)."""
        now = time.time()
        attrs = self.storage.get_study_system_attrs(self.study_id)
        others = sum(
            1
            for key, beaten in attrs.items()
            if key.startswith(ATTR_PREFIX)
            and key != self.key
            and isinstance(beaten, int | float)
            and beaten > 0
            and now - beaten <= self.grace
        )
        return others + 1
