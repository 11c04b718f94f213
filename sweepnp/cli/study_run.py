"""What ``sweepnp study run`` says and decides around the run: where it runs (``--cluster``),
what an interrupted run keeps and how to resume it, the summary at its end, and its exit status
when every trial failed."""

from __future__ import annotations

import contextlib
import shlex
import sys
from typing import Any

import click

from sweepnp.cli.app import UserError
from sweepnp.cli.render import stderr, stdout, with_options
from sweepnp.errors import SweepnpError

__all__ = [
    "STORAGE_ENV",
    "cluster_address",
    "fail_if_every_trial_failed",
    "interrupted_message",
    "print_summary",
    "say_if_it_had_its_trials",
    "storage_flag",
]

#: The environment variable naming the storage when ``--storage`` does not.
STORAGE_ENV = "SWEEPNP_STORAGE"


def cluster_address(option: str | None, spec: Any, jobs: int) -> str | None:
    """The Dask scheduler to run on (``--cluster``, ``$SWEEPNP_CLUSTER``, ``[study] cluster``;
    nothing of Dask is imported to find it); ``None``: this machine."""
    from sweepnp.study.cluster import cluster_address

    address = cluster_address(option, spec)
    if address and jobs > 1:
        raise UserError(
            "--jobs: a study on a Dask cluster runs one worker per worker thread of the "
            "cluster; leave --jobs out"
        )
    return address or None


def say_if_it_had_its_trials(board: Any, name: str, total: int, n_trials: int | None) -> None:
    """One line when the study held its ``total`` trials already, so that this run trained
    none: how to run more, or another study."""
    from sweepnp.study.progress import more_trials

    held = board.held_before
    if held < total:
        return
    more = more_trials(held)
    given = "" if n_trials is None else f" (--n-trials {n_trials} is the total it should hold)"
    stdout().print(
        f"study {name} already has its {held} trials{given}; --n-trials {more} runs "
        f"{more - held} more, --name starts another study",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )


def fail_if_every_trial_failed(study: Any) -> None:
    """A study whose every trial failed ends with exit status 1 and why: the most common
    failure reason and how many trials it hit."""
    from sweepnp.study.record import failures

    counts = failures(study.get_trials(deepcopy=False))
    if not counts.all_failed:
        return
    reason = with_options(counts.reason or "")
    text = (
        f"the only trial failed: {reason}"
        if counts.trials == 1
        else f"all {counts.trials} trials failed; {counts.hits} of them: {reason}"
    )
    stderr.print(
        f"Error: {text}",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    sys.exit(1)


def storage_flag(storage: str | None) -> tuple[str, str]:
    """The ``--storage`` flag of a command sweepnp suggests, with the URL's password masked, and
    a note saying so when it is; nothing for the default storage or for one given by
    $SWEEPNP_STORAGE, where the command works as printed."""
    from sweepnp.study.storage import describe

    source = click.get_current_context().get_parameter_source("storage")
    if storage is None or source is click.core.ParameterSource.ENVIRONMENT:
        return "", ""
    shown = describe(storage)
    note = ""
    if shown != storage:
        note = (
            f"*** hides the password: type it in its place, or put the URL in ${STORAGE_ENV} "
            "and leave out --storage"
        )
    return f" --storage {shlex.quote(shown)}", note


def interrupted_message(
    command: str, name: str, where: str, storage: str | None, study: Any = None
) -> None:
    """What a Ctrl-C leaves: the finished trials kept, and the command that resumes.

    :param study: the study, if it was opened (else it is read from the storage)."""
    from optuna.trial import TrialState

    finished = 0
    with contextlib.suppress(SweepnpError):
        if study is None:
            from sweepnp.study.storage import load_study

            study = load_study(name, storage)
        states = (TrialState.COMPLETE, TrialState.PRUNED)
        finished = len(study.get_trials(deepcopy=False, states=states))
    flag, note = storage_flag(storage)
    stderr.print(
        f"Interrupted: {finished} finished trials of study {name!r} are kept in {where}; "
        "running trials ended as failed (interrupted) and will run again. "
        f"Resume with: sweepnp study run {command}{flag}" + (f" ({note})" if note else ""),
        soft_wrap=True,
        highlight=False,
        markup=False,
    )


def print_summary(study: Any, spec: Any, where: str, storage: str | None) -> None:
    from sweepnp.study.space import decode_value

    console = stdout()
    states: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        states[trial.state.name.lower()] = states.get(trial.state.name.lower(), 0) + 1
    counts = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    console.print(f"study [bold]{spec.name}[/] in {where}: {counts}", soft_wrap=True)
    if spec.multi_objective:
        front = study.best_trials
        console.print(f"Pareto front: trials {', '.join(str(t.number) for t in front)}")
    else:
        try:
            best = study.best_trial
        except ValueError:
            console.print("no completed trial yet")
            return
        # Exact ties are ties, never one winner (what else the data cannot tell apart needs the
        # results tables, and pandas, which a run does not import: `study show` says it).
        from optuna.trial import TrialState

        tied = [
            t.number
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.number != best.number and t.value == best.value
        ]
        console.print(
            f"best {spec.metrics[0]} {best.value:.4f} at trial {best.number}"
            f"{_ties(tied, best.value)}:",
            soft_wrap=True,
            highlight=False,
        )
        for param in spec.space.params:
            if param.path in best.params:
                value = decode_value(best.params[param.path])
                console.print(
                    f"  {param.path} = {param.text(value)}", soft_wrap=True, highlight=False
                )
    flag, note = storage_flag(storage)
    name = shlex.quote(spec.name)
    console.print(
        f"results: sweepnp study show {name}{flag}\n"
        f"report:  sweepnp study report {name}{flag}" + (f"\n{note}" if note else ""),
        soft_wrap=True,
        highlight=False,
        markup=False,
    )


#: The summary names at most this many trials tied with the best; more, it counts them.
TIES_NAMED = 5


def _ties(tied: list[int], value: float) -> str:
    """What the summary says of the trials tied exactly with the best: their numbers, a few;
    many (a metric of few distinct values, as an accuracy on a small split), how many, and
    where to see them — ``study show`` lists the tied trials first, in number order."""
    if not tied:
        return ""
    if len(tied) <= TIES_NAMED:
        return f" (tied with trial{'s' * (len(tied) > 1)} {', '.join(map(str, tied))})"
    count = len(tied) + 1
    return f"; {count} trials tie at {value:.4f} (sweepnp study show --limit {count} lists them)"
