"""The suggester: a post's TLCs reranked by forecast, with reasons and the diff against
Reddit's current order (docs/architecture.md, "Stages and their contracts").

Consumes ``prosocial.scores``. A post becomes *dirty* when one of its TLCs is scored or
re-forecast at a checkpoint; once no new score has arrived for ``quiet_period_s`` (on the
injected clock) a new suggestion revision is stored, ranking each TLC by its *latest* forecast
(the re-forecast at its latest checkpoint by the same forecaster version, else the forecast at
creation). Revision = number of forecasts it covers (creation + checkpoints), so re-delivery
rewrites the same row.
Dirty posts are rebuilt from storage on start (:meth:`recover`), so committing score offsets
before the quiet period ends loses nothing. A tick suggests the posts with a newly scored TLC
first; posts dirty only from checkpoint re-forecasts (which come in bursts, every TLC three
times) are re-ranked a bounded number per tick, so they never hold a fresh suggestion back.

The posts a tick revises share one transaction (:meth:`SuggesterStage.suggest_many`): one read
of their scores, one of their re-forecasts, one write of their revisions.

A revision's ``latency_s`` (ingest → stored suggestion) is that of the newest TLC it covers, and
is recorded only when the revision is the first to cover that TLC: a revision that only re-ranks
after checkpoint re-forecasts (no newly scored TLC) has no ingest latency (``None``) — otherwise
every re-forecast would count the time since the post's last TLC arrived as latency.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import Any

from sqlalchemy import func, select, tuple_

from redditdata.events import TOPIC_SCORES
from streaming.bus.base import Message
from streaming.orders import Scored, build_suggestion
from streaming.stages.base import DatabaseStage, now_ms
from streaming.storage import (
    CheckpointScoreRow,
    ScoreRow,
    SuggestionRow,
    TlcRow,
    upsert,
)
from streaming.storage.queries import latest_revisions
from streaming.transient import is_transient

__all__ = ["SuggesterStage"]

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class SuggesterStage(DatabaseStage):
    name = "suggester"
    topics = (TOPIC_SCORES,)

    _: KW_ONLY
    quiet_period_s: int = 600
    max_per_tick: int = 500
    #: posts re-ranked only for checkpoint re-forecasts per tick, after the posts with a newly
    #: scored TLC: a burst of re-forecasts never holds a fresh suggestion behind it (the rest
    #: stay dirty for the next ticks, one after every poll)
    max_reranks_per_tick: int = 25
    latency_window: InitVar[int] = 10_000
    #: posts whose newest covered TLC is remembered (beyond: read from the stored revision)
    covered_posts: int = 20_000
    dirty: dict[str, float] = field(default_factory=dict, init=False)
    #: the dirty posts with a newly scored TLC (not only checkpoint re-forecasts)
    fresh: set[str] = field(default_factory=set, init=False)
    made: int = field(default=0, init=False)

    def __post_init__(self, latency_window: int) -> None:
        #: the most recent suggestion latencies (bounded; the histogram keeps the rest)
        self.latencies: deque[float] = deque(maxlen=latency_window)
        #: post -> (revision, TLC names) of its latest stored suggestion (an LRU)
        self._covered: OrderedDict[str, tuple[int, frozenset[str]]] = OrderedDict()

    def handle(self, messages: Sequence[Message]) -> None:
        for m in messages:
            try:
                d = json.loads(m.value)
                post, created = str(d["post"]), float(d["created_utc"])
                has_forecast = d.get("forecast") is not None
                checkpoint = float(d.get("checkpoint") or 0)
                created += checkpoint  # a re-forecast's own moment
            except (ValueError, KeyError, TypeError) as exc:
                self.dead.send(self.name, m, f"bad_score: {exc}")
                continue
            self.clock.observe(created)
            if has_forecast:
                self.dirty[post] = max(self.dirty.get(post, 0.0), created)
                if not checkpoint:
                    self.fresh.add(post)

    def tick(self) -> None:
        """Suggest the due posts: those with a newly scored TLC first (up to
        ``max_per_tick``), then up to ``max_reranks_per_tick`` re-ranked only for re-forecasts."""
        now = self.clock.now()
        due = [p for p, t in self.dirty.items() if t + self.quiet_period_s <= now]
        fresh = [p for p in due if p in self.fresh][: self.max_per_tick]
        rerank = [p for p in due if p not in self.fresh][: self.max_reranks_per_tick]
        self._suggest_jobs(fresh)
        self._suggest_jobs(rerank)

    def drain(self) -> None:
        posts = list(self.dirty)
        for i in range(0, len(posts), self.max_per_tick):
            self._suggest_jobs(posts[i : i + self.max_per_tick])

    def _suggest_jobs(self, posts: Sequence[str]) -> None:
        """Revise ``posts`` in one transaction (:meth:`suggest_many`). A transient failure
        propagates and keeps them dirty; any other failure revises them one by one, so the
        error policy drops only the post that fails."""
        if not posts:
            return
        try:
            self.suggest_many(posts)
        except Exception as exc:
            if is_transient(exc):
                raise
            for p in posts:  # one post's failure must not hold the others back
                self._suggest_job(p)
            return
        for p in posts:
            self.dirty.pop(p, None)
            self.fresh.discard(p)

    def _suggest_job(self, post: str) -> None:
        self.run_job(post, self.suggest, post)  # a transient failure keeps the post dirty
        self.dirty.pop(post, None)
        self.fresh.discard(post)

    def recover(self) -> None:
        """Posts whose newest scores are not covered by a stored suggestion become dirty."""
        with self.sessions() as s:
            n = (
                select(
                    ScoreRow.post_name,
                    func.count().label("n"),
                    func.max(ScoreRow.created_utc).label("t"),
                )
                .where(ScoreRow.forecast.is_not(None))
                .group_by(ScoreRow.post_name)
                .subquery()
            )
            c = (
                select(CheckpointScoreRow.post_name, func.count().label("k"))
                .group_by(CheckpointScoreRow.post_name)
                .subquery()
            )
            r = latest_revisions().subquery()
            total = n.c.n + func.coalesce(c.c.k, 0)
            query = (
                select(n.c.post_name, n.c.t)
                .outerjoin(c, c.c.post_name == n.c.post_name)
                .outerjoin(r, r.c.post_name == n.c.post_name)
                .where((r.c.rev.is_(None)) | (r.c.rev < total))
            )
            for post, t in s.execute(query):
                self.dirty[post] = float(t)
                self.fresh.add(post)  # it may cover a TLC no suggestion has yet
        if self.dirty:
            logger.info("suggester: %d posts to (re)suggest after restart", len(self.dirty))

    def suggest(self, post: str) -> dict[str, Any] | None:
        """Store a new suggestion revision of ``post`` (``None`` when it has no forecast)."""
        return self.suggest_many([post]).get(post)

    def suggest_many(self, posts: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Store a new suggestion revision of each of ``posts`` in one transaction: their scores
        and their re-forecasts are read in one statement each and the revisions written in one,
        however many posts a tick revises. Returns the stored rows by post (a post without a
        forecast has none)."""
        posts = list(dict.fromkeys(posts))
        if not posts:
            return {}
        with self.sessions() as s:
            # plain rows of the columns ranking needs, not ORM objects: a post's scores and
            # re-forecasts are read on every revision (docs/architecture.md, "Stages and
            # their contracts")
            scores: dict[str, list[Any]] = {p: [] for p in posts}
            for r in s.execute(
                select(*_SCORE_COLUMNS, TlcRow.score)
                .join(TlcRow, TlcRow.name == ScoreRow.tlc_name)
                .where(ScoreRow.post_name.in_(posts), ScoreRow.forecast.is_not(None))
            ):
                scores[r.post_name].append(r)
            checkpoints = _latest_checkpoints(s, [p for p in posts if scores[p]])
            # revision = forecasts covered (at creation + re-forecasts)
            revisions = {
                p: len(scores[p]) + checkpoints.get(p, ({}, 0))[1] for p in posts if scores[p]
            }
            previous = self._previously_covered(s, revisions)
            made_rows: dict[str, dict[str, Any]] = {}
            for post, revision in revisions.items():
                latest = checkpoints.get(post, ({}, 0))[0]
                made_rows[post] = self._revision(
                    post, revision, scores[post], latest, previous[post]
                )
            upsert(s, SuggestionRow, list(made_rows.values()))
            s.commit()
        for post, row in made_rows.items():
            self._remember(post, revisions[post], frozenset(r.tlc_name for r in scores[post]))
            self.made += 1
            self.metrics.events_out.labels(stage=self.name).inc()
            latency = row["latency_s"]
            if latency is not None:
                self.metrics.latency.labels(stage=self.name).observe(latency)
                self.latencies.append(latency)
        return made_rows

    def _revision(
        self,
        post: str,
        revision: int,
        rows: Sequence[Any],
        latest: dict[tuple[str, str | None], Any],
        previous: frozenset[str],
    ) -> dict[str, Any]:
        """Revision ``revision`` of ``post`` from its scores ``rows`` and the re-forecasts at
        their latest checkpoints ``latest``; ``previous``: the TLCs its last revision ranked."""
        items = []
        for r in rows:
            cp = latest.get((r.tlc_name, r.forecaster_version))
            src: Any = cp if cp is not None else r
            items.append(
                Scored(
                    name=r.tlc_name,
                    created_utc=r.created_utc,
                    score=r.score,
                    forecast=float(src.forecast or 0.0),
                    lower=src.lower,
                    upper=src.upper,
                    reasons=[_reason_text(x) for x in (src.reasons or [])],
                    empathy_label=r.empathy_label,
                )
            )
        order, diff = build_suggestion(items)
        newest_ingest, newest = max(((r.ingest_ms or 0), r.tlc_name) for r in rows)
        made = now_ms()
        fresh = newest not in previous
        latency = (made - newest_ingest) / 1000 if newest_ingest and fresh else None
        return {
            "post_name": post,
            "revision": revision,
            "subreddit": rows[0].subreddit,
            "as_of_utc": int(self.clock.now()),
            "order": order,
            "diff": diff,
            "forecaster_version": rows[0].forecaster_version,
            "latency_s": latency,
            "made_ms": made,
        }

    def _previously_covered(self, s: Any, revisions: dict[str, int]) -> dict[str, frozenset[str]]:
        """For each post of ``revisions`` (post -> the revision about to be stored): the TLCs
        its latest suggestion before that revision ranked. Remembered, else read from storage
        (after a restart, for a post evicted from memory, for a new post): the newest stored
        revision of all those posts in one statement, their orders in another."""
        out: dict[str, frozenset[str]] = {}
        unknown: dict[str, int] = {}
        for post, revision in revisions.items():
            known = self._covered.get(post)
            if known is not None and known[0] < revision:
                out[post] = known[1]
            else:
                unknown[post] = revision
                out[post] = frozenset()
        if not unknown:
            return out
        newest = s.execute(
            select(SuggestionRow.post_name, func.max(SuggestionRow.revision))
            .where(SuggestionRow.post_name.in_(list(unknown)))
            .group_by(SuggestionRow.post_name)
        ).all()
        pairs = []
        for post, rev in newest:
            if rev < unknown[post]:
                pairs.append((post, rev))
            else:  # this revision was stored before (a re-delivery): the one before it
                out[post] = self._covered_before(s, post, unknown[post])
        if pairs:
            for post, order in s.execute(
                select(SuggestionRow.post_name, SuggestionRow.order).where(
                    tuple_(SuggestionRow.post_name, SuggestionRow.revision).in_(pairs)
                )
            ):
                out[post] = _tlcs_of(order)
        return out

    @staticmethod
    def _covered_before(s: Any, post: str, revision: int) -> frozenset[str]:
        order = s.scalar(
            select(SuggestionRow.order)
            .where(SuggestionRow.post_name == post, SuggestionRow.revision < revision)
            .order_by(SuggestionRow.revision.desc())
            .limit(1)
        )
        return _tlcs_of(order)

    def _remember(self, post: str, revision: int, tlcs: frozenset[str]) -> None:
        self._covered[post] = (revision, tlcs)
        self._covered.move_to_end(post)
        while len(self._covered) > self.covered_posts:
            self._covered.popitem(last=False)

    def health(self) -> dict[str, Any]:
        return {"dirty_posts": len(self.dirty), "suggestions": self.made}


