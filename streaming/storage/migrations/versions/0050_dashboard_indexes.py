"""Indexes for the dashboard's pages: the newest suggestion of each post of a subreddit
(``suggestions(subreddit, post_name, revision)``) and a subreddit's empathy seekers by age
(``scores(subreddit, empathy_label, created_utc)``).
"""

from alembic import op

revision = "0050"
down_revision = "0040"


def upgrade() -> None:
    op.create_index(
        "ix_suggestions_sub_post_rev", "suggestions", ["subreddit", "post_name", "revision"]
    )
    op.create_index(
        "ix_scores_sub_label_created", "scores", ["subreddit", "empathy_label", "created_utc"]
    )


def downgrade() -> None:
    op.drop_index("ix_scores_sub_label_created", table_name="scores")
    op.drop_index("ix_suggestions_sub_post_rev", table_name="suggestions")
