"""Start-up: a run on a bundled data set imports none of the heavy libraries sweepnp uses
elsewhere (scikit-learn, SciPy, pandas, matplotlib), each of which costs a noticeable fraction
of a second (docs/performance.md, "Start-up")."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ("sklearn", "scipy", "pandas", "matplotlib")

RUN = """
[data]
dataset = "breast_cancer"
[model]
hidden = [8]
[train]
epochs = 1
[regularizers]
l2 = { lam = 0.001 }
dropout = { rate = 0.1 }
[callbacks]
early_stopping = { monitor = "val_loss", patience = 3 }
"""

STUDY = (
    RUN
    + """
[study]
name = "startup"
metric = "val_accuracy"
sampler = { name = "tpe", seed = 0 }
pruner = { name = "median", n_warmup_steps = 5 }
n_trials = 1
[study.params]
"train.batch_size" = { choices = [16, 32, 64] }
"regularizers.l2.lam" = { low = 1e-5, high = 1e-1, log = true }
"regularizers.dropout.rate" = { low = 0.0, high = 0.5 }
"callbacks.early_stopping.patience" = { low = 2, high = 6 }
"""
)


def imported_modules(args: list[str], cwd) -> set[str]:
    """The top-level packages a real ``sweepnp`` command imports (``python -X importtime``)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPROFILEIMPORTTIME"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sweepnp.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = done.stderr.splitlines()
    assert done.returncode == 0, "\n".join(line for line in lines if "import time" not in line)
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in lines
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize(
    ("file", "text", "args"),
    [
        ("one.toml", STUDY, ["study", "run", "one.toml", "--storage", "one.journal", "--quiet"]),
        ("run.toml", RUN, ["train", "run.toml"]),
        ("run.toml", RUN, ["gradcheck", "run.toml"]),
        ("run.toml", RUN, ["surface", "rosenbrock", "--optimizer", "adam:lr=0.01"]),
    ],
    ids=["study run", "train", "gradcheck", "surface"],
)
def test_a_run_on_a_bundled_data_set_imports_no_heavy_library(tmp_path, file, text, args):
    (tmp_path / file).write_text(text)
    modules = imported_modules(args, tmp_path)
    assert "sweepnp" in modules and "numpy" in modules  # the listing worked
    assert sorted(modules & set(HEAVY)) == []
