"""The scorer: stores posts, TLCs and replies, scores each TLC at creation (empathy + forecast,
batched) and re-forecasts it at checkpoints (:mod:`streaming.stages.checkpoints`).

Consumes ``reddit.submissions`` and ``reddit.comments``. A TLC is stored ``pending``; it is
scored as soon as its post is in storage (in the same batch, or when the post arrives later).
A TLC whose post has not arrived ``missing_post_grace_s`` of event time after the TLC *and*
``missing_post_wall_s`` of wall time after it was stored is dead-lettered (``missing_post``);
both clocks are needed because a consumer reads partitions unevenly (its event clock can run
ahead of one topic). If the post turns up after all, the TLC is still scored. Replies
(non-TLCs) are stored, not scored: a checkpoint re-forecast reads the replies stored by then
(on its timer, once the event clock passes a TLC's checkpoint; one ``checkpoint_scores`` row
per TLC, checkpoint and forecaster version, published on ``prosocial.scores`` with its
``checkpoint``). With a :class:`~streaming.stages.shadow.ModelReloader` the champion
forecaster follows the registry's ``CURRENT`` (checked between batches) and a challenger is
scored in shadow beside it (:class:`~streaming.stages.shadow.ShadowScorer`). Scores are
upserted ``ON CONFLICT DO NOTHING`` — a re-delivered TLC is never scored twice — and the stored score
of every TLC in the batch, or under a post in the batch, is (re)published on
``prosocial.scores``, so a crash between the database commit and the producer's flush loses
nothing downstream.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.forecaster.context import TlcContext
from redditdata.events import TOPIC_COMMENTS, TOPIC_SCORES, TOPIC_SUBMISSIONS, Comment, Submission
from redditdata.forest import post_from_event
from streaming.bus.base import Bus, Message
from streaming.modelset import (
    EmpathyResult,
    ForecastGroup,
    ForecastModel,
    ForecastResult,
    ModelSet,
)
from streaming.stages.base import DatabaseStage, now_ms
from streaming.stages.checkpoints import CheckpointScheduler
from streaming.stages.decode import Rejected, clean_text, decode
from streaming.stages.history import author_contexts, prior_tlc_counts
from streaming.stages.shadow import ModelReloader, ShadowScorer
from streaming.storage import (
    CheckpointScoreRow,
    PostRow,
    ReplyRow,
    ScoreRow,
    TlcRow,
    upsert,
)

__all__ = ["ScorerStage", "jsonable"]

logger = logging.getLogger(__name__)


def jsonable(x: Any) -> Any:
    """Plain JSON (NaN/inf → null: PostgreSQL's JSON rejects them)."""
    if isinstance(x, float) or (
        hasattr(x, "dtype") and hasattr(x, "item") and getattr(x, "ndim", 1) == 0
    ):
        f = float(x)
        return f if math.isfinite(f) else None
    if x is None or isinstance(x, (str, int, bool)):
        return x
    if hasattr(x, "to_dict"):
        return jsonable(x.to_dict())
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "__dataclass_fields__"):
        return {k: jsonable(getattr(x, k)) for k in x.__dataclass_fields__}
    if hasattr(x, "item"):
        return x.item()
    return str(x)


