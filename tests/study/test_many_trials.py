"""What the commands say of studies of many trials: the run's summary counts the trials tied
with the best instead of naming hundreds, ``study show`` lists the tied trials first in number
order, and ``study list`` reads a storage without importing pandas (half a second)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

TIED = 8


@pytest.fixture
def tied_study(study_dict, tmp_path, write_study):
    """A study whose every trial ties: patience longer than the training, one seed for all."""
    study_dict["callbacks"]["early_stopping"] = {"monitor": "val_loss", "patience": 50}
    study_dict["study"].update(
        n_trials=TIED,
        sampler={"name": "random", "seed": 0},
        params={"callbacks.early_stopping.patience": {"low": 50, "high": 90}},
    )
    return write_study(tmp_path / "tied.toml", study_dict)


def test_the_summary_counts_many_tied_trials_and_show_lists_them_first(invoke, tied_study, journal):
    done = invoke("study", "run", tied_study, "--storage", journal, "--quiet")
    assert done.exit_code == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("best "))
    value = line.split()[2]
    assert line == (
        f"best val_accuracy {value} at trial 0; {TIED} trials tie at {value} "
        f"(sweepnp study show --limit {TIED} lists them):"
    )
    assert "tied with" not in done.stdout
    shown = invoke("study", "show", "small", "--storage", journal, "-f", "json", "--limit", TIED)
    assert [row["number"] for row in json.loads(shown.stdout)] == list(range(TIED))


def test_a_few_tied_trials_are_named(invoke, tied_study, journal):
    done = invoke("study", "run", tied_study, "--storage", journal, "--quiet", "--n-trials", 3)
    assert done.exit_code == 0, done.stderr
    assert " at trial 0 (tied with trials 1, 2):\n" in done.stdout


@pytest.mark.slow  # real processes
def test_study_list_imports_no_pandas(small_journal):
    code = (
        "import sys\n"
        "from sweepnp.cli.app import main\n"
        "try:\n"
        f"    main(['study', 'list', '--storage', {small_journal!r}], standalone_mode=False)\n"
        "finally:\n"
        "    heavy = ('pandas', 'scipy', 'sklearn', 'matplotlib')\n"
        "    print('IMPORTED', [m for m in heavy if m in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "small" in done.stdout  # the table, with the study
    assert done.stdout.rstrip().endswith("IMPORTED []")
