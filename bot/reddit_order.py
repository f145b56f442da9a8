"""Reddit's current order of a post's top-level comments, kept fresh for active suggestions.

The TLC score seen at ingest soon stops being Reddit's order. For each post whose suggestion is
still active (made within ``active_s``), :class:`RedditOrderRefresh` reads the post's comments
in Reddit's default "best" order (``sort=confidence``, one request per post, only while the rate
budget has room) and records that order and which TLCs are gone (removed, deleted or locked) in
an :class:`OrderStore`. :class:`bot.stored_suggestions.StoredSuggestionSource` shows moderators
the distance to that order and never suggests a gone TLC.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import prawcore
from sqlalchemy import func, select

from bot.backoff import Backoff
from bot.errors import RetriesExhausted
from bot.ratelimit import RateBudget
from bot.sqlite_store import SqliteStore
from streaming.storage import SessionFactory, SuggestionRow

__all__ = ["GONE_BODIES", "OrderStore", "RedditOrderRefresh", "current_orders"]

logger = logging.getLogger(__name__)

GONE_BODIES = ("[removed]", "[deleted]")


Fresh = tuple[list[str], set[str], float]  # Reddit's order, gone TLCs, when read


def current_orders(
    order: list[dict[str, Any]], fresh: Fresh | None, gone: Collection[str] = ()
) -> tuple[list[dict[str, Any]], list[str]]:
    """A stored suggestion's entries without gone TLCs (by suggested rank) and Reddit's current
    order of them: as last read from Reddit, then the rest as stored (score at ingest)."""
    drop = set(gone) | (fresh[1] if fresh is not None else set())
    kept = [o for o in sorted(order, key=lambda o: o["rank"]) if o["tlc"] not in drop]
    known = {o["tlc"] for o in kept}
    by_reddit = [o["tlc"] for o in sorted(kept, key=lambda o: o["reddit_rank"])]
    if fresh is not None:
        read = [t for t in fresh[0] if t in known]
        by_reddit = read + [t for t in by_reddit if t not in set(read)]
    return kept, by_reddit


class OrderStore(SqliteStore):
    """``post → (Reddit's TLC order, gone TLCs, when read)``, in SQLite."""

    schema = (
        "CREATE TABLE IF NOT EXISTS orders (post TEXT PRIMARY KEY, tlcs TEXT NOT NULL, "
        "gone TEXT NOT NULL, at REAL NOT NULL)"
    )

    def save(self, post: str, order: list[str], gone: list[str], at: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO orders VALUES (?,?,?,?)",
                (post, json.dumps(order), json.dumps(gone), at),
            )

    def get(self, post: str) -> tuple[list[str], set[str], float] | None:
        row = self._one("SELECT tlcs, gone, at FROM orders WHERE post=?", (post,))
        return None if row is None else (json.loads(row[0]), set(json.loads(row[1])), row[2])


@dataclass(eq=False)
class RedditOrderRefresh:
    reddit: Any
    store: OrderStore
    sessions: SessionFactory
    _: KW_ONLY
    clock: Callable[[], float]
    budget: RateBudget | None = None
    backoff: Backoff = field(default_factory=Backoff)
    active_s: float = 24 * 3600
    max_posts: int = 20
    #: sees every item read (deletion sync: what Reddit shows deleted or removed)
    observe: Callable[[list[Any]], Any] | None = None

    def active_posts(self, subreddit: str) -> list[str]:
        since = self.clock() - self.active_s
        with self.sessions() as s:
            rows = s.execute(
                select(SuggestionRow.post_name, func.max(SuggestionRow.as_of_utc).label("at"))
                .where(func.lower(SuggestionRow.subreddit) == subreddit.lower())
                .group_by(SuggestionRow.post_name)
                .having(func.max(SuggestionRow.as_of_utc) >= since)
                .order_by(func.max(SuggestionRow.as_of_utc).desc())
                .limit(self.max_posts)
            ).all()
        return [r[0] for r in rows]

    def refresh(self, post: str) -> tuple[list[str], list[str]]:
        """Reddit's order of the post's TLCs (best first) and the gone ones."""
        sub = self.reddit.submission(post.removeprefix("t3_"))
        sub.comment_sort = "confidence"
        forest = self.backoff.call(lambda: list(sub.comments), f"order of {post}")
        if self.observe is not None:
            self.observe([sub, *forest])
        order, gone = [], []
        for c in forest:
            name = getattr(c, "fullname", None)
            if name is None or not name.startswith("t1_") or not hasattr(c, "body"):
                continue  # a "load more comments" stub
            if c.body in GONE_BODIES or getattr(c, "locked", False) or c.author is None:
                gone.append(name)
            else:
                order.append(name)
        return order, gone

    def run(self, subreddit: str) -> int:
        """Refresh the active posts of ``subreddit`` while the budget has room."""
        done = 0
        for post in self.active_posts(subreddit):
            if self.budget is not None and self.budget.pause_needed() > 0:
                logger.info("rate budget low: Reddit's order refresh of r/%s paused", subreddit)
                break
            try:
                order, gone = self.refresh(post)
            except RetriesExhausted as exc:
                logger.warning("order refresh of r/%s postponed: %s", subreddit, exc)
                break
            except prawcore.PrawcoreException as exc:  # the post is gone or hidden
                logger.info("order of %s not readable: %s", post, type(exc).__name__)
                continue
            self.store.save(post, order, gone, self.clock())
            done += 1
        return done
