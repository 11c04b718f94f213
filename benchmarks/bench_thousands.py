"""Studies of thousands of trials: what sweepnp adds per trial, and what reading such a study costs.

One command::

    python benchmarks/bench_thousands.py [--trials 2000] [--runs 3] [--other CHECKOUT]
                                         [--parts trials show list resume] [--json FILE]

The study is ``benchmarks/thousands.toml``: breast cancer, a 30-8-1 ReLU network trained for 2
epochs, the learning rate and the L2 strength searched by TPE (seed 0). Every contender is a
whole command in its own process with one BLAS thread, alternating run by run, each on a fresh
journal file in a temporary folder.

* ``trials``: the mean time per trial over the first and the last hundred trials of a
  ``--trials`` study (from the trials' completion times in the journal: the time between the
  completions 100 trials apart, over 100; the first hundred from the first trial's start).
  Contenders: ``sweepnp`` (``sweepnp study run thousands.toml --quiet``, its default stack),
  ``sweepnp-lines`` (the same, printing a line per trial as it does in a pipe),
  ``sweepnp-stack1`` (``--stack 1``), and plain Optuna with a trivial objective (it suggests the
  same two parameters and trains nothing) and the same sampler: ``optuna-liar``
  (``TPESampler(seed=0, constant_liar=True)``, what sweepnp's default stack samples with) and
  ``optuna`` (``TPESampler(seed=0)``, what ``--stack 1`` samples with), on Optuna's own journal
  file storage, logging at WARNING as sweepnp sets it. When named, ``sweepnp-grid``: ``--stack
  1`` on ``thousands_grid.toml``, the same study on a grid of 2000 points.
* ``show``: on the study the first ``sweepnp`` run made, ``sweepnp study show thousands``
  (whole command), and inside one process, after the imports: ``sweepnp.results.load(name)``,
  its ``.trials``, and, for reference, Optuna's ``load_study`` + ``trials_dataframe()``.
* ``list``: ``sweepnp study list`` on that journal (whole command), and whether it imported
  pandas.
* ``resume``: ``sweepnp study run thousands.toml`` on a copy of that journal, which holds its
  trials already (nothing to run), against a fresh one-trial start (``--n-trials 1`` on a new
  journal).

``--other CHECKOUT`` runs the sweepnp contenders of a second checkout (with its own ``.venv``) as
well, alternating with this one's: before and after a change. The parent prints medians (min
and max beside them), the machine's load (``uptime``), how many cores other processes kept busy,
and the targets of issue 19 point 4.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_train import THREAD_ENV, busy_cpu_seconds, own_cpu_seconds  # noqa: E402

STUDY_FILE = HERE / "thousands.toml"
#: The same study on a 2000-point grid (the ``sweepnp-grid`` contender).
GRID_FILE = HERE / "thousands_grid.toml"
STUDY_NAME = "thousands"  # [study] name in thousands.toml
PARTS = ("trials", "show", "list", "resume")
#: The contenders of the ``trials`` part (``sweepnp-grid`` only when named).
CONTENDERS = ("sweepnp", "sweepnp-lines", "sweepnp-stack1", "optuna-liar", "optuna")
GRID = "sweepnp-grid"
#: The search space of thousands.toml, for the Optuna contenders.
LR_RANGE, LAM_RANGE = (1e-4, 1.0), (1e-6, 1e-1)
#: Targets (issue 19, point 4).
PER_TRIAL_MARGIN_MS = 2.0
SHOW_SECONDS, TRIALS_SECONDS, RESUME_RATIO = 1.0, 0.5, 1.2


# -------------------------------------------------------------------------
# Workers (each in a process of its own)
# -------------------------------------------------------------------------


#: Wall and CPU seconds spent inside Optuna's sampler so far (see :func:`_watch_the_sampler`).
IN_SAMPLER = [0.0, 0.0]


def _stamp(stamps: list[tuple[float, ...]]) -> None:
    """The clocks when a trial has been told: wall, CPU, and both inside the sampler so far."""
    stamps.append((time.perf_counter(), time.process_time(), *IN_SAMPLER))


def _watch_the_sampler() -> None:
    """Count the time spent in TPE's methods (the same sampler in every contender), so that
    what each contender does outside it is known: sweepnp's own work, or Optuna's."""
    import functools

    import optuna

    sampler = optuna.samplers.TPESampler
    for name in ("infer_relative_search_space", "sample_relative", "sample_independent",
                 "before_trial", "after_trial"):  # fmt: skip
        method = getattr(sampler, name)

        def timed(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return _method(*args, **kwargs)
            finally:
                IN_SAMPLER[0] += time.perf_counter() - wall
                IN_SAMPLER[1] += time.process_time() - cpu

        setattr(sampler, name, functools.wraps(method)(timed))


def optuna_worker(storage_path: str, trials: int, liar: bool) -> dict[str, Any]:
    """Plain Optuna: the same two parameters, the same sampler, an objective that trains
    nothing; the wall and CPU clocks when each trial has been told."""
    import math

    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _watch_the_sampler()

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("optimizer.lr", *LR_RANGE, log=True)
        lam = trial.suggest_float("regularizers.l2.lam", *LAM_RANGE, log=True)
        return 1.0 - abs(math.log10(lr) + 1.5) / 10 - abs(math.log10(lam) + 4) / 100

    study = optuna.create_study(
        study_name=STUDY_NAME,
        storage=JournalStorage(JournalFileBackend(storage_path)),
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=0, constant_liar=liar),
    )
    stamps: list[tuple[float, ...]] = []
    study.optimize(objective, n_trials=trials, callbacks=[lambda *_: _stamp(stamps)])
    return {"stamps": stamps}


def sweepnp_worker(arguments: list[str]) -> dict[str, Any]:
    """``sweepnp study run ARGS``, the command's own code in this process; the wall and CPU
    clocks when each trial has been stored and told (``finish_trial``, watched from outside:
    sweepnp's code is not changed)."""
    import contextlib
    import functools

    import sweepnp.study.stacked_loop as stacked
    import sweepnp.study.worker as one_at_a_time
    from sweepnp.cli.app import main

    _watch_the_sampler()
    stamps: list[tuple[float, ...]] = []

    def watched(finish: Any) -> Any:
        @functools.wraps(finish)
        def finish_trial(*args: Any, **kwargs: Any) -> Any:
            done = finish(*args, **kwargs)
            _stamp(stamps)
            return done

        return finish_trial

    for module in (one_at_a_time, stacked):
        module.finish_trial = watched(module.finish_trial)  # type: ignore[attr-defined]
    with contextlib.redirect_stdout(sys.stderr), contextlib.suppress(SystemExit):
        study = GRID_FILE if "--grid" in arguments else STUDY_FILE
        arguments = [a for a in arguments if a != "--grid"]
        main(["study", "run", str(study), *arguments], standalone_mode=False)
    return {"stamps": stamps}


def load_worker(storage_path: str) -> dict[str, Any]:
    """``results.load(name)`` and its ``.trials``, timed after the imports; then Optuna's own
    table of the same study."""
    import optuna
    import pandas  # noqa: F401  (imported before the clock starts, as the results module does)

    import sweepnp.results

    started = time.perf_counter()
    res = sweepnp.results.load(STUDY_NAME, storage_path)
    loaded = time.perf_counter()
    trials = res.trials
    built = time.perf_counter()
    res.summary()
    summarized = time.perf_counter()
    res.verdict()
    judged = time.perf_counter()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    begun = time.perf_counter()
    study = optuna.load_study(
        study_name=STUDY_NAME, storage=JournalStorage(JournalFileBackend(storage_path))
    )
    opened = time.perf_counter()
    frame = study.trials_dataframe()
    ended = time.perf_counter()
    return {
        "load": loaded - started,
        "trials": built - loaded,
        "load+trials": built - started,
        "summary": summarized - built,
        "verdict": judged - summarized,
        "rows": len(trials),
        "optuna load": opened - begun,
        "optuna trials_dataframe": ended - opened,
        "optuna rows": len(frame),
    }


def list_worker(storage_path: str) -> dict[str, Any]:
    """``sweepnp study list`` in this process: which heavy modules it imported."""
    import contextlib
    import io

    from sweepnp.cli.app import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(["study", "list", "--storage", storage_path], standalone_mode=False)
    return {
        "pandas": "pandas" in sys.modules,
        "scipy": "scipy" in sys.modules,
        "printed": STUDY_NAME in out.getvalue(),
    }


def worker_main(args: argparse.Namespace, rest: list[str]) -> None:
    if args.worker == "optuna":
        result = optuna_worker(args.storage, args.trials, args.liar)
    elif args.worker == "sweepnp":
        result = sweepnp_worker(["--storage", args.storage, *rest])
    elif args.worker == "load":
        result = load_worker(args.storage)
    else:
        result = list_worker(args.storage)
    import sweepnp

    result["sweepnp"] = str(Path(sweepnp.__file__).parent.parent)  # which checkout ran
    print(json.dumps(result))


# -------------------------------------------------------------------------
# The parent
# -------------------------------------------------------------------------


def python_of(checkout: Path) -> Path:
    venv = checkout / ".venv" / "bin" / "python"
    if not venv.exists():
        raise SystemExit(f"{checkout} has no .venv: create one with pip install -e . there")
    return venv


#: Where the commands run: a folder of no checkout (a checkout's folder as the working directory
#: would put its sweepnp first on ``sys.path`` of ``python -m``).
ELSEWHERE = tempfile.gettempdir()


def timed(command: list[str], *, stderr: Any = subprocess.DEVNULL) -> tuple[float, str]:
    """Wall seconds of a whole command, and its standard output."""
    started = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=ELSEWHERE,
        env={**os.environ, **THREAD_ENV},
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}")
    return seconds, done.stdout


