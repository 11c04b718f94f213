"""A training run: its bookkeeping around the step program.

:class:`Trainer` builds a run once — data, network and every plugin object, resolved by name
through the plugin manager (:mod:`sweepnp.run_parts`) — and :meth:`Trainer.fit` trains it: epoch
after epoch, the :class:`~sweepnp.step_program.StepProgram`'s mini-batch steps, then its
evaluation. Pluggy is consulted only at run and epoch granularity, and per batch only when an
installed plugin implements ``sweepnp_on_train_batch_end``. A run in a stack of runs
(:class:`~sweepnp.run_stack.RunStack`) keeps its own trainer for the same bookkeeping, while one
stacked program does the arithmetic of them all.

Per epoch the trainer evaluates (every ``train.eval_every`` epochs and at the last one) in
evaluation mode (no dropout, batch-norm running statistics) the validation split, the training
split (a full pass, or from the epoch's own batches: ``train.evaluate.train``) and, with
``train.evaluate.test = "every_epoch"``, the test split; by default the test split is measured
once, where the run ends (its last record and the final metrics). ``loss`` is the training
objective, data loss plus penalties (seed 004's "total loss"); ``val_loss`` and ``test_loss``
are data losses, what generalization is judged on.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sweepnp.callbacks import Callback
from sweepnp.config import RunConfig, parse
from sweepnp.datasets import Splits
from sweepnp.errors import ConfigError, options_under
from sweepnp.model import BatchNormOptions, DenseNetwork, Model
from sweepnp.optimizers import Optimizer
from sweepnp.plugins import PluginManager, get_plugin_manager
from sweepnp.regularizers import Regularizer
from sweepnp.run_parts import (
    build_callbacks,
    build_optimizer,
    build_regularizers,
    build_schedule,
    check_batch_size,
    load_data,
    metric_names,
)
from sweepnp.schedules import Schedule
from sweepnp.step_program import BatchScores, Evaluation, Measured, StepProgram
from sweepnp.vocabulary import EPOCH_SECONDS, StopReason

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["RunResult", "Trainer", "load_data", "train"]

#: A training split of at most this many bytes is put in an epoch's order at once (one gather,
#: then slices); a larger one batch by batch, without a copy of the whole split (MNIST size:
#: 113 MB an epoch, and about 40% of the time the gather took).
EPOCH_GATHER_BYTES = 4 * 2**20


@dataclass
class RunResult:
    """What one training run produced.

    :ivar records: one dict per evaluated epoch: ``epoch`` (from 0), every metric measured that
        epoch (the test split's in the last record only, unless ``train.evaluate.test =
        "every_epoch"``), ``lr`` and ``epoch_seconds`` (wall-clock time of that epoch's
        updates); :attr:`history` is the same as a DataFrame.
    :ivar metrics: the final metrics of the returned model (after any restore-best).
    :ivar stop_reason: ``completed``, ``early_stopped``, ``diverged``, … .
    :ivar model: the trained :class:`~sweepnp.model.Model` (``predict``, ``predict_proba``,
        ``params``).
    :ivar info: what callbacks recorded, e.g. ``info["diagnosis"]``.
    """

    records: list[dict[str, Any]]
    metrics: dict[str, float]
    stop_reason: str
    model: Model
    info: dict[str, Any]
    config: RunConfig
    epochs_run: int
    seconds: float

    @functools.cached_property
    def history(self) -> pd.DataFrame:
        """The learning curve as a DataFrame, one row per evaluated epoch (built on first use)."""
        import pandas as pd  # imported on use: a run needs no pandas, and it takes 0.3 s

        # The columns in the last record's order: it holds every metric, also those measured
        # only where the run ends (the test split's, by default; NaN in the epochs before).
        columns = dict.fromkeys(self.records[-1] if self.records else ())
        columns.update(dict.fromkeys(key for row in self.records for key in row))
        return pd.DataFrame(self.records, columns=list(columns) or None)

    def __repr__(self) -> str:
        # One line: the generated repr would print every epoch's record and the whole config.
        from sweepnp.run_views import run_repr

        return run_repr(self)

    def _repr_html_(self) -> str:
        """A notebook's view: how the run ended, its diagnosis and its final metrics."""
        from sweepnp.run_views import run_html

        return run_html(self)

    def plot(self, path: str | Path | None = None) -> Figure:
        """Draw the learning curves: one panel per metric (loss first), training, validation
        and test per evaluated epoch; a run that stopped early has its last epoch marked.

        :param path: also save the figure to this file (``.png``, ``.svg``, ``.pdf``, …).
        :return: a matplotlib ``Figure`` (outside pyplot: a notebook shows it, nothing to
            close).
        """
        from sweepnp.run_views import plot_run

        return plot_run(self, path)

    def to_json_dict(self) -> dict[str, Any]:
        """``{"metrics", "history", "stop_reason"}`` with NaN and infinities as ``null``."""
        records = self.records
        return {
            "metrics": {k: json_number(v) for k, v in self.metrics.items()},
            "history": [{k: json_number(v) for k, v in row.items()} for row in records],
            "stop_reason": self.stop_reason,
        }


