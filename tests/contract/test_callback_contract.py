"""Every registered callback through the kit's CallbackContract, the suite third parties run.

A new built-in callback needs an entry in ``OPTIONS`` when it has required options.
"""

from __future__ import annotations

import pytest

from sweepnp.plugins import PluginManager
from sweepnp.testing import CallbackContract

REGISTRY = PluginManager(load_entrypoints=False).registry["callbacks"]

#: Options for the runs; every built-in callback works with its defaults.
OPTIONS: dict[str, dict] = {"gradient_clipping": {"threshold": 0.5}}


class TestBuiltinCallbacks(CallbackContract):
    @pytest.fixture(autouse=True, params=sorted(REGISTRY))
    def _builtin(self, request):
        self.factory = REGISTRY[request.param].factory
        self.options = OPTIONS.get(request.param, {})
