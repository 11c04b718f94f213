"""The built-in dataset plugins: bundled, synthetic and file loaders."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import sweepnp
from sweepnp import Dataset
from sweepnp.datasets import infer_task
from sweepnp.errors import ConfigError, DataError, OptionError
from sweepnp.plugins import PluginManager
from sweepnp_plugins.datasets import bundled, files, points, synthetic

# -------------------------------------------------------------------------
# Registration
# -------------------------------------------------------------------------


def test_every_dataset_is_registered_by_name():
    pm = PluginManager(load_entrypoints=False)
    assert {
        "breast_cancer",
        "digits",
        "digits01",
        "iris",
        "diabetes",
        "moons",
        "xor",
        "linear",
        "points",
        "file",
    } <= set(pm.names("datasets"))


# -------------------------------------------------------------------------
# Bundled
# -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loader", "shape", "task", "classes"),
    [
        (bundled.breast_cancer, (569, 30), "binary", [0, 1]),
        (bundled.digits, (1797, 64), "multiclass", list(range(10))),
        (bundled.digits01, (360, 64), "binary", [0, 1]),
        (bundled.iris, (150, 4), "multiclass", [0, 1, 2]),
        (bundled.diabetes, (442, 10), "regression", None),
    ],
)
def test_bundled_shapes_and_task(loader, shape, task, classes):
    data = loader()
    assert isinstance(data, Dataset)
    assert data.X.shape == shape
    assert data.X.dtype == np.float64
    assert data.y.shape == (shape[0],)
    assert data.task == task
    assert data.name == loader.__name__
    assert data.feature_names is not None and len(data.feature_names) == shape[1]
    if classes is None:
        assert data.y.dtype == np.float64
        assert data.target_names is None
    else:
        assert sorted(np.unique(data.y).tolist()) == classes
        assert data.target_names is not None and len(data.target_names) == len(classes)


def test_digits01_holds_only_zeros_and_ones_of_digits():
    full, pair = bundled.digits(), bundled.digits01()
    keep = full.y <= 1
    np.testing.assert_array_equal(pair.X, full.X[keep])
    np.testing.assert_array_equal(pair.y, full.y[keep])


# -------------------------------------------------------------------------
# Synthetic
# -------------------------------------------------------------------------


def test_moons_shape_task_and_seed():
    data = synthetic.moons(n_samples=150, noise=0.1, seed=3)
    assert data.X.shape == (150, 2)
    assert data.y.shape == (150,)
    assert data.task == "binary"
    assert set(np.unique(data.y)) == {0, 1}
    again = synthetic.moons(n_samples=150, noise=0.1, seed=3)
    np.testing.assert_array_equal(data.X, again.X)
    other = synthetic.moons(n_samples=150, noise=0.1, seed=4)
    assert not np.array_equal(data.X, other.X)


def test_xor_is_the_truth_table():
    data = synthetic.xor()
    np.testing.assert_array_equal(data.X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(data.y, [0, 1, 1, 0])
    assert data.task == "binary"


def test_xor_repeats_and_jitter():
    data = synthetic.xor(n_repeats=5, noise=0.05, seed=1)
    assert data.X.shape == (20, 2)
    np.testing.assert_array_equal(data.y, np.tile([0, 1, 1, 0], 5))
    corners = np.tile([[0, 0], [0, 1], [1, 0], [1, 1]], (5, 1))
    jitter = data.X - corners
    assert np.all(jitter != 0)
    assert np.abs(jitter).max() < 0.5


def test_xor_jitter_is_gaussian_with_noise_as_its_std_and_seeded():
    from scipy import stats

    corners = np.tile([[0, 0], [0, 1], [1, 0], [1, 1]], (2500, 1))
    jitter = synthetic.xor(n_repeats=2500, noise=0.05, seed=3).X - corners  # 10 000 values
    assert jitter.std() == pytest.approx(0.05, rel=0.03)
    assert abs(jitter.mean()) < 0.003  # six standard errors
    assert stats.kstest(jitter.ravel() / 0.05, "norm").pvalue > 1e-3  # N(0, 1) once scaled
    again = synthetic.xor(n_repeats=2500, noise=0.05, seed=3).X - corners
    np.testing.assert_array_equal(again, jitter)
    other = synthetic.xor(n_repeats=2500, noise=0.05, seed=4).X - corners
    assert not np.any(other == jitter)


def _seed_004_data():
    """Seed 004's generator, verbatim (global state), for comparison."""
    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(0)  # noqa: NPY002
        X = np.random.randn(100, 3)  # noqa: NPY002
        true_W = np.array([[2.0], [-3.0], [1.0]])
        y = X @ true_W + 0.5 * np.random.randn(100, 1)  # noqa: NPY002
    finally:
        np.random.set_state(state)  # noqa: NPY002
    return X, y


