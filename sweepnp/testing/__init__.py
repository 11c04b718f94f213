"""The plugin contract kit: the checks every optimizer, regularizer, schedule, callback and surface
passes.

sweepnp runs its own built-in plugins through these classes (``tests/contract``); a plugin author
runs their plugin through the same ones, by subclassing a contract in their own test file::

    from sweepnp.testing import OptimizerContract


    class TestLion(OptimizerContract):
        factory = Lion  # what the plugin registers: a class or a function
        options = {"lr": 0.01}  # the options a run file would give it

pytest then collects every ``test_*`` method of the contract as a test of ``TestLion``. Without
pytest, ``check_optimizer(Lion, lr=0.01)`` (and the other ``check_*`` functions) runs every check
and raises :class:`ContractFailure` listing the ones that failed. Importing the kit does not import
pytest; a check that does not apply raises :class:`unittest.SkipTest`, which pytest reports as a
skip. Every contract also checks that ``options`` pass the run-file validation sweepnp applies (the
factory's signature and type hints, no ``**kwargs``).

One module per plugin family; import from ``sweepnp.testing`` itself:

* :mod:`~sweepnp.testing.contract` — :class:`Contract`, the base of every contract (the factory,
  its options, the run-file check, the pytest-free runner), and :class:`ContractFailure`.
* :mod:`~sweepnp.testing.optimizers` — :class:`OptimizerContract`, its test problem
  :class:`Quadratic`, and :func:`check_optimizer`.
* :mod:`~sweepnp.testing.regularizers` — :class:`PenaltyContract`, :class:`MaskContract`,
  :class:`RegularizerContract` (both, each where the regularizer provides it), and
  :func:`check_penalty`, :func:`check_mask`, :func:`check_regularizer`.
* :mod:`~sweepnp.testing.schedules` — :class:`ScheduleContract` and :func:`check_schedule`.
* :mod:`~sweepnp.testing.callbacks` — :class:`CallbackContract` and :func:`check_callback`.
* :mod:`~sweepnp.testing.surfaces` — :class:`SurfaceContract` and :func:`check_surface`.
* :mod:`~sweepnp.testing.stacking` — ``StackingChecks``, a base of the optimizer, regularizer,
  schedule and callback contracts: ``test_trains_stacked_as_alone`` proves a plugin's
  ``stackable = True`` by training stacked trials and comparing each with the trial alone.
"""

from sweepnp.testing.callbacks import DEFAULT_RUN as DEFAULT_RUN
from sweepnp.testing.callbacks import CallbackContract, check_callback
from sweepnp.testing.contract import Contract, ContractFailure
from sweepnp.testing.optimizers import SHAPES as SHAPES
from sweepnp.testing.optimizers import TRIAL_SHAPES as TRIAL_SHAPES
from sweepnp.testing.optimizers import OptimizerContract, Quadratic, check_optimizer
from sweepnp.testing.regularizers import (
    MaskContract,
    PenaltyContract,
    RegularizerContract,
    check_mask,
    check_penalty,
    check_regularizer,
)
from sweepnp.testing.schedules import ScheduleContract, check_schedule
from sweepnp.testing.surfaces import SurfaceContract, check_surface

# DEFAULT_RUN, SHAPES and TRIAL_SHAPES stay importable from here, as before the split, but are
# not part of `import *`.
__all__ = [
    "CallbackContract",
    "Contract",
    "ContractFailure",
    "MaskContract",
    "OptimizerContract",
    "PenaltyContract",
    "Quadratic",
    "RegularizerContract",
    "ScheduleContract",
    "SurfaceContract",
    "check_callback",
    "check_mask",
    "check_optimizer",
    "check_penalty",
    "check_regularizer",
    "check_schedule",
    "check_surface",
]
