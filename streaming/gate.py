"""The promotion gate: promote a challenger only on evidence (``prosocial models promote``).

Reads a comparison report (:func:`streaming.compare.compare_models`). A challenger passes iff

* on **no** subreddit with at least ``min_posts`` posts that have pairs is it worse beyond
  noise on any of ``guard_metrics``: the upper end of the paired bootstrap CI of challenger −
  champion is below ``-tolerance``; and
* **overall** (``*``) it is better on ``primary``: the paired difference exceeds ``min_gain``
  (and, with ``require_significant``, its CI lies above 0).

A comparison whose window overlaps the challenger's training window (``overlap``) is no
evidence: refused. Thresholds come from :class:`GateThresholds` (options of ``promote``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["GateDecision", "GateThresholds", "decide"]


@dataclass(frozen=True)
class GateThresholds:
    primary: str = "pairwise_acc"
    guard_metrics: tuple[str, ...] = ("pairwise_acc", "pairwise_acc_time_matched")
    min_posts: int = 20
    tolerance: float = 0.0
    min_gain: float = 0.0
    require_significant: bool = False


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reasons: list[str]
    thresholds: dict[str, Any]
    checked_subreddits: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def decide(report: dict[str, Any], th: GateThresholds | None = None) -> GateDecision:
    th = th or GateThresholds()
    reasons: list[str] = []
    checked: list[str] = []
    ok = True
    subs = report.get("by_subreddit", {})
    overall = subs.get("*")
    if report.get("overlap"):
        return GateDecision(
            False,
            ["the compared window overlaps the challenger's training window"],
            asdict(th),
            [],
        )
    if overall is None:
        return GateDecision(False, ["no TLC scored by both with an outcome"], asdict(th), [])
    for sub, r in subs.items():
        if sub == "*" or r.get("n_posts_with_pairs", 0) < th.min_posts:
            continue
        checked.append(sub)
        ci = r["paired"].get("ci", {})
        for m in th.guard_metrics:
            hi = (ci.get(m) or [math.nan, math.nan])[1]
            if not _nan(hi) and hi < -th.tolerance:
                ok = False
                reasons.append(
                    f"r/{sub}: worse on {m} beyond noise (challenger − champion "
                    f"{r['paired']['diff'][m]:+.4f}, CI upper {hi:+.4f} < {-th.tolerance:+.4f})"
                )
    d = overall["paired"]["diff"].get(th.primary)
    lo = (overall["paired"].get("ci", {}).get(th.primary) or [math.nan, math.nan])[0]
    if _nan(d) or d <= th.min_gain:
        ok = False
        reasons.append(
            f"overall: not better on {th.primary} "
            f"(challenger − champion {d if _nan(d) else f'{d:+.4f}'} ≤ {th.min_gain:+.4f})"
        )
    elif th.require_significant and (_nan(lo) or lo <= 0):
        ok = False
        reasons.append(f"overall: gain on {th.primary} {d:+.4f} not significant (CI low {lo:+.4f})")
    if ok:
        reasons.append(
            f"overall {th.primary} {d:+.4f}; not worse beyond noise on "
            f"{len(checked)} subreddit(s) with ≥ {th.min_posts} posts"
        )
    return GateDecision(ok, reasons, asdict(th), checked)
