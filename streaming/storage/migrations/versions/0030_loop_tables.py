"""The retraining loop's tables: the reply trees outcomes were measured on
(``outcome_replies``), challenger scores (``shadow_scores``) and moderators' answers to
proposals (``moderator_feedback``).
"""

import sqlalchemy as sa
from alembic import op

from streaming.storage.migrations.ddl import create_outcome_replies, score_columns

revision = "0030"
down_revision = "0060"


def upgrade() -> None:
    create_outcome_replies()
    op.create_table(
        "shadow_scores",
        sa.Column("tlc_name", sa.String(16), primary_key=True),
        sa.Column("challenger", sa.String(80), primary_key=True),
        *score_columns(index_due=False),
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
