"""Table definitions more than one migration writes (so that they cannot drift apart)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["create_outcome_replies", "score_columns"]


def score_columns(*, index_due: bool) -> list[sa.Column[object]]:
    """A TLC's score at creation after its key: forecast, empathy and provenance
    (``scores`` in 0001, ``shadow_scores`` in 0030)."""
    return [
        sa.Column("post_name", sa.String(16), nullable=False, index=True),
        sa.Column("subreddit", sa.String(32), nullable=False, index=True),
        sa.Column("created_utc", sa.BigInteger, nullable=False),
        sa.Column("due_utc", sa.BigInteger, nullable=False, index=index_due),
        sa.Column("forecast", sa.Float),
        sa.Column("lower", sa.Float),
        sa.Column("upper", sa.Float),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("empathy", sa.JSON),
        sa.Column("empathy_label", sa.String(16)),
        sa.Column("empathy_version", sa.String(64)),
        sa.Column("forecaster_version", sa.String(64)),
        sa.Column("config_hash", sa.String(16), nullable=False),
        sa.Column("ingest_ms", sa.BigInteger),
        sa.Column("scored_ms", sa.BigInteger, nullable=False),
    ]


def create_outcome_replies() -> None:
    """The back-fill's reply trees as a table of their own (0030; 0070 merges it into
    ``replies`` and its downgrade brings it back)."""
    op.create_table(
        "outcome_replies",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("tlc_name", sa.String(16), nullable=False, index=True),
        sa.Column("post_name", sa.String(16), nullable=False, index=True),
        sa.Column("subreddit", sa.String(32), nullable=False),
        sa.Column("parent", sa.String(16), nullable=False),
        sa.Column("depth", sa.Integer, nullable=False),
        sa.Column("author", sa.String(64)),
        sa.Column("body", sa.Text),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("created_utc", sa.BigInteger, nullable=False),
        sa.Column("as_of_utc", sa.BigInteger, nullable=False, index=True),
    )
