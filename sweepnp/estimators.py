"""scikit-learn estimators: a sweepnp network as a classifier or a regressor.

:class:`SweepnpClassifier` and :class:`SweepnpRegressor` take the sections of a run file as
their parameters (``model``, ``train``, ``optimizer``, ``regularizers``, ``schedule``,
``callbacks``, and the in-memory options of ``data``), each a dict exactly as in a run file, and
train with :class:`~sweepnp.trainer.Trainer` on the arrays given to ``fit``. They follow
scikit-learn's conventions, so they work in a ``Pipeline``, ``cross_val_score`` and
``GridSearchCV``; options inside a section are addressed with ``__`` (``optimizer__lr``,
``regularizers__dropout__rate``).

Importing this module imports scikit-learn; ``import sweepnp`` does not (the estimators are
lazy attributes of the package).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from sweepnp.config import RunConfig, validate
from sweepnp.errors import ConfigError, DataError
from sweepnp.model import Model
from sweepnp.trainer import Trainer
from sweepnp.vocabulary import StopReason

__all__ = [
    "DATA_OPTIONS",
    "SECTIONS",
    "VALIDATION_FRACTION",
    "EstimatorConfigError",
    "EstimatorDataError",
    "SweepnpClassifier",
    "SweepnpRegressor",
]

#: The run-file sections an estimator takes as parameters, each a dict (or ``None``).
SECTIONS = ("model", "train", "optimizer", "regularizers", "schedule", "callbacks", "data")

#: The keys of ``data`` that make sense for arrays passed to ``fit``.
DATA_OPTIONS = ("val_size", "scale", "scale_target", "seed", "stratify")

#: The validation split used when early stopping watches a ``val_`` metric and ``data`` does not
#: set ``val_size`` (as ``validation_fraction`` in scikit-learn's MLP).
VALIDATION_FRACTION = 0.1

#: Why the other ``data`` keys of a run file are not estimator options.
_NOT_DATA_OPTIONS = {
    "dataset": "the data is what fit receives",
    "test_size": "fit trains on every row it receives; hold out test data yourself",
    "subsample": "pass fewer rows to fit instead",
}

#: What a section that is ``None`` holds when ``set_params`` sets an option inside it: the run
#: file's default for the plugin sections (``optimizer__lr=0.1`` keeps ``name = "sgd"``).
_NONE_SECTIONS = {
    name: dict(RunConfig.model_fields[name].default) for name in ("optimizer", "schedule")
}

_TASKS = ("binary", "multiclass", "regression")
_FLOATS = (np.float64, np.float32)


class EstimatorConfigError(ConfigError, ValueError):
    """An invalid estimator parameter.

    A :class:`~sweepnp.ConfigError` naming the dotted key (``optimizer.lr``), which is also the
    ``ValueError`` scikit-learn expects from ``fit``.
    """


class EstimatorDataError(DataError, ValueError):
    """Data ``fit`` cannot train on: a :class:`~sweepnp.DataError` that is also a ``ValueError``."""


class _SweepnpEstimator(BaseEstimator):
    """What :class:`SweepnpClassifier` and :class:`SweepnpRegressor` share.

    Subclasses set :attr:`_tasks`, the ``model.task`` values they accept.
    """

    _tasks: tuple[str, ...] = ()
    #: ``data`` options this estimator sets unless its ``data`` parameter does.
    _data_defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(
        self,
        *,
        model: Mapping[str, Any] | None = None,
        train: Mapping[str, Any] | None = None,
        optimizer: Mapping[str, Any] | None = None,
        regularizers: Mapping[str, Any] | None = None,
        schedule: Mapping[str, Any] | None = None,
        callbacks: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        random_state: int | None = None,
    ) -> None:
        self.model = model
        self.train = train
        self.optimizer = optimizer
        self.regularizers = regularizers
        self.schedule = schedule
        self.callbacks = callbacks
        self.data = data
        self.random_state = random_state

    # -- parameters ----------------------------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The estimator's parameters.

        Parameters
        ----------
        deep : bool, default True
            Also list every option inside the section dicts under scikit-learn's ``__`` names:
            ``optimizer__lr``, ``regularizers__l2`` and ``regularizers__l2__lam``, ….

        Returns
        -------
        dict
            Parameter name → value; with ``deep=False`` exactly the constructor's parameters.
        """
        params = super().get_params(deep=False)
        if deep:
            for name in SECTIONS:
                value = params[name]
                if isinstance(value, Mapping):
                    params.update(_flatten(value, name))
        return params

    def set_params(self, **params: Any) -> _SweepnpEstimator:
        """Set parameters, including options inside a section: ``set_params(optimizer__lr=0.1)``.

        A nested option is set into a copy of the section's dict (the caller's dict is never
        changed), creating the tables on its path as needed: ``regularizers__dropout__rate=0.3``
        adds dropout when there was none. A section that is ``None`` starts from the run file's
        default, so ``optimizer__lr=0.1`` gives ``{"name": "sgd", "lr": 0.1}``. Whole sections
        are set before options inside them.

        Returns
        -------
        self
        """
        valid = sorted(self.get_params(deep=False))
        nested: dict[str, list[tuple[list[str], Any]]] = {}
        for key, value in params.items():
            name, sep, rest = key.partition("__")
            if name not in valid or (sep and (name not in SECTIONS or "" in rest.split("__"))):
                raise EstimatorConfigError(
                    f"Invalid parameter {key!r} for estimator {self}. Valid parameters are: "
                    f"{valid!r}, and the options inside {', '.join(SECTIONS)} as "
                    "section__option (e.g. optimizer__lr)."
                )
            if sep:
                nested.setdefault(name, []).append((rest.split("__"), value))
            else:
                setattr(self, name, value)
        for name, updates in nested.items():
            section = getattr(self, name)
            if section is None:
                section = _NONE_SECTIONS.get(name, {})
            elif not isinstance(section, Mapping):
                raise ValueError(
                    f"cannot set an option inside {name!r}: it is {section!r}, not a dict"
                )
            section = dict(section)
            for path, value in updates:
                node = section
                for depth, part in enumerate(path[:-1]):
                    child = node.get(part)
                    if child is None or child is True:  # e.g. callbacks = {early_stopping: True}
                        child = {}
                    elif isinstance(child, Mapping):
                        child = dict(child)  # copy on write: never change the caller's dicts
                    else:
                        where = "__".join([name, *path[: depth + 1]])
                        raise ValueError(
                            f"cannot set {'__'.join([name, *path])!r}: {where} is {child!r}, "
                            "not a dict"
                        )
                    node[part] = child
                    node = child
                node[path[-1]] = value
            setattr(self, name, section)
        return self

    # -- the run -------------------------------------------------------------------------------

    def _run_config(self, task: str) -> RunConfig:
        """The run file of this estimator's parameters, for ``task``, validated."""
        name = type(self).__name__
        raw: dict[str, Any] = {}
        for section in SECTIONS:
            value = getattr(self, section)
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise EstimatorConfigError(
                    f"must be a dict of the run file's [{section}] options, or None; got {value!r}",
                    source=name,
                    key=section,
                )
            raw[section] = _plain(value)

        data = raw.setdefault("data", {})
        valid = ", ".join(DATA_OPTIONS)
        for key in data:
            if key not in DATA_OPTIONS:
                why = _NOT_DATA_OPTIONS.get(key)
                message = f"not an estimator option ({why})" if why else "unknown key"
                raise EstimatorConfigError(
                    f"{message}; valid keys: {valid}", source=name, key=f"data.{key}"
                )
        data["test_size"] = 0.0
        data.update({k: v for k, v in self._data_defaults.items() if k not in data})
        if "val_size" not in data:
            data["val_size"] = VALIDATION_FRACTION if _watches_validation(raw) else 0.0

        seed = self.random_state
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
                raise EstimatorConfigError(
                    f"must be an int >= 0 or None, got {seed!r}", source=name, key="random_state"
                )
            raw.setdefault("train", {}).setdefault("seed", int(seed))
            data.setdefault("seed", int(seed))

        model = raw.setdefault("model", {})
        requested = model.get("task", "auto")
        if requested == "auto":
            model["task"] = task
        elif requested in _TASKS and requested not in self._tasks:
            raise EstimatorConfigError(
                f"{name} cannot do {requested!r}; valid tasks: "
                f"{', '.join(('auto', *self._tasks))} (auto: {task} for this data)",
                source=name,
                key="model.task",
            )
        try:
            return validate(raw, source=name)
        except ConfigError as exc:
            raise _value_error(exc) from None

    def _fit_run(self, X: np.ndarray, y: np.ndarray, task: str) -> None:
        """Train on validated ``X`` and ``y`` and set the fitted attributes."""
        config = self._run_config(task)
        try:
            trainer = Trainer(config, X, y)
            result = trainer.fit()
        except ConfigError as exc:
            if isinstance(exc, DataError) and exc.key == "data.val_size":
                stratified = config.data.stratify and task != "regression"
                raise EstimatorDataError(
                    f"{exc.reason}; pass more rows or another data__val_size"
                    + (", or set data__stratify=False" if stratified else ""),
                    source=exc.source,
                    key=exc.key,
                ) from None
            raise _value_error(exc) from None
        if result.stop_reason == StopReason.DIVERGED:
            epoch = result.epochs_run - 1
            hint = ""
            if task == "regression" and config.data.scale_target == "none":
                hint = ", or keep the target standardized (data__scale_target='standard')"
            warnings.warn(
                f"{type(self).__name__}: training diverged (the loss became NaN, infinite or too "
                f"large at epoch {epoch}), so predictions will not be finite; lower "
                f"optimizer__lr or add gradient clipping{hint}",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.model_: Model = result.model
        self.history_ = result.history
        self.n_iter_ = result.epochs_run
        self.stop_reason_ = result.stop_reason
        self.metrics_ = dict(result.metrics)
        self.loss_ = float(result.metrics["loss"])
        self.config_ = config.to_dict()

    def _warn_not_finite(self, what: str) -> None:
        """Say why an answer holds NaN or infinities, so that a score computed from it (NaN in
        ``cross_val_score``) is never silent about its cause."""
        why = (
            f"training diverged at epoch {self.n_iter_ - 1} (stop_reason_)"
            if self.stop_reason_ == StopReason.DIVERGED
            else "the network's outputs overflow on these inputs, far from the training data"
        )
        warnings.warn(
            f"{type(self).__name__}: {what} are not all finite: {why}",
            ConvergenceWarning,
            stacklevel=3,
        )

    def _validate_X(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=_FLOATS)

    # -- scikit-learn protocol -----------------------------------------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False  # deterministic given random_state (or the default seed)
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


class SweepnpClassifier(ClassifierMixin, _SweepnpEstimator):
    """A sweepnp dense network as a scikit-learn classifier.

    Two classes train a sigmoid output with binary cross-entropy (task ``binary``), more a softmax
    output with cross-entropy (``multiclass``). Labels may be any values; ``predict`` returns
    them.

    Parameters
    ----------
    model, train, optimizer, regularizers, schedule, callbacks : dict or None, default None
        The run file's sections, each a dict of the same keys and values as in a run file (see
        docs/run-files.md); ``None`` means the run file's defaults. Examples:
        ``model={"hidden": [32, 16], "activation": "tanh"}``,
        ``train={"epochs": 50, "batch_size": 32}``, ``optimizer={"name": "adam", "lr": 0.01}``,
        ``regularizers={"l2": {"lam": 1e-3}, "dropout": {"rate": 0.2}}``,
        ``callbacks={"early_stopping": {"patience": 5}}``. ``model.task`` may be ``"auto"`` (the
        default: chosen from the number of classes), ``"binary"`` or ``"multiclass"``.
    data : dict or None, default None
        ``val_size`` (default 0: train on every row; ``0.1`` when early stopping watches a
        ``val_`` metric), ``scale`` (``"standard"``, the default, or ``"none"``), ``seed`` (of the
        validation split) and ``stratify``.
    random_state : int or None, default None
        Seeds training (``train.seed``: initialization, shuffling, dropout) and the validation
        split (``data.seed``) when those keys are not set in ``train`` and ``data``; the keys win.
        ``None`` keeps the run file's default seed, so fitting is deterministic either way.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``fit`` was given a DataFrame with string column names.
    model_ : sweepnp.model.Model
        The trained network with its input scaling (``params``, ``predict``, …).
    history_ : pandas.DataFrame
        The learning curve: one row per evaluated epoch (``epoch``, ``loss``, ``accuracy``,
        ``val_loss`` …, ``lr``, ``epoch_seconds``).
    n_iter_ : int
        Number of epochs run.
    stop_reason_ : str
        ``completed``, ``early_stopped``, ``diverged``, ….
    loss_ : float
        The final training objective (data loss plus weight penalties).
    metrics_ : dict
        The final metrics of the returned model, as in ``RunResult.metrics``.
    config_ : dict
        The run file that was trained, without a dataset.
    """

    _tasks = ("binary", "multiclass")

    def fit(self, X: Any, y: Any) -> SweepnpClassifier:
        """Train on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric, finite features.
        y : array-like of shape (n_samples,)
            Class labels: at least two distinct values.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For invalid data or options; an invalid option raises
            :class:`EstimatorConfigError` (also a :class:`sweepnp.ConfigError`) naming its key.
        """
        X, y = validate_data(self, X, y, dtype=_FLOATS)
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes, but the data "
                f"contains only one class: {classes[0]!r}"
            )
        self._fit_run(X, y, "binary" if len(classes) == 2 else "multiclass")
        self.classes_ = self.model_.classes
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """The network's logits: shape ``(n_samples,)`` for two classes, else per class.

        A positive value (binary) or the largest (multiclass) is the predicted class.
        """
        X = self._validate_X(X)
        z = self.model_.decision_function(X)
        return z[:, 0] if self.model_.task == "binary" else z

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, n_classes)``, columns in ``classes_`` order."""
        X = self._validate_X(X)
        proba = self.model_.predict_proba(X)
        if not np.isfinite(proba).all():
            self._warn_not_finite("class probabilities")
        return proba

    def predict(self, X: Any) -> np.ndarray:
        """The predicted class labels, shape ``(n_samples,)``."""
        X = self._validate_X(X)
        return self.model_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = False
        return tags


class SweepnpRegressor(RegressorMixin, _SweepnpEstimator):
    """A sweepnp dense network as a scikit-learn regressor (task ``regression``: MSE loss).

    ``y`` may hold one target (shape ``(n_samples,)``) or several (``(n_samples, n_targets)``);
    ``predict`` returns the same shape, in the target's units. The target is standardized on the
    training rows by default (``data={"scale_target": "standard"}``), so a target far from unit
    scale (``load_diabetes``: 25–346) trains with the default learning rate instead of
    diverging; ``loss_``, ``metrics_`` and ``history_`` report ``loss`` and ``mse`` on the
    standardized target (``r2`` is the same on both). ``data={"scale_target": "none"}`` trains on
    the target as given.

    Parameters
    ----------
    model, train, optimizer, regularizers, schedule, callbacks : dict or None, default None
        The run file's sections, as for :class:`SweepnpClassifier`; ``model.task`` may be
        ``"auto"`` or ``"regression"``.
    data : dict or None, default None
        ``val_size``, ``scale``, ``scale_target`` (``"standard"``, the default here, or
        ``"none"``), ``seed`` (``stratify`` does not apply), as for :class:`SweepnpClassifier`.
    random_state : int or None, default None
        As for :class:`SweepnpClassifier`.

    Attributes
    ----------
    n_outputs_ : int
        Number of targets.
    n_features_in_, feature_names_in_, model_, history_, n_iter_, stop_reason_, loss_, \
