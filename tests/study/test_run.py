"""Running studies: budgets, continuation, samplers, pruners, repeats, seeds and reruns."""

from __future__ import annotations

import json
import time
from typing import ClassVar

import numpy as np
import optuna
import pytest
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from scipy import stats

import sweepnp
from sweepnp import results
from sweepnp.errors import ConfigError
from sweepnp.plugins import PluginManager
from sweepnp.study.record import RECORD_ATTR
from sweepnp.study.spec import load_spec, trial_seed
from sweepnp.study.storage import open_storage
from sweepnp.study.trial import aggregate, rerun_trial
from sweepnp.study.worker import create_study, run_study


def _trials(journal, name="small"):
    return optuna.load_study(study_name=name, storage=open_storage(journal)).get_trials()


def test_a_study_runs_n_trials_and_continues_to_a_new_total(study_file, journal):
    run_study(study_file, storage=journal)
    assert len(_trials(journal)) == 6
    run_study(study_file, storage=journal, n_trials=9)
    trials = _trials(journal)
    assert [t.number for t in trials] == list(range(9))  # the first six kept, three added
    run_study(study_file, storage=journal, n_trials=9)  # already there: nothing to do
    assert len(_trials(journal)) == 9
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)


def test_a_changed_study_file_under_the_same_name_is_refused(
    study_dict, journal, tmp_path, write_study
):
    run_study(write_study(tmp_path / "a.toml", study_dict), storage=journal, n_trials=1)
    study_dict["model"]["hidden"] = [8]
    with pytest.raises(ConfigError, match="another configuration"):
        run_study(write_study(tmp_path / "a.toml", study_dict), storage=journal)
    # a new name is a new study
    run_study(
        write_study(tmp_path / "a.toml", study_dict), storage=journal, name="wider", n_trials=1
    )
    assert len(_trials(journal, "wider")) == 1


@pytest.mark.parametrize("sampler", ["tpe", "random", "qmc", "cmaes", "grid", "nsgaii"])
def test_every_sampler_runs(study_dict, journal, tmp_path, write_study, sampler):
    study_dict["study"]["sampler"] = {"name": sampler}
    if sampler == "grid":
        study_dict["study"]["params"] = {
            "train.batch_size": {"choices": [16, 64]},
            "regularizers.dropout.rate": {"low": 0.0, "high": 0.4, "step": 0.2},
        }
    run_study(write_study(tmp_path / "s.toml", study_dict), storage=journal, n_trials=4)
    trials = _trials(journal)
    assert len(trials) == 4
    assert all(t.state == TrialState.COMPLETE for t in trials)
    if sampler == "grid":
        assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 4


def test_the_gp_sampler_needs_pytorch_or_says_so(study_dict, journal, tmp_path, write_study):
    study_dict["study"]["sampler"] = "gp"
    path = write_study(tmp_path / "s.toml", study_dict)
    try:
        import torch  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="needs the package 'torch'"):
            run_study(path, storage=journal, n_trials=2)
    else:
        run_study(path, storage=journal, n_trials=2)
        assert len(_trials(journal)) == 2


PRUNERS = {
    "none": "none",
    "median": {"name": "median", "n_startup_trials": 2, "n_warmup_steps": 2, "interval_steps": 2},
    "percentile": {"name": "percentile", "percentile": 25.0, "n_startup_trials": 2},
    "successive_halving": {"name": "successive_halving"},
    "hyperband": {"name": "hyperband", "max_resource": 8},
    "patient": {"name": "patient", "patience": 2, "wrapped": "median"},
    "threshold": {"name": "threshold", "lower": 0.9},
}


@pytest.mark.parametrize("pruner", PRUNERS)
def test_every_pruner_runs(study_dict, journal, tmp_path, write_study, pruner):
    study_dict["study"]["pruner"] = PRUNERS[pruner]
    study_dict["callbacks"] = {}
    run_study(write_study(tmp_path / "p.toml", study_dict), storage=journal, n_trials=6)
    trials = _trials(journal)
    assert len(trials) == 6
    if pruner == "threshold":  # accuracy stays below 0.9 in the first epoch of some trials
        assert any(t.state == TrialState.PRUNED for t in trials) or all(
            t.intermediate_values[0] >= 0.9 for t in trials
        )
    for trial in trials:
        record = trial.user_attrs[RECORD_ATTR]
        assert (trial.state == TrialState.PRUNED) == (record["stop_reason"] == "pruned")


