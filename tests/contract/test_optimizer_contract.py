"""Every registered optimizer through the kit's OptimizerContract, the suite third parties run.

A new built-in optimizer gets these tests for free; give it an entry in ``OPTIONS`` only if the
default learning rate below does not make it converge on the kit's quadratic.
"""

from __future__ import annotations

import pytest

from sweepnp.plugins import PluginManager
from sweepnp.testing import OptimizerContract

REGISTRY = PluginManager(load_entrypoints=False).registry["optimizers"]

#: Options that make each optimizer converge on the quadratic; the default suits most.
DEFAULT_OPTIONS = {"lr": 0.05}
OPTIONS = {
    "sgd": {"lr": 0.1},
    "momentum": {"lr": 0.02},
    "nesterov": {"lr": 0.02},
    "adagrad": {"lr": 0.5},
    "rmsprop": {"lr": 0.01},
    "adam": {"lr": 0.05},
    "adamw": {"lr": 0.05},  # the default weight_decay moves the optimum only slightly
}


class TestBuiltinOptimizers(OptimizerContract):
    @pytest.fixture(autouse=True, params=sorted(REGISTRY))
    def _builtin(self, request):
        self.factory = REGISTRY[request.param].factory
        self.options = OPTIONS.get(request.param, DEFAULT_OPTIONS)


def test_every_builtin_optimizer_is_covered():
    assert set(REGISTRY) >= {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}
