"""Deletion sync and retention: ``erasures`` (what was erased, why, when; no text) and
``rechecks`` (when each stored item was last looked up on Reddit).
"""

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0020"


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("erased_utc", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_erasures_reason_at", "erasures", ["reason", "erased_utc"])
    op.create_table(
        "rechecks",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("checked_utc", sa.BigInteger, nullable=False),
        sa.Column("checks", sa.Integer, nullable=False),
        sa.Column("final", sa.Boolean, nullable=False),
    )
    op.create_index("ix_rechecks_checked_utc", "rechecks", ["checked_utc"])


def downgrade() -> None:
    op.drop_table("rechecks")
    op.drop_index("ix_erasures_reason_at", table_name="erasures")
    op.drop_table("erasures")
