"""Forecast quality: the one module that scores forecasts and orders of a post's TLCs.

Used by training reports, ``prosocial-train eval-forecaster`` and the service's evaluator
stage alike, so live figures and training figures mean the same thing. Reference orders
(chronological, Reddit's) are scored by the same code as forecasts, as keys where higher =
shown first (``-created_utc``, the score).

All figures are computed per post and then aggregated, so a bootstrap over posts (the unit of
the split) is a cheap re-weighting of per-post sums:

* ``pairwise_acc``: over pairs of TLCs of one post whose outcomes differ, the share where the
  higher forecast has the higher outcome (forecast ties count ½).
* ``pairwise_acc_time_matched``: the same over pairs posted within ``match_s`` seconds of each
  other (there "earlier is better" cannot help).
* ``pairwise_acc_post_macro``: the mean over posts (with ≥1 such pair) of each post's own
  pairwise accuracy — every post counts once, so a post with thousands of TLCs (∝ TLCs² pairs)
  cannot dominate it the way it dominates ``pairwise_acc``.
* ``ndcg5``: NDCG@5 of the forecast order, gains = outcome − the post's lowest outcome
  (posts with ≥2 TLCs and differing outcomes).
* ``spearman``: mean per-post Spearman ρ between forecast and outcome (posts with ≥3 TLCs and
  differing outcomes; a constant forecast scores 0).
* ``mse`` / ``r2`` over all TLCs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "METRIC_KEYS",
    "ORDER_KEYS",
    "PostStats",
    "evaluate",
    "figures",
    "ndcg_at_k",
    "paired_margins",
    "post_stats",
    "summarize",
]

METRIC_KEYS = (
    "mse",
    "r2",
    "spearman",
    "pairwise_acc",
    "pairwise_acc_time_matched",
    "ndcg5",
    "pairwise_acc_post_macro",
)
#: The figures an order (no values, e.g. chronological) has: everything but MSE / R².
ORDER_KEYS = tuple(k for k in METRIC_KEYS if k not in ("mse", "r2"))


def ndcg_at_k(y: np.ndarray, pred: np.ndarray, k: int = 5) -> float:
    """NDCG@k of ordering ``y`` by ``pred`` descending (ties broken by position)."""
    gains = np.asarray(y, dtype=np.float64) - float(np.min(y))
    order = np.argsort(-np.asarray(pred, dtype=np.float64), kind="stable")[:k]
    ideal = np.sort(gains)[::-1][:k]
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    idcg = float((ideal * disc[: len(ideal)]).sum())
    if idcg <= 0:
        return float("nan")
    return float((gains[order] * disc[: len(order)]).sum() / idcg)


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties averaged (``scipy.stats.rankdata``'s default, without its
    per-call overhead: this runs once per post and evaluation)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    first = np.r_[True, xs[1:] != xs[:-1]]
    starts = np.flatnonzero(np.r_[first, True])
    ranks = np.empty(len(x))
    ranks[order] = ((starts[:-1] + starts[1:] + 1) / 2.0)[np.cumsum(first) - 1]
    return ranks


def _pairs(
    y: np.ndarray, p: np.ndarray, t: np.ndarray, match_s: float
) -> tuple[float, float, float, float]:
    """Correctly ordered pairs (a tie in ``p`` counts half) and pairs with different ``y``:
    over all pairs, then over the time-matched ones (``t`` at most ``match_s`` apart)."""
    i, j = np.triu_indices(len(y), 1)
    dy, dp = np.sign(y[i] - y[j]), np.sign(p[i] - p[j])
    valid = dy != 0
    score = np.where(dp == 0, 0.5, (dy == dp).astype(np.float64))
    close = valid & (np.abs(t[i] - t[j]) <= match_s)
    return (
        float(score[valid].sum()),
        float(valid.sum()),
        float(score[close].sum()),
        float(close.sum()),
    )


@dataclass
class PostStats:
    """Per-post additive statistics (arrays indexed by post)."""

    n: np.ndarray
    sum_y: np.ndarray
    sum_y2: np.ndarray
    sse: np.ndarray
    pair_ok: np.ndarray
    pair_n: np.ndarray
    tm_ok: np.ndarray
    tm_n: np.ndarray
    ndcg: np.ndarray  # nan where undefined
    rho: np.ndarray  # nan where undefined


def post_stats(
    y: np.ndarray, pred: np.ndarray, groups: np.ndarray, times: np.ndarray, match_s: float = 600.0
) -> PostStats:
    y = np.asarray(y, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    order = np.argsort(groups, kind="stable")
    g_sorted = np.asarray(groups)[order]
    bounds = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1], True])
    m = len(bounds) - 1
    cols = {
        k: np.zeros(m)
        for k in ("n", "sum_y", "sum_y2", "sse", "pair_ok", "pair_n", "tm_ok", "tm_n")
    }
    ndcg = np.full(m, np.nan)
    rho = np.full(m, np.nan)
    for j in range(m):
        idx = order[bounds[j] : bounds[j + 1]]
        yy, pp, tt = y[idx], pred[idx], times[idx]
        cols["n"][j] = len(idx)
        cols["sum_y"][j] = yy.sum()
        cols["sum_y2"][j] = (yy**2).sum()
        cols["sse"][j] = ((yy - pp) ** 2).sum()
        if len(idx) < 2:
            continue
        (cols["pair_ok"][j], cols["pair_n"][j], cols["tm_ok"][j], cols["tm_n"][j]) = _pairs(
            yy, pp, tt, match_s
        )
        if np.ptp(yy) > 0:
            ndcg[j] = ndcg_at_k(yy, pp)
            if len(idx) >= 3:
                if np.ptp(pp) == 0:
                    rho[j] = 0.0
                else:
                    ry, rp = _ranks(yy), _ranks(pp)
                    ry -= ry.mean()
                    rp -= rp.mean()
                    rho[j] = float(ry @ rp / np.sqrt((ry @ ry) * (rp @ rp)))
    return PostStats(ndcg=ndcg, rho=rho, **cols)


def figures(s: PostStats, w: np.ndarray | None = None) -> dict[str, float]:
    """Every figure of :data:`METRIC_KEYS` from per-post statistics, each post weighted by
    ``w`` (default 1: a bootstrap resample is a vector of integer weights)."""
    if w is None:
        w = np.ones(len(s.n))
    n = (w * s.n).sum()
    sy, sy2, sse = (w * s.sum_y).sum(), (w * s.sum_y2).sum(), (w * s.sse).sum()
    sst = sy2 - sy * sy / max(n, 1)

    def ratio(a: np.ndarray, b: np.ndarray) -> float:
        d = (w * b).sum()
        return float((w * a).sum() / d) if d > 0 else float("nan")

    def mean_defined(v: np.ndarray) -> float:
        ok = ~np.isnan(v)
        d = w[ok].sum()
        return float((w[ok] * v[ok]).sum() / d) if d > 0 else float("nan")

    with np.errstate(invalid="ignore", divide="ignore"):
        per_post = np.where(s.pair_n > 0, s.pair_ok / np.maximum(s.pair_n, 1), np.nan)
    return {
        "mse": float(sse / max(n, 1)),
        "r2": float(1 - sse / sst) if sst > 0 else float("nan"),
        "spearman": mean_defined(s.rho),
        "pairwise_acc": ratio(s.pair_ok, s.pair_n),
        "pairwise_acc_time_matched": ratio(s.tm_ok, s.tm_n),
        "ndcg5": mean_defined(s.ndcg),
        "pairwise_acc_post_macro": mean_defined(per_post),
    }


def summarize(s: PostStats, n_boot: int = 0, seed: int = 0, alpha: float = 0.05) -> dict[str, Any]:
    """Point estimates; with ``n_boot`` > 0 also ``ci`` = {metric: [lo, hi]} (percentile
    bootstrap over posts)."""
    out: dict[str, Any] = figures(s)
    out["n_pairs"] = int(s.pair_n.sum())
    out["n_pairs_time_matched"] = int(s.tm_n.sum())
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        m = len(s.n)
        draws = [
            figures(s, np.bincount(rng.integers(0, m, m), minlength=m).astype(np.float64))
            for _ in range(n_boot)
        ]
        out["ci"] = {
            k: [
                float(np.nanquantile([d[k] for d in draws], alpha / 2)),
                float(np.nanquantile([d[k] for d in draws], 1 - alpha / 2)),
            ]
            for k in METRIC_KEYS
        }
    return out


def evaluate(
    y: np.ndarray,
    pred: np.ndarray,
    groups: np.ndarray,
    times: np.ndarray,
    n_boot: int = 0,
    seed: int = 0,
    match_s: float = 600.0,
) -> dict[str, Any]:
    return summarize(post_stats(y, pred, groups, times, match_s), n_boot=n_boot, seed=seed)


def paired_margins(
    y: np.ndarray,
    preds: dict[str, np.ndarray],
    groups: np.ndarray,
    times: np.ndarray,
    n_boot: int,
    orders: tuple[str, ...] = ("chronological", "reddit_order"),
    reference: str = "main",
    seed: int = 5,
) -> dict[str, Any]:
    """95% bootstrap intervals (over posts, paired: the same resampled posts) of
    ``reference``'s margin over every other prediction in ``preds``; ``orders`` get no R²
    / MSE margin (they are not forecasts)."""
    stats = {k: post_stats(y, v, groups, times) for k, v in preds.items()}
    m = len(stats[reference].n)
    rng = np.random.default_rng(seed)
    ws = [np.bincount(rng.integers(0, m, m), minlength=m).astype(np.float64) for _ in range(n_boot)]
    base = [figures(stats[reference], w) for w in ws]
    out: dict[str, Any] = {}
    for k in preds:
        if k in (reference, "oracle"):
            continue
        other = [figures(stats[k], w) for w in ws]
        keys = [x for x in METRIC_KEYS if x != "mse"]
        d: dict[str, list[float]] = {}
        for metric in (x for x in keys if not (k in orders and x == "r2")):
            diffs = [b[metric] - o[metric] for b, o in zip(base, other)]
            if n_boot:
                d[metric] = [
                    float(np.nanquantile(diffs, 0.025)),
                    float(np.nanquantile(diffs, 0.975)),
                ]
        out[k] = d
    return out
