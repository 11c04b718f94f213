"""The stacking check: a plugin that declares ``stackable = True`` trains each trial of a stack
exactly as that trial trains alone.

A study trains many trials by one stacked step program (:mod:`sweepnp.run_stack`): their
parameters lie on a leading trial axis, the float options of the optimizer and the weight
penalties become arrays of shape ``(K, 1, 1)`` on it, and each trial keeps its own trainer,
schedule and callbacks, whose network's arrays are views into the stack's arrays, laid out again
whenever trials join or leave.
:class:`StackingChecks` (a base of the optimizer, regularizer, schedule and callback contracts)
proves a declaration on a real run: three trials with different hyperparameters, one leaving
early and one joining an epoch late, trained in one stack and each compared, record by record and
number for number, with the same trial trained alone. A plugin that declares nothing (or
``stackable = False``) trains alone in a study, with a notice; the check is then skipped.

A difference fails naming the rule the plugin most likely breaks (:data:`RULES`).
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
import traceback
import types
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sweepnp.hookspecs import hookimpl
from sweepnp.testing.contract import Contract

__all__ = ["RULES", "STACK_RUN", "StackingChecks", "arrays_of", "state_outside"]

#: The run the stacking check trains (breast cancer, 30-8-8-1, a validation split, six shuffled
#: batches an epoch); each trial's ``train.epochs`` and ``train.seed`` are its own.
STACK_RUN: Mapping[str, Any] = types.MappingProxyType(
    {
        "data": {"dataset": "breast_cancer", "test_size": 0.2, "val_size": 0.2, "seed": 0},
        "model": {"task": "binary", "hidden": [8, 8], "activation": "relu", "dtype": "float64"},
        "train": {"epochs": 4, "batch_size": 64, "shuffle": True, "seed": 0},
        "optimizer": {"name": "sgd", "lr": 0.05},
    }
)

#: The rules of a stackable plugin, by what breaking them looks like.
RULES = types.MappingProxyType(
    {
        "state": (
            "keep per-parameter state in `self.state` (set up in `setup`), not in your own dicts "
            "keyed by parameter: a stack builds a new optimizer whenever trials join or leave "
            "and carries over only `self.state` and `self.t`"
        ),
        "arrays": (
            "do not keep references to the network's arrays (or arrays computed from the "
            "hyperparameters) across epochs: a stack re-lays them out when trials join or "
            "leave; read `self.trainer.network.params[...]` each time"
        ),
        "whole-array": (
            "in a stack a hyperparameter (and the learning rate) is an array of shape (K, 1, 1): "
            "write whole-array NumPy (`np.where`, arithmetic), never `if`/`float()` on it"
        ),
        "dtype": (
            "compute with your float options as they are given (NumPy scalars alone, arrays "
            "stacked, both of the run's dtype): do not turn them into Python floats or float64 "
            "arrays, and round what you compute from an integer step count (float64) to their "
            "dtype, as `plugins/optimizers/adam.py` does"
        ),
        "shared": (
            "keep a run's state on its own object (`self.x`), never in class attributes or "
            "module globals: a stack trains its trials' objects side by side, epoch by epoch"
        ),
    }
)

#: What NumPy says when ``if``, ``float()``, ``int()`` or ``bool()`` meets an array of trials.
_SCALAR_ONLY = (
    "truth value of an array",
    "only length-1 arrays",
    "only 0-dimensional arrays",
    "only size-1 arrays",
    "only integer scalar arrays",
    "converted to Python scalars",
)

#: The attributes every optimizer has that are not per-parameter state of its own.
_OPTIMIZER_OWN = frozenset({"state", "t", "weight_names", "lr"})


class StackingChecks(Contract):
    """The stacking check every family's contract runs (:meth:`test_trains_stacked_as_alone`).

    A family's contract says where its plugin goes in a run (:attr:`family`, :meth:`_place`);
    the class attributes below tune the trials.
    """

    #: The registration hook's family (``sweepnp_register_<family>``).
    family: str = ""
    #: The name the plugin is registered under for the runs.
    name = "contract_subject"
    #: One scale per trial, applied to the plugin's float options and the optimizer's ``lr``.
    stack_scales: Sequence[float] = (1.0, 0.5, 0.25)
    #: Each trial's epochs: the second leaves the stack early.
    stack_epochs: Sequence[int] = (8, 6, 8)
    #: The stack epoch each trial joins at: the third joins one epoch late.
    stack_joins: Sequence[int] = (0, 0, 1)
    #: The dtypes the trials train in, each checked bit for bit.
    stack_dtypes: Sequence[str] = ("float64", "float32")

    def _stack_run(self) -> Mapping[str, Any]:
        """The run (a run file as a dict) the trials are made from."""
        return STACK_RUN

    def _place(self, run: dict[str, Any], options: dict[str, Any]) -> None:
        """Put the plugin, with ``options``, into ``run``."""
        raise NotImplementedError

    def _stack_manager(self) -> Any:
        """A plugin manager with the built-ins and the plugin under test as :attr:`name`."""
        from sweepnp.plugins import PluginManager

        factory, name = self._factory(), self.name

        def register(self: Any) -> dict[str, Any]:
            return {name: factory}

        hook = f"sweepnp_register_{self.family}"
        plugin = type("ContractPlugin", (), {hook: hookimpl(register)})()
        return PluginManager(load_entrypoints=False, extra=(plugin,))

    def _trials(self, dtype: str = "float64") -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Each trial's run file (in ``dtype``) and the plugin's options in it."""
        floats = self._float_options()
        trials = []
        for k, scale in enumerate(self.stack_scales):
            run = copy.deepcopy(dict(self._stack_run()))
            train = run.setdefault("train", {})
            train.update(epochs=self.stack_epochs[k], seed=k, shuffle=True)
            run.setdefault("model", {})["dtype"] = dtype
            optimizer = run.setdefault("optimizer", {"name": "sgd", "lr": 0.05})
            optimizer["lr"] = optimizer.get("lr", 0.05) * scale
            options = {**self.options, **{o: v * scale for o, v in floats.items()}}
            self._place(run, options)
            trials.append((run, options))
        return trials

    def test_trains_stacked_as_alone(self) -> None:
        """Three trials with other hyperparameters, trained in one stack (one leaving early, one
        joining late), each give the history, final metrics and weights of the trial alone."""
        declared = getattr(self.make(), "stackable", False)
        if declared is not True:
            self._skip(
                f"{self.subject} does not declare stackable = True: its trials train alone in a "
                "study (with a notice). Declare it once this check passes"
            )
        with _in_a_temporary_directory():
            for dtype in self.stack_dtypes:
                self._check_stacked_as_alone(dtype)

    def _check_stacked_as_alone(self, dtype: str) -> None:
        from sweepnp.config import parse
        from sweepnp.errors import SweepnpError
        from sweepnp.run_stack import RunStack, stack_key
        from sweepnp.trainer import Trainer, load_data

        pm = self._stack_manager()
        trials = self._trials(dtype)
        try:
            configs = [parse(run) for run, _ in trials]
            data = load_data(configs[0], pm)
            trainers = [Trainer(config, plugin_manager=pm, data=data) for config in configs]
        except SweepnpError as exc:
            scaled = [options for _, options in trials]
            self._fail(
                f"refuses its options scaled by {tuple(self.stack_scales)} for the stacked "
                f"trials ({scaled}): {exc}; set `stack_scales`, `stack_epochs` or `options`",
            )
        alone, alone_trainers = [], []
        for k, config in enumerate(configs):
            trainer = Trainer(config, plugin_manager=pm, data=data)
            try:
                alone.append(trainer.fit())
            except SweepnpError as exc:
                self._fail(
                    f"trial {k} ({trials[k][1]}, {self.stack_epochs[k]} epochs) is refused: {exc}; "
                    "set `stack_epochs`, `stack_scales` or `options`",
                )
            except Exception as exc:
                self._fail(f"trial {k} alone raised {type(exc).__name__}: {exc}")
            alone_trainers.append(trainer)

        keys = [stack_key(t) for t in trainers]
        if keys[0] is None:
            self._fail(
                "declares stackable = True, but its runs get no stack key (sweepnp.run_stack."
                "stack_key): a plugin of the run declares it cannot stack",
            )
        if len(set(keys)) != 1:
            self._fail(
                "its trials, differing only in float options, get different stack keys: make "
                "the options that vary between trials floats (hinted `float`)",
            )

        stack = RunStack(len(trainers), pm)
        results: dict[int, Any] = {}
        seen: list[list[tuple[str, np.ndarray]]] = [[] for _ in trainers]
        epoch = 0
        while len(results) < len(trainers) and epoch < 1000:
            try:
                for k, join in enumerate(self.stack_joins):
                    if join == epoch:
                        stack.add(trainers[k], k)
                        seen[k].extend(_network_arrays(trainers[k]))
                ended = stack.run_epoch()
            except Exception as exc:
                self._fail(self._raised(exc, epoch))
            for k in range(len(trainers)):
                seen[k].extend(_network_arrays(trainers[k]))
            for tag, result in ended:
                if isinstance(result, BaseException):
                    self._fail(self._raised(result, epoch, trial=tag))
                results[tag] = result
            epoch += 1

        for k, expected in enumerate(alone):
            difference = _difference(expected, results[k])
            if difference is None:
                continue
            shown = dict(trials[k][1])
            if self.family != "optimizers":
                shown["optimizer.lr"] = trials[k][0]["optimizer"]["lr"]
            what = ", ".join(f"{o}={v!r}" for o, v in shown.items())
            self._fail(
                f"trial {k} ({what}, {dtype}), trained in a stack "
                "with trials of other hyperparameters joining and leaving, differs from the same "
                f"trial alone: {difference}. "
                + (
                    f"Rule broken: {RULES['dtype']}"
                    if dtype != self.stack_dtypes[0]  # the first dtype trained alike
                    else self._diagnosis(trainers[k], seen[k], alone_trainers[k])
                ),
            )

    def _raised(self, exc: BaseException, epoch: int, trial: int | None = None) -> str:
        where = _where(exc)
        who = f"trial {trial}" if trial is not None else "the stacked step"
        said = f"{type(exc).__name__}: {exc}"
        message = (
            f"alone every trial trains, but stacked ({who}, in the stack's epoch {epoch}) it "
            f"raised {said}{where}"
        )
        if any(s in str(exc) for s in _SCALAR_ONLY):
            return f"{message}. Rule broken: {RULES['whole-array']}"
        return f"{message}. {self._likely_rules()}"

    def _diagnosis(
        self, trainer: Any, seen: list[tuple[str, np.ndarray]], alone: Any = None
    ) -> str:
        """The rule the plugin most likely breaks, from what its objects hold: the stacked
        ``trainer``'s (``seen``: the network's arrays it has had) and the ``alone`` one's."""
        if alone is not None:
            found = self._family_diagnosis(alone)
            if found is not None:
                return found
        if trainer is not None:
            for owner in _plugin_objects(trainer):
                for attribute, array in arrays_of(owner):
                    name = _network_array(array, seen)
                    if name is not None:
                        return (
                            f"{type(owner).__name__}.{attribute} holds params[{name!r}] of a "
                            f"layout the stack has left. Rule broken: {RULES['arrays']}"
                        )
        return self._likely_rules()

    def _family_diagnosis(self, alone: Any) -> str | None:
        """What the family's plugin object of a trial trained ``alone`` shows, if anything."""
        return None

    def _likely_rules(self) -> str:
        """The rules a plugin of this family that trains differently stacked may break."""
        return f"Rules that apply: {RULES['arrays']}; {RULES['whole-array']}"


