"""Every user mistake is answered with one line and exit status 2, and nothing stored is lost.

One table, by where the mistake is made: a run file, a study file, a data file, the command line's
arguments, a storage URL, the Python API. Each command-line row runs ``sweepnp ARGS`` in-process
(click's CliRunner, against :data:`sweepnp.cli.main`) in a fresh folder holding the row's files and
a copy of a journal that already holds a finished study, and asserts: exit status 2, exactly one
line on stderr, starting with ``Error:``, no traceback, the words that matter (file, key, valid
choices) in it, nothing on stdout, and the journal byte for byte as it was. A few rows also run as
a real process (:func:`test_the_real_command_answers_the_same`). Python API rows must raise a
:class:`sweepnp.SweepnpError` subclass naming the key, never a bare ``KeyError`` or ``TypeError``.
"""

from __future__ import annotations

import random
import re
import shlex
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import sweepnp
import sweepnp.results
from sweepnp.cli import main
from sweepnp.errors import ConfigError, DataError, SweepnpError
from sweepnp.study.spec import load_spec
from sweepnp.study.worker import run_study

RUN = """\
[data]
dataset = "breast_cancer"
seed = 0
[model]
task = "binary"
hidden = [4]
[train]
epochs = 3
[optimizer]
name = "sgd"
lr = 0.05
"""

#: [study] of the study rows, key → TOML value (a row replaces some; ``None`` leaves one out).
STUDY: dict[str, str | None] = {
    "name": '"small"',
    "metric": '"val_accuracy"',
    "sampler": '{ name = "tpe", seed = 0 }',
    "n_trials": "2",
}
#: [study.params] of the study rows, dotted path → TOML value.
PARAMS = {"optimizer.lr": "{ low = 0.01, high = 0.5, log = true }"}


@dataclass(frozen=True)
class Row:
    """``sweepnp ARGS`` in a folder holding ``files``; the one line starts ``Error: PREFIX``
    and holds every word."""

    args: tuple[str, ...]
    words: tuple[str, ...]
    files: Mapping[str, str] = field(default_factory=dict)
    prefix: str = ""


def run_file(*overrides: str, words: list[str], text: str = RUN, **files: str) -> Row:
    """``sweepnp train run.toml --set …`` (extra files by name, dots written as ``_``)."""
    sets = tuple(arg for override in overrides for arg in ("--set", override))
    extra = {name.replace("_", "."): content for name, content in files.items()}
    return Row(("train", "run.toml", *sets), tuple(words), {"run.toml": text, **extra}, "run.toml")


def study_file(
    words: list[str],
    *,
    study: Mapping[str, str | None] = {},
    params: Mapping[str, str] | None = None,
    run: str = RUN,
    more: str = "",
    args: tuple[str, ...] = (),
) -> Row:
    """``sweepnp study run study.toml --storage store.journal``: RUN plus [study]."""
    settings = {**STUDY, **study}
    text = run + "[study]\n"
    text += "".join(f"{key} = {value}\n" for key, value in settings.items() if value is not None)
    text += "[study.params]\n"
    searched = PARAMS if params is None else params
    text += "".join(f'"{path}" = {spec}\n' for path, spec in searched.items())
    command = ("study", "run", "study.toml", "--storage", "store.journal", *args)
    return Row(command, tuple(words), {"study.toml": text + more}, "study.toml")


def data_file(content: str, *overrides: str, words: list[str], table: str = 'target = "y"') -> Row:
    """A run training on ``d.csv``."""
    text = f'[data]\ndataset = {{ path = "d.csv", {table} }}\n[train]\nepochs = 2\n'
    return run_file(*overrides, words=words, text=text, d_csv=content)


def command(line: str, *, words: list[str], **files: str) -> Row:
    """``sweepnp LINE`` (split as a shell would), with files by name (dots written as ``_``)."""
    files_by_name = {name.replace("_", "."): content for name, content in files.items()}
    return Row(tuple(shlex.split(line)), tuple(words), files_by_name)


def rows_csv(make_row: Callable[[int], str], n: int = 40, header: str = "a,b,y") -> str:
    return header + "\n" + "".join(make_row(i) + "\n" for i in range(n))


SEEDED = random.Random(0)
GOOD_ROWS = rows_csv(lambda i: f"{i},{i * 2 % 7},{i % 2}")

