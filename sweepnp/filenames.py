"""File names made from study names, for output paths sweepnp derives from a name.

A study name is any string (``../x``, ``a/b``, 300 characters); the folder sweepnp derives from
it must stay inside the folder it belongs in, and be a name the file system accepts.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

__all__ = ["MAX_LENGTH", "path_in", "safe_filename"]

#: At most this many characters (file systems allow 255 bytes; the rest is left for a path).
MAX_LENGTH = 100
_HASH_LENGTH = 8
RULE = (
    "characters other than A-Z, a-z, 0-9, '.', '_' and '-' become '_' and leading dots are dropped"
)


def safe_filename(name: str) -> str:
    """A file name for ``name``: ``name`` itself when it is a safe one already; otherwise what is
    left of it under :data:`RULE`, cut to :data:`MAX_LENGTH` characters with ``-`` and a short
    hash of the whole name, so that two names never share a file name.

    >>> safe_filename("dropout_rates-quick")
    'dropout_rates-quick'
    >>> safe_filename("../x")
    '_x-d6b96a97'

    :raises ValueError: when nothing is left (``""``, ``"."``, ``".."``), naming the rule.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")
    if not safe:
        raise ValueError(f"cannot make a file name of {name!r}: nothing is left once {RULE}")
    if safe == name and len(safe) <= MAX_LENGTH:
        return safe
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LENGTH]
    return f"{safe[: MAX_LENGTH - _HASH_LENGTH - 1]}-{digest}"


def path_in(folder: str | Path, name: str) -> Path:
    """``folder / safe_filename(name)``, checked to lie inside ``folder``.

    :raises ValueError: when ``name`` cannot be made a file name.
    """
    path = Path(folder) / safe_filename(name)
    inside, parent = os.path.abspath(path), os.path.abspath(folder)
    if os.path.dirname(inside) != parent:  # cannot happen with a safe name; never write outside
        raise ValueError(f"{name!r} leads out of {str(folder)!r}")
    return path
