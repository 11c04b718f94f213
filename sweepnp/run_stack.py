"""A stack of runs: many runs of one structure trained by one stacked step program.

A study of small networks is bound by Python's per-call overhead, not by arithmetic: one
mini-batch step of a 30-16-1 network is a few dozen small NumPy calls. A :class:`RunStack` trains
up to ``capacity`` runs ("slots") at once: the parameters of every slot lie on a leading axis of
one array per parameter, and each NumPy call of the one
:class:`~sweepnp.step_program.StepProgram` — forward, backward, penalties, the optimizer's
update, the evaluation — does the work of all of them. A run alone trains through the same
program (:meth:`Trainer.fit <sweepnp.trainer.Trainer.fit>`) on its unstacked arrays.

Each slot stays the run it would be alone, bit for bit (float64; see ``docs/studies.md``):

* **its own** :class:`~sweepnp.trainer.Trainer` — built exactly as for a run alone, with its
  initial weights, callbacks, schedule and history — whose network's parameters become views into
  the stack's arrays; its callbacks, schedule, evaluation records and stop reason work unchanged;
* its own shuffle and dropout masks, from its own generators;
* its own hyperparameters: the optimizer's and the weight penalties' float options become arrays
  on the trial axis; the learning rate comes from each slot's own schedule;
* its own epoch counter: slots join and leave at epoch boundaries (continuous batching), so a
  stack never waits for its slowest member and never carries a finished run.

What a stack shares — the data, the network's shape, the batch size, the dtype, the optimizer and
the penalties and their non-float options — is its :func:`stack_key`. A run trains stacked only
when every plugin it uses declares ``stackable = True`` (proven by :mod:`sweepnp.testing`'s
stacking contract); otherwise it has no key, and trains alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sweepnp.model import DenseNetwork
from sweepnp.optimizers import Optimizer
from sweepnp.plugins import PluginManager, float_options
from sweepnp.step_program import BatchScores, StepProgram
from sweepnp.trainer import RunResult, Trainer

__all__ = ["RunStack", "Slot", "StackKey", "stack_key", "unstackable_plugins"]

StackKey = tuple[Any, ...]


def _split_options(factory: Any, given: Mapping[str, Any]) -> tuple[dict[str, float], dict]:
    """A plugin's options: the floats a stack puts on its trial axis (given or default), and
    the others, which stack-mates must share."""
    floats = float_options(factory, given)
    others = {k: v for k, v in given.items() if k not in floats}
    return floats, others


#: The kind of plugin of each part of a run that may keep it from stacking.
_ROLES = (("optimizer", "optimizers"), ("schedule", "schedules"))


def unstackable_plugins(trainer: Trainer) -> list[str]:
    """The plugin classes of a run that do not declare ``stackable = True``, each as
    ``Class (kind.name)``, e.g. ``DecayingSGD (optimizers.decaying)``: a run with any trains
    alone.

    Stacking is opt-in: a plugin's maths must hold for hyperparameters that are arrays on the
    trial axis and for arrays laid out anew when runs join or leave, which only its author can
    vouch for (and :mod:`sweepnp.testing`'s stacking check proves)."""
    parts: list[tuple[str, Any]] = [(kind, getattr(trainer, role)) for role, kind in _ROLES]
    parts += [("regularizers", reg) for reg in trainer.regularizers.values()]
    parts += [("callbacks", callback) for callback in trainer.callbacks]
    found = []
    for kind, obj in parts:
        if getattr(obj, "stackable", False) is True:
            continue
        entries = trainer.pm.registry.get(kind, {}).values()
        names = [e.name for e in entries if e.factory is type(obj)]
        names = names or [e.name for e in entries if isinstance(e.factory, type) and
                          isinstance(obj, e.factory)]  # fmt: skip
        found.append(f"{type(obj).__qualname__} ({kind}.{names[0] if names else '?'})")
    return sorted(set(found))


def _plugin_parts(trainer: Trainer) -> tuple[Any, ...]:
    """The optimizer's and the penalties' factories and shared options."""
    pm = trainer.pm
    optimizer = dict(trainer.config.optimizer)
    name = optimizer.pop("name")
    factory = pm.registry["optimizers"][name].factory
    _, shared = _split_options(factory, optimizer)
    parts: list[Any] = [("optimizer", name, _frozen(shared))]
    for reg_name, reg in trainer.regularizers.items():  # in order: penalties add up in order
        if reg.penalizes_weights():
            reg_factory = pm.registry["regularizers"][reg_name].factory
            _, shared = _split_options(reg_factory, trainer.config.regularizers[reg_name])
            parts.append(("penalty", reg_name, _frozen(shared)))
    return tuple(parts)


def _frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def stack_key(trainer: Trainer) -> StackKey | None:
    """What runs must share to train in one stack; ``None`` when this run cannot be stacked.

    Runs with equal keys have the same data (the same prepared splits), network shape, batch
    size and dtype, the same optimizer and weight penalties up to their float options, and
    evaluate the same splits the same way (``train.evaluate``).
    """
    if unstackable_plugins(trainer):
        return None
    parts = _plugin_parts(trainer)
    network = trainer.network
    return (
        id(trainer.data),
        tuple(v.shape for v in network.params.values()),
        network.task.name,
        network.task.loss_name,
        network.activation,
        network.batch_norm,
        trainer.dtype.str,
        trainer.batch_size,
        tuple(network.params),
        parts,
        (trainer.config.train.evaluate.train, trainer.config.train.evaluate.test),
    )


@dataclass
class Slot:
    """One run of a stack: its own trainer, and what the caller tags it with."""

    trainer: Trainer
    tag: Any
    #: The alone shapes of its parameters and buffers (views into the stack keep them).
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)