def test_pruning_reports_only_at_the_pruners_cadence_and_the_trial_keeps_every_epoch(
    study_dict, journal, tmp_path, write_study
):
    study_dict["study"]["pruner"] = PRUNERS["median"]  # warm-up 2, interval 2
    study_dict["callbacks"] = {"journal_watcher": {"path": journal}}
    pm = PluginManager(load_entrypoints=False, extra=(JournalWatcher(),))
    JournalWatcher.reported.clear()
    run_study(
        write_study(tmp_path / "p.toml", study_dict), storage=journal, n_trials=4, plugin_manager=pm
    )
    trials = _trials(journal)
    curves = results.load("small", journal).curves
    assert sorted(JournalWatcher.reported) == [t.number for t in trials]
    for trial in trials:
        reported = JournalWatcher.reported[trial.number]
        # while it trained, the pruner was told only the epochs it looks at
        assert reported and all(step >= 2 and (step - 2) % 2 == 0 for step in reported)
        if trial.state == TrialState.COMPLETE:
            assert reported == [2, 4, 6]
        # once it ended, every evaluated epoch is stored (for optuna-dashboard's curves)
        epochs = curves.loc[curves["trial"] == trial.number, "epoch"].tolist()
        assert sorted(trial.intermediate_values) == epochs


def test_the_brief_and_more_are_searchable_with_conditions(
    study_dict, journal, tmp_path, write_study
):
    study_dict["study"]["params"] = {
        "train.batch_size": {"choices": [16, 32]},
        "regularizers.l2.lam": {"low": 1e-4, "high": 1e-2, "log": True},
        "regularizers.dropout.rate": {"low": 0.0, "high": 0.5},
        "callbacks.early_stopping.patience": {"low": 2, "high": 5},
        "optimizer.lr": {"low": 0.01, "high": 0.3, "log": True},
        "optimizer.name": {"choices": ["sgd", "momentum", "adam"]},
        "optimizer.beta": {"low": 0.5, "high": 0.95, "when": {"optimizer.name": "momentum"}},
        "schedule.name": {"choices": ["constant", "cosine", "step"]},
        "model.hidden": {"choices": [[4], [8, 4]]},
        "callbacks.gradient_clipping": {"choices": [False, {"by": "norm", "threshold": 1.0}]},
    }
    study_dict["study"]["sampler"] = {"name": "random", "seed": 3}
    run_study(write_study(tmp_path / "c.toml", study_dict), storage=journal, n_trials=12)
    trials = _trials(journal)
    assert all(t.state == TrialState.COMPLETE for t in trials)
    for trial in trials:
        assert ("optimizer.beta" in trial.params) == (trial.params["optimizer.name"] == "momentum")
    table = results.load("small", journal).trials
    assert set(table["model.hidden"].dropna()) <= {"[4]", "[8, 4]"}
    # Lists and tables read as Optuna stores them: JSON strings, the same in both places.
    for column in ("model.hidden", "callbacks.gradient_clipping"):
        assert table[column].tolist() == [t.params[column] for t in trials]
    assert set(table["callbacks.gradient_clipping"]) == {False, '{"by": "norm", "threshold": 1.0}'}
    assert table.loc[table["optimizer.name"] != "momentum", "optimizer.beta"].isna().all()


