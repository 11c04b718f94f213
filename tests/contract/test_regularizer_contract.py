"""Every registered regularizer through the kit's contracts, the suites third parties run.

Weight penalties go through PenaltyContract (the gradient check), activation masks through
MaskContract. A new built-in regularizer needs an entry in ``OPTIONS`` when it has required
options.
"""

from __future__ import annotations

import pytest

from sweepnp.plugins import PluginManager
from sweepnp.testing import MaskContract, PenaltyContract

REGISTRY = PluginManager(load_entrypoints=False).registry["regularizers"]

OPTIONS = {
    "l1": {"lam": 0.3},
    "l2": {"lam": 0.3},
    "elastic_net": {"lam": 0.3, "l1_ratio": 0.3},
    "dropout": {"rate": 0.3},
}


def _names(capability):
    return sorted(name for name, entry in REGISTRY.items() if getattr(entry.factory, capability)())


PENALTIES = _names("penalizes_weights")
MASKS = _names("masks_activations")


class TestBuiltinPenalties(PenaltyContract):
    @pytest.fixture(autouse=True, params=PENALTIES)
    def _builtin(self, request):
        self.factory = REGISTRY[request.param].factory
        self.options = OPTIONS.get(request.param, {})


class TestBuiltinMasks(MaskContract):
    @pytest.fixture(autouse=True, params=MASKS)
    def _builtin(self, request):
        self.factory = REGISTRY[request.param].factory
        self.options = OPTIONS.get(request.param, {})


def test_every_builtin_regularizer_is_covered():
    assert set(PENALTIES) == {"l1", "l2", "elastic_net"}
    assert set(MASKS) == {"dropout"}
    assert set(PENALTIES) | set(MASKS) == set(REGISTRY)