RUN_FILE = {
    # misspelt or unknown keys and names, section by section
    "unknown key in [model]": run_file(
        "model.hiden=[8]", words=["model.hiden", "valid keys", "hidden"]
    ),
    "unknown section": run_file(
        text=RUN + "[modle]\nx = 1\n", words=["modle", "valid keys", "model"]
    ),
    "unknown optimizer": run_file(
        "optimizer.name=adamx", words=["optimizer", "adamx", "valid choices", "adam, adamw"]
    ),
    "unknown optimizer option": run_file(
        "optimizer.lrr=0.1", words=["optimizer.lrr", "valid options", "lr"]
    ),
    "unknown dataset": run_file(
        "data.dataset=breast", words=["data.dataset", "breast", "valid choices", "breast_cancer"]
    ),
    "unknown schedule": run_file(
        "schedule.name=cosin", words=["schedule", "valid choices", "cosine"]
    ),
    "unknown regularizer": run_file(
        "regularizers.l3.lam=0.1", words=["regularizers.l3", "valid choices", "l1, l2"]
    ),
    "unknown callback": run_file(
        "callbacks.early_stop.patience=3",
        words=["callbacks.early_stop", "valid choices", "early_stopping"],
    ),
    "unknown dataset option": run_file(
        'data.dataset={name="moons",nois=0.1}',
        words=["data.dataset.nois", "valid options: n_samples, noise"],
    ),
    "unknown initializer": run_file(
        "model.init=glorot", words=["model.init", "'zeros', 'normal', 'he' or 'xavier'"]
    ),
    "option of another initializer": run_file(
        'model.init={name="he",std=1}', words=["model.init.std", "valid options: (none)"]
    ),
    "unknown activation": run_file(
        "model.activation=relu6", words=["model.activation", "'leaky_relu'", "relu6"]
    ),
    "unknown batch-norm option": run_file(
        "model.batch_norm={epsilon=1e-3}", words=["model.batch_norm", "momentum, eps"]
    ),
    "task misspelt": run_file("model.task=binry", words=["model.task", "'binary'", "'multiclass'"]),
    "loss of another task": run_file(
        "model.loss=half_mse", words=["model.loss", "not a loss of a binary task", "bce"]
    ),
    "unknown parameter to record": run_file(
        'callbacks.parameters.names=["W3"]',
        words=["callbacks.parameters.names", "'W3'", "valid choices: W1, b1, W2, b2"],
    ),
    "dtype float16": run_file("model.dtype=float16", words=["model.dtype", "'float32'"]),
    "scale minmax": run_file("data.scale=minmax", words=["data.scale", "'standard' or 'none'"]),
    "momentum form": run_file(
        "optimizer.name=momentum",
        "optimizer.form=nesterov",
        words=["optimizer.form", "'classical' or 'ema'"],
    ),
    "schedule interval": run_file(
        'schedule={name="cosine",interval="iteration"}',
        words=["schedule.interval", "'epoch' or 'batch'"],
    ),
    "early-stopping metric not recorded": run_file(
        "callbacks.early_stopping.monitor=val_acc",
        words=["callbacks.early_stopping.monitor", "val_acc", "val_accuracy"],
    ),
    "early-stopping mode": run_file(
        "callbacks.early_stopping.mode=best",
        words=["callbacks.early_stopping.mode", "'auto', 'min' or 'max'"],
    ),
    "gradient clipping by l2": run_file(
        "callbacks.gradient_clipping.by=l2",
        words=["callbacks.gradient_clipping.by", "'norm' or 'value'"],
    ),
    # wrong types
    "epochs as a word": run_file('train.epochs="ten"', words=["train.epochs", "integer"]),
    "hidden as a string": run_file('model.hidden="16"', words=["model.hidden", "list", "'16'"]),
    "batch size as a float": run_file(
        "train.batch_size=32.0", words=["train.batch_size", "integer", "'full'", "32.0"]
    ),
    "batch size as another word": run_file(
        'train.batch_size="all"', words=["train.batch_size", "'full'", "'all'"]
    ),
    "learning rate as a string": run_file(
        'optimizer.lr="0.1"', words=["optimizer.lr", "valid number", "'0.1'"]
    ),
    "shuffle as 1": run_file("train.shuffle=1", words=["train.shuffle", "boolean"]),
    "stratify as yes": run_file('data.stratify="yes"', words=["data.stratify", "boolean"]),
    "dataset as a number": run_file("data.dataset=3", words=["data.dataset", "string", "got 3"]),
    "dataset option of the wrong type": run_file(
        'data.dataset={name="moons",noise="a"}', words=["data.dataset.noise", "number", "'a'"]
    ),
    "regularizer as a number": run_file(
        "regularizers.l2=0.1", words=["regularizers.l2", "dictionary", "0.1"]
    ),
    "callback as a word": run_file(
        'callbacks.early_stopping="yes"', words=["callbacks.early_stopping", "dictionary"]
    ),
    "batch-norm momentum as a word": run_file(
        'model.batch_norm={momentum="x"}', words=["model.batch_norm", "number"]
    ),
    # out of range
    "lr <= 0": run_file("optimizer.lr=0", words=["optimizer.lr", "> 0"]),
    "lr infinite": run_file("optimizer.lr=inf", words=["optimizer.lr", "finite"]),
    "dropout rate >= 1": run_file(
        "regularizers.dropout.rate=1.0", words=["regularizers.dropout.rate", "[0, 1)"]
    ),
    "dropout rate < 0": run_file(
        "regularizers.dropout.rate=-0.1", words=["regularizers.dropout.rate", "[0, 1)"]
    ),
    "batch size < 1": run_file(
        "train.batch_size=0", words=["train.batch_size", "greater than or equal to 1", "'full'"]
    ),
    "epochs < 1": run_file("train.epochs=0", words=["train.epochs", "greater than or equal to 1"]),
    "eval_every 0": run_file("train.eval_every=0", words=["train.eval_every", "greater than"]),
    "hidden width 0": run_file("model.hidden=[0]", words=["model.hidden.0", "greater than"]),
    "initializer std < 0": run_file(
        'model.init={name="normal",std=-1}', words=["model.init.std", "> 0"]
    ),
    "batch norm without a hidden layer": run_file(
        "model.hidden=[]",
        "model.batch_norm=true",
        words=["model.batch_norm", "hidden = []", "batch_norm = false"],
    ),
    "batch-norm momentum >= 1": run_file(
        "model.batch_norm={momentum=2.0}", words=["model.batch_norm.momentum", "[0, 1)"]
    ),
    "test_size 1": run_file("data.test_size=1.0", words=["data.test_size", "less than 1"]),
    "test_size + val_size >= 1": run_file(
        "data.test_size=0.6", "data.val_size=0.5", words=["data.val_size", "must be < 1"]
    ),
    "seed < 0": run_file("data.seed=-1", words=["data.seed", "greater than or equal to 0"]),
    "subsample beyond the training rows": run_file(
        "data.subsample=100000", words=["data.subsample", "341 training rows"]
    ),
    "momentum beta >= 1": run_file(
        "optimizer.name=momentum", "optimizer.beta=1.5", words=["optimizer.beta", "[0, 1)"]
    ),
    "adam eps < 0": run_file(
        "optimizer.name=adam", "optimizer.eps=-1", words=["optimizer.eps", "> 0"]
    ),
    "l2 without lam": run_file(
        "regularizers.l2={}", words=["regularizers.l2", "missing required option(s): lam"]
    ),
    "elastic net ratio > 1": run_file(
        "regularizers.elastic_net={lam=0.1,l1_ratio=2}",
        words=["regularizers.elastic_net.l1_ratio", "[0, 1]"],
    ),
    "step schedule gamma 0": run_file(
        'schedule={name="step",gamma=0}', words=["schedule.gamma", "(0, 1]"]
    ),
    "gradient clipping threshold 0": run_file(
        "callbacks.gradient_clipping.threshold=0",
        words=["callbacks.gradient_clipping.threshold", "> 0"],
    ),
    # shape of the file
    "optimizer without a name": run_file(
        text=RUN.replace('name = "sgd"\n', ""), words=["optimizer", "missing 'name'"]
    ),
    "schedule without a name": run_file(
        "schedule={gamma=0.5}", words=["schedule", "missing 'name'"]
    ),
    "dataset table without name or path": run_file(
        "data.dataset={noise=0.1}", words=["data.dataset", "'name'", "'path'"]
    ),
    "no dataset": run_file(text="[train]\nepochs = 2\n", words=["data.dataset", "no dataset"]),
    "missing file": Row(("train", "run.toml"), ("no such file",), {}, "run.toml"),
    "invalid toml": run_file(text="[data\n", words=["invalid TOML"]),
    "target does not fit the task": run_file(
        "data.dataset=iris", words=["model.task", "2 classes", "3"]
    ),
}

