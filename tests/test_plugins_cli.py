"""`sweepnp plugins list` and third-party plugins in use, with real distributions on disk.

Each third-party plugin here is an installed distribution in the layout pip leaves behind: a
``*.dist-info`` directory (METADATA, entry_points.txt) next to the plugin's module, in a directory
on sys.path (``invoke(..., sites=...)`` puts it there for one command run in this process, as
PYTHONPATH does for a process; ``python -m sweepnp`` runs as a real process). One of them raises on
import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import sweepnp
from sweepnp.plugins import KINDS, PluginManager

GOOD_MODULE = """
    import numpy as np

    from sweepnp import Callback, Optimizer, hookimpl, options


    class SignSGD(Optimizer):
        def __init__(self, lr: float = 0.01) -> None:
            options.positive("lr", lr)
            self.lr = lr

        def update(self, param, grad, state, lr):
            param -= lr * np.sign(grad)


    class CountEpochs(Callback):
        def on_epoch_end(self, epoch, logs):
            self.trainer.info["epochs_counted"] = epoch + 1


    @hookimpl
    def sweepnp_register_optimizers():
        return {"signsgd": SignSGD}


    @hookimpl
    def sweepnp_register_callbacks():
        return {"count_epochs": CountEpochs}


    @hookimpl
    def sweepnp_on_train_end(trainer, logs):
        trainer.info["signsgd_plugin_saw_the_run"] = True
"""

BROKEN_MODULE = """
    raise ImportError("sweepnp_broken_example needs libfoo, which is not installed")