def test_repeats_aggregate_and_keep_every_history(study_dict, journal, tmp_path, write_study):
    study_dict["study"].update(repeats=3, n_trials=2)
    run_study(write_study(tmp_path / "r.toml", study_dict), storage=journal)
    res = results.load("small", journal)
    for trial in _trials(journal):
        record = trial.user_attrs[RECORD_ATTR]
        finals = [r["val_accuracy"] for r in record["final"]]
        assert len(record["seeds"]) == 3 and len(set(record["seeds"])) == 3
        assert trial.value == pytest.approx(np.mean(finals))
    history = res.history
    assert sorted(history["repeat"].unique()) == [0, 1, 2]
    summary = res.summary()
    assert (summary["n"] == 3).all()
    best = res.best()
    finals = res.repeats_table().set_index("trial").loc[best["number"], "val_accuracy"]
    assert len(finals) == 3
    row = summary.iloc[0]  # best configuration first
    assert row["val_accuracy_mean"] == pytest.approx(finals.mean())
    assert row["val_accuracy_std"] == pytest.approx(finals.std(ddof=1))
    half = stats.t.ppf(0.975, 2) * finals.std(ddof=1) / np.sqrt(3)
    assert row["val_accuracy_ci_low"] == pytest.approx(finals.mean() - half)
    assert row["val_accuracy_ci_high"] == pytest.approx(finals.mean() + half)


def test_lower_confidence_bound_is_below_the_mean():
    values = [0.9, 0.95, 0.92]
    assert (
        aggregate(values, "lcb", "maximize")
        < np.mean(values)
        < aggregate(values, "lcb", "minimize")
    )
    assert aggregate(values, "mean", "maximize") == pytest.approx(np.mean(values))


def test_seeds_derive_from_study_seed_and_repeat_and_per_config_from_params_too():
    params = {"train.batch_size": 32, "regularizers.l2.lam": 0.01}
    other = {**params, "train.batch_size": 64}
    # Paired (the default): repeat r of every configuration has the same seed.
    assert trial_seed(0, params, 0) == trial_seed(0, other, 0) == trial_seed(0, {}, 0, "paired")
    assert len({trial_seed(0, params, 0), trial_seed(1, params, 0), trial_seed(0, params, 1)}) == 3

    # Per configuration: from the parameters too, in any order.
    def per_config(seed, p, repeat):
        return trial_seed(seed, p, repeat, "per_config")

    assert per_config(0, params, 0) == per_config(0, dict(reversed(params.items())), 0)
    assert len({per_config(0, params, 0), per_config(1, params, 0), per_config(0, params, 1),
                per_config(0, other, 0), trial_seed(0, params, 0)}) == 5  # fmt: skip


def _grid_study(study_dict, **study):
    """The small study on a 3-point grid of dropout rates, 2 repeats each."""
    study_dict["study"].update(sampler="grid", repeats=2, n_trials=3, **study)
    study_dict["study"]["params"] = {"regularizers.dropout.rate": {"choices": [0.0, 0.2, 0.4]}}
    return study_dict


def test_repeat_r_of_every_configuration_trains_with_the_same_seed(
    study_dict, journal, tmp_path, write_study
):
    run_study(write_study(tmp_path / "g.toml", _grid_study(study_dict)), storage=journal)
    table = results.load("small", journal).repeats_table()
    assert len(table) == 6 and table["seed"].dtype == "Int64"
    by_repeat = table.groupby("repeat")["seed"]
    assert (by_repeat.nunique() == 1).all()  # shared across configurations
    assert by_repeat.first().tolist() == [trial_seed(0, {}, 0), trial_seed(0, {}, 1)]
    for trial in _trials(journal):  # the column is the seed each repeat recorded
        rows = table[table["trial"] == trial.number].sort_values("repeat")
        assert rows["seed"].tolist() == trial.user_attrs[RECORD_ATTR]["seeds"]


def test_per_config_seeds_keep_the_old_scheme_and_rerun_reproduces_it(
    study_dict, journal, tmp_path, write_study
):
    path = write_study(tmp_path / "g.toml", _grid_study(study_dict, seeds="per_config"))
    run_study(path, storage=journal)
    res = results.load("small", journal)
    assert res.spec.seed_scheme == "per_config"
    table = res.repeats_table()
    assert table.groupby("repeat")["seed"].nunique().tolist() == [3, 3]
    for _, row in table.iterrows():
        params = {"regularizers.dropout.rate": row["regularizers.dropout.rate"]}
        assert row["seed"] == trial_seed(0, params, row["repeat"], "per_config")
    study = optuna.load_study(study_name="small", storage=open_storage(journal))
    outcome, stored = rerun_trial(study, 1)
    assert outcome.record.seeds == study.trials[1].user_attrs[RECORD_ATTR]["seeds"]
    columns = [c for c in stored.columns if c != "epoch_seconds"]
    assert outcome.history[columns].equals(stored[columns])