@contextlib.contextmanager
def _in_a_temporary_directory() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="sweepnp-contract-") as where, contextlib.chdir(where):
        yield where


def _network_arrays(trainer: Any) -> list[tuple[str, np.ndarray]]:
    network = trainer.network
    return [*network.params.items(), *network.buffers.items()]


def _network_array(array: np.ndarray, seen: list[tuple[str, np.ndarray]]) -> str | None:
    """The name of the network array ``array`` is (or is a view of), among ``seen``."""
    for name, candidate in seen:
        base = candidate.base if candidate.base is not None else candidate
        if array is candidate or array is base or (array.base is not None and array.base is base):
            return name
    return None


def _plugin_objects(trainer: Any) -> list[Any]:
    return [trainer.schedule, *trainer.regularizers.values(), *trainer.callbacks]


def arrays_of(owner: Any) -> Iterator[tuple[str, np.ndarray]]:
    """The arrays an object keeps in its attributes (and one level into their containers)."""
    for attribute, value in vars(owner).items():
        if isinstance(value, np.ndarray):
            yield attribute, value
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(item, np.ndarray):
                    yield f"{attribute}[{key!r}]", item
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, np.ndarray):
                    yield f"{attribute}[{i}]", item


def _same(a: Any, b: Any) -> bool:
    """Equal number for number (``==``, NaN equal to NaN), and of one shape."""
    try:
        x, y = np.asarray(a), np.asarray(b)
    except Exception:
        return bool(a == b)
    if x.shape != y.shape:
        return False
    if x.dtype.kind in "fc" and y.dtype.kind in "fc":
        return bool(np.array_equal(x, y, equal_nan=True))
    return bool(np.array_equal(x, y)) if x.dtype != object else bool(a == b)


