"""Index tlcs(author, created_utc): the scorer reads each author's earlier TLCs.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tlcs_author_created", "tlcs", ["author", "created_utc"])


def downgrade() -> None:
    op.drop_index("ix_tlcs_author_created", table_name="tlcs")