def test_a_study_created_before_seed_schemes_keeps_per_config_seeds_on_resume(
    study_dict, journal, tmp_path, write_study
):
    """A study sweepnp created before it stored the scheme (no ``sweepnp_seeds``) continues with
    the parameters' hash; a file asking for paired seeds on it is refused."""
    from sweepnp.study.record import CONFIG_ATTR, FINGERPRINT_ATTR, SEEDS_ATTR

    path = write_study(tmp_path / "g.toml", _grid_study(study_dict))
    spec = load_spec(path)
    # What create_study stored before this change: the file and its fingerprint, no scheme.
    old = optuna.create_study(study_name="small", storage=open_storage(journal))
    old.set_user_attr(CONFIG_ATTR, spec.raw)
    old.set_user_attr(FINGERPRINT_ATTR, spec.fingerprint())
    run_study(path, storage=journal)
    res = results.load("small", journal)
    assert SEEDS_ATTR not in res.study.user_attrs and res.spec.seed_scheme == "per_config"
    for _, row in res.repeats_table().iterrows():
        params = {"regularizers.dropout.rate": row["regularizers.dropout.rate"]}
        assert row["seed"] == trial_seed(0, params, row["repeat"], "per_config")
    paired = write_study(tmp_path / "p.toml", _grid_study(study_dict, seeds="paired"))
    with pytest.raises(ConfigError, match="created with seeds = 'per_config'") as caught:
        run_study(paired, storage=journal, n_trials=4)
    assert caught.value.key == "study.seeds"


def test_a_new_study_stores_its_scheme_and_a_file_asking_for_another_is_refused(
    study_dict, journal, tmp_path, write_study, invoke
):
    from sweepnp.study.record import SEEDS_ATTR

    path = write_study(tmp_path / "g.toml", _grid_study(study_dict))
    run_study(path, storage=journal)
    assert _study(journal).user_attrs[SEEDS_ATTR] == "paired"
    other = write_study(tmp_path / "o.toml", _grid_study(study_dict, seeds="per_config"))
    done = invoke("study", "run", str(other), "--storage", journal, "--n-trials", "4")
    assert done.exit_code == 2
    assert "study.seeds" in done.stderr and "created with seeds = 'paired'" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(_trials(journal)) == 3
    # Naming the stored scheme, or none, continues it.
    explicit = write_study(tmp_path / "e.toml", _grid_study(study_dict, seeds="paired"))
    run_study(explicit, storage=journal, n_trials=3)


def _study(journal, name="small"):
    return optuna.load_study(study_name=name, storage=open_storage(journal))


def test_an_unknown_seed_scheme_names_the_choices(study_dict, tmp_path, write_study):
    path = write_study(tmp_path / "g.toml", _grid_study(study_dict, seeds="shared"))
    with pytest.raises(ConfigError) as caught:
        load_spec(path)
    assert caught.value.key == "study.seeds"
    assert "paired" in str(caught.value) and "per_config" in str(caught.value)


def test_rerun_reproduces_a_trial_exactly(small_journal):
    study = optuna.load_study(study_name="small", storage=open_storage(small_journal))
    for number in range(6):
        outcome, stored = rerun_trial(study, number)
        columns = [c for c in stored.columns if c != "epoch_seconds"]
        assert outcome.history[columns].equals(stored[columns])


