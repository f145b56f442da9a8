"""Idempotent upserts (``INSERT … ON CONFLICT``) for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from streaming.storage.tables import Base

__all__ = ["upsert"]


def upsert(
    session: Session,
    model: type[Base],
    rows: Sequence[dict[str, Any]],
    update: Sequence[str] | None = None,
) -> int:
    """Insert ``rows``; on a key conflict do nothing, or update the ``update`` columns.

    Returns the number of rows sent. Duplicate keys within ``rows`` keep the first.
    """
    if not rows:
        return 0
    table = cast(Table, model.__table__)
    keys = [c.name for c in table.primary_key.columns]
    seen: set[tuple[Any, ...]] = set()
    uniq = []
    for r in rows:
        k = tuple(r[c] for c in keys)
        if k not in seen:
            seen.add(k)
            uniq.append(r)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:  # pragma: no cover
        raise NotImplementedError(f"upsert on {dialect}")
    # one cached statement, executed with many parameter sets: SQLAlchemy batches them into
    # multi-row VALUES itself ("insertmanyvalues"), within each database's parameter limits,
    # and compiles the statement once instead of once per distinct row count
    stmt = insert(table)
    if update:
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={c: stmt.excluded[c] for c in update}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    session.execute(stmt, uniq)
    return len(uniq)
