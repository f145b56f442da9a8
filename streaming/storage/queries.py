"""Queries more than one reader of the database makes."""

from __future__ import annotations

from sqlalchemy import Select, func, select

from streaming.storage.tables import SuggestionRow

__all__ = ["latest_revisions"]


def latest_revisions(subreddit: str | None = None) -> Select[str, int]:
    """``(post_name, rev)``: the newest suggestion revision of each post (of ``subreddit``, as
    stored, when given: the dashboard's index covers it)."""
    query = select(SuggestionRow.post_name, func.max(SuggestionRow.revision).label("rev"))
    if subreddit is not None:
        query = query.where(SuggestionRow.subreddit == subreddit)
    return query.group_by(SuggestionRow.post_name)