DATA_FILE = {
    "nan in data": data_file(
        "a,b,y\n1,2,0\nnan,3,1\n4,5,0\n6,7,1\n8,9,0\n1,1,1\n", words=["data", "NaN"]
    ),
    "infinite value": data_file(GOOD_ROWS + "inf,1,0\n", words=["data", "infinite", "rows 40"]),
    "empty cell": data_file(GOOD_ROWS + ",1,0\n", words=["data", "NaN", "rows 40"]),
    "a word among numbers": data_file(
        rows_csv(lambda i: f"{i},{i if i % 3 else 'n/a'},{i % 2}"), words=["data", "NaN"]
    ),
    "empty data": data_file("a,b,y\n", words=["data", "no rows"]),
    "empty file": data_file("", words=["data.dataset.path", "is empty"]),
    "unknown target column": data_file(
        "a,b,y\n1,2,0\n",
        table='target = "label"',
        words=["data.dataset.target", "no target column 'label'", "3 columns: a, b, y"],
    ),
    "target column missing from a wide file": data_file(
        rows_csv(
            lambda i: ",".join(str(i + j) for j in range(31)),
            n=5,
            header=",".join(f"mean {j}" for j in range(30)) + ",diagnosis",
        ),
        table='target = "diagnosys"',
        words=[
            "no target column 'diagnosys' (it has 31 columns: mean 0, mean 1,",
            "mean 9 and 21 more); did you mean 'diagnosis'?",
        ],
    ),
    "misspelt target column": data_file(
        "a,b,Label\n1,2,0\n",
        table='target = "lable"',
        words=["no target column 'lable'", "3 columns: a, b, Label", "did you mean 'Label'?"],
    ),
    "non-numeric feature column": data_file(
        rows_csv(lambda i: f"{i},x{i},{i % 2}"), words=["data.dataset.path", "non-numeric", "b"]
    ),
    "only the target column": data_file(
        rows_csv(lambda i: f"{i % 2}", header="y"), words=["no feature columns", "'y'"]
    ),
    "rows of different lengths": data_file(
        "a,b,y\n1,2\n3,4,5,6\n" + GOOD_ROWS, words=["data.dataset.path", "cannot read 'd.csv'"]
    ),
    "single-class target": data_file(
        rows_csv(lambda i: f"{i},{i},1"), words=["model.task", "at least 2 classes", "has 1"]
    ),
    "single-class target for a binary task": data_file(
        rows_csv(lambda i: f"{i},{i},1"),
        "model.task=binary",
        words=["model.task", "exactly 2 classes", "valid tasks"],
    ),
    "labels for a regression task": data_file(
        rows_csv(lambda i: f"{i},{i},c{i}"),
        "model.task=regression",
        words=["model.task", "must be numeric", "'binary' or 'multiclass'"],
    ),
    "a continuous target for a multiclass task": data_file(
        rows_csv(lambda i: f"{i},{i},{i / 7}"),
        "model.task=multiclass",
        words=["model.task", "non-integer", "'regression'"],
    ),
    "scaling a class target": data_file(
        GOOD_ROWS, "data.scale_target=standard", words=["data.scale_target", "'binary'"]
    ),
    "too few rows to split": data_file(
        "a,b,y\n1,2,0\n3,4,1\n", words=["data.test_size", "cannot split off the test set"]
    ),
    "unknown format": data_file(
        GOOD_ROWS, table='target = "y", format = "xlsx"', words=["data.dataset.format", "'csv'"]
    ),
    "values that overflow float64 once scaled": data_file(
        rows_csv(lambda i: f"{SEEDED.random() * 1e308},{i},{i % 2}"),
        words=["data.scale", "not finite after scaling", "column(s) a", "power of ten"],
    ),
    "values float32 cannot hold": data_file(
        rows_csv(lambda i: f"{SEEDED.random() * 1e39},{i},{i % 2}"),
        "data.scale=none",
        "model.dtype=float32",
        words=["model.dtype", "not finite in float32", "'float64'"],
    ),
    "a target that overflows once standardized": data_file(
        rows_csv(lambda i: f"{i},{i % 3},{SEEDED.random() * 1e308}"),
        "model.task=regression",
        "data.scale_target=standard",
        words=["data.scale_target", "regression target is not finite"],
    ),
    "data file missing": run_file(
        text='[data]\ndataset = { path = "gone.csv", target = "y" }\n',
        words=["data.dataset.path", "gone.csv"],
    ),
    "not a parquet file": run_file(
        text='[data]\ndataset = { path = "d.parquet", target = "y" }\n',
        d_parquet="a,b,y\n1,2,0\n",
        words=["data.dataset.path", "cannot read", "parquet"],
    ),
}