def test_linear_reproduces_seed_004_bit_for_bit():
    X_seed, y_seed = _seed_004_data()
    data = synthetic.linear(n_samples=100, weights=[2.0, -3.0, 1.0], noise=0.5, seed=0)
    assert data.task == "regression"
    assert data.X.shape == (100, 3)
    assert data.y.shape == (100,)
    assert np.array_equal(data.X, X_seed)
    assert np.array_equal(data.y, y_seed.ravel())
    # ... and the defaults are seed 004's.
    default = synthetic.linear()
    assert np.array_equal(default.X, X_seed)
    assert np.array_equal(default.y, y_seed.ravel())


def test_linear_does_not_touch_global_random_state():
    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(123)  # noqa: NPY002
        expected = np.random.rand()  # noqa: NPY002
        np.random.seed(123)  # noqa: NPY002
        synthetic.linear(seed=7)
        assert np.random.rand() == expected  # noqa: NPY002
    finally:
        np.random.set_state(state)  # noqa: NPY002


def test_linear_weights_set_the_feature_count():
    data = synthetic.linear(n_samples=30, weights=[1.0, 2.0, 3.0, 4.0, 5.0], noise=0.0, seed=2)
    assert data.X.shape == (30, 5)
    np.testing.assert_allclose(data.y, data.X @ np.arange(1.0, 6.0))


def test_linear_through_train_gets_the_data_seed():
    def run(seed):
        config = {
            "data": {"dataset": "linear", "seed": seed, "test_size": 0.0, "val_size": 0.0},
            "model": {"hidden": []},
            "train": {"epochs": 1, "batch_size": "full"},
        }
        return sweepnp.train(config).history["loss"].iloc[0]

    assert run(0) == run(0)
    assert run(0) != run(1)


@pytest.mark.parametrize(
    ("loader", "kwargs", "option"),
    [
        (synthetic.moons, {"n_samples": 0}, "n_samples"),
        (synthetic.moons, {"noise": -0.1}, "noise"),
        (synthetic.moons, {"seed": -1}, "seed"),
        (synthetic.xor, {"n_repeats": 0}, "n_repeats"),
        (synthetic.xor, {"noise": float("nan")}, "noise"),
        (synthetic.linear, {"weights": []}, "weights"),
        (synthetic.linear, {"weights": [1.0, float("inf")]}, "weights"),
        (synthetic.linear, {"weights": "abc"}, "weights"),
        (synthetic.linear, {"n_samples": 2.5}, "n_samples"),
    ],
)
def test_synthetic_bad_options_name_the_option(loader, kwargs, option):
    with pytest.raises(OptionError) as info:
        loader(**kwargs)
    assert info.value.option == option


def test_points_are_the_rows_as_written_in_their_order():
    data = points.points(X=[[1, 2.5], [3.0, -4.0], [0.0, 0.5]], y=[2.0, 4, 6.5], task="regression")
    np.testing.assert_array_equal(data.X, [[1.0, 2.5], [3.0, -4.0], [0.0, 0.5]])
    assert data.X.dtype == np.float64
    np.testing.assert_array_equal(data.y, [2.0, 4.0, 6.5])
    assert (data.task, data.feature_names) == ("regression", ["x1", "x2"])
    assert points.points(X=[[0.0], [1.0]], y=[0, 1]).task is None  # inferred by sweepnp


def test_points_in_a_run_file_train_on_every_row_unchanged():
    config = {
        "data": {
            "dataset": {"name": "points", "X": [[0.5], [1.5], [2.0], [3.0]], "y": [0, 0, 1, 1]},
            "test_size": 0.0,
            "val_size": 0.0,
            "scale": "none",
        },
        "model": {"hidden": []},
        "train": {"epochs": 1, "batch_size": "full"},
    }
    trainer = sweepnp.Trainer(config)
    assert trainer.data.task == "binary"
    np.testing.assert_array_equal(trainer.data.X_train.ravel(), [0.5, 1.5, 2.0, 3.0])


@pytest.mark.parametrize(
    ("kwargs", "option", "message"),
    [
        ({"X": [], "y": []}, "X", "at least one row"),
        ({"X": [[1.0], [2.0, 3.0]], "y": [1, 2]}, "X", "the same number"),
        ({"X": [[], []], "y": [1, 2]}, "X", "the same number"),
        ({"X": [[1.0], [2.0]], "y": [1.0]}, "y", "one target per row of X (2), got 1"),
    ],
)
def test_points_mistakes_name_the_option(kwargs, option, message):
    with pytest.raises(OptionError) as info:
        points.points(**kwargs)
    assert info.value.option == option
    assert message in info.value.reason


