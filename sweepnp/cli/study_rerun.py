"""What ``sweepnp study rerun`` prints: how the re-run ended, its last epochs, and whether it is
the stored trial (:class:`sweepnp.study.trial.Rerun`)."""

from __future__ import annotations

from typing import Any

from sweepnp.cli.render import fit_table, stdout, table_width, with_options

__all__ = ["print_rerun"]

#: How a trial that stored nothing ended, by stop reason.
_ENDED_UNFINISHED = {
    "interrupted": "was interrupted (Ctrl-C)",
    "stale": "lost its worker (stale)",
}
#: Why a re-run stopped where it did, by the stop reason of the study's trial.
_STOPPED_THERE = {
    "pruned": "where the study's pruner stopped it (a re-run has no pruner)",
    "interrupted": "where Ctrl-C stopped it in the study",
}


def print_rerun(again: Any, command: str, storage_flag: str) -> bool:
    """Print what re-running a trial gave; return whether it is what the study stored (or there
    was nothing to compare with).

    :param command: ``sweepnp study rerun NAME``, to suggest re-running another trial.
    :param storage_flag: the ``--storage`` option that command needs, or nothing.
    """
    console = stdout()
    number = again.number

    def say(text: str) -> None:
        console.print(text, soft_wrap=True, highlight=False, markup=False)

    stored, outcome = again.stored, again.outcome
    if outcome is None:
        how = _ENDED_UNFINISHED.get(stored.stop_reason, f"ended {stored.stop_reason}")
        say(
            f"trial {number} {how} in the study before it stored any epochs: nothing to "
            f"train again{_retry_text(again, command, storage_flag)}"
        )
        return True
    if stored.stop_reason == "failed":
        say(f"trial {number} re-run: {with_options(outcome.record.reason or outcome.stop_reason)}")
        if again.identical:
            say("failed again, as in the study")
            return True
        say(f"in the study it failed: {with_options(stored.reason or stored.stop_reason)}")
        console.print("[red]the re-run does not fail as the study's trial did[/]")
        return False
    stop = ""
    if again.stopped_at:
        where = _STOPPED_THERE.get(stored.stop_reason, "where the study stopped it")
        stop = f" at epoch {again.stopped_at[-1] - 1}, {where}"
    say(f"trial {number} re-run: {outcome.stop_reason}{stop}")
    if outcome.history is not None:
        say("last epochs (re-run)")
        fit_table(outcome.history.tail(5), width=table_width(console), keep=["epoch"]).print(
            console
        )
    if again.stored_curves is None or outcome.history is None:
        say("nothing stored to compare with")
        return True
    if not again.identical:
        if outcome.stop_reason != stored.stop_reason:
            say(f"in the study it ended {stored.stop_reason}; the re-run {outcome.stop_reason}")
        console.print("[red]the re-run's learning curve differs from the stored one[/]")
        return False
    if again.stopped_at:
        say(
            f"{stored.stop_reason} at epoch {again.stopped_at[-1] - 1} in the study; identical "
            f"for its {again.epochs} epochs"
        )
    else:
        say(f"identical to the stored learning curve ({again.epochs} epochs)")
    return True


def _retry_text(again: Any, command: str, storage_flag: str) -> str:
    """Where an interrupted or stale trial's configuration runs again, and the command to re-run
    that trial instead."""
    if again.retry is None:
        return "; its configuration was not run again"
    if again.retry_waiting:
        return (
            f"; its configuration is queued to run again as trial {again.retry}, in the "
            "study's next run"
        )
    return (
        f"; its configuration ran again as trial {again.retry}: {command} --trial {again.retry}"
        f"{storage_flag}"
    )