def worker(checkout: Path, *args: str, stderr: Any = subprocess.DEVNULL) -> dict[str, Any]:
    _, out = timed([str(python_of(checkout)), str(Path(__file__).resolve()), *args], stderr=stderr)
    result = json.loads(out.strip().splitlines()[-1])
    if Path(result["sweepnp"]) != checkout.resolve():
        raise SystemExit(f"{checkout}'s worker imported the sweepnp of {result['sweepnp']}")
    return result


def sweepnp_command(checkout: Path, *args: str) -> list[str]:
    """The checkout's own ``sweepnp`` console script, as a user runs it."""
    return [str(python_of(checkout).parent / "sweepnp"), *args]


def per_trial_ms(stamps: list[list[float]], trials: int) -> dict[str, float]:
    """Mean milliseconds per trial over the first hundred trials after the first (from the
    first trial's end to the 101st's) and over the last hundred (the last 101 ends): wall and
    CPU time, and the same outside the sampler."""
    if len(stamps) != trials:
        raise SystemExit(f"{len(stamps)} trials told, expected {trials}")
    figures = {}
    for part, (begin, end) in (("first", (0, 100)), ("last", (-101, -1))):
        for clock, name in ((0, "wall"), (1, "cpu")):
            spent = stamps[end][clock] - stamps[begin][clock]
            sampling = stamps[end][clock + 2] - stamps[begin][clock + 2]
            figures[f"{part} {name}"] = 1000 * spent / 100
            figures[f"{part} {name} outside"] = 1000 * (spent - sampling) / 100
    return figures