def json_number(value: Any) -> Any:
    """A number as JSON holds it: NumPy scalars as Python numbers, NaN and infinities as
    ``None`` (what ``--json`` outputs print)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Trainer:
    """One training run, built from a config: its bookkeeping around a :class:`StepProgram`.

    A trainer builds a run once — data, network and every plugin object, resolved by name — and
    keeps what is the run's own: its schedule, callbacks, records, generators and stop. The
    arithmetic of a step and of an evaluation is its :attr:`program`'s. :meth:`fit` trains the
    run alone; a :class:`~sweepnp.run_stack.RunStack` trains it with others in one stacked
    program, calling the same :meth:`begin_training`, :meth:`begin_epoch`, :meth:`end_epoch`
    and :meth:`finish_training` as :meth:`fit` does.

    :param config: a path, a dict of the run-file schema, or a :class:`RunConfig`.
    :param X: in-memory features (with ``y``) used instead of ``data.dataset``.
    :param y: in-memory targets.
    :param callbacks: extra callback objects (e.g. a progress display), run after the config's.
    :param plugin_manager: the plugins to resolve names with (default: the process-wide one).
    :param data: already prepared splits of this config's data (a study shares them between
        trials that do not search the data section).
    :param context: what the caller makes available to callbacks as ``trainer.context``, e.g.
        ``{"optuna_trial": trial}`` in a study.
    """

    def __init__(
        self,
        config: str | Path | Mapping[str, Any] | RunConfig,
        X: Any = None,
        y: Any = None,
        *,
        callbacks: Sequence[Callback] = (),
        plugin_manager: PluginManager | None = None,
        data: Splits | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = config = parse(config)
        self.pm = pm = plugin_manager or get_plugin_manager()
        self.dtype = np.dtype(config.model.dtype)
        self.data: Splits = data if data is not None else load_data(config, pm, X, y)
        self.context: Mapping[str, Any] = context or {}

        seeds = np.random.SeedSequence(config.train.seed).spawn(3)
        self._init_rng, self._shuffle_rng, self._mask_rng = (
            np.random.default_rng(s) for s in seeds
        )
        self.network = self._build_network()
        check_batch_size(config, len(self.data.X_train), stacklevel=2)  # Trainer()'s caller
        rows = len(self.data.X_train)
        batch_size = config.train.batch_size
        #: Rows per mini-batch (``"full"``, or more than the training rows: all of them).
        self.batch_size: int = rows if batch_size == "full" else min(batch_size, rows)
        self.model = Model(
            self.network,
            classes=self.data.classes,
            mean=self.data.scaler_mean,
            scale=self.data.scaler_scale,
            target_mean=self.data.target_mean,
            target_scale=self.data.target_scale,
        )

        self.optimizer: Optimizer = build_optimizer(config, pm)
        self.regularizers: dict[str, Regularizer] = build_regularizers(config, pm)
        self.schedule: Schedule = build_schedule(config, pm)
        built = build_callbacks(config, pm)
        self.callbacks: list[Callback] = list(built.values())
        #: Where each callback comes from: ``callbacks.NAME``, or ``callbacks`` for one passed in.
        self.callback_keys = [f"callbacks.{name}" for name in built]
        self.callbacks.extend(callbacks)
        self.callback_keys.extend("callbacks" for _ in callbacks)
        for callback, key in zip(self.callbacks, self.callback_keys, strict=True):
            with options_under(key, config.source):
                callback.set_trainer(self)
        self._evaluating_callbacks = [c for c in self.callbacks if c.overrides("on_evaluate")]

        self.epochs = config.train.epochs
        #: The metrics this run records: in every evaluated epoch, but for
        #: :attr:`end_only_metrics`.
        self.metric_names: tuple[str, ...] = metric_names(
            config, self.data, zip(self.callback_keys, self.callbacks, strict=True)
        )
        evaluate = config.train.evaluate
        #: The metrics recorded only where the run ends (its last record and final metrics),
        #: not every evaluated epoch: the test split's, with ``train.evaluate.test = "end"``.
        self.end_only_metrics: tuple[str, ...] = (
            tuple(m for m in self.metric_names if m.startswith("test_"))
            if evaluate.test == "end"
            else ()
        )
        #: Whether the training split's metrics come from the epoch's own batches.
        self.scores_batches = evaluate.train == "batches"
        #: The evaluated epochs so far, one dict each (``epoch``, every metric, ``lr``,
        #: ``epoch_seconds``): what :attr:`RunResult.records` will hold.
        self.records: list[dict[str, Any]] = []
        self.info: dict[str, Any] = {}
        self.stop_training = False
        self.stop_reason: str | None = None
        #: The arithmetic of this run's steps and evaluations (set up by :meth:`prepare_steps`).
        self.program: StepProgram | None = None
        #: The last epoch's evaluation's full passes, which the final metrics may reuse.
        self._measured: Measured | None = None

    # -- building ----------------------------------------------------------------------------

    def _build_network(self) -> DenseNetwork:
        cfg = self.config.model
        source = self.config.source
        init_name, init_options = cfg.initializer(source)
        options = cfg.batch_norm_options(source)
        batch_norm = None if options is None else BatchNormOptions(**options)
        return DenseNetwork(
            self.data.n_features,
            self.data.n_outputs,
            task=self.data.task,
            loss=cfg.task_loss(self.data.task, source),
            hidden=cfg.hidden,
            activation=cfg.activation,
            init=(init_name, init_options),
            batch_norm=batch_norm,
            dtype=self.dtype,
            rng=self._init_rng,
        )

    def prepare_steps(self, callbacks: Sequence[Callback] | None = None) -> StepProgram:
        """Set up the optimizer for this run's parameters and the :attr:`program` of its steps
        (masks from this run's generator, weight penalties, gradient callbacks), and begin the
        gradient callbacks. Called by :meth:`begin_training`; the learning-rate finder calls it
        alone.

        :param callbacks: the callbacks to begin here (default: none; :meth:`begin_training`
            begins them all).
        """
        network = self.network
        self.optimizer.setup(network.params, network.weight_names)
        gradient_callbacks = [c for c in self.callbacks if c.overrides("on_before_optimizer_step")]
        self.program = StepProgram(
            network,
            self.optimizer,
            [r for r in self.regularizers.values() if r.penalizes_weights()],
            masks=self._mask_function(),
            gradient_hooks=[c.on_before_optimizer_step for c in gradient_callbacks],
        )
        for callback in gradient_callbacks if callbacks is None else callbacks:
            key = self.callback_keys[self.callbacks.index(callback)]
            with options_under(key, self.config.source):
                callback.on_train_begin({})
        return self.program

    @property
    def history(self) -> list[dict[str, Any]]:
        """Deprecated name of :attr:`records` (a history is a DataFrame:
        :attr:`RunResult.history`)."""
        warnings.warn("Trainer.history is now Trainer.records", FutureWarning, stacklevel=2)
        return self.records

    # -- control -----------------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """End training after the current epoch; the first reason given is kept."""
        self.stop_training = True
        if self.stop_reason is None:
            self.stop_reason = reason

    # -- evaluation --------------------------------------------------------------------------

    def evaluate(self, evaluation: Evaluation | None = None) -> dict[str, float]:
        """Loss and metrics of the current model on every split present: ``loss`` is the
        training objective (data loss plus penalties), the others data losses and metrics;
        then the callbacks that add metrics.

        :param evaluation: this run's :meth:`StepProgram.evaluate`, when already computed (by
            :meth:`fit`, or a stack for all its runs at once); computed here otherwise.
        """
        if evaluation is None:
            evaluation = self._program().evaluate(self.data.splits())
        logs = evaluation.logs()
        for callback in self._evaluating_callbacks:
            callback.on_evaluate(logs)
        return logs

    def _program(self) -> StepProgram:
        return self.program if self.program is not None else self.prepare_steps(callbacks=())

    @functools.cached_property
    def epoch_splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The splits an evaluated epoch passes over (``train.evaluate``): the validation split,
        the training split unless its metrics come from the batches, and the test split when
        its curve is asked for."""
        splits = self.data.splits()
        if self.scores_batches:
            del splits[""]
        if self.end_only_metrics:
            del splits["test_"]
        return splits

    def epoch_evaluation(
        self, program: StepProgram, batch_scores: BatchScores | None
    ) -> Evaluation:
        """The evaluation of an evaluated epoch with ``program`` (this run's, or a stack's):
        :meth:`epoch_splits`, and the training split's ``batch_scores`` when it has them."""
        train = None if batch_scores is None else batch_scores.scores(self.data.y_train)
        return program.evaluate(self.epoch_splits, train)

    # -- a run, epoch by epoch ------------------------------------------------------------------

    def epoch_order(self) -> np.ndarray | None:
        """The order of the training rows in this epoch, from this run's own generator (one
        draw per epoch); ``None`` when ``train.shuffle`` is off."""
        if not self.config.train.shuffle:
            return None
        return self._shuffle_rng.permutation(len(self.data.X_train))

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One pass over the training split in mini-batches of ``train.batch_size`` rows,
        in this epoch's :meth:`epoch_order` (:data:`EPOCH_GATHER_BYTES`)."""
        X, y = self.data.X_train, self.data.y_train
        order, size = self.epoch_order(), self.batch_size
        if order is not None and X.nbytes <= EPOCH_GATHER_BYTES:
            X, y, order = X[order], y[order], None  # one gather, then slices
        for start in range(0, len(X), size):
            rows = slice(start, start + size) if order is None else order[start : start + size]
            yield X[rows], y[rows]

    def begin_training(self) -> None:
        """Set up the schedule and the steps, and tell the callbacks and plugins that training
        begins. Then each epoch is :meth:`begin_epoch`, the batches, :meth:`end_epoch`; and at
        the end :meth:`finish_training`."""
        cfg = self.config
        schedule = self.schedule
        base_lr = getattr(self.optimizer, "lr", None)
        if base_lr is None:
            raise ConfigError(
                f"optimizer {type(self.optimizer).__name__} has no 'lr' attribute",
                source=cfg.source,
                key="optimizer",
            )
        with options_under("schedule", cfg.source):
            schedule.setup(base_lr, self.epochs)
        self.prepare_steps(callbacks=self.callbacks)
        #: Whether the schedule changes the rate every batch (else every epoch).
        self.lr_per_batch = schedule.interval == "batch"
        self.n_batches = math.ceil(len(self.data.X_train) / self.batch_size)
        self._batch_callbacks = [c for c in self.callbacks if c.overrides("on_train_batch_end")]
        self._batch_hook = self.pm.has_impls("sweepnp_on_train_batch_end")
        #: Whether anything wants to hear of every batch (then :meth:`end_batch` is called).
        self.watches_batches = bool(self._batch_callbacks) or self._batch_hook
        self._epoch_hooks = {
            name: self.pm.has_impls(name)
            for name in ("sweepnp_on_epoch_begin", "sweepnp_on_epoch_end")
        }
        if self.pm.has_impls("sweepnp_on_train_begin"):
            self.pm.hook.sweepnp_on_train_begin(trainer=self, logs={})
        # The learning rate in the parameters' dtype: a float64 scalar would promote float32 maths.
        self._as_dtype = self.dtype.type
        self.lr = self._as_dtype(schedule.lr_at(0.0))
        #: Epochs trained so far; the next epoch's number.
        self.epochs_run = 0
        self.logs: dict[str, Any] = {}
        self._started = time.perf_counter()

    def begin_epoch(self) -> None:
        """Start epoch :attr:`epochs_run`: its learning rate, and the callbacks' epoch begin."""
        epoch = self.epochs_run
        if not self.lr_per_batch:
            self.lr = self._as_dtype(self.schedule.lr_at(float(epoch)))
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, {"lr": self.lr})
        if self._epoch_hooks["sweepnp_on_epoch_begin"]:
            self.pm.hook.sweepnp_on_epoch_begin(trainer=self, epoch=epoch, logs={"lr": self.lr})

    def batch_lr(self, batch: int) -> Any:
        """The learning rate of batch ``batch`` of this epoch (a per-batch schedule)."""
        position = self.epochs_run + batch / self.n_batches
        self.lr = self._as_dtype(self.schedule.lr_at(position))
        return self.lr

    def end_batch(self, batch: int, size: int) -> None:
        """Tell the callbacks and plugins that watch batches that batch ``batch`` (of ``size``
        rows) was trained."""
        batch_logs = {"batch": batch, "size": size, "lr": self.lr}
        for callback in self._batch_callbacks:
            callback.on_train_batch_end(batch, batch_logs)
        if self._batch_hook:
            self.pm.hook.sweepnp_on_train_batch_end(trainer=self, batch=batch, logs=batch_logs)

    @property
    def evaluation_due(self) -> bool:
        """Whether the epoch being trained ends with an evaluation (``train.eval_every``)."""
        epochs = self.epochs_run + 1
        return epochs % self.config.train.eval_every == 0 or epochs == self.epochs

    def end_epoch(self, epoch_seconds: float, evaluation: Evaluation | None) -> bool:
        """End epoch :attr:`epochs_run`: record its ``evaluation`` (when one was due), tell the
        callbacks, and return whether training goes on."""
        epoch = self.epochs_run
        self.epochs_run += 1
        logs: dict[str, Any] = {"lr": _scalar(self.lr)}
        if evaluation is not None:
            logs = {**self.evaluate(evaluation), "lr": _scalar(self.lr)}
            self.records.append({"epoch": epoch, **logs, EPOCH_SECONDS: epoch_seconds})
            if self.epochs_run == self.epochs:  # the last epoch (a run stopped early has none)
                self._keep(evaluation, batches=self.scores_batches)
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)
        if self._epoch_hooks["sweepnp_on_epoch_end"]:
            self.pm.hook.sweepnp_on_epoch_end(trainer=self, epoch=epoch, logs=logs)
        self.logs = logs
        return not self.stop_training and self.epochs_run < self.epochs

    def finish_training(self) -> RunResult:
        """End the run: evaluate where it stopped if that epoch was not, tell the callbacks and
        plugins, and return the :class:`RunResult`."""
        epochs_run = self.epochs_run
        if self.records and self.records[-1]["epoch"] != epochs_run - 1:
            # A run stopped between evaluations still records where it ended (full passes).
            evaluation = self._program().evaluate(self.data.splits())
            self.logs = {**self.evaluate(evaluation), "lr": _scalar(self.lr)}
            self.records.append({"epoch": epochs_run - 1, **self.logs, EPOCH_SECONDS: np.nan})
            self._keep(evaluation, batches=False)
        elif self.records and self.end_only_metrics:
            self._record_test()
        if self.stop_reason is None:
            self.stop_reason = StopReason.COMPLETED
        for callback in self.callbacks:
            callback.on_train_end(self.logs)
        metrics = self.evaluate(self._final_evaluation())
        if self.pm.has_impls("sweepnp_on_train_end"):
            self.pm.hook.sweepnp_on_train_end(trainer=self, logs=metrics)
        return RunResult(
            records=self.records,
            metrics=metrics,
            stop_reason=self.stop_reason,
            model=self.model,
            info=self.info,
            config=self.config,
            epochs_run=epochs_run,
            seconds=time.perf_counter() - self._started,
        )

    def _record_test(self) -> None:
        """Add the test split's metrics, measured now, to the last record and logs (the test
        split measured where the run ends, before the callbacks' ``on_train_end``)."""
        evaluation = self._program().evaluate({"test_": self.data.splits()["test_"]})
        test = evaluation.logs()
        if self._measured is not None:  # the final metrics may take them from there
            self._measured.scores["test_"] = evaluation.scores["test_"]
        merged = {**self.records[-1], **test}
        order = ["epoch", *self.metric_names, EPOCH_SECONDS]  # the test split's after the others
        record = {key: merged[key] for key in order if key in merged}
        record.update((key, value) for key, value in merged.items() if key not in record)
        self.records[-1] = record
        self.logs = {**self.logs, **test}

    def _keep(self, evaluation: Evaluation, *, batches: bool) -> None:
        """Keep the last epoch's evaluation's full passes (not the training split's ``batches``
        scores) and the parameters they measured, for the final metrics
        (:meth:`_final_evaluation`; a run stopped early before its last epoch passes over every
        split again)."""
        full = {p: s for p, s in evaluation.scores.items() if p != "" or not batches}
        self._measured = Measured(full, evaluation.penalty, self.model.get_params())

    def _final_evaluation(self) -> Evaluation | None:
        """The evaluation of the returned model: the last one's full passes when the parameters
        are still those they measured (no restore-best moved them), and passes over the rest;
        ``None`` (every split passed over) otherwise."""
        if self._measured is None:
            return None
        params = self.model.get_params()
        return self._measured.evaluation(self._program(), self.data.splits(), params)

    def fit(self) -> RunResult:
        """Train alone, and return the :class:`RunResult`: epoch after epoch, the program's
        steps over :meth:`batches`, and its evaluation when one is due."""
        self.begin_training()
        program = self._program()
        batch_lr = self.batch_lr if self.lr_per_batch else None
        after_batch = self.end_batch if self.watches_batches else None
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            while True:
                started = time.perf_counter()
                self.begin_epoch()
                due = self.evaluation_due
                scores = program.train_epoch(
                    self.batches(),
                    self.lr,
                    batch_lr=batch_lr,
                    after_batch=after_batch,
                    score=due and self.scores_batches,
                )
                seconds = time.perf_counter() - started
                evaluation = self.epoch_evaluation(program, scores) if due else None
                if not self.end_epoch(seconds, evaluation):
                    break
            return self.finish_training()

    # -- masks -------------------------------------------------------------------------------

    def epoch_masks(self, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray] | None:
        """The masks this run draws for ``shapes`` in turn (an epoch's hidden activations, in
        the order training asks for them), from its own generator; ``None`` without masks."""
        maskers = [r for r in self.regularizers.values() if r.masks_activations()]
        if not maskers:
            return None
        if len(maskers) == 1:  # its draws in one go (several maskers interleave theirs)
            return maskers[0].masks(shapes, self._mask_rng, self.dtype)
        mask = self._mask_function()
        return [mask(shape) for shape in shapes]

    def _mask_function(self) -> Any:
        maskers = [r for r in self.regularizers.values() if r.masks_activations()]
        if not maskers:
            return None
        rng, dtype = self._mask_rng, self.dtype
        if len(maskers) == 1:
            only = maskers[0]
            return lambda shape: only.mask(shape, rng, dtype)

        def combined(shape: tuple[int, ...]) -> np.ndarray:
            mask = maskers[0].mask(shape, rng, dtype)
            for masker in maskers[1:]:
                mask = mask * masker.mask(shape, rng, dtype)
            return mask

        return combined


def _scalar(value: Any) -> Any:
    array = np.asarray(value)
    return float(array) if array.ndim == 0 else array


def train(
    config: str | Path | Mapping[str, Any] | RunConfig,
    X: Any = None,
    y: Any = None,
    *,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train once and return the :class:`RunResult`.

    :param config: a run-file path, a dict of the run-file schema, or a parsed
        :class:`~sweepnp.config.RunConfig`.
    :param X: in-memory features, used with ``y`` instead of ``data.dataset``.
    :param y: in-memory targets.
    :raises ConfigError: for a mistake in the run (a :class:`~sweepnp.DataError` for the data).
    :raises PluginFailure: when a plugin raises while the run is built or trained; it names the
        plugin and the function sweepnp called in it, and chains the plugin's exception.
    """
    pm = get_plugin_manager()
    with pm.naming_failures(source=_source_of(config)):
        return Trainer(config, X, y, callbacks=callbacks, plugin_manager=pm).fit()


def _source_of(config: Any) -> str | None:
    if isinstance(config, str | Path):
        return str(config)
    return config.source if isinstance(config, RunConfig) else None
