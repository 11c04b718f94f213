"""The boundaries the layout promises (docs/architecture.md), checked on the source itself.

* The core (``sweepnp/``) never imports a built-in plugin (``sweepnp_plugins``): built-ins are
  plugins like any other, found through the plugin manager.
* No module uses another module's private members (``obj._name``, ``from m import _name``):
  what one module offers another is public. The one exception is the documented Optuna adapter,
  ``sweepnp/study/optuna_adapter.py``, where sweepnp uses Optuna's private attributes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = sorted((ROOT / "sweepnp").rglob("*.py"))
PLUGINS = sorted((ROOT / "plugins").rglob("*.py"))
#: The only module allowed to touch another package's private members (Optuna's).
ADAPTER = ROOT / "sweepnp" / "study" / "optuna_adapter.py"


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _imported_modules(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


@pytest.mark.parametrize("path", CORE, ids=_relative)
def test_the_core_never_imports_a_builtin_plugin(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    plugins = [m for m in _imported_modules(tree) if m.split(".")[0] == "sweepnp_plugins"]
    assert not plugins, f"{_relative(path)} imports {plugins}: find plugins through the manager"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _own_private_names(tree: ast.AST) -> set[str]:
    """Private names this module defines: functions, classes, module and class attributes,
    and attributes it sets on instances (``self._x = …``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {name for name in names if _private(name)}


def _own_classes(tree: ast.AST) -> set[str]:
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}


def _foreign_private_uses(path: Path) -> list[str]:
    """Uses of private names other modules define. A class's own members — inherited ones
    included (``self._fail``, ``OwnSubclass._check``) — are its own: subclassing is a contract."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = _own_private_names(tree)
    selves = {"self", "cls"} | _own_classes(tree)
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            uses += [
                f"line {node.lineno}: from {node.module} import {alias.name}"
                for alias in node.names
                if _private(alias.name)
            ]
            if node.module and any(_private(part) for part in node.module.split(".")):
                uses.append(f"line {node.lineno}: from {node.module} import …")
        elif isinstance(node, ast.Import):
            uses += [
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if any(_private(part) for part in alias.name.split("."))
            ]
        elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
            if isinstance(node.value, ast.Name) and node.value.id in selves:
                continue
            uses.append(f"line {node.lineno}: .{node.attr}")
    return uses


@pytest.mark.parametrize("path", [p for p in CORE + PLUGINS if p != ADAPTER], ids=_relative)
def test_no_module_uses_another_modules_private_members(path):
    uses = _foreign_private_uses(path)
    assert not uses, f"{_relative(path)} uses private members of other modules: {uses}"


def test_the_optuna_adapter_is_where_optunas_private_members_are_used():
    uses = _foreign_private_uses(ADAPTER)
    assert uses, "the adapter no longer needs Optuna's private members: drop the exception"
    text = ADAPTER.read_text(encoding="utf-8")
    for attribute in (
        "_storage",
        "_trial_id",
        "_heartbeat",
        "_backend",
        "_create_scoped_session",
        "_set_trial_intermediate_value_without_commit",
    ):
        assert attribute in text  # each documented in the adapter's docstrings
