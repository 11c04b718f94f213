"""Which process is which: identities that outlive a reused process id, and whether one lives.

A worker records itself as ``host:pid:start-time`` (the start time from ``/proc``, Linux) with
its trials, so that another process of the same host can tell a dead worker's leftovers from a
live one's: a process that no longer exists, or is a zombie (dead,
its exit status not yet collected), or whose id was reused by another process, is dead.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["on_this_host", "process_alive", "worker_identity"]


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell reused pids apart."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first), or ``None``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def worker_identity() -> str:
    """``host:pid:start-time`` of this process."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or ''}"


def on_this_host(identity: str) -> bool:
    return identity.partition(":")[0] == socket.gethostname()


def process_alive(identity: str) -> bool:
    """Whether the worker process is alive; a process of another machine is taken to be."""
    if not on_this_host(identity):
        return True  # another machine's worker: nothing to check from here
    pid_text, _, started = identity.partition(":")[2].partition(":")
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True
    fields = _proc_stat(pid)
    if fields is None:
        return True  # no /proc (not Linux): the pid exists, which is all there is to know
    if fields[0] in ("Z", "X"):
        return False  # a zombie: dead, waiting for its parent to collect its exit status
    return not started or fields[19] == started