metrics_, config_
        As for :class:`SweepnpClassifier` (the metrics are ``loss``, ``mse`` and ``r2``).
    """

    _tasks = ("regression",)
    # As a scikit-learn user expects of MLPRegressor: finite predictions from the defaults,
    # whatever the target's units (plain SGD at lr 0.05 diverges on a target in the hundreds).
    _data_defaults: ClassVar[Mapping[str, Any]] = {"scale_target": "standard"}

    def fit(self, X: Any, y: Any) -> SweepnpRegressor:
        """Train on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric, finite features.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Numeric, finite targets.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For invalid data or options; an invalid option raises
            :class:`EstimatorConfigError` (also a :class:`sweepnp.ConfigError`) naming its key.
        """
        X, y = validate_data(self, X, y, dtype=_FLOATS, multi_output=True, y_numeric=True)
        self._fit_run(X, y, "regression")
        self.n_outputs_ = 1 if y.ndim == 1 else int(y.shape[1])
        self._single_target = y.ndim == 1
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, in the shape of ``fit``'s ``y``: ``(n_samples[, n_targets])``."""
        X = self._validate_X(X)
        predictions = self.model_.predict(X)  # in the target's units
        if not np.isfinite(predictions).all():
            self._warn_not_finite("predictions")
        if self._single_target or predictions.ndim == 2:
            return predictions
        return predictions.reshape(-1, 1)  # fit's y had shape (n_samples, 1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