@dataclass(eq=False)
class ScorerStage(DatabaseStage):
    name = "scorer"
    topics = (TOPIC_SUBMISSIONS, TOPIC_COMMENTS)

    bus: Bus
    models: ModelSet
    _: KW_ONLY
    horizon_s: int
    config_hash: str
    #: a TLC whose post is still unknown this long after it (event time, and this much wall
    #: time after it was stored) is dead-lettered
    missing_post_grace_s: int = 6 * 3600
    missing_post_wall_s: float = 120.0
    sweep_every_s: float = 5.0
    reloader: ModelReloader | None = None
    checkpoints: Sequence[int] = ()
    history_scope: str = "subreddit"
    #: the most TLCs scored in one model call and one transaction: a post that arrives after
    #: many of its TLCs is scored (and its scores published) in chunks of this size
    max_score_batch: int = 128
    #: the most checkpoint re-forecasts per timer run (``CheckpointScheduler.max_per_tick``)
    max_reforecasts_per_tick: int = 128
    stored_replies: int = field(default=0, init=False)
    shadow: ShadowScorer = field(default_factory=ShadowScorer, init=False)
    _last_sweep: float = field(default=0.0, init=False)
    #: the last re-forecast run was full: the next tick runs again, without waiting
    _reforecasts_behind: bool = field(default=False, init=False)
    #: the champion's empathy results of the last batch (the challenger reuses them)
    _last_empathy: list[EmpathyResult | None] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        forecaster = self.models.forecaster
        self.can_score = self.models.empathy is not None or forecaster is not None
        #: re-forecasts at the configured delays (none when the bundle has no checkpoint models)
        self.reforecast = CheckpointScheduler(
            forecaster,
            self.checkpoints if forecaster is not None and forecaster.checkpoints else (),
            horizon_s=self.horizon_s,
            config_hash=self.config_hash,
            history_scope=self.history_scope,
            max_per_tick=self.max_reforecasts_per_tick,
        )

    # -- batch ---------------------------------------------------------------------------
    def handle(self, messages: Sequence[Message]) -> None:
        if self.reloader is not None and self.reloader.refresh(self.models):
            self.can_score = self.models.empathy is not None or self.models.forecaster is not None
        posts: dict[str, dict[str, Any]] = {}
        tlcs: dict[str, dict[str, Any]] = {}
        replies: dict[str, dict[str, Any]] = {}
        for m in messages:
            kind = "submission" if m.topic == TOPIC_SUBMISSIONS else "comment"
            try:
                ev, ingest_ms = decode(m, kind)
            except Rejected as exc:
                self.dead.send(self.name, m, str(exc))
                continue
            self.clock.observe(ev.created_utc)
            if isinstance(ev, Submission):
                posts[ev.name] = {
                    "name": ev.name,
                    "subreddit": ev.subreddit,
                    "title": clean_text(ev.title),
                    "selftext": clean_text(ev.selftext),
                    "author": clean_text(ev.author)[:64] or None,
                    "score": ev.score,
                    "created_utc": ev.created_utc,
                    "retrieved_on": ev.retrieved_on,
                }
            elif isinstance(ev, Comment):
                if not ev.is_tlc:
                    replies.setdefault(
                        ev.name,
                        {
                            "name": ev.name,
                            "post_name": ev.link_id,
                            "parent_name": ev.parent_id,
                            "subreddit": ev.subreddit,
                            "author": clean_text(ev.author)[:64] or None,
                            "body": clean_text(ev.body),
                            "created_utc": ev.created_utc,
                            "stored_ms": now_ms(),
                        },
                    )
                    continue
                tlcs.setdefault(
                    ev.name,
                    {
                        "name": ev.name,
                        "post_name": ev.link_id,
                        "subreddit": ev.subreddit,
                        "author": clean_text(ev.author)[:64] or None,
                        "body": clean_text(ev.body),
                        "score": ev.score,
                        "created_utc": ev.created_utc,
                        "ingest_ms": ingest_ms,
                        "stored_ms": now_ms(),
                        "status": "pending",
                    },
                )
        with self.sessions() as s:
            upsert(s, PostRow, list(posts.values()), update=["score"])
            upsert(s, TlcRow, list(tlcs.values()))
            upsert(s, ReplyRow, list(replies.values()))
            s.commit()
        self.stored_replies += len(replies)
        self.metrics.events_out.labels(stage=self.name).inc(len(posts))
        if self.can_score:
            self._score(set(tlcs), set(posts))

    def _score(self, tlc_names: set[str], post_names: set[str]) -> None:
        with self.sessions() as s:
            query = (
                select(TlcRow, PostRow)
                .join(PostRow, PostRow.name == TlcRow.post_name)
                .where(TlcRow.status.in_(("pending", "dead")))
            )
            todo: list[tuple[TlcRow, PostRow]] = []
            if tlc_names:
                todo += list(s.execute(query.where(TlcRow.name.in_(tlc_names))).tuples())
            if post_names:
                seen = {t.name for t, _ in todo}
                todo += [
                    r
                    for r in s.execute(query.where(TlcRow.post_name.in_(post_names))).tuples()
                    if r[0].name not in seen
                ]
            for i in range(0, len(todo), self.max_score_batch):
                self._score_chunk(s, todo[i : i + self.max_score_batch])
            # (re)publish every other stored score of this batch's TLCs and of its posts'
            # TLCs: idempotent downstream. A post's TLCs scored by an earlier delivery of this
            # batch (killed after the database commit, before the producer's flush) are
            # ``scored`` now, so they are found through the post, not through ``todo``.
            done = {t.name for t, _ in todo}
            again = set(tlc_names) - done
            stored: list[ScoreRow] = []
            if again:
                stored += s.scalars(select(ScoreRow).where(ScoreRow.tlc_name.in_(again)))
            if post_names:
                stored += s.scalars(
                    select(ScoreRow)
                    .join(TlcRow, TlcRow.name == ScoreRow.tlc_name)
                    .where(TlcRow.post_name.in_(post_names))
                    .where(ScoreRow.tlc_name.not_in(tlc_names | done))
                )
            self._publish(stored)

    def _score_chunk(self, s: Session, todo: list[tuple[TlcRow, PostRow]]) -> None:
        """Score, store and publish one chunk of at most ``max_score_batch`` TLCs (its own
        transaction: the scores of a big backlog reach the bus chunk by chunk)."""
        challenger = self.reloader.challenger if self.reloader is not None else None
        ctx = (
            author_contexts(s, todo, self.horizon_s, self.history_scope)
            if any(m is not None and m.use_context for m in (self.models.forecaster, challenger))
            else None
        )
        prior = prior_tlc_counts(s, todo)
        rows = self._predict(todo, prior, ctx)
        upsert(s, ScoreRow, rows)
        if challenger is not None:
            champion_empathy = self._last_empathy
            self.shadow.score(
                s,
                challenger,
                lambda forecaster: self._predict(
                    todo, prior, ctx, forecaster=forecaster, empathy=champion_empathy
                ),
            )
        names = [r["tlc_name"] for r in rows]
        s.execute(update(TlcRow).where(TlcRow.name.in_(names)).values(status="scored"))
        s.commit()
        self.metrics.events_out.labels(stage=self.name).inc(len(rows))
        # the stored rows: a TLC another scorer stored first keeps that score (DO NOTHING)
        self._publish(s.scalars(select(ScoreRow).where(ScoreRow.tlc_name.in_(names))))

    def _publish(self, stored: Iterable[ScoreRow]) -> None:
        for r in stored:
            self.bus.publish(
                TOPIC_SCORES, r.tlc_name, json.dumps(score_payload(r), default=str).encode()
            )

    def _predict(
        self,
        todo: list[tuple[TlcRow, PostRow]],
        prior: dict[str, int] | None = None,
        contexts: dict[str, TlcContext] | None = None,
        *,
        forecaster: ForecastModel | None = None,
        empathy: list[EmpathyResult | None] | None = None,
    ) -> list[dict[str, Any]]:
        """Score rows for ``todo``; ``forecaster`` / ``empathy`` (results) override the
        champion's (shadow scoring)."""
        empathy_model = self.models.empathy
        forecaster = forecaster if forecaster is not None else self.models.forecaster
        if empathy is None:
            empathy = [None] * len(todo)
            if empathy_model is not None:
                empathy = list(empathy_model.predict_comments([t.body for t, _ in todo]))
        self._last_empathy = empathy
        forecasts: list[ForecastResult | None] = [None] * len(todo)
        if forecaster is not None:
            by_post: dict[str, list[int]] = defaultdict(list)
            for i, (t, _) in enumerate(todo):
                by_post[t.post_name].append(i)
            groups: list[ForecastGroup] = []
            order: list[int] = []
            for idxs in by_post.values():
                post = todo[idxs[0]][1]
                nodes = [todo[i][0].as_node() for i in idxs]
                n_prior = (
                    [prior.get(todo[i][0].name, 0) for i in idxs] if prior is not None else None
                )
                ctx = (
                    [contexts.get(todo[i][0].name) for i in idxs] if contexts is not None else None
                )
                groups.append((post_from_event(post), nodes, n_prior, ctx))
                order += idxs
            # one forecaster call for the whole batch, however many posts it spans
            # with an empathy model every TLC has its result
            with_empathy = (
                cast(list[EmpathyResult], [empathy[i] for i in order])
                if empathy_model is not None
                else None
            )
            preds = forecaster.predict_many(groups, with_empathy)
            for i, forecast in zip(order, preds):
                forecasts[i] = forecast
        empathy_version = None if empathy_model is None else empathy_model.version
        forecaster_version = None if forecaster is None else forecaster.version
        scored = now_ms()
        rows = []
        for (t, _), f, e in zip(todo, forecasts, empathy):
            rows.append(
                {
                    "tlc_name": t.name,
                    "post_name": t.post_name,
                    "subreddit": t.subreddit,
                    "created_utc": t.created_utc,
                    "due_utc": t.created_utc + self.horizon_s,
                    "forecast": None if f is None else float(f.value),
                    "lower": None if f is None or f.lower is None else float(f.lower),
                    "upper": None if f is None or f.upper is None else float(f.upper),
                    "reasons": [] if f is None else jsonable(list(f.reasons or [])),
                    "empathy": None if e is None else jsonable(e),
                    "empathy_label": None if e is None else str(e.label),
                    "empathy_version": empathy_version,
                    "forecaster_version": forecaster_version,
                    "config_hash": self.config_hash,
                    "ingest_ms": t.ingest_ms,
                    "scored_ms": scored,
                }
            )
        return rows

    # -- timers ----------------------------------------------------------------------------
    def tick(self) -> None:
        """Every ``sweep_every_s``: the missing-post sweep and the due re-forecasts. A run of
        re-forecasts is bounded (``CheckpointScheduler.max_per_tick``), so a backlog is worked
        off one bounded run per tick, a poll of fresh TLCs between two runs."""
        if time.monotonic() - self._last_sweep >= self.sweep_every_s:
            self._last_sweep = time.monotonic()
            self.sweep_missing_posts()
        elif not self._reforecasts_behind:
            return
        self._reforecasts_behind = self.run_checkpoints() >= self.reforecast.max_per_tick

    def drain(self) -> None:
        self.sweep_missing_posts()
        self.reforecast.scan_all_next()
        while self.run_checkpoints():
            pass

    def run_checkpoints(self) -> int:
        """Re-forecast the TLCs whose checkpoints the event clock has passed; publishes each
        new row (with its ``checkpoint``) on ``prosocial.scores``. Returns how many."""
        if not self.reforecast.delays:
            return 0
        with self.sessions() as s:
            # each member of the scorer group re-forecasts the TLCs of the posts it consumes
            rows = self.reforecast.run(
                s,
                self.clock.now(),
                owns=lambda post: self.bus.owns(self.group_id, TOPIC_COMMENTS, post),
            )
            s.commit()
        for r in rows:
            self.bus.publish(
                TOPIC_SCORES,
                r["tlc_name"],
                json.dumps(checkpoint_payload(r), default=str).encode(),
            )
        self.metrics.events_out.labels(stage=self.name).inc(len(rows))
        return len(rows)

    def sweep_missing_posts(self) -> int:
        """Dead-letter pending TLCs whose post is still unknown after the grace period."""
        cutoff = self.clock.now() - self.missing_post_grace_s
        stored_before_ms = now_ms() - int(self.missing_post_wall_s * 1000)
        with self.sessions() as s:
            query = (
                select(TlcRow)
                .outerjoin(PostRow, PostRow.name == TlcRow.post_name)
                .where(
                    TlcRow.status == "pending",
                    TlcRow.created_utc < cutoff,
                    TlcRow.stored_ms < stored_before_ms,
                    PostRow.name.is_(None),
                )
                .limit(5000)
            )
            lost = list(s.scalars(query))
            if not lost:
                return 0
            for t in lost:
                m = Message(
                    TOPIC_COMMENTS,
                    -1,
                    -1,
                    t.post_name,
                    json.dumps(
                        {"name": t.name, "link_id": t.post_name, "created_utc": t.created_utc}
                    ).encode(),
                )
                self.dead.send(
                    self.name,
                    m,
                    f"missing_post: {t.post_name} not seen within {self.missing_post_grace_s}s of {t.name}",
                    ident=f"scorer:missing:{t.name}",
                )
            s.execute(
                update(TlcRow).where(TlcRow.name.in_([t.name for t in lost])).values(status="dead")
            )
            s.commit()
        self.dead.flush()
        return len(lost)

    def health(self) -> dict[str, Any]:
        return {
            "can_score": self.can_score,
            "missing_models": dict(self.models.missing),
            "forecaster": self.models.forecaster_version,
            **(self.shadow.health() if self.reloader is not None else {}),
            "checkpoints": list(self.reforecast.delays),
            "reforecasts": self.reforecast.made,
        }


