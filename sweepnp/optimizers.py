"""The optimizer contract. Concrete optimizers are plugins (see ``sweepnp_plugins.optimizers``).

An optimizer updates parameters in place from their gradients. It keeps per-parameter state in
``self.state[name]`` (a dict of arrays, numpy-ml style), so that :meth:`Optimizer.state_dict`
can save it and :meth:`Optimizer.load_state_dict` restore it.

The learning rate used in a step is the one the trainer passes to :meth:`Optimizer.step` (it
comes from the schedule); ``self.lr`` is only the base rate the schedule starts from.
Hyperparameters may be floats or arrays broadcasting over a leading trial axis: write the maths as
whole-array NumPy and never call ``float()`` on them.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

__all__ = ["Optimizer"]

State = dict[str, np.ndarray]


class Optimizer(abc.ABC):
    """Base class of every optimizer.

    Subclasses take the base learning rate as their first option ``lr`` and keep it as
    ``self.lr`` (the schedule starts from it), implement :meth:`update` (one parameter, in place)
    and, when they keep state, :meth:`init_state`. ``self.t`` counts the steps taken, 1 in the
    first step: an int, or, when trials are stacked, an array on the trial axis (each trial
    counts its own steps). Compute what depends on it from :attr:`steps`.

    :cvar stackable: ``True`` declares that one object can update many trials' parameters stacked
        on a leading axis: its float options and the learning rate arrays of shape ``(K, 1, 1)``
        (whole-array NumPy, never ``if``/``float()`` on them), its per-parameter state only in
        ``self.state``. The contract kit proves a declaration
        (``OptimizerContract.test_trains_stacked_as_alone`` trains stacked trials and compares each
        with the trial alone). Undeclared (``False``, the default), its trials train alone.
    """

    stackable: bool = False
    lr: Any

    t: int
    state: dict[str, State]
    weight_names: frozenset[str]

    def setup(self, params: Mapping[str, np.ndarray], weight_names: Collection[str] = ()) -> None:
        """Allocate state for ``params``; called once by the trainer before the first step.

        :param params: parameter name → array, the arrays the optimizer will update in place.
        :param weight_names: the names of weight matrices (as opposed to biases and
            batch-norm parameters); decoupled weight decay applies only to these.
        """
        self.t = 0
        self.weight_names = frozenset(weight_names)
        self.state = {name: self.init_state(param) for name, param in params.items()}

    @property
    def steps(self) -> np.ndarray:
        """The step count as an array (``t``, at least one-dimensional).

        NumPy rounds some operations on a lone number differently from the same operation on an
        array (``np.power(0.8, 2)`` squares, an array's power does not), so a formula of the step
        count computed from ``steps`` gives a run alone exactly what it gives the run stacked.
        """
        return np.atleast_1d(self.t)

    def init_state(self, param: np.ndarray) -> State:
        """Return the initial state of one parameter (default: none)."""
        return {}

    def step(
        self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray], lr: Any
    ) -> None:
        """Take one optimization step: update every parameter in ``params`` in place."""
        self.t += 1
        self.begin_step(lr)
        state = self.state
        for name, param in params.items():
            self.update(param, grads[name], state[name], lr)

    def begin_step(self, lr: Any) -> None:  # noqa: B027 - optional, deliberately empty
        """Called once per step, after ``self.t`` is incremented and before any :meth:`update`.

        Override it to compute what every parameter's update shares (e.g. Adam's bias
        corrections, which depend on ``t`` only).
        """

    @abc.abstractmethod
    def update(self, param: np.ndarray, grad: np.ndarray, state: State, lr: Any) -> None:
        """Update one parameter in place. ``state`` is this parameter's own state dict."""

    def state_dict(self) -> dict[str, Any]:
        """A deep copy of the optimizer's state: the step count and every parameter's state."""
        return {"t": self.t, "state": copy.deepcopy(self.state)}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`."""
        self.t = int(state_dict["t"])
        self.state = copy.deepcopy(dict(state_dict["state"]))
