"""Storage: SQLAlchemy tables, Alembic migrations, idempotent upserts, queries."""

from streaming.storage.db import SessionFactory, make_engine, migrate, open_database
from streaming.storage.tables import (
    Base,
    CheckpointScoreRow,
    DeadLetterRow,
    EvaluationRow,
    ModeratorFeedbackRow,
    OutcomeRow,
    PostRow,
    ReplyRow,
    ScoreRow,
    ShadowScoreRow,
    SuggestionRow,
    TlcRow,
)
from streaming.storage.upsert import upsert

__all__ = [
    "Base",
    "CheckpointScoreRow",
    "DeadLetterRow",
    "EvaluationRow",
    "ModeratorFeedbackRow",
    "OutcomeRow",
    "PostRow",
    "ReplyRow",
    "ScoreRow",
    "SessionFactory",
    "ShadowScoreRow",
    "SuggestionRow",
    "TlcRow",
    "make_engine",
    "migrate",
    "open_database",
    "upsert",
]
