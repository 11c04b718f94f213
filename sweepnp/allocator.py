"""Memory a training step frees, kept for the next step (glibc's ``malloc``).

glibc serves an allocation of ``M_MMAP_THRESHOLD`` bytes or more (128 KiB at first) with a
mapping of its own, unmapped when it is freed, and gives the free top of its heap back to the
system beyond ``M_TRIM_THRESHOLD``; it raises both by itself — up to 32 and 64 MiB — only when it
unmaps a block larger than the threshold. A step of an MNIST-size network makes and frees arrays
of 0.1 to a few MB (a batch of rows, its activations, a weight's gradient, the optimizer's
temporaries): under the first thresholds every step maps them afresh and faults their pages in
again, which took 40 % of the epoch of a 784→256→10 network on the development machine.

Preparing data through float64 copies of the whole data used to raise the thresholds on the
way, by chance; preparing it a block of rows at a time (:mod:`sweepnp.datasets`) does not. So
:func:`keep_freed_memory` sets them to glibc's own ceiling, once per process, before a run
trains. At most 64 MiB of freed memory stays with the process; blocks larger than 32 MiB are
still mapped and unmapped on their own.
"""

from __future__ import annotations

import ctypes
import functools
import sys

__all__ = ["keep_freed_memory"]

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc sets with it


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's thresholds to their ceiling (:data:`MMAP_THRESHOLD`, :data:`TRIM_THRESHOLD`);
    ``True`` if they are set, ``False`` where the C library is not glibc (nothing is changed)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process runs on
        libc.gnu_get_libc_version  # only glibc has it (musl's mallopt does nothing)  # noqa: B018
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
