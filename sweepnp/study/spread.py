"""The run-to-run spread of a study of one repeat, measured by training its best configuration
again under more seeds.

With one repeat per configuration nothing in the study measures how much a configuration's
metric moves from one seed to the next; the verdict (:func:`sweepnp.verdict.verdict`) can use
that spread when given it. Measuring it trains networks, so it lives here, with the trials, and
the caller passes the numbers on: ``res.verdict(spread=s.sd, spread_seeds=s.seeds)``.

The report measures it and stores it in the study (:func:`store_spread`), for its best
configuration; :func:`stored_spread` gives it back while that configuration is still the best, so
that ``sweepnp study show``, the notebook view and the report say one verdict
(:func:`sweepnp.report.verdict`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sweepnp.vocabulary import EPOCHS, TRAIN_SECONDS

if TYPE_CHECKING:
    from sweepnp.results import StudyResults

__all__ = ["SPREAD_ATTR", "Spread", "measure_spread", "store_spread", "stored_spread"]

#: The study's user attribute holding the spread the report measured (:func:`store_spread`).
SPREAD_ATTR = "sweepnp_spread"


@dataclass(frozen=True)
class Spread:
    """The best configuration's first metric under several seeds.

    :ivar sd: the standard deviation of ``values`` (ddof = 1).
    :ivar seeds: how many seeds (``len(values)``).
    :ivar values: the metric's final value per seed, the stored repeat 0 first.
    """

    sd: float
    seeds: int
    values: tuple[float, ...]


def measure_spread(res: StudyResults, seeds: int = 5) -> Spread | None:
    """The run-to-run spread of a study of one repeat: its best configuration trained with
    ``seeds`` seeds — repeat 0 as stored, repeats 1, 2, … trained now with the seeds the study
    would give them — and the standard deviation of the first metric's final values. None when
    there is no completed trial.

    This trains ``seeds - 1`` runs (the report does, unless ``--no-retrain``)."""
    import numpy as np

    from sweepnp.plugins import get_plugin_manager
    from sweepnp.study.space import decode_params
    from sweepnp.study.spec import DataCache
    from sweepnp.study.trial import repeat_trainer
    from sweepnp.verdict import best_trials

    numbers = best_trials(res)
    if not numbers:
        return None
    metric = res.metrics[0]
    table = res.repeats_table()
    number = numbers[0]
    trial = next(t for t in res.study.get_trials(deepcopy=False) if t.number == number)
    params = decode_params(trial.params)
    stored = table[(table["trial"] == number) & (table["repeat"] == 0)][metric]
    values = [float(stored.iloc[0])]
    pm = get_plugin_manager()
    cache = res.spec.data_cache or DataCache()
    with pm.naming_failures(source=res.spec.source):
        for repeat in range(1, seeds):
            result = repeat_trainer(res.spec, params, repeat, pm=pm, cache=cache).fit()
            extra = {TRAIN_SECONDS: result.seconds, EPOCHS: result.epochs_run}
            values.append(float({**result.metrics, **extra}[metric]))
    return Spread(float(np.std(values, ddof=1)), seeds, tuple(values))


def store_spread(res: StudyResults, spread: Spread) -> None:
    """Keep ``spread`` in the study, for its present best configuration (the trial numbers of
    :func:`~sweepnp.verdict.best_trials`): :func:`stored_spread` gives it back while they are
    still the best."""
    from sweepnp.verdict import best_trials

    res.study.set_user_attr(
        SPREAD_ATTR,
        {
            "trials": best_trials(res),
            "sd": spread.sd,
            "seeds": spread.seeds,
            "values": list(spread.values),
        },
    )


def stored_spread(res: StudyResults) -> Spread | None:
    """The spread :func:`store_spread` kept, when the study's best configuration is still the one
    it was measured on; None otherwise (never measured, or another configuration is best now)."""
    from sweepnp.verdict import best_trials

    stored = res.study.user_attrs.get(SPREAD_ATTR)
    if not isinstance(stored, dict) or stored.get("trials") != best_trials(res):
        return None
    return Spread(float(stored["sd"]), int(stored["seeds"]), tuple(stored["values"]))
