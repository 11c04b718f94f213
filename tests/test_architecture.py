"""The boundaries the layout promises (docs/architecture.md), checked on the source itself.

* The core (``sweepnp/``) never imports a built-in plugin (``sweepnp_plugins``): built-ins are
  plugins like any other, found through the plugin manager.
* No module uses another module's private members (``obj._name``, ``from m import _name``):
  what one module offers another is public. The one exception is the documented Optuna adapter,
  ``sweepnp/study/optuna_adapter.py``, where sweepnp uses Optuna's private attributes.
"""

from __future__ import annotations

import ast
import re
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
        "_CachedStorage",
        "_get_trials",
        "_studies",
        "_add_trials_to_cache",
    ):
        assert attribute in text  # each documented in the adapter's docstrings


# -- layers: no import cycle, no module too long to read ----------------------------------------

#: A module longer than this is doing more than one job: split it.
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


#: Every module of the core by dotted name, and its file.
MODULES = {_module_name(path): path for path in CORE}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_time_nodes(tree: ast.AST):
    """Every node of the tree but those under ``if TYPE_CHECKING:`` (its ``else`` runs)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The module a ``from … import`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _string_dicts(tree: ast.AST) -> dict[str, str]:
    """``NAME = {"name": "submodule", …}`` at module level, merged: how a package's
    ``__getattr__`` finds a lazily imported name's submodule (``importlib.import_module``)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict):
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                constants = isinstance(key, ast.Constant) and isinstance(value, ast.Constant)
                if constants and isinstance(key.value, str) and isinstance(value.value, str):
                    found[key.value] = value.value
    return found


def _homes(package: str) -> dict[str, str]:
    """Where a package's ``__init__`` takes each name it offers from one of its submodules: the
    module-level re-exports (``from pkg.sub import name``) and the names its ``__getattr__``
    imports on first use (``if name in {…}: from pkg import sub`` or ``importlib``)."""
    tree = ast.parse(MODULES[package].read_text(encoding="utf-8"))
    homes = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            source = _absolute(package, node)
            if source.startswith(package + "."):
                homes.update({alias.asname or alias.name: source for alias in node.names})
    lazy = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "__getattr__"), None
    )
    if lazy is None:
        return homes
    for name, sub in _string_dicts(tree).items():
        if f"{package}.{sub}" in MODULES:
            homes.setdefault(name, f"{package}.{sub}")
    for branch in ast.walk(lazy):
        if not isinstance(branch, ast.If):
            continue
        names = [c.value for c in ast.walk(branch.test) if isinstance(c, ast.Constant)]
        targets = [
            _import_targets(package, node)
            for statement in branch.body
            for node in ast.walk(statement)
            if isinstance(node, ast.Import | ast.ImportFrom)
        ]
        modules = [m for found in targets for m in found if m in MODULES]
        for name in names:
            if isinstance(name, str) and len(modules) == 1:
                homes.setdefault(name, modules[0])
    return homes


