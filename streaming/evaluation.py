"""Forecast-quality figures (DESIGN.md §6): MSE, R², Spearman, pairwise accuracy within a
post, NDCG of an order against the outcome order.

Rank figures take *groups* (one per post): a list of ``(predicted_key, outcome)`` where a
higher key means "shown earlier". Reference orders (Reddit's, chronological) are expressed
as keys too (``-rank``), so they are scored by exactly the same code as the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import spearmanr

__all__ = ["mean_within_spearman", "mse", "ndcg", "pairwise_accuracy", "r2", "spearman"]

Group = Sequence[tuple[float, float]]


def mse(pred: Sequence[float], true: Sequence[float]) -> float:
    p, t = np.asarray(pred, float), np.asarray(true, float)
    return float(np.mean((p - t) ** 2)) if len(p) else math.nan


def r2(pred: Sequence[float], true: Sequence[float]) -> float:
    p, t = np.asarray(pred, float), np.asarray(true, float)
    if len(t) < 2:
        return math.nan
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    return 1.0 - float(np.sum((p - t) ** 2)) / ss_tot if ss_tot > 0 else math.nan


def spearman(pred: Sequence[float], true: Sequence[float]) -> float:
    if len(pred) < 3 or len(set(pred)) < 2 or len(set(true)) < 2:
        return math.nan
    return float(spearmanr(pred, true).statistic)


def pairwise_accuracy(groups: Sequence[Group]) -> float:
    """Share of within-post pairs with different outcomes that the keys order correctly
    (key ties count as half)."""
    right = total = 0.0
    for g in groups:
        for i in range(len(g)):
            for j in range(i + 1, len(g)):
                (ki, yi), (kj, yj) = g[i], g[j]
                if yi == yj:
                    continue
                total += 1
                if ki == kj:
                    right += 0.5
                elif (ki > kj) == (yi > yj):
                    right += 1
    return right / total if total else math.nan


def _dcg(gains: Sequence[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def ndcg(groups: Sequence[Group], k: int | None = 10) -> float:
    """Mean NDCG@k over posts with ≥ 2 TLCs; gains = outcome minus the post's minimum."""
    vals = []
    for g in groups:
        if len(g) < 2:
            continue
        lo = min(y for _, y in g)
        shown = [y - lo for _, y in sorted(g, key=lambda kv: -kv[0])][:k]
        ideal = sorted((y - lo for _, y in g), reverse=True)[:k]
        idcg = _dcg(ideal)
        if idcg > 0:
            vals.append(_dcg(shown) / idcg)
    return float(np.mean(vals)) if vals else math.nan


def mean_within_spearman(groups: Sequence[Group]) -> float:
    vals = [spearman([k for k, _ in g], [y for _, y in g]) for g in groups if len(g) >= 3]
    vals = [v for v in vals if not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan
