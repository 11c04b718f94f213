"""The grid sampler: every point of a study's grid runs once, however many workers ask at once.

Optuna's ``GridSampler`` gives trial number ``k`` the ``k``-th point of its grid, shuffled by its
seed, and past the grid's size a point not yet started, chosen at random. Each worker of a study
has a sampler of its own (each seeded ``seed + worker``, and a continued study reseeded): so two
workers' trial 3 were two different points, and trial 3 of one worker and trial 5 of another
could be the same one — three workers on a 9-point grid ran 6 or 7 distinct points.

:class:`GridSampler` claims points instead. When a trial is asked (Optuna's ``before_trial``, in
``study.ask``), it takes the first point of the grid, in one fixed order, that no trial of the
study holds, and stores it with the trial (:data:`~sweepnp.study.record.GRID_POINT_ATTR`) before
the ask returns. sweepnp asks under the study's budget lock
(:func:`sweepnp.study.ask_tell.next_trial`), so a claim and the look at the others' are one step
across processes and machines: no two trials hold one point.

What holds a point: every trial given one — running, finished, or failed — except a trial that
failed before it had its parameters (its worker died between asking and suggesting, and nothing
was queued again). A trial of a dead or interrupted worker keeps its point: its configuration is
queued again (:func:`sweepnp.study.storage.requeue`, Optuna's ``fixed_params``), and the retry
runs it, once; a retry claims nothing. A trial that has no claim (stored by an earlier sweepnp,
which let Optuna choose) holds the points its parameters match.

When no point is left to claim and no retry waits, the grid is spent (:meth:`GridSampler.spent`)
and the study asks for no more trials, whatever ``n_trials`` says.
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from sweepnp.errors import SweepnpWarning
from sweepnp.study.optuna_adapter import storage_of, trial_id
from sweepnp.study.record import GRID_POINT_ATTR

__all__ = ["GridSampler", "holds_a_point"]

#: Optuna's system attribute of an enqueued trial (a retry): its parameters, given in advance.
FIXED_PARAMS = "fixed_params"


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def holds_a_point(trial: FrozenTrial) -> bool:
    """Whether ``trial`` holds its grid point: every trial does, except one that failed before
    it had its parameters (nothing was queued to run it again)."""
    return not (trial.state == TrialState.FAIL and not trial.params)


class GridSampler(optuna.samplers.BaseSampler):
    """Every point of the grid once: a new trial claims the first point no trial holds.

    :param search_space: path → the values of that parameter; the grid is every combination.
    :param seed: shuffles the grid's order (as Optuna's ``GridSampler`` does with the same
        seed), so that a study of fewer trials than points spreads over the grid. Every worker
        of a study must be given the same seed.
    """

    def __init__(self, search_space: Mapping[str, Sequence[Any]], seed: int | None = None) -> None:
        self.paths = sorted(search_space)
        points = list(itertools.product(*(list(search_space[path]) for path in self.paths)))
        np.random.RandomState(seed or 0).shuffle(points)  # type: ignore[arg-type]
        #: The grid's points, in the order they are claimed: path → value.
        self.points = [dict(zip(self.paths, point, strict=True)) for point in points]
        self._keys = [_key(point) for point in self.points]
        self._known: list[FrozenTrial] | None = None
        # The points held by the trials [:_settled] of the study, all finished (a finished
        # trial's hold never changes): each ask looks again only at the trials after them.
        self._settled = 0
        self._last_settled: FrozenTrial | None = None
        self._settled_claims: set[str] = set()
        self._settled_matched: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.points)

    # -- which points are free ----------------------------------------------------------------

    def unclaimed(
        self, trials: Iterable[FrozenTrial], excluding: int | None = None
    ) -> list[dict[str, Any]]:
        """The points no trial holds (but trial number ``excluding``), in the grid's order."""
        return list(self._free(trials, excluding))

    def spent(self, trials: Sequence[FrozenTrial]) -> bool:
        """Whether every point is held and no retry waits to run one: no trial is left to ask."""
        trials = list(trials) if not isinstance(trials, list) else trials
        if next(self._free(trials), None) is not None:
            return False
        # (a waiting trial is unfinished: after the settled ones)
        return not any(t.state == TrialState.WAITING for t in trials[self._settled :])

    def _free(self, trials: Iterable[FrozenTrial], excluding: int | None = None) -> Any:
        """The free points, in the grid's order, as they are asked for.

        A study of thousands of trials asks at the cost of the trials in flight and the grid:
        the points the finished trials ``[:settled]`` hold are kept, since they never change."""
        trials = list(trials) if not isinstance(trials, list) else trials
        settled = self._settled
        if settled > len(trials) or (settled and trials[settled - 1] != self._last_settled):
            settled = 0  # not the trials it has seen: start again
            self._settled_claims, self._settled_matched = set(), []
        while settled < len(trials) and trials[settled].state.is_finished():
            _hold(trials[settled], self._settled_claims, self._settled_matched)
            settled += 1
        self._settled = settled
        self._last_settled = trials[settled - 1] if settled else None
        claimed: set[str] = set()
        matched: list[dict[str, Any]] = []  # parameters of trials with no claim
        for trial in trials[settled:]:
            if trial.number != excluding:
                _hold(trial, claimed, matched)
        matched += self._settled_matched
        held = self._settled_claims
        for point, key in zip(self.points, self._keys, strict=True):
            if key in held or key in claimed:
                continue
            if matched and any(_matches(params, point) for params in matched):
                continue
            yield point

    def knowing(self, trials: Sequence[FrozenTrial]) -> None:
        """The study's trials, just read under the budget lock: the next ask claims its point
        from them, without reading them again (one read of the storage per trial saved)."""
        self._known = list(trials)

    # -- Optuna's sampler interface -----------------------------------------------------------

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Claim a point for a new trial (not for a retry, which runs its original's)."""
        known, self._known = self._known, None
        if GRID_POINT_ATTR in trial.system_attrs or FIXED_PARAMS in trial.system_attrs:
            return
        storage = storage_of(study)
        # From the storage, not study.get_trials(): a pruner's view of the study (Hyperband's
        # brackets) holds only some of its trials.
        if known is None:
            known = storage.get_all_trials(
                storage.get_study_id_from_name(study.study_name), deepcopy=False
            )
        free = self.unclaimed(known, excluding=trial.number)
        if not free:
            # Only a trial asked outside the budget lock, or past a spent grid, gets here.
            warnings.warn(
                f"every point of the grid of study {study.study_name!r} is taken; trial "
                f"{trial.number} runs the grid's first point again",
                SweepnpWarning,
                stacklevel=2,
            )
            free = self.points
        storage.set_trial_system_attr(trial_id(trial), GRID_POINT_ATTR, free[0])

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        point = trial.system_attrs.get(GRID_POINT_ATTR)
        if point is None:
            raise ValueError(
                f"trial {trial.number} has no grid point: the grid sampler gives parameters only "
                "to the trials it is asked for, and a queued trial must give every parameter"
            )
        if param_name not in point:
            raise ValueError(f"the parameter {param_name!r} is not in the grid")
        return point[param_name]


def _hold(trial: FrozenTrial, claimed: set[str], matched: list[dict[str, Any]]) -> None:
    """Add the point ``trial`` holds: its claim, or for a trial with no claim (stored by an
    earlier sweepnp) its parameters, which hold the points they match."""
    if not holds_a_point(trial):
        return
    point = trial.system_attrs.get(GRID_POINT_ATTR)
    if point is not None:
        claimed.add(_key(point))
    elif FIXED_PARAMS not in trial.system_attrs and trial.params:
        matched.append(trial.params)  # a retry's point is its original trial's


def _matches(params: Mapping[str, Any], point: Mapping[str, Any]) -> bool:
    """Whether a trial's ``params`` are ``point`` where they give a value (a conditional
    parameter not searched in the trial matches any value of the point)."""
    return all(path in point and _key(point[path]) == _key(v) for path, v in params.items())