# -------------------------------------------------------------------------
# Helpers
# -------------------------------------------------------------------------


def _flatten(mapping: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``{"l2": {"lam": 1}}`` under ``regularizers`` → ``regularizers__l2``, ``…__l2__lam``."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}__{key}"
        out[name] = value
        if isinstance(value, Mapping):
            out.update(_flatten(value, name))
    return out


def _plain(value: Any) -> Any:
    """A deep copy as run-file data: dicts, lists, and Python scalars for NumPy ones.

    Grids built with NumPy (``np.arange``, ``np.logspace``) give NumPy scalars, which the run
    file's strict validation would reject as not an ``int``; tuples become lists.
    """
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _watches_validation(raw: Mapping[str, Any]) -> bool:
    """Whether early stopping is on and watches a validation metric (its default does)."""
    callbacks = raw.get("callbacks")
    if not isinstance(callbacks, Mapping):
        return False
    options = callbacks.get("early_stopping")
    if options is True:
        options = {}
    if not isinstance(options, Mapping):
        return False
    monitor = options.get("monitor", "val_loss")
    return isinstance(monitor, str) and monitor.startswith("val_")


def _value_error(exc: ConfigError) -> ConfigError:
    """``exc`` as a ``ValueError`` too, naming the estimator parameter of its key."""
    reason, key = exc.reason, exc.key
    if key and key != "data" and key.split(".")[0] in SECTIONS:
        reason = f"{reason} (estimator parameter {key.replace('.', '__')})"
    kind = EstimatorDataError if isinstance(exc, DataError) else EstimatorConfigError
    return kind(reason, source=exc.source, key=key)
