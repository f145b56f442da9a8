"""A :class:`bot.suggestions.SuggestionSource` over the stream service's storage.

Reads each post's newest :class:`streaming.storage.SuggestionRow` (the suggested order with
reasons and Reddit's rank of every TLC), the post's title from ``posts``, and the TLCs whose
empathy label is ``seeking``. With an :class:`bot.reddit_order.OrderStore`, Reddit's order is
the one last read from Reddit, and TLCs found removed, deleted or locked there (or stored with
a removed/deleted body) are never suggested or listed. Whether a seeker has drawn a supportive
reply is answered by ``has_supportive_reply`` (the live service alerts through
:class:`bot.alerts.SeekerAlerts`, which asks Reddit and the models).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import func, select

from bot.reddit_order import GONE_BODIES, OrderStore
from bot.suggestions import EmpathySeeker, PostSuggestion
from streaming.storage import PostRow, ScoreRow, SessionFactory, SuggestionRow, TlcRow

__all__ = ["StoredSuggestionSource"]


class StoredSuggestionSource:
    def __init__(
        self,
        sessions: SessionFactory,
        has_supportive_reply: Callable[[str], bool] = lambda _: False,
        orders: OrderStore | None = None,
    ) -> None:
        self.sessions = sessions
        self.has_supportive_reply = has_supportive_reply
        self.orders = orders

    def suggestions(self, subreddit: str, since_utc: int) -> Sequence[PostSuggestion]:
        out: list[PostSuggestion] = []
        with self.sessions() as s:
            latest = (
                select(SuggestionRow.post_name, func.max(SuggestionRow.revision).label("rev"))
                .where(func.lower(SuggestionRow.subreddit) == subreddit.lower())
                .group_by(SuggestionRow.post_name)
                .subquery()
            )
            rows = s.execute(
                select(SuggestionRow, PostRow)
                .join(
                    latest,
                    (SuggestionRow.post_name == latest.c.post_name)
                    & (SuggestionRow.revision == latest.c.rev),
                )
                .join(PostRow, PostRow.name == SuggestionRow.post_name)
                .where(PostRow.created_utc >= since_utc)
            ).all()
            for sug, post in rows:
                gone = set(
                    s.execute(
                        select(TlcRow.name).where(
                            TlcRow.post_name == post.name, TlcRow.body.in_(GONE_BODIES)
                        )
                    ).scalars()
                )
                fresh = self.orders.get(post.name) if self.orders is not None else None
                if fresh is not None:
                    gone |= fresh[1]
                order = [
                    o for o in sorted(sug.order, key=lambda o: o["rank"]) if o["tlc"] not in gone
                ]
                known = {o["tlc"] for o in order}
                by_reddit = [o["tlc"] for o in sorted(order, key=lambda o: o["reddit_rank"])]
                if fresh is not None:  # Reddit's order as last read, then the rest as stored
                    read = [t for t in fresh[0] if t in known]
                    by_reddit = read + [t for t in by_reddit if t not in set(read)]
                current = tuple(by_reddit)
                reasons = {
                    o["tlc"]: "; ".join(str(r) for r in o.get("reasons") or []) for o in order
                }
                seeking = (
                    s.execute(
                        select(TlcRow)
                        .join(ScoreRow, ScoreRow.tlc_name == TlcRow.name)
                        .where(TlcRow.post_name == post.name, ScoreRow.empathy_label == "seeking")
                    )
                    .scalars()
                    .all()
                )
                seekers = tuple(
                    EmpathySeeker(
                        t.name,
                        post.name,
                        t.author,
                        f"/r/{post.subreddit}/comments/{post.name[3:]}/_/{t.name[3:]}/",
                        t.body[:200],
                        t.created_utc,
                    )
                    for t in seeking
                    if t.name not in gone and not self.has_supportive_reply(t.name)
                )
                out.append(
                    PostSuggestion(
                        post.name,
                        post.subreddit,
                        post.title,
                        f"/r/{post.subreddit}/comments/{post.name[3:]}/",
                        current,
                        tuple(o["tlc"] for o in order),
                        reasons,
                        seekers,
                    )
                )
        return out
