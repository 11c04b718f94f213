"""A study's results in a notebook, as the report says them: the verdict, and the best
configurations of :meth:`~sweepnp.results.StudyResults.summary` with each study metric as the
report writes it (mean ± 95% half-width).

```python
from sweepnp.report import view

view(res)   # in a notebook cell; results_html(res) is the same HTML as a string
```

The results tables show themselves in numbers (``StudyResults._repr_html_``): they do not import
the report, which builds on them.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import pandas as pd

from sweepnp.report.verdict_words import verdict
from sweepnp.report.words import config_label, estimate, metric_words

if TYPE_CHECKING:
    from sweepnp.results import StudyResults

__all__ = ["SHOWN", "StudyView", "results_html", "view"]

#: The best configurations shown; ``summary()`` holds the rest.
SHOWN = 10


def results_html(res: StudyResults) -> str:
    """The study, the report's verdict, and its best :data:`SHOWN` configurations in words."""
    summary = res.summary()
    head = (
        f"<p><b>StudyResults</b> {html.escape(repr(res.name))}: "
        f"{html.escape(res.counts())}; {html.escape(res.objective())}</p>"
        f"<p><b>{html.escape(verdict(res))}</b></p>"
    )
    if summary.empty:
        return f"<div>{head}</div>"
    rows = [row for _, row in summary.head(SHOWN).iterrows()]
    table = pd.DataFrame(
        {
            "#": range(1, len(rows) + 1),
            "configuration": [config_label({p: row[p] for p in res.param_columns}) for row in rows],
            "n": [int(row["n"]) for row in rows],
            **{metric_words(m): [estimate(row, m) for row in rows] for m in res.metrics},
        }
    )
    more = len(summary) - SHOWN
    tail = (
        f"<p>… and {more} more configuration{'s' * (more != 1)}: "
        "<code>.summary()</code> holds them all.</p>"
        if more > 0
        else ""
    )
    return f"<div>{head}{table.to_html(index=False, escape=True)}{tail}</div>"


class StudyView:
    """What a notebook cell shows for ``view(res)``: :func:`results_html`."""

    def __init__(self, res: StudyResults) -> None:
        self.results = res

    def __repr__(self) -> str:
        return repr(self.results)

    def _repr_html_(self) -> str:
        return results_html(self.results)


def view(res: StudyResults) -> StudyView:
    """The results as the report says them, for a notebook cell (``view(res)``)."""
    return StudyView(res)
