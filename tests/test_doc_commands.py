"""The commands the README and docs/*.md show run, in the order shown, and exit as documented.

Every ``sweepnp …`` line of a ``bash`` block (and every ``$ sweepnp …`` line of a ``console``
block) is run in a fresh folder holding a copy of ``studies/``, in the order of the document, in
this process (click's runner: :func:`tests.conftest.run_in_process`). A long one is adjusted
(:data:`ADJUSTED`: ``--quick``), a few are not run, each for the reason in :data:`NOT_RUN`; the
lines a test expects a status other than 0 from are in :data:`STATUS`. The README's Python block
on a study's results runs too, after its commands, and the verdict the README quotes is checked
against what the quickstart prints.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Lines run with arguments added or changed, and why: (the line, as the document has it) →
#: the line run.
ADJUSTED: dict[str, str] = {}

#: Lines not run, and why.
NOT_RUN = {
    "sweepnp study run studies/quickstart.toml --storage postgresql://user@db/studies": (
        "needs a PostgreSQL server at db (tests/study/test_postgres.py runs studies on one)"
    ),
}

#: Lines of docs/plugins.md, which need the guide's example plugin installed and its run file:
#: tests/test_example_plugin.py and tests/test_docs.py run those.
PLUGIN_GUIDE = "needs the example plugin sweepnp-lion installed (tests/test_example_plugin.py)"

#: Lines whose documented exit status is not 0.
STATUS: dict[str, int] = {}

#: Lines that fail until a fix on another branch is merged: each must still fail (remove it here
#: once it passes).
PENDING: dict[str, str] = {}


def commands(document: str) -> list[str]:
    """The ``sweepnp`` command lines of a document's ``bash`` and ``console`` blocks, in order:
    continuation lines joined, comments dropped, ``a && b`` split in two."""
    text = (ROOT / document).read_text(encoding="utf-8")
    found = []
    for kind, body in re.findall(r"```(bash|console)\n(.*?)```", text, re.S):
        body = re.sub(r"\\\n\s*", "", body)
        for line in body.splitlines():
            line = line.strip()
            if kind == "console":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            line = re.sub(r"\s+#.*$", "", line).strip()
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("sweepnp "):
                    found.append(part)
    return found


def exercise_line(line: str) -> tuple[str | None, str]:
    """docs/exercises.md: each study runs with ``--quick`` (its study is NAME-quick); a report
    is made of the first study only (each takes ~12 s here, and the same command makes them)."""
    words = line.split()
    if words[:3] == ["sweepnp", "study", "run"] and "--quick" not in words:
        return f"{line} --quick", "a whole study: --quick (seconds)"
    if words[:2] == ["sweepnp", "study"] and words[2] in ("report", "export", "show"):
        name = words[3] if words[3].endswith("-quick") else f"{words[3]}-quick"
        if words[2] == "report" and name != "dropout_rates-quick":
            return None, "a report like dropout_rates-quick's, ~12 s each: not run, for time"
        return " ".join([*words[:3], name, *words[4:]]), "the --quick study's name"
    return line, ""


def run_lines(lines: list[tuple[str, str | None, str]], folder: Path, invoke) -> list[str]:
    """Run each (document line, line run or None, why) in ``folder``; the failures."""
    failures = []
    for line, run, _why in lines:
        if run is None:
            continue
        done = invoke(*shlex.split(run)[1:], cwd=folder, env={"COLUMNS": None})
        expected = STATUS.get(line, 0)
        if line in PENDING:
            if done.exit_code == expected:
                failures.append(f"{line!r} passes now: remove it from PENDING")
            continue
        if done.exit_code != expected:
            failures.append(
                f"{run!r}: exit status {done.exit_code}, documented {expected}\n"
                f"{done.stdout[-600:]}{done.stderr[-600:]}"
            )
    return failures


def plan(document: str) -> list[tuple[str, str | None, str]]:
    """Each line of ``document`` with the line run (None: not run) and why it differs."""
    planned = []
    for line in commands(document):
        if line in NOT_RUN:
            planned.append((line, None, NOT_RUN[line]))
        elif document == "docs/plugins.md":
            planned.append((line, None, PLUGIN_GUIDE))
        elif document == "docs/exercises.md":
            planned.append((line, *exercise_line(line)))
        else:
            planned.append((line, ADJUSTED.get(line, line), ""))
    return planned


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "studies", tmp_path / "studies")
    return tmp_path


def test_every_documented_command_is_found():
    readme = commands("README.md")
    assert readme[0] == "sweepnp train studies/quickstart.toml"
    assert "sweepnp study rerun quickstart --trial 7" in readme
    assert len(commands("docs/exercises.md")) > 30
    for line in NOT_RUN:
        assert any(line in commands(d) for d in DOCUMENTS), f"{line!r} is in no document"


DOCUMENTS = ["README.md", "docs/exercises.md", "docs/lr-find.md", "docs/plugins.md"]


@pytest.mark.slow
def test_the_readmes_commands_run_in_the_order_shown(invoke, folder):
    """The README after its first command: every ``sweepnp`` line, then its Python on the
    quickstart's results; the verdict it quotes is the quickstart report's."""
    failures = run_lines(plan("README.md"), folder, invoke)
    assert not failures, "\n".join(failures)
    import sweepnp.report
    import sweepnp.results

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "results.load" in b)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        scope: dict = {}
        exec(compile(block, "README.md", "exec"), scope)
        said = sweepnp.report.verdict(scope["res"])
    quoted = re.search(r'"(the top .*?)"; ties', text, re.S)
    assert quoted, "the README quotes the quickstart's verdict"
    for piece in re.sub(r"\s+", " ", quoted.group(1)).split(" … "):
        assert piece in said, (piece, said)


@pytest.mark.slow
@pytest.mark.parametrize("document", ["docs/exercises.md", "docs/lr-find.md"])
def test_the_docs_commands_run_in_the_order_shown(invoke, folder, document):
    failures = run_lines(plan(document), folder, invoke)
    assert not failures, "\n".join(failures)


def test_the_plugin_guides_lines_are_all_accounted_for():
    assert all(run is None for _, run, _ in plan("docs/plugins.md"))
