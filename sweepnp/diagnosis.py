"""Learning-curve diagnosis: label a run diverging, underfitting, overfitting, converged or still
improving from its training and validation losses (seed 003, section 5.2).

Core code: the built-in ``diagnosis`` callback records the label of every run with it, and the
study report labels each configuration's curves with it (:func:`diagnose_runs`), and its verdict
says when the best configuration's is doubtful.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sweepnp import options
from sweepnp.errors import OptionError

if TYPE_CHECKING:
    import pandas as pd

    from sweepnp.config import RunConfig
    from sweepnp.plugins import PluginManager

__all__ = [
    "LABELS",
    "Remedies",
    "check_options",
    "diagnose",
    "diagnose_runs",
    "overfitting_message",
    "remedies_of",
]

#: Every label :func:`diagnose` returns, in the order the checks run.
LABELS = ("diverging", "underfitting", "overfitting", "converged", "still_improving")

_MESSAGES = {
    "diverging": "DIVERGING: Learning rate may be too high",
    "underfitting": "UNDERFITTING: Model may need more capacity or training",
    "converged": "CONVERGED: Training appears to have plateaued",
    "still_improving": "TRAINING: Still improving",
}


@dataclass(frozen=True)
class Remedies:
    """What a run already does against overfitting, so that the overfitting message advises
    what it does not do yet (:func:`overfitting_message`).

    :ivar early_stopping: early stopping's ``patience`` and ``restore_best``, or None when the
        run has no early stopping.
    :ivar regularizers: each regularizer of the run by name, with its options as set (e.g.
        ``{"l2": {"lam": 0.001}, "dropout": {"rate": 0.1}}``).
    """

    early_stopping: Mapping[str, Any] | None = None
    regularizers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _strengths(regularizers: Mapping[str, Mapping[str, Any]]) -> str:
    """``l2 λ 0.001, dropout rate 0.1``: each regularizer with its options (``lam`` as λ)."""
    said = []
    for name, opts in regularizers.items():
        words = [
            f"{'λ' if key == 'lam' else key} {value:g}"
            if isinstance(value, int | float) and not isinstance(value, bool)
            else f"{key} {value}"
            for key, value in opts.items()
        ]
        said.append(" ".join([name.replace("_", " "), *words]))
    return ", ".join(said)


def remedies_of(config: RunConfig, pm: PluginManager | None = None) -> Remedies:
    """What a run (its parsed run file) does against overfitting: early stopping's ``patience``
    and ``restore_best`` — from the callback built by name, so its defaults are the plugin's own
    — and the regularizers with their options as set."""
    from sweepnp.plugins import get_plugin_manager

    chosen = config.callbacks.get("early_stopping", False)
    early_stopping = None
    if chosen is not False:
        options = {} if chosen is True else dict(chosen)
        stopping = (pm or get_plugin_manager()).build(
            "callbacks", "early_stopping", options, key="callbacks.early_stopping"
        )
        early_stopping = {
            "patience": getattr(stopping, "patience", None),
            "restore_best": getattr(stopping, "restore_best", True),
        }
    regularizers = {name: dict(opts) for name, opts in config.regularizers.items()}
    return Remedies(early_stopping, regularizers)


def overfitting_message(best: Any, remedies: Remedies | None = None) -> str:
    """The overfitting message, with advice that fits what the run already does.

    Without ``remedies`` (not known) or without early stopping it is the seed's sentence,
    ``OVERFITTING: Best epoch was 12, consider early stopping``. With early stopping that
    restores the best epoch, the model returned is that epoch's: the advice is more
    regularization (naming the run's regularizers and their strength), and a shorter patience
    to stop sooner. With early stopping that keeps the last epoch's model, the advice is to
    restore the best epoch first."""
    head = f"OVERFITTING: Best epoch was {best}"
    if remedies is None or remedies.early_stopping is None:
        return f"{head}, consider early stopping"
    regularizers = _strengths(remedies.regularizers)
    more = (
        f"stronger regularization (now {regularizers})"
        if regularizers
        else "regularization (l2, dropout)"
    )
    patience = remedies.early_stopping.get("patience")
    stopping = "early stopping" + (f" (patience {patience})" if patience is not None else "")
    if remedies.early_stopping.get("restore_best", True):
        return (
            f"{head}, and {stopping} restored its weights; to overfit less try {more}, "
            "and a shorter patience to stop sooner"
        )
    return (
        f"{head}, but {stopping} keeps the last epoch's weights: set restore_best = true to "
        f"return the best epoch's, or a shorter patience; to overfit less try {more}"
    )


def check_options(
    window: Any, underfit_loss: Any, overfit_gap: Any, plateau: Any, overfit_rise: Any = 0.02
) -> None:
    options.positive_int("window", window)
    if window < 2:
        raise OptionError("window", f"must be >= 2 (it compares two epochs), got {window!r}")
    options.non_negative("underfit_loss", underfit_loss)
    options.non_negative("overfit_gap", overfit_gap)
    options.non_negative("plateau", plateau)
    options.non_negative("overfit_rise", overfit_rise)


def diagnose(
    train_loss: Sequence[float] | np.ndarray,
    val_loss: Sequence[float] | np.ndarray | None = None,
    *,
    window: int = 5,
    underfit_loss: float = 0.5,
    overfit_gap: float = 0.1,
    plateau: float = 0.01,
    overfit_rise: float = 0.02,
    epochs: Sequence[int] | None = None,
    remedies: Remedies | None = None,
) -> tuple[str, str]:
    r"""Diagnose a learning curve, as the "How neural networks learn" chapter does by eye.

    Parameters
    ----------
    train_loss : sequence of float
        The training loss of each evaluated epoch, oldest first (at least one value).
    val_loss : sequence of float or None, default None
        The validation loss of the same epochs; ``None`` when the run has no validation split,
        in which case the training loss stands in for it and overfitting cannot be detected.
    window : int, default 5
        How many recent epochs the overfitting and plateau checks look back over (>= 2).
    underfit_loss : float, default 0.5
        Final losses above this (training and validation both) count as underfitting.
    overfit_gap : float, default 0.1
        A final validation-minus-training gap above this, with the best validation epoch
        older than ``window``, counts as overfitting.
    plateau : float, default 0.01
        A validation-loss drop over the last ``window`` epochs below this counts as converged.
    overfit_rise : float, default 0.02
        A final validation loss more than this fraction above its best (2%), with the best
        epoch older than ``window`` and the training loss lower than at that epoch, counts as
        overfitting too, however small the gap: the held-out loss worsens while the training
        loss improves.
    epochs : sequence of int or None, default None
        The epoch number of each entry, used in the overfitting message; by default
        ``1, 2, ...`` as in the seed.
    remedies : Remedies or None, default None
        What the run already does against overfitting (early stopping, regularizers), for the
        overfitting message's advice (:func:`overfitting_message`); None: not known.

    Returns
    -------
    label : str
        One of :data:`LABELS`: ``"diverging"``, ``"underfitting"``, ``"overfitting"``,
        ``"converged"`` or ``"still_improving"``.
    message : str
        The seed's sentence for the label, e.g.
        ``"OVERFITTING: Best epoch was 12, consider early stopping"``.

    Raises
    ------
    ValueError
        If ``train_loss`` is empty, or ``val_loss`` or ``epochs`` differ from it in length
        (an :class:`~sweepnp.errors.OptionError`, a ``ValueError``, for a bad option).

    Notes
    -----
    This is ``analyze_learning_curves`` of seed 003 (section 5.2) with its constants made
    options, made robust to non-finite losses, and with a second overfitting rule. The seed's
    absolute gap alone misses a small network's overfitting when both losses are small: seed
    000 Part C's network (the ``overfitting`` study) fits its 50 rows to a training loss of
    0.002 while its validation loss climbs 3% from its best, a gap of 0.096, and the seed's
    rule called it converged. With :math:`L^{tr}_t, L^{va}_t` the losses of
    :math:`n` evaluated epochs, :math:`w` the window, the first check that holds wins:

    1. *diverging*: :math:`L^{tr}_n` or :math:`L^{va}_n` is NaN or infinite, or
       :math:`L^{tr}_n > L^{tr}_1` (the first finite training loss);
    2. *underfitting*: :math:`L^{tr}_n > u` and :math:`L^{va}_n > u`;
    3. *overfitting*: :math:`t^* = \arg\min_t L^{va}_t` satisfies :math:`t^* \le n - w`, and
       :math:`L^{va}_n - L^{tr}_n > g` (the seed's rule) or :math:`L^{va}_n > (1 + r)\,L^{va}_{t^*}`
       with :math:`L^{tr}_n < L^{tr}_{t^*}` (the held-out loss has risen from its best while
       the training loss kept falling);
    4. *converged*: :math:`n \ge w` and :math:`L^{va}_{n-w+1} - L^{va}_n < p`;
    5. otherwise *still improving*.

    On the seed's own three scenarios this gives, like the seed, "still_improving" for "Good
    training" (its validation loss still fell 0.11 over the last five epochs), "overfitting"
    (best epoch 5) and "diverging".
    """
    check_options(window, underfit_loss, overfit_gap, plateau, overfit_rise)
    train = np.asarray(train_loss, dtype=float).ravel()
    n = train.size
    if n == 0:
        raise ValueError("no training losses to diagnose")
    val = None if val_loss is None else np.asarray(val_loss, dtype=float).ravel()
    if val is not None and val.size != n:
        raise ValueError(f"val_loss has {val.size} values but train_loss has {n}")
    labels = np.arange(1, n + 1) if epochs is None else np.asarray(epochs).ravel()
    if labels.size != n:
        raise ValueError(f"epochs has {labels.size} values but train_loss has {n}")

    finite = np.isfinite(train)
    if not finite[-1] or (val is not None and not np.isfinite(val[-1])):
        return "diverging", _MESSAGES["diverging"]
    if train[-1] > train[finite][0]:
        return "diverging", _MESSAGES["diverging"]

    if train[-1] > underfit_loss and (val is None or val[-1] > underfit_loss):
        return "underfitting", _MESSAGES["underfitting"]

    if val is not None:
        best = int(np.nanargmin(val))  # val[-1] is finite, so not all NaN
        gap = val[-1] - train[-1] > overfit_gap
        rise = val[-1] > (1 + overfit_rise) * val[best] and train[-1] < train[best]
        if best < n - window and (gap or rise):
            return "overfitting", overfitting_message(labels[best].item(), remedies)

    curve = train if val is None else val
    if n >= window and curve[-window] - curve[-1] < plateau:
        return "converged", _MESSAGES["converged"]
    return "still_improving", _MESSAGES["still_improving"]


def diagnose_runs(runs: pd.DataFrame, remedies: Remedies | None = None) -> tuple[str, str] | None:
    """:func:`diagnose` on the mean training and validation loss curves of several runs: rows of
    ``StudyResults.curves`` (``trial``, ``repeat``, ``epoch``, ``loss``, ``val_loss``), as the
    study report diagnoses a configuration; None when they recorded no training loss.

    :param remedies: what the configuration does against overfitting (:func:`remedies_of`)."""
    means = {}
    for metric in ("loss", "val_loss"):
        if metric in runs and not runs[metric].isna().all():
            wide = runs.pivot(index="epoch", columns=["trial", "repeat"], values=metric)
            means[metric] = wide.astype(float).mean(axis=1)
    if "loss" not in means:
        return None
    train = means["loss"]
    val = means.get("val_loss")
    val_values = None if val is None else val.reindex(train.index).to_numpy()
    return diagnose(train.to_numpy(), val_values, epochs=train.index.to_list(), remedies=remedies)