def test_multi_objective_studies_give_a_pareto_front(study_dict, journal, tmp_path, write_study):
    study_dict["study"].update(metric=["val_accuracy", "train_seconds"], n_trials=5)
    run_study(write_study(tmp_path / "m.toml", study_dict), storage=journal)
    res = results.load("small", journal)
    assert {"value_val_accuracy", "value_train_seconds"} <= set(res.trials.columns)
    assert res.study.metric_names == ["val_accuracy", "train_seconds"]  # optuna-dashboard's
    # Optuna's intermediate values are for one objective: none for a study of two
    assert all(not t.intermediate_values for t in res.study.trials)
    front = res.best()
    assert 1 <= len(front) <= 5
    # no trial on the front is dominated by another finished trial
    done = res.trials[res.trials["state"] == "complete"]
    for _, row in front.iterrows():
        dominated = (done["value_val_accuracy"] >= row["value_val_accuracy"]) & (
            done["value_train_seconds"] <= row["value_train_seconds"]
        ) & ((done["value_val_accuracy"] > row["value_val_accuracy"]) | (
            done["value_train_seconds"] < row["value_train_seconds"]))  # fmt: skip
        assert not dominated.any()


def test_diverging_trials_fail_as_diverged_and_the_study_goes_on(
    study_dict, journal, tmp_path, write_study
):
    study_dict["data"] = {"dataset": "linear", "seed": 0}
    study_dict["model"] = {"task": "regression", "hidden": [4]}
    study_dict["callbacks"] = {}
    study_dict["study"].update(metric="val_r2", sampler={"name": "grid"},
                               params={"optimizer.lr": {"choices": [0.01, 2.0]}})  # fmt: skip
    run_study(write_study(tmp_path / "d.toml", study_dict), storage=journal, n_trials=2)
    table = results.load("small", journal).trials.set_index("optimizer.lr")
    assert table.loc[2.0, "stop_reason"] == "diverged"
    assert table.loc[2.0, "state"] == "fail"
    assert table.loc[0.01, "state"] == "complete"


def test_a_storage_is_readable_by_plain_optuna(small_journal):
    backend = optuna.storages.journal.JournalFileBackend(small_journal)
    study = optuna.load_study(study_name="small", storage=optuna.storages.JournalStorage(backend))
    assert len(study.trials) == 6
    for trial in study.trials:
        assert set(trial.params) == {
            "train.batch_size",
            "regularizers.l2.lam",
            "regularizers.dropout.rate",
            "callbacks.early_stopping.patience",
        }
        assert trial.value is not None and 0 <= trial.value <= 1
    assert study.metric_names == ["val_accuracy"]  # the objective, named as sweepnp names it
    assert study.trials_dataframe()["value_val_accuracy"].notna().all()


def _journal_ops_per_trial(journal: str, leave_out: int | None = None) -> dict[int, int]:
    counts: dict[int, int] = {}
    with open(journal) as handle:
        for line in handle:
            op = json.loads(line)
            if "trial_id" in op and op["op_code"] != leave_out:
                counts[op["trial_id"]] = counts.get(op["trial_id"], 0) + 1
    return counts


def test_the_learning_curve_costs_no_write_per_epoch(study_dict, tmp_path, write_study):
    from optuna.storages.journal._storage import JournalOperation

    intermediate = JournalOperation.SET_TRIAL_INTERMEDIATE_VALUE
    study_dict["callbacks"] = {}
    per_trial = {}
    for epochs in (5, 40):
        study_dict["train"]["epochs"] = epochs
        journal = str(tmp_path / f"e{epochs}.journal")
        run_study(write_study(tmp_path / "w.toml", study_dict), storage=journal, n_trials=3)
        per_trial[epochs] = set(_journal_ops_per_trial(journal, leave_out=intermediate).values())
        history = results.load("small", journal).history
        assert history.groupby("trial")["epoch"].nunique().tolist() == [epochs] * 3
        # every epoch's intermediate value: one line each, in the trial's final append
        curves = _journal_ops_per_trial(journal)
        others = _journal_ops_per_trial(journal, leave_out=intermediate)
        assert [curves[t] - others[t] for t in sorted(curves)] == [epochs] * 3
    # create, four params, the worker, the record, the result: not one write per epoch
    assert per_trial[5] == per_trial[40]
    assert max(per_trial[40]) <= 8


