"""`sweepnp surface`: optimizer plugins on two-dimensional test functions.

The numbers source exercise 002 prints (section 4.4, Rosenbrock from (-1, 1), 1000 steps), the two
momentum forms of source exercise 003 (section 3.3) and its exercise 3 (standard momentum against
Nesterov on x² + 100y²), a third-party optimizer and a third-party surface, each installed as a
distribution with an entry point (as pip leaves one), run by the command unchanged.
"""

from __future__ import annotations

import itertools
import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sweepnp.plugins import PluginManager
from sweepnp.surfaces import descend

ROOT = Path(__file__).resolve().parents[1]
LION = ROOT / "examples" / "sweepnp-lion" / "sweepnp_lion"

SEED_002 = ["--start", "-1,1", "--steps", "1000"]
SEED_002_OPTIMIZERS = ["sgd:lr=1e-4", "momentum:lr=1e-4,beta=0.9", "adam:lr=0.01"]


def surface_json(invoke, *args, sites=()) -> dict:
    done = invoke("surface", *args, "--json", sites=sites)
    assert done.exit_code == 0, done.stderr
    return json.loads(done.stdout)


def optimizer_flags(*specs: str) -> list[str]:
    return [flag for spec in specs for flag in ("--optimizer", spec)]


def by_label(result: dict) -> dict[str, dict]:
    return {row["optimizer"]: row for row in result["optimizers"]}


# -------------------------------------------------------------------------
# Source exercise 002, section 4.4: SGD, momentum and Adam on Rosenbrock
# -------------------------------------------------------------------------


def seed_002_compare_optimizers() -> dict[str, list[tuple[float, float]]]:
    """The seed's own ``compare_optimizers`` loop, as the text writes it (paths of (x, y))."""

    def rosenbrock_grad(x, y):
        dx = -2 * (1 - x) - 400 * x * (y - x**2)
        dy = 200 * (y - x**2)
        return dx, dy

    results = {}
    for name, config in {
        "SGD": {"lr": 0.0001, "momentum": 0},
        "Momentum": {"lr": 0.0001, "momentum": 0.9},
    }.items():
        x, y = -1.0, 1.0
        v_x, v_y = 0, 0
        history = [(x, y)]
        for _ in range(1000):
            dx, dy = rosenbrock_grad(x, y)
            v_x = config["momentum"] * v_x + dx
            v_y = config["momentum"] * v_y + dy
            x -= config["lr"] * v_x
            y -= config["lr"] * v_y
            history.append((x, y))
        results[name] = history
    x, y = -1.0, 1.0
    m_x = m_y = v_x = v_y = 0
    beta1, beta2, epsilon, lr = 0.9, 0.999, 1e-8, 0.01
    history = [(x, y)]
    for t in range(1, 1001):
        dx, dy = rosenbrock_grad(x, y)
        m_x = beta1 * m_x + (1 - beta1) * dx
        m_y = beta1 * m_y + (1 - beta1) * dy
        v_x = beta2 * v_x + (1 - beta2) * dx**2
        v_y = beta2 * v_y + (1 - beta2) * dy**2
        m_x_hat, m_y_hat = m_x / (1 - beta1**t), m_y / (1 - beta1**t)
        v_x_hat, v_y_hat = v_x / (1 - beta2**t), v_y / (1 - beta2**t)
        x -= lr * m_x_hat / (np.sqrt(v_x_hat) + epsilon)
        y -= lr * m_y_hat / (np.sqrt(v_y_hat) + epsilon)
        history.append((x, y))
    results["Adam"] = history
    return results


def test_seed_002_rosenbrock_comparison_prints_the_seeds_numbers(invoke):
    done = invoke("surface", "rosenbrock", *SEED_002, *optimizer_flags(*SEED_002_OPTIMIZERS))
    assert done.exit_code == 0, done.stderr
    rows = {
        cells[0]: cells[1:]
        for line in done.stdout.splitlines()
        if len(cells := [c.strip() for c in line.split("│")[1:-1]]) > 3
    }
    sgd, momentum, adam = (rows[spec] for spec in SEED_002_OPTIMIZERS)
    assert sgd[:3] == ["-0.9126", "0.8410", "3.664694"]  # x, y, loss as the seed prints them
    assert momentum[:3] == ["0.3599", "0.1265", "0.410654"]
    assert adam[:2] == ["0.9987", "0.9975"]  # near the minimum (1, 1)
    assert "minimum at (1, 1)" in done.stdout


