"""praw / asyncpraw objects → the event schema (:mod:`redditdata.events`).

Only attributes already loaded are read (``vars(obj)``): touching a missing attribute on a lazy
praw object would fire an extra API request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from redditdata.events import Comment, Submission

if TYPE_CHECKING:
    import asyncpraw.models
    import praw.models

__all__ = ["RedditObject", "author_name", "raw_fields", "to_comment", "to_submission"]

#: What the converters accept: a praw or asyncpraw submission or comment, or the raw ``data``
#: dict of an API listing item.
RedditObject: TypeAlias = (
    "praw.models.Submission | praw.models.Comment | asyncpraw.models.Submission"
    " | asyncpraw.models.Comment | Mapping[str, Any]"
)

_KEEP = (
    "id",
    "name",
    "subreddit",
    "author",
    "score",
    "created_utc",
    "permalink",
    "title",
    "selftext",
    "upvote_ratio",
    "over_18",
    "parent_id",
    "link_id",
    "body",
    "depth",
)


def author_name(value: object) -> str | None:
    """A praw ``Redditor`` (or an author string) as the author's name; ``None`` if deleted."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return str(getattr(value, "name", value))


def raw_fields(obj: RedditObject) -> dict[str, Any]:
    """The schema fields of a praw object, or of a raw API ``data`` dict."""
    data = obj if isinstance(obj, dict) else vars(obj)
    out: dict[str, Any] = {}
    for key in _KEEP:
        if key not in data:
            continue
        value = data[key]
        if key == "author":
            value = author_name(value)
        elif key == "subreddit" and not isinstance(value, str):
            value = getattr(value, "display_name", str(value))
        out[key] = value
    return out


def to_submission(obj: RedditObject, retrieved_on: int | None = None) -> Submission:
    record = raw_fields(obj)
    if retrieved_on is not None:
        record["retrieved_on"] = retrieved_on
    return Submission.model_validate(record)


def to_comment(obj: RedditObject, retrieved_on: int | None = None) -> Comment:
    record = raw_fields(obj)
    record.pop("depth", None)
    if retrieved_on is not None:
        record["retrieved_on"] = retrieved_on
    return Comment.model_validate(record)
