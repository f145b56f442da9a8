"""Storage: SQLAlchemy tables, Alembic migrations, idempotent upserts, queries."""

from streaming.storage.db import SessionFactory, make_engine, migrate, open_database
from streaming.storage.tables import (
    Base,
    DeadLetterRow,
    EvaluationRow,
    OutcomeRow,
    PostRow,
    ScoreRow,
    SuggestionRow,
    TlcRow,
)
from streaming.storage.upsert import upsert

__all__ = [
    "Base",
    "DeadLetterRow",
    "EvaluationRow",
    "OutcomeRow",
    "PostRow",
    "ScoreRow",
    "SessionFactory",
    "SuggestionRow",
    "TlcRow",
    "make_engine",
    "migrate",
    "open_database",
    "upsert",
]
