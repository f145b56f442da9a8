"""Evaluating a forecaster bundle on any Pushshift-style dump (``eval-forecaster``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from models.forecaster.checkpoint import checkpoint_key
from models.forecaster.evaluation import METRIC_KEYS, ORDER_KEYS, evaluate
from models.forecaster.model import Forecaster
from training.forecaster.dataset import Examples

__all__ = ["eval_json", "predict_examples"]

_ALL_KEYS = METRIC_KEYS


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
        at = {d: x[idx] for d, x in ex.at.items()}
        preds = fc.predict_models(post, [ex.tlcs[i] for i in idx], emp, ctx, at)
        for k, v in preds.items():
            out.setdefault(k, np.zeros(len(ex)))[idx] = v
        if progress is not None:
            progress(len(idx))
    return out


def _clean(d: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """Rounded figures, NaN / inf as ``None``."""
    return {
        k: (None if d[k] is None or not np.isfinite(d[k]) else round(float(d[k]), 6)) for k in keys
    }


def eval_json(
    ex: Examples, preds: dict[str, np.ndarray], n_boot: int = 0, target: str | None = None
) -> dict[str, Any]:
    """The ``eval-forecaster --json`` object: the forecast at creation (top level) against
    its baselines and the reference orders, and ``by_checkpoint``: the same figures for the
    forecast at creation (``"0"``) and each re-forecast (``preds["checkpoint_<delay>"]``),
    each beside the mean, chronological and Reddit-order references."""
    y, _, score, created, groups = ex.arrays()

    def ev(v: np.ndarray) -> dict[str, Any]:
        return evaluate(y, v, groups, created, n_boot=n_boot, seed=1)

    res = {k: ev(v) for k, v in preds.items()}
    res["chronological"] = ev(-created)
    res["reddit_order"] = ev(score)
    refs = {"mean": _clean(res["mean"], _ALL_KEYS)} | {
        k: _clean(res[k], ORDER_KEYS) for k in ("chronological", "reddit_order")
    }

    def block(k: str) -> dict[str, Any]:
        out = {"n_tlc": len(ex), "n_posts": len(ex.posts)} | _clean(res[k], _ALL_KEYS)
        if n_boot:
            out["ci"] = res[k].get("ci")
        return out

    out: dict[str, Any] = {"target": target} | block("main")
    out["baselines"] = {k: _clean(res[k], _ALL_KEYS) for k in ("mean", "ridge", "gbm")}
    out["baselines"] |= {k: _clean(res[k], ORDER_KEYS) for k in ("reddit_order", "chronological")}
    by_cp = {"0": block("main") | {"baselines": refs}}
    for k in preds:
        if k.startswith("checkpoint_"):
            by_cp[checkpoint_key(int(k.split("_", 1)[1]))] = block(k) | {"baselines": refs}
    out["by_checkpoint"] = dict(sorted(by_cp.items(), key=lambda kv: int(kv[0])))
    if n_boot:
        out["baselines_ci"] = {
            k: res[k].get("ci") for k in ("mean", "chronological", "reddit_order")
        }
    return out