def test_seed_002_paths_are_the_seeds_own_loops_step_by_step(invoke):
    result = surface_json(invoke, "rosenbrock", *SEED_002, *optimizer_flags(*SEED_002_OPTIMIZERS))
    rows = by_label(result)
    seed = seed_002_compare_optimizers()
    for spec, name in zip(SEED_002_OPTIMIZERS, ("SGD", "Momentum", "Adam"), strict=True):
        assert rows[spec]["steps_run"] == 1000 and not rows[spec]["diverged"]
        np.testing.assert_allclose(rows[spec]["path"], seed[name], rtol=1e-10, atol=1e-12)
    assert round(rows["sgd:lr=1e-4"]["value"], 6) == 3.664694
    assert round(rows["momentum:lr=1e-4,beta=0.9"]["value"], 6) == 0.410654
    assert np.hypot(rows["adam:lr=0.01"]["x"] - 1, rows["adam:lr=0.01"]["y"] - 1) < 0.01


def test_the_plot_is_a_png_with_every_path(invoke, tmp_path):
    figure = tmp_path / "rosenbrock.png"
    done = invoke(
        "surface", "rosenbrock", *SEED_002, *optimizer_flags(*SEED_002_OPTIMIZERS),
        "-o", figure,
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote the paths to {figure}" in done.stderr.replace("\n", "")


def _drawn_paths(surface_name: str, specs: dict[str, dict], start, steps: int):
    """The axes of ``sweepnp.surfaces.plot`` on the paths of ``specs`` (label → optimizer name
    and options), drawn on the Agg canvas as ``-o`` draws them, and its path lines by label."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from sweepnp.surfaces import plot

    surface = BUILTIN.build("surfaces", surface_name, {}, key="surface")
    descents = {}
    for label, (name, options) in specs.items():
        optimizer = BUILTIN.build("optimizers", name, options, key="optimizer")
        descents[label] = descend(surface, optimizer, start, steps)
    figure = Figure(figsize=(7, 5.5), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    plot(ax, surface, descents)
    figure.canvas.draw()  # the layout, and so the transforms, final
    lines = {line.get_label(): line for line in ax.get_lines() if line.get_label() in descents}
    assert list(lines) == list(specs)
    return ax, lines


def _visible_share(ax, line, above) -> tuple[float, float]:
    """The share of ``line``'s drawn length (in pixels, sampled every half pixel) where some of
    its width shows beside every line drawn above it, and that length in pixels.

    A point of the line shows when the line's half-width reaches at least 0.75 px past each
    covering line's half-width: distance to it + own half-width > its half-width + 0.75."""
    from scipy.spatial import cKDTree

    def dense(path_line):
        xy = ax.transData.transform(path_line.get_xydata())
        xy = xy[np.isfinite(xy).all(axis=1)]
        pieces = [xy[:1]]
        for a, b in itertools.pairwise(xy):
            count = max(int(np.hypot(*(b - a)) * 2), 1)
            pieces.append(a + (b - a) * np.linspace(0, 1, count + 1)[1:, None])
        return np.concatenate(pieces)

    def half_width(path_line):
        return path_line.get_linewidth() * ax.figure.dpi / 72 / 2

    points = dense(line)
    shows = np.ones(len(points), dtype=bool)
    for other in above:
        distance, _ = cKDTree(dense(other)).query(points)
        shows &= distance + half_width(line) > half_width(other) + 0.75
    return float(shows.mean()), len(points) / 2


def test_on_the_plot_no_path_hides_another():
    """Seed 002's three paths all follow Rosenbrock's valley from (-1, 1): Adam's, drawn last
    and as wide as the others, used to cover SGD's and momentum's whole. Each path must show
    along (nearly) all its length beside every path drawn above it."""
    specs = {
        "sgd:lr=1e-4": ("sgd", {"lr": 1e-4}),
        "momentum:lr=1e-4,beta=0.9": ("momentum", {"lr": 1e-4, "beta": 0.9}),
        "adam:lr=0.01": ("adam", {"lr": 0.01}),
    }
    ax, lines = _drawn_paths("rosenbrock", specs, (-1.0, 1.0), 1000)
    # Drawn in the order matplotlib draws them: by zorder, then in the order added.
    drawn = sorted(ax.get_lines(), key=lambda line: line.get_zorder())
    order = [line for line in drawn if line in lines.values()]
    for place, line in enumerate(order):
        share, length = _visible_share(ax, line, order[place + 1 :])
        assert share > 0.95 and length > 20, (line.get_label(), share, length)
    assert [line.get_label() for line in order] == [
        "adam:lr=0.01", "momentum:lr=1e-4,beta=0.9", "sgd:lr=1e-4",
    ]  # fmt: skip  # the longest first
    # Each path's end marker in its colour, above every path.
    for label, line in lines.items():
        end = lines[label].get_xydata()[-1]
        markers = [
            m for m in ax.get_lines()
            if m.get_marker() == "s" and np.allclose(m.get_xydata()[0], end)
            and m.get_color() == line.get_color()
        ]  # fmt: skip
        assert markers and markers[0].get_zorder() > max(p.get_zorder() for p in lines.values())
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == [*specs, "minimum"]


def test_two_paths_that_coincide_both_show():
    """The same optimizer twice: one path exactly over the other. The one drawn first is wider,
    and shows either side of the other along all its length."""
    specs = {"first": ("sgd", {"lr": 0.005}), "second": ("sgd", {"lr": 0.005})}
    ax, lines = _drawn_paths("quadratic", specs, (1.0, 1.0), 30)
    under, over = sorted(lines.values(), key=lambda line: line.get_zorder())
    assert _visible_share(ax, under, [over])[0] == 1.0
    assert _visible_share(ax, over, [])[0] == 1.0


def test_a_plot_into_a_missing_folder_is_one_line_and_exit_2(invoke, tmp_path):
    done = invoke(
        "surface", "quadratic", "--optimizer", "sgd", "-o", tmp_path / "missing" / "q.png"
    )
    assert done.exit_code == 2
    assert done.stderr.startswith("Error: -o: cannot write") and "Traceback" not in done.stderr


# -------------------------------------------------------------------------
# Source exercise 003: the two momentum forms (section 3.3) and Nesterov (exercise 3)
# -------------------------------------------------------------------------


def test_the_ema_form_takes_steps_one_minus_beta_times_the_sum_forms(invoke):
    """Section 3.3's v = βv + (1 − β)g against the sum form v = βv + g (seed 002's): at one rate
    the EMA form's path is the sum form's at (1 − β) times that rate — so at the same rate they
    differ: on x² + 100y² at lr 0.05 the sum form blows up and the EMA form converges."""
    specs = [
        "momentum:lr=0.05,beta=0.9,form=ema",
        "momentum:lr=0.005,beta=0.9",
        "momentum:lr=0.05,beta=0.9",
    ]
    result = surface_json(
        invoke, "quadratic", "--start", "1,1", "--steps", "300", *optimizer_flags(*specs)
    )
    ema, sum_at_a_tenth, sum_form = (by_label(result)[spec] for spec in specs)
    np.testing.assert_allclose(ema["path"], sum_at_a_tenth["path"], rtol=1e-9, atol=1e-15)
    assert ema["value"] < 1e-6
    assert sum_form["diverged"] or sum_form["value"] > 1e6
    # the numbers docs/exercises.md quotes: the EMA form ends at 2.4·10⁻¹², the sum form
    # overflows at step 170
    assert f"{ema['value']:.1e}" == "2.4e-12"
    assert sum_form["diverged"] and sum_form["steps_run"] == 170


def test_the_table_of_a_path_that_overflowed_says_so(invoke):
    """SGD at lr 1.2 on x² + 100y² ends at y ≈ -3.9e154, whose square overflows a float: the
    distance to the minimum (the table used to fail there with an OverflowError) reads its
    size, and the row says the path diverged."""
    done = invoke(
        "surface", "quadratic", "--start", "1,1", "--steps", "300", "--optimizer", "sgd:lr=1.2"
    )
    assert done.exit_code == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if "sgd:lr=1.2" in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells[2] == "-3.943e+154" and cells[4] == "3.943e+154"
    assert cells[5] == "diverged at step 65"


def test_seed_003_section_3_3_example_runs_as_written(invoke):
    """The section's own comparison: x² + 10y² from (10, 1), lr 0.05, 50 steps, SGD against
    EMA-form momentum 0.9; both paths as its loop computes them."""
    specs = ["sgd:lr=0.05", "momentum:lr=0.05,beta=0.9,form=ema"]
    result = surface_json(
        invoke, "quadratic:b=10", "--start", "10,1", "--steps", "50", *optimizer_flags(*specs)
    )
    for spec, momentum in zip(specs, (0.0, 0.9), strict=True):
        x, y, v_x, v_y = 10.0, 1.0, 0.0, 0.0
        for _ in range(50):
            gx, gy = 2 * x, 20 * y
            v_x = momentum * v_x + (1 - momentum) * gx
            v_y = momentum * v_y + (1 - momentum) * gy
            x, y = x - 0.05 * v_x, y - 0.05 * v_y
        row = by_label(result)[spec]
        assert row["x"] == pytest.approx(x, rel=1e-9, abs=1e-12)
        assert row["y"] == pytest.approx(y, rel=1e-9, abs=1e-12)
        assert row["value"] == pytest.approx(x**2 + 10 * y**2, rel=1e-9, abs=1e-12)
    # as the table prints them, and docs/exercises.md quotes them
    values = [round(by_label(result)[spec]["value"], 6) for spec in specs]
    assert values == [0.002656, 0.386138]


def test_seed_003_exercise_3_nesterov_converges_faster_where_both_are_stable(invoke):
    """x² + 100y² (curvature L = 200 along y), β = 0.9: heavy-ball momentum is stable for
    ηL < 2(1 + β), Nesterov for ηL < 2(1 + β)/(1 + 2β) — η < 0.019 and η < 0.0068. At 0.005
    both converge and Nesterov, which damps the oscillation across the valley, gets far lower;
    at 0.009 momentum still converges while Nesterov blows up."""
    specs = ["momentum:lr=0.005", "nesterov:lr=0.005", "momentum:lr=0.009", "nesterov:lr=0.009"]
    result = surface_json(
        invoke, "quadratic", "--start", "1,1", "--steps", "100", *optimizer_flags(*specs)
    )
    rows = by_label(result)
    assert rows["nesterov:lr=0.005"]["value"] < rows["momentum:lr=0.005"]["value"] / 100
    assert rows["momentum:lr=0.005"]["value"] < 1e-3
    assert rows["momentum:lr=0.009"]["value"] < 1e-3
    assert rows["nesterov:lr=0.009"]["value"] > 1e6
    assert result["minimum"] == [0.0, 0.0]
    # the numbers docs/exercises.md quotes
    quoted = {spec: f"{rows[spec]['value']:.1e}" for spec in specs[:3]}
    assert quoted == {
        "momentum:lr=0.005": "1.9e-04",
        "nesterov:lr=0.005": "5.0e-07",
        "momentum:lr=0.009": "1.7e-04",
    }


def _seed_003_descent(start: tuple[float, float], b: float, steps: int) -> list[tuple]:
    """Seed 003's gradient_descent_demo (section 1.2, y = 0) and gradient_2d_demo (1.3): plain
    gradient descent at lr 0.1 on x² + b·y², every point of the path."""
    x, y = start
    path = [(x, y)]
    for _ in range(steps):
        x, y = x - 0.1 * 2 * x, y - 0.1 * 2 * b * y
        path.append((x, y))
    return path


@pytest.mark.parametrize(
    ("surface", "start", "steps", "printed"),
    [
        # "Iteration 20: x = 0.057646, f(x) = 0.003323"
        ("quadratic", "5,0", 20, ("0.057646", "0.003323")),
        # "Iter 15: x=0.1407, y=0.0014, f(x,y)=0.0198"
        ("quadratic:b=2", "4,3", 15, ("0.1407", "0.0014", "0.0198")),
    ],
    ids=["section-1.2", "section-1.3"],
)
def test_seed_003_sections_1_2_and_1_3_gradient_descent_demos(
    invoke, surface, start, steps, printed
):
    result = surface_json(
        invoke, surface, "--start", start, "--steps", str(steps), "--optimizer", "sgd:lr=0.1"
    )
    (row,) = result["optimizers"]
    b = 2.0 if surface.endswith("b=2") else 1.0
    seed = _seed_003_descent(tuple(float(v) for v in start.split(",")), b, steps)
    np.testing.assert_allclose(row["path"], seed, rtol=1e-12, atol=1e-15)
    if len(printed) == 2:  # the seed's f"{x:.6f}", f"{x**2:.6f}"
        assert (f"{row['x']:.6f}", f"{row['value']:.6f}") == printed
    else:  # f"{x:.4f}", f"{y:.4f}", f"{loss:.4f}"
        assert (f"{row['x']:.4f}", f"{row['y']:.4f}", f"{row['value']:.4f}") == printed


# -------------------------------------------------------------------------
# Plugins: third-party optimizers and surfaces, unchanged
# -------------------------------------------------------------------------


def install(site: Path, name: str, module: str, package: Path | None = None, text: str = ""):
    """A distribution as pip installs one: its module (a copied package, or a file of ``text``)
    and a dist-info directory whose entry point in the group ``sweepnp`` names it."""
    if package is not None:
        shutil.copytree(package, site / module, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        (site / f"{module}.py").write_text(textwrap.dedent(text))
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[sweepnp]\n{name} = {module}\n")


BOOTH = """
    from sweepnp import Surface, hookimpl, options


    class Booth(Surface):
        start = (-4.0, 4.0)
        minimum = (1.0, 3.0)
        bounds = ((-5.0, 5.0), (-5.0, 5.0))

        def __init__(self, scale: float = 1.0) -> None:
            options.positive("scale", scale)
            self.scale = scale

        def value(self, x, y):
            return self.scale * ((x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2)

        def gradient(self, x, y):
            u, w = x + 2 * y - 7, 2 * x + y - 5
            return self.scale * (2 * u + 4 * w), self.scale * (4 * u + 2 * w)


    @hookimpl
    def sweepnp_register_surfaces():
        return {"booth": Booth}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example plugin sweepnp-lion (examples/), and a distribution providing a surface."""
    site = tmp_path_factory.mktemp("site-packages")
    install(site, "lion", "sweepnp_lion", package=LION)
    install(site, "booth", "sweepnp_booth", text=BOOTH)
    return site


def test_a_third_party_optimizer_runs_on_a_surface_unchanged(invoke, site):
    """The example plugin's Lion, installed by entry point, moves each coordinate by exactly its
    rate (the sign of its interpolated momentum), as its own maths says."""
    result = surface_json(
        invoke, "rosenbrock", "--steps", "200", "--optimizer", "lion:lr=0.001", sites=(site,)
    )
    path = np.array(by_label(result)["lion:lr=0.001"]["path"])
    point, m = np.array([-1.0, 1.0]), np.zeros(2)
    expected = [point.copy()]
    for _ in range(200):
        x, y = point
        g = np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)])
        point = point - 0.001 * np.sign(0.9 * m + 0.1 * g)
        m = 0.99 * m + 0.01 * g
        expected.append(point.copy())
    np.testing.assert_allclose(path, expected, rtol=0, atol=1e-12)
    moves = np.abs(np.diff(path, axis=0))  # the rate, or 0 where the gradient's sign is 0
    assert np.all(np.isclose(moves, 0.001, rtol=1e-9) | (moves == 0)) and np.mean(moves > 0) > 0.9