def test_points_of_the_wrong_type_are_refused_under_their_key():
    config = {"data": {"dataset": {"name": "points", "X": [["a"]], "y": [1.0]}}}
    with pytest.raises(ConfigError) as info:
        sweepnp.train(config)
    assert info.value.key == "data.dataset.X"


def test_bad_dataset_option_in_a_run_is_reported_under_its_key():
    config = {"data": {"dataset": {"name": "moons", "noise": -1.0}}}
    with pytest.raises(ConfigError) as info:
        sweepnp.train(config)
    assert info.value.key == "data.dataset.noise"


# -------------------------------------------------------------------------
# Files
# -------------------------------------------------------------------------


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": rng.normal(size=12),
            "b": rng.integers(0, 5, size=12),
            "flag": rng.integers(0, 2, size=12).astype(bool),
            "label": ["cat", "dog", "bird"] * 4,
        }
    )


def test_csv_round_trip(tmp_path, frame):
    path = tmp_path / "pets.csv"
    frame.to_csv(path, index=False)
    data = files.file(path=str(path), target="label")
    assert data.feature_names == ["a", "b", "flag"]
    assert data.X.dtype == np.float64
    np.testing.assert_allclose(data.X, frame[["a", "b", "flag"]].to_numpy(dtype=float))
    assert data.y.tolist() == frame["label"].tolist()
    assert data.task is None
    assert data.name == "pets"


def test_csv_task_option_and_compressed_suffix(tmp_path, frame):
    path = tmp_path / "pets.csv.gz"
    frame.to_csv(path, index=False)
    data = files.file(path=str(path), target="label", task="multiclass")
    assert data.task == "multiclass"
    assert data.X.shape == (12, 3)
    assert data.name == "pets"


def test_parquet_round_trip(tmp_path, frame):
    path = tmp_path / "pets.parquet"
    frame.to_parquet(path)
    data = files.file(path=str(path), target="label")
    assert data.feature_names == ["a", "b", "flag"]
    np.testing.assert_allclose(data.X, frame[["a", "b", "flag"]].to_numpy(dtype=float))
    assert data.y.tolist() == frame["label"].tolist()


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(10, 4))
    y = rng.normal(size=10)
    path = tmp_path / "arrays.npz"
    np.savez(path, X=X, y=y)
    data = files.file(path=str(path))
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.y, y)
    assert data.feature_names is None


def test_npz_images_are_flattened_and_string_labels_kept(tmp_path):
    X = np.arange(5 * 2 * 3).reshape(5, 2, 3)
    y = np.array(["a", "b", "a", "b", "a"])
    path = tmp_path / "images.npz"
    np.savez(path, X=X, y=y)
    data = files.file(path=str(path))
    assert data.X.shape == (5, 6)
    assert data.y.tolist() == y.tolist()


def test_explicit_format_overrides_the_suffix(tmp_path, frame):
    path = tmp_path / "pets.data"
    frame.to_csv(path, index=False)
    with pytest.raises(OptionError) as info:
        files.file(path=str(path), target="label")
    assert info.value.option == "format"
    data = files.file(path=str(path), target="label", format="csv")
    assert data.X.shape == (12, 3)


def test_csv_file_trains_through_the_path_shorthand(tmp_path):
    data = synthetic.moons(n_samples=80, seed=0)
    frame = pd.DataFrame(data.X, columns=["u", "v"])
    frame["kind"] = np.where(data.y == 1, "upper", "lower")
    path = tmp_path / "moons.csv"
    frame.to_csv(path, index=False)
    result = sweepnp.train(
        {
            "data": {"dataset": {"path": str(path), "target": "kind"}},
            "train": {"epochs": 3},
        }
    )
    assert result.model.task == "binary"
    assert set(result.model.predict(frame[["u", "v"]].to_numpy())) <= {"upper", "lower"}


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere.csv"
    with pytest.raises(DataError, match=r"nowhere\.csv"):
        files.file(path=str(path), target="y")


def test_directory_is_not_a_data_file(tmp_path):
    path = tmp_path / "folder.csv"
    path.mkdir()
    with pytest.raises(DataError, match=r"folder\.csv"):
        files.file(path=str(path), target="y")


def test_unreadable_parquet_names_the_path(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match=r"broken\.parquet"):
        files.file(path=str(path), target="y")


