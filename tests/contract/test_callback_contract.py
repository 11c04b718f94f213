"""Every registered callback through the kit's CallbackContract, the suite third parties run.

A new built-in callback needs an entry in ``OPTIONS`` when it has required options.
"""

from __future__ import annotations

import pytest

from sweepnp.plugins import PluginManager
from sweepnp.testing import CallbackContract

REGISTRY = PluginManager(load_entrypoints=False).registry["callbacks"]

#: Options for the runs, where a built-in callback needs them.
OPTIONS: dict[str, dict] = {
    "gradient_clipping": {"threshold": 0.5},
    "parameters": {"names": ["W2", "b2"]},  # the output layer of the kit's 30-8-1 network
}


class TestBuiltinCallbacks(CallbackContract):
    @pytest.fixture(autouse=True, params=sorted(REGISTRY))
    def _builtin(self, request):
        self.factory = REGISTRY[request.param].factory
        self.options = OPTIONS.get(request.param, {})
