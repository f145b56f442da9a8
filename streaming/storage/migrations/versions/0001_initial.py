"""Initial schema: posts, tlcs, scores, suggestions, outcomes, evaluations, dead letters."""

import sqlalchemy as sa
from alembic import op

from streaming.storage.migrations.ddl import score_columns

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "posts",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("subreddit", sa.String(32), nullable=False, index=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("selftext", sa.Text, nullable=False),
        sa.Column("author", sa.String(64)),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("created_utc", sa.BigInteger, nullable=False),
        sa.Column("retrieved_on", sa.BigInteger),
    )
    op.create_table(
        "tlcs",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("post_name", sa.String(16), nullable=False, index=True),
        sa.Column("subreddit", sa.String(32), nullable=False),
        sa.Column("author", sa.String(64)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("created_utc", sa.BigInteger, nullable=False, index=True),
        sa.Column("ingest_ms", sa.BigInteger),
        sa.Column("stored_ms", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(8), nullable=False, index=True),
    )
    op.create_table(
        "scores",
        sa.Column("tlc_name", sa.String(16), primary_key=True),
        *score_columns(index_due=True),
    )
    op.create_table(
        "suggestions",
        sa.Column("post_name", sa.String(16), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column("subreddit", sa.String(32), nullable=False, index=True),
        sa.Column("as_of_utc", sa.BigInteger, nullable=False),
        sa.Column("order", sa.JSON, nullable=False),
        sa.Column("diff", sa.JSON, nullable=False),
        sa.Column("forecaster_version", sa.String(64)),
        sa.Column("latency_s", sa.Float),
        sa.Column("made_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "outcomes",
        sa.Column("tlc_name", sa.String(16), primary_key=True),
        sa.Column("post_name", sa.String(16), nullable=False, index=True),
        sa.Column("subreddit", sa.String(32), nullable=False, index=True),
        sa.Column("as_of_utc", sa.BigInteger, nullable=False),
        sa.Column("trajectory", sa.Float),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("n_replies", sa.Integer, nullable=False),
        sa.Column("versions", sa.JSON, nullable=False),
        sa.Column("computed_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "evaluations",
        sa.Column("subreddit", sa.String(32), primary_key=True),
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("window_end_utc", sa.BigInteger, primary_key=True),
        sa.Column("n_tlcs", sa.Integer, nullable=False),
        sa.Column("n_posts", sa.Integer, nullable=False),
        sa.Column("figures", sa.JSON, nullable=False),
        sa.Column("computed_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("stage", sa.String(32), nullable=False, index=True),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("key", sa.String(256)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for t in ("dead_letters", "evaluations", "outcomes", "suggestions", "scores", "tlcs", "posts"):
        op.drop_table(t)
