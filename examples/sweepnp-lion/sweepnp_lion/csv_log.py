"""log_to_csv: write every epoch's logs to a CSV file, like Keras' ``CSVLogger``.

Run-file use::

    [callbacks]
    log_to_csv = { path = "sweepnp-logs/run-{seed}.csv" }
    log_to_csv = { path = "sweepnp-logs/lion-{trial}-{repeat}.csv" }   # in a study
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import IO, Any

from sweepnp import Callback, OptionError

__all__ = ["LogToCSV"]


class LogToCSV(Callback):
    """Write one row per epoch — the epoch, every metric of the run and ``lr`` — to a CSV file.

    Parameters
    ----------
    path : str, default "sweepnp-logs/run-{seed}.csv"
        The file to write, relative to the working directory. ``{seed}`` becomes the run's
        training seed (``train.seed``); in a study ``{trial}`` the trial's number and
        ``{repeat}`` the repeat's index (``trainer.context``; both 0 outside a study). Every
        configuration of a study shares its repeats' seeds (paired seeds), so a study names
        its files by ``{trial}`` and ``{repeat}``. Missing directories are created.
    append : bool, default False
        Add rows to an existing file (its header is not repeated) instead of replacing it.

    Notes
    -----
    The columns are ``epoch`` and the run's metric names (``trainer.metric_names``: ``loss``,
    ``accuracy``, ``val_loss``, ..., ``lr``). In an epoch the trainer does not evaluate (see
    ``train.eval_every``) only ``lr`` is known and the other cells are empty. The file is flushed
    after every row: it can be followed while a long run trains, and a run that fails keeps the
    rows of the epochs it finished. The run's result records the file's path as
    ``info["log_to_csv"]``.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(self, path: str = "sweepnp-logs/run-{seed}.csv", append: bool = False) -> None:
        if not path:
            raise OptionError("path", "must name a file")
        try:
            path.format(seed=0, trial=0, repeat=0)
        except (KeyError, IndexError, ValueError):
            raise OptionError(
                "path",
                "may hold only the fields {seed}, {trial} and {repeat} (write {{ for a brace), "
                f"got {path!r}",
            ) from None
        self.path = path
        self.append = append
        self._file: IO[str] | None = None

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        context = self.trainer.context
        path = Path(
            self.path.format(
                seed=self.trainer.config.train.seed,
                trial=context.get("trial_number", 0),
                repeat=context.get("repeat", 0),
            )
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        header = not (self.append and path.exists() and path.stat().st_size > 0)
        self._file = path.open("a" if self.append else "w", newline="", encoding="utf-8")
        columns = ["epoch", *self.trainer.metric_names]
        self._writer = csv.DictWriter(self._file, fieldnames=columns, extrasaction="ignore")
        if header:
            self._writer.writeheader()
        self.trainer.info["log_to_csv"] = str(path)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self._file is not None:
            self._writer.writerow({"epoch": epoch, **logs})
            self._file.flush()

    def on_train_end(self, logs: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
