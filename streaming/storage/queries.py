"""Queries more than one reader of the database makes."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from streaming.storage.tables import PIPELINE_TABLES, DeadLetterRow, SuggestionRow

__all__ = ["dead_letter_kinds", "latest_revisions", "row_counts"]


def latest_revisions(subreddit: str | None = None) -> Select[str, int]:
    """``(post_name, rev)``: the newest suggestion revision of each post (of ``subreddit``, as
    stored, when given: the dashboard's index covers it)."""
    query = select(SuggestionRow.post_name, func.max(SuggestionRow.revision).label("rev"))
    if subreddit is not None:
        query = query.where(SuggestionRow.subreddit == subreddit)
    return query.group_by(SuggestionRow.post_name)


def row_counts(s: Session) -> dict[str, int]:
    """How many rows each of :data:`PIPELINE_TABLES` holds, by table name."""
    return {
        t.__tablename__: int(s.scalar(select(func.count()).select_from(t)) or 0)
        for t in PIPELINE_TABLES
    }


def dead_letter_kinds(s: Session) -> Counter[tuple[str, str]]:
    """Dead letters by ``(stage, kind)``: the kind is the reason up to its first ``:`` (the
    rest names the record), so the counts hold no record content."""
    kinds: Counter[tuple[str, str]] = Counter()
    query = select(DeadLetterRow.stage, DeadLetterRow.reason, func.count()).group_by(
        DeadLetterRow.stage, DeadLetterRow.reason
    )
    for stage, reason, n in s.execute(query):
        kinds[(stage, str(reason).split(":", 1)[0])] += int(n)
    return kinds
