"""``scores(scored_ms)``: the scorer's late re-forecast reads (the TLCs scored after their
checkpoint's floor had passed them, found among those scored since the last such read) become
an index range over the recently scored TLCs, in place of a read over every stored TLC once a
minute (docs/architecture.md, "Stages and their contracts").
"""

from alembic import op

revision = "0090"
down_revision = "0080"


def upgrade() -> None:
    op.create_index("ix_scores_scored_ms", "scores", ["scored_ms"])


def downgrade() -> None:
    op.drop_index("ix_scores_scored_ms", table_name="scores")