STUDY_FILE = {
    "no [study] table": Row(
        ("study", "run", "study.toml", "--storage", "store.journal"),
        ("study", "needs a [study] table"),
        {"study.toml": RUN},
        "study.toml",
    ),
    "misspelt [study] key": study_file(
        ["study.n_trial", "valid keys: name, metric, direction"],
        study={"n_trials": None, "n_trial": "2"},
    ),
    "n_trials 0": study_file(
        ["study.n_trials", "greater than or equal to 1"], study={"n_trials": "0"}
    ),
    "n_trials as a string": study_file(["study.n_trials", "integer"], study={"n_trials": '"2"'}),
    "timeout 0": study_file(["study.timeout", "greater than 0"], study={"timeout": "0"}),
    "repeats 0": study_file(
        ["study.repeats", "greater than or equal to 1"], study={"repeats": "0"}
    ),
    "aggregate median": study_file(
        ["study.aggregate", "'mean' or 'lcb'"], study={"aggregate": '"median"'}
    ),
    "unknown metric": study_file(
        ["study.metric", "'val_acc'", "valid choices", "val_accuracy", "train_seconds"],
        study={"metric": '"val_acc"'},
    ),
    "no metric": study_file(["study.metric", "at least one metric"], study={"metric": "[]"}),
    "direction max": study_file(
        ["study.direction", "'maximize' or 'minimize'"], study={"direction": '"max"'}
    ),
    "more directions than metrics": study_file(
        ["study.direction", "1 metric(s) but 2 direction(s)"],
        study={"direction": '["maximize", "minimize"]'},
    ),
    "unknown sampler": study_file(
        ["study.sampler", "'bayes'", "valid choices: tpe, random, grid"],
        study={"sampler": '"bayes"'},
    ),
    "sampler as a number": study_file(["study.sampler", "got 3"], study={"sampler": "3"}),
    "sampler without a name": study_file(
        ["study.sampler", "missing 'name'"], study={"sampler": "{ seed = 0 }"}
    ),
    "unknown sampler option": study_file(
        ["study.sampler.n_startup", "valid options", "n_startup_trials"],
        study={"sampler": '{ name = "tpe", n_startup = 3 }'},
    ),
    "sampler seed as a string": study_file(
        ["study.sampler.seed", "valid integer", "'0'"],
        study={"sampler": '{ name = "tpe", seed = "0" }'},
    ),
    "TPE gamma as a name of a function": study_file(
        ["study.sampler.gamma", "Python function", "study file cannot give", "'os.system'"],
        study={"sampler": '{ name = "tpe", gamma = "os.system" }'},
    ),
    "TPE startup trials as a float": study_file(
        ["study.sampler.n_startup_trials", "valid integer", "2.5"],
        study={"sampler": '{ name = "tpe", n_startup_trials = 2.5 }'},
    ),
    "TPE multivariate as a word": study_file(
        ["study.sampler.multivariate", "valid boolean", "'yes'"],
        study={"sampler": '{ name = "tpe", multivariate = "yes" }'},
    ),
    "QMC independent sampler as a name": study_file(
        ["study.sampler.independent_sampler", "Python object (BaseSampler)"],
        study={"sampler": '{ name = "qmc", independent_sampler = "random" }'},
    ),
    "QMC type unknown": study_file(
        ["study.sampler", "qmc_type='lhs'", "halton", "sobol"],
        study={"sampler": '{ name = "qmc", qmc_type = "lhs" }'},
    ),
    "CMA-ES sigma as a word": study_file(
        ["study.sampler.sigma0", "valid number", "'big'"],
        study={"sampler": '{ name = "cmaes", sigma0 = "big" }'},
    ),
    "NSGA-II mutation as a name": study_file(
        ["study.sampler.mutation", "Python object (BaseMutation)"],
        study={"sampler": '{ name = "nsgaii", mutation = "gaussian" }'},
    ),
    "grid over a continuous range": study_file(
        ['study.params."optimizer.lr"', "grid sampler needs 'choices' or a 'step'"],
        study={"sampler": '"grid"'},
    ),
    "grid search space as a word": study_file(
        ["study.sampler.search_space", "valid dictionary"],
        study={"sampler": '{ name = "grid", search_space = "x" }'},
    ),
    "unknown pruner": study_file(
        ["study.pruner", "'asha'", "valid choices: none, median"], study={"pruner": '"asha"'}
    ),
    "a pruner on a metric known only at the end": study_file(
        ["study.pruner", "'train_seconds' is known only when a run ends", 'pruner = "none"'],
        study={"metric": '"train_seconds"', "pruner": '"median"'},
    ),
    "pruner option as a string": study_file(
        ["study.pruner.n_warmup_steps", "valid integer", "'5'"],
        study={"pruner": '{ name = "median", n_warmup_steps = "5" }'},
    ),
    "percentile pruner without percentile": study_file(
        ["study.pruner", "missing required option(s): percentile"],
        study={"pruner": '{ name = "percentile" }'},
    ),
    "percentile beyond 100": study_file(
        ["study.pruner", "between 0 and 100"],
        study={"pruner": '{ name = "percentile", percentile = 200.0 }'},
    ),
    "patient pruner wrapping an unknown pruner": study_file(
        ["study.pruner.wrapped", "'meadian'", "valid choices"],
        study={"pruner": '{ name = "patient", wrapped = "meadian" }'},
    ),
    "patient pruner given Optuna's wrapped_pruner": study_file(
        ["study.pruner.wrapped_pruner", "as 'wrapped'"],
        study={"pruner": '{ name = "patient", wrapped_pruner = "median" }'},
    ),
    "threshold as a string": study_file(
        ["study.pruner.lower", "valid number", "'0.5'"],
        study={"pruner": '{ name = "threshold", lower = "0.5" }'},
    ),
    "pruning a multi-objective study": study_file(
        ["study.pruner", "multi-objective", 'pruner = "none"'],
        study={"metric": '["val_accuracy", "train_seconds"]', "pruner": '"median"'},
    ),
    "nothing to search": study_file(["study.params", "no parameters"], params={}),
    "unknown parameter to record in a study": study_file(
        ["callbacks.parameters.names", "'W3'", "valid choices: W1, b1, W2, b2"],
        more='[callbacks.parameters]\nnames = ["W3"]\n',
    ),
    "parameter as a number": study_file(
        ['study.params."optimizer.lr"', "must be a table"], params={"optimizer.lr": "0.1"}
    ),
    "misspelt range key": study_file(
        ['study.params."optimizer.lr"', "hi", "valid keys: low, high"],
        params={"optimizer.lr": "{ low = 0.01, hi = 0.5 }"},
    ),
    "empty range": study_file(
        ['study.params."optimizer.lr"', "empty range"],
        params={"optimizer.lr": "{ low = 0.5, high = 0.01 }"},
    ),
    "log range from zero": study_file(
        ['study.params."optimizer.lr".low', "log range needs low > 0"],
        params={"optimizer.lr": "{ low = 0.0, high = 0.5, log = true }"},
    ),
    "bound as a word": study_file(
        ['study.params."optimizer.lr".low', "must be a number"],
        params={"optimizer.lr": '{ low = "a", high = 0.5 }'},
    ),
    "negative step": study_file(
        ['study.params."optimizer.lr".step', "> 0"],
        params={"optimizer.lr": "{ low = 0.01, high = 0.5, step = -0.1 }"},
    ),
    "step and log together": study_file(
        ['study.params."optimizer.lr"', "'step' and 'log' cannot be combined"],
        params={"optimizer.lr": "{ low = 0.01, high = 0.5, step = 0.1, log = true }"},
    ),
    "type double": study_file(
        ['study.params."optimizer.lr".type', "'int' or 'float'"],
        params={"optimizer.lr": '{ low = 0.01, high = 0.5, type = "double" }'},
    ),
    "integer range with a fraction": study_file(
        ['study.params."train.epochs"', "whole-number"],
        params={"train.epochs": '{ low = 1.5, high = 3, type = "int" }'},
    ),
    "no choices": study_file(
        ['study.params."train.batch_size".choices', "non-empty list"],
        params={"train.batch_size": "{ choices = [] }"},
    ),
    "choices of mixed types": study_file(
        ['study.params."model.hidden".choices', "mixes types"],
        params={"model.hidden": "{ choices = [[4], 8] }"},
    ),
    "choices and a range": study_file(
        ['study.params."train.batch_size"', "cannot be combined with low"],
        params={"train.batch_size": "{ choices = [8], low = 1 }"},
    ),
    "path that addresses nothing": study_file(
        ['study.params."optimizer.lrr"', "valid options: lr"],
        params={"optimizer.lrr": "{ low = 0.01, high = 0.5 }"},
    ),
    "range a plugin refuses": study_file(
        ['study.params."optimizer.lr"', "optimizer.lr = -0.1", "> 0"],
        params={"optimizer.lr": "{ low = -0.1, high = 0.5 }"},
    ),
    "unknown choice": study_file(
        ['study.params."optimizer.name"', "'adamx'", "valid choices"],
        params={"optimizer.name": '{ choices = ["sgd", "adamx"] }'},
    ),
    "condition on a later parameter": study_file(
        ['study.params."optimizer.beta".when', "not a parameter listed before"],
        params={
            "optimizer.beta": '{ low = 0.5, high = 0.9, when = { "optimizer.name" = "momentum" } }',
            "optimizer.name": '{ choices = ["sgd", "momentum"] }',
        },
    ),
    "condition as a word": study_file(
        ['study.params."optimizer.beta".when', "must be a table", "'momentum'"],
        params={
            "optimizer.name": '{ choices = ["sgd", "momentum"] }',
            "optimizer.beta": '{ low = 0.5, high = 0.9, when = "momentum" }',
        },
    ),
    "condition on a value never chosen": study_file(
        ['study.params."optimizer.beta".when', "'momentu'", "'sgd', 'momentum'"],
        params={
            "optimizer.name": '{ choices = ["sgd", "momentum"] }',
            "optimizer.beta": '{ low = 0.5, high = 0.9, when = { "optimizer.name" = "momentu" } }',
        },
    ),
    "condition with no values": study_file(
        ['study.params."optimizer.beta".when', "empty list of values", "'optimizer.name'"],
        params={
            "optimizer.name": '{ choices = ["sgd", "momentum"] }',
            "optimizer.beta": '{ low = 0.5, high = 0.9, when = { "optimizer.name" = [] } }',
        },
    ),
    "--quick without [study.quick]": study_file(
        ["study.quick", "a quick run needs a [study.quick] table"], args=("--quick",)
    ),
    "quick mode changing the search space": study_file(
        ['study.quick."study.params"', "not the search space"],
        more='[study.quick]\n"study.params" = 1\n',
        args=("--quick",),
    ),
    "quick mode with an invalid value": study_file(
        ["train.epochs", "greater than or equal to 1"],
        more='[study.quick]\n"train.epochs" = 0\n',
        args=("--quick",),
    ),
    "invalid base run": study_file(
        ["model.hidden", "valid list", "got 4"], run=RUN.replace("hidden = [4]", "hidden = 4")
    ),
    "study file missing": Row(("study", "run", "gone.toml"), ("no such file",), {}, "gone.toml"),
}

