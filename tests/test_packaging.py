"""What the distribution promises: its package list, py.typed, and plugins using only public API."""

from __future__ import annotations

import ast
import fnmatch
import tomllib
from pathlib import Path

import pytest

from sweepnp.plugins import BUILTIN_PLUGINS

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_FILES = sorted((ROOT / "plugins").rglob("*.py"))

#: What a plugin may import from sweepnp: the top-level package and the public modules written
#: for plugin authors (option checks, errors, the learning-curve diagnosis, metric rules).
PUBLIC_MODULES = {
    "sweepnp",
    "sweepnp.options",
    "sweepnp.errors",
    "sweepnp.diagnosis",
    "sweepnp.metrics",
}


def test_every_plugin_folder_is_a_listed_package():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    folders = {
        "sweepnp_plugins"
        + (
            "." + ".".join(p.parent.relative_to(ROOT / "plugins").parts)
            if p.parent != ROOT / "plugins"
            else ""
        )
        for p in PLUGIN_FILES
        if p.name == "__init__.py"
    }
    assert folders <= listed
    assert "sweepnp" in listed


def test_every_sweepnp_package_is_listed_and_ships_its_templates():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = pyproject["tool"]["setuptools"]
    folders = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "sweepnp").rglob("__init__.py")
    }
    assert folders <= set(setuptools["packages"])
    data = setuptools["package-data"]
    for template in (ROOT / "sweepnp").rglob("*.j2"):
        shipped = [
            package
            for package, patterns in data.items()
            for pattern in patterns
            if template.is_relative_to(ROOT.joinpath(*package.split(".")))
            and fnmatch.fnmatch(
                template.relative_to(ROOT.joinpath(*package.split("."))).as_posix(), pattern
            )
        ]
        assert shipped, f"{template.relative_to(ROOT)} is in no [tool.setuptools.package-data]"


def test_every_builtin_module_is_listed_and_every_listed_module_exists():
    modules = {
        "sweepnp_plugins." + ".".join(p.relative_to(ROOT / "plugins").with_suffix("").parts)
        for p in PLUGIN_FILES
        if p.name != "__init__.py"
    }
    assert modules == set(BUILTIN_PLUGINS)


def test_package_ships_py_typed():
    assert (ROOT / "sweepnp" / "py.typed").is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["sweepnp"]


def _sweepnp_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "sweepnp"]
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.split(".")[0] == "sweepnp"
        ):
            found.append(node.module)
    return found


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_builtin_plugins_import_only_the_public_api(path):
    private = [name for name in _sweepnp_imports(path) if name not in PUBLIC_MODULES]
    assert not private, f"{path.name} imports {private}; use `from sweepnp import ...`"


def test_no_bare_plugins_package_is_importable_from_site_packages():
    import importlib.util

    import sweepnp_plugins

    assert Path(sweepnp_plugins.__file__).parent == ROOT / "plugins"
    spec = importlib.util.find_spec("plugins")
    # `plugins` may only resolve through the source checkout on sys.path, never an installed copy
    # (run alone, pytest's rootdir insertion can make tests/plugins a namespace package: no origin)
    locations = [] if spec is None else [Path(p) for p in spec.submodule_search_locations or ()]
    assert all(ROOT in location.parents for location in locations), locations
