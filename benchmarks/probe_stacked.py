"""Probe: how much faster are K trials trained as one array program ("stacked trials")?

Not a feature, a measurement for planning: the sweep targets need cheaper trials, and the design
notes propose stacking trials that share a shape, with hyperparameters on a leading trial axis.
This probe trains seed 000's workload (breast cancer, 30-16-1 ReLU/sigmoid, batch 32, dropout,
L2, SGD, evaluation of the validation split every epoch) for K trials at once, using sweepnp's
own built-in plugin objects built with per-trial array hyperparameters (lr, λ, dropout rate of
shape (K, 1, 1)), and compares trial-epochs per second with sweepnp's ordinary one-trial Trainer.

    python benchmarks/probe_stacked.py [--epochs 100] [--ks 1 4 8 16 32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.special import expit

import sweepnp
from sweepnp.config import parse
from sweepnp.plugins import PluginManager
from sweepnp.trainer import load_data

BASE = {
    "data": {"dataset": "breast_cancer", "test_size": 0.2, "val_size": 0.2, "seed": 42},
    "model": {"task": "binary", "hidden": [16], "init": {"name": "normal", "std": 0.01}},
    "train": {"epochs": 100, "batch_size": 32, "seed": 0},
    "optimizer": {"name": "sgd", "lr": 0.05},
    "regularizers": {"l2": {"lam": 0.001}, "dropout": {"rate": 0.1}},
    "callbacks": {"divergence_guard": False, "diagnosis": False},
}


def one_trial_seconds_per_epoch(epochs: int) -> float:
    """sweepnp's ordinary Trainer, one trial (the same evaluation: all splits every epoch)."""
    trainer = sweepnp.Trainer({**BASE, "train": {**BASE["train"], "epochs": epochs}})
    started = time.perf_counter()
    trainer.fit()
    return (time.perf_counter() - started) / epochs


def stacked_seconds_per_trial_epoch(k: int, epochs: int, pm: PluginManager) -> float:
    """K trials as one array program: params (K, in, out), per-trial shuffles and masks."""
    splits = load_data(parse(BASE), pm)
    X, y = splits.X_train, splits.y_train
    evaluated = [(X, y), (splits.X_val, splits.y_val), (splits.X_test, splits.y_test)]
    rng = np.random.default_rng(0)
    lr = rng.uniform(0.01, 0.1, (k, 1, 1))
    lam = 10 ** rng.uniform(-5, -1, (k, 1, 1))
    rate = rng.uniform(0.0, 0.5, (k, 1, 1))
    registry = pm.registry
    optimizer = registry["optimizers"]["sgd"].factory(lr=0.05)
    l2 = registry["regularizers"]["l2"].factory(lam=lam)
    dropout = registry["regularizers"]["dropout"].factory(rate=rate)
    params = {
        "W1": rng.standard_normal((k, 30, 16)) * 0.01,
        "b1": np.zeros((k, 1, 16)),
        "W2": rng.standard_normal((k, 16, 1)) * 0.01,
        "b2": np.zeros((k, 1, 1)),
    }
    optimizer.setup(params, ("W1", "W2"))
    n, batch = len(X), 32
    trial_rngs = [np.random.default_rng(i) for i in range(k)]
    started = time.perf_counter()
    for _ in range(epochs):
        order = np.stack([r.permutation(n) for r in trial_rngs])  # each trial its own shuffle
        for start in range(0, n, batch):
            index = order[:, start : start + batch]
            xb, yb = X[index], y[index]  # (K, B, 30), (K, B, 1)
            z1 = xb @ params["W1"] + params["b1"]
            h = np.maximum(z1, 0)
            mask = dropout.mask(h.shape, rng, h.dtype)  # per-trial rates broadcast over K
            a1 = h * mask
            z2 = a1 @ params["W2"] + params["b2"]
            dz2 = (expit(z2) - yb) / xb.shape[1]
            grads = {
                "W2": a1.transpose(0, 2, 1) @ dz2,
                "b2": dz2.sum(axis=1, keepdims=True),
            }
            da1 = (dz2 @ params["W2"].transpose(0, 2, 1)) * mask * (z1 > 0)
            grads["W1"] = xb.transpose(0, 2, 1) @ da1
            grads["b1"] = da1.sum(axis=1, keepdims=True)
            for name in ("W1", "W2"):
                grads[name] += l2.gradient(params[name])
            optimizer.step(params, grads, lr)
        for split_x, split_y in evaluated:  # every split every epoch, as the Trainer does
            logits = np.maximum(split_x @ params["W1"] + params["b1"], 0) @ params["W2"]
            logits += params["b2"]
            np.mean(np.logaddexp(0, logits) - split_y * logits, axis=(1, 2))
            np.mean((logits > 0) == (split_y > 0.5), axis=(1, 2))
    return (time.perf_counter() - started) / (epochs * k)


def stacking_is_bit_identical(k: int = 8, seed: int = 0) -> bool:
    """Whether the array operations of a dense layer's forward and backward pass give each
    trial of a stack exactly (bit for bit) what they give that trial alone.

    If so, a stacked trial reproduces exactly with the ordinary one-trial Trainer.
    """
    rng = np.random.default_rng(seed)
    for rows, fan_in, fan_out in [(16, 30, 16), (21, 30, 16), (341, 30, 16), (128, 16, 1)]:
        a = rng.standard_normal((k, rows, fan_in))
        w = rng.standard_normal((k, fan_in, fan_out))
        d = rng.standard_normal((k, rows, fan_out))
        x = rng.standard_normal((rows, fan_in))
        stacked = {
            "forward": a @ w,
            "broadcast forward": x @ w,
            "weight gradient": a.transpose(0, 2, 1) @ d,
            "input gradient": d @ w.transpose(0, 2, 1),
            "bias gradient": d.sum(axis=1),
            "mean loss": d.mean(axis=(1, 2)),
        }
        for i in range(k):
            alone = {
                "forward": a[i] @ w[i],
                "broadcast forward": x @ w[i],
                "weight gradient": a[i].T @ d[i],
                "input gradient": d[i] @ w[i].T,
                "bias gradient": d[i].sum(axis=0),
                "mean loss": d[i].mean(),
            }
            for name, value in alone.items():
                if not np.array_equal(stacked[name][i], value):
                    print(f"not bit-identical: {name}, {rows}x{fan_in}->{fan_out}, trial {i}")
                    return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    args = parser.parse_args()
    pm = PluginManager(load_entrypoints=False)
    print(f"stacked results bit-identical to one trial's: {stacking_is_bit_identical()}")
    one_trial_seconds_per_epoch(5)  # warm up
    single = min(one_trial_seconds_per_epoch(args.epochs) for _ in range(3))
    print(f"one trial, sweepnp Trainer: {single * 1e3:.3f} ms per epoch")
    for k in args.ks:
        stacked = min(stacked_seconds_per_trial_epoch(k, args.epochs, pm) for _ in range(3))
        print(
            f"K = {k:3d} stacked: {stacked * 1e3:.3f} ms per trial-epoch "
            f"({single / stacked:.2f}x the one-trial Trainer)"
        )


if __name__ == "__main__":
    main()
