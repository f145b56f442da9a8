"""Per-TLC sample weights that keep a few huge posts from dominating a fit or a validation.

A post with n TLCs contributes n rows (and ∝ n² ranking pairs); on reddit-college one
validation post holds 9,662 TLCs, 98.7% of all validation pairs. Schemes (each TLC gets
a weight from its post's TLC count n, then weights are scaled to mean 1 so XGBoost's
``min_child_weight`` / ``lambda`` keep their scale):

* ``none``: 1 (every TLC counts once, a post counts n);
* ``sqrt``: 1/√n (a post's total weight grows as √n);
* ``capC`` (e.g. ``cap25``): min(1, C/n) (a post's total weight is at most C).

:data:`VAL_SCHEME` is the fixed weighting of the validation objective (early stopping and
the choice between training schemes), the same for every candidate so they are compared on
one yardstick.
"""

from __future__ import annotations

import os

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "DEFAULT_SCHEMES",
    "VAL_SCHEME",
    "post_sizes",
    "post_weights",
    "train_threads",
    "weighted_mse",
]

#: Training weightings the main model chooses from (on the validation objective).
DEFAULT_SCHEMES = ("none", "sqrt", "cap25")
#: The validation objective's weighting (shared by every candidate).
VAL_SCHEME = "sqrt"


def train_threads() -> int:
    """Threads a training job may use (XGBoost ``nthread``, torch): ``PROSOCIAL_TRAIN_THREADS``
    (set by ``prosocial-train forecaster --threads``), default 2."""
    try:
        return max(1, int(os.environ.get("PROSOCIAL_TRAIN_THREADS", "2")))
    except ValueError:
        return 2


def post_sizes(groups: ArrayLike) -> np.ndarray:
    """Each row's count of rows with the same group (post) id."""
    _, inv, counts = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    return counts[inv].astype(np.float64)


def post_weights(groups: ArrayLike, scheme: str = VAL_SCHEME) -> np.ndarray:
    """Per-row weights (mean 1) of ``scheme`` for rows whose post ids are ``groups``."""
    n = post_sizes(groups)
    if len(n) == 0:
        return n
    if scheme == "none":
        w = np.ones_like(n)
    elif scheme == "sqrt":
        w = 1.0 / np.sqrt(n)
    elif scheme.startswith("cap"):
        try:
            cap = float(scheme[3:])
        except ValueError:
            raise ValueError(f"unknown weight scheme {scheme!r}") from None
        if cap <= 0:
            raise ValueError(f"cap must be positive: {scheme!r}")
        w = np.minimum(1.0, cap / n)
    else:
        raise ValueError(f"unknown weight scheme {scheme!r} (none, sqrt, capC)")
    return w * (len(w) / w.sum())


def weighted_mse(y: np.ndarray, pred: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * (np.asarray(y) - np.asarray(pred)) ** 2) / np.sum(w))
