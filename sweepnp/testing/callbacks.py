"""The callback contract: :class:`CallbackContract` and :func:`check_callback`.

A callback, chosen by name in ``[callbacks]``, trains short runs (float64 and float32), leaves the
gradients usable, and keeps runs reproducible.
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from sweepnp.callbacks import Callback
from sweepnp.hookspecs import hookimpl
from sweepnp.testing.stacking import RULES, StackingChecks

__all__ = ["DEFAULT_RUN", "CallbackContract", "check_callback"]

#: The run callbacks are tried in: breast cancer, 30-8-1, a validation split, four epochs.
DEFAULT_RUN: Mapping[str, Any] = types.MappingProxyType(
    {
        "data": {"dataset": "breast_cancer", "test_size": 0.2, "val_size": 0.2, "seed": 0},
        "model": {"task": "binary", "hidden": [8], "activation": "relu"},
        "train": {"epochs": 4, "batch_size": 64, "seed": 0},
        "optimizer": {"name": "sgd", "lr": 0.05},
    }
)


class _GradientWatch(Callback):
    """Runs after the callback under test and checks the gradients it left behind."""

    def __init__(self) -> None:
        self.problem: str | None = None

    def on_before_optimizer_step(self, grads: dict[str, np.ndarray]) -> None:
        if self.problem is not None:
            return
        params = self.trainer.model.params
        if set(grads) != set(params):
            self.problem = f"the gradients are for {sorted(grads)}, the parameters {sorted(params)}"
            return
        for name, param in params.items():
            grad = grads[name]
            if not isinstance(grad, np.ndarray) or grad.shape != param.shape:
                self.problem = f"grads[{name!r}] has shape {np.shape(grad)}, not {param.shape}"
            elif grad.dtype != param.dtype:
                self.problem = f"grads[{name!r}] is {grad.dtype} for {param.dtype} parameters"


@contextlib.contextmanager
def _in_a_temporary_directory() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="sweepnp-contract-") as where, contextlib.chdir(where):
        yield where


class CallbackContract(StackingChecks):
    """The callback contract: subclass it, set :attr:`factory` and (optionally) :attr:`options`.

    The checks train short runs of :attr:`run` with the callback chosen by :attr:`name` in
    ``[callbacks]``, in a temporary working directory (relative paths in ``options`` land there).
    """

    key = "callbacks"
    family = "callbacks"
    #: The name the callback is registered under for the runs.
    name = "contract_subject"
    #: The run file (as a dict) the callback is tried in.
    run: Mapping[str, Any] = DEFAULT_RUN

    def _run_config(self) -> dict[str, Any]:
        config = copy.deepcopy(dict(self.run))
        config["callbacks"] = {**config.get("callbacks", {}), self.name: dict(self.options)}
        return config

    def _stack_run(self) -> Mapping[str, Any]:
        return self.run

    def _place(self, run: dict[str, Any], options: dict[str, Any]) -> None:
        run["callbacks"] = {**run.get("callbacks", {}), self.name: options}

    def _likely_rules(self) -> str:
        return f"Rules that apply: {RULES['arrays']}; {RULES['shared']}"

    def _plugin_manager(self) -> Any:
        from sweepnp.plugins import PluginManager

        factory, name = self._factory(), self.name

        class ContractPlugin:
            @hookimpl
            def sweepnp_register_callbacks(self) -> dict[str, Any]:
                return {name: factory}

        return PluginManager(load_entrypoints=False, extra=(ContractPlugin(),))

    def fit(self, dtype: str = "float64") -> Any:
        """Train :attr:`run` with the callback (and a check of the gradients it leaves)."""
        from sweepnp.trainer import Trainer

        config = self._run_config()
        config.setdefault("model", {})["dtype"] = dtype
        watch = _GradientWatch()
        try:
            trainer = Trainer(config, plugin_manager=self._plugin_manager(), callbacks=[watch])
            result = trainer.fit()
        except Exception as exc:
            raised = f"{type(exc).__name__}: {exc}"
            self._check_gradients_left(watch, dtype, also=f" (and the run raised {raised})")
            self._fail(f"a {dtype} run with the callback raised {raised}")
        self._check_gradients_left(watch, dtype)
        return result

    def _check_gradients_left(self, watch: _GradientWatch, dtype: str, also: str = "") -> None:
        if watch.problem:
            self._fail(
                f"in a {dtype} run, after on_before_optimizer_step {watch.problem}{also}: "
                "change the gradients in place, keeping their names, shapes and dtype",
            )

    def test_is_a_sweepnp_callback(self) -> None:
        callback = self.make()
        if not isinstance(callback, Callback):
            self._fail(f"builds a {type(callback).__name__}; subclass sweepnp.Callback")
        methods = [m for m in vars(Callback) if m.startswith("on_")]
        if not any(type(callback).overrides(m) for m in methods):
            self._fail(f"overrides none of {', '.join(methods)}: it would never be called")

    def test_trains_a_short_run(self) -> None:
        with _in_a_temporary_directory():
            for dtype in ("float64", "float32"):
                result = self.fit(dtype)
                if result.epochs_run < 1:
                    self._fail(f"the {dtype} run trained no epoch")

    def test_runs_are_reproducible(self) -> None:
        with _in_a_temporary_directory():
            runs = [self.fit() for _ in range(2)]
        curves = [
            [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in run.records]
            for run in runs
        ]
        if curves[0] != curves[1] or runs[0].stop_reason != runs[1].stop_reason:
            self._fail(
                "two runs with the same seeds gave different learning curves: a callback must "
                "not change training with global random state or the clock (sweepnp study "
                "rerun relies on identical curves)",
            )


def check_callback(factory: Callable[..., Any], /, **options: Any) -> None:
    """Run every check of :class:`CallbackContract`; raise :class:`ContractFailure` on failure."""
    CallbackContract._check_all(factory, options)
