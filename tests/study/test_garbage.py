"""The cycle collector: paused while a study is read and frozen over what lives all run, and
left as it was found afterwards — also when the read or the run fails."""

from __future__ import annotations

import gc

import pytest

from sweepnp import results
from sweepnp.garbage import collection_paused, settled
from sweepnp.study.worker import run_study


def test_a_pause_ends_with_its_block_and_nests():
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collection_paused():
        raise RuntimeError
    assert gc.isenabled()


def test_a_collector_paused_before_stays_paused():
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_settled_freezes_what_is_alive_and_thaws_it_after():
    before = gc.get_freeze_count()
    with settled():
        assert gc.get_freeze_count() > before
    assert gc.get_freeze_count() == 0


def test_reading_and_running_a_study_leave_the_collector_as_found(study_file, journal):
    run_study(study_file, storage=journal, n_trials=2)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    res = results.load("small", journal)
    res.trials, res.curves, res.verdict()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with pytest.raises(Exception, match="nope"):
        results.load("nope", journal)
    assert gc.isenabled()


def test_the_curves_of_some_trials_are_their_rows_of_the_whole_table(small_journal):
    res = results.load("small", small_journal)
    numbers = [1, 3]
    some = res.curves_of(numbers)
    whole = res.curves
    expected = whole[whole["trial"].isin(numbers)].reset_index(drop=True)
    assert list(some.columns) == [c for c in whole.columns if c in some.columns]
    assert some.reset_index(drop=True).equals(expected[list(some.columns)])
    # once the whole table is built, it is filtered
    assert res.curves_of(numbers).reset_index(drop=True).equals(expected)
