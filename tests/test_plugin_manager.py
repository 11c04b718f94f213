"""The plugin manager: registration, duplicate names, misspelled hooks, building with options."""

from __future__ import annotations

import types

import numpy as np
import pytest

import sweepnp
from sweepnp import hookimpl
from sweepnp.plugins import BUILTIN_PLUGINS, KINDS, PluginManager


def _plugin_module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def test_every_kind_has_builtins():
    pm = PluginManager(load_entrypoints=False)
    assert set(pm.names("optimizers")) >= {
        "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"
    }  # fmt: skip
    assert set(pm.names("regularizers")) >= {"l1", "l2", "elastic_net", "dropout"}
    assert set(pm.names("schedules")) >= {
        "constant", "step", "exponential", "cosine", "warmup", "warmup_cosine"
    }  # fmt: skip
    assert set(pm.names("callbacks")) >= {
        "early_stopping", "gradient_clipping", "divergence_guard", "diagnosis"
    }  # fmt: skip
    assert set(pm.names("datasets")) >= {
        "breast_cancer", "digits", "digits01", "iris", "diabetes", "moons", "xor", "linear", "file"
    }  # fmt: skip
    assert all(pm.registry[kind] for kind in KINDS)


def test_two_plugins_providing_one_name_is_an_error_naming_both():
    impostor = _plugin_module(
        "impostor_plugin", sweepnp_register_optimizers=lambda: {"adam": object}
    )
    with pytest.raises(sweepnp.PluginError) as excinfo:
        PluginManager(load_entrypoints=False, extra=(impostor,))
    message = str(excinfo.value)
    assert "'adam'" in message
    assert "sweepnp_plugins.optimizers.adam" in message
    assert "impostor_plugin" in message


def test_a_misspelled_hook_is_an_error_at_start_up():
    typo = _plugin_module("typo_plugin", sweepnp_register_optimisers=lambda: {})
    with pytest.raises(sweepnp.PluginError, match="sweepnp_register_optimisers"):
        PluginManager(load_entrypoints=False, extra=(typo,))


def test_a_plugin_can_add_an_optimizer_usable_from_a_run(small_run, step_recorder):
    class SignSGD(sweepnp.Optimizer):
        def __init__(self, lr: float):
            self.lr = lr

        def update(self, param, grad, state, lr):
            param -= lr * (grad > 0) - lr * (grad < 0)

    plugin = _plugin_module("signsgd", sweepnp_register_optimizers=lambda: {"signsgd": SignSGD})
    pm = PluginManager(load_entrypoints=False, extra=(plugin,))
    small_run["optimizer"] = {"name": "signsgd", "lr": 0.01}
    recorder = step_recorder()
    result = sweepnp.Trainer(small_run, callbacks=[recorder], plugin_manager=pm).fit()
    # every step of the run is the plugin's: each parameter moves by exactly lr against the
    # sign of its gradient (plain SGD's steps would be proportional to the gradient)
    assert len(recorder.steps) == 5 * 11  # 5 epochs of 341 training rows in batches of 32
    for before, grads, after in recorder.steps:
        for name, grad in grads.items():
            np.testing.assert_array_equal(after[name], before[name] - 0.01 * np.sign(grad))
    assert result.history["loss"].iloc[-1] < result.history["loss"].iloc[0]


def test_factories_with_kwargs_are_refused():
    class Loose(sweepnp.Regularizer):
        def __init__(self, **kwargs):
            pass

    plugin = _plugin_module("loose", sweepnp_register_regularizers=lambda: {"loose": Loose})
    pm = PluginManager(load_entrypoints=False, extra=(plugin,))
    with pytest.raises(sweepnp.PluginError, match="kwargs"):
        pm.build("regularizers", "loose", {}, key="regularizers.loose")


def test_options_are_checked_strictly_against_the_signature():
    pm = PluginManager(load_entrypoints=False)
    with pytest.raises(sweepnp.ConfigError, match=r"optimizer\.lr.*valid number"):
        pm.build("optimizers", "sgd", {"lr": "0.1"}, key="optimizer")
    with pytest.raises(sweepnp.ConfigError, match=r"missing required option.*path"):
        pm.build("datasets", "file", {}, key="data.dataset")
    adam = pm.build("optimizers", "adam", {"lr": 1}, key="optimizer")  # an int is a fine float
    assert adam.lr == 1.0


def test_autoload_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("SWEEPNP_DISABLE_PLUGIN_AUTOLOAD", "1")
    pm = PluginManager()
    assert pm.builtin_names == list(BUILTIN_PLUGINS)
    assert set(pm.pm.list_name_plugin()) == {(n, pm.pm.get_plugin(n)) for n in BUILTIN_PLUGINS}


def test_hook_calls_can_be_traced(invoke, tmp_path):
    run = tmp_path / "run.toml"
    run.write_text('[data]\ndataset = "iris"\n[train]\nepochs = 1\n')
    done = invoke("train", run, env={"SWEEPNP_TRACE_HOOKS": "1"})
    assert done.exit_code == 0, done.stderr
    assert "sweepnp_register_optimizers" in done.stderr
    assert "'sgd'" in done.stderr
    quiet = invoke("train", run)
    assert quiet.exit_code == 0, quiet.stderr
    assert "sweepnp_register_optimizers" not in quiet.stderr


def test_a_hook_function_without_hookimpl_is_an_error_naming_it():
    class Forgetful:
        def sweepnp_register_optimizers(self):  # no @hookimpl: pluggy would ignore it
            return {"lion": object}

    with pytest.raises(sweepnp.PluginError, match=r"'Forgetful'.*sweepnp_register_optimizers\(\)"):
        PluginManager(load_entrypoints=False, extra=(Forgetful(),))
