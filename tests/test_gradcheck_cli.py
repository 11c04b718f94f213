"""`sweepnp gradcheck FILE`: source exercise 003's exercise 1 as a command, for plugin authors.

Every built-in regularizer passes on a real run file; a wrong gradient planted in a regularizer
of a third-party plugin (installed as a distribution with an entry point) fails the check with
exit status 1, and the output names it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

RUN = """\
[data]
dataset = "breast_cancer"
seed = 0
[model]
task = "binary"
hidden = [6, 4]
activation = "tanh"
init = { name = "normal", std = 0.5 }
[train]
batch_size = 16
"""

REGULARIZERS = {
    "l1": "l1 = { lam = 0.01 }",
    "l2": "l2 = { lam = 0.01 }",
    "elastic_net": "elastic_net = { lam = 0.01, l1_ratio = 0.3 }",
    "dropout": "dropout = { rate = 0.3 }",
}


def run_file(folder: Path, *regularizers: str, extra: str = "") -> Path:
    path = folder / "run.toml"
    lines = [REGULARIZERS.get(name, name) for name in regularizers]
    path.write_text(RUN + extra + "[regularizers]\n" + "".join(line + "\n" for line in lines))
    return path


@pytest.mark.parametrize("name", REGULARIZERS)
def test_every_builtin_regularizer_passes(invoke, tmp_path, name):
    done = invoke("gradcheck", run_file(tmp_path, name), "--json")
    assert done.exit_code == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["failed"] == []
    assert set(report["errors"]["network"]) == {"W1", "b1", "W2", "b2", "W3", "b3"}
    assert max(report["errors"]["network"].values()) < 1e-6
    if name == "dropout":  # a mask, not a penalty: checked through the network, masks fixed
        assert report["masked_by"] == ["dropout"]
        assert list(report["errors"]) == ["network"]
    else:
        assert set(report["errors"][f"regularizers.{name}"]) == {"W1", "W2", "W3"}
        assert max(report["errors"][f"regularizers.{name}"].values()) < 1e-6


def test_all_regularizers_at_once_print_a_row_per_parameter_and_a_verdict(invoke, tmp_path):
    done = invoke("gradcheck", run_file(tmp_path, *REGULARIZERS))
    assert done.exit_code == 0, done.stdout + done.stderr
    out = done.stdout
    assert "gradients in float64 on 32 training rows (tolerance 1e-06)" in out
    assert "network and loss (binary cross-entropy), dropout masks held fixed" in out
    for part in ("regularizers.l1", "regularizers.l2", "regularizers.elastic_net"):
        assert part in out
    assert out.count("│ ok │") == 6 + 3 * 3
    assert "verdict: every gradient matches" in out


def test_float32_run_files_are_checked_in_float64(invoke, tmp_path):
    """In float32, central differences with ε = 1e-6 are noise; the check ignores model.dtype."""
    path = run_file(tmp_path, "l2")
    done = invoke("gradcheck", path, "--json", "--set", 'model.dtype="float32"')
    assert done.exit_code == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["dtype"] == "float64" and report["ok"]


WRONG = """
    import numpy as np

    from sweepnp import Regularizer, hookimpl, options


    class WrongL2(Regularizer):
        \"\"\"½λΣw², with the gradient off by a factor of 2 (the planted mistake).\"\"\"

        def __init__(self, lam: float) -> None:
            options.non_negative("lam", lam)
            self.lam = lam

        def penalty(self, weight):
            return np.sum(0.5 * self.lam * np.square(weight), axis=(-2, -1))

        def gradient(self, weight):
            return 2 * self.lam * weight


    class BrokenL2(WrongL2):
        def gradient(self, weight):
            raise RuntimeError("gradient not implemented yet")


    class NanL2(WrongL2):
        def gradient(self, weight):
            return weight * np.nan


    @hookimpl
    def sweepnp_register_regularizers():
        return {"wrong_l2": WrongL2, "broken_l2": BrokenL2, "nan_l2": NanL2}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A distribution providing regularizers, as pip installs one."""
    site = tmp_path_factory.mktemp("site-packages")
    (site / "sweepnp_wrong.py").write_text(textwrap.dedent(WRONG))
    info = site / "sweepnp_wrong-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sweepnp-wrong\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[sweepnp]\nwrong = sweepnp_wrong\n")
    return site


def test_a_wrong_gradient_exits_1_and_is_named(invoke, tmp_path, site):
    path = run_file(tmp_path, "l2", "wrong_l2 = { lam = 0.1 }")
    done = invoke("gradcheck", path, sites=(site,))
    assert done.exit_code == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    wrong = [line for line in lines if "WRONG" in line]
    assert len(wrong) == 3 + 1  # W1, W2, W3 of wrong_l2, and the verdict
    verdict = lines[-1]
    assert verdict.startswith("verdict: WRONG gradient in regularizers.wrong_l2")
    assert "its gradient() does not match its penalty()" in verdict
    assert "regularizers.l2" not in verdict and "network" not in verdict

    report = json.loads(invoke("gradcheck", path, "--json", sites=(site,)).stdout)
    assert report["failed"] == ["regularizers.wrong_l2"] and not report["ok"]
    # ‖2λW − λW‖ / (‖2λW‖ + ‖λW‖) = 1/3 for every matrix
    assert all(abs(e - 1 / 3) < 1e-6 for e in report["errors"]["regularizers.wrong_l2"].values())


def test_a_regularizer_that_raises_is_named_with_exit_1(invoke, tmp_path, site):
    done = invoke("gradcheck", run_file(tmp_path, "broken_l2 = { lam = 0.1 }"), sites=(site,))
    assert done.exit_code == 1
    assert "plugin 'wrong' failed in gradient: RuntimeError" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_gradient_that_is_not_a_number_is_wrong_too(invoke, tmp_path, site):
    path = run_file(tmp_path, "nan_l2 = { lam = 0.1 }")
    done = invoke("gradcheck", path, "--json", sites=(site,))
    assert done.exit_code == 1
    report = json.loads(done.stdout)  # strict JSON: NaN as null
    assert report["failed"] == ["regularizers.nan_l2"]
    assert set(report["errors"]["regularizers.nan_l2"].values()) == {None}