"""


def install(site: Path, name: str, version: str, entry_points: dict[str, str], module: str):
    """Write a distribution the way pip installs one: its module and its dist-info directory."""
    module_name = next(iter(entry_points.values()))
    (site / f"{module_name}.py").write_text(textwrap.dedent(module))
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Dist: sweepnp\n"
    )
    lines = "".join(f"{ep} = {value}\n" for ep, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[sweepnp]\n{lines}")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site-packages")
    install(site, "sweepnp-signsgd", "1.2.3", {"signsgd": "sweepnp_signsgd"}, GOOD_MODULE)
    install(
        site, "sweepnp-broken-example", "0.3", {"broken": "sweepnp_broken_example"}, BROKEN_MODULE
    )
    return site


@pytest.fixture
def with_plugins(site) -> tuple[Path, ...]:
    """Where both distributions are installed."""
    return (site,)


def plugins_json(invoke, *args: str, sites: tuple[Path, ...] = (), env=None) -> list[dict]:
    done = invoke("plugins", "list", "--json", *args, sites=sites, env=env)
    assert done.exit_code == 0, done.stderr
    return json.loads(done.stdout)  # fails on anything but one JSON document


def test_json_lists_each_third_party_plugin_and_nothing_built_in(invoke, with_plugins):
    plugins = {p["name"]: p for p in plugins_json(invoke, sites=with_plugins)}
    assert {"signsgd", "broken"} <= set(plugins)
    assert not any(p["builtin"] for p in plugins.values())
    assert plugins["signsgd"] == {
        "name": "signsgd",
        "distribution": "sweepnp-signsgd",
        "version": "1.2.3",
        "builtin": False,
        "state": "loaded",
        "module": "sweepnp_signsgd",
        "provides": {"optimizers": ["signsgd"], "callbacks": ["count_epochs"]},
        # in lifecycle order, as docs/hooks.md lists them
        "hooks": [
            "sweepnp_register_optimizers",
            "sweepnp_register_callbacks",
            "sweepnp_on_train_end",
        ],
        "error": None,
    }
    assert plugins["broken"] == {
        "name": "broken",
        "distribution": "sweepnp-broken-example",
        "version": "0.3",
        "builtin": False,
        "state": "broken",
        "module": "sweepnp_broken_example",
        "provides": {},
        "hooks": [],
        "error": "ImportError: sweepnp_broken_example needs libfoo, which is not installed",
    }


def test_the_table_shows_what_each_plugin_provides_and_why_one_is_broken(invoke, with_plugins):
    done = invoke("plugins", "list", sites=with_plugins)
    assert done.exit_code == 0, done.stderr
    rows = {line.split("│")[1].strip(): line for line in done.stdout.splitlines() if "│" in line}
    signsgd = [cell.strip() for cell in rows["signsgd"].split("│")[1:-1]]
    assert signsgd == [
        "signsgd",
        "sweepnp-signsgd",
        "1.2.3",
        "loaded",
        "optimizers: signsgd; callbacks: count_epochs",
        "sweepnp_register_optimizers, sweepnp_register_callbacks, sweepnp_on_train_end",
    ]
    broken = [cell.strip() for cell in rows["broken"].split("│")[1:-1]]
    assert broken[:4] == ["broken", "sweepnp-broken-example", "0.3", "broken"]
    assert broken[4] == "ImportError: sweepnp_broken_example needs libfoo, which is not installed"
    assert "sweepnp_plugins" not in done.stdout


def test_all_adds_every_built_in_plugin_as_part_of_sweepnp(invoke):
    plugins = plugins_json(invoke, "--all")
    builtins = [p for p in plugins if p["builtin"]]
    reference = PluginManager(load_entrypoints=False)
    assert [p["name"] for p in builtins] == reference.builtin_names
    assert {(p["distribution"], p["version"], p["state"]) for p in builtins} == {
        ("sweepnp", sweepnp.__version__, "loaded")
    }
    for kind in KINDS:  # together they provide the whole built-in registry, each name once
        provided = [name for p in builtins for name in p["provides"].get(kind, [])]
        assert sorted(provided) == reference.names(kind)
    adam = next(p for p in builtins if p["name"] == "sweepnp_plugins.optimizers.adam")
    assert adam["provides"] == {"optimizers": ["adam"]}
    assert adam["hooks"] == ["sweepnp_register_optimizers"]


def test_a_broken_plugin_leaves_train_and_study_working(invoke, with_plugins, tmp_path):
    run = tmp_path / "run.toml"
    run.write_text(
        textwrap.dedent(
            """
            [data]
            dataset = "breast_cancer"
            seed = 0
            [model]
            task = "binary"
            hidden = [4]
            [train]
            epochs = 3
            [optimizer]
            name = "signsgd"
            lr = 0.01
            [callbacks]
            count_epochs = {}
            """
        )
    )
    done = invoke("train", run, "--json", sites=with_plugins)
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["stop_reason"] == "completed"

    study = tmp_path / "study.toml"
    study.write_text(
        run.read_text()
        + textwrap.dedent(
            """
            [study]
            name = "signsgd-study"
            metric = "val_loss"
            n_trials = 2
            [study.params]
            "optimizer.lr" = { low = 0.001, high = 0.1, log = true }
            """
        )
    )
    journal = tmp_path / "study.journal"
    done = invoke("study", "run", study, "--storage", journal, "--quiet", sites=with_plugins)
    assert done.exit_code == 0, done.stderr
    assert "2 complete" in done.stdout


def test_a_name_from_a_broken_plugin_is_explained(invoke, with_plugins, tmp_path):
    run = tmp_path / "run.toml"
    run.write_text('[data]\ndataset = "iris"\n[optimizer]\nname = "broken_optimizer"\n')
    done = invoke("train", run, sites=with_plugins)
    assert done.exit_code == 2
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "unknown optimizer 'broken_optimizer'; valid choices: adagrad" in message
    assert "signsgd" in message  # the working third-party plugin's optimizer is a choice
    assert (
        "Plugins that failed to load (sweepnp plugins list): broken (sweepnp-broken-example 0.3):"
        " ImportError: sweepnp_broken_example needs libfoo" in message
    )


def test_autoload_off_lists_no_third_party_plugin(invoke, with_plugins):
    env = {"SWEEPNP_DISABLE_PLUGIN_AUTOLOAD": "1"}
    assert plugins_json(invoke, sites=with_plugins, env=env) == []
    done = invoke("plugins", "list", sites=with_plugins, env=env)
    assert done.exit_code == 0, done.stderr
    assert "SWEEPNP_DISABLE_PLUGIN_AUTOLOAD is set" in done.stderr
    assert "no third-party plugins installed (--all lists the built-in ones)" in done.stdout
    everything = plugins_json(invoke, "--all", sites=with_plugins, env=env)
    assert everything and all(p["builtin"] for p in everything)


def test_an_unknown_option_is_a_usage_error(invoke):
    done = invoke("plugins", "list", "--bogus")
    assert done.exit_code == 2
    assert "No such option: --bogus" in done.stderr or "No such option '--bogus'" in done.stderr


@pytest.mark.slow
def test_python_dash_m_sweepnp_is_the_same_command(site):
    """A real process: ``python -m sweepnp``, and its plugins found through PYTHONPATH."""
    done = subprocess.run(
        [sys.executable, "-m", "sweepnp", "plugins", "list", "--json"],
        env={**os.environ, **_env(site)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "signsgd" in {p["name"] for p in json.loads(done.stdout)}


ANOTHER_SIGNSGD = """
    from sweepnp import Optimizer, hookimpl


    class OtherSignSGD(Optimizer):
        def __init__(self, lr: float = 0.01) -> None:
            self.lr = lr

        def update(self, param, grad, state, lr):
            param -= lr * grad


    @hookimpl
    def sweepnp_register_optimizers():
        return {"signsgd": OtherSignSGD}
"""

RAISING_REGISTRATION = """
    from sweepnp import hookimpl


    @hookimpl
    def sweepnp_register_schedules():
        raise RuntimeError("schedule table missing")
