"""The command line: ``sweepnp train | lr-find | surface | gradcheck | study … | plugins list``.

Built on click; progress and tables by rich. One module per group of commands, all thin over
the library: :mod:`~sweepnp.cli.app` (the group, errors and warnings as one line),
:mod:`~sweepnp.cli.train` (``train``, ``lr-find``), :mod:`~sweepnp.cli.surface`
(``surface``), :mod:`~sweepnp.cli.gradcheck` (``gradcheck``), :mod:`~sweepnp.cli.study`
(``study …``),
:mod:`~sweepnp.cli.plugins` (``plugins list``), and :mod:`~sweepnp.cli.render`, which shapes
everything they print.
"""

from sweepnp.cli import gradcheck, plugins, study, surface, train  # noqa: F401 (each registers its commands)
from sweepnp.cli.app import main

__all__ = ["main"]
