"""The mini-batch loop.

:class:`Trainer` builds a run once — data, network and every plugin object, resolved by name
through the plugin manager — and :meth:`Trainer.fit` then runs a loop that calls those objects'
plain methods. Pluggy is consulted only at run and epoch granularity, and per batch only when an
installed plugin implements ``sweepnp_on_train_batch_end``.

Per epoch the trainer evaluates (every ``train.eval_every`` epochs and at the last one) the full
training split and the validation and test splits in evaluation mode (no dropout, batch-norm
running statistics). ``loss`` is the training objective, data loss plus penalties (seed 004's
"total loss"); ``val_loss`` and ``test_loss`` are data losses, what generalization is judged on.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sweepnp.callbacks import Callback
from sweepnp.config import RunConfig, parse
from sweepnp.datasets import Dataset, Splits, prepare
from sweepnp.errors import ConfigError, OptionError, SweepnpWarning
from sweepnp.model import BatchNormOptions, DenseNetwork, Model
from sweepnp.optimizers import Optimizer
from sweepnp.plugins import PluginManager, get_plugin_manager
from sweepnp.regularizers import Regularizer
from sweepnp.schedules import Schedule

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["STOP_REASONS", "RunResult", "Trainer", "load_data", "train"]

#: A split's prefix ("", "val_", "test_") → its data loss and metrics, as NumPy numbers.
Scores = dict[str, tuple[Any, dict[str, Any]]]

#: Stop reasons a run can end with (plugins may add their own).
STOP_REASONS = ("completed", "early_stopped", "diverged", "pruned", "interrupted", "failed")


@dataclass
class RunResult:
    """What one training run produced.

    :ivar records: one dict per evaluated epoch: ``epoch`` (from 0), every metric, ``lr`` and
        ``epoch_seconds`` (wall-clock time of that epoch's updates); :attr:`history` is the same
        as a DataFrame.
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

        return pd.DataFrame(self.records)

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
    """One training run, built from a config.

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
        self._check_batch_size()
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
        self._callback_keys = [f"callbacks.{name}" for name in built]
        self.callbacks.extend(callbacks)
        self._callback_keys.extend("callbacks" for _ in callbacks)
        for callback, key in zip(self.callbacks, self._callback_keys, strict=True):
            self._guard(lambda callback=callback: callback.set_trainer(self), key)
        self._evaluating_callbacks = [c for c in self.callbacks if c.overrides("on_evaluate")]

        self.epochs = config.train.epochs
        self.metric_names: tuple[str, ...] = self._metric_names()
        self.history: list[dict[str, Any]] = []
        self.info: dict[str, Any] = {}
        self.stop_training = False
        self.stop_reason: str | None = None

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

    def _check_batch_size(self) -> None:
        check_batch_size(self.config, len(self.data.X_train), stacklevel=3)  # Trainer()'s caller

    def _metric_names(self) -> tuple[str, ...]:
        names = []
        for prefix in self.data.splits():
            names.extend(prefix + metric for metric in self.network.task.metric_names)
        for callback in self.callbacks:
            names.extend(m for m in callback.metrics if m not in names)
        return (*names, "lr")

    # -- control -----------------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """End training after the current epoch; the first reason given is kept."""
        self.stop_training = True
        if self.stop_reason is None:
            self.stop_reason = reason

    # -- evaluation --------------------------------------------------------------------------

    def penalty(self) -> Any:
        """The total weight penalty of the current parameters."""
        total = 0.0
        params = self.network.params
        for reg in self.regularizers.values():
            if reg.penalizes_weights():
                for name in self.network.weight_names:
                    total = total + reg.penalty(params[name])
        return total

    def scores(self) -> Scores:
        """The data loss and the metrics of the current model on every split present, as NumPy
        numbers (what :meth:`evaluate` turns into ``logs``)."""
        network = self.network
        task = network.task
        scores: Scores = {}
        for prefix, (X, y) in self.data.splits().items():
            z = network.logits(X)
            scores[prefix] = (task.loss(z, y), task.metrics(z, y))
        return scores

    def evaluate(self, scores: Scores | None = None, penalty: Any = None) -> dict[str, float]:
        """Loss and metrics of the current model on every split present: ``loss`` is the
        training objective (data loss plus penalties), the others data losses and metrics.

        :param scores: the splits' :meth:`scores`, when already computed (by a stack of trials).
        :param penalty: the weight :meth:`penalty`, when already computed.
        """
        logs: dict[str, float] = {}
        for prefix, (loss, metrics) in (scores if scores is not None else self.scores()).items():
            if prefix == "":
                loss = loss + (self.penalty() if penalty is None else penalty)
            logs[prefix + "loss"] = float(loss)
            for metric, value in metrics.items():
                logs[prefix + metric] = float(value)
        for callback in self._evaluating_callbacks:
            callback.on_evaluate(logs)
        return logs

    # -- one step: what fit and the learning-rate finder share ----------------------------------

    def prepare_steps(self) -> None:
        """Set up the optimizer for this run's parameters and what every step uses (the masks,
        the weight penalties, the gradient callbacks). Call once before :meth:`gradients`."""
        network = self.network
        self.optimizer.setup(network.params, network.weight_names)
        #: The masks of one hidden activation's shape (dropout), from this run's own generator;
        #: ``None`` when no regularizer masks.
        self.masks = self._mask_function()
        self._penalties = [r for r in self.regularizers.values() if r.penalizes_weights()]
        self.gradient_callbacks = [
            c for c in self.callbacks if c.overrides("on_before_optimizer_step")
        ]

    def epoch_order(self) -> np.ndarray | None:
        """The order of the training rows in this epoch, from this run's own generator (one
        draw per epoch); ``None`` when ``train.shuffle`` is off."""
        if not self.config.train.shuffle:
            return None
        return self._shuffle_rng.permutation(len(self.data.X_train))

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One pass over the training split in mini-batches of ``train.batch_size`` rows,
        shuffled by this run's own generator (when ``train.shuffle``)."""
        X, y = self.data.X_train, self.data.y_train
        order = self.epoch_order()
        if order is not None:
            X, y = X[order], y[order]
        size = self.batch_size
        for start in range(0, len(X), size):
            yield X[start : start + size], y[start : start + size]

    def gradients(self, X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        r"""The gradients of one mini-batch: backpropagation of the data loss with this run's
        masks, plus every weight penalty's :math:`\partial R / \partial W`, then the gradient
        callbacks (e.g. clipping), which may change them in place."""
        grads = self.network.gradients(X, y, self.masks)
        if self._penalties:
            params = self.network.params
            for reg in self._penalties:
                for name in self.network.weight_names:
                    grads[name] += reg.gradient(params[name])
        for callback in self.gradient_callbacks:
            callback.on_before_optimizer_step(grads)
        return grads

    def step(self, grads: dict[str, np.ndarray], lr: Any) -> None:
        """Update the parameters in place with the optimizer at learning rate ``lr``."""
        self.optimizer.step(self.network.params, grads, lr)

    def begin(self, callbacks: Sequence[Callback], key: str = "callbacks") -> None:
        """Call ``on_train_begin`` of ``callbacks``, reporting an option they refuse under
        ``key`` (``callbacks.NAME``)."""
        for callback in callbacks:
            self._guard(lambda c=callback: c.on_train_begin({}), key)

    # -- a run, epoch by epoch: what fit and a stack of trials share ----------------------------

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
        self._guard(lambda: schedule.setup(base_lr, self.epochs), "schedule")
        self.prepare_steps()
        #: Whether the schedule changes the rate every batch (else every epoch).
        self.lr_per_batch = schedule.interval == "batch"
        self.n_batches = math.ceil(len(self.data.X_train) / self.batch_size)
        self._batch_callbacks = [c for c in self.callbacks if c.overrides("on_train_batch_end")]
        self._batch_hook = self.pm.has_impls("sweepnp_on_train_batch_end")
        #: Whether anything wants to hear of every batch (then :meth:`end_batch` must be called).
        self.watches_batches = bool(self._batch_callbacks) or self._batch_hook
        self._epoch_hooks = {
            name: self.pm.has_impls(name)
            for name in ("sweepnp_on_epoch_begin", "sweepnp_on_epoch_end")
        }
        for callback, key in zip(self.callbacks, self._callback_keys, strict=True):
            self.begin([callback], key)
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

    def end_epoch(
        self, epoch_seconds: float, scores: Scores | None = None, penalty: Any = None
    ) -> bool:
        """End epoch :attr:`epochs_run`: evaluate if due (from ``scores`` and ``penalty`` when a
        stack computed them), record it, and tell the callbacks. Return whether training goes
        on."""
        epoch = self.epochs_run
        due = self.evaluation_due
        self.epochs_run += 1
        logs: dict[str, Any] = {"lr": _scalar(self.lr)}
        if due:
            logs = {**self.evaluate(scores, penalty), "lr": _scalar(self.lr)}
            self.history.append({"epoch": epoch, **logs, "epoch_seconds": epoch_seconds})
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
        if self.history and self.history[-1]["epoch"] != epochs_run - 1:
            # A run stopped between evaluations still records where it ended.
            self.logs = {**self.evaluate(), "lr": _scalar(self.lr)}
            self.history.append({"epoch": epochs_run - 1, **self.logs, "epoch_seconds": np.nan})
        if self.stop_reason is None:
            self.stop_reason = "completed"
        for callback in self.callbacks:
            callback.on_train_end(self.logs)
        metrics = self.evaluate()
        if self.pm.has_impls("sweepnp_on_train_end"):
            self.pm.hook.sweepnp_on_train_end(trainer=self, logs=metrics)
        return RunResult(
            records=self.history,
            metrics=metrics,
            stop_reason=self.stop_reason,
            model=self.model,
            info=self.info,
            config=self.config,
            epochs_run=epochs_run,
            seconds=time.perf_counter() - self._started,
        )

    # -- the loop ------------------------------------------------------------------------------

    def fit(self) -> RunResult:
        """Train, and return the :class:`RunResult`."""
        self.begin_training()
        gradients, step, batches = self.gradients, self.step, self.batches
        per_batch = self.lr_per_batch or self.watches_batches
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            while True:
                epoch_started = time.perf_counter()
                self.begin_epoch()
                if per_batch:
                    for batch, (X_batch, y_batch) in enumerate(batches()):
                        lr = self.batch_lr(batch) if self.lr_per_batch else self.lr
                        step(gradients(X_batch, y_batch), lr)
                        if self.watches_batches:
                            self.end_batch(batch, len(X_batch))
                else:  # the hot loop: nothing but the step
                    lr = self.lr
                    for X_batch, y_batch in batches():
                        step(gradients(X_batch, y_batch), lr)
                if not self.end_epoch(time.perf_counter() - epoch_started):
                    break
            return self.finish_training()

    def epoch_masks(self, shapes: Sequence[tuple[int, ...]]) -> list[np.ndarray] | None:
        """The masks this run draws for ``shapes`` in turn (an epoch's hidden activations, in
        the order training asks for them), from its own generator; ``None`` without masks."""
        maskers = [r for r in self.regularizers.values() if r.masks_activations()]
        if not maskers:
            return None
        if len(maskers) == 1:  # its draws in one go (several maskers interleave theirs)
            return maskers[0].masks(shapes, self._mask_rng, self.dtype)
        return [self.masks(shape) for shape in shapes]

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

    def _guard(self, call: Any, key: str) -> None:
        """Run a set-up call, reporting an :class:`OptionError` under ``key``."""
        try:
            call()
        except OptionError as exc:
            raise ConfigError(
                exc.reason, source=self.config.source, key=f"{key}.{exc.option}"
            ) from None


# -------------------------------------------------------------------------
# Building a run's parts (a Trainer builds them all; a study's search space is checked by
# building only what each searched value reaches)
# -------------------------------------------------------------------------


def build_optimizer(config: RunConfig, pm: PluginManager) -> Optimizer:
    """The run's optimizer, from ``[optimizer]``."""
    options = dict(config.optimizer)
    return pm.build(
        "optimizers", options.pop("name"), options, key="optimizer", source=config.source
    )


def build_regularizers(
    config: RunConfig, pm: PluginManager, names: Iterable[str] | None = None
) -> dict[str, Regularizer]:
    """The run's regularizers by name, from ``[regularizers]`` (only ``names``, when given)."""
    return {
        name: pm.build(
            "regularizers", name, options, key=f"regularizers.{name}", source=config.source
        )
        for name, options in config.regularizers.items()
        if names is None or name in names
    }


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
    """Load, check, split and scale the data of a run (``X`` and ``y`` replace the dataset)."""
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
            extra={"seed": config.data.seed},
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
