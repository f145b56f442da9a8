"""Evaluating a forecaster bundle on any Pushshift-style dump (``eval-forecaster``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from models.forecaster.model import Forecaster
from models.forecaster.ranking import evaluate
from training.forecaster.dataset import Examples

__all__ = ["ORDER_KEYS", "eval_json", "predict_examples"]

#: Keys an order-only reference (no values) can have.
ORDER_KEYS = (
    "spearman",
    "pairwise_acc",
    "pairwise_acc_time_matched",
    "ndcg5",
    "pairwise_acc_post_macro",
)
_ALL_KEYS = ("mse", "r2") + ORDER_KEYS


def predict_examples(
    fc: Forecaster,
    ex: Examples,
    empathy: Sequence[Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for post, idx in ex.by_post():
        emp = [empathy[i] for i in idx] if empathy is not None else None
        ctx = [ex.context[i] for i in idx] if ex.context else None
        preds = fc.predict_models(post, [ex.tlcs[i] for i in idx], emp, ctx)
        for k, v in preds.items():
            out.setdefault(k, np.zeros(len(ex)))[idx] = v
        if progress is not None:
            progress(len(idx))
    return out


def _clean(d: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {
        k: (None if d[k] is None or not np.isfinite(d[k]) else round(float(d[k]), 6)) for k in keys
    }


def eval_json(ex: Examples, preds: dict[str, np.ndarray], n_boot: int = 0) -> dict[str, Any]:
    """The ``eval-forecaster --json`` object (issue 4)."""
    y, _, score, created, groups = ex.arrays()
    res = {k: evaluate(y, v, groups, created, n_boot=n_boot) for k, v in preds.items()}
    res["chronological"] = evaluate(y, -created, groups, created, n_boot=n_boot)
    res["reddit_order"] = evaluate(y, score, groups, created, n_boot=n_boot)
    out: dict[str, Any] = {"n_tlc": len(ex), "n_posts": len(ex.posts)}
    out |= _clean(res["main"], _ALL_KEYS)
    out["baselines"] = {k: _clean(res[k], _ALL_KEYS) for k in ("mean", "ridge", "gbm")}
    out["baselines"] |= {k: _clean(res[k], ORDER_KEYS) for k in ("reddit_order", "chronological")}
    return out
