"""Gradient clipping, by global norm or by value, applied between backward pass and update.

Run-file use::

    [callbacks.gradient_clipping]
    by = "norm"
    threshold = 1.0
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from sweepnp import Callback, hookimpl, options

__all__ = ["GradientClipping"]


class GradientClipping(Callback):
    r"""Clip every mini-batch's gradients before the optimizer sees them.

    Parameters
    ----------
    by : {"norm", "value"}, default "norm"
        ``norm`` rescales all gradients together when their global L2 norm exceeds
        ``threshold``; ``value`` caps every gradient entry to ``[-threshold, threshold]``.
    threshold : float, default 1.0
        The largest allowed global norm, or the largest allowed absolute entry (> 0).

    Notes
    -----
    For gradients :math:`g_1, \dots, g_k` (one array per parameter), clipping by norm computes
    the global norm :math:`\|g\| = \sqrt{\sum_i \|g_i\|_2^2}` and scales every :math:`g_i` by

    .. math:: \frac{\tau}{\max(\|g\|, \tau)},

    which leaves gradients with :math:`\|g\| \le \tau` unchanged and keeps the direction of the
    others, as ``torch.nn.utils.clip_grad_norm_`` does [1]_. Clipping by value replaces each
    entry by :math:`\min(\max(g, -\tau), \tau)` and may change the direction.

    The norm is computed without overflow: when the sum of squares overflows, it is recomputed
    on gradients divided by their largest absolute entry. A non-finite gradient makes the norm
    NaN and every scaled gradient NaN, so the divergence guard ends the run.

    This is exercise 6 of the "How neural networks learn" chapter (seed 003).

    References
    ----------
    .. [1] R. Pascanu, T. Mikolov and Y. Bengio, "On the difficulty of training recurrent
       neural networks", ICML 2013.
    """

    stackable = True  # proven by the contract kit's test_trains_stacked_as_alone

    def __init__(self, by: Literal["norm", "value"] = "norm", threshold: float = 1.0) -> None:
        options.one_of("by", by, ("norm", "value"))
        options.positive("threshold", threshold)
        self.by = by
        self.threshold = float(threshold)

    def on_before_optimizer_step(self, grads: dict[str, np.ndarray]) -> None:
        t = self.threshold
        if self.by == "value":
            for g in grads.values():
                np.clip(g, -t, t, out=g)
            return
        norm = global_norm(grads.values())
        if norm > t or math.isnan(norm):
            scale = t / norm
            for g in grads.values():
                g *= scale


def global_norm(arrays) -> float:
    """The L2 norm of all ``arrays`` taken together, as if concatenated (overflow-safe)."""
    arrays = list(arrays)
    total = math.fsum(float(np.vdot(a, a)) for a in arrays)
    if math.isfinite(total):
        return math.sqrt(total)
    if not all(np.isfinite(a).all() for a in arrays):
        return math.nan
    peak = max(float(np.max(np.abs(a))) for a in arrays if a.size)
    return peak * math.sqrt(math.fsum(float(np.vdot(a / peak, a / peak)) for a in arrays))


@hookimpl
def sweepnp_register_callbacks():
    return {"gradient_clipping": GradientClipping}