def test_unreadable_npz_names_the_path(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(DataError, match=r"broken\.npz"):
        files.file(path=str(path))


def test_empty_csv_names_the_path(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv"):
        files.file(path=str(path), target="y")


def test_header_only_csv_has_no_rows(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("a,b,y\n")
    with pytest.raises(DataError, match="no rows"):
        files.file(path=str(path), target="y")


def test_missing_target_column_lists_the_columns_of_a_table_of_data(tmp_path, frame):
    path = tmp_path / "pets.csv"
    frame.rename(columns={"flag": "flagged"}).to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        files.file(path=str(path), target="species")
    message = str(info.value)
    assert message.endswith(
        "has no target column 'species' (it has 4 columns: a, b, flagged, label)"
    )


def test_missing_target_column_lists_the_first_ten_columns_and_counts_the_rest(tmp_path):
    path = tmp_path / "wide.csv"
    names = [f"feature_{i}" for i in range(31)]
    pd.DataFrame(np.zeros((3, 31)), columns=names).to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        files.file(path=str(path), target="Feature_30s")
    listed = ", ".join(names[:10])
    assert str(info.value).endswith(
        f"(it has 31 columns: {listed} and 21 more); did you mean 'feature_30'?"
    )


SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYzz"


@pytest.mark.parametrize(
    "content",
    [
        f"AWS_SECRET_ACCESS_KEY={SECRET}\nDEBUG=1\n",
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}\n",
        f"admin,{SECRET}\nbob,{SECRET[::-1]}\n",
    ],
    ids=[".env", "private key", "password list"],
)
def test_a_file_that_is_no_table_of_data_gets_the_count_alone(tmp_path, content):
    """pandas takes a file's first line for its column names: for a file named by mistake,
    that line may be a secret, and is not printed."""
    path = tmp_path / "named_by_mistake.csv"
    path.write_text(content)
    with pytest.raises(DataError) as info:
        files.file(path=str(path), target="label")
    message = str(info.value)
    assert SECRET not in message and "BEGIN" not in message
    assert re.search(r"has no target column 'label' \(it has [12] columns?\)$", message)


@pytest.mark.parametrize(
    ("target", "near"), [("lable", "label"), ("Label", "label"), ("labels", "label")]
)
def test_missing_target_column_suggests_a_near_miss(tmp_path, frame, target, near):
    path = tmp_path / "pets.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=f"did you mean '{near}'"):
        files.file(path=str(path), target=target)


def test_non_numeric_feature_columns_are_named(tmp_path, frame):
    frame = frame.assign(colour=["red", "green", "blue"] * 4, size=["s", "m", "l", "xl"] * 3)
    path = tmp_path / "pets.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        files.file(path=str(path), target="label")
    message = str(info.value)
    assert "pets.csv" in message
    assert "colour" in message and "size" in message
    assert "'a'" not in message


def test_target_is_required_for_tables(tmp_path, frame):
    path = tmp_path / "pets.parquet"
    frame.to_parquet(path)
    with pytest.raises(OptionError) as info:
        files.file(path=str(path))
    assert info.value.option == "target"


def test_target_is_refused_for_npz(tmp_path):
    path = tmp_path / "arrays.npz"
    np.savez(path, X=np.zeros((3, 2)), y=np.zeros(3))
    with pytest.raises(OptionError) as info:
        files.file(path=str(path), target="y")
    assert info.value.option == "target"


def test_npz_without_x_and_y_lists_its_arrays(tmp_path):
    path = tmp_path / "arrays.npz"
    np.savez(path, features=np.zeros((3, 2)), labels=np.zeros(3))
    with pytest.raises(DataError) as info:
        files.file(path=str(path))
    message = str(info.value)
    assert "features" in message and "labels" in message


def test_npz_object_arrays_are_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, X=np.zeros((2, 2)), y=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="object arrays"):
        files.file(path=str(path))


def test_npz_row_mismatch(tmp_path):
    path = tmp_path / "arrays.npz"
    np.savez(path, X=np.zeros((3, 2)), y=np.zeros(4))
    with pytest.raises(DataError, match="3 rows"):
        files.file(path=str(path))


def test_missing_file_in_a_run_is_a_config_error(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(ConfigError, match=r"absent\.csv"):
        sweepnp.train({"data": {"dataset": {"path": str(path), "target": "y"}}})


@pytest.mark.parametrize(
    ("y", "task"),
    [
        (np.array([0, 1] * 40), "binary"),
        (np.arange(80) % 5, "multiclass"),
        (np.array([f"label{i}" for i in range(80)]), "multiclass"),  # many, but names
        (np.arange(80), "regression"),  # many distinct integers: a count
        (np.linspace(0, 1, 80), "regression"),
    ],
)
def test_the_task_of_an_unlabelled_target_is_guessed_from_its_values(y, task):
    assert infer_task(Dataset(X=np.zeros((80, 1)), y=y)) == task
