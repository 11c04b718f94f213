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
