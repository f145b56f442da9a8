"""Index tlcs(post_name, created_utc, name): the scorer counts each TLC's earlier TLCs on its
post (``streaming.stages.history``) from the index alone, however big the thread.
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_index("ix_tlcs_post_order", "tlcs", ["post_name", "created_utc", "name"])


def downgrade() -> None:
    op.drop_index("ix_tlcs_post_order", table_name="tlcs")
