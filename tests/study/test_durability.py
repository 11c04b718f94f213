"""The journal survives torn and failed writes: real journals cut at every byte, a real full disk.

A crash or power loss during an append leaves the journal ending in part of a line. These tests
make that state for real — a real study's journal cut at every byte offset inside its last three
records — and check that sweepnp sets the partial bytes aside instead of gluing the next record
to them, that every complete record stays readable by sweepnp and by plain Optuna, and that
``sweepnp study run`` resumes such a study to exactly ``n_trials``. A real full disk (a small
tmpfs) ends a real ``sweepnp study run`` process, which must exit cleanly, and the study resumes.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from sweepnp.study.journal import JournalFile, JournalRepairWarning, JournalWriteError
from sweepnp.study.storage import open_storage

#: A study whose journal is small: four trials of three epochs.
TINY = """
[data]
dataset = "breast_cancer"
seed = 0
[model]
task = "binary"
hidden = [4]
[train]
epochs = 3
[optimizer]
name = "sgd"
lr = 0.1
[study]
name = "tiny"
metric = "val_accuracy"
sampler = { name = "random", seed = 0 }
n_trials = 4
[study.params]
"optimizer.lr" = { low = 0.01, high = 0.5, log = true }
"""


def _lines(data: bytes) -> list[bytes]:
    """The complete lines of ``data``, each with its newline."""
    lines = data.split(b"\n")[:-1]
    return [line + b"\n" for line in lines]


def _plain_optuna(path: Path) -> optuna.Study:
    return optuna.load_study(
        study_name="tiny", storage=JournalStorage(JournalFileBackend(str(path)))
    )


@pytest.fixture(scope="module")
def real_journal(tmp_path_factory, invoke) -> bytes:
    """The bytes of a real study's journal, written by ``sweepnp study run`` in a process that
    has ended, as a crashed one would have: a trial the cut leaves running belongs to a dead
    worker (one of this process would be taken for a live one, and waited for). The process is
    a fork of this one, so that it starts with everything imported."""
    folder = tmp_path_factory.mktemp("real")
    (folder / "tiny.toml").write_text(TINY)
    journal = folder / "tiny.journal"

    def study_run() -> None:
        done = invoke("study", "run", "tiny.toml", "--storage", journal, "--quiet", cwd=folder)
        sys.exit(done.exit_code)

    process = multiprocessing.get_context("fork").Process(target=study_run)
    process.start()
    process.join(timeout=300)
    assert process.exitcode == 0
    return journal.read_bytes()


@pytest.fixture
def fast_folder():
    """A folder in memory (/dev/shm) where there is one: a thousand fsyncs cost nothing there."""
    root = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="sweepnp-cuts-", dir=root))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_journal_cut_at_every_byte_of_its_last_three_records_loses_only_the_cut_record(
    real_journal, fast_folder
):
    lines = _lines(real_journal)
    assert len(lines) > 10 and b"".join(lines) == real_journal
    starts = [sum(map(len, lines[:i])) for i in range(len(lines) + 1)]
    first = starts[-4]  # the start of the third record from the end
    path = fast_folder / "cut.journal"
    for cut in range(first + 1, len(real_journal)):
        whole = sum(1 for end in starts[1:] if end <= cut)  # complete records before the cut
        partial = real_journal[starts[whole] : cut]
        path.write_bytes(real_journal[:cut])
        for sidecar in fast_folder.glob("cut.journal.torn-*"):
            sidecar.unlink()

        # open (the torn tail is set aside at once), append, reopen, read all
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            study = optuna.load_study(study_name="tiny", storage=open_storage(str(path)))
        repairs = [w for w in caught if issubclass(w.category, JournalRepairWarning)]
        if partial:
            assert len(repairs) == 1, cut
            message = str(repairs[0].message)
            assert f"{len(partial)} bytes" in message and "cut.journal.torn-" in message
            (sidecar,) = fast_folder.glob("cut.journal.torn-*")
            assert sidecar.read_bytes() == partial  # the partial bytes are kept, not dropped
        else:
            assert repairs == [], cut
        study.set_user_attr("after_the_cut", cut)

        data = path.read_bytes()
        assert data.startswith(b"".join(lines[:whole]))  # every complete record is there
        assert len(_lines(data)) == whole + 1 and data.endswith(b"\n")
        assert all(json.loads(line) for line in _lines(data))  # nothing glued
        for reader in (open_storage(str(path)), JournalStorage(JournalFileBackend(str(path)))):
            reopened = optuna.load_study(study_name="tiny", storage=reader)
            assert reopened.user_attrs["after_the_cut"] == cut


def _trial_records_before(journal: bytes, cut: int) -> set[int]:
    """Numbers of the trials that were finished in the complete records before ``cut``."""
    path = Path(tempfile.mkdtemp()) / "prefix.journal"
    path.write_bytes(b"".join(_lines(journal[:cut])))
    try:
        study = _plain_optuna(path)
        return {t.number for t in study.get_trials() if t.state.is_finished()}
    finally:
        shutil.rmtree(path.parent)


@pytest.mark.parametrize("back", [1, 40, 200, 500])
def test_study_run_resumes_a_torn_journal_to_exactly_n_trials(invoke, real_journal, tmp_path, back):
    lines = _lines(real_journal)
    # inside the last trial's final append: its record, stop reason, curve and state
    records = [i for i, line in enumerate(lines) if b'{"sweepnp":{"stop_reason"' in line]
    cut = sum(map(len, lines[: records[-1]])) + back
    assert cut < len(real_journal)
    journal = tmp_path / "tiny.journal"
    journal.write_bytes(real_journal[:cut])
    finished_before = _trial_records_before(real_journal, cut)
    (tmp_path / "tiny.toml").write_text(TINY)

    done = invoke("study", "run", "tiny.toml", "--storage", journal, "--quiet", cwd=tmp_path)
    assert done.exit_code == 0, done.stderr
    assert "Traceback" not in done.stderr
    warning_lines = [line for line in done.stderr.splitlines() if "unfinished write" in line]
    assert len(warning_lines) == 1, done.stderr  # one line: how many bytes, and where
    assert list(tmp_path.glob("tiny.journal.torn-*"))
    trials = _plain_optuna(journal).get_trials()
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 4
    assert finished_before <= {t.number for t in trials if t.state.is_finished()}
    for trial in trials:
        if trial.number in finished_before:
            assert trial.state in (TrialState.COMPLETE, TrialState.PRUNED)


def test_a_journal_glued_by_an_older_version_is_repaired(real_journal, tmp_path):
    """Older sweepnp (and Optuna's own writer) appended after a torn tail, gluing the next record
    to the partial one: the line after the glue made every later read fail."""
    lines = _lines(real_journal)
    cut = len(real_journal) - len(lines[-1]) // 2
    path = tmp_path / "glued.journal"
    path.write_bytes(real_journal[:cut])
    # Optuna's own writer glues its record to the partial line
    glued = _plain_optuna(path)
    glued.set_user_attr("glued", True)
    with pytest.raises(json.JSONDecodeError):  # written, then Optuna cannot read its journal
        glued.set_user_attr("after", True)
    with pytest.raises(json.JSONDecodeError):
        _plain_optuna(path)

    with pytest.warns(JournalRepairWarning, match="1 broken record"):
        study = optuna.load_study(study_name="tiny", storage=open_storage(str(path)))
    assert study.user_attrs["glued"] is True and study.user_attrs["after"] is True
    assert len(study.get_trials()) == 4
    (sidecar,) = tmp_path.glob("glued.journal.torn-*")
    assert sidecar.read_bytes() == real_journal[len(real_journal) - len(lines[-1]) : cut]
    # repaired for everyone: plain Optuna reads it again
    assert _plain_optuna(path).user_attrs == study.user_attrs


# -------------------------------------------------------------------------
# A real full disk
# -------------------------------------------------------------------------


@pytest.fixture
def small_disk():
    """A 96 KiB tmpfs mounted for the test (needs root and mount rights, else skipped)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and the mount command")
    point = Path(tempfile.mkdtemp(prefix="sweepnp-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(point)], capture_output=True
    )
    if mounted.returncode != 0:
        point.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")

    def resize(size: str, *flags: str) -> None:
        options = ",".join(["remount", f"size={size}", *flags])
        subprocess.run(["mount", "-o", options, str(point)], check=True)

    yield point, resize
    subprocess.run(["umount", "--lazy", str(point)], check=False)  # lazy: a handle may be open
    point.rmdir()


def _fill(folder: Path) -> None:
    """Leave no free block on the file system."""
    filler = folder / f"filler-{uuid.uuid4().hex}"
    with open(filler, "wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 4096)


@pytest.mark.slow  # a real process: the one the full disk ends must exit cleanly
def test_a_full_disk_ends_the_run_cleanly_and_the_study_resumes(invoke, small_disk, tmp_path):
    point, resize = small_disk
    journal = point / "tiny.journal"
    study_file = tmp_path / "tiny.toml"
    study_file.write_text(TINY.replace("n_trials = 4", "n_trials = 60"))
    command = [sys.executable, "-m", "sweepnp.cli", "study", "run", str(study_file),
               "--storage", str(journal), "--quiet"]  # fmt: skip

    full = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert full.returncode == 2, full.stderr
    assert "Traceback" not in full.stderr
    (line,) = full.stderr.strip().splitlines()
    assert line.startswith("Error: cannot write to the journal")
    assert "No space left on device" in line and "resumes the study" in line
    data = journal.read_bytes()
    assert data.endswith(b"\n")  # the journal ends on a complete record
    before = _plain_optuna(journal).get_trials()
    assert 1 <= sum(t.state == TrialState.COMPLETE for t in before) < 60

    resize("8m")  # space returns; the study resumes (in this process)
    resumed = invoke(*command[3:], cwd=tmp_path)
    assert resumed.exit_code == 0, resumed.stderr
    trials = _plain_optuna(journal).get_trials()
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 60
    for old in before:
        if old.state.is_finished():
            assert trials[old.number].state == old.state  # nothing complete was lost


def test_a_failed_append_cuts_the_journal_back_to_its_last_record(small_disk):
    point, resize = small_disk
    path = point / "direct.journal"
    backend = JournalFile(path)
    backend.write([{"op_code": 0, "worker_id": "w", "study_name": "s", "directions": [1]}])
    complete = path.read_bytes()
    _fill(point)
    big = {"op_code": 9, "worker_id": "w", "pad": "x" * 200_000}  # larger than what is left
    with pytest.raises(JournalWriteError, match="No space left on device"):
        backend.write([big])
    assert path.read_bytes() == complete

    resize("8m", "ro")  # a read-only file system
    with pytest.raises(JournalWriteError, match="Read-only file system"):
        JournalFile(path).write([{"op_code": 9, "worker_id": "w"}])
    assert path.read_bytes() == complete


def test_the_locks_need_no_room_on_a_full_disk(small_disk):
    """A journal written before its lock files existed (by an older version) on a full disk:
    taking the locks creates their empty files, which needs no data block, so the append fails
    with its own error (and the journal is unchanged) and the budget lock is taken."""
    from sweepnp.study.storage import budget_lock

    point, _ = small_disk
    path = point / "old.journal"
    record = b'{"op_code":0,"worker_id":"w","study_name":"s","directions":[1]}\n'
    path.write_bytes(record)  # no sweepnp wrote it: no lock file yet
    _fill(point)
    storage = open_storage(str(path))
    big = {"op_code": 9, "worker_id": "w", "pad": "x" * 200_000}  # larger than what is left
    with budget_lock(str(path), "s", storage), pytest.raises(JournalWriteError) as failed:
        JournalFile(path).write([big])
    message = str(failed.value)
    assert message.startswith("cannot write to the journal")
    assert "No space left on device" in message
    assert path.read_bytes() == record
    for lock in ("old.journal.flock", "old.journal.budget.flock"):
        assert (point / lock).stat().st_size == 0  # nothing is ever written to a lock file


def test_a_torn_tail_on_a_full_disk_is_never_glued_to(small_disk):
    point, _ = small_disk
    path = point / "torn.journal"
    path.write_bytes(b'{"op_code":0,"worker_id":"w","study_name":"s","directions":[1]}\n{"op_co')
    _fill(point)
    with pytest.warns(JournalRepairWarning, match="could not be set aside"):
        backend = JournalFile(path)  # no room for the sidecar: the tail stays, and is skipped
    assert len(backend.read_logs(0)) == 1
    with pytest.raises(JournalWriteError, match="could not be set aside"):
        backend.write([{"op_code": 9, "worker_id": "w"}])
    assert path.read_bytes().endswith(b'{"op_co')  # nothing was glued to it


@pytest.mark.slow  # a real process: the one the full disk ends must exit cleanly
def test_sqlite_on_a_full_disk_ends_cleanly_and_resumes(invoke, small_disk, tmp_path):
    point, resize = small_disk
    resize("144k")  # room for the tables and some trials, not for all
    url = f"sqlite:///{point / 'tiny.db'}"
    study_file = tmp_path / "tiny.toml"
    study_file.write_text(TINY.replace("n_trials = 4", "n_trials = 40"))
    command = [sys.executable, "-m", "sweepnp.cli", "study", "run", str(study_file),
               "--storage", url, "--quiet"]  # fmt: skip

    full = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert full.returncode == 2, full.stderr
    assert "Traceback" not in full.stderr
    (line,) = full.stderr.strip().splitlines()
    assert line.startswith(f"Error: the storage {url} failed: ") and "full" in line

    resize("16m")  # space returns; the study resumes (in this process)
    resumed = invoke(*command[3:], cwd=tmp_path)
    assert resumed.exit_code == 0, resumed.stderr
    storage = optuna.storages.RDBStorage(url)
    trials = optuna.load_study(study_name="tiny", storage=storage).get_trials()
    storage.engine.dispose()
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 40
