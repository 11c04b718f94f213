"""Python's cycle collector: paused while a study is read, and kept off what lives all run.

Reading a study builds many small objects at once — a journal of 2000 trials is 18 000
operations parsed into dicts, 2000 ``FrozenTrial`` objects, their records and table rows — and
CPython's cycle collector runs every 700 new containers, each full pass walking every object
alive (NumPy's, pandas', Optuna's, the study's). None of what a read makes is garbage in a cycle,
so the collector is paused for it (:func:`collection_paused`) and resumed after; what it would
have found is found at its next pass. Measured: ``sweepnp study show`` of a 2000-trial study
spent ≈ 0.1 s of its 1.1 s in the collector (docs/performance.md, "Thousands of trials").

A study run then keeps what it has made before its first trial — the imported modules, the
study as read, the data — for as long as it runs; :func:`settled` moves it out of the
collector's reach for the run (``gc.freeze``), so that its full passes walk only what the run
makes, not those hundreds of thousands of objects, and forked workers do not write to their
pages (Python's documentation recommends it before a fork).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["collection_paused", "settled"]


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """Pause the cycle collector for the block (or the decorated function); nested pauses
    leave it paused until the outermost ends, and a collector paused before stays paused."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextlib.contextmanager
def settled() -> Iterator[None]:
    """Leave every object alive now out of the collector's passes for the block
    (``gc.freeze``, then ``gc.unfreeze``): enter it once what lives all run has been made."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