class RunStack:
    """Up to ``capacity`` runs of one :func:`stack_key`, trained epoch by epoch by one stacked
    :class:`~sweepnp.step_program.StepProgram`.

    :param capacity: the most slots at once.
    :param plugin_manager: the manager the runs' plugins come from.
    """

    def __init__(self, capacity: int, plugin_manager: PluginManager) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.pm = plugin_manager
        self.slots: list[Slot] = []
        self._joining: list[Slot] = []
        self._leaving: set[int] = set()
        #: The stacked program of the current slots (rebuilt when runs join or leave).
        self.program: StepProgram | None = None
        self._failed: dict[int, BaseException] = {}

    # -- membership --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.slots) + len(self._joining) - len(self._leaving)

    @property
    def free(self) -> int:
        """Slots free for runs to join at the next epoch boundary."""
        return self.capacity - len(self)

    def add(self, trainer: Trainer, tag: Any) -> None:
        """Let a run join at the next epoch boundary. ``trainer`` is built, not begun; its
        :meth:`~sweepnp.trainer.Trainer.begin_training` is called here (its callbacks begin)."""
        if self.free < 1:
            raise ValueError("the stack is full")
        trainer.begin_training()
        self._joining.append(Slot(trainer, tag))

    def remove(self, tag: Any) -> None:
        """Drop a run at the next epoch boundary without finishing it (a repeat no longer
        needed)."""
        self._joining = [s for s in self._joining if s.tag != tag]
        self._leaving |= {id(s) for s in self.slots if s.tag == tag}

    def trainer_of(self, tag: Any) -> Trainer | None:
        """The trainer of the run tagged ``tag`` (training, or joining at the next epoch)."""
        for slot in (*self.slots, *self._joining):
            if slot.tag == tag and id(slot) not in self._leaving:
                return slot.trainer
        return None

    @property
    def tags(self) -> list[Any]:
        return [s.tag for s in self.slots if id(s) not in self._leaving] + [
            s.tag for s in self._joining
        ]

    # -- the arrays --------------------------------------------------------------------------

    def _rebuild(self) -> None:
        """Lay the current slots' parameters, buffers and optimizer state out on a new trial
        axis, and point each slot's network at its views."""
        old_slots = self.slots
        old_optimizer = self.program.optimizer if self.program is not None else None
        kept = [s for s in old_slots if id(s) not in self._leaving]
        self.slots = kept + self._joining
        self._joining, self._leaving = [], set()
        if not self.slots:
            self.program = None
            return
        first = self.slots[0].trainer
        trials = len(self.slots)
        network = first.network.stacked(trials)
        for k, slot in enumerate(self.slots):
            alone = slot.trainer.network
            for group, stacked in (("params", network.params), ("buffers", network.buffers)):
                values = getattr(alone, group)
                for name, value in values.items():
                    slot.shapes.setdefault(name, value.shape)
                    stacked[name][k] = value.reshape(stacked[name][k].shape)
                    values[name] = stacked[name][k].reshape(slot.shapes[name])
        optimizer = self._stacked_optimizer(network)
        if old_optimizer is not None:
            old_index = {id(s): i for i, s in enumerate(old_slots)}
            for k, slot in enumerate(self.slots):
                i = old_index.get(id(slot))
                if i is None:
                    continue
                optimizer.t[k] = old_optimizer.t[i]
                for name, state in optimizer.state.items():
                    for key, value in state.items():
                        value[k] = old_optimizer.state[name][key][i]
        self.program = StepProgram(
            network,
            optimizer,
            self._stacked_penalties(),
            gradient_hooks=[self._gradient_hooks] if self._watches_gradients() else [],
        )

    def _watches_gradients(self) -> bool:
        return any(s.trainer.program and s.trainer.program.gradient_hooks for s in self.slots)

    def _stacked_options(self, factory: Any, options_of: list[Mapping[str, Any]]) -> dict:
        dtype = self.slots[0].trainer.dtype
        floats = [_split_options(factory, options) for options in options_of]
        stacked = dict(floats[0][1])
        for name in floats[0][0]:
            values = [f[0][name] for f in floats]
            stacked[name] = np.asarray(values, dtype=dtype).reshape(-1, 1, 1)
        return stacked

    def _stacked_optimizer(self, network: DenseNetwork) -> Optimizer:
        configs = [dict(s.trainer.config.optimizer) for s in self.slots]
        name = configs[0].pop("name")
        for config in configs[1:]:
            config.pop("name")
        factory = self.pm.registry["optimizers"][name].factory
        optimizer = factory(**self._stacked_options(factory, configs))
        optimizer.setup(network.params, network.weight_names)
        # Each slot counts its own steps (a slot that joined later is at an earlier step).
        optimizer.t = np.zeros((len(self.slots), 1, 1), dtype=np.int64)
        return optimizer

    def _stacked_penalties(self) -> list[Any]:
        penalties = []
        for name, reg in self.slots[0].trainer.regularizers.items():
            if not reg.penalizes_weights():
                continue
            factory = self.pm.registry["regularizers"][name].factory
            options = [s.trainer.config.regularizers[name] for s in self.slots]
            penalties.append(factory(**self._stacked_options(factory, options)))
        return penalties

    # -- one epoch ---------------------------------------------------------------------------

    def run_epoch(self) -> list[tuple[Any, RunResult | BaseException]]:
        """Train every run one epoch; return the runs that ended, with their results (or the
        exception a run's plugin raised, which ends that run only)."""
        if self._joining or self._leaving or self.program is None:
            self._rebuild()
        if not self.slots:
            return []
        program = self.program
        assert program is not None
        started = time.perf_counter()
        ended: list[tuple[Any, RunResult | BaseException]] = []
        self._failed = {}
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for slot in self.slots:
                self._per_slot(slot, Trainer.begin_epoch)
            due = [slot.trainer.evaluation_due for slot in self.slots]
            first = self.slots[0].trainer
            scores = self._train_batches(program, score=any(due) and first.scores_batches)
            seconds = (time.perf_counter() - started) / len(self.slots)
            evaluation = first.epoch_evaluation(program, scores) if any(due) else None
            for k, slot in enumerate(self.slots):
                failure = self._failed.get(id(slot))
                if failure is not None:
                    ended.append((slot.tag, failure))
                    self._leaving.add(id(slot))
                    continue
                trainer = slot.trainer
                try:
                    own = evaluation.of_run(k) if evaluation is not None and due[k] else None
                    if trainer.end_epoch(seconds, own):
                        continue
                    self._detach(slot)
                    ended.append((slot.tag, trainer.finish_training()))
                except Exception as exc:
                    ended.append((slot.tag, exc))
                self._leaving.add(id(slot))
        return ended

    def _train_batches(self, program: StepProgram, *, score: bool) -> BatchScores | None:
        """One epoch of the stacked program's steps: each run's rows in its own order, its own
        masks and learning rate; per-batch schedules and batch watchers served run by run;
        with ``score``, every run's scores of its batches."""
        slots = self.slots
        first = slots[0].trainer
        dtype = first.dtype
        lr = np.array([s.trainer.lr for s in slots], dtype=dtype).reshape(-1, 1, 1)
        program.masks = self._mask_function()
        batch_lr = None
        if any(s.trainer.lr_per_batch for s in slots):

            def batch_lr(batch: int) -> np.ndarray:
                return np.array(
                    [s.trainer.batch_lr(batch) if s.trainer.lr_per_batch else s.trainer.lr
                     for s in slots],
                    dtype=dtype,
                ).reshape(-1, 1, 1)  # fmt: skip

        watching = [s for s in slots if s.trainer.watches_batches]
        after_batch = None
        if watching:

            def after_batch(batch: int, rows: int) -> None:
                for slot in watching:
                    self._per_slot(slot, Trainer.end_batch, batch, rows)

        return program.train_epoch(
            self._batches(), lr, batch_lr=batch_lr, after_batch=after_batch, score=score
        )

    def _batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every run's mini-batches of this epoch at once, ``(runs, rows, …)``: each run's rows
        in its own order, gathered batch by batch (a batch's rows of every run stay in the
        cache; an epoch's would not, for a large stack)."""
        slots = self.slots
        first = slots[0].trainer
        X, y = first.data.X_train, first.data.y_train
        n, size, runs = len(X), first.batch_size, len(slots)
        orders = [s.trainer.epoch_order() for s in slots]
        if all(order is None for order in orders):  # one copy of the rows, seen by every run
            for start in range(0, n, size):
                X_batch, y_batch = X[start : start + size], y[start : start + size]
                yield (
                    np.broadcast_to(X_batch, (runs, *X_batch.shape)),
                    np.broadcast_to(y_batch, (runs, *y_batch.shape)),
                )
            return
        index = np.stack([np.arange(n) if o is None else o for o in orders])
        for start in range(0, n, size):
            rows = index[:, start : start + size]
            yield X[rows], y[rows]

    def _gradient_hooks(self, grads: dict[str, np.ndarray]) -> None:
        """The runs' own gradient callbacks, each on its own run's gradients (views)."""
        for k, slot in enumerate(self.slots):
            hooks = slot.trainer.program.gradient_hooks if slot.trainer.program else ()
            if not hooks or id(slot) in self._failed:
                continue
            views = {name: g[k].reshape(slot.shapes[name]) for name, g in grads.items()}
            try:
                for hook in hooks:
                    hook(views)
            except Exception as exc:
                self._failed[id(slot)] = exc

    def _per_slot(self, slot: Slot, call: Any, *args: Any) -> None:
        """``call(slot.trainer, *args)``; an exception ends that run only."""
        if id(slot) in self._failed:
            return
        try:
            call(slot.trainer, *args)
        except Exception as exc:
            self._failed[id(slot)] = exc

    def _mask_function(self) -> Any:
        """Every slot's masks for this epoch, drawn at once per slot from its own generator
        (the masks it would draw batch by batch alone), laid out per hidden layer as
        ``(slots, rows, width)``; the function hands the network each batch's slice in turn."""
        first = self.slots[0].trainer
        widths = first.network.hidden
        rows = len(first.data.X_train)
        size = first.batch_size
        batches = [(start, min(start + size, rows)) for start in range(0, rows, size)]
        if len(widths) == 1:  # an epoch's masks, batch after batch: one (rows, width) draw
            shapes = [(rows, widths[0])]
        else:  # layer after layer within each batch: the order the batches draw them
            shapes = [(end - start, width) for start, end in batches for width in widths]
        drawn = [s.trainer.epoch_masks(shapes) for s in self.slots]
        if all(d is None for d in drawn):
            return None
        dtype = first.dtype
        layers = [np.empty((len(self.slots), rows, width), dtype=dtype) for width in widths]
        for k, masks_of_slot in enumerate(drawn):
            if masks_of_slot is None:  # a run without dropout: a mask of ones changes nothing
                for layer in layers:
                    layer[k] = 1
                continue
            if len(widths) == 1:
                layers[0][k] = masks_of_slot[0]
                continue
            pieces = iter(masks_of_slot)
            for start, end in batches:
                for layer in layers:
                    layer[k, start:end] = next(pieces)
        calls = iter(
            [(layer, start, end) for start, end in batches for layer in range(len(layers))]
        )

        def masks(shape: tuple[int, ...]) -> np.ndarray:
            layer, start, end = next(calls)
            return layers[layer][:, start:end]

        return masks

    @staticmethod
    def _detach(slot: Slot) -> None:
        """Give a leaving run its own copies of its parameters (its result keeps them)."""
        network = slot.trainer.network
        network.params = {name: value.copy() for name, value in network.params.items()}
        network.buffers = {name: value.copy() for name, value in network.buffers.items()}
