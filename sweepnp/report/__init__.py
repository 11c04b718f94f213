"""A study as a self-contained HTML report, with every figure also written as a PNG file.

```python
import sweepnp.results
from sweepnp.report import write_report

report = write_report(sweepnp.results.load("quickstart"), "reports/quickstart")
report.verdict   # 'best dropout rate 0.1: validation accuracy 0.976 ± 0.004 (n = 5)'
report.html      # reports/quickstart/report.html, the figures embedded as data: URIs
report.figures   # name → PNG file
report.skipped   # figure → why it was not drawn
```

On the command line: ``sweepnp study report NAME [-o DIR] [--no-retrain]``.

Built on :class:`~sweepnp.results.StudyResults` alone (its tables, its spec, and, for Optuna's own
figures, its study), and on :func:`sweepnp.study.rerun_repeat` for the networks a study does not
store. One module per job:

====================  ===========================================================================
``words``             how parameters, values, metrics and estimates are said
``verdict_words``     the verdict (:mod:`sweepnp.verdict`'s numbers) as a sentence
``notebook``          a study's results in a notebook: the verdict and the best configurations
``configurations``    trials grouped into configurations, best first
``figures/``          one module per kind of figure (see :mod:`sweepnp.report.figures`)
``page``              the tables, the page (``templates/report.html.j2``), :func:`write_report`
====================  ===========================================================================

matplotlib is imported only when figures are drawn: :func:`verdict` and the word helpers do not
need it.
"""

from __future__ import annotations

from sweepnp.report.notebook import results_html, view
from sweepnp.report.page import Report, write_report
from sweepnp.report.verdict_words import verdict, verdict_text
from sweepnp.report.words import (
    config_label,
    format_estimate,
    metric_words,
    param_words,
    value_words,
)

__all__ = [
    "Report",
    "config_label",
    "format_estimate",
    "metric_words",
    "param_words",
    "results_html",
    "value_words",
    "verdict",
    "verdict_text",
    "view",
    "write_report",
]
