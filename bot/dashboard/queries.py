"""What the dashboard's pages read from the service's database (one function per page).

Every function takes the subreddit as stored (its display name) and reads only that
subreddit's rows; the queries use the indexes of migration 0050 (latest suggestion per post,
seekers by age) and the tables' own indexes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.reddit_order import GONE_BODIES, Fresh, current_orders
from bot.suggestions import rank_distance
from streaming.storage import (
    EvaluationRow,
    OutcomeRow,
    PostRow,
    ScoreRow,
    SuggestionRow,
    TlcRow,
)
from streaming.storage.queries import dead_letter_kinds, latest_revisions

__all__ = [
    "QUALITY_METRICS",
    "PostView",
    "QueueItem",
    "Seeker",
    "TlcView",
    "figure",
    "health",
    "post_view",
    "quality",
    "queue",
    "seekers",
    "watched_subreddits",
]

#: (label, the evaluator's keys for it, newest name first) of the figures the quality page plots
QUALITY_METRICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pairwise accuracy", ("pairwise_acc", "pairwise_accuracy")),
    ("pairwise accuracy, time-matched pairs", ("pairwise_acc_time_matched",)),
    ("NDCG", ("ndcg5", "ndcg@10")),
    ("Spearman within posts", ("spearman", "spearman_within_post")),
    ("R²", ("r2",)),
)


def figure(figures: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    """The first of ``keys`` that ``figures`` holds a number for."""
    for k in keys:
        v = figures.get(k)
        if isinstance(v, (int, float)):
            return float(v)
    return None


def watched_subreddits(s: Session) -> list[str]:
    """Every subreddit with a stored post, as stored."""
    return sorted(s.scalars(select(PostRow.subreddit).distinct()), key=str.lower)


def _latest(sub: str) -> Any:
    return latest_revisions(sub).subquery()


@dataclass(frozen=True)
class QueueItem:
    post: str
    title: str
    created_utc: int
    n_tlcs: int
    distance: float
    seekers: int
    as_of_utc: int
    top: str | None  # the suggested first TLC


#: (post, revision, made_ms, when Reddit's order was read) → (distance, number of TLCs,
#: suggested first TLC); a stored suggestion revision never changes (idempotent insert), so the
#: figures derived from it and one reading of Reddit's order are computed once per process
#: instead of decoding every order on every page load
SummaryCache = dict[tuple[str, int, int, float], tuple[float, int, str | None]]
#: post → Reddit's current order as last read (:class:`bot.reddit_order.OrderStore.get`)
OrderLookup = Callable[[str], Fresh | None]
_CACHE_MAX = 200_000


def _summaries(
    s: Session,
    keys: list[tuple[str, int, int]],
    cache: SummaryCache,
    orders: OrderLookup | None = None,
) -> dict[tuple[str, int, int], tuple[float, int, str | None]]:
    fresh = {k[0]: orders(k[0]) for k in keys} if orders is not None else {}

    def full(k: tuple[str, int, int]) -> tuple[str, int, int, float]:
        f = fresh.get(k[0])
        return (*k, f[2] if f is not None else 0.0)

    missing = [k for k in keys if full(k) not in cache]
    for i in range(0, len(missing), 500):
        chunk = missing[i : i + 500]
        wanted = {(k[0], k[1]): k for k in chunk}
        for post, rev, order in s.execute(
            select(SuggestionRow.post_name, SuggestionRow.revision, SuggestionRow.order).where(
                SuggestionRow.post_name.in_([k[0] for k in chunk])
            )
        ):
            key = wanted.get((post, rev))
            if key is None:
                continue
            kept, reddit = current_orders(order, fresh.get(post))
            dist = rank_distance(reddit, [o["tlc"] for o in kept])
            cache[full(key)] = (dist, len(kept), kept[0]["tlc"] if kept else None)
    if len(cache) > _CACHE_MAX:
        cache.clear()  # rare: a long-running process over a huge history starts afresh
    return {k: cache[full(k)] for k in keys if full(k) in cache}


def queue(
    s: Session,
    sub: str,
    *,
    min_distance: float = 0.0,
    has_seekers: bool = False,
    limit: int = 50,
    offset: int = 0,
    cache: SummaryCache | None = None,
    orders: OrderLookup | None = None,
) -> tuple[list[QueueItem], int]:
    """Posts with a suggestion, newest first, filtered; ``(page, total after filters)``."""
    cache = {} if cache is None else cache
    latest = _latest(sub)
    rows = s.execute(
        select(
            SuggestionRow.post_name,
            SuggestionRow.revision,
            SuggestionRow.made_ms,
            SuggestionRow.as_of_utc,
            PostRow.title,
            PostRow.created_utc,
        )
        .join(
            latest,
            (SuggestionRow.post_name == latest.c.post_name)
            & (SuggestionRow.revision == latest.c.rev),
        )
        .join(PostRow, PostRow.name == SuggestionRow.post_name)
        .order_by(PostRow.created_utc.desc(), PostRow.name)
    ).all()
    seeking = dict(
        s.execute(
            select(ScoreRow.post_name, func.count())
            .where(ScoreRow.subreddit == sub, ScoreRow.empathy_label == "seeking")
            .group_by(ScoreRow.post_name)
        )
        .tuples()
        .all()
    )
    filtered = min_distance > 0 or has_seekers
    if has_seekers:
        rows = [r for r in rows if seeking.get(r[0])]
    if not filtered or not min_distance:
        total = len(rows)
        rows = rows[offset : offset + limit]  # only the page's orders are needed
    keys = [(r[0], r[1], r[2]) for r in rows]
    summary = _summaries(s, keys, cache, orders)
    items: list[QueueItem] = []
    for post, rev, made, as_of, title, created in rows:
        dist, n, top = summary.get((post, rev, made), (0.0, 0, None))
        if dist < min_distance:
            continue
        items.append(
            QueueItem(post, title, created, n, dist, int(seeking.get(post, 0)), as_of, top)
        )
    if min_distance:
        total = len(items)
        items = items[offset : offset + limit]
    return items, total


@dataclass
class TlcView:
    name: str
    author: str | None
    body: str
    created_utc: int
    score: int
    rank: int
    reddit_rank: int
    forecast: float | None
    lower: float | None
    upper: float | None
    separated: bool
    reasons: list[str]
    empathy_label: str | None
    sentences: list[tuple[str, str]]  # (text, label)
    outcome: float | None = None
    n_replies: int | None = None
    outcome_as_of: int | None = None

    def parts(self, head_chars: int = 600) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """The sentences (text, empathy label) shown at once and those behind "more"."""
        sents = self.sentences or [(self.body, "")]
        head: list[tuple[str, str]] = []
        n = 0
        for i, (text, label) in enumerate(sents):
            if head and n + len(text) > head_chars:
                return head, sents[i:]
            head.append((text, label))
            n += len(text)
        return head, []


@dataclass
class PostView:
    name: str
    subreddit: str
    title: str
    selftext: str
    author: str | None
    created_utc: int
    revision: int | None
    as_of_utc: int | None
    forecaster_version: str | None
    suggested: list[TlcView] = field(default_factory=list)

    @property
    def reddit(self) -> list[TlcView]:
        return sorted(self.suggested, key=lambda t: t.reddit_rank)

    @property
    def distance(self) -> float:
        return rank_distance([t.name for t in self.reddit], [t.name for t in self.suggested])


def post_subreddit(s: Session, post: str) -> str | None:
    return s.scalar(select(PostRow.subreddit).where(PostRow.name == post))


def post_view(s: Session, post: str, orders: OrderLookup | None = None) -> PostView | None:
    """The post, its newest suggestion without TLCs gone from Reddit, Reddit's current order
    (as last read, else by score at ingest), scores, empathy sentences and outcomes."""
    p = s.get(PostRow, post)
    if p is None:
        return None
    sug = s.scalars(
        select(SuggestionRow)
        .where(SuggestionRow.post_name == post)
        .order_by(SuggestionRow.revision.desc())
        .limit(1)
    ).first()
    view = PostView(
        p.name,
        p.subreddit,
        p.title,
        p.selftext,
        p.author,
        p.created_utc,
        sug.revision if sug else None,
        sug.as_of_utc if sug else None,
        sug.forecaster_version if sug else None,
    )
    if sug is None:
        return view
    names = [o["tlc"] for o in sug.order]
    tlcs = {t.name: t for t in s.scalars(select(TlcRow).where(TlcRow.name.in_(names)))}
    gone = {n for n, t in tlcs.items() if t.body in GONE_BODIES}
    kept, reddit = current_orders(sug.order, orders(post) if orders else None, gone)
    reddit_rank = {t: i + 1 for i, t in enumerate(reddit)}
    scores = {x.tlc_name: x for x in s.scalars(select(ScoreRow).where(ScoreRow.post_name == post))}
    outs = {
        o.tlc_name: o for o in s.scalars(select(OutcomeRow).where(OutcomeRow.post_name == post))
    }
    for rank, o in enumerate(kept, 1):
        t, sc, out = tlcs.get(o["tlc"]), scores.get(o["tlc"]), outs.get(o["tlc"])
        emp = (sc.empathy if sc else None) or {}
        sentences = [
            (str(x.get("text", "")), str(x.get("label", "none")))
            for x in emp.get("sentences") or []
            if isinstance(x, dict)
        ]
        view.suggested.append(
            TlcView(
                o["tlc"],
                t.author if t else None,
                t.body if t else "",
                t.created_utc if t else 0,
                t.score if t else 0,
                rank,
                reddit_rank[o["tlc"]],
                o.get("forecast"),
                o.get("lower"),
                o.get("upper"),
                bool(o.get("separated_from_next")),
                [str(r) for r in o.get("reasons") or []],
                sc.empathy_label if sc else None,
                sentences,
                out.trajectory if out else None,
                out.n_replies if out else None,
                out.as_of_utc if out else None,
            )
        )
    return view


@dataclass(frozen=True)
class Seeker:
    tlc: str
    post: str
    title: str
    author: str | None
    excerpt: str
    created_utc: int


def seekers(s: Session, sub: str, limit: int = 200) -> list[Seeker]:
    """TLCs seeking empathy, oldest first (the caller drops the answered ones)."""
    rows = s.execute(
        select(ScoreRow.tlc_name, ScoreRow.post_name, ScoreRow.created_utc, TlcRow, PostRow.title)
        .join(TlcRow, TlcRow.name == ScoreRow.tlc_name)
        .join(PostRow, PostRow.name == ScoreRow.post_name)
        .where(ScoreRow.subreddit == sub, ScoreRow.empathy_label == "seeking")
        .order_by(ScoreRow.created_utc, ScoreRow.tlc_name)
        .limit(limit)
    ).all()
    return [
        Seeker(name, post, title, t.author, t.body[:280], created)
        for name, post, created, t, title in rows
    ]


def quality(s: Session, sub: str) -> dict[str, Any]:
    """Evaluator rows over time by model, and the model versions that scored the TLCs."""
    series: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for r in s.scalars(
        select(EvaluationRow)
        .where(EvaluationRow.subreddit == sub)
        .order_by(EvaluationRow.window_end_utc)
    ):
        series[r.model].append((r.window_end_utc, {**r.figures, "n_tlcs": r.n_tlcs}))
    versions = [
        {"forecaster": fv, "empathy": ev, "tlcs": n, "last_scored_ms": last}
        for fv, ev, n, last in s.execute(
            select(
                ScoreRow.forecaster_version,
                ScoreRow.empathy_version,
                func.count(),
                func.max(ScoreRow.scored_ms),
            )
            .where(ScoreRow.subreddit == sub)
            .group_by(ScoreRow.forecaster_version, ScoreRow.empathy_version)
        )
    ]
    versions.sort(key=lambda v: -int(v["last_scored_ms"] or 0))
    return {"series": dict(series), "versions": versions}


def health(s: Session, now: float) -> dict[str, Any]:
    """Service-wide lags and dead letters (counts only: no record content)."""
    pending = s.execute(
        select(func.count(), func.min(TlcRow.stored_ms)).where(TlcRow.status == "pending")
    ).one()
    last_ingest = s.scalar(select(func.max(TlcRow.stored_ms)))
    last_score = s.scalar(select(func.max(ScoreRow.scored_ms)))
    last_suggestion = s.scalar(select(func.max(SuggestionRow.made_ms)))
    last_outcome = s.scalar(select(func.max(OutcomeRow.computed_ms)))
    last_eval = s.scalar(select(func.max(EvaluationRow.computed_ms)))
    overdue = s.scalar(
        select(func.count())
        .select_from(ScoreRow)
        .outerjoin(OutcomeRow, OutcomeRow.tlc_name == ScoreRow.tlc_name)
        .where(ScoreRow.due_utc < int(now) - 3600, OutcomeRow.tlc_name.is_(None))
    )
    dead: Counter[tuple[str, str]] = Counter()
    for (stage, kind), n in dead_letter_kinds(s).items():
        dead[(stage, kind[:60])] += n
    return {
        "pending_tlcs": int(pending[0] or 0),
        "oldest_pending_ms": pending[1],
        "last_ingest_ms": last_ingest,
        "last_score_ms": last_score,
        "last_suggestion_ms": last_suggestion,
        "last_outcome_ms": last_outcome,
        "last_evaluation_ms": last_eval,
        "overdue_outcomes": int(overdue or 0),
        "dead_letters": sorted(((k[0], k[1], v) for k, v in dead.items()), key=lambda x: -x[2]),
    }