def trials_part(
    checkouts: dict[str, Path],
    trials: int,
    runs: int,
    folder: Path,
    record: dict[str, Any],
    chosen: Sequence[str] = CONTENDERS,
) -> Path | None:
    """Run every ``chosen`` contender ``runs`` times (and the sweepnp ones of the other
    checkout); return a journal of this checkout's default run."""
    kept: Path | None = None
    for run in range(runs):
        order = list(checkouts.items())
        if run % 2:
            order.reverse()
        contenders: list[tuple[str, Any]] = []
        for side, checkout in order:
            suffix = "" if side == "this" else f"@{side}"
            contenders += [
                (f"sweepnp{suffix}", (checkout, ["--quiet"], False)),
                (f"sweepnp-lines{suffix}", (checkout, [], True)),
                (f"sweepnp-stack1{suffix}", (checkout, ["--quiet", "--stack", "1"], False)),
                (f"sweepnp-grid{suffix}", (checkout, ["--quiet", "--stack", "1", "--grid"], False)),
            ]
        contenders += [("optuna-liar", True), ("optuna", False)]
        contenders = [(n, how) for n, how in contenders if n.split("@")[0] in chosen]
        for name, how in contenders:
            journal = folder / f"{name}-{run}.journal"
            started = time.perf_counter()
            if name.startswith("sweepnp"):
                checkout, flags, lines = how
                with open(folder / f"{name}-{run}.stderr", "w") as err:
                    result = worker(
                        checkout,
                        "--worker", "sweepnp", "--storage", str(journal),
                        "--n-trials", str(trials), *flags,
                        stderr=err if lines else subprocess.DEVNULL,
                    )  # fmt: skip
            else:
                result = worker(
                    checkouts["this"],
                    "--worker", "optuna", "--storage", str(journal),
                    "--trials", str(trials), *(["--liar"] if how else []),
                )  # fmt: skip
            seconds = time.perf_counter() - started
            figures = {"seconds": seconds, **per_trial_ms(result["stamps"], trials)}
            record.setdefault(name, []).append(figures)
            print(
                f"  run {run + 1} {name:<22} {seconds:6.1f} s; ms/trial, first/last hundred: "
                f"wall {figures['first wall']:5.2f}/{figures['last wall']:5.2f}, CPU "
                f"{figures['first cpu']:5.2f}/{figures['last cpu']:5.2f}; outside the sampler: "
                f"wall {figures['first wall outside']:5.2f}/{figures['last wall outside']:5.2f}, "
                f"CPU {figures['first cpu outside']:5.2f}/{figures['last cpu outside']:5.2f}"
            )
            if name == "sweepnp" and kept is None:
                kept = journal
            else:
                for path in folder.glob(f"{journal.name}*"):
                    path.unlink()
    return kept


