"""How a study's results show themselves in a notebook or a REPL: a short ``repr`` and an HTML
view with the report's verdict and the best configurations of ``summary()``."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pandas as pd

from sweepnp import results
from sweepnp.report import config_label, verdict, view
from sweepnp.study.spec import load_spec
from sweepnp.study.worker import create_study, run_study


class _Cells(HTMLParser):
    """The text of every cell of an HTML table, row by row (the standard library's parser)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None


def _table(page: str) -> pd.DataFrame:
    """The page's one table, as text."""
    assert page.count("<table") == 1
    parser = _Cells()
    parser.feed(page)
    header, *rows = parser.rows
    table = pd.DataFrame(rows, columns=header)
    return table.astype({"#": int, "n": int})


def test_the_repr_is_one_short_line_of_the_study_its_trials_and_its_metric(small_journal):
    res = results.load("small", small_journal)
    text = repr(res)
    assert "\n" not in text and len(text) < 120
    states = res.trials["state"].value_counts()
    counts = ", ".join(f"{n} {state}" for state, n in states.items() if n)
    assert text == (
        f"StudyResults('small': {len(res.trials)} trials ({counts}); "
        "val_accuracy (maximize), 1 repeat)"
    )


def test_the_html_says_the_verdict_and_tables_the_summary_best_first(small_journal):
    res = results.load("small", small_journal)
    page = view(res)._repr_html_()
    assert f"<b>{html.escape(verdict(res))}</b>" in page
    table = _table(page)
    summary = res.summary()
    assert table["#"].tolist() == list(range(1, len(summary) + 1))
    labels = [config_label({p: row[p] for p in res.param_columns}) for _, row in summary.iterrows()]
    assert table["configuration"].tolist() == labels
    assert table["n"].tolist() == summary["n"].tolist()
    shown = [float(text) for text in table["validation accuracy"]]  # one repeat: the mean alone
    assert shown == [float(f"{v:.4g}") for v in summary["val_accuracy_mean"]]
    assert "more configuration" not in page


def test_the_html_shows_the_best_ten_and_says_how_many_more(study_dict, journal):
    study_dict["train"]["epochs"] = 2
    study_dict["study"].update(
        {"sampler": {"name": "random", "seed": 0}, "n_trials": 12, "repeats": 2}
    )
    run_study(study_dict, storage=journal)
    res = results.load("small", journal)
    page = view(res)._repr_html_()
    table = _table(page)
    summary = res.summary()
    assert len(summary) == 12
    assert len(table) == 10
    assert table["n"].tolist() == [2] * 10
    # two repeats: the mean ± its interval's half-width, the mean rounded as the half-width says;
    # an interval clipped at the metric's range reads as its ends, "0.94 (0.78–1.00)"
    for shown, mean in zip(
        table["validation accuracy"], summary["val_accuracy_mean"], strict=False
    ):
        match = re.fullmatch(r"(\d(?:\.(\d+))?)(?: ± [\d.]+| \([\d.]+–[\d.]+\))", shown)
        assert match, shown
        assert abs(float(match[1]) - mean) <= 0.5 * 10 ** -len(match[2] or "")
    assert "… and 2 more configurations: <code>.summary()</code> holds them all." in page
    assert "12 trials (12 complete)" in repr(res) and "2 repeats" in repr(res)


def test_a_study_without_trials_shows_its_verdict_and_no_table(study_file, journal):
    create_study(load_spec(study_file), journal)
    res = results.load("small", journal)
    assert repr(res) == "StudyResults('small': 0 trials; val_accuracy (maximize), 1 repeat)"
    page = view(res)._repr_html_()
    assert "<b>no completed trial yet</b>" in page
    assert "<table" not in page


def test_the_tables_own_html_is_in_numbers_and_imports_no_report(small_journal):
    """``res`` itself shows the study and its summary's best configurations as numbers: the
    results tables do not import the report (docs/architecture.md, Layers)."""
    res = results.load("small", small_journal)
    page = res._repr_html_()
    assert html.escape(repr(res)[len("StudyResults(") : -1]).split(": ", 1)[1] in page
    assert verdict(res) not in page
    assert page.count("<table") == 1 and "val_accuracy_mean" in page
    assert "more configuration" not in page
