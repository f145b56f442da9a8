"""Re-forecasting at checkpoints: the replies seen so far (``replies``), one forecast row per
(TLC, checkpoint, forecaster version) (``checkpoint_scores``), and the moderator-safe outcome
beside the trajectory (``outcomes.safe``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "replies",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("post_name", sa.String(16), nullable=False),
        sa.Column("parent_name", sa.String(16), nullable=False),
        sa.Column("subreddit", sa.String(32), nullable=False),
        sa.Column("author", sa.String(64)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_utc", sa.BigInteger, nullable=False),
        sa.Column("stored_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_replies_post_created", "replies", ["post_name", "created_utc"])
    op.create_table(
        "checkpoint_scores",
        sa.Column("tlc_name", sa.String(16), primary_key=True),
        sa.Column("checkpoint_s", sa.Integer, primary_key=True),
        sa.Column("forecaster_version", sa.String(64), primary_key=True),
        sa.Column("post_name", sa.String(16), nullable=False, index=True),
        sa.Column("subreddit", sa.String(32), nullable=False, index=True),
        sa.Column("created_utc", sa.BigInteger, nullable=False),
        sa.Column("forecast", sa.Float, nullable=False),
        sa.Column("lower", sa.Float),
        sa.Column("upper", sa.Float),
        sa.Column("reasons", sa.JSON),
        sa.Column("config_hash", sa.String(16), nullable=False),
        sa.Column("scored_ms", sa.BigInteger, nullable=False),
    )
    op.add_column("outcomes", sa.Column("safe", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("outcomes") as b:
        b.drop_column("safe")
    op.drop_table("checkpoint_scores")
    op.drop_index("ix_replies_post_created", table_name="replies")
    op.drop_table("replies")
