"""The report's figures, one module per kind; each function returns what it drew as
:class:`~sweepnp.report.figures.canvas.Drawn` (a matplotlib figure and its caption) or, when the
study cannot give it, :class:`~sweepnp.report.figures.canvas.Skipped` with the reason. The page
writes and embeds them (:mod:`sweepnp.report.page`).

==================  ===========================================================================
``curves``          learning curves per configuration, and their diagnosis (``res.curves``)
``parameters``      the study's first metric against each searched parameter
``optuna_plots``    Optuna's optimization history, importances and parallel coordinates
``models``          weight histograms and decision boundaries of retrained networks
``canvas``          what they are drawn on: figures outside pyplot, grids of small multiples
==================  ===========================================================================

matplotlib is imported only when a figure is drawn.
"""
