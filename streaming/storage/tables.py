"""The service's tables as SQLAlchemy 2 typed models.

See docs/architecture.md, "Storage and idempotent upserts".

Every table is keyed by a Reddit fullname (or fullname + revision / window) so that writes are
idempotent upserts (:mod:`streaming.storage.upsert`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from redditdata.tree import Node

__all__ = [
    "PIPELINE_TABLES",
    "Base",
    "CheckpointScoreRow",
    "DeadLetterRow",
    "EvaluationRow",
    "ModeratorFeedbackRow",
    "OutcomeRow",
    "PostRow",
    "ReplyRow",
    "ScoreColumns",
    "ScoreRow",
    "ShadowScoreRow",
    "SuggestionRow",
    "TlcRow",
]


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class PostRow(Base):
    __tablename__ = "posts"
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    subreddit: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(Text)
    selftext: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(String(64), nullable=True)
    score: Mapped[int] = mapped_column(Integer, default=0)
    created_utc: Mapped[int] = mapped_column(BigInteger)
    retrieved_on: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class TlcRow(Base):
    """A top-level comment as ingested; ``status`` is pending → scored (or dead)."""

    __tablename__ = "tlcs"
    #: the scorer counts an author's and a post's earlier TLCs (forecaster inputs;
    #: migrations 0002, 0003) and reads the TLCs due for a re-forecast by status and age (0080)
    __table_args__ = (
        Index("ix_tlcs_author_created", "author", "created_utc"),
        Index("ix_tlcs_post_order", "post_name", "created_utc", "name"),
        Index("ix_tlcs_status_created", "status", "created_utc"),
    )
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    post_name: Mapped[str] = mapped_column(String(16), index=True)
    subreddit: Mapped[str] = mapped_column(String(32))
    author: Mapped[str | None] = mapped_column(String(64), nullable=True)
    body: Mapped[str] = mapped_column(Text)
    score: Mapped[int] = mapped_column(Integer, default=0)
    created_utc: Mapped[int] = mapped_column(BigInteger, index=True)
    ingest_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    stored_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(8), default="pending")

    def as_node(self) -> Node:
        """This TLC as a comment tree's node (without replies): its parent is its post."""
        return Node(self.name, self.post_name, self.author, self.body, self.score, self.created_utc)


class ScoreColumns:
    """A TLC's score at creation after its key (the due time is each table's own: indexed in
    ``scores``): forecast, empathy and provenance (bundle versions, config hash)."""

    post_name: Mapped[str] = mapped_column(String(16), index=True)
    subreddit: Mapped[str] = mapped_column(String(32), index=True)
    created_utc: Mapped[int] = mapped_column(BigInteger)
    forecast: Mapped[float | None] = mapped_column(Float, nullable=True)
    lower: Mapped[float | None] = mapped_column(Float, nullable=True)
    upper: Mapped[float | None] = mapped_column(Float, nullable=True)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    empathy: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    empathy_label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    empathy_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    forecaster_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    config_hash: Mapped[str] = mapped_column(String(16))
    ingest_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    scored_ms: Mapped[int] = mapped_column(BigInteger)


class ScoreRow(ScoreColumns, Base):
    """Forecast + empathy for one TLC, with provenance (bundle versions, config hash)."""

    __tablename__ = "scores"
    #: a subreddit's empathy seekers by age (the dashboard; migration 0050); the TLCs scored
    #: since a moment (the scorer's late re-forecast reads; migration 0090)
    __table_args__ = (
        Index("ix_scores_sub_label_created", "subreddit", "empathy_label", "created_utc"),
        Index("ix_scores_scored_ms", "scored_ms"),
    )
    tlc_name: Mapped[str] = mapped_column(String(16), primary_key=True)
    due_utc: Mapped[int] = mapped_column(BigInteger, index=True)


class ReplyRow(Base):
    """A comment of a post's reply tree, one row per comment whoever stored it first.

    The scorer stores every reply (any comment below a TLC) as ingested (``stored_ms``): what a
    checkpoint re-forecast reads, its TLC found by following ``parent_name`` up the tree. At
    the horizon the back-fill stores the tree each outcome was measured on (``tlc_name``,
    ``depth``, ``score`` and the text as seen at ``as_of_utc``; the TLC itself is the row with
    ``depth`` 0) so that ``prosocial export`` can write the service's own data as a dump; those
    rows are kept for ``reply_retention_days``. ``author`` / ``body`` are nullable so that an
    erased comment's text can go while the tree's shape stays.
    """

    __tablename__ = "replies"
    __table_args__ = (Index("ix_replies_post_created", "post_name", "created_utc"),)
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    post_name: Mapped[str] = mapped_column(String(16))
    parent_name: Mapped[str] = mapped_column(String(16))
    subreddit: Mapped[str] = mapped_column(String(32))
    author: Mapped[str | None] = mapped_column(String(64), nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_utc: Mapped[int] = mapped_column(BigInteger)
    #: when the scorer stored it (None: known only from the back-fill)
    stored_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: the back-fill's view at the horizon (None until then; migration 0070)
    tlc_name: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    depth: Mapped[int | None] = mapped_column(Integer, nullable=True)
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    as_of_utc: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)


