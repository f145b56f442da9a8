"""Champion against challenger on the same back-filled outcomes (``prosocial models compare``).

The champion's forecasts are the stored scores (:class:`ScoreRow`), the challenger's the
shadow scores (:class:`ShadowScoreRow`); only TLCs that both scored and that have an outcome
count, so both are judged on exactly the same conversations. Figures per subreddit and overall
(``*``) are those of the forecaster evaluation (R², pairwise accuracy, time-matched pairwise
accuracy, NDCG@5, per-post Spearman; :mod:`models.forecaster.evaluation`) with percentile
bootstrap CIs over posts, plus the *paired* bootstrap of challenger − champion (the same
resampled posts for both), which is what the promotion gate reads.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import select

from models.forecaster.evaluation import METRIC_KEYS, PostStats, figures, post_stats, summarize
from streaming.stages.shadow import shadow_key
from streaming.storage import OutcomeRow, ScoreRow, SessionFactory, ShadowScoreRow

__all__ = ["compare_models", "paired_difference"]

logger = logging.getLogger(__name__)


def paired_difference(
    champion: PostStats, challenger: PostStats, n_boot: int, seed: int = 0, alpha: float = 0.05
) -> dict[str, Any]:
    """challenger − champion per metric: point estimate and a percentile bootstrap CI over
    posts, resampling the same posts for both."""
    a, b = summarize(champion), summarize(challenger)
    out: dict[str, Any] = {"diff": {k: b[k] - a[k] for k in METRIC_KEYS}}
    if n_boot > 0 and len(champion.n) > 1:
        rng = np.random.default_rng(seed)
        m = len(champion.n)
        draws: dict[str, list[float]] = defaultdict(list)
        for _ in range(n_boot):
            w = np.bincount(rng.integers(0, m, m), minlength=m).astype(np.float64)
            da, db = figures(champion, w), figures(challenger, w)
            for k in METRIC_KEYS:
                draws[k].append(db[k] - da[k])
        out["ci"] = {
            k: [
                float(np.nanquantile(v, alpha / 2)) if not np.all(np.isnan(v)) else float("nan"),
                float(np.nanquantile(v, 1 - alpha / 2))
                if not np.all(np.isnan(v))
                else float("nan"),
            ]
            for k, v in draws.items()
        }
    return out


def _rows(
    sessions: SessionFactory,
    model: str,
    challenger: str,
    champion: str | None,
    since: int | None,
    until: int | None,
    subreddits: Sequence[str],
    target: str = "trajectory",
) -> tuple[list[tuple[Any, ...]], str | None]:
    outcome = OutcomeRow.safe if target == "safe" else OutcomeRow.trajectory
    with sessions() as s:
        query = (
            select(
                ScoreRow.subreddit,
                ScoreRow.post_name,
                ScoreRow.created_utc,
                ScoreRow.forecast,
                ShadowScoreRow.forecast,
                outcome,
                ScoreRow.forecaster_version,
            )
            .join(ShadowScoreRow, ShadowScoreRow.tlc_name == ScoreRow.tlc_name)
            .join(OutcomeRow, OutcomeRow.tlc_name == ScoreRow.tlc_name)
            .where(
                ShadowScoreRow.challenger == shadow_key(model, challenger),
                ScoreRow.forecast.is_not(None),
                ShadowScoreRow.forecast.is_not(None),
                outcome.is_not(None),
            )
        )
        if since is not None:
            query = query.where(ScoreRow.created_utc >= since)
        if until is not None:
            query = query.where(ScoreRow.created_utc < until)
        rows: list[tuple[Any, ...]] = [tuple(r) for r in s.execute(query)]
    subs = {x.lower() for x in subreddits}
    if subs:
        rows = [r for r in rows if r[0].lower() in subs]
    if champion is None and rows:
        champion = Counter(r[6] for r in rows).most_common(1)[0][0]
    rows = [r for r in rows if r[6] == champion]
    return rows, champion


def compare_models(
    sessions: SessionFactory,
    *,
    challenger: str,
    model: str = "forecaster",
    champion: str | None = None,
    since: int | None = None,
    until: int | None = None,
    subreddits: Sequence[str] = (),
    n_boot: int = 200,
    seed: int = 0,
    match_s: float = 600.0,
    trained_on: dict[str, Any] | None = None,
    target: str = "trajectory",
) -> dict[str, Any]:
    """The comparison report: ``{"champion", "challenger", "window", "by_subreddit": {sub:
    {"n_tlcs", "n_posts", "champion": figures, "challenger": figures, "paired": {...}}}}``.

    ``trained_on`` (the challenger's training window, from the registry's audit log) sets
    ``overlap`` when the compared posts may include ones the challenger trained on; ``target``
    is the outcome both forecast (``trajectory`` or ``safe``)."""
    with warnings.catch_warnings():
        # bootstrap draws of a metric undefined on a small subreddit are all NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        rows, champion = _rows(
            sessions, model, challenger, champion, since, until, subreddits, target
        )
        by_sub: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for r in rows:
            by_sub[r[0]].append(r)
        report: dict[str, Any] = {
            "model": model,
            "champion": champion,
            "challenger": challenger,
            "window": {"since": since, "until": until, "subreddits": sorted(subreddits)},
            "n_boot": n_boot,
            "by_subreddit": {},
        }
        for sub, rs in [*sorted(by_sub.items()), ("*", rows)]:
            if not rs:
                continue
            y = np.array([r[5] for r in rs], dtype=np.float64)
            groups = np.array([r[1] for r in rs])
            times = np.array([r[2] for r in rs], dtype=np.float64)
            a = post_stats(y, np.array([r[3] for r in rs]), groups, times, match_s)
            b = post_stats(y, np.array([r[4] for r in rs]), groups, times, match_s)
            report["by_subreddit"][sub] = {
                "n_tlcs": len(rs),
                "n_posts": len(a.n),
                "n_posts_with_pairs": int((a.pair_n > 0).sum()),
                "champion": summarize(a, n_boot=n_boot, seed=seed),
                "challenger": summarize(b, n_boot=n_boot, seed=seed),
                "paired": paired_difference(a, b, n_boot, seed=seed),
            }
        logger.info(
            "compare %s: champion %s vs challenger %s on %d TLCs",
            model,
            champion,
            challenger,
            len(rows),
        )
    report["target"] = target
    report["challenger_trained_on"] = trained_on
    report["overlap"] = _overlaps(trained_on, since, until)
    return report


def _overlaps(trained_on: dict[str, Any] | None, since: int | None, until: int | None) -> bool:
    """Whether [since, until) of TLC times may hold posts of the training window [a, b) of
    post times (a TLC is never older than its post)."""
    if not trained_on:
        return False
    a, b = trained_on.get("since"), trained_on.get("until")
    if b is None:
        return True
    lo = -float("inf") if since is None else since
    hi = float("inf") if until is None else until
    return lo < b and (a is None or hi > a)
