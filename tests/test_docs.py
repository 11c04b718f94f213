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
