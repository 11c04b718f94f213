"""Every hook of sweepnp, in lifecycle order. This module is the whole plugin contract.

Implement a hook with a module-level function of the same name, decorated with
:data:`sweepnp.hookimpl`. An implementation may take fewer arguments than the spec, never others.
Hooks only ever gain arguments; none is removed or renamed.

Registration hooks run once, when the plugin manager is built. Lifecycle hooks run once per run,
per epoch, or (opt-in) per batch, for every run while the plugin is installed; to act in only
some runs, provide a callback and let run files choose it by name in ``[callbacks]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from sweepnp.callbacks import Callback
    from sweepnp.datasets import Dataset
    from sweepnp.optimizers import Optimizer
    from sweepnp.regularizers import Regularizer
    from sweepnp.schedules import Schedule
    from sweepnp.surfaces import Surface
    from sweepnp.trainer import Trainer

hookspec = pluggy.HookspecMarker("sweepnp")
hookimpl = pluggy.HookimplMarker("sweepnp")


# -------------------------------------------------------------------------
# Registration hooks: what a plugin provides, by name
# -------------------------------------------------------------------------


@hookspec
def sweepnp_register_optimizers() -> Mapping[str, Callable[..., Optimizer]]:
    """Provide optimizers by name, for ``[optimizer] name = "..."``.

    The remaining keys of the ``[optimizer]`` table are passed to the factory as keyword arguments;
    an unknown key is an error listing the factory's parameters. Options hinted ``float`` arrive
    in the run's dtype: NumPy scalars for a run alone, arrays of shape ``(K, 1, 1)`` for a stack
    of K trials (so both compute alike).

    :return: a mapping of optimizer name → factory (usually an :class:`~sweepnp.Optimizer`
        subclass) taking the options as keyword arguments.
    """


@hookspec
def sweepnp_register_regularizers() -> Mapping[str, Callable[..., Regularizer]]:
    """Provide regularizers by name, for the keys of ``[regularizers]``.

    A weight penalty's options hinted ``float`` arrive in the run's dtype, as an optimizer's do;
    a mask's (dropout's) as written in the run file.

    :return: a mapping of regularizer name → factory (usually a :class:`~sweepnp.Regularizer`
        subclass) taking the options as keyword arguments.
    """


@hookspec
def sweepnp_register_schedules() -> Mapping[str, Callable[..., Schedule]]:
    """Provide learning-rate schedules by name, for ``[schedule] name = "..."``.

    :return: a mapping of schedule name → factory (usually a :class:`~sweepnp.Schedule`
        subclass) taking the options as keyword arguments.
    """


@hookspec
def sweepnp_register_callbacks() -> Mapping[str, Callable[..., Callback]]:
    """Provide callbacks by name, for the keys of ``[callbacks]``.

    A callback may add metrics: name them in its ``metrics`` class attribute and set them in
    ``on_evaluate(logs)``; they are recorded and may be a study's metric.

    :return: a mapping of callback name → factory (usually a :class:`~sweepnp.Callback`
        subclass) taking the options as keyword arguments.
    """


@hookspec
def sweepnp_register_datasets() -> Mapping[str, Callable[..., Dataset]]:
    """Provide datasets by name, for ``[data] dataset = "..."``.

    A loader takes its options as keyword arguments (``dataset = { name = "...", ... }``) and, if
    it has a ``seed`` parameter, receives ``data.seed`` (a ``dtype`` parameter: ``model.dtype``,
    the dtype the run's splits are made in). It returns the whole data set; sweepnp splits,
    scales and checks it.

    :return: a mapping of dataset name → loader returning a :class:`~sweepnp.Dataset`.
    """


@hookspec
def sweepnp_register_surfaces() -> Mapping[str, Callable[..., Surface]]:
    """Provide test surfaces by name, for ``sweepnp surface NAME[:option=value,...]``.

    A surface is a two-dimensional function with its analytic gradient, on which ``sweepnp
    surface`` runs optimizers through the same ``setup`` and ``step`` as training.

    :return: a mapping of surface name → factory (usually a :class:`~sweepnp.Surface`
        subclass) taking the options as keyword arguments.
    """


@hookspec
def sweepnp_default_callbacks() -> Mapping[str, Mapping[str, Any]]:
    """Turn callbacks on in every run.

    A run file switches one off with ``[callbacks] NAME = false``, or gives it options of its own.

    sweepnp's own ``divergence_guard`` and ``diagnosis`` are on by default through this hook.

    :return: a mapping of callback name (as registered) → its default options.
    """


@hookspec
def sweepnp_trial_callbacks(metric: str, start: int, every: int) -> Mapping[str, Mapping[str, Any]]:
    """Turn callbacks on in the runs of a study whose trials a pruner watches.

    Called by the study driver for the first repeat of every trial of a study with a pruner.
    The callbacks find the Optuna trial in ``trainer.context["optuna_trial"]``; sweepnp's own
    ``pruning`` callback reports to it through this hook.

    :param metric: the study's metric, what the pruner compares.
    :param start: the first epoch (from 0) at which the pruner looks (its warm-up).
    :param every: the pruner looks every ``every`` epochs from ``start``.
    :return: a mapping of callback name (as registered) → options, added to ``[callbacks]``.
    """


# -------------------------------------------------------------------------
# Run lifecycle hooks: observe every run (Keras callback names, flat ``logs``)
# -------------------------------------------------------------------------


@hookspec
def sweepnp_on_train_begin(trainer: Trainer, logs: dict[str, Any]) -> None:
    """Called once at the start of every run, after the run's callbacks' ``on_train_begin``.

    :param trainer: the run's :class:`~sweepnp.Trainer` (model, config, ``stop(reason)``).
    :param logs: an empty dict, the Keras convention.
    """


@hookspec
def sweepnp_on_epoch_begin(trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
    """Called at the start of every epoch.

    :param trainer: the run's :class:`~sweepnp.Trainer`.
    :param epoch: the epoch index, from 0.
    :param logs: a dict holding ``lr``, the learning rate this epoch starts with.
    """


@hookspec
def sweepnp_on_train_batch_end(trainer: Trainer, batch: int, logs: dict[str, Any]) -> None:
    """Called after every mini-batch update — only while some installed plugin implements it.

    The per-batch loop does not go through pluggy unless a plugin implements this hook, so
    implement it only when you need it: each call costs about 2 µs against a ~55 µs batch.

    :param trainer: the run's :class:`~sweepnp.Trainer`.
    :param batch: the batch index within the epoch, from 0.
    :param logs: ``batch``, ``size`` (rows in this batch) and ``lr``.
    """


@hookspec
def sweepnp_on_epoch_end(trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
    """Called at the end of every epoch, after evaluation and the run's callbacks.

    :param trainer: the run's :class:`~sweepnp.Trainer`.
    :param epoch: the epoch index, from 0.
    :param logs: ``lr`` and, in evaluated epochs, every metric (``loss``, ``val_loss``, ...).
    """


@hookspec
def sweepnp_on_train_end(trainer: Trainer, logs: dict[str, Any]) -> None:
    """Called once at the end of every run, after the run's callbacks' ``on_train_end``.

    :param trainer: the run's :class:`~sweepnp.Trainer`; ``trainer.stop_reason`` says why it ended.
    :param logs: the final metrics of the trained model.
    """