def test_a_plugin_registers_a_surface_by_hook(invoke, site):
    result = surface_json(
        invoke, "booth:scale=2", "--steps", "2000", "--optimizer", "adam:lr=0.05", sites=(site,)
    )
    assert result["start"] == [-4.0, 4.0] and result["minimum"] == [1.0, 3.0]
    row = by_label(result)["adam:lr=0.05"]
    assert np.hypot(row["x"] - 1, row["y"] - 3) < 1e-3
    done = invoke("plugins", "list", "--json", sites=(site,))
    plugins = {p["name"]: p for p in json.loads(done.stdout)}
    assert plugins["booth"]["provides"] == {"surfaces": ["booth"]}
    assert plugins["booth"]["hooks"] == ["sweepnp_register_surfaces"]


def test_a_surface_plugins_option_is_checked_like_any_plugins(invoke, site):
    done = invoke("surface", "booth:scale=-1", "--optimizer", "sgd", sites=(site,))
    assert done.exit_code == 2
    assert done.stderr.strip() == "Error: booth:scale=-1: surface.scale: must be > 0, got -1.0"


# -------------------------------------------------------------------------
# The built-in surfaces (tests/contract/test_surface_contract.py checks their gradients)
# -------------------------------------------------------------------------

BUILTIN = PluginManager(load_entrypoints=False)
SURFACES = BUILTIN.names("surfaces")


@pytest.mark.parametrize("name", SURFACES)
def test_adam_finds_each_builtin_surfaces_minimum_from_its_start(name):
    surface = BUILTIN.build("surfaces", name, {}, key="surface")
    adam = BUILTIN.build("optimizers", "adam", {"lr": 0.02}, key="optimizer")
    descent = descend(surface, adam, surface.start, 5000)
    assert descent.final[2] < 1e-4 * max(1.0, surface.value(*surface.start))