def show_part(
    checkouts: dict[str, Path], journal: Path, runs: int, folder: Path, record: dict[str, Any]
) -> None:
    """``study show`` of the study, and of a one-trial study (the command's floor: imports,
    opening a journal, the tables of one trial)."""
    one = folder / "one.journal"
    timed(
        sweepnp_command(
            checkouts["this"], "study", "run", str(STUDY_FILE), "--storage", str(one),
            "--n-trials", "1", "--quiet",
        )
    )  # fmt: skip
    for run in range(runs):
        order = list(checkouts.items())
        if run % 2:
            order.reverse()
        for side, checkout in order:
            floor, _ = timed(
                sweepnp_command(checkout, "study", "show", STUDY_NAME, "--storage", str(one))
            )
            record.setdefault(f"show one trial@{side}", []).append(floor)
            seconds, _ = timed(
                sweepnp_command(checkout, "study", "show", STUDY_NAME, "--storage", str(journal))
            )
            record.setdefault(f"show@{side}", []).append(seconds)
            inside = worker(checkout, "--worker", "load", "--storage", str(journal))
            record.setdefault(f"load@{side}", []).append(inside)
            print(
                f"  run {run + 1} {side:<6} show {seconds:.2f} s (one trial: {floor:.2f} s); "
                f"load {inside['load']:.3f} s, "
                f".trials {inside['trials']:.3f} s, summary {inside['summary']:.3f} s, verdict "
                f"{inside['verdict']:.3f} s; Optuna load {inside['optuna load']:.3f} s, "
                f"trials_dataframe {inside['optuna trials_dataframe']:.3f} s"
            )


