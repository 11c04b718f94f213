"""The two study loops — one trial at a time (``worker``) and stacked (``stacked_loop``) — and
the steps they share (``ask_tell``): how they import each other, what a plugin that fails only
when stacked leaves in the record, what a study whose every trial failed says, and the notice
for plugins that do not declare themselves stackable."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "sweepnp" / "study"
LOOPS = {"worker": STUDY / "worker.py", "stacked_loop": STUDY / "stacked_loop.py"}
SHARED = STUDY / "ask_tell.py"


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module imported, whether at module level) for every import of sweepnp's in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found.extend((name, id(node) in top) for name in names if name.startswith("sweepnp"))
    return found


def test_the_stacked_loop_and_the_shared_steps_never_import_the_worker():
    for path in (LOOPS["stacked_loop"], SHARED):
        imported = {name for name, _ in _imports(path)}
        assert "sweepnp.study.worker" not in imported, path.name
    assert "sweepnp.study.stacked_loop" not in {name for name, _ in _imports(SHARED)}


def test_the_loops_import_what_they_use_at_module_level():
    """No import inside a function of the loop modules dodges a cycle: every sweepnp.study
    import of theirs is at the top."""
    for path in (*LOOPS.values(), SHARED):
        inner = [n for n, top in _imports(path) if n.startswith("sweepnp.study") and not top]
        assert inner == [], f"{path.name} imports {inner} inside a function"
    assert ("sweepnp.study.stacked_loop", True) in _imports(LOOPS["worker"])


@pytest.mark.slow
def test_the_stacked_loop_imports_alone_without_the_worker():
    """In a fresh process: the stacked loop, imported first, does not pull in the worker."""
    code = (
        "import sys, sweepnp.study.stacked_loop\n"
        "assert 'sweepnp.study.worker' not in sys.modules, 'worker imported'\n"
        "import sweepnp.study.worker\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# -------------------------------------------------------------------------
# A third-party plugin that raises only when stacked
# -------------------------------------------------------------------------

DECAYING_MODULE = '''
"""A third-party optimizer that trains alone but not stacked: a Python ``if`` on its option,
one number alone, is an array of them (one per trial) in a stack."""

from sweepnp import Optimizer, hookimpl


class DecayingSGD(Optimizer):
    stackable = True  # declared, though its update does not work stacked

    def __init__(self, lr: float = 0.1, decay: float = 0.0) -> None:
        self.lr = lr
        self.decay = decay

    def update(self, param, grad, state, lr):
        if self.decay > 0:
            lr = lr / (1 + self.decay * self.t)
        param -= lr * grad


@hookimpl
def sweepnp_register_optimizers():
    return {"decaying": DecayingSGD}
'''


def _install(site: Path, name: str, module: str) -> Path:
    """A distribution as pip installs one: its module and a dist-info naming its entry point."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{name}.py").write_text(module)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[sweepnp]\n{name} = {name}\n")
    return site


@pytest.fixture
def decaying_site(tmp_path: Path) -> Path:
    return _install(tmp_path / "site", "sweepnp_decaying", DECAYING_MODULE)


def _decaying_study(study_dict, n_trials: int = 4) -> dict:
    """Random decays (all > 0), no pruner: the first ``n_trials`` trials fill one stack."""
    study_dict["callbacks"] = {}
    study_dict["regularizers"] = {}
    study_dict["train"]["epochs"] = 2
    study_dict["optimizer"] = {"name": "decaying", "lr": 0.1, "decay": 0.1}
    study_dict["study"].update(sampler={"name": "random", "seed": 0}, n_trials=n_trials)
    study_dict["study"]["params"] = {"optimizer.decay": {"low": 0.1, "high": 0.5}}
    return study_dict


def test_a_plugin_that_raises_only_stacked_fails_its_trials_naming_it_and_both_ways_out(
    study_dict, journal, tmp_path, write_study, installed, decaying_site
):
    from sweepnp import results
    from sweepnp.study.worker import run_study

    path = write_study(tmp_path / "decaying.toml", _decaying_study(study_dict))
    with installed(decaying_site):
        run_study(path, storage=journal, stack=4, name="stacked")
        run_study(path, storage=journal, stack=1, name="alone")
    stacked = results.load("stacked", journal).trials
    assert (stacked["state"] == "fail").all() and len(stacked) == 4
    reason = stacked["reason"].iloc[0]
    assert reason.startswith(
        "failed: plugin 'sweepnp_decaying': optimizer 'decaying' (DecayingSGD.update) raised "
        "ValueError: The truth value of an array"
    ), reason
    assert "while training stacked with 3 other runs" in reason
    assert "declare `stackable = False` on DecayingSGD" in reason
    assert reason.endswith("train every trial one at a time with study.stack = 1")
    assert "--stack" not in reason  # the library names the study file's key, not a flag
    # one at a time, the same configurations train
    alone = results.load("alone", journal).trials
    assert (alone["state"] == "complete").all() and len(alone) == 4


# -------------------------------------------------------------------------
# A study whose every trial failed
# -------------------------------------------------------------------------


