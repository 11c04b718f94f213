"""Building a run's parts from its config: data, optimizer, regularizers, schedule, callbacks.

A :class:`~sweepnp.trainer.Trainer` builds them all; checking a study's search space builds only
what each searched value reaches (:mod:`sweepnp.study.spec`). Names are resolved to plugin
objects here, once, through the plugin manager.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from sweepnp.allocator import keep_freed_memory
from sweepnp.callbacks import Callback
from sweepnp.config import RunConfig
from sweepnp.datasets import Dataset, Splits, prepare
from sweepnp.errors import ConfigError, SweepnpWarning, options_under
from sweepnp.model import parameter_shapes
from sweepnp.optimizers import Optimizer
from sweepnp.plugins import PluginManager, get_plugin_manager
from sweepnp.regularizers import Regularizer
from sweepnp.schedules import Schedule
from sweepnp.tasks import make_task

__all__ = [
    "build_callbacks",
    "build_optimizer",
    "build_regularizers",
    "build_schedule",
    "check_batch_size",
    "load_data",
    "metric_names",
]


def build_optimizer(config: RunConfig, pm: PluginManager) -> Optimizer:
    """The run's optimizer, from ``[optimizer]``; its float options in the run's dtype, as a
    stack of trials gives them (:meth:`PluginManager.build`)."""
    options = dict(config.optimizer)
    name = options.pop("name")
    return pm.build(
        "optimizers", name, options, key="optimizer", source=config.source, dtype=config.model.dtype
    )


def build_regularizers(
    config: RunConfig, pm: PluginManager, names: Iterable[str] | None = None
) -> dict[str, Regularizer]:
    """The run's regularizers by name, from ``[regularizers]`` (only ``names``, when given);
    a weight penalty's float options in the run's dtype, as a stack of trials gives them."""
    built = {}
    for name, options in config.regularizers.items():
        if names is not None and name not in names:
            continue
        key = f"regularizers.{name}"
        factory = pm.get("regularizers", name, key=key, source=config.source).factory
        penalty = getattr(factory, "penalizes_weights", lambda: False)()
        built[name] = pm.build(
            "regularizers", name, options, key=key, source=config.source,
            dtype=config.model.dtype if penalty else None,
        )  # fmt: skip
    return built


def build_schedule(config: RunConfig, pm: PluginManager) -> Schedule:
    """The run's learning-rate schedule, from ``[schedule]`` (not yet set up)."""
    options = dict(config.schedule)
    return pm.build("schedules", options.pop("name"), options, key="schedule", source=config.source)


def build_callbacks(
    config: RunConfig, pm: PluginManager, names: Iterable[str] | None = None
) -> dict[str, Callback]:
    """The run's callbacks by name: those plugins turn on in every run, then the file's (only
    ``names``, when given); not yet given their trainer."""
    active = config.active_callbacks(pm.default_callbacks())
    return {
        name: pm.build("callbacks", name, options, key=f"callbacks.{name}", source=config.source)
        for name, options in active.items()
        if names is None or name in names
    }


def metric_names(
    config: RunConfig, data: Splits, callbacks: Iterable[tuple[str, Callback]]
) -> tuple[str, ...]:
    """The metrics a run of ``config`` on the prepared ``data`` records, known without building
    it: the task's metrics on every split present (``val_`` when ``data.val_size > 0``,
    ``test_`` when ``data.test_size > 0``), then each callback's
    :meth:`~sweepnp.Callback.declared_metrics` for the network's parameter shapes (no weights
    drawn), then ``lr``.

    :param callbacks: the run's callbacks with their keys (``callbacks.NAME``); an option one
        of them refuses for this network is reported under its key.
    """
    task = make_task(data.task, config.model.task_loss(data.task, config.source))
    names = [prefix + metric for prefix in data.splits() for metric in task.metric_names]
    shapes = parameter_shapes(
        data.n_features,
        data.n_outputs,
        config.model.hidden,
        batch_norm=config.model.batch_norm is not False,
    )
    for key, callback in callbacks:
        with options_under(key, config.source):
            declared = callback.declared_metrics(shapes)
        names.extend(m for m in declared if m not in names)
    return (*names, "lr")


def check_batch_size(config: RunConfig, rows: int, *, stacklevel: int = 1) -> None:
    """Warn when ``train.batch_size`` is more than the ``rows`` of the training split.

    :param stacklevel: as for :func:`warnings.warn`, counted from the call of this function.
    """
    batch_size = config.train.batch_size
    if batch_size != "full" and batch_size > rows:
        where = f"{config.source}: " if config.source else ""
        warnings.warn(
            f"{where}train.batch_size: {batch_size} is more than the {rows} training rows; "
            "every batch is the whole training split (full-batch gradient descent, as with "
            'batch_size = "full")',
            SweepnpWarning,
            stacklevel=stacklevel + 1,
        )


def load_data(
    config: RunConfig, pm: PluginManager | None = None, X: Any = None, y: Any = None
) -> Splits:
    """Load, check, split and scale the data of a run (``X`` and ``y`` replace the dataset).

    A dataset loader with a ``seed`` parameter receives ``data.seed``, one with a ``dtype``
    parameter ``model.dtype`` (the file loader reads CSV and Parquet into it); the splits are
    made in ``model.dtype`` (:func:`~sweepnp.datasets.prepare`). The process then keeps the
    memory a training step frees for the next one (:func:`~sweepnp.allocator.keep_freed_memory`).
    """
    keep_freed_memory()
    pm = pm or get_plugin_manager()
    if X is not None or y is not None:
        if X is None or y is None:
            raise ConfigError("pass both X and y, or neither", source=config.source, key="data")
        dataset = Dataset(X=X, y=y, name="arrays")
    else:
        spec = config.dataset_spec()
        if spec is None:
            raise ConfigError(
                "no dataset: set data.dataset, or pass X and y",
                source=config.source,
                key="data.dataset",
            )
        name, options = spec
        dataset = pm.build(
            "datasets",
            name,
            options,
            key="data.dataset",
            source=config.source,
            extra={"seed": config.data.seed, "dtype": config.model.dtype},
        )
        if not dataset.name:
            dataset.name = name
    return prepare(
        dataset,
        task=config.model.task,
        test_size=config.data.test_size,
        val_size=config.data.val_size,
        scale=config.data.scale,
        scale_target=config.data.scale_target,
        seed=config.data.seed,
        subsample=config.data.subsample,
        stratify=config.data.stratify,
        dtype=np.dtype(config.model.dtype),
        source=config.source,
    )