#: What a revision reads of each score (at creation).
_SCORE_COLUMNS = (
    ScoreRow.post_name,
    ScoreRow.tlc_name,
    ScoreRow.subreddit,
    ScoreRow.created_utc,
    ScoreRow.forecast,
    ScoreRow.lower,
    ScoreRow.upper,
    ScoreRow.reasons,
    ScoreRow.empathy_label,
    ScoreRow.forecaster_version,
    ScoreRow.ingest_ms,
)


def _latest_checkpoints(
    s: Any, posts: Sequence[str]
) -> dict[str, tuple[dict[tuple[str, str | None], Any], int]]:
    """For each of ``posts``: each (TLC, forecaster version)'s re-forecast at its latest
    checkpoint, and how many re-forecasts the post has stored in all (the revision counts
    them); one statement for all the posts."""
    out: dict[str, tuple[dict[tuple[str, str | None], Any], int]] = {}
    if not posts:
        return out
    query = select(
        CheckpointScoreRow.post_name,
        CheckpointScoreRow.tlc_name,
        CheckpointScoreRow.forecaster_version,
        CheckpointScoreRow.checkpoint_s,
        CheckpointScoreRow.forecast,
        CheckpointScoreRow.lower,
        CheckpointScoreRow.upper,
        CheckpointScoreRow.reasons,
    ).where(CheckpointScoreRow.post_name.in_(posts))
    for c in s.execute(query):
        latest, n = out.get(c.post_name, ({}, 0))
        k = (c.tlc_name, c.forecaster_version)
        if k not in latest or c.checkpoint_s > latest[k].checkpoint_s:
            latest[k] = c
        out[c.post_name] = (latest, n + 1)
    return out


def _tlcs_of(order: Any) -> frozenset[str]:
    """The TLC names a stored suggestion order ranks."""
    return frozenset(str(o.get("tlc")) for o in order or () if isinstance(o, dict))


def _reason_text(x: Any) -> str:
    if isinstance(x, str):
        return x
    if isinstance(x, (list, tuple)) and len(x) == 2 and isinstance(x[1], (int, float)):
        return f"{x[0]} ({x[1]:+.3f})"
    if isinstance(x, dict):
        name = x.get("feature") or x.get("name") or x.get("reason")
        eff = x.get("effect") or x.get("contribution") or x.get("value")
        if name is not None:
            return f"{name} ({eff:+.3f})" if isinstance(eff, (int, float)) else str(name)
    return json.dumps(x, default=str)[:120]
