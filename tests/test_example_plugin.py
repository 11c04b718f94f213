"""The example third-party plugin, examples/sweepnp-lion, installed with pip and used end to end.

A fresh virtual environment is made from the base interpreter, and pip installs sweepnp and the
example into it — both as wheels built from copies of their sources (so neither source tree gets
build output), without their dependencies. Those dependencies (NumPy, Optuna, ...) are the test
environment's own: a ``.pth`` file, written after the installation, adds this environment's
site-packages to the fresh one's path. Then the fresh environment's own ``sweepnp`` command lists
the plugin and runs the example's study file, and its Python runs the example's tests.

The builds are isolated, as a user's ``pip install`` is: pip fetches setuptools from PyPI (or its
cache) for them.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds two wheels and a fresh virtual environment

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "sweepnp-lion"
PYPROJECT = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
STUDY = tomllib.loads((EXAMPLE / "studies" / "lion.toml").read_text())


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _copy_sweepnp_sources(destination: Path) -> Path:
    """Top-level files and the package folders pyproject.toml names: what a build reads."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {*tool.get("package-dir", {}).values()}
    folders |= {
        name
        for name in tool["packages"]
        if "." not in name and name not in tool.get("package-dir", {})
    }
    destination.mkdir()
    for path in ROOT.iterdir():
        if path.is_file():
            shutil.copy2(path, destination / path.name)
    for folder in folders:
        shutil.copytree(
            ROOT / folder, destination / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return destination


def _environment() -> dict[str, str]:
    """The test process's environment minus anything that would point Python elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSAFEPATH"}
        and not k.startswith("SWEEPNP_")
    }
    return {
        **env,
        "PYTHONNOUSERSITE": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    }


def _run(args: list, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Fresh:
    """A fresh virtual environment with sweepnp and the example plugin installed by pip."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.venv = root / "venv"
        self.python = self.venv / "bin" / "python"
        self.sweepnp = self.venv / "bin" / "sweepnp"
        self.example = root / "sweepnp-lion"  # the copy that was installed
        self.work = root / "work"  # the working directory of the commands
        self.example_before: set[str] = set()  # the example's source tree before installing

    def run(self, *args: object, timeout: float = 300) -> subprocess.CompletedProcess:
        return _run([*args], cwd=self.work, timeout=timeout)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Fresh:
    env = Fresh(tmp_path_factory.mktemp("example-plugin"))
    env.example_before = _snapshot(EXAMPLE)
    sweepnp_sources = _copy_sweepnp_sources(env.root / "sweepnp")
    ignore = shutil.ignore_patterns("__pycache__", "build", "*.egg-info", ".pytest_cache")
    shutil.copytree(EXAMPLE, env.example, ignore=ignore)
    env.work.mkdir()

    base = getattr(sys, "_base_executable", None) or sys.executable
    done = _run([base, "-m", "venv", "--without-pip", env.venv], cwd=env.root)
    assert done.returncode == 0, done.stderr
    # This environment's pip installs into the fresh one (`pip --python`, pip >= 22.3).
    pip = [sys.executable, "-m", "pip", "--python", env.python]
    done = _run([*pip, "install", "--no-deps", sweepnp_sources, env.example], cwd=env.root)
    assert done.returncode == 0, done.stdout + done.stderr
    # Only now borrow the dependencies: the builds above saw none of this environment.
    site = _run(
        [env.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=env.root,
    )
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(site.stdout.strip()) / "borrowed-dependencies.pth").write_text("\n".join(ours) + "\n")
    return env


def test_pip_installed_sweepnp_and_the_plugin_into_the_fresh_environment(fresh):
    assert fresh.sweepnp.is_file()
    code = (
        "import json, sweepnp, sweepnp_lion; from importlib import metadata; "
        "print(json.dumps([sweepnp.__file__, sweepnp_lion.__file__, "
        "metadata.distribution('sweepnp-lion').entry_points.select(group='sweepnp')['lion'].value]))"
    )
    done = fresh.run(fresh.python, "-c", code)
    assert done.returncode == 0, done.stderr
    sweepnp_file, lion_file, entry_point = json.loads(done.stdout)
    # both come from the fresh environment's site-packages, not from a source tree
    assert Path(sweepnp_file).is_relative_to(fresh.venv)
    assert Path(lion_file).is_relative_to(fresh.venv)
    assert entry_point == "sweepnp_lion"


def test_sweepnp_plugins_list_shows_lion_with_its_distribution(fresh):
    done = fresh.run(fresh.sweepnp, "plugins", "list", "--json")
    assert done.returncode == 0, done.stderr
    plugins = json.loads(done.stdout)
    assert [p["name"] for p in plugins] == ["lion"]  # third-party plugins only, without --all
    (lion,) = plugins
    assert lion["distribution"] == PYPROJECT["project"]["name"] == "sweepnp-lion"
    assert lion["version"] == PYPROJECT["project"]["version"]
    assert lion["state"] == "loaded"
    assert lion["provides"] == {"optimizers": ["lion"], "callbacks": ["log_to_csv"]}
    assert lion["hooks"] == ["sweepnp_register_optimizers", "sweepnp_register_callbacks"]

    table = fresh.run(fresh.sweepnp, "plugins", "list")
    assert table.returncode == 0, table.stderr
    assert "optimizers: lion; callbacks: log_to_csv" in table.stdout


def test_the_example_study_trains_every_trial_with_lion(fresh):
    journal = fresh.work / "lion.journal"
    study_file = fresh.example / "studies" / "lion.toml"
    done = fresh.run(fresh.sweepnp, "study", "run", study_file, "--storage", journal, "--quiet")
    assert done.returncode == 0, done.stderr
    n_trials = STUDY["study"]["n_trials"]
    assert f"study lion in {journal}: {n_trials} complete" in done.stdout

    exported = fresh.run(
        fresh.sweepnp, "study", "export", "lion", "--storage", journal, "--format", "json"
    )
    assert exported.returncode == 0, exported.stderr
    trials = json.loads(exported.stdout)
    assert [t["state"] for t in trials] == ["complete"] * n_trials
    assert all(t["stop_reason"] == "completed" for t in trials)

    code = (
        "import json, sys, sweepnp.results as r; res = r.load('lion', sys.argv[1]); "
        "print(json.dumps([res.config['optimizer'], res.trials['optimizer.lr'].tolist()]))"
    )
    stored = fresh.run(fresh.python, "-c", code, journal)
    assert stored.returncode == 0, stored.stderr
    optimizer, trial_lrs = json.loads(stored.stdout)
    assert optimizer["name"] == "lion"

    # log_to_csv wrote one file per trial, one row per epoch, at the lr Optuna chose for it
    logs = sorted((fresh.work / "sweepnp-logs").glob("lion-*.csv"))
    assert len(logs) == n_trials
    lrs = []
    for log in logs:
        with log.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [int(row["epoch"]) for row in rows] == list(range(STUDY["train"]["epochs"]))
        assert len({row["lr"] for row in rows}) == 1  # the constant schedule
        lrs.append(float(rows[0]["lr"]))
    assert sorted(lrs) == sorted(trial_lrs)


def test_the_examples_own_tests_pass_in_the_fresh_environment(fresh):
    # -P: the working directory is not on sys.path, so the installed sweepnp_lion is tested
    done = fresh.run(
        fresh.python, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", fresh.example / "tests"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary
    assert "skipped" not in summary and "failed" not in summary
    assert int(summary.split()[0]) >= 20  # the two contracts' checks and the plugin's own


def test_nothing_leaks_into_the_test_environment_or_the_source_tree(fresh):
    assert _snapshot(EXAMPLE) == fresh.example_before  # no build/, no *.egg-info
    done = _run([sys.executable, "-m", "sweepnp.cli", "plugins", "list", "--json"], cwd=fresh.work)
    assert done.returncode == 0, done.stderr
    assert "lion" not in {p["name"] for p in json.loads(done.stdout)}
    code = (
        "import importlib.util, importlib.metadata as m; "
        "print(importlib.util.find_spec('sweepnp_lion'), "
        "[d.metadata['Name'] for d in m.distributions() if 'lion' in d.metadata['Name']])"
    )
    done = _run([sys.executable, "-c", code], cwd=fresh.work)
    assert done.stdout.strip() == "None []", done.stderr
