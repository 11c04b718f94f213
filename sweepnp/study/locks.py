"""A file lock the operating system releases when its holder dies.

Optuna's :class:`~optuna.storages.journal.JournalFileOpenLock` (sweepnp's journal lock before)
is a file that exists while the lock is held: a holder killed with SIGKILL leaves it behind, and
every other worker waits out its 30 s grace period before breaking it. :class:`ProcessLock`
instead locks a file with ``flock`` (``LockFileEx`` through :mod:`msvcrt` on Windows): the
kernel drops the lock the moment its holder's process ends, however it ends, and a waiter
blocked in ``flock`` is woken at once.

The lock file stays beside the journal, empty: nothing is ever written to it (so a full disk
cannot make taking the lock fail once it exists, and creating it needs no data block), and
leaving it is harmless — a lock file nobody holds blocks nothing. Do not delete it while workers
run (a worker opening a new file of the same name would not be excluded by one holding the
old). Over NFS it holds across machines where the mount supports locks (NFSv4; NFSv3 with
``lockd``, not ``nolock``); a dead machine's lock is released when the server's lease expires.
"""

from __future__ import annotations

import os
import sys
import threading
import time

__all__ = ["ProcessLock"]

if sys.platform == "win32":  # pragma: no cover - tested on POSIX only
    import msvcrt

    def _lock(fd: int) -> None:
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # one byte at offset 0
                return
            except OSError:  # held by another process
                time.sleep(0.001)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks; the kernel wakes it when the holder lets go

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class ProcessLock:
    """An exclusive lock on ``path`` between processes (and threads), released when its holder
    dies. Has Optuna's lock interface (``acquire``, ``release``) and is a context manager.

    :raises OSError: from ``acquire``, when the lock file cannot be opened or created (a missing
        folder, no permission) or the file system has no locks (``ENOLCK``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        #: Threads of this process take turns first; the file lock is between processes.
        self._threads = threading.Lock()
        self._fd: int | None = None

    def acquire(self) -> bool:
        self._threads.acquire()
        try:
            # Read-only is enough for flock (and lets another user's lock file be used);
            # no O_TRUNC, no content: opening an existing lock file writes nothing.
            fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o666)
            try:
                _lock(fd)
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            self._threads.release()
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            raise RuntimeError(f"the lock {self.path} is not held")
        try:
            _unlock(fd)
        finally:
            os.close(fd)  # closing drops the lock too, whatever unlocking did
            self._threads.release()

    def __enter__(self) -> ProcessLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