def test_a_study_whose_every_trial_failed_exits_1_with_the_count_and_the_commonest_reason(
    invoke, study_dict, tmp_path, write_study, journal, decaying_site
):
    path = write_study(tmp_path / "decaying.toml", _decaying_study(study_dict))
    command = ["study", "run", path, "--storage", journal, "--stack", "4"]
    done = invoke(*command, sites=(decaying_site,))
    assert done.exit_code == 1, done.output
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith(
        "Error: all 4 trials failed; 4 of them: failed: plugin 'sweepnp_decaying': optimizer "
        "'decaying' (DecayingSGD.update) raised ValueError: The truth value"
    ), error
    # the command line gives its own option beside the study file's key, there and per trial
    assert error.endswith("train every trial one at a time with study.stack = 1 (--stack 1)")
    trial_lines = [line for line in done.stderr.splitlines() if line.startswith("trial ")]
    assert len(trial_lines) == 4
    assert all("with study.stack = 1 (--stack 1) | best" in line for line in trial_lines)
    # one at a time the same study trains: exit 0
    done = invoke(*command[:-1], "1", "--name", "alone", sites=(decaying_site,))
    assert done.exit_code == 0, done.output


def test_a_study_with_one_trial_that_did_not_fail_exits_0(
    invoke, study_dict, tmp_path, write_study, journal, decaying_site
):
    """Three trials fail stacked; the fourth, asked when the stack has room again, trains
    alone in its stack and completes: not every trial failed."""
    study_dict = _decaying_study(study_dict, n_trials=4)
    path = write_study(tmp_path / "decaying.toml", study_dict)
    command = ["study", "run", path, "--storage", journal, "--stack", "3", "--quiet"]
    done = invoke(*command, sites=(decaying_site,))
    assert done.exit_code == 0, done.output
    assert "Error" not in done.stderr
    assert ": 1 complete, 3 fail" in done.stdout


# -------------------------------------------------------------------------
# One notice per study run for plugins that do not declare themselves stackable
# -------------------------------------------------------------------------

ALONE_MODULE = '''
"""A third-party optimizer that says its trials cannot train stacked."""

from sweepnp import Optimizer, hookimpl


class AloneSGD(Optimizer):
    stackable = False

    def __init__(self, lr: float = 0.1) -> None:
        self.lr = lr

    def update(self, param, grad, state, lr):
        param -= lr * grad


@hookimpl
def sweepnp_register_optimizers():
    return {"alone": AloneSGD}
'''

NOTICE = (
    "plugin class AloneSGD (optimizers.alone) does not declare stackable = True: trials using "
    "it train one at a time; once sweepnp.testing's stacking contract passes, declare "
    "`stackable = True` on the class to train them stacked"
)


def _alone_study(study_dict, n_trials: int) -> dict:
    study_dict["train"]["epochs"] = 2
    study_dict["optimizer"] = {"name": "alone", "lr": 0.1}
    study_dict["study"].update(sampler={"name": "random", "seed": 0}, n_trials=n_trials)
    study_dict["study"]["repeats"] = 2
    return study_dict


def test_a_plugin_not_declared_stackable_is_named_once_per_study_run(
    study_dict, journal, tmp_path, write_study, installed
):
    from sweepnp import results
    from sweepnp.errors import SweepnpWarning
    from sweepnp.study.worker import run_study

    site = _install(tmp_path / "site", "sweepnp_alone", ALONE_MODULE)
    path = write_study(tmp_path / "alone.toml", _alone_study(study_dict, n_trials=3))
    with installed(site), pytest.warns(SweepnpWarning) as caught:
        run_study(path, storage=journal, stack=4)
    said = [str(w.message) for w in caught if "stackable" in str(w.message)]
    assert said == [NOTICE]  # six runs trained alone, one notice
    trials = results.load("small", journal).trials
    assert len(trials) == 3 and (trials["state"] == "complete").all()


@pytest.mark.slow
def test_the_notice_is_said_once_by_the_workers_of_one_run(
    cli, study_dict, tmp_path, write_study, journal
):
    """Two worker processes (--jobs 2), each training runs of the plugin: one notice."""
    site = _install(tmp_path / "site", "sweepnp_alone", ALONE_MODULE)
    path = write_study(tmp_path / "alone.toml", _alone_study(study_dict, n_trials=6))
    done = cli(
        "study", "run", str(path), "--storage", journal, "--jobs", "2", "--stack", "4",
        env={"PYTHONPATH": str(site), "COLUMNS": "1000"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    import optuna

    from sweepnp.study.record import WORKER_ATTR
    from sweepnp.study.storage import open_storage

    trials = optuna.load_study(study_name="small", storage=open_storage(journal)).get_trials()
    assert len(trials) == 6
    assert len({t.user_attrs[WORKER_ATTR] for t in trials}) == 2  # both trained the plugin
    assert done.stderr.count("does not declare stackable") == 1, done.stderr
    assert f"Warning: {NOTICE}" in done.stderr