class JournalWatcher:
    """A plugin whose callback reads the journal file as it is at the end of training."""

    #: (reports of the running trial in the file, and in this process), per trial
    seen: ClassVar[list[tuple[int, int]]] = []
    #: trial number → the steps reported to the pruner while it trained
    reported: ClassVar[dict[int, list[int]]] = {}

    class Callback(sweepnp.Callback):
        def __init__(self, path: str) -> None:
            self.path = path

        def on_train_end(self, logs):
            trial = self.trainer.context["optuna_trial"]
            on_disk = optuna.storages.JournalStorage(JournalFileBackend(self.path))
            in_file = on_disk.get_trial(trial._trial_id).intermediate_values
            in_process = trial.study._storage.get_trial(trial._trial_id).intermediate_values
            JournalWatcher.seen.append((len(in_file), len(in_process)))
            JournalWatcher.reported[trial.number] = sorted(in_process)

    @sweepnp.hookimpl
    def sweepnp_register_callbacks(self):
        return {"journal_watcher": JournalWatcher.Callback}


def test_reports_reach_the_journal_when_the_trial_ends_and_the_pruner_sees_them(
    study_dict, journal, tmp_path, write_study
):
    # The threshold pruner prunes at the first report it sees (accuracy is never above 1.01):
    # that every trial is pruned at step 2 shows should_prune sees the buffered report.
    study_dict["study"]["pruner"] = {"name": "threshold", "lower": 1.01, "n_warmup_steps": 2}
    study_dict["callbacks"] = {"journal_watcher": {"path": journal}}
    pm = PluginManager(load_entrypoints=False, extra=(JournalWatcher(),))
    JournalWatcher.seen.clear()
    run_study(
        write_study(tmp_path / "w.toml", study_dict), storage=journal, n_trials=2, plugin_manager=pm
    )
    trials = _trials(journal)
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2
    # written at the end: the report at step 2, and the curve's epochs before it
    assert [sorted(t.intermediate_values) for t in trials] == [[0, 1, 2], [0, 1, 2]]
    # while a trial ran, its report was in this process but not yet in the file
    assert JournalWatcher.seen == [(0, 1), (0, 1)]


class Flaky:
    """A third-party plugin whose callback breaks on large batches."""

    class Callback(sweepnp.Callback):
        def on_epoch_end(self, epoch, logs):
            if self.trainer.config.train.batch_size == 64 and epoch == 2:
                raise RuntimeError("boom")

    @sweepnp.hookimpl
    def sweepnp_register_callbacks(self):
        return {"flaky": Flaky.Callback}


class RaisingHook:
    """A third-party plugin whose lifecycle hook breaks on large batches."""

    @sweepnp.hookimpl
    def sweepnp_on_epoch_end(self, trainer, epoch, logs):
        if trainer.config.train.batch_size == 64 and epoch == 1:
            raise ValueError("hook exploded")


@pytest.mark.parametrize(
    ("plugin", "callbacks", "reason"),
    [
        (Flaky(), {"flaky": {}}, "failed: plugin 'Flaky': RuntimeError: boom"),
        (RaisingHook(), None, "failed: plugin 'RaisingHook': ValueError: hook exploded"),
    ],
    ids=["in-a-callback", "in-a-lifecycle-hook"],
)
def test_a_plugin_that_raises_fails_its_trial_naming_it_and_the_study_goes_on(
    study_dict, journal, tmp_path, write_study, plugin, callbacks, reason
):
    pm = PluginManager(load_entrypoints=False, extra=(plugin,))
    if callbacks is not None:
        study_dict["callbacks"] = callbacks
    study_dict["study"]["sampler"] = {"name": "grid"}
    study_dict["study"]["params"] = {"train.batch_size": {"choices": [16, 64, 32]}}
    run_study(
        write_study(tmp_path / "f.toml", study_dict), storage=journal, n_trials=3, plugin_manager=pm
    )
    table = results.load("small", journal).trials.set_index("train.batch_size")
    assert table.loc[64, "state"] == "fail"
    assert table.loc[64, "stop_reason"] == "failed"
    assert table.loc[64, "reason"] == reason
    assert (table.loc[[16, 32], "state"] == "complete").all()