class CheckpointScoreRow(Base):
    """A TLC re-forecast ``checkpoint_s`` seconds after it was posted, from the conversation
    as it stood then (one row per TLC, checkpoint and forecaster version; migration 0020).
    The forecast at creation stays in ``scores``."""

    __tablename__ = "checkpoint_scores"
    tlc_name: Mapped[str] = mapped_column(String(16), primary_key=True)
    checkpoint_s: Mapped[int] = mapped_column(Integer, primary_key=True)
    forecaster_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    post_name: Mapped[str] = mapped_column(String(16), index=True)
    subreddit: Mapped[str] = mapped_column(String(32), index=True)
    created_utc: Mapped[int] = mapped_column(BigInteger)
    forecast: Mapped[float] = mapped_column(Float)
    lower: Mapped[float | None] = mapped_column(Float, nullable=True)
    upper: Mapped[float | None] = mapped_column(Float, nullable=True)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    config_hash: Mapped[str] = mapped_column(String(16))
    scored_ms: Mapped[int] = mapped_column(BigInteger)


class SuggestionRow(Base):
    """A post's suggested TLC order at one revision (= number of scored TLCs it covers)."""

    __tablename__ = "suggestions"
    #: the newest revision of each post of a subreddit (the dashboard; migration 0050)
    __table_args__ = (Index("ix_suggestions_sub_post_rev", "subreddit", "post_name", "revision"),)
    post_name: Mapped[str] = mapped_column(String(16), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    subreddit: Mapped[str] = mapped_column(String(32), index=True)
    as_of_utc: Mapped[int] = mapped_column(BigInteger)
    order: Mapped[list[Any]] = mapped_column(JSON)
    diff: Mapped[list[Any]] = mapped_column(JSON)
    forecaster_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    latency_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    made_ms: Mapped[int] = mapped_column(BigInteger)


class OutcomeRow(Base):
    """The back-filled outcome of a TLC (thread as known at ``as_of_utc``)."""

    __tablename__ = "outcomes"
    tlc_name: Mapped[str] = mapped_column(String(16), primary_key=True)
    post_name: Mapped[str] = mapped_column(String(16), index=True)
    subreddit: Mapped[str] = mapped_column(String(32), index=True)
    as_of_utc: Mapped[int] = mapped_column(BigInteger)
    trajectory: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: the moderator-safe outcome (migration 0020; None before it or without its bundle)
    safe: Mapped[float | None] = mapped_column(Float, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    n_replies: Mapped[int] = mapped_column(Integer, default=0)
    versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    computed_ms: Mapped[int] = mapped_column(BigInteger)


class ShadowScoreRow(ScoreColumns, Base):
    """A challenger's score of a TLC, kept apart from the champion's :class:`ScoreRow` (same
    provenance fields); ``challenger`` is ``<model>@<version>``."""

    __tablename__ = "shadow_scores"
    tlc_name: Mapped[str] = mapped_column(String(16), primary_key=True)
    challenger: Mapped[str] = mapped_column(String(80), primary_key=True)
    due_utc: Mapped[int] = mapped_column(BigInteger)


class ModeratorFeedbackRow(Base):
    """A moderator's answer to a proposal made from a suggestion (approved, rejected, or
    expired unanswered), with the suggestion it answered: a label for later training."""

    __tablename__ = "moderator_feedback"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    subreddit: Mapped[str] = mapped_column(String(32), index=True)
    post_name: Mapped[str] = mapped_column(String(16), index=True)
    tlc_name: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(32))
    decision: Mapped[str] = mapped_column(String(16))
    moderator: Mapped[str | None] = mapped_column(String(64), nullable=True)
    proposed_utc: Mapped[int] = mapped_column(BigInteger)
    decided_utc: Mapped[int] = mapped_column(BigInteger)
    suggestion_revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    forecaster_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EvaluationRow(Base):
    """Rolling figures per subreddit and model (or reference order) at a window end."""

    __tablename__ = "evaluations"
    subreddit: Mapped[str] = mapped_column(String(32), primary_key=True)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_end_utc: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    n_tlcs: Mapped[int] = mapped_column(Integer)
    n_posts: Mapped[int] = mapped_column(Integer)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_ms: Mapped[int] = mapped_column(BigInteger)


class DeadLetterRow(Base):
    """A record a stage could not use, with where it came from and why."""

    __tablename__ = "dead_letters"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), index=True)
    topic: Mapped[str] = mapped_column(String(64))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str | None] = mapped_column(String(256), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    at_ms: Mapped[int] = mapped_column(BigInteger)
    #: the original record when it was small enough to keep inline (else by reference:
    #: topic, partition, offset, size, sha256)
    value: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: when ``prosocial deadletters redrive`` re-published it (None = not yet)
    redriven_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


#: the tables the pipeline's stages fill, in pipeline order
PIPELINE_TABLES: tuple[type[Base], ...] = (
    PostRow,
    TlcRow,
    ScoreRow,
    SuggestionRow,
    OutcomeRow,
    EvaluationRow,
    DeadLetterRow,
)
