"""The verdict in words: the sentence the report and ``sweepnp study show`` print.

:func:`sweepnp.verdict.verdict` says what a study can claim as numbers, parameter values and
flags; this module says it, e.g. ``best dropout rate 0.1: validation accuracy 0.976 ± 0.004
(n = 5); not distinguishable from it at 95% (paired t-test, Holm-corrected): dropout rate 0.3``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sweepnp.report.words import config_label, format_estimate, metric_words

if TYPE_CHECKING:
    from sweepnp.results import StudyResults
    from sweepnp.verdict import Verdict

__all__ = ["NAMED", "config_name", "spread_words", "verdict", "verdict_text"]

#: At most this many configurations are named in a sentence; the rest are counted.
NAMED = 5


def config_name(params: Mapping[str, Any]) -> str:
    """A configuration as the verdict names it: its label (:func:`config_label`), or ``base
    configuration`` when nothing was searched."""
    return config_label(params) or "base configuration"


def spread_words(seeds: int) -> str:
    """Where a run-to-run spread was measured (:func:`sweepnp.study.spread.measure_spread`)."""
    return f"over {seeds} seeds of the best configuration"


def _wrapped(label: str) -> str:
    """A label as a sentence names it: a multi-parameter one in parentheses."""
    return f"({label})" if ", " in label else label


def _names(labels: Sequence[str], limit: int = NAMED, total: int | None = None) -> str:
    """The first ``limit`` labels, and how many more of ``total`` (default: of ``labels``):
    of hundreds of tied configurations only those named are written."""
    shown = [_wrapped(label) for label in labels[:limit]]
    more = (len(labels) if total is None else total) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def _estimate(claim: Verdict) -> str:
    """The best configuration's ``mean ± half-width`` (95%), or the mean alone for one repeat."""
    if claim.n < 2:
        return format_estimate(claim.mean)
    return format_estimate(claim.mean, claim.ci_low, claim.ci_high)


def verdict_text(claim: Verdict) -> str:
    """The sentence of a :class:`~sweepnp.verdict.Verdict`: the best configuration and its
    estimate, the configurations tied with it or not distinguishable from it, and a doubtful
    learning-curve diagnosis."""
    if claim.empty:
        return "no completed trial yet"
    metric = metric_words(claim.metric)
    best = config_name(claim.best_params)
    estimate = _estimate(claim)
    tied = claim.tied
    if tied:
        named = [best, *(config_name(c.params) for c in tied[: NAMED - 1])]
        names = _names(named, total=len(tied) + 1)
        head = f"the top {len(tied) + 1} are tied at {metric} {estimate} (n = {claim.n}): {names}"
        them = "them"
    else:
        head = f"best {_configuration(best)}: {metric} {estimate} (n = {claim.n})"
        them = "it"
    parts = [head]
    others = [c for c in claim.comparisons if not c.tied]
    close = _names(
        [config_name(c.params) for c in claim.indistinguishable[:NAMED]],
        total=len(claim.indistinguishable),
    )
    if claim.n < 2 and claim.spread is None:
        parts.append(
            "one seed per configuration cannot separate configurations that differ by less "
            "than the run-to-run spread, which this study did not measure (run it with "
            "repeats ≥ 2, or let sweepnp study report measure it)"
        )
    elif claim.n < 2:
        within = 1.96 * math.sqrt(2) * claim.spread
        source = f" {spread_words(claim.spread_seeds)}" if claim.spread_seeds else ""
        parts.append(
            "one seed per configuration cannot separate configurations that differ by less "
            f"than the run-to-run spread (sd {claim.spread:.2g}{source}: a difference below "
            f"1.96·√2·sd = {within:.2g})" + (f"; within it of the best: {close}" if close else "")
        )
    elif others:
        how = f"{claim.test}, Holm-corrected"
        if close:
            parts.append(f"not distinguishable from {them} at 95% ({how}): {close}")
            worse = len(others) - len(claim.indistinguishable)
            if worse:
                parts.append(f"the other {worse} are worse" if worse > 1 else "1 other is worse")
        else:
            parts.append(f"every other configuration is worse at 95% ({how})")
    if claim.diagnosis is not None:
        label, message = claim.diagnosis
        parts.append(f"its learning curve is diagnosed {label} ({message})")
    return "; ".join(parts)


def _configuration(label: str) -> str:
    """``best configuration (a, b)`` for several parameters, ``best a`` for one."""
    return f"configuration ({label})" if ", " in label else label


def verdict(res: StudyResults) -> str:
    """The verdict in words, the one the report, ``sweepnp study show`` and the notebook view
    (:func:`sweepnp.report.view`) print: :func:`verdict_text` of :meth:`StudyResults.verdict
    <sweepnp.results.StudyResults.verdict>`, e.g. ``best dropout rate 0.1: validation accuracy
    0.976 ± 0.004 (n = 5); not distinguishable from it at 95% (paired t-test, Holm-corrected):
    dropout rate 0.3`` — the mean over repeats ± the half-width of its 95% confidence interval
    (t), the number of repeats, and the configurations the data cannot tell from the best.

    For a study of one repeat it uses the run-to-run spread the report measured and stored
    (:func:`sweepnp.study.spread.stored_spread`) while the best configuration is the one it was
    measured on."""
    from sweepnp.study.spread import stored_spread

    spread = None
    if res.spec.study.repeats == 1 and not res.spec.multi_objective:
        spread = stored_spread(res)
    if spread is None:
        return verdict_text(res.verdict())
    return verdict_text(res.verdict(spread=spread.sd, spread_seeds=spread.seeds))