COMMAND_LINE = {
    "--set without =": run_file("train.epochs", words=["dotted.key=value", "'train.epochs'"]),
    "--set without a key": run_file("=3", words=["dotted.key=value", "'=3'"]),
    "--set below a value": run_file("train.epochs.x=3", words=["train.epochs.x", "not a table"]),
    "--set into an unknown section": run_file(
        "trian.epochs=3", words=["trian", "valid keys", "train"]
    ),
    "--n-trials 0": command("study run study.toml --n-trials 0", words=["'--n-trials'", "x>=1"]),
    "--jobs 0": command("study run study.toml --jobs 0", words=["'--jobs'", "x>=1"]),
    "--jobs as a word": command("study run study.toml -j two", words=["'--jobs'", "'two'"]),
    "misspelt option": command(
        "study run study.toml --trials 3", words=["'--trials'", "--n-trials"]
    ),
    "misspelt command": command("trian run.toml", words=["'trian'", "'train'"]),
    "unknown study command": command("study rm small", words=["'rm'", "study --help"]),
    "train without a file": command("train", words=["Missing argument 'FILE'", "train --help"]),
    "train a folder": command("train .", words=["'FILE'", "is a directory"]),
    "unknown --table": command(
        "study export small --storage store.journal --table trial",
        words=["'--table'", "'trial'", "'trials', 'history', 'summary'"],
    ),
    "unknown --format": command(
        "study export small --storage store.journal --format xlsx",
        words=["'--format'", "'xlsx'", "'csv', 'parquet', 'json'"],
    ),
    "parquet to stdout": command(
        "study export small --storage store.journal --format parquet",
        words=["--format parquet needs -o FILE"],
    ),
    "export into a missing folder (csv)": command(
        "study export small --storage store.journal -o missing_dir/out.csv",
        words=["--output", "missing_dir/out.csv", "'missing_dir' does not exist"],
    ),
    "export into a missing folder (parquet)": command(
        "study export small --storage store.journal --format parquet -o missing_dir/out.parquet",
        words=["--output", "missing_dir/out.parquet", "does not exist"],
    ),
    "export below a file": command(
        "study export small --storage store.journal -o notes.txt/out.csv",
        words=["--output", "'notes.txt' is not a folder"],
        notes_txt="x",
    ),
    "export where files cannot be created": command(
        "study export small --storage store.journal -o /proc/out.csv",
        words=["--output", "cannot write /proc/out.csv"],
    ),
    "export onto a folder": command(
        "study export small --storage store.journal -o .", words=["'--output'", "is a directory"]
    ),
    "report where files cannot be created": command(
        "study report small --storage store.journal -o /proc/report --no-retrain",
        words=["--output", "cannot write into /proc/report"],
    ),
    "report into a file": command(
        "study report small --storage store.journal -o notes.txt",
        words=["'--output'", "'notes.txt' is a file"],
        notes_txt="x",
    ),
    "show an unknown study": command(
        "study show smal --storage store.journal",
        words=["no study named 'smal'", "studies there: small"],
    ),
    "best of an unknown study": command(
        "study best smal --storage store.journal", words=["'smal'", "small"]
    ),
    "re-run an unknown trial": command(
        "study rerun small --trial 9 --storage store.journal",
        words=["--trial", "no trial 9", "trials: 0..1"],
    ),
    "re-run in an unknown study": command(
        "study rerun smal --trial 0 --storage store.journal",
        words=["no study named 'smal'", "studies there: small"],
    ),
    "re-run trial as a word": command(
        "study rerun small --trial x", words=["'--trial'", "'x'", "integer"]
    ),
    "delete an unknown study": command(
        "study delete smal --storage store.journal --yes",
        words=["no study named 'smal'", "studies there: small"],
    ),
    "delete without --yes from a script": command(
        "study delete small --storage store.journal",
        words=["not deleting study 'small'", "not a terminal", "--yes"],
    ),
    "unknown show --format": command(
        "study show small --storage store.journal --format xlsx",
        words=["'--format'", "'xlsx'", "'table', 'json', 'csv'"],
    ),
    "unknown list -f": command(
        "study list --storage store.journal -f yaml",
        words=["'-f'", "'yaml'", "'table', 'json', 'csv'"],
    ),
    "unknown best --format": command(
        "study best small --storage store.journal --format tsv",
        words=["'--format'", "'tsv'", "'table', 'json', 'csv'"],
    ),
    "--watch as JSON": command(
        "study show small --storage store.journal --watch --format json",
        words=["--watch", "--format json"],
    ),
    "--interval without --watch": command(
        "study show small --storage store.journal --interval 5", words=["--interval", "--watch"]
    ),
    "--interval 0": command(
        "study show small --storage store.journal --watch --interval 0",
        words=["'--interval'", "0.1"],
    ),
    "--limit 0": command(
        "study show small --storage store.journal --limit 0", words=["'--limit'", "x>=1"]
    ),
    "train --plot into a missing folder": command(
        "train run.toml --plot missing/curves.png",
        words=["--plot", "the folder 'missing' does not exist"],
        run_toml=RUN,
    ),
    "train --plot with no image suffix": command(
        "train run.toml --plot curves.txt",
        words=["--plot", "suffix '.txt'", ".png", ".svg"],
        run_toml=RUN,
    ),
    "lr-find with too few steps": command(
        "lr-find run.toml --steps 3", words=["--steps", ">= 10"], run_toml=RUN
    ),
    "lr-find ending below its start": command(
        "lr-find run.toml --start 1 --end 0.1",
        words=["--end", "above the start rate"],
        run_toml=RUN,
    ),
    "surface: unknown surface": command(
        "surface rosenbrok --optimizer sgd",
        words=["rosenbrok", "unknown surface", "valid choices", "beale", "rosenbrock"],
    ),
    "surface: unknown surface option": command(
        "surface quadratic:c=3 --optimizer sgd",
        words=["quadratic:c=3", "surface.c", "valid options: a, b"],
    ),
    "surface: unknown optimizer": command(
        "surface rosenbrock --optimizer adamx:lr=0.01",
        words=["--optimizer adamx:lr=0.01", "unknown optimizer 'adamx'", "valid choices", "adam"],
    ),
    "surface: optimizer option misspelt": command(
        "surface rosenbrock --optimizer momentum:lr=1e-4,momentum=0.9",
        words=["optimizer.momentum", "valid options", "beta"],
    ),
    "surface: option without a value": command(
        "surface rosenbrock --optimizer sgd:lr",
        words=["--optimizer 'sgd:lr'", "'lr' is not option=value"],
    ),
    "surface: start point of one number": command(
        "surface rosenbrock --optimizer sgd --start 1", words=["--start '1'", "two numbers x,y"]
    ),
    "surface: no optimizer": command("surface rosenbrock", words=["--optimizer"]),
    "gradcheck: unknown regularizer": command(
        "gradcheck run.toml",
        words=["run.toml", "regularizers.l3", "valid choices", "elastic_net, l1, l2"],
        run_toml=RUN + "[regularizers]\nl3 = { lam = 0.1 }\n",
    ),
    "gradcheck: --rows 0": command(
        "gradcheck run.toml --rows 0", words=["'--rows'", "x>=1"], run_toml=RUN
    ),
}

