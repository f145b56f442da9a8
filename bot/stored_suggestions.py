"""A :class:`bot.suggestions.SuggestionSource` over the stream service's storage.

Reads each post's newest :class:`streaming.storage.SuggestionRow` (the suggested order with
reasons and Reddit's rank of every TLC), the post's title from ``posts``, and the TLCs whose
empathy label is ``seeking``. Whether such a TLC has drawn a supportive reply is answered by
``has_supportive_reply`` (default: any reply the bot has seen, from its
:class:`bot.seen.SeenStore` — the supportiveness of replies is only scored at the horizon).
Posts and TLCs erased after a deletion (:mod:`streaming.erasure`) are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import func, select

from bot.suggestions import EmpathySeeker, PostSuggestion
from streaming.erasure import MARKERS
from streaming.storage import PostRow, ScoreRow, SessionFactory, SuggestionRow, TlcRow

__all__ = ["StoredSuggestionSource"]

_ERASED = frozenset(MARKERS.values())  # text of a deleted / removed / expired item


class StoredSuggestionSource:
    def __init__(
        self,
        sessions: SessionFactory,
        has_supportive_reply: Callable[[str], bool] = lambda _: False,
    ) -> None:
        self.sessions = sessions
        self.has_supportive_reply = has_supportive_reply

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
                if post.title in _ERASED:  # deleted or removed on Reddit: nothing to suggest
                    continue
                order = sorted(sug.order, key=lambda o: o["rank"])
                current = tuple(o["tlc"] for o in sorted(sug.order, key=lambda o: o["reddit_rank"]))
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
                    if t.body not in _ERASED and not self.has_supportive_reply(t.name)
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
