"""The retraining loop's tables: the reply trees outcomes were measured on
(``outcome_replies``), challenger scores (``shadow_scores``) and moderators' answers to
proposals (``moderator_feedback``).

Revision ID: 0030
Revises: 0060
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0060"
branch_labels = None
depends_on = None


def upgrade() -> None:
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
    op.create_table(
        "shadow_scores",
        sa.Column("tlc_name", sa.String(16), primary_key=True),
        sa.Column("challenger", sa.String(80), primary_key=True),
        sa.Column("post_name", sa.String(16), nullable=False, index=True),
        sa.Column("subreddit", sa.String(32), nullable=False, index=True),
        sa.Column("created_utc", sa.BigInteger, nullable=False),
        sa.Column("due_utc", sa.BigInteger, nullable=False),
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
    )
    op.create_table(
        "moderator_feedback",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("subreddit", sa.String(32), nullable=False, index=True),
        sa.Column("post_name", sa.String(16), nullable=False, index=True),
        sa.Column("tlc_name", sa.String(16), index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("moderator", sa.String(64)),
        sa.Column("proposed_utc", sa.BigInteger, nullable=False),
        sa.Column("decided_utc", sa.BigInteger, nullable=False),
        sa.Column("suggestion_revision", sa.Integer),
        sa.Column("forecaster_version", sa.String(64)),
        sa.Column("params", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("moderator_feedback")
    op.drop_table("shadow_scores")
    op.drop_table("outcome_replies")