def _difference(alone: Any, stacked: Any) -> str | None:
    """Where a trial's stacked result differs from its result alone, or ``None``."""
    if len(stacked.records) != len(alone.records):
        return (
            f"{len(stacked.records)} evaluated epochs stacked, {len(alone.records)} alone "
            f"(stopped: {stacked.stop_reason} stacked, {alone.stop_reason} alone)"
        )
    for before, after in zip(alone.records, stacked.records, strict=True):
        epoch = before.get("epoch")
        for key in dict.fromkeys([*before, *after]):
            if key == "epoch_seconds":
                continue
            if key not in before or key not in after:
                where = "alone" if key in before else "stacked"
                return f"epoch {epoch}'s record has {key!r} only {where}"
            if not _same(before[key], after[key]):
                return f"epoch {epoch}: {key} = {after[key]!r} stacked, {before[key]!r} alone"
    for key in dict.fromkeys([*alone.metrics, *stacked.metrics]):
        a, b = alone.metrics.get(key), stacked.metrics.get(key)
        if not _same(a, b):
            return f"the final {key} = {b!r} stacked, {a!r} alone"
    if stacked.stop_reason != alone.stop_reason:
        return f"stopped {stacked.stop_reason!r} stacked, {alone.stop_reason!r} alone"
    if stacked.epochs_run != alone.epochs_run:
        return f"{stacked.epochs_run} epochs stacked, {alone.epochs_run} alone"
    for name, value in alone.model.params.items():
        got = stacked.model.params.get(name)
        if got is None or not _same(value, got) or got.dtype != value.dtype:
            return f"the final params[{name!r}] differ"
    return None


def _where(exc: BaseException) -> str:
    """`` at file:line in function``: the last frame of the traceback outside NumPy."""
    frames = traceback.extract_tb(exc.__traceback__)
    numpy_dir = str(Path(np.__file__).parent)
    for frame in reversed(frames):
        if not frame.filename.startswith(numpy_dir):
            return f" (at {Path(frame.filename).name}:{frame.lineno} in {frame.name})"
    return ""


def state_outside(optimizer: Any, params: Mapping[str, np.ndarray]) -> str | None:
    """The per-parameter arrays (of a parameter's shape) an optimizer keeps outside
    ``self.state``, as a diagnosis; ``None`` when it keeps none."""
    shapes = {np.shape(p) for p in params.values()}
    found: dict[str, int] = {}
    for attribute, array in arrays_of(optimizer):
        root = attribute.split("[")[0]
        if root not in _OPTIMIZER_OWN and array.shape in shapes:
            found[root] = found.get(root, 0) + 1
    if not found:
        return None
    shown = ", ".join(f"self.{a} ({n} of the parameters' shapes)" for a, n in found.items())
    return (
        f"{type(optimizer).__name__} keeps arrays outside self.state: {shown}. "
        f"Rule broken: {RULES['state']}"
    )
