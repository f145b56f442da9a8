"""Dead letters keep the original record (inline when small, else size + sha256 as a
reference) and when it was re-driven, for ``prosocial deadletters``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0060"
down_revision = "0050"


def upgrade() -> None:
    with op.batch_alter_table("dead_letters") as b:
        b.add_column(sa.Column("value", sa.LargeBinary(), nullable=True))
        b.add_column(sa.Column("size", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("sha256", sa.String(64), nullable=True))
        b.add_column(sa.Column("redriven_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dead_letters") as b:
        b.drop_column("redriven_ms")
        b.drop_column("sha256")
        b.drop_column("size")
        b.drop_column("value")
