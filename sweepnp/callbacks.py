"""The callback contract, after Keras; concrete callbacks are plugins (``sweepnp_plugins``).

A callback is chosen per run by name in the run file's ``[callbacks]`` table. The trainer calls
only the methods a callback overrides, so a per-batch method nobody overrides costs nothing.

``logs`` is a flat dict, the Keras convention: ``loss``, ``accuracy`` (classification) or ``mse``
and ``r2`` (regression), the same with ``val_`` and ``test_`` prefixes when those splits exist, and
``lr``. Metrics are present only in epochs the trainer evaluates (see ``train.eval_every``), and
the ``test_`` ones only with ``train.evaluate.test = "every_epoch"`` (by default the test split is
measured where the run ends, in ``on_train_end``'s logs and the last record). A
callback may add metrics of its own (declared in :attr:`Callback.metrics`) in
:meth:`Callback.on_evaluate`: they reach the history, the final metrics and a study's results.

Through ``self.trainer`` a callback reaches the run: ``trainer.model`` (its ``params``,
``get_params``/``set_params``), ``trainer.stop(reason)`` to end training after this epoch,
``trainer.metric_names``, ``trainer.records`` (the evaluated epochs so far), ``trainer.info`` (a
dict recorded with the run result) and ``trainer.context`` (what the caller provides; in a study,
``context["trial_number"]`` and ``context["repeat"]`` — every configuration's repeat r shares
its seed — and, in the repeat a pruner watches, ``context["optuna_trial"]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sweepnp.trainer import Trainer

__all__ = ["Callback"]

Logs = dict[str, Any]


class Callback:
    """Base class of every callback; override the methods you need.

    :cvar stackable: ``True`` declares that its trials may train stacked. Each stacked trial
        keeps its own callbacks and trainer, whose network's arrays are views into the stack's
        arrays, laid out again when trials join or leave: a stackable callback reads
        ``self.trainer.network.params[...]`` each time, never keeps references to them across
        epochs, and does not use the trainer's optimizer object. The contract kit proves a
        declaration (``CallbackContract.test_trains_stacked_as_alone`` trains stacked trials and
        compares each with the trial alone). Undeclared (``False``, the default), its trials
        train alone.
    """

    stackable: bool = False
    trainer: Trainer
    #: The metrics :meth:`on_evaluate` adds, by name; a study may optimize any of them.
    metrics: tuple[str, ...] = ()

    def declared_metrics(self, parameters: Mapping[str, tuple[int, ...]]) -> tuple[str, ...]:
        """The metrics this callback will add in a run whose network has ``parameters`` (name →
        shape), known before any trainer exists: what checking a study file compares the study's
        metric with. The default is :attr:`metrics`; a callback that names its metrics in
        :meth:`set_trainer`, from the network, overrides this to name them from ``parameters``
        (and may raise :class:`~sweepnp.errors.OptionError` for an option the network refuses).
        """
        return tuple(self.metrics)

    def set_trainer(self, trainer: Trainer) -> None:
        """Called once, before :meth:`on_train_begin`."""
        self.trainer = trainer

    def on_train_begin(self, logs: Logs) -> None:
        """At the start of training."""

    def on_train_end(self, logs: Logs) -> None:
        """At the end of training, with the last epoch's logs."""

    def on_epoch_begin(self, epoch: int, logs: Logs) -> None:
        """At the start of epoch ``epoch`` (0-based)."""

    def on_epoch_end(self, epoch: int, logs: Logs) -> None:
        """At the end of epoch ``epoch``, after evaluation."""

    def on_evaluate(self, logs: Logs) -> None:
        """After each evaluation of the model (every evaluated epoch, and the final metrics):
        add the metrics named in :attr:`metrics` to ``logs``; they are recorded with the rest."""

    def on_before_optimizer_step(self, grads: dict[str, np.ndarray]) -> None:
        """Per batch, between the backward pass and the update; may change ``grads`` in place."""

    def on_train_batch_end(self, batch: int, logs: Logs) -> None:
        """Per batch, after the update. ``logs`` holds ``batch``, ``size`` and ``lr``."""

    def require_metric(self, metric: str, option: str = "monitor") -> None:
        """Refuse, naming ``option``, a metric this run does not record every evaluated epoch
        (call it in :meth:`on_train_begin`): one it never records, or one it measures only
        where it ends (``trainer.end_only_metrics``: the test split's, by default).

        :raises OptionError: with the metrics the run records as the valid choices.
        """
        from sweepnp.errors import OptionError

        names = tuple(self.trainer.metric_names)
        late = self.trainer.end_only_metrics
        if metric in late:
            raise OptionError(
                option,
                f"{metric!r} is measured only where the run ends (train.evaluate.test = "
                '"end"); set train.evaluate.test = "every_epoch" to measure it every evaluated '
                f"epoch, or watch one of: {', '.join(m for m in names if m not in late)}",
            )
        if metric not in names:
            raise OptionError(
                option, f"{metric!r} is not recorded in this run; valid: {', '.join(names)}"
            )

    @classmethod
    def overrides(cls, method: str) -> bool:
        """Whether this callback class overrides ``method`` of :class:`Callback`."""
        return getattr(cls, method) is not getattr(Callback, method)
