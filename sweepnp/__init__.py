"""sweepnp: plugin-based hyperparameter sweeps for NumPy neural networks, driven by Optuna.

The public API, what plugins and users import:

* :data:`hookimpl` — mark a plugin's hook implementations.
* :class:`Optimizer`, :class:`Regularizer`, :class:`Schedule`, :class:`Callback`,
  :class:`Dataset`, :class:`Surface` — the base classes of each plugin family.
* :func:`train` and :class:`RunResult` — train one run from a run file, a dict or a config.
* :func:`check_gradients` — central-difference gradient check, for plugin authors.
* :class:`SweepnpClassifier`, :class:`SweepnpRegressor` — scikit-learn estimators taking the
  run file's sections as parameters (importing them imports scikit-learn).

For plugin authors, :mod:`sweepnp.testing` holds the contract suites every plugin passes
(``OptimizerContract``, ``RegularizerContract``, ``ScheduleContract``, ``CallbackContract``).
"""

from sweepnp.callbacks import Callback
from sweepnp.datasets import Dataset
from sweepnp.errors import (
    ConfigError,
    DataError,
    OptionError,
    PluginError,
    PluginFailure,
    SweepnpError,
    SweepnpWarning,
)
from sweepnp.hookspecs import hookimpl
from sweepnp.optimizers import Optimizer
from sweepnp.regularizers import Regularizer
from sweepnp.schedules import Schedule
from sweepnp.surfaces import Surface
from sweepnp.version import __version__

__all__ = [
    "Callback",
    "ConfigError",
    "DataError",
    "Dataset",
    "Optimizer",
    "OptionError",
    "PluginError",
    "PluginFailure",
    "Regularizer",
    "RunResult",
    "Schedule",
    "Surface",
    "SweepnpClassifier",
    "SweepnpError",
    "SweepnpRegressor",
    "SweepnpWarning",
    "Trainer",
    "__version__",
    "check_gradients",
    "hookimpl",
    "train",
]


def __getattr__(name: str):
    if name in {"train", "RunResult", "Trainer"}:
        from sweepnp import trainer

        return getattr(trainer, name)
    if name == "check_gradients":
        from sweepnp.gradcheck import check_gradients

        return check_gradients
    if name in {"SweepnpClassifier", "SweepnpRegressor"}:
        from sweepnp import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'sweepnp' has no attribute {name!r}")
