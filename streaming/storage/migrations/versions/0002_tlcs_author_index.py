"""Index tlcs(author, created_utc): the scorer reads each author's earlier TLCs."""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_index("ix_tlcs_author_created", "tlcs", ["author", "created_utc"])


def downgrade() -> None:
    op.drop_index("ix_tlcs_author_created", table_name="tlcs")
