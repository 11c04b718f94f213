"""A small model's parameters as metrics: the weights an exercise prints, in a study's results.

Seed 001's exercises print the final weight ``W`` and bias ``b`` of a one-feature model; recorded
at every evaluation, they land in the history, the final metrics (``final_W1``, ``final_b1``) and
a study's results like any other metric. Run-file use::

    [callbacks.parameters]
    names = ["W1", "b1"]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from sweepnp import Callback, OptionError, hookimpl

__all__ = ["Parameters"]

#: The most entries one run records: this is for the weights of toy models, not of networks.
MAX_ENTRIES = 32


class Parameters(Callback):
    """Add the entries of the named parameters to every evaluation.

    Parameters
    ----------
    names : list of str
        Parameter names as the network has them (``W1``, ``b1``, ``W2``, …, ``gamma1``,
        ``beta1``); at most 32 entries in all.

    Notes
    -----
    A parameter with one entry is recorded under its own name (``W1``); a larger one entry by
    entry, flattened in row-major order (``W1_0``, ``W1_1``, …). An unknown name is an error
    listing the network's parameters.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(self, names: list[str]) -> None:
        if not names:
            raise OptionError("names", "must name at least one parameter, e.g. ['W1', 'b1']")
        self.names = list(dict.fromkeys(names))
        self.metrics: tuple[str, ...] = ()

    def declared_metrics(self, parameters: Mapping[str, tuple[int, ...]]) -> tuple[str, ...]:
        """The entries' names in a network whose parameters have these shapes; an unknown
        name, or more than :data:`MAX_ENTRIES` entries, is refused."""
        unknown = [name for name in self.names if name not in parameters]
        if unknown:
            raise OptionError(
                "names",
                f"no parameter {unknown[0]!r} in this network; valid choices: "
                f"{', '.join(parameters)}",
            )
        sizes = {name: math.prod(parameters[name]) for name in self.names}
        if sum(sizes.values()) > MAX_ENTRIES:
            raise OptionError(
                "names",
                f"these parameters hold {sum(sizes.values())} entries; at most {MAX_ENTRIES} "
                "are recorded",
            )
        return tuple(
            name if sizes[name] == 1 else f"{name}_{i}"
            for name in self.names
            for i in range(sizes[name])
        )

    def set_trainer(self, trainer: Any) -> None:
        super().set_trainer(trainer)
        params = trainer.network.params
        self.metrics = self.declared_metrics({name: p.shape for name, p in params.items()})

    def on_evaluate(self, logs: dict[str, Any]) -> None:
        params = self.trainer.network.params
        metric = iter(self.metrics)
        for name in self.names:
            for value in np.ravel(params[name]):
                logs[next(metric)] = float(value)


@hookimpl
def sweepnp_register_callbacks():
    return {"parameters": Parameters}
