"""Storage: SQLAlchemy tables, Alembic migrations, idempotent upserts, queries."""

from streaming.storage.db import SessionFactory, make_engine, migrate, open_database
from streaming.storage.tables import (Base, DeadLetterRow, EvaluationRow, OutcomeRow, PostRow,
                                      ScoreRow, SuggestionRow, TlcRow)
from streaming.storage.upsert import upsert

__all__ = ["SessionFactory", "make_engine", "migrate", "open_database", "upsert", "Base",
           "PostRow", "TlcRow", "ScoreRow", "SuggestionRow", "OutcomeRow", "EvaluationRow",
           "DeadLetterRow"]
