"""Output paths derived from a study name stay inside their folder, whatever the name."""

from __future__ import annotations

import contextlib
import re
import shlex
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweepnp.filenames import MAX_LENGTH, path_in, safe_filename
from sweepnp.study.worker import run_study

SAFE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


@pytest.fixture
def tiny_study(tmp_path, study_dict, write_study) -> Path:
    study_dict["study"]["n_trials"] = 2
    study_dict["train"]["epochs"] = 3
    return write_study(tmp_path / "tiny.toml", study_dict)


@pytest.mark.slow  # five reports: seconds of drawing
def test_a_report_named_after_any_study_stays_in_the_reports_folder(invoke, tmp_path, tiny_study):
    work = tmp_path / "work"
    work.mkdir()
    journal = str(tmp_path / "studies.journal")
    outside = tmp_path / "abs"
    names = ["../x", "a/../../x", str(outside), "n" * 300]
    for name in names:
        run_study(str(tiny_study), storage=journal, name=name)
    # the summary's report command works as printed, quoted for the shell
    done = invoke("study", "run", tiny_study, "--name", "two words", "--storage", journal)
    assert done.exit_code == 0, done.stderr
    hint = re.search(r"^report:  sweepnp (.*)$", done.stdout, re.MULTILINE)
    assert hint is not None and hint.group(1).startswith("study report 'two words' --storage")
    names.append("two words")
    before = files_under(tmp_path)

    for name in names:
        args = ["study", "report", name, "--storage", journal]
        if name == "two words":
            args = shlex.split(hint.group(1))
        done = invoke(*args, "--no-retrain", cwd=work)
        assert done.exit_code == 0, (name, done.stderr)
        folder = work / "reports" / safe_filename(name)
        assert f"wrote {Path('reports') / safe_filename(name) / 'report.html'}" in done.stdout
        assert (folder / "report.html").stat().st_size > 0

    written = files_under(tmp_path) - before
    assert written and all(path.is_relative_to(work / "reports") for path in written)
    assert len({path.parent for path in written}) == len(names)  # one folder each
    assert not outside.exists() and not (tmp_path / "x").exists()


@pytest.mark.parametrize("name", ["..", ".", ""])
def test_a_name_that_cannot_be_a_folder_is_refused_with_the_rule(
    invoke, tmp_path, tiny_study, name
):
    journal = str(tmp_path / "studies.journal")
    run_study(str(tiny_study), storage=journal, name=name)
    before = files_under(tmp_path)
    done = invoke("study", "report", name, "--storage", journal, cwd=tmp_path)
    assert done.exit_code == 2, done.stderr
    assert done.stderr.strip() == (
        f"Error: NAME: cannot make a file name of {name!r}: nothing is left once characters "
        "other than A-Z, a-z, 0-9, '.', '_' and '-' become '_' and leading dots are dropped; "
        "choose the folder with -o DIR"
    )
    assert files_under(tmp_path) == before and not (tmp_path / "reports").exists()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dropout_rates-quick", "dropout_rates-quick"),
        ("v1.2", "v1.2"),
        ("../x", "_x-"),
        ("a/../../x", "a_.._.._x-"),
        ("/tmp/abs", "_tmp_abs-"),
        ("my study", "my_study-"),
        (".hidden", "hidden-"),
    ],
)
def test_safe_filename(name, expected):
    safe = safe_filename(name)
    if expected == name:
        assert safe == name
    else:
        assert re.fullmatch(re.escape(expected) + "[0-9a-f]{8}", safe), safe


def test_long_names_are_cut_and_stay_apart():
    first, second = "a" * 300, "a" * 299 + "b"
    assert len(safe_filename(first)) == MAX_LENGTH
    assert safe_filename(first) != safe_filename(second)
    assert safe_filename(first)[:90] == safe_filename(second)[:90] == "a" * 90


@given(st.text(max_size=400), st.text(max_size=400))
def test_any_name_gives_one_safe_component_or_is_refused(name, other):
    try:
        safe = safe_filename(name)
    except ValueError:
        assert re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".") == ""
        return
    assert SAFE.fullmatch(safe) and len(safe) <= MAX_LENGTH
    assert path_in("reports", name) == Path("reports", safe)
    if other != name:
        with contextlib.suppress(ValueError):
            assert safe_filename(other) != safe