STORAGE_URL = {
    "a folder": command("study list --storage .", words=["--storage", "directory"]),
    "in a missing folder": command(
        "study run study.toml --storage missing_dir/s.journal",
        words=["--storage", "folder of 'missing_dir/s.journal' does not exist"],
        study_toml=study_file([]).files["study.toml"],
    ),
    "unsupported scheme redis": command(
        "study list --storage redis://localhost/0",
        words=["--storage", "cannot open storage 'redis://localhost/0'"],
    ),
    "unsupported scheme http": command(
        "study show small --storage http://example.com/studies",
        words=["--storage", "'http://example.com/studies'"],
    ),
    "not a URL": command("study list --storage ://", words=["--storage", "Could not parse"]),
    "MySQL without its driver": command(
        "study list --storage mysql://user@localhost/db",
        words=["--storage", "the driver for", "is not installed"],
    ),
    "SQLite in a missing folder": command(
        "study list --storage sqlite:///missing_dir/s.db",
        words=["--storage", "unable to open database file"],
    ),
    "PostgreSQL server not listening": command(
        "study list --storage postgresql://user@127.0.0.1:1/db",
        words=["--storage", "Connection refused"],
    ),
    "the study file as the journal": command(
        "study run study.toml --storage study.toml",
        words=["--storage", "study.toml is not an Optuna journal file"],
        study_toml=study_file([]).files["study.toml"],
    ),
    "a misspelt journal": command(
        "study show small --storage stor.journal",
        words=["--storage", "no journal 'stor.journal'", "existing journal"],
    ),
    "another study under a stored name": Row(
        ("study", "run", "study.toml", "--storage", "store.journal"),
        ("study.name", "'small' with another configuration", "--name"),
        {"study.toml": study_file([], run=RUN.replace("[4]", "[8]")).files["study.toml"]},
        "study.toml",
    ),
}

