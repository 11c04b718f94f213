"""`sweepnp study …`: output and the results commands in this process; parallel workers, Ctrl-C,
dead workers and the progress bar through real processes (marked slow)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from sweepnp.study.storage import open_storage
from sweepnp.study.worker import run_study


def _slow(study: dict) -> dict:
    """Trials of about a second each (no early stopping anywhere), so a signal lands inside one."""
    study["train"] = {"epochs": 1000, "batch_size": 16}
    study["model"] = {"task": "binary", "hidden": [32]}
    study["callbacks"] = {}
    study["study"]["params"] = {
        "regularizers.l2.lam": {"low": 1e-5, "high": 1e-1, "log": True},
        "regularizers.dropout.rate": {"low": 0.0, "high": 0.5},
    }
    return study


def _study(journal: str, name: str = "small") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(journal))


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sweepnp.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a job on a terminal
    )


def _wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _training(journal: str) -> bool:
    """Whether a trial is running with its parameters stored (so a signal lands in training)."""
    try:
        trials = _study(journal).get_trials(deepcopy=False)
    except KeyError:  # the study is not created yet
        return False
    return any(t.state == TrialState.RUNNING and t.params for t in trials)


def _finished(journal: str) -> int:
    try:
        return sum(t.state.is_finished() for t in _study(journal).get_trials(deepcopy=False))
    except (KeyError, FileNotFoundError):
        return 0


def test_run_logs_one_line_per_trial_when_not_on_a_terminal(invoke, study_file, journal):
    done = invoke("study", "run", study_file, "--storage", journal)
    assert done.exit_code == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("trial ")]
    assert len(lines) == 6
    assert all("best val_accuracy" in line for line in lines)
    assert "best val_accuracy" in done.stdout and "sweepnp study show small" in done.stdout


def test_each_line_says_how_far_the_run_is_and_a_resumed_run_lists_only_its_own_trials(
    invoke, study_file, journal
):
    first = invoke("study", "run", study_file, "--storage", journal, "--n-trials", "2")
    assert first.exit_code == 0, first.stderr
    lines = [line for line in first.stderr.splitlines() if line.startswith("trial ")]
    assert [line.split()[1] for line in lines] == ["0", "1"]
    for done, line in enumerate(lines, start=1):
        progress = line.rsplit(" | ", 1)[1]  # e.g. "1/2 done, 0.4 s elapsed, ETA 0.4 s"
        assert re.fullmatch(rf"{done}/2 done, [\d.]+ s elapsed, ETA [\d.]+ s", progress), line
    resumed = invoke("study", "run", study_file, "--storage", journal)  # on to n_trials = 6
    assert resumed.exit_code == 0, resumed.stderr
    lines = [line for line in resumed.stderr.splitlines() if line.startswith("trial ")]
    assert sorted(line.split()[1] for line in lines) == ["2", "3", "4", "5"]  # not 0 nor 1
    assert "2 trials finished in earlier runs (not listed again); 6 in all" in resumed.stderr
    done = [line.rsplit(" | ", 1)[1].split()[0] for line in lines]
    assert done == ["3/6", "4/6", "5/6", "6/6"]


def test_the_progress_board_shows_the_epochs_of_the_trials_in_flight(study_file, journal):
    """What the live display reads while trials train: each trial in flight here with its
    epochs so far of those planned (epochs × repeats), and the trials earlier runs finished."""
    import threading

    from sweepnp.study.progress import ProgressBoard

    # Small batches: epochs of some milliseconds, so that a look every millisecond finds a
    # trial between its first and last epoch (with 16–64 rows an 8-epoch trial took ~10 ms,
    # and a loaded machine's look once missed every one).
    text = study_file.read_text()
    assert '"train.batch_size" = { choices = [16, 32, 64] }' in text
    study_file.write_text(text.replace("choices = [16, 32, 64]", "choices = [2, 4]"))
    run_study(study_file, storage=journal, n_trials=2, stack=1)
    for stack in (1, 4):
        board, seen, stop = ProgressBoard(), [], threading.Event()

        def look(board=board, seen=seen, stop=stop):
            while not stop.is_set():
                seen.append(board.epochs())
                time.sleep(0.001)

        watcher = threading.Thread(target=look)
        watcher.start()
        n_trials = 4 if stack == 1 else 6
        try:
            run_study(study_file, storage=journal, n_trials=n_trials, stack=stack, board=board)
        finally:
            stop.set()
            watcher.join()
        assert board.finished_before == frozenset(range(n_trials - 2))
        assert board.epochs() == {}  # nothing in flight once the run is over
        shown = {n: planned for snapshot in seen for n, (_, planned) in snapshot.items()}
        assert set(shown) <= set(range(n_trials - 2, n_trials)) and shown  # this run's trials
        assert set(shown.values()) == {8}  # the file's 8 epochs, 1 repeat
        assert any(0 < done < 8 for snapshot in seen for done, _ in snapshot.values())


def test_quiet_prints_only_the_summary(invoke, study_file, journal):
    done = invoke("study", "run", study_file, "--storage", journal, "--quiet")
    assert done.exit_code == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("study small in")


def test_results_commands(invoke, small_journal, tmp_path):
    journal = small_journal  # the small study, finished: 6 trials
    listed = invoke("study", "list", "--storage", journal)
    assert "small" in listed.stdout and "maximize" in listed.stdout
    shown = invoke("study", "show", "small", "--storage", journal)
    assert shown.exit_code == 0 and "regularizers.l2.lam" in shown.stdout
    best = invoke("study", "best", "small", "--storage", journal, "--json")
    assert best.exit_code == 0, best.stderr
    best_row = json.loads(best.stdout)[0]
    best_trial = _study(journal).best_trial
    assert best_row["value"] == best_trial.value  # exact: JSON keeps every digit
    assert best_row["regularizers.l2.lam"] == best_trial.params["regularizers.l2.lam"]
    for fmt in ("csv", "parquet", "json"):
        out = tmp_path / f"trials.{fmt}"
        done = invoke("study", "export", "small", "--storage", journal, "--format", fmt, "-o", out)
        assert done.exit_code == 0, done.stderr
        frame = {"csv": pd.read_csv, "parquet": pd.read_parquet, "json": pd.read_json}[fmt](out)
        assert len(frame) == 6 and "regularizers.dropout.rate" in frame.columns
    exported = json.loads((tmp_path / "trials.json").read_text())
    stored = {t.number: t.params["regularizers.l2.lam"] for t in _study(journal).trials}
    assert {row["number"]: row["regularizers.l2.lam"] for row in exported} == stored
    history = invoke("study", "export", "small", "--storage", journal, "--table", "history")
    assert history.stdout.startswith("trial,repeat,epoch,metric,value")
    deleted = invoke("study", "delete", "small", "--storage", journal, "--yes")
    assert deleted.exit_code == 0
    assert "small" not in invoke("study", "list", "--storage", journal).stdout
    missing = invoke("study", "show", "small", "--storage", journal)
    assert missing.exit_code == 2 and "no study named 'small'" in missing.stderr


def test_quick_runs_the_files_quick_mode_beside_the_full_study(invoke, journal):
    studies = Path(__file__).resolve().parents[2] / "studies"
    quick = invoke("study", "run", studies / "digits01.toml", "--storage", journal, "--quick")
    assert quick.exit_code == 0, quick.stderr
    assert "study digits01-quick in" in quick.stdout
    stored = _study(journal, "digits01-quick")
    assert len(stored.trials) == 4  # the whole grid
    epochs = {t.user_attrs["sweepnp"]["epochs"][0] for t in stored.trials}
    assert epochs == {5}  # [study.quick] "train.epochs" = 5, not the file's 20
    full = invoke("study", "run", studies / "digits01.toml", "--storage", journal, "--quiet")
    assert full.exit_code == 0, full.stderr  # a different study: no name clash
    assert {t.user_attrs["sweepnp"]["epochs"][0] for t in _study(journal, "digits01").trials} == {
        20
    }


def test_a_bad_study_file_exits_2_with_one_line(invoke, study_dict, tmp_path, write_study, journal):
    study_dict["study"]["sampler"] = "bayes"
    path = write_study(tmp_path / "bad.toml", study_dict)
    done = invoke("study", "run", path, "--storage", journal)
    assert done.exit_code == 2
    assert done.stderr.strip().splitlines() == [
        f"Error: {path}: study.sampler: unknown sampler 'bayes'; valid choices: tpe, random, "
        "grid, qmc, cmaes, gp, nsgaii"
    ]
    assert not Path(journal).exists() or _finished(journal) == 0


@pytest.mark.slow
def test_parallel_workers_hit_n_trials_exactly_and_rerun_reproduces(
    cli, invoke, study_dict, tmp_path, write_study, journal
):
    """A real process: --jobs 2 forks a worker."""
    study_dict["study"]["n_trials"] = 9
    study_dict["study"]["sampler"] = {"name": "random", "seed": 0}
    path = write_study(tmp_path / "p.toml", study_dict)
    done = cli("study", "run", str(path), "--storage", journal, "--jobs", "2", "--quiet")
    assert done.returncode == 0, done.stderr
    trials = _study(journal).get_trials()
    assert len(trials) == 9
    workers = {t.user_attrs["sweepnp_worker"] for t in trials}
    assert len(workers) == 2  # both processes worked
    params = [json.dumps(t.params, sort_keys=True) for t in trials]
    assert len(set(params)) == 9  # each worker has its own sampler seed
    for number in (0, 5):
        rerun = invoke("study", "rerun", "small", "--trial", number, "--storage", journal)
        assert rerun.exit_code == 0, rerun.stdout + rerun.stderr
        assert "identical to the stored learning curve" in rerun.stdout


@pytest.mark.slow
@pytest.mark.parametrize("stack", ["1", "2"])  # one trial at a time; two trained stacked
def test_ctrl_c_keeps_finished_trials_and_the_study_resumes(
    invoke, study_dict, tmp_path, write_study, journal, stack
):
    _slow(study_dict)
    # TPE learns from finished trials: with --stack 2, trial 0 alone, then 1 and 2 together.
    study_dict["study"]["n_trials"] = 3
    in_flight = int(stack)
    path = write_study(tmp_path / "slow.toml", study_dict)
    command = ["study", "run", str(path), "--storage", journal, "--stack", stack]
    process = _start(command, tmp_path)
    _wait_for(lambda: _finished(journal) >= 1 and _training(journal))
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C on a terminal does
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "Resume with: sweepnp study run" in stderr
    trials = _study(journal).get_trials()
    interrupted = [t for t in trials if t.user_attrs.get("sweepnp_reason") == "interrupted"]
    assert len(interrupted) == in_flight
    assert all(t.state == TrialState.FAIL for t in interrupted)
    finished_before = [t for t in trials if t.state == TrialState.COMPLETE]
    assert finished_before
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    queued = [t.system_attrs["fixed_params"] for t in waiting]
    assert queued == [t.params for t in interrupted]  # queued to run again

    # A re-run stops where Ctrl-C stopped the trial: the epochs it stored, number for number.
    reran = 0
    for trial in interrupted:
        stored = trial.user_attrs["sweepnp"].get("epochs", [])
        rerun = invoke("study", "rerun", "small", "--trial", trial.number, "--storage", journal)
        assert rerun.exit_code == 0, rerun.output
        if not stored:  # Ctrl-C came before its first epoch ended
            assert "interrupted (Ctrl-C) in the study before it stored any epochs" in rerun.stdout
            continue
        reran += 1
        assert "where Ctrl-C stopped it in the study" in rerun.stdout
        assert (
            f"interrupted at epoch {stored[-1] - 1} in the study; identical for its "
            f"{sum(stored)} epochs"
        ) in rerun.stdout, rerun.stdout
    assert reran >= 1  # the trial that had been training since the first finished

    resumed = invoke("study", "run", path, "--storage", journal)  # here, not killed
    assert resumed.exit_code == 0, resumed.stderr
    # The finished trials alone count as finished; the interrupted ones run again.
    ones = "one runs" if in_flight == 1 else "ones run"
    finished = len(finished_before)
    assert (
        f"study small: {finished} trial{'s' * (finished != 1)} finished in earlier runs (not "
        f"listed again); {in_flight} interrupted {ones} again; 3 in all"
    ) in resumed.stderr.splitlines()
    trials = _study(journal).get_trials()
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == 3  # n_trials counts the total; interrupted trials are not counted
    assert all(t.params in [d.params for d in done] for t in interrupted)
    assert {t.number for t in finished_before} <= {t.number for t in done}


@pytest.mark.slow
@pytest.mark.parametrize("stack", ["1", "2"])
def test_a_killed_workers_trial_is_recovered_and_retried(
    invoke, study_dict, tmp_path, write_study, journal, stack
):
    _slow(study_dict)
    study_dict["study"]["n_trials"] = 3  # with --stack 2: trial 0 alone, then 1 and 2 together
    path = write_study(tmp_path / "slow.toml", study_dict)
    command = ["study", "run", str(path), "--storage", journal, "--quiet", "--stack", stack]
    process = _start(command, tmp_path)

    def running_after_one_finished() -> bool:
        try:
            trials = _study(journal).get_trials(deepcopy=False)
        except KeyError:
            return False
        # A running trial with its worker and its parameters (two appends, milliseconds apart):
        # a kill between them leaves no configuration to retry.
        return sum(t.state.is_finished() for t in trials) >= 1 and any(
            t.state == TrialState.RUNNING and "sweepnp_worker" in t.user_attrs and t.params
            for t in trials
        )

    _wait_for(running_after_one_finished)
    os.killpg(process.pid, signal.SIGKILL)  # a crash: no chance to clean up
    process.communicate(timeout=30)
    stale = [t for t in _study(journal).get_trials() if t.state == TrialState.RUNNING]
    assert 1 <= len(stale) <= int(stack)  # the second of a pair may not have been asked yet

    resumed = invoke("study", "run", path, "--storage", journal, "--quiet")  # here, not killed
    assert resumed.exit_code == 0, resumed.stderr
    trials = _study(journal).get_trials()
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == 3
    for trial in stale:
        recovered = trials[trial.number]
        assert recovered.state == TrialState.FAIL
        assert recovered.user_attrs["sweepnp_reason"] == "stale"
        # Retried with the same configuration — when it had one: the second of a pair may have
        # been killed between its ask and its parameters.
        if recovered.params:
            assert recovered.params in [t.params for t in done]
    assert any(trials[trial.number].params for trial in stale)  # the one waited for


@pytest.mark.slow
def test_a_killed_forked_worker_is_collected_and_its_trial_rerun_in_the_same_command(
    study_dict, tmp_path, write_study, journal
):
    _slow(study_dict)
    study_dict["study"]["n_trials"] = 3
    path = write_study(tmp_path / "slow.toml", study_dict)
    process = _start(["study", "run", str(path), "--storage", journal, "--jobs", "2",
                      "--quiet"], tmp_path)  # fmt: skip

    def a_child_is_training() -> int | None:
        """The pid of a forked worker training a trial whose parameters are stored."""
        try:
            trials = _study(journal).get_trials(deepcopy=False)
        except KeyError:
            return None
        for trial in trials:
            worker = trial.user_attrs.get("sweepnp_worker", "")
            pid = int(worker.split(":")[1]) if worker else None
            if trial.state == TrialState.RUNNING and trial.params and pid != process.pid:
                return pid
        return None

    _wait_for(lambda: a_child_is_training() is not None)
    child = a_child_is_training()
    os.kill(child, signal.SIGKILL)  # one worker dies; its parent lives on
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr

    trials = _study(journal).get_trials()
    killed = [t for t in trials if t.user_attrs.get("sweepnp_worker", "").split(":")[1:2]
              == [str(child)] and t.state == TrialState.FAIL]  # fmt: skip
    assert killed  # every trial the child had in flight (one, or several stacked)
    assert all(t.user_attrs["sweepnp_reason"] == "stale" for t in killed)
    assert [t for t in trials if t.state == TrialState.RUNNING] == []
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == 3  # exactly n_trials, in the same command
    for trial in killed:
        retry = [t for t in done if t.user_attrs.get("sweepnp_retry_of") == trial.number]
        assert len(retry) == 1 and retry[0].params == trial.params


@pytest.mark.slow
def test_progress_bar_on_a_terminal(study_file, journal, tmp_path, on_a_terminal):
    status, screen = on_a_terminal(
        ["study", "run", str(study_file), "--storage", journal], tmp_path
    )
    assert status == 0, screen
    assert "6/6" in screen and "best val_accuracy" in screen and "ETA" in screen
    assert "trial 0 " not in screen  # the bar replaces the per-trial lines


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_progress_on_a_terminal_from_the_start_with_epochs_and_an_eta(
    study_dict, tmp_path, write_study, journal, on_a_terminal, jobs
):
    _slow(study_dict)
    study_dict["study"]["n_trials"] = 3
    path = write_study(tmp_path / "slow.toml", study_dict)
    command = ["study", "run", str(path), "--storage", journal, "--jobs", jobs, "--stack", "1"]
    status, screen = on_a_terminal(command, tmp_path)
    assert status == 0, screen
    frames = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", f) for f in re.split(r"\x1b\[2K", screen)]
    # before any trial ended: the time since launch, a trial's epochs, no ETA yet
    early = [f for f in frames if "0/3" in f and "ETA after the first trial" in f]
    assert early and any(re.search(r"trial \d epoch \d+/1000", f) for f in frames)
    elapsed = [float(m) for f in frames for m in re.findall(r"([\d.]+) s elapsed", f)]
    assert elapsed == sorted(elapsed) and elapsed[0] < 1.0  # counted from the launch
    assert any(re.search(r"[12]/3 .* ETA [\d.]+ s", f) for f in frames)  # once a trial ended
    if jobs == "2":
        assert any("1 in other workers" in f for f in frames)
    assert "Traceback" not in screen


@pytest.mark.slow
@pytest.mark.parametrize("stack", ["1", "2"])
def test_ctrl_c_with_two_workers_interrupts_both_cleanly(
    study_dict, tmp_path, write_study, journal, stack
):
    _slow(study_dict)
    study_dict["study"]["n_trials"] = 8 * int(stack)
    path = write_study(tmp_path / "slow.toml", study_dict)
    command = ["study", "run", str(path), "--storage", journal, "--jobs", "2", "--stack", stack]
    process = _start(command, tmp_path)
    _wait_for(lambda: _finished(journal) >= 2 and _training(journal))
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "Resume with" in stderr
    trials = _study(journal).get_trials()
    running = [t for t in trials if t.state == TrialState.RUNNING]
    interrupted = [t for t in trials if t.user_attrs.get("sweepnp_reason") == "interrupted"]
    assert running == [] and 1 <= len(interrupted) <= 2 * int(stack)  # each worker's in flight
    assert not list(tmp_path.glob("*.lock"))  # no lock file of Optuna's kind (sweepnp's are .flock)


@pytest.mark.slow
def test_a_worker_waits_for_the_trials_other_workers_run_and_says_so(
    study_dict, tmp_path, write_study, journal, monkeypatch
):
    import sweepnp.study.ask_tell
    import sweepnp.study.worker
    from sweepnp.errors import SweepnpWarning
    from sweepnp.study.spec import load_spec

    _slow(study_dict)
    study_dict["train"]["epochs"] = 3000  # a few seconds
    study_dict["study"]["n_trials"] = 1
    path = write_study(tmp_path / "slow.toml", study_dict)
    spec = load_spec(path)  # loaded first: this worker starts at once, below
    other = _start(["study", "run", str(path), "--storage", journal, "--quiet"], tmp_path)
    _wait_for(lambda: _training(journal))
    monkeypatch.setattr(sweepnp.study.ask_tell, "SAY_WAITING_AFTER", 0.5)
    # The budget (one trial) is spent by the other worker: this one waits for it to end.
    with pytest.warns(SweepnpWarning, match=r"1 remaining trial\(s\) running in other workers"):
        sweepnp.study.worker.run_study(path, storage=journal, spec=spec)
    (trial,) = _study(journal).get_trials()
    assert trial.state == TrialState.COMPLETE  # it had ended when this worker returned
    assert other.wait(timeout=60) == 0
