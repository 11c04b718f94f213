"""What ``sweepnp study show`` prints: the trials table fitted to the terminal, the summary
across repeats, the verdict; and ``show --watch``, the same again while trials run. ``best``
writes its parameters and values as ``show`` does; ``list`` prints the studies of a storage.

The command itself (its options and checks) is in :mod:`sweepnp.cli.study`.
"""

from __future__ import annotations

from typing import Any

from sweepnp.cli.render import (
    TableColumn,
    fit_columns,
    fit_table,
    number_texts,
    stdout,
    table_width,
)

__all__ = [
    "metric_headers",
    "param_texts",
    "print_parts",
    "print_studies",
    "show_parts",
    "trials_shown",
    "watch_study",
]


def trials_shown(results: Any) -> Any:
    """The trials ``show`` shows, best first (of equal values, the first tried first): number,
    state, stop reason, value(s), the searched parameters, epochs."""
    trials = results.trials
    value_columns = [c for c in trials.columns if c == "value" or c.startswith("value_")]
    shown = ["number", "state", "stop_reason", *value_columns, *results.param_columns, "epochs"]
    ascending = results.spec.directions[0] == "minimize"
    # Stable: trials of equal values in number order, the first of them the best (as Optuna's).
    return trials.sort_values(
        value_columns[0], ascending=ascending, na_position="last", kind="stable"
    )[shown]


def param_texts(results: Any) -> dict[str, Any]:
    """Each searched parameter's column written as precisely as it was searched."""
    return {
        param.path: (lambda values, param=param: [param.text(v) for v in values])
        for param in results.space.params
    }


def metric_headers(results: Any) -> dict[str, str]:
    """The value columns of a study of several metrics under their metric's name as header
    (``value_val_accuracy`` → ``val_accuracy``)."""
    if len(results.metrics) == 1:
        return {}
    return {f"value_{m}": f"value.{m}" for m in results.metrics}


def show_parts(results: Any, limit: int, width: int | None, *, wide_hint: bool) -> list[Any]:
    """What ``show`` prints, in order: the trials table fitted to ``width`` (``None``: all of
    it), what its headers stand for, what was left out, and the summary across repeats."""
    from rich.text import Text  # plain text: no markup, no highlighting of numbers

    from sweepnp.report.verdict_words import verdict

    trials = trials_shown(results)
    counts = trials["state"].value_counts()
    states = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    parts: list[Any] = [Text(f"study {results.name}: {len(trials)} trials ({states}), best first")]
    value_columns = [c for c in trials.columns if c == "value" or c.startswith("value_")]
    fitted = fit_table(
        trials.head(limit),
        width=width,
        texts=param_texts(results),
        drop_first=["state", "epochs", "stop_reason"],
        keep=["number", *value_columns],
        dotted=metric_headers(results),
    )
    parts += fitted.notes(wide_hint=wide_hint, width=width)
    if len(trials) > limit:
        parts.append(Text(f"{limit} of {len(trials)} trials shown (--limit)"))
    summary = results.summary()
    if not summary.empty and (summary["n"] > 1).any():
        texts = {p: t for p, t in param_texts(results).items() if p in summary.columns}
        means = [c for c in summary.columns if str(c).endswith("_mean")]
        # the spread first, then both bounds of an interval together, then parameters
        spreads: list[Any] = [c for c in summary.columns if str(c).endswith("_std")]
        spreads += [(f"{m}_ci_low", f"{m}_ci_high") for m in results.metrics]
        parts.append(Text("across repeats (95% CI), best first"))
        dotted = {  # val_accuracy_mean → mean, when no other column ends so
            str(c): f"{m}.{str(c)[len(m) + 1 :]}"
            for c in summary.columns
            for m in results.metrics
            if str(c).startswith(f"{m}_")
        }
        fitted = fit_table(
            summary.head(limit),
            width=width,
            texts=texts,
            drop_first=spreads,
            keep=["n", *means],
            dotted=dotted,
        )
        parts += fitted.notes(wide_hint=wide_hint, width=width)
    if not results.spec.multi_objective:
        parts.append(Text(verdict(results)))  # what the data can claim (docs/report.md)
    return parts


def print_parts(console: Any, parts: list[Any], width: int | None) -> None:
    """Print what :func:`show_parts` made. Without a width (a pipe or a file, or ``--wide``)
    a line of words — the verdict, the notes — is printed whole, never broken inside a phrase
    at the console's width: whatever reads it wraps it, or not."""
    from rich.text import Text

    for part in parts:
        soft = width is None and isinstance(part, Text)
        console.print(part, crop=False, highlight=False, markup=False, soft_wrap=soft)


def watch_study(name: str, storage: str | None, limit: int, wide: bool, interval: float) -> None:
    """``show --watch``: the table again every ``interval`` seconds while trials run.

    It ends when no trial is running at the first look (one table), or at two looks in a row
    (a worker between two trials has none running for a moment). On a terminal the table is
    redrawn in place (rich's Live); in a pipe or a file it is printed again each time a trial
    has started or ended. Ctrl-C stops watching, with exit status 0."""
    import time

    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    from sweepnp.results import load

    console = stdout()
    width = None if wide else table_width(console)

    def look() -> tuple[Any, tuple[str, ...], bool]:
        results = load(name, storage)
        states = tuple(results.trials["state"].astype(str))
        running = "running" in states
        parts = show_parts(results, limit, width, wide_hint=not wide)
        if running:
            parts.append(Text(f"watching: every {interval:g} s while trials run (Ctrl-C stops)"))
        return Group(*parts), states, running

    def again() -> bool:
        """Look again after ``interval``; return whether the table changed."""
        nonlocal shown, states, running, ended
        time.sleep(interval)
        before, was_running = states, running
        shown, states, running = look()
        ended = not running and not was_running
        return states != before

    try:
        shown, states, running = look()
        ended = not running
        if not console.is_terminal:
            print_parts(console, list(shown.renderables), width)
            while not ended:
                if again():
                    print_parts(console, list(shown.renderables), width)
            return
        with Live(shown, console=console, auto_refresh=False) as live:
            while not ended:
                again()
                live.update(shown, refresh=True)
    except KeyboardInterrupt:
        return


def print_studies(storage: str | None) -> None:
    """``study list``: the studies as a table, from plain values: the command imports no
    table library (pandas: half a second of the command's time)."""
    from sweepnp.study.storage import STUDY_COLUMNS, describe, study_rows

    rows = study_rows(storage)
    if not rows:
        stdout().print(f"no studies in {describe(storage)}", highlight=False, markup=False)
        return

    def when(value: Any) -> str:
        return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")

    def written(name: str, values: list[Any]) -> list[str]:
        if name == "best_value":
            return number_texts(values)
        if name == "datetime_start":
            return [when(v) for v in values]
        return ["" if v is None else str(v) for v in values]

    right = {"n_trials", "best_value", "best_trial"}
    columns = [
        TableColumn(name, written(name, [row[name] for row in rows]), right=name in right)
        for name in STUDY_COLUMNS
    ]
    console = stdout()
    fit_columns(
        columns,
        width=table_width(console),
        drop_first=["datetime_start", "directions", "best_trial"],
        keep=["name"],
    ).print(console)
