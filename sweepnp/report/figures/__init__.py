"""The report's figures, one module per kind; each function returns what it drew as
:class:`~sweepnp.report.figures.canvas.Drawn` (a matplotlib figure and its caption) or, when the
study cannot give it, :class:`~sweepnp.report.figures.canvas.Skipped` with the reason. The page
writes and embeds them (:mod:`sweepnp.report.page`).

==================  ===========================================================================
``curves``          learning curves per configuration, and their diagnosis (``res.curves``)
``comparison``      every choice of one parameter at one shared setting of the others
``parameters``      the study's first metric against each searched parameter
``optuna_plots``    Optuna's optimization history and parameter importances
``parallel``        parallel coordinates, coloured by rank, the worst trials visible
``models``          weight histograms and decision boundaries of retrained networks
``canvas``          what they are drawn on: figures outside pyplot, grids of small multiples
==================  ===========================================================================

matplotlib is imported only when a figure is drawn.
"""