CATEGORIES = {
    "run file": RUN_FILE,
    "data file": DATA_FILE,
    "study file": STUDY_FILE,
    "command line": COMMAND_LINE,
    "storage URL": STORAGE_URL,
}
ROWS = {
    f"{category}: {name}": row
    for category, rows in CATEGORIES.items()
    for name, row in rows.items()
}


@pytest.fixture(scope="session")
def stored_journal(tmp_path_factory) -> Path:
    """A journal holding one finished study, ``small`` (2 trials), as a user's would."""
    folder = tmp_path_factory.mktemp("store")
    study = tomllib_loads(study_file([]).files["study.toml"])
    study["train"]["epochs"] = 1
    run_study(study, storage=str(folder / "store.journal"))
    return folder / "store.journal"


def tomllib_loads(text: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(text)


@pytest.fixture
def in_a_folder(tmp_path, stored_journal, monkeypatch) -> Path:
    shutil.copyfile(stored_journal, tmp_path / "store.journal")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("mistake", ROWS)
def test_every_mistake_gets_one_line_and_exit_status_2(in_a_folder, mistake):
    row = ROWS[mistake]
    for name, content in row.files.items():
        (in_a_folder / name).write_text(content)
    before = (in_a_folder / "store.journal").read_bytes()

    result = CliRunner().invoke(main, list(row.args))

    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: {row.prefix}"), lines[0]
    for word in row.words:
        assert word in lines[0], (word, lines[0])
    assert result.stdout == ""
    assert (in_a_folder / "store.journal").read_bytes() == before  # nothing stored is lost


def test_a_file_that_is_not_a_journal_is_never_changed_nor_a_journal_made_up(in_a_folder):
    notes = in_a_folder / "notes.txt"
    notes.write_bytes(b"my notes\nlast line without a newline")  # a "torn tail", to a journal
    before = notes.read_bytes()
    for args in (["study", "list", "--storage", "notes.txt"],
                 ["study", "show", "small", "--storage", "notes.txt"]):  # fmt: skip
        assert CliRunner().invoke(main, args).exit_code == 2
    assert notes.read_bytes() == before
    assert not list(in_a_folder.glob("notes.txt.torn-*"))
    for args in (["study", "list", "--storage", "typo.journal"],
                 ["study", "best", "small", "--storage", "typo.journal"]):  # fmt: skip
        assert CliRunner().invoke(main, args).exit_code == 2
    assert not (in_a_folder / "typo.journal").exists()


def test_the_table_covers_every_kind_of_mistake():
    assert len(ROWS) + len(PYTHON_API) >= 80
    assert all(len(rows) >= 5 for rows in [*CATEGORIES.values(), PYTHON_API])


@pytest.mark.slow
@pytest.mark.parametrize(
    "mistake",
    [
        "run file: unknown optimizer",
        "study file: TPE gamma as a name of a function",
        "command line: --n-trials 0",
        "command line: export into a missing folder (csv)",
    ],
)
def test_the_real_command_answers_the_same(cli, in_a_folder, mistake):
    row = ROWS[mistake]
    for name, content in row.files.items():
        (in_a_folder / name).write_text(content)
    before = (in_a_folder / "store.journal").read_bytes()
    done = cli(*row.args, cwd=in_a_folder)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {row.prefix}"), done.stderr
    assert all(word in lines[0] for word in row.words), lines[0]
    assert done.stdout == ""
    assert (in_a_folder / "store.journal").read_bytes() == before


# -------------------------------------------------------------------------
# The Python API
# -------------------------------------------------------------------------

X = np.random.default_rng(0).normal(size=(40, 3))
Y = (X[:, 0] > 0).astype(int)
BASE = {"data": {"dataset": "breast_cancer"}, "train": {"epochs": 2}}
SEARCH = {"train.epochs": {"low": 1, "high": 3}}


def _classifier(**params: Any) -> Any:
    return sweepnp.SweepnpClassifier(**params)


#: name → (call with the journal's path, the SweepnpError subclass it raises, words)
PYTHON_API: dict[str, tuple[Callable[[str], Any], type[SweepnpError], list[str]]] = {
    "train(42)": (lambda store: sweepnp.train(42), ConfigError, ["a run is a path", "int 42"]),
    "train a list": (lambda store: sweepnp.train([1, 2]), ConfigError, ["a dict of the run-file"]),
    "train an unknown section": (
        lambda store: sweepnp.train({**BASE, "modle": {}}),
        ConfigError,
        ["modle", "valid keys", "model"],
    ),
    "train a section that is a number": (
        lambda store: sweepnp.train({**BASE, "model": 3}),
        ConfigError,
        ["model", "dictionary", "got 3"],
    ),
    "train a key that is not a string": (
        lambda store: sweepnp.train({**BASE, 3: {}}),
        ConfigError,
        ["keys should be strings"],
    ),
    "train an optimizer named by a number": (
        lambda store: sweepnp.train({**BASE, "optimizer": {"name": 3}}),
        ConfigError,
        ["optimizer", "unknown optimizer 3", "valid choices"],
    ),
    "train with X but no y": (
        lambda store: sweepnp.train({"train": {"epochs": 1}}, X=X),
        ConfigError,
        ["data", "pass both X and y"],
    ),
    "train rows that do not match": (
        lambda store: sweepnp.train({"train": {"epochs": 1}}, X=X, y=Y[:-1]),
        DataError,
        ["data", "40 rows", "39"],
    ),
    "train on words": (
        lambda store: sweepnp.train(
            {"train": {"epochs": 1}}, X=np.array([["a", "b"]] * 10), y=Y[:10]
        ),
        DataError,
        ["data", "numeric"],
    ),
    "results of an unknown study": (
        lambda store: sweepnp.results.load("smal", store),
        ConfigError,
        ["name: ", "'smal'", "studies there: small"],
    ),
    "results from a folder": (
        lambda store: sweepnp.results.load("small", str(Path(store).parent)),
        ConfigError,
        ["storage: ", "directory"],
    ),
    "summary by an unknown column": (
        lambda store: sweepnp.results.load("small", store).summary(by="optimizer.lrr"),
        ConfigError,
        ["by", "optimizer.lrr", "valid: optimizer.lr"],
    ),
    "summary of an unknown metric": (
        lambda store: sweepnp.results.load("small", store).summary(metrics=["acc"]),
        ConfigError,
        ["metrics", "no metric acc", "valid:", "val_accuracy"],
    ),
    "load_spec of a number": (
        lambda store: load_spec(3),
        ConfigError,
        ["a study file is a path or a dict", "3"],
    ),
    "load_spec without [study]": (
        lambda store: load_spec(BASE),
        ConfigError,
        ["study", "needs a [study] table"],
    ),
    "load_spec params as a list": (
        lambda store: load_spec({**BASE, "study": {"params": ["x"]}}),
        ConfigError,
        ["study.params", "dictionary"],
    ),
    "load_spec a condition as a list": (
        lambda store: load_spec(
            {
                **BASE,
                "study": {
                    "params": {
                        "optimizer.name": {"choices": ["sgd"]},
                        "optimizer.lr": {"low": 0.1, "high": 0.2, "when": ["optimizer.name"]},
                    }
                },
            }
        ),
        ConfigError,
        ['study.params."optimizer.lr".when', "must be a table"],
    ),
    "load_spec --quick into a value": (
        lambda store: load_spec(
            {**BASE, "study": {"params": SEARCH, "quick": {"train.epochs.x": 3}}}, quick=True
        ),
        ConfigError,
        ['study.quick."train.epochs.x"', "non-table"],
    ),
    "estimator lr < 0": (
        lambda store: _classifier(optimizer={"name": "sgd", "lr": -1}).fit(X, Y),
        ConfigError,
        ["optimizer.lr", "> 0", "optimizer__lr"],
    ),
    "estimator misspelt model key": (
        lambda store: _classifier(model={"hiden": [4]}).fit(X, Y),
        ConfigError,
        ["model.hiden", "valid keys", "hidden"],
    ),
    "estimator unknown parameter": (
        lambda store: _classifier().set_params(optimiser__lr=0.1),
        ConfigError,
        ["'optimiser__lr'", "Valid parameters", "optimizer"],
    ),
    "estimator given a dataset": (
        lambda store: _classifier(data={"dataset": "iris"}).fit(X, Y),
        ConfigError,
        ["data.dataset", "not an estimator option", "val_size"],
    ),
    "estimator random_state as a string": (
        lambda store: _classifier(random_state="0").fit(X, Y),
        ConfigError,
        ["random_state", "int >= 0 or None", "'0'"],
    ),
    "regressor on labels": (
        lambda store: sweepnp.SweepnpRegressor().fit(X, np.array(["a"] * 40)),
        DataError,
        ["model.task", "must be numeric"],
    ),
}


@pytest.mark.parametrize("mistake", PYTHON_API)
def test_every_python_api_mistake_raises_a_sweepnp_error_naming_the_key(stored_journal, mistake):
    call, expected, words = PYTHON_API[mistake]
    before = stored_journal.read_bytes()
    with pytest.raises(SweepnpError) as excinfo:
        call(str(stored_journal))
    assert isinstance(excinfo.value, expected), repr(excinfo.value)
    message = str(excinfo.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    # A Python user has no command line: the library names arguments, never options.
    assert not re.search(r"--[a-z]|\bNAME\b", message), message
    assert stored_journal.read_bytes() == before


# -------------------------------------------------------------------------
# Allowed, but probably not meant: said once, and the command goes on
# -------------------------------------------------------------------------

BATCH_WARNING = (
    "Warning: {file}: train.batch_size: 1000 is more than the 341 training rows; every batch is "
    'the whole training split (full-batch gradient descent, as with batch_size = "full")'
)


def test_a_batch_larger_than_the_training_split_is_said_once_in_one_line(in_a_folder):
    (in_a_folder / "run.toml").write_text(RUN)
    result = CliRunner().invoke(main, ["train", "run.toml", "--set", "train.batch_size=1000"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [BATCH_WARNING.format(file="run.toml")]
    assert "completed after 3 epochs" in result.stdout


def test_a_study_says_it_once_for_all_its_trials(in_a_folder):
    study = study_file(
        [], study={"sampler": '"grid"'}, params={"train.batch_size": "{ choices = [1000, 16] }"}
    )
    (in_a_folder / "study.toml").write_text(study.files["study.toml"])
    args = ["study", "run", "study.toml", "--storage", "new.journal", "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [BATCH_WARNING.format(file="study.toml")]
    assert "2 complete" in result.stdout