def test_timeout_stops_starting_trials(study_dict, journal, tmp_path, write_study):
    study_dict["train"]["epochs"] = 200
    study_dict["study"].update(n_trials=1000, timeout=1.0)
    started = time.perf_counter()
    run_study(write_study(tmp_path / "t.toml", study_dict), storage=journal)
    assert time.perf_counter() - started < 30
    assert 1 <= len(_trials(journal)) < 1000


def test_sqlite_storage_is_accepted_and_read_by_plain_optuna(study_file, tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    run_study(study_file, storage=url, n_trials=3)
    study = optuna.load_study(study_name="small", storage=url)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert all(len(t.params) == 4 and t.value is not None for t in study.trials)
    assert len(results.load("small", url).trials) == 3


def test_summary_breaks_ties_as_optunas_best_trial_does(study_dict, journal):
    # Logistic regression separates digits 0 and 1 perfectly whatever the batch size: a tie.
    study_dict["data"] = {"dataset": "digits01", "seed": 0}
    study_dict["model"] = {"task": "binary", "hidden": [], "init": "zeros"}
    study_dict["regularizers"] = study_dict["callbacks"] = {}
    study_dict["study"].update({"sampler": "grid", "n_trials": 3, "repeats": 2})
    study_dict["study"]["params"] = {"train.batch_size": {"choices": [8, 2, 4]}}
    study = run_study(study_dict, storage=journal)
    res = results.load("small", journal)
    summary = res.summary()
    means = summary["val_accuracy_mean"]
    assert means.iloc[0] == means.iloc[1]  # a tie at the top
    assert summary.iloc[0]["train.batch_size"] == study.best_trial.params["train.batch_size"]
    trial_of = res.trials.set_index("train.batch_size")["number"]
    for upper, lower in zip(summary.index[:-1], summary.index[1:], strict=True):
        if means[upper] == means[lower]:
            first, second = summary.loc[[upper, lower], "train.batch_size"]
            assert trial_of[first] < trial_of[second]


class PlateauStop:
    """A plugin whose callback ends runs with a stop reason of its own."""

    class Plateau(sweepnp.Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 1:
                self.trainer.stop("plateau")

    @sweepnp.hookimpl
    def sweepnp_register_callbacks(self):
        return {"plateau": self.Plateau}


def test_a_plugins_own_stop_reason_reaches_the_tables(study_dict, journal, tmp_path, write_study):
    pm = PluginManager(load_entrypoints=False, extra=(PlateauStop(),))
    study_dict["callbacks"] = {"plateau": {}}
    study_dict["study"]["n_trials"] = 2
    run_study(write_study(tmp_path / "f.toml", study_dict), storage=journal, plugin_manager=pm)
    trials = results.load("small", journal).trials
    assert trials["stop_reason"].tolist() == ["plateau", "plateau"]
    assert "plateau" in trials["stop_reason"].cat.categories
    assert trials["epochs"].tolist() == [2, 2]


def test_a_stacked_study_trains_every_trial_as_the_one_at_a_time_loop_does(
    study_dict, journal, tmp_path, write_study
):
    """The same grid points with their repeats, stacked and one at a time: the same learning
    curves number for number, the same values, stop reasons and seeds."""
    study_dict["train"]["epochs"] = 6
    study_dict["callbacks"] = {"early_stopping": {"monitor": "val_loss", "patience": 2}}
    study_dict["study"].update(sampler="grid", repeats=2)
    study_dict["study"]["params"] = {
        "regularizers.dropout.rate": {"choices": [0.0, 0.3]},
        "optimizer.lr": {"choices": [0.05, 0.5]},
    }
    path = write_study(tmp_path / "grid.toml", study_dict)
    run_study(path, storage=journal, stack=8, name="stacked")
    run_study(path, storage=journal, stack=1, name="alone")
    keys = ["regularizers.dropout.rate", "optimizer.lr"]
    stacked, alone = results.load("stacked", journal), results.load("alone", journal)
    a, b = stacked.trials.set_index(keys), alone.trials.set_index(keys)
    assert len(a) == len(b) == 4
    for config, row in a.iterrows():
        other = b.loc[config]
        for column in ("value", "stop_reason", "epochs", "seeds"):
            assert row[column] == other[column], (config, column)
        curves = [
            res.curves[res.curves["trial"] == number].drop(columns=["trial", "epoch_seconds"])
            for res, number in ((stacked, row["number"]), (alone, other["number"]))
        ]
        assert curves[0].reset_index(drop=True).equals(curves[1].reset_index(drop=True))
        # and the same mean curve over repeats as Optuna's intermediate values
        (first,) = [t for t in stacked.study.trials if t.number == row["number"]]
        (second,) = [t for t in alone.study.trials if t.number == other["number"]]
        assert first.intermediate_values == second.intermediate_values != {}


def test_a_stack_refills_a_slot_as_soon_as_its_trial_ends(
    study_dict, journal, tmp_path, write_study
):
    """A long trial and short ones in a stack of two: the short ones follow one another in the
    other slot while the long one trains (continuous batching), told as each ends."""
    study_dict["callbacks"] = {}
    study_dict["study"].update(sampler={"name": "random", "seed": 0}, n_trials=4)
    study_dict["study"]["params"] = {"train.epochs": {"choices": [2, 3, 80]}}
    path = write_study(tmp_path / "refill.toml", study_dict)
    spec = load_spec(path)
    study = create_study(spec, journal)
    for epochs in (80, 2, 3, 2):  # trial 0: the long one
        study.enqueue_trial({"train.epochs": epochs})
    run_study(path, storage=journal, stack=2, spec=spec)
    trials = {t["number"]: t for _, t in results.load("small", journal).trials.iterrows()}
    long = trials[0]
    assert long["epochs"] == 80 and all(trials[n]["epochs"] in (2, 3) for n in (1, 2, 3))
    for number in (2, 3):  # asked and trained while the long trial was still training
        assert long["datetime_start"] < trials[number]["datetime_start"]
        assert trials[number]["datetime_complete"] < long["datetime_complete"]
    assert trials[1]["datetime_complete"] <= trials[2]["datetime_start"]


@pytest.mark.parametrize(
    ("sampler", "pruner", "slow_start"),
    [("tpe", "none", True), ("random", "median", True), ("random", "none", False)],
)
def test_a_study_steered_by_finished_trials_starts_its_stack_slowly(
    study_dict, journal, tmp_path, write_study, sampler, pruner, slow_start
):
    """TPE, or any pruner, learns only from finished trials: the first trial trains alone, then
    one more is let in per finished trial. Random sampling without a pruner fills the stack."""
    study_dict["callbacks"] = {}
    study_dict["train"]["epochs"] = 3
    study_dict["study"].update(sampler={"name": sampler, "seed": 0}, pruner=pruner, n_trials=6)
    path = write_study(tmp_path / "slow.toml", study_dict)
    run_study(path, storage=journal, stack=4)
    trials = results.load("small", journal).trials.set_index("number")
    start, end = trials["datetime_start"], trials["datetime_complete"]
    if slow_start:
        assert end[0] <= start[1]  # trial 0 alone
        first_of_two = min(end[1], end[2])
        assert start[2] < first_of_two <= start[3]  # then two at once, a third when one ends
    else:
        assert max(start[:4]) < end[0]  # four at once


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_a_continued_study_does_not_replay_its_samplers_random_start(study_dict, tmp_path, sampler):
    """A seeded sampler made again with the same seed would propose the first run's
    configurations a second time; continued, the study gets a seed of its own, the same at the
    same point."""
    study_dict["train"]["epochs"] = 1
    study_dict["study"]["sampler"] = {"name": sampler, "seed": 0}

    def in_two_runs(journal: str) -> list[dict]:
        run_study(study_dict, storage=journal, n_trials=3)
        run_study(study_dict, storage=journal, n_trials=6)
        return [t.params for t in optuna.load_study(study_name="small", storage=
                open_storage(journal)).get_trials()]  # fmt: skip

    params = in_two_runs(str(tmp_path / "a.journal"))
    assert len(params) == 6
    assert not any(later == first for later in params[3:] for first in params[:3])
    assert in_two_runs(str(tmp_path / "b.journal")) == params  # reproducible
