"""The scikit-learn estimators: scikit-learn's own checks, and real use in its tools."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import sweepnp
from sweepnp.estimators import SweepnpClassifier, SweepnpRegressor

ROOT = Path(__file__).resolve().parents[1]

#: Every section set, and the parts of the network that carry state: batch norm, dropout masks.
RICH = {
    "model": {"hidden": [8, 8], "activation": "tanh", "batch_norm": True, "init": "xavier"},
    "train": {"epochs": 40, "batch_size": 16},
    "optimizer": {"name": "adam", "lr": 0.01},
    "regularizers": {"l2": {"lam": 1e-4}, "dropout": {"rate": 0.1}},
    "schedule": {"name": "cosine"},
    "callbacks": {"gradient_clipping": {"threshold": 5.0}},
}

#: Early stopping draws a stratified validation split (10% of the rows) out of the training data.
EARLY_STOPPING = SweepnpClassifier(callbacks={"early_stopping": {"patience": 5}}, random_state=0)

#: Why the checks below fail for EARLY_STOPPING: each fits a few rows of 2 or 3 classes, whose
#: 10% stratified validation split has fewer rows than classes, so fit raises "cannot split off
#: the validation set" before the check gets to what it tests.
_TINY = (
    "early stopping's stratified 10% validation split of the check's {} rows of {} classes has "
    "fewer rows than classes, so fit raises a ValueError about the split"
)
EARLY_STOPPING_FAILS = {
    "check_dict_unchanged": _TINY.format(20, 3),
    "check_dont_overwrite_parameters": _TINY.format(20, 3),
    "check_estimators_nan_inf": _TINY.format(10, 2),
    "check_f_contiguous_array_estimator": _TINY.format(20, 3),
    "check_fit2d_1feature": _TINY.format(10, 2) + ", not one of the messages the check accepts",
    "check_fit2d_predict1d": _TINY.format(20, 3),
    "check_methods_sample_order_invariance": _TINY.format(20, 3),
    "check_methods_subset_invariance": _TINY.format(20, 3),
    "check_n_features_in_after_fitting": _TINY.format(15, 3),
}


def _expected_failed_checks(estimator):
    return EARLY_STOPPING_FAILS if estimator is EARLY_STOPPING else {}


@parametrize_with_checks(
    [
        SweepnpClassifier(),
        SweepnpRegressor(),
        SweepnpClassifier(**RICH),
        SweepnpRegressor(**RICH),
        EARLY_STOPPING,
    ],
    expected_failed_checks=_expected_failed_checks,
    xfail_strict=True,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


# -------------------------------------------------------------------------
# Real use
# -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def breast_cancer():
    return load_breast_cancer(return_X_y=True)


def test_pipeline_in_cross_val_score_is_well_above_chance(breast_cancer):
    X, y = breast_cancer
    pipe = make_pipeline(StandardScaler(), SweepnpClassifier(train={"epochs": 30}, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=5)
    chance = np.bincount(y).max() / len(y)  # always predicting the majority class
    assert len(scores) == 5
    assert scores.mean() > chance + (1 - chance) / 2, (scores, chance)
    assert scores.min() > chance


def test_grid_search_over_nested_parameters(breast_cancer):
    X, y = breast_cancer
    train = {"epochs": 10}
    pipe = Pipeline(
        [("scale", StandardScaler()), ("net", SweepnpClassifier(train=train, random_state=0))]
    )
    grid = {"net__optimizer__lr": [0.001, 0.1], "net__regularizers__dropout__rate": [0.0, 0.3]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)

    assert len(search.cv_results_["params"]) == 4
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert search.best_params_["net__optimizer__lr"] in grid["net__optimizer__lr"]
    assert search.best_params_["net__regularizers__dropout__rate"] in (0.0, 0.3)
    # 10 epochs of plain SGD at lr 0.001 barely move: the search must see the difference.
    assert search.best_params_["net__optimizer__lr"] == 0.1
    best = search.best_estimator_.named_steps["net"]
    assert best.optimizer == {"name": "sgd", "lr": 0.1}
    rate = search.best_params_["net__regularizers__dropout__rate"]
    assert best.regularizers == {"dropout": {"rate": rate}}
    assert best.config_["optimizer"]["lr"] == 0.1
    assert pipe.named_steps["net"].optimizer is None  # the searched estimator is untouched
    assert train == {"epochs": 10}


def test_regressor_fits_a_linear_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = X @ np.array([2.0, -3.0, 1.0]) + 0.5 + rng.normal(scale=0.1, size=400)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    reg = SweepnpRegressor(model={"hidden": []}, train={"epochs": 50}, random_state=0)
    reg.fit(X_train, y_train)
    noise_share = 0.1**2 / y_test.var()  # the best possible model still misses the noise
    assert reg.score(X_test, y_test) > 1 - 10 * noise_share
    assert reg.predict(X_test).shape == (len(X_test),)
    assert reg.n_outputs_ == 1
    assert set(reg.metrics_) == {"loss", "mse", "r2"}


def test_regressor_with_several_targets_predicts_them_all():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    Y = np.column_stack([X[:, 0] - X[:, 1], 2 * X[:, 2]])
    reg = SweepnpRegressor(train={"epochs": 60}, random_state=0).fit(X, Y)
    assert reg.n_outputs_ == 2
    assert reg.predict(X).shape == (300, 2)
    assert r2_score(Y, reg.predict(X), multioutput="raw_values").min() > 0.9
    column = SweepnpRegressor(train={"epochs": 5}).fit(X, Y[:, :1])
    assert column.predict(X).shape == (300, 1)


def test_classifier_keeps_labels_and_feature_names():
    iris = load_iris(as_frame=True)
    X, y = iris.data, iris.target_names[iris.target]  # string labels
    clf = SweepnpClassifier(optimizer={"name": "adam", "lr": 0.01}, random_state=0).fit(X, y)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert list(clf.feature_names_in_) == list(X.columns)
    assert clf.n_features_in_ == 4
    assert set(clf.predict(X)) <= set(clf.classes_)
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    assert clf.decision_function(X).shape == (150, 3)
    assert clf.score(X, y) > 0.9
    assert clf.model_.task == "multiclass"
    # the fitted attributes describe the run
    assert clf.n_iter_ == 100 and clf.stop_reason_ == "completed"
    assert isinstance(clf.history_, pd.DataFrame) and len(clf.history_) == 100
    assert "val_loss" not in clf.history_  # no validation split unless asked for
    assert clf.loss_ == clf.history_["loss"].iloc[-1]


def test_binary_decision_function_is_one_column_of_logits(breast_cancer):
    X, y = breast_cancer
    clf = SweepnpClassifier(train={"epochs": 5}, random_state=0).fit(X, y)
    assert clf.model_.task == "binary"
    decision = clf.decision_function(X)
    assert decision.shape == (len(X),)
    np.testing.assert_array_equal(clf.classes_[(decision > 0).astype(int)], clf.predict(X))


# -------------------------------------------------------------------------
# Parameters
# -------------------------------------------------------------------------


def test_deep_get_params_lists_the_options_inside_sections():
    clf = SweepnpClassifier(
        optimizer={"name": "adam", "lr": 0.01},
        regularizers={"l2": {"lam": 1e-3}},
        train={"batch_size": 64},
    )
    deep = clf.get_params(deep=True)
    assert deep["optimizer__lr"] == 0.01
    assert deep["optimizer__name"] == "adam"
    assert deep["train__batch_size"] == 64
    assert deep["regularizers__l2"] == {"lam": 1e-3}
    assert deep["regularizers__l2__lam"] == 1e-3
    shallow = clf.get_params(deep=False)
    assert set(shallow) == {
        "model",
        "train",
        "optimizer",
        "regularizers",
        "schedule",
        "callbacks",
        "data",
        "random_state",
    }
    assert shallow.items() <= deep.items()


def test_nested_set_params_copies_and_never_mutates_the_callers_dicts():
    optimizer = {"name": "adam", "lr": 0.01}
    regularizers = {"l2": {"lam": 1e-3}}
    clf = SweepnpClassifier(optimizer=optimizer, regularizers=regularizers)
    clf.set_params(optimizer__lr=0.1, regularizers__l2__lam=0.5, regularizers__dropout__rate=0.2)
    assert optimizer == {"name": "adam", "lr": 0.01}
    assert regularizers == {"l2": {"lam": 1e-3}}
    assert clf.optimizer == {"name": "adam", "lr": 0.1}
    assert clf.regularizers == {"l2": {"lam": 0.5}, "dropout": {"rate": 0.2}}
    # a section that was None starts from the run file's default
    fresh = SweepnpClassifier().set_params(
        callbacks__early_stopping__patience=3, optimizer__lr=0.1, schedule__interval="batch"
    )
    assert fresh.callbacks == {"early_stopping": {"patience": 3}}
    assert fresh.optimizer == {"name": "sgd", "lr": 0.1}
    assert fresh.schedule == {"name": "constant", "interval": "batch"}
    assert SweepnpClassifier().optimizer is None
    # a whole section and an option inside it: the section first
    both = SweepnpClassifier().set_params(optimizer__lr=0.2, optimizer={"name": "sgd"})
    assert both.optimizer == {"name": "sgd", "lr": 0.2}


def test_nested_set_params_trains_like_the_constructor(breast_cancer):
    X, y = breast_cancer
    via_set = SweepnpClassifier(train={"epochs": 5}, random_state=0).set_params(
        optimizer__name="sgd", optimizer__lr=0.5
    )
    direct = SweepnpClassifier(
        train={"epochs": 5}, optimizer={"name": "sgd", "lr": 0.5}, random_state=0
    )
    default = SweepnpClassifier(train={"epochs": 5}, random_state=0)
    p_set = via_set.fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p_set, direct.fit(X, y).predict_proba(X))
    assert not np.array_equal(p_set, default.fit(X, y).predict_proba(X))


@pytest.mark.parametrize(
    "key", ["nope", "random_state__x", "optimizer__", "train____epochs", "model__hidden__0"]
)
def test_set_params_rejects_what_it_cannot_set(key):
    clf = SweepnpClassifier(model={"hidden": [4]})
    with pytest.raises(ValueError, match=re.escape(key.split("__")[0])):
        clf.set_params(**{key: 1})


def test_clone_copies_the_parameters():
    optimizer = {"name": "adam", "lr": 0.01}
    clf = SweepnpClassifier(optimizer=optimizer, random_state=3)
    copy = clone(clf)
    assert copy.get_params(deep=False) == clf.get_params(deep=False)
    assert copy.optimizer is not optimizer


# -------------------------------------------------------------------------
# Seeds
# -------------------------------------------------------------------------


def test_same_random_state_gives_identical_predictions(breast_cancer):
    X, y = breast_cancer
    params = {"train": {"epochs": 5}, "regularizers": {"dropout": {"rate": 0.3}}}
    first = SweepnpClassifier(**params, random_state=7).fit(X, y).predict_proba(X)
    second = SweepnpClassifier(**params, random_state=7).fit(X, y).predict_proba(X)
    other = SweepnpClassifier(**params, random_state=8).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_an_explicit_train_seed_wins_over_random_state(breast_cancer):
    X, y = breast_cancer
    short = {"epochs": 3}
    by_state = SweepnpClassifier(train=short, random_state=3).fit(X, y)
    by_seed = SweepnpClassifier(train={**short, "seed": 3}, random_state=11).fit(X, y)
    np.testing.assert_array_equal(by_state.predict_proba(X), by_seed.predict_proba(X))
    assert by_seed.config_["train"]["seed"] == 3
    assert by_seed.config_["data"]["seed"] == 11


def test_pickled_estimator_predicts_the_same(breast_cancer):
    X, y = breast_cancer
    clf = SweepnpClassifier(model={"batch_norm": True}, train={"epochs": 3}).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert again.n_iter_ == clf.n_iter_


# -------------------------------------------------------------------------
# Validation split, errors and warnings
# -------------------------------------------------------------------------


def test_early_stopping_gets_a_validation_split(breast_cancer):
    X, y = breast_cancer
    clf = SweepnpClassifier(
        callbacks={"early_stopping": {"patience": 2}},
        optimizer={"name": "adam", "lr": 0.05},
        random_state=0,
    ).fit(X, y)
    assert clf.config_["data"]["val_size"] == 0.1
    assert "val_loss" in clf.history_
    assert clf.stop_reason_ == "early_stopped"
    assert clf.n_iter_ < 100
    chosen = SweepnpClassifier(
        callbacks={"early_stopping": {}}, data={"val_size": 0.3}, train={"epochs": 2}
    ).fit(X, y)
    assert chosen.config_["data"]["val_size"] == 0.3


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"optimizer": {"name": "adam", "lr": -1.0}}, "optimizer.lr"),
        ({"optimizer": {"name": "adma"}}, "optimizer"),
        ({"train": {"epoch": 5}}, "train.epoch"),
        ({"train": {"batch_size": "32"}}, "train.batch_size"),
        ({"regularizers": {"dropout": {"rate": 2.0}}}, "regularizers.dropout.rate"),
        ({"data": {"test_size": 0.2}}, "data.test_size"),
        ({"data": {"dataset": "iris"}}, "data.dataset"),
        ({"model": {"task": "regression"}}, "model.task"),
        ({"optimizer": "adam"}, "optimizer"),
        ({"random_state": -1}, "random_state"),
        ({"random_state": 1.5}, "random_state"),
    ],
)
def test_a_bad_option_is_a_value_error_naming_its_key(params, key):
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    clf = SweepnpClassifier(**params)  # storing parameters never validates them
    with pytest.raises(ValueError, match=re.escape(f": {key}: ")) as info:
        clf.fit(X, y)
    assert isinstance(info.value, sweepnp.ConfigError)
    assert info.value.key == key
    assert not hasattr(clf, "model_")


def test_a_regressor_rejects_a_classification_task():
    with pytest.raises(ValueError, match=re.escape("model.task")) as info:
        SweepnpRegressor(model={"task": "binary"}).fit([[0.0], [1.0]], [0.0, 1.0])
    assert "regression" in str(info.value)


def test_too_small_a_validation_split_says_so():
    X = np.arange(20.0).reshape(-1, 1)
    y = np.arange(20) % 4
    clf = SweepnpClassifier(data={"val_size": 0.1})
    with pytest.raises(ValueError, match="cannot split off the validation set") as info:
        clf.fit(X, y)
    assert info.value.key == "data.val_size"


def test_a_diverging_classifier_is_not_told_to_scale_its_target(breast_cancer):
    X, y = breast_cancer
    clf = SweepnpClassifier(optimizer={"name": "sgd", "lr": 1e200}, random_state=0)
    with pytest.warns(ConvergenceWarning, match="diverged") as caught:
        clf.fit(X, y)
    assert clf.stop_reason_ == "diverged"
    assert not any("scale_target" in str(w.message) for w in caught)


def test_divergence_warns(breast_cancer):
    X, y = breast_cancer
    y_far = 1e3 * (y - 0.5)
    reg = SweepnpRegressor(
        optimizer={"name": "sgd", "lr": 1.0}, data={"scale_target": "none"}, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="diverged"):
        reg.fit(X, y_far)
    assert reg.stop_reason_ == "diverged"
    assert reg.n_iter_ < 100


@pytest.fixture(scope="module")
def diabetes():
    from sklearn.datasets import load_diabetes

    return load_diabetes(return_X_y=True)  # targets 25..346


def test_the_default_regressor_is_finite_on_diabetes_where_mlp_regressor_is(diabetes):
    from sklearn.neural_network import MLPRegressor

    X, y = diabetes
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # no divergence, no NaN predictions
        reg = SweepnpRegressor().fit(X_train, y_train)
        predictions = reg.predict(X_test)
    assert reg.stop_reason_ == "completed"
    assert reg.config_["data"]["scale_target"] == "standard"
    assert np.isfinite(predictions).all()
    with warnings.catch_warnings():  # its 200 iterations of Adam have not converged
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPRegressor(random_state=0).fit(X_train, y_train)
    assert np.isfinite(mlp.predict(X_test)).all()
    # in the target's units, as the MLP answers, and explaining much of it
    assert abs(predictions.mean() - y_test.mean()) < y_test.std()
    assert reg.score(X_test, y_test) > 0.2
    assert reg.get_params()["data"] is None  # the default is not written into the parameters


def test_cross_val_score_with_the_default_regressor_is_finite_on_diabetes(diabetes):
    X, y = diabetes
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        scores = cross_val_score(SweepnpRegressor(train={"epochs": 30}), X, y, cv=3)
    assert np.isfinite(scores).all()


def test_a_nan_cross_val_score_comes_with_a_warning_naming_the_cause(diabetes):
    X, y = diabetes
    raw = SweepnpRegressor(data={"scale_target": "none"}, train={"epochs": 5})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = cross_val_score(raw, X, y, cv=2)
    assert np.isnan(scores).all()
    ours = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert ours
    assert all("SweepnpRegressor" in text for text in ours)
    assert any("training diverged" in text and "scale_target" in text for text in ours)
    assert any(
        "predictions are not all finite: training diverged at epoch" in text for text in ours
    )


def test_predictions_that_overflow_warn_naming_the_cause(diabetes):
    X, y = diabetes
    reg = SweepnpRegressor(train={"epochs": 3}, random_state=0).fit(X, y)
    far = np.full((2, X.shape[1]), 1e306)
    with np.errstate(over="ignore"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not np.isfinite(reg.predict(far)).any()
    (ours,) = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert ours.startswith("SweepnpRegressor: predictions are not all finite: the network's")
    assert "overflow" in ours


def test_a_standardized_target_trains_where_the_raw_one_diverges(diabetes):
    from sklearn.linear_model import LinearRegression

    X, y = diabetes
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    raw = SweepnpRegressor(train={"epochs": 40}, data={"scale_target": "none"}, random_state=0)
    with pytest.warns(ConvergenceWarning, match="scale_target"):
        raw.fit(X_train, y_train)
    assert raw.stop_reason_ == "diverged"
    with pytest.warns(ConvergenceWarning, match="not all finite: training diverged at epoch"):
        assert not np.isfinite(raw.predict(X_test)).all()
    linear = {"model": {"hidden": []}, "train": {"epochs": 40}, "random_state": 0}
    scaled = SweepnpRegressor(**linear).fit(X_train, y_train)  # standardized by default
    assert scaled.stop_reason_ == "completed"
    # a linear network on the standardized target nearly matches least squares, scored (R²)
    # on the target's own units
    least_squares = LinearRegression().fit(X_train, y_train).score(X_test, y_test)
    assert scaled.score(X_test, y_test) > least_squares - 0.05
    column = scaled.fit(X_train, y_train.reshape(-1, 1)).predict(X_test)
    assert column.shape == (len(X_test), 1)


@pytest.mark.slow
def test_the_estimators_are_lazy_attributes_of_the_package():
    """A new interpreter: what importing sweepnp alone imports."""
    code = (
        "import sys, sweepnp\n"
        "assert 'sklearn' not in sys.modules and 'sweepnp.estimators' not in sys.modules\n"
        "assert 'SweepnpClassifier' in sweepnp.__all__ and 'SweepnpRegressor' in sweepnp.__all__\n"
        "from sweepnp.estimators import SweepnpClassifier, SweepnpRegressor\n"
        "assert sweepnp.SweepnpClassifier is SweepnpClassifier\n"
        "assert sweepnp.SweepnpRegressor is SweepnpRegressor\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_guide_examples_run():
    text = (ROOT / "docs" / "estimators.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/estimators.md", "exec"), namespace)


def test_the_guide_lists_the_expected_failed_checks():
    text = (ROOT / "docs" / "estimators.md").read_text()
    for check in EARLY_STOPPING_FAILS:
        assert f"`{check}`" in text
