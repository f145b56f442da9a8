"""The back-fill: at ``created_utc + horizon`` compute a scored TLC's outcome from its thread
as then known and store it beside the forecast.

Its contract: docs/architecture.md, "Stages and their contracts".

Consumes ``prosocial.scores`` and schedules one job per TLC on the :class:`ClockScheduler`.
Due jobs are grouped by post: the thread is fetched once (``ThreadFetcher``: the dump in
replay, the Reddit API live), outcomes are computed for the due TLCs, upserted, and published
on ``prosocial.outcomes``. A fetcher that cannot reach its source now (``FetchDeferred``) has
the post's jobs tried again ``retry_s`` later, with the same horizon. Jobs are rebuilt from
storage on start (scores without outcomes).

Beside each outcome the back-fill stores the reply tree it measured (ids, parents, authors,
created times, bodies and scores as seen at the horizon) in ``replies``
(:class:`~streaming.storage.ReplyRow`, beside the replies stored at ingestion) so that
``prosocial export`` can write the service's own data as a dump for retraining. Trees measured
more than ``retention_s`` ago (event time) are deleted; the outcomes stay.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from sqlalchemy import delete, select

from redditdata.events import TOPIC_OUTCOMES, TOPIC_SCORES
from redditdata.tree import Node, walk
from streaming.bus.base import Bus, Message
from streaming.modelset import OutcomeModel
from streaming.replay import FetchDeferred, ThreadFetcher
from streaming.scheduler import ClockScheduler
from streaming.stages.base import DatabaseStage, now_ms
from streaming.stages.scorer import jsonable
from streaming.storage import OutcomeRow, ReplyRow, ScoreRow, upsert
from streaming.storage.privacy_tables import ErasureRow

__all__ = ["BackfillStage"]

logger = logging.getLogger(__name__)


def _noop(*_: Any) -> None:
    return None


@dataclass(eq=False)
class BackfillStage(DatabaseStage):
    name = "backfill"
    topics = (TOPIC_SCORES,)

    bus: Bus
    outcomes: OutcomeModel
    fetcher: ThreadFetcher
    _: KW_ONLY
    horizon_s: int
    #: the outcome bundles' versions, stored with each outcome
    versions: dict[str, str] = field(default_factory=dict)
    max_per_tick: int = 2000
    retry_s: int = 600
    #: how long measured reply trees are kept (None: forever)
    retention_s: int | None = None
    prune_every_s: int = 24 * 3600
    done: int = field(default=0, init=False)
    gone: int = field(default=0, init=False)
    deferred: int = field(default=0, init=False)
    _last_prune: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.scheduler = ClockScheduler(self.clock)

    def handle(self, messages: Sequence[Message]) -> None:
        for m in messages:
            try:
                d = json.loads(m.value)
                tlc, post = str(d["tlc"]), str(d["post"])
                created = int(d["created_utc"])
            except (ValueError, KeyError, TypeError) as exc:
                self.dead.send(self.name, m, f"bad_score: {exc}")
                continue
            self.clock.observe(created)
            due = created + self.horizon_s
            self.scheduler.schedule(tlc, due, _noop, tlc, post, due)

    def recover(self) -> None:
        with self.sessions() as s:
            query = (
                select(ScoreRow.tlc_name, ScoreRow.post_name, ScoreRow.created_utc)
                .outerjoin(OutcomeRow, OutcomeRow.tlc_name == ScoreRow.tlc_name)
                .where(OutcomeRow.tlc_name.is_(None))
            )
            n = 0
            for tlc, post, created in s.execute(query):
                due = created + self.horizon_s
                self.scheduler.schedule(tlc, due, _noop, tlc, post, due)
                n += 1
        if n:
            logger.info("backfill: %d back-fills rescheduled after restart", n)

    def tick(self) -> None:
        due = self.scheduler.due(self.max_per_tick)
        if due:
            self._run(due)
        self.prune()

    def prune(self, force: bool = False) -> int:
        """Delete stored reply trees measured more than ``retention_s`` ago (event time)."""
        if self.retention_s is None:
            return 0
        now = int(self.clock.now())
        if (
            not force
            and self._last_prune is not None
            and now - self._last_prune < self.prune_every_s
        ):
            return 0
        self._last_prune = now
        with self.sessions() as s:
            res: Any = s.execute(
                delete(ReplyRow).where(ReplyRow.as_of_utc < now - self.retention_s)
            )
            n = res.rowcount
            s.commit()
        if n:
            logger.info("backfill: %d stored replies past retention deleted", n)
        return int(n or 0)

    def drain(self) -> None:
        while True:
            due = self.scheduler.due(self.max_per_tick)
            if not due:
                return
            self._run(due)

    def _run(self, due: list[tuple[str, Any, tuple[Any, ...]]]) -> None:
        try:
            self._run_due(due)
        except Exception:
            # transient (or a failed write): keep every job of this tick for the retry
            for _, _, args in due:
                self.scheduler.schedule(args[0], args[2], _noop, *args)
            raise

    def _run_due(self, due: list[tuple[str, Any, tuple[Any, ...]]]) -> None:
        # The thread "as then known": at the TLC's due time, even when the clock (event time in
        # replay) has already moved past it.
        by_post: dict[tuple[str, int], list[str]] = defaultdict(list)
        for _, _, (tlc, post, at) in due:
            by_post[(post, int(at))].append(tlc)
        rows: list[dict[str, Any]] = []
        replies: list[dict[str, Any]] = []
        for (post, as_of), names in by_post.items():
            self.run_job(
                f"{post}@{as_of}",
                self._outcomes,
                post,
                as_of,
                names,
                rows,
                replies,
                detail={"tlcs": names},
            )
        self._store(rows, replies)

    def _outcomes(
        self,
        post: str,
        as_of: int,
        names: list[str],
        rows: list[dict[str, Any]],
        replies: list[dict[str, Any]],
    ) -> None:
        """Outcomes of ``names`` (TLCs of ``post``) appended to ``rows``, their reply trees to
        ``replies``. A fetcher that cannot
        reach its source now raises ``FetchDeferred``: these jobs are re-scheduled ``retry_s``
        later and the other posts go on; ``None`` means the thread is gone."""
        try:
            thread = self.fetcher.thread(post, as_of)
        except FetchDeferred as exc:
            retry = self.clock.now() + self.retry_s
            for tlc in names:
                self.scheduler.schedule(tlc, retry, _noop, tlc, post, as_of)
            self.deferred += len(names)
            logger.warning("backfill: %s deferred (%s)", post, exc)
            return
        if thread is None:
            self.gone += len(names)
            logger.warning("backfill: thread %s unavailable; %d outcomes skipped", post, len(names))
            return
        wanted = set(names)
        tlcs = [t for t in thread.tlcs if t.name in wanted]
        self.gone += len(wanted) - len(tlcs)
        if not tlcs:
            return
        outs = self.outcomes.compute(tlcs)
        for t, o in zip(tlcs, outs):
            rows.append(
                {
                    "tlc_name": t.name,
                    "post_name": post,
                    "subreddit": thread.post.subreddit,
                    "as_of_utc": int(as_of),
                    "trajectory": None if o.trajectory is None else float(o.trajectory),
                    "safe": None if o.safe is None else float(o.safe),
                    "metrics": jsonable(o.metrics),
                    "n_replies": t.size() - 1,
                    "versions": dict(self.versions),
                    "computed_ms": now_ms(),
                }
            )
            replies += tree_rows(t, post, thread.post.subreddit, int(as_of))

    def _store(self, rows: list[dict[str, Any]], replies: list[dict[str, Any]]) -> None:
        if not rows:
            return
        with self.sessions() as s:
            _keep_erased(s, replies)
            upsert(
                s,
                ReplyRow,
                replies,
                update=["parent_name", "tlc_name", "depth", "author", "body", "score", "as_of_utc"],
            )
            upsert(
                s,
                OutcomeRow,
                rows,
                update=[
                    "as_of_utc",
                    "trajectory",
                    "safe",
                    "metrics",
                    "n_replies",
                    "versions",
                    "computed_ms",
                ],
            )
            s.commit()
        for r in rows:
            self.bus.publish(
                TOPIC_OUTCOMES,
                r["tlc_name"],
                json.dumps(
                    {
                        "tlc": r["tlc_name"],
                        "post": r["post_name"],
                        "subreddit": r["subreddit"],
                        "as_of_utc": r["as_of_utc"],
                        "trajectory": r["trajectory"],
                        "safe": r["safe"],
                    }
                ).encode(),
            )
        self.done += len(rows)
        self.metrics.events_out.labels(stage=self.name).inc(len(rows))

    def health(self) -> dict[str, Any]:
        return {"scheduled": len(self.scheduler), "backfilled": self.done}


def _keep_erased(session: Any, replies: list[dict[str, Any]]) -> None:
    """Blank the text and author of replies already erased (deleted or removed on Reddit): a
    moderator's fetch still sees a removed comment's text, which must not come back."""
    names = [r["name"] for r in replies]
    erased: set[str] = set()
    for i in range(0, len(names), 500):
        erased |= set(
            session.scalars(select(ErasureRow.name).where(ErasureRow.name.in_(names[i : i + 500])))
        )
    for r in replies:
        if r["name"] in erased:
            r["author"] = None
            r["body"] = None


def tree_rows(tlc: Node, post: str, subreddit: str, as_of: int) -> list[dict[str, Any]]:
    """The reply tree under ``tlc`` (itself included, depth 0) as :class:`ReplyRow` values
    seen at ``as_of``."""
    return [
        {
            "name": n.name,
            "tlc_name": tlc.name,
            "post_name": post,
            "subreddit": subreddit,
            "parent_name": n.parent,
            "depth": n.depth - tlc.depth,
            "author": n.author,
            "body": n.body,
            "score": int(n.score),
            "created_utc": int(n.created_utc),
            "as_of_utc": as_of,
        }
        for n in walk(tlc)
    ]