def list_part(checkouts: dict[str, Path], journal: Path, runs: int, record: dict[str, Any]) -> None:
    for run in range(runs):
        order = list(checkouts.items())
        if run % 2:
            order.reverse()
        for side, checkout in order:
            seconds, _ = timed(
                sweepnp_command(checkout, "study", "list", "--storage", str(journal))
            )
            imports = worker(checkout, "--worker", "list", "--storage", str(journal))
            record.setdefault(f"list@{side}", []).append({"seconds": seconds, **imports})
            print(
                f"  run {run + 1} {side:<6} list {seconds:.2f} s; "
                f"imports pandas: {imports['pandas']}"
            )


def resume_part(
    checkouts: dict[str, Path],
    journal: Path,
    trials: int,
    runs: int,
    folder: Path,
    record: dict[str, Any],
) -> None:
    """``sweepnp study run`` on a study that holds its ``trials`` already, against a fresh start
    that runs one trial."""
    for run in range(runs):
        order = list(checkouts.items())
        if run % 2:
            order.reverse()
        for side, checkout in order:
            for kind in ("resume", "fresh") if run % 2 == 0 else ("fresh", "resume"):
                target = folder / f"{kind}.journal"
                for path in folder.glob(f"{kind}.journal*"):
                    path.unlink()
                if kind == "resume":
                    shutil.copy(journal, target)
                flags = ["--n-trials", "1" if kind == "fresh" else str(trials)]
                seconds, _ = timed(
                    sweepnp_command(
                        checkout,
                        "study",
                        "run",
                        str(STUDY_FILE),
                        "--storage",
                        str(target),
                        "--quiet",
                        *flags,
                    )
                )
                record.setdefault(f"{kind}@{side}", []).append(seconds)
                print(f"  run {run + 1} {side:<6} {kind:<6} {seconds:.2f} s")


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} (min {min(values):.3f}, max {max(values):.3f})"


