"""The learning-rate range test: `sweepnp.lr_finder.find_lr` and `sweepnp lr-find`, on real runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sweepnp.config import parse
from sweepnp.lr_finder import find_lr, skipped_steps
from sweepnp.trainer import train

# studies/quickstart.toml's base sections (source exercise 000's breast-cancer network, plain SGD),
# plus its [study] table: lr-find accepts a study file and ignores [study].
RUN_FILE = """
[data]
dataset = "breast_cancer"
seed = 42

[model]
task = "binary"
hidden = [16]
init = { name = "normal", std = 0.01 }

[train]
epochs = 100
batch_size = 32
seed = 42

[optimizer]
name = "sgd"
lr = 0.05

[regularizers]
l2 = { lam = 0.001 }
dropout = { rate = 0.1 }

[callbacks]
early_stopping = { monitor = "val_loss", patience = 10 }

[study]
name = "lr-find-test"
metric = "val_accuracy"

[study.params]
"regularizers.l2.lam" = { low = 1e-5, high = 1e-1, log = true }
"""


@pytest.fixture(scope="module")
def run_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lr_find") / "run.toml"
    path.write_text(RUN_FILE, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def result(run_file):
    """The default test: 1e-7 → 10 over 100 batches."""
    return find_lr(run_file)


def central_slope(lr: np.ndarray, smoothed: np.ndarray) -> np.ndarray:
    """d smoothed / d log10(lr) by hand: central differences inside, one-sided at the ends."""
    x = np.log10(lr)
    slope = np.empty_like(smoothed)
    slope[1:-1] = (smoothed[2:] - smoothed[:-2]) / (x[2:] - x[:-2])
    slope[0] = (smoothed[1] - smoothed[0]) / (x[1] - x[0])
    slope[-1] = (smoothed[-1] - smoothed[-2]) / (x[-1] - x[-2])
    return slope


def test_the_rate_grows_exponentially_by_a_constant_ratio_from_start(run_file):
    start, end, n = 1e-6, 1.0, 50
    history = find_lr(run_file, start=start, end=end, num_steps=n).steps
    assert list(history.columns) == ["step", "lr", "loss", "smoothed_loss"]
    assert history["step"].tolist() == list(range(len(history)))
    lr = history["lr"].to_numpy()
    assert lr[0] == start
    ratios = lr[1:] / lr[:-1]
    np.testing.assert_allclose(ratios, (end / start) ** (1 / (n - 1)), rtol=1e-12)
    if len(history) == n:
        assert lr[-1] == pytest.approx(end, rel=1e-12)


def test_the_smoothed_loss_is_the_bias_corrected_moving_average(result):
    loss = result.steps["loss"].to_numpy()
    beta, average, expected = 0.98, 0.0, []
    for k, value in enumerate(loss):
        average = beta * average + (1 - beta) * value
        expected.append(average / (1 - beta ** (k + 1)))
    np.testing.assert_allclose(result.steps["smoothed_loss"], expected, rtol=1e-12)
    assert result.steps["smoothed_loss"].iat[0] == loss[0]  # bias correction: no pull to 0


def test_it_stops_early_when_the_loss_explodes(run_file):
    result = find_lr(run_file, end=100.0, num_steps=100)
    assert result.stopped_early
    smoothed = result.steps["smoothed_loss"].to_numpy()
    assert len(smoothed) < 100
    best_before = np.minimum.accumulate(smoothed)[:-1]
    assert smoothed[-1] > 4.0 * best_before[-1]  # the step that stopped it is recorded
    assert np.all(smoothed[1:-1] <= 4.0 * best_before[:-1])  # and it is the first such step
    assert result.steps["loss"].iat[-1] > 10 * result.steps["loss"].min()


def test_the_suggestion_is_where_the_smoothed_loss_falls_fastest(result):
    lr = result.steps["lr"].to_numpy()
    smoothed = result.steps["smoothed_loss"].to_numpy()
    # The documented window: after the smoothing's warm-up, up to the lowest smoothed loss.
    first = skipped_steps(100, 0.98)
    lowest = first + int(np.argmin(smoothed[first:]))
    steepest = first + int(np.argmin(central_slope(lr, smoothed)[first : lowest + 1]))
    assert abs(result.suggestion_step - steepest) <= 1
    assert result.suggestion == lr[result.suggestion_step]
    assert smoothed[result.suggestion_step] < smoothed[0]
    # The descent is real: the smoothed loss keeps falling after the suggestion.
    assert smoothed[lowest] < smoothed[result.suggestion_step] < smoothed[first]


def test_the_suggested_rate_trains_better_than_the_starting_rate(run_file, result):
    def final_loss(lr: float) -> float:
        config = parse(run_file, overrides=[f"optimizer.lr={lr!r}", "train.epochs=5"])
        return train(config).metrics["loss"]

    at_suggestion, at_start = final_loss(result.suggestion), final_loss(1e-7)
    assert np.isfinite(at_suggestion)
    assert at_suggestion < at_start - 0.2  # 0.69 (chance) barely moves at 1e-7


def test_the_same_config_gives_the_same_numbers(run_file, result):
    again = find_lr(run_file)
    pd.testing.assert_frame_equal(again.steps, result.steps)
    assert again.suggestion == result.suggestion
    assert again.stopped_early == result.stopped_early


def test_gradient_clipping_from_the_run_file_applies_to_the_test(run_file, result):
    clipped = find_lr(
        parse(run_file, overrides=["callbacks.gradient_clipping.threshold=0.01"])
    ).steps
    # Same first batch (same data, initialization, masks), different updates from then on.
    assert clipped["loss"].iat[0] == result.steps["loss"].iat[0]
    assert not clipped["loss"].equals(result.steps["loss"])


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"start": 1.0, "end": 1.0}, "end"),
        ({"start": 0.0}, "start"),
        ({"num_steps": 9}, "num_steps"),
        ({"smooth": 1.0}, "smooth"),
        ({"diverge_factor": 1.0}, "diverge_factor"),
    ],
)
def test_invalid_arguments_raise_naming_the_argument(run_file, arguments, words):
    with pytest.raises(ValueError, match=words):
        find_lr(run_file, **arguments)


# -- the command line ---------------------------------------------------------------------------


def lr_find(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sweepnp", "lr-find", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_prints_the_suggestion_and_writes_a_png(run_file, tmp_path):
    import matplotlib.image

    png = tmp_path / "curve.png"
    done = lr_find(str(run_file), "--steps", "60", "--plot", str(png))
    assert done.returncode == 0, done.stderr
    expected = find_lr(run_file, num_steps=60).suggestion
    match = re.search(r"^suggested learning rate: (\d\.\de[+-]\d\d)$", done.stdout, re.MULTILINE)
    assert match, done.stdout
    assert match.group(1) == f"{expected:.1e}"
    assert f"--set optimizer.lr={match.group(1)}" in done.stdout
    assert "steepest descent" in done.stdout  # the table around the suggestion

    pixels = matplotlib.image.imread(png)
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 300
    assert pixels[..., :3].std() > 0.05  # not a blank canvas


def test_json_prints_one_object(run_file):
    done = lr_find(str(run_file), "--steps", "60", "--json", "--set", "train.batch_size=64")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert set(payload) == {"suggestion", "stopped_early", "steps"}
    expected = find_lr(parse(run_file, overrides=["train.batch_size=64"]), num_steps=60)
    assert payload["suggestion"] == expected.suggestion
    assert payload["stopped_early"] == expected.stopped_early
    assert [row["step"] for row in payload["steps"]] == list(range(len(expected.steps)))
    assert set(payload["steps"][0]) == {"step", "lr", "loss", "smoothed_loss"}


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--start", "1", "--end", "0.5"], ["--end", "above the start rate 1.0"]),
        (["--steps", "5"], ["--steps", ">= 10"]),
        (["--set", "model.hiden=[8]"], ["run.toml", "model.hiden", "valid keys"]),
        (["--missing"], ["missing.toml", "no such file"]),
    ],
    ids=["start >= end", "steps < 10", "invalid run file", "missing file"],
)
def test_bad_input_exits_2_with_one_line(run_file, args, words):
    if args == ["--missing"]:
        args = [str(run_file.parent / "missing.toml")]
    else:
        args = [str(run_file), *args]
    done = lr_find(*args)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: ")
    for word in words:
        assert word in lines[0]


def test_the_old_name_of_the_steps_still_answers_with_a_warning(result):
    """The rows are steps, not epochs: ``LRFinderResult.steps``; ``.history`` still gives them,
    with a FutureWarning."""
    with pytest.warns(FutureWarning, match="LRFinderResult.steps"):
        assert result.history is result.steps