def _import_targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The core modules one import statement loads, by dotted name (outside modules dropped).

    ``import a.b`` is an import of ``a.b``; ``from a import b`` of the module ``a.b`` when it is
    one, else of ``a`` — or, when ``a`` is a package whose ``__init__`` takes ``b`` from one of
    its submodules, of that submodule (a name's home, not the package that re-exports it)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in MODULES]
    source = _absolute(module, node)
    if source not in MODULES:
        return []
    targets = []
    for alias in node.names:
        target = f"{source}.{alias.name}"
        if target not in MODULES:
            target = source
            seen = set()
            while target in MODULES and _is_package(target) and target not in seen:
                seen.add(target)
                home = _homes(target).get(alias.name)
                if home is None or home == module:
                    break
                target = home
        targets.append(target)
    return targets


def _import_graph() -> dict[str, set[str]]:
    """Each core module and the core modules it imports at run time: at module level or inside
    a function, but not under ``if TYPE_CHECKING:``."""
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = {
            target
            for node in _run_time_nodes(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for target in _import_targets(module, node)
        }
        graph[module] = {loaded for target in targets for loaded in _loaded(module, target)} - {
            module
        }
    return graph


def _loaded(module: str, target: str) -> list[str]:
    """What importing ``target`` from ``module`` runs: ``target`` and the ``__init__`` of each
    package above it — but for the packages ``module`` is in, which Python is already running
    (a submodule importing a sibling does not import its own package again)."""
    parts = target.split(".")
    ancestors = [".".join(parts[:i]) for i in range(1, len(parts))]
    outside = [p for p in ancestors if p in MODULES and not module.startswith(p + ".")]
    return [*outside, target]


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for child in edges:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def _cycle(graph: dict[str, set[str]], component: list[str]) -> str:
    """One cycle through a component's first module, as a chain ``a → b → a`` (the shortest,
    found breadth first within the component)."""
    start, members = component[0], set(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    chain = [node]
                    while chain[-1] != start:
                        chain.append(came_from[chain[-1]])
                    return " → ".join([*reversed(chain), start])
                if child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def test_the_core_has_no_import_cycle():
    graph = _import_graph()
    cycles = [
        f"{_cycle(graph, component)}   (modules in this cycle: {', '.join(component)})"
        for component in _strongly_connected(graph)
    ]
    assert not cycles, "import cycles (break each: a lower layer never imports a higher one):\n" + (
        "\n".join(cycles)
    )


def test_the_cycle_finder_finds_a_cycle_and_names_its_chain():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    (component,) = _strongly_connected(graph)
    assert component == ["a", "b", "c"]
    assert _cycle(graph, component) == "a → b → c → a"


def _targets(module: str, statement: str) -> list[str]:
    (node,) = ast.parse(statement).body
    return _import_targets(module, node)


def test_imports_resolve_to_the_home_of_a_name_a_package_re_exports():
    # a name the package's __init__ re-exports, at module level or lazily (__getattr__)
    assert _targets("sweepnp.cli.app", "from sweepnp import hookimpl") == ["sweepnp.hookspecs"]
    assert _targets("sweepnp.cli.app", "from sweepnp import train") == ["sweepnp.trainer"]
    assert _targets("sweepnp.report.page", "from sweepnp.study import rerun_repeat") == [
        "sweepnp.study.trial"
    ]
    # a submodule imported through its package, absolutely or relatively
    assert _targets("sweepnp.results", "from sweepnp.study import storage") == [
        "sweepnp.study.storage"
    ]
    assert _targets("sweepnp.report.page", "from . import words") == ["sweepnp.report.words"]
    assert _targets("sweepnp.report", "from .words import param_words") == ["sweepnp.report.words"]
    # a submodule's import runs the __init__ of each package above it, but its importer's own
    assert _loaded("sweepnp.results", "sweepnp.study.storage") == [
        "sweepnp.study",
        "sweepnp.study.storage",
    ]
    assert _loaded("sweepnp.study.worker", "sweepnp.study.storage") == ["sweepnp.study.storage"]


@pytest.mark.parametrize("path", CORE, ids=_relative)
def test_no_module_is_over_600_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{_relative(path)} has {lines} lines: split it by job"


# -------------------------------------------------------------------------
# The library names no command-line option: the command line adds its own
# -------------------------------------------------------------------------

#: What a message of the command line's own would name: an option, or the NAME argument.
COMMAND_LINE_WORDS = re.compile(r"(?<![\w-])--[a-z][a-z-]+|\bNAME\b")
LIBRARY = [p for p in CORE if "cli" not in p.relative_to(ROOT / "sweepnp").parts]


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring constants of a module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal outside docstrings, f-strings' literal parts included."""
    docs = _docstrings(tree)
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


@pytest.mark.parametrize("path", LIBRARY, ids=_relative)
def test_library_messages_name_no_command_line_option(path):
    """A Python user of ``sweepnp.study``, ``sweepnp.results``, … has no ``--storage``: library
    errors name the argument (``storage``) or the file's key, and the command line says its
    option (:func:`sweepnp.cli.app.as_command_line`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    named = [
        (line, text)
        for line, text in _strings(tree)
        if COMMAND_LINE_WORDS.search(text) and not text.isidentifier()  # not a name in __all__
    ]
    assert not named, f"{_relative(path)} names command-line options in strings: {named}"
