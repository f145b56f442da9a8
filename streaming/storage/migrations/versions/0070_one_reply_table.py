"""One table for replies: the back-fill's reply trees (``outcome_replies``) move into
``replies``, beside the replies the scorer stores at ingestion (one row per comment).

``replies`` gains the back-fill's view at the horizon (``tlc_name``, ``depth``, ``score``,
``as_of_utc``); ``body`` and ``stored_ms`` become nullable (an erased text, a comment known
only from the back-fill). A comment in both tables keeps its ingestion time and takes the
horizon's text and score. The downgrade splits them again.
"""

import sqlalchemy as sa
from alembic import op

from streaming.storage.migrations.ddl import create_outcome_replies

revision = "0070"
down_revision = "0030"

_HORIZON_COLUMNS = ("tlc_name", "depth", "score", "as_of_utc", "author", "body")


def upgrade() -> None:
    with op.batch_alter_table("replies") as b:
        b.alter_column("body", existing_type=sa.Text, nullable=True)
        b.alter_column("stored_ms", existing_type=sa.BigInteger, nullable=True)
        b.add_column(sa.Column("tlc_name", sa.String(16), nullable=True))
        b.add_column(sa.Column("depth", sa.Integer, nullable=True))
        b.add_column(sa.Column("score", sa.Integer, nullable=True))
        b.add_column(sa.Column("as_of_utc", sa.BigInteger, nullable=True))
        b.create_index("ix_replies_tlc_name", ["tlc_name"])
        b.create_index("ix_replies_as_of_utc", ["as_of_utc"])
    # "WHERE true" lets SQLite parse INSERT … SELECT … ON CONFLICT
    op.execute(
        "INSERT INTO replies (name, post_name, parent_name, subreddit, author, body,"
        " created_utc, stored_ms, tlc_name, depth, score, as_of_utc)"
        " SELECT name, post_name, parent, subreddit, author, body, created_utc, NULL,"
        " tlc_name, depth, score, as_of_utc FROM outcome_replies WHERE true"
        " ON CONFLICT (name) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in _HORIZON_COLUMNS)
    )
    op.drop_table("outcome_replies")


def downgrade() -> None:
    create_outcome_replies()
    op.execute(
        "INSERT INTO outcome_replies (name, tlc_name, post_name, subreddit, parent, depth,"
        " author, body, score, created_utc, as_of_utc)"
        " SELECT name, tlc_name, post_name, subreddit, parent_name, depth, author, body,"
        " score, created_utc, as_of_utc FROM replies WHERE as_of_utc IS NOT NULL"
    )
    op.execute("DELETE FROM replies WHERE stored_ms IS NULL")
    op.execute("UPDATE replies SET body = '[deleted]' WHERE body IS NULL")
    with op.batch_alter_table("replies") as b:
        b.drop_index("ix_replies_as_of_utc")
        b.drop_index("ix_replies_tlc_name")
        b.drop_column("as_of_utc")
        b.drop_column("score")
        b.drop_column("depth")
        b.drop_column("tlc_name")
        b.alter_column("stored_ms", existing_type=sa.BigInteger, nullable=False)
        b.alter_column("body", existing_type=sa.Text, nullable=False)