def report(record: dict[str, Any], checkouts: dict[str, Path]) -> None:
    print("\n== results (medians) ==")
    trials = record.get("trials", {})

    def mid(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    if trials:
        print("ms per trial, first/last hundred (medians): wall, CPU; outside the sampler")
    for name, rows in trials.items():
        print(
            f"{name:<24} whole {mid(rows, 'seconds'):6.1f} s; "
            f"{mid(rows, 'first wall'):6.2f}/{mid(rows, 'last wall'):6.2f}, "
            f"{mid(rows, 'first cpu'):6.2f}/{mid(rows, 'last cpu'):6.2f}; outside "
            f"{mid(rows, 'first wall outside'):5.2f}/{mid(rows, 'last wall outside'):5.2f}, "
            f"{mid(rows, 'first cpu outside'):5.2f}/{mid(rows, 'last cpu outside'):5.2f}"
        )
    pairs = (("sweepnp", "optuna-liar"), ("sweepnp-lines", "optuna-liar"),
             ("sweepnp-stack1", "optuna"))  # fmt: skip
    for ours, theirs in pairs:
        for side in checkouts:
            name = ours if side == "this" else f"{ours}@{side}"
            if name not in trials or theirs not in trials:
                continue
            for clock in ("wall", "cpu", "wall outside", "cpu outside"):
                a = mid(trials[name], f"last {clock}")
                b = mid(trials[theirs], f"last {clock}")
                verdict = "met" if a <= b + PER_TRIAL_MARGIN_MS else "NOT met"
                print(
                    f"last hundred, {clock}: {name} {a:.2f} ms vs {theirs} {b:.2f} ms + "
                    f"{PER_TRIAL_MARGIN_MS:g} → {verdict} ({a - b:+.2f} ms)"
                )
    for side in checkouts:
        if f"show@{side}" in record:
            show = record[f"show@{side}"]
            inside = record[f"load@{side}"]
            print(f"[{side}] study show: {median(show)} s (target ≤ {SHOW_SECONDS:g} s)")
            print(f"[{side}]   of a one-trial study: {median(record[f'show one trial@{side}'])} s")
            for key in (
                "load",
                "trials",
                "load+trials",
                "summary",
                "verdict",
                "optuna load",
                "optuna trials_dataframe",
            ):
                print(f"[{side}]   {key}: {median([r[key] for r in inside])} s")
            print(f"[{side}]   target load(name).trials ≤ {TRIALS_SECONDS:g} s")
        if f"list@{side}" in record:
            rows = record[f"list@{side}"]
            print(
                f"[{side}] study list: {median([r['seconds'] for r in rows])} s; "
                f"imports pandas: {sorted({r['pandas'] for r in rows})}"
            )
        if f"resume@{side}" in record:
            resume, fresh = record[f"resume@{side}"], record[f"fresh@{side}"]
            ratio = statistics.median(resume) / statistics.median(fresh)
            print(
                f"[{side}] resume with nothing to run {median(resume)} s, fresh one-trial start "
                f"{median(fresh)} s: {ratio:.2f}× (target ≤ {RESUME_RATIO:g}×)"
            )


def commit_of(checkout: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def parent_main(args: argparse.Namespace) -> None:
    checkouts = {"this": HERE.parent}
    if args.other is not None:
        checkouts["other"] = args.other.resolve()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {uptime.strip()}")
    for side, checkout in checkouts.items():
        print(f"{side}: {checkout} at {commit_of(checkout)}")
    record: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(),
        "uptime_before": uptime.strip(),
        "commits": {side: commit_of(c) for side, c in checkouts.items()},
        "trials_per_study": args.trials,
    }
    busy0, own0 = busy_cpu_seconds(), own_cpu_seconds()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        journal = None
        if "trials" in args.parts:
            print(f"trials: {args.trials}-trial studies, {args.runs} runs")
            record["trials"] = {}
            journal = trials_part(
                checkouts, args.trials, args.runs, folder, record["trials"], args.contenders
            )
        if journal is None and set(args.parts) & {"show", "list", "resume"}:
            journal = folder / "study.journal"
            print(f"making a {args.trials}-trial study for the other parts …")
            timed(
                sweepnp_command(
                    checkouts["this"],
                    "study",
                    "run",
                    str(STUDY_FILE),
                    "--storage",
                    str(journal),
                    "--n-trials",
                    str(args.trials),
                    "--quiet",
                )
            )
        if journal is not None:
            study = folder / "study-kept.journal"
            shutil.copy(journal, study)
            if "show" in args.parts:
                print("show:")
                show_part(checkouts, study, args.runs, folder, record)
            if "list" in args.parts:
                print("list:")
                list_part(checkouts, study, args.runs, record)
            if "resume" in args.parts:
                print("resume:")
                resume_part(checkouts, study, args.trials, args.runs, folder, record)
    wall = time.perf_counter() - started
    busy1 = busy_cpu_seconds()
    if busy0 is not None and busy1 is not None:
        others = max(0.0, ((busy1 - busy0) - (own_cpu_seconds() - own0)) / wall)
        record["other_cores_busy"] = others
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    record["uptime_after"] = uptime.strip()
    report(record, checkouts)
    print(
        f"{uptime.strip()}; other processes (not this benchmark's) kept "
        f"{record.get('other_cores_busy', float('nan')):.2f} cores busy on average"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1, default=str))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--other", type=Path, default=None, help="another checkout, with .venv")
    parser.add_argument(
        "--contenders",
        nargs="+",
        choices=[*CONTENDERS, GRID],
        default=list(CONTENDERS),
        metavar="NAME",
    )
    parser.add_argument("--json", default=None)
    parser.add_argument("--worker", choices=["optuna", "sweepnp", "load", "list"], default=None)
    parser.add_argument("--storage", default=None)
    parser.add_argument("--liar", action="store_true")
    args, rest = parser.parse_known_args(argv)
    if args.worker:
        worker_main(args, rest)
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    else:
        parent_main(args)


if __name__ == "__main__":
    main()
