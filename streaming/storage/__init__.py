"""Storage: SQLAlchemy tables, Alembic migrations, idempotent upserts, queries."""

from streaming.storage import tables
from streaming.storage.db import SessionFactory, make_engine, migrate, open_database
from streaming.storage.tables import *  # every table (tables.__all__)
from streaming.storage.upsert import upsert

__all__ = ["SessionFactory", "make_engine", "migrate", "open_database", "upsert"]
__all__ += tables.__all__
