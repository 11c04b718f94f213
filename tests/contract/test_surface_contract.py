"""Every registered test surface through the kit's SurfaceContract, the suite third parties run.

A new built-in surface gets these tests for free; give it an entry in ``OPTIONS`` only if it has
a required option.
"""

from __future__ import annotations

import pytest

from sweepnp.plugins import PluginManager
from sweepnp.testing import ContractFailure, SurfaceContract, check_surface

REGISTRY = PluginManager(load_entrypoints=False).registry["surfaces"]

#: Options for surfaces that need some; every built-in surface works with its defaults.
OPTIONS: dict[str, dict] = {}


class TestBuiltinSurfaces(SurfaceContract):
    @pytest.fixture(autouse=True, params=sorted(REGISTRY))
    def _builtin(self, request):
        self.factory = REGISTRY[request.param].factory
        self.options = OPTIONS.get(request.param, {})


def test_the_contract_catches_a_wrong_gradient_and_a_false_minimum():
    quadratic = REGISTRY["quadratic"].factory

    class Wrong(quadratic):
        minimum = (0.5, 0.0)

        def gradient(self, x, y):
            return 2 * self.a * x, self.b * y  # dy should be 2 b y

    with pytest.raises(ContractFailure) as failure:
        check_surface(Wrong, b=10.0)
    message = str(failure.value)
    assert "breaks the SurfaceContract in 2 check(s)" in message
    assert "test_gradient_matches_central_differences" in message
    assert "test_minimum_is_a_minimum: minimum (0.5, 0.0) has gradient [1.0, 0.0], not 0" in message
