"""``tlcs(status, created_utc)`` in place of ``tlcs(status)``: the scorer's due reads (scored
TLCs from a checkpoint's floor on, oldest first) and its missing-post sweep (pending TLCs older
than the grace period) become index ranges in creation order. With ``status`` alone nearly
every TLC matched ``scored``, so each due read visited every TLC ever stored and sorted them.
"""

from alembic import op

revision = "0080"
down_revision = "0070"


def upgrade() -> None:
    op.create_index("ix_tlcs_status_created", "tlcs", ["status", "created_utc"])
    op.drop_index("ix_tlcs_status", table_name="tlcs")


def downgrade() -> None:
    op.create_index("ix_tlcs_status", "tlcs", ["status"])
    op.drop_index("ix_tlcs_status_created", table_name="tlcs")
