"""Every registered schedule through the kit's ScheduleContract, the suite third parties run.

A new built-in schedule gets these tests for free; give it an entry in ``OPTIONS`` only if it has
a required option.
"""

from __future__ import annotations

import pytest

from sweepnp.plugins import PluginManager
from sweepnp.testing import ScheduleContract

REGISTRY = PluginManager(load_entrypoints=False).registry["schedules"]

#: Options for schedules that need some; every built-in schedule works with its defaults.
OPTIONS: dict[str, dict] = {}


class TestBuiltinSchedules(ScheduleContract):
    @pytest.fixture(autouse=True, params=sorted(REGISTRY))
    def _builtin(self, request):
        self.factory = REGISTRY[request.param].factory
        self.options = OPTIONS.get(request.param, {})