"""


def _env(*sites: Path) -> dict[str, str]:
    """The environment of a process with the distributions in ``sites`` installed."""
    paths = [*map(str, sites), os.environ.get("PYTHONPATH")]
    return {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def test_two_distributions_providing_one_name_is_an_error_naming_both(invoke, site, tmp_path):
    second = tmp_path / "site"
    second.mkdir()
    install(second, "other-signsgd", "2.0", {"other_signsgd": "other_signsgd"}, ANOTHER_SIGNSGD)
    done = invoke("plugins", "list", sites=(site, second))
    assert done.exit_code == 2
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert "two plugins provide the optimizer 'signsgd'" in message
    assert "(distribution sweepnp-signsgd)" in message
    assert "(distribution other-signsgd)" in message


def test_two_distributions_using_one_plugin_name_is_an_error_naming_both(invoke, site, tmp_path):
    second = tmp_path / "site"
    second.mkdir()
    # the same entry-point name as sweepnp-signsgd's, from another distribution
    install(second, "signsgd-fork", "0.9", {"signsgd": "signsgd_fork"}, ANOTHER_SIGNSGD)
    done = invoke("plugins", "list", sites=(site, second))
    assert done.exit_code == 2
    assert done.stderr.strip().endswith(
        "two distributions register the plugin name 'signsgd': sweepnp-signsgd 1.2.3 and "
        "signsgd-fork 0.9; uninstall one of them"
    )


def test_a_plugin_whose_registration_raises_is_listed_broken_and_the_rest_works(invoke, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install(site, "bad-schedules", "0.1", {"bad_schedules": "bad_schedules"}, RAISING_REGISTRATION)
    listed = {p["name"]: p for p in plugins_json(invoke, sites=(site,))}
    assert listed["bad_schedules"]["state"] == "broken"
    assert listed["bad_schedules"]["distribution"] == "bad-schedules"
    assert listed["bad_schedules"]["error"] == (
        "sweepnp_register_schedules raised RuntimeError: schedule table missing"
    )
    run = tmp_path / "run.toml"
    run.write_text('[data]\ndataset = "iris"\n[train]\nepochs = 2\n[schedule]\nname = "cosine"\n')
    done = invoke("train", run, "--json", sites=(site,))
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["stop_reason"] == "completed"


FLAKY_MODULE = """
    from sweepnp import Callback, hookimpl


    class Explodes(Callback):
        def on_epoch_end(self, epoch, logs):
            _fail(epoch)


    def _fail(epoch):
        raise RuntimeError(f"boom at epoch {epoch}")


    @hookimpl
    def sweepnp_register_callbacks():
        return {"explodes": Explodes}


    @hookimpl
    def sweepnp_on_epoch_end(trainer, epoch, logs):
        if trainer.config.train.seed == 7:
            raise ValueError("hook exploded")
"""

FLAKY_RUN = """
[data]
dataset = "breast_cancer"
[model]
hidden = [4]
[train]
epochs = 3
"""


@pytest.fixture(scope="module")
def flaky_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("flaky-site")
    install(site, "sweepnp-flaky", "0.1", {"flaky": "sweepnp_flaky"}, FLAKY_MODULE)
    return site


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (
            ["callbacks.explodes={}"],
            "plugin 'flaky' failed in on_epoch_end: RuntimeError: boom at epoch 0",
        ),
        (
            ["train.seed=7"],
            "plugin 'flaky' failed in sweepnp_on_epoch_end: ValueError: hook exploded",
        ),
    ],
    ids=["in-a-callback", "in-a-lifecycle-hook"],
)
def test_a_plugin_that_raises_in_train_is_named_in_one_line_with_exit_status_1(
    invoke, flaky_site, tmp_path, overrides, line
):
    run = tmp_path / "run.toml"
    run.write_text(FLAKY_RUN)
    sets = [arg for override in overrides for arg in ("--set", override)]
    done = invoke("train", run, *sets, sites=(flaky_site,))
    assert done.exit_code == 1, done.stderr  # a failure, not a mistake in the run file (2)
    assert done.stderr.splitlines() == [f"Error: {run}: {line} (--traceback shows where)"]
    assert done.stdout == ""

    shown = invoke("train", run, *sets, "--traceback", sites=(flaky_site,))
    assert shown.exit_code == 1
    assert shown.stderr.startswith("Traceback (most recent call last):")
    assert "sweepnp_flaky.py" in shown.stderr  # where the plugin raised
    assert shown.stderr.splitlines()[-1] == f"Error: {run}: {line}"


def test_sweepnp_train_raises_a_plugin_failure_chained_to_the_plugins_exception(
    installed, flaky_site, tmp_path
):
    run = tmp_path / "run.toml"
    run.write_text(FLAKY_RUN + "[callbacks]\nexplodes = {}\n")
    with installed(flaky_site), pytest.raises(sweepnp.SweepnpError) as raised:
        sweepnp.train(str(run))
    exc = raised.value
    assert {
        "type": type(exc).__name__,
        "message": str(exc),
        "plugin": exc.plugin,
        "function": exc.function,
        "cause": repr(exc.__cause__),
    } == {
        "type": "PluginFailure",
        "message": f"{run}: plugin 'flaky' failed in on_epoch_end: RuntimeError: boom at epoch 0",
        "plugin": "flaky",
        "function": "on_epoch_end",
        "cause": "RuntimeError('boom at epoch 0')",
    }