def score_payload(r: ScoreRow) -> dict[str, Any]:
    return {
        "tlc": r.tlc_name,
        "post": r.post_name,
        "subreddit": r.subreddit,
        "created_utc": r.created_utc,
        "due_utc": r.due_utc,
        "forecast": None
        if r.forecast is None
        else {"value": r.forecast, "lower": r.lower, "upper": r.upper, "reasons": r.reasons},
        "checkpoint": 0,
        "empathy": r.empathy,
        "versions": {"empathy": r.empathy_version, "forecaster": r.forecaster_version},
        "config_hash": r.config_hash,
        "ingest_ms": r.ingest_ms,
    }


def checkpoint_payload(r: dict[str, Any] | CheckpointScoreRow) -> dict[str, Any]:
    """The ``prosocial.scores`` message of a checkpoint re-forecast."""
    g = r.get if isinstance(r, dict) else (lambda k: getattr(r, k))
    return {
        "tlc": g("tlc_name"),
        "post": g("post_name"),
        "subreddit": g("subreddit"),
        "created_utc": g("created_utc"),
        "checkpoint": g("checkpoint_s"),
        "forecast": {
            "value": g("forecast"),
            "lower": g("lower"),
            "upper": g("upper"),
            "reasons": g("reasons"),
        },
        "versions": {"forecaster": g("forecaster_version")},
        "config_hash": g("config_hash"),
    }
