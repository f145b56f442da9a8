"""When stored items are due for a re-check on Reddit (deletion sync).

Each stored item (every primary table of :mod:`streaming.erasure`) is re-checked every
``every_s`` from ingestion until one check after its outcome time (``created + horizon``),
then once more ``every_s`` before its text expires (``created + horizon + retention``).
Erased items are never re-checked. The bot does the looking up (``bot.deletions``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass

from sqlalchemy import and_, or_, select

from streaming.erasure import erasables
from streaming.storage import SessionFactory, upsert
from streaming.storage.privacy_tables import ErasureRow, RecheckRow

__all__ = ["RecheckSchedule"]


@dataclass(eq=False)
class RecheckSchedule:
    sessions: SessionFactory
    clock: Callable[[], float]
    _: KW_ONLY
    horizon_s: int
    retention_s: int
    every_s: int = 3600

    def due(self, limit: int = 60_000) -> list[str]:
        """Stored, not yet erased fullnames due for a re-check now (oldest first)."""
        now = int(self.clock())
        out: list[tuple[int, str]] = []
        with self.sessions() as s:
            for e in erasables(primary_only=True):
                idc, created = e.column(e.id_column), e.column(e.created_column)
                outcome_at = created + self.horizon_s
                final_at = outcome_at + self.retention_s - self.every_s
                phase1 = and_(
                    created + self.every_s <= now,
                    or_(
                        RecheckRow.name.is_(None),
                        and_(
                            RecheckRow.checked_utc < outcome_at,
                            RecheckRow.checked_utc + self.every_s <= now,
                        ),
                    ),
                )
                final = and_(
                    final_at <= now, or_(RecheckRow.name.is_(None), RecheckRow.final.is_(False))
                )
                query = (
                    select(created, idc)
                    .outerjoin(ErasureRow, ErasureRow.name == idc)
                    .outerjoin(RecheckRow, RecheckRow.name == idc)
                    .where(and_(ErasureRow.name.is_(None), or_(phase1, final)))
                    .order_by(created)
                    .limit(limit)
                )
                out += [(int(c), str(n)) for c, n in s.execute(query).tuples()]
        out.sort()
        names = list(dict.fromkeys(n for _, n in out))  # a TLC can sit in two tables
        return names[:limit]

    def mark_checked(self, names: list[str]) -> None:
        now = int(self.clock())
        with self.sessions() as s:
            known = {
                r.name: r for r in s.scalars(select(RecheckRow).where(RecheckRow.name.in_(names)))
            }
            created: dict[str, int] = {}
            for e in erasables(primary_only=True):
                idc, col = e.column(e.id_column), e.column(e.created_column)
                query = select(idc, col).where(idc.in_(names))
                created.update({str(n): int(c) for n, c in s.execute(query).tuples()})
            rows = []
            for n in names:
                c = created.get(n)
                final_at = None if c is None else c + self.horizon_s + self.retention_s
                final = final_at is not None and now >= final_at - self.every_s
                prev = known.get(n)
                rows.append(
                    {
                        "name": n,
                        "checked_utc": now,
                        "checks": (prev.checks if prev else 0) + 1,
                        "final": bool(final or (prev.final if prev else False)),
                    }
                )
            upsert(s, RecheckRow, rows, update=["checked_utc", "checks", "final"])
            s.commit()
