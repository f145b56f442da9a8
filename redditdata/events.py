"""The event schema shared by dumps, the Reddit API and the stream.

The contract: docs/architecture.md, "Events and topics".

Field names follow Pushshift / the Reddit API. Unknown fields are ignored (kept out of the
typed model); wrong types, missing ids and inconsistent fullnames are validation errors.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "MAX_BODY_CHARS",
    "TOPIC_COMMENTS",
    "TOPIC_DEADLETTER",
    "TOPIC_OUTCOMES",
    "TOPIC_SCORES",
    "TOPIC_SUBMISSIONS",
    "Comment",
    "Event",
    "EventKind",
    "Submission",
    "ValidationError",
    "parse_event",
]

TOPIC_SUBMISSIONS = "reddit.submissions"
TOPIC_COMMENTS = "reddit.comments"
TOPIC_SCORES = "prosocial.scores"
TOPIC_OUTCOMES = "prosocial.outcomes"
TOPIC_DEADLETTER = "prosocial.deadletter"

#: Reddit caps comment bodies at 10,000 and self-texts at 40,000 characters; anything larger
#: than this is not a real Reddit item.
MAX_BODY_CHARS = 100_000

_ID36 = re.compile(r"^[0-9a-z]{1,13}$")
_MIN_UTC = 1_104_537_600  # 2005-01-01, before Reddit existed
_MAX_UTC = 4_102_444_800  # 2100-01-01


def _check_id(v: object) -> str:
    if not isinstance(v, str) or not _ID36.match(v):
        raise ValueError(f"not a base-36 Reddit id: {v!r}")
    return v


def _check_utc(v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError(f"created_utc must be a number, got {type(v).__name__}")  # noqa: TRY004 (pydantic wants ValueError)
    try:
        f = float(v)
    except ValueError as exc:
        raise ValueError(f"created_utc not numeric: {v!r}") from exc
    if not (_MIN_UTC <= f <= _MAX_UTC):
        raise ValueError(f"created_utc out of range: {v!r}")
    return int(f)


class _Base(BaseModel):
    FULLNAME_PREFIX: ClassVar[str]
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=False)

    id: str
    name: str = ""
    subreddit: str
    author: str | None = None
    score: int = 0
    created_utc: int
    permalink: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: object) -> str:
        return _check_id(v)

    @field_validator("created_utc", mode="before")
    @classmethod
    def _utc(cls, v: object) -> int:
        return _check_utc(v)

    @field_validator("subreddit", mode="before")
    @classmethod
    def _sub(cls, v: object) -> str:
        if not isinstance(v, str) or not re.match(r"^[A-Za-z0-9_]{2,21}$", v):
            raise ValueError(f"not a subreddit name: {v!r}")
        return v

    @field_validator("score", mode="before")
    @classmethod
    def _score(cls, v: object) -> int:
        if v is None:
            return 0
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"score must be a number, got {type(v).__name__}")  # noqa: TRY004 (pydantic wants ValueError)
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"score must be finite, got {v!r}")
        return int(v)

    @model_validator(mode="after")
    def _fullname(self) -> Self:
        """``name`` is the fullname of ``id``: filled in when missing, checked when given."""
        fullname = f"{self.FULLNAME_PREFIX}{self.id}"
        if not self.name:
            object.__setattr__(self, "name", fullname)
        elif self.name != fullname:
            raise ValueError(f"name {self.name!r} does not match id {self.id!r}")
        return self


class Submission(_Base):
    """A post (``t3_``)."""

    FULLNAME_PREFIX: ClassVar[str] = "t3_"
    kind: Literal["submission"] = "submission"
    title: str = Field(max_length=MAX_BODY_CHARS)
    selftext: str = Field(default="", max_length=MAX_BODY_CHARS)
    upvote_ratio: float | None = None
    over_18: bool = False
    retrieved_on: int | None = None

    @field_validator("selftext", mode="before")
    @classmethod
    def _selftext(cls, v: object) -> object:
        return "" if v is None else v


class Comment(_Base):
    """A comment (``t1_``); a top-level comment (TLC) has ``parent_id == link_id``."""

    FULLNAME_PREFIX: ClassVar[str] = "t1_"
    kind: Literal["comment"] = "comment"
    parent_id: str
    link_id: str
    body: str = Field(max_length=MAX_BODY_CHARS)
    depth: int | None = None
    retrieved_on: int | None = None

    @field_validator("parent_id", "link_id", mode="before")
    @classmethod
    def _fullnames(cls, v: object) -> str:
        if not isinstance(v, str) or not re.match(r"^t[13]_[0-9a-z]{1,13}$", v):
            raise ValueError(f"not a t1_/t3_ fullname: {v!r}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Comment:
        if not self.link_id.startswith("t3_"):
            raise ValueError(f"link_id must be a t3_ fullname: {self.link_id!r}")
        if self.parent_id == self.name:
            raise ValueError("comment is its own parent")
        return self

    @property
    def is_tlc(self) -> bool:
        return self.parent_id == self.link_id


Event = Submission | Comment
#: what an event is (its ``kind``)
EventKind = Literal["submission", "comment"]


def parse_event(record: dict[str, Any], kind: str | None = None) -> Event:
    """Validate a raw record into a :class:`Submission` or :class:`Comment`.

    ``kind`` forces the type; otherwise it is inferred (``parent_id`` ⇒ comment, ``title`` ⇒
    submission, else from the ``name`` prefix). Raises :class:`pydantic.ValidationError` or
    :class:`ValueError` with the reason.
    """
    if not isinstance(record, dict):
        raise ValueError(f"record is not a JSON object but {type(record).__name__}")  # noqa: TRY004 (pydantic wants ValueError)
    if kind is None:
        kind = record.get("kind") if record.get("kind") in get_args(EventKind) else None
    if kind is None:
        name = record.get("name")
        if "parent_id" in record or (isinstance(name, str) and name.startswith("t1_")):
            kind = "comment"
        elif "title" in record or (isinstance(name, str) and name.startswith("t3_")):
            kind = "submission"
        else:
            raise ValueError("cannot tell submission from comment (no parent_id/title/name)")
    if kind == "comment":
        return Comment.model_validate(record)
    if kind == "submission":
        return Submission.model_validate(record)
    raise ValueError(f"unknown kind {kind!r}")
