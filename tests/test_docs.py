"""Docs that cannot drift: every hook documented in docs/hooks.md with its exact signature."""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import pytest

from sweepnp import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("sweepnp_"))
HEADING = re.compile(r"^### `(sweepnp_\w+)\(([^)]*)\)`$", re.MULTILINE)


def documented_hooks() -> dict[str, list[str]]:
    text = (ROOT / "docs" / "hooks.md").read_text()
    return {
        name: [arg.strip() for arg in args.split(",") if arg.strip()]
        for name, args in HEADING.findall(text)
    }


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_exact_signature(hook):
    documented = documented_hooks()
    assert hook in documented, f"docs/hooks.md has no heading for {hook}"
    spec_args = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert documented[hook] == spec_args


def test_docs_document_no_hook_that_does_not_exist():
    assert set(documented_hooks()) <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hookspec_has_a_docstring_with_its_params(hook):
    spec = getattr(hookspecs, hook)
    doc = inspect.getdoc(spec) or ""
    assert doc.splitlines()[0].endswith("."), "a one-line summary first"
    for arg in inspect.signature(spec).parameters:
        assert f":param {arg}:" in doc
    if inspect.signature(spec).return_annotation not in (None, "None"):
        assert ":return:" in doc


def test_every_argument_is_described_on_its_own_line():
    text = (ROOT / "docs" / "hooks.md").read_text()
    for hook, args in documented_hooks().items():
        section = text.split(f"### `{hook}(")[1].split("\n### ")[0]
        for arg in args:
            assert f"- `{arg}`:" in section, (hook, arg)


def test_the_plugin_guide_example_trains_with_lions_update_rule(small_run, step_recorder):
    import types

    import numpy as np

    import sweepnp
    from sweepnp.plugins import PluginManager

    text = (ROOT / "docs" / "plugins.md").read_text()
    source = text.split("```python\n")[1].split("```")[0]
    module = types.ModuleType("sweepnp_lion")
    exec(compile(source, "docs/plugins.md", "exec"), module.__dict__)
    pm = PluginManager(load_entrypoints=False, extra=(module,))
    small_run["optimizer"] = {"name": "lion", "lr": 3e-4}
    small_run["train"]["epochs"] = 10
    recorder = step_recorder()
    result = sweepnp.Trainer(small_run, callbacks=[recorder], plugin_manager=pm).fit()
    # every step follows the guide's rule with its defaults (β1 = 0.9, β2 = 0.99):
    # c = β1 m + (1 − β1) g;  θ ← θ − η sign(c);  m ← β2 m + (1 − β2) g, from m = 0
    assert len(recorder.steps) == 10 * 11  # 341 training rows in batches of 32
    momentum = {name: np.zeros_like(value) for name, value in recorder.steps[0][0].items()}
    for before, grads, after in recorder.steps:
        for name, grad in grads.items():
            m = momentum[name]
            expected = before[name] - 3e-4 * np.sign(0.9 * m + (1 - 0.9) * grad)
            np.testing.assert_array_equal(after[name], expected)
            momentum[name] = m * 0.99 + (1 - 0.99) * grad
    assert result.history["loss"].iloc[-1] < result.history["loss"].iloc[0]


def _guide_block(containing: str) -> str:
    """The plugin guide's Python block that contains ``containing``."""
    text = (ROOT / "docs" / "plugins.md").read_text()
    blocks = [b.split("```")[0] for b in text.split("```python\n")[1:]]
    (block,) = [b for b in blocks if containing in b]
    return block


def _guide_module(containing: str):
    import types

    module = types.ModuleType("guide_example")
    exec(compile(_guide_block(containing), "docs/plugins.md", "exec"), module.__dict__)
    return module


def test_the_guides_plugins_pass_the_contract_kit_stacking_included():
    """The guide's Lion and LogToCSV, as printed, declare ``stackable = True`` and pass their
    whole contract, the stacked-against-alone check included."""
    from sweepnp.testing import check_callback, check_optimizer

    lion = _guide_module("class Lion(Optimizer)").Lion
    log_to_csv = _guide_module("class LogToCSV(Callback)").LogToCSV
    assert lion.stackable is True and log_to_csv.stackable is True
    check_optimizer(lion, lr=0.01)
    check_callback(log_to_csv, path="logs/run-{trial}-{repeat}.csv")


def _attributes_the_guide_lists() -> list[str]:
    text = (ROOT / "docs" / "plugins.md").read_text()
    table = text.split("### What a callback may use")[1].split("\n\n")[2]
    names = []
    for row in table.splitlines()[2:]:
        first = row.split("|")[1]
        names += [re.sub(r"\(.*", "", n) for n in re.findall(r"`([^`]+)`", first)]
    return names


def test_every_trainer_attribute_the_guide_lists_is_there_alone_and_stacked(small_run):
    """A callback reads each ``self.trainer`` attribute of the guide's table, in a run alone and
    in a stack of runs; each is there, and the network's has the names the guide gives."""
    import sweepnp
    from sweepnp.run_stack import RunStack
    from sweepnp.trainer import Trainer, load_data

    names = _attributes_the_guide_lists()
    assert {"network", "model", "records", "stop", "context", "metric_names"} <= set(names)

    class ReadsTheTrainer(sweepnp.Callback):
        stackable = True

        def __init__(self) -> None:
            self.missing: set[str] = set()
            self.epochs = 0

        def on_epoch_end(self, epoch, logs):
            self.epochs += 1
            trainer = self.trainer
            self.missing |= {name for name in names if not hasattr(trainer, name)}
            network = trainer.network
            assert set(network.weight_names) <= set(network.params)
            assert network.params["W1"].shape == (network.params["W1"].shape[0], 8)

    small_run["model"]["hidden"] = [8]
    small_run["train"]["epochs"] = 3
    alone = ReadsTheTrainer()
    Trainer(small_run, callbacks=[alone]).fit()
    config = sweepnp.config.parse(small_run)
    data = load_data(config)
    stack = RunStack(2, sweepnp.plugins.get_plugin_manager())
    stacked = [ReadsTheTrainer(), ReadsTheTrainer()]
    for i, callback in enumerate(stacked):
        stack.add(Trainer(config, callbacks=[callback], data=data), i)
    while len(stack):
        stack.run_epoch()
    for callback in (alone, *stacked):
        assert callback.epochs == 3
        assert not callback.missing, f"the guide lists {callback.missing}, trainers lack them"


def test_the_contributing_guide_documents_every_marker_and_the_fast_subset():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    markers = [line.split(":")[0] for line in pyproject["tool"]["pytest"]["ini_options"]["markers"]]
    assert sorted(markers) == ["postgres", "slow"]
    guide = (ROOT / "docs" / "contributing.md").read_text()
    for marker in markers:
        assert f"\n- `{marker}`: " in guide, marker
    fast = '.venv/bin/python -m pytest -m "not slow"'
    assert fast in guide
    readme = (ROOT / "README.md").read_text()
    assert fast in readme and "(docs/contributing.md)" in readme
