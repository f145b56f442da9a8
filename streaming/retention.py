"""Bounded retention: stored text expires ``retention_s`` after the item's outcome time.

An item's outcome time is ``created_utc + horizon_s`` (when the back-fill measures the
conversation). After ``retention_s`` more, :class:`RetentionPurge` erases its text and author
through the :class:`~streaming.erasure.Eraser` (reason ``retention``); forecasts, outcomes,
evaluations and trained models stay. Dead letters keep their raw record for ``retention_s`` of
wall time. Run :meth:`RetentionPurge.run` as a scheduled job (``prosocial live``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, asdict, dataclass, field

from sqlalchemy import and_, select, update

from streaming.erasure import Eraser, erasables
from streaming.storage import DeadLetterRow, SessionFactory
from streaming.storage.privacy_tables import ErasureRow

__all__ = ["PurgeReport", "RetentionPurge", "expires_at"]

logger = logging.getLogger(__name__)


def expires_at(created_utc: float, horizon_s: int, retention_s: int) -> float:
    """When an item's stored text expires."""
    return created_utc + horizon_s + retention_s


@dataclass
class PurgeReport:
    purged: dict[str, int] = field(default_factory=dict)  # kind -> items
    dead_letters: int = 0


@dataclass(eq=False)
class RetentionPurge:
    sessions: SessionFactory
    eraser: Eraser
    clock: Callable[[], float]
    _: KW_ONLY
    horizon_s: int
    retention_s: int
    wall: Callable[[], float] = time.time
    batch: int = 5000

    def expired(self, limit: int | None = None) -> dict[str, list[str]]:
        """Fullnames (by kind) whose text has expired and is still stored."""
        cutoff = int(self.clock()) - self.horizon_s - self.retention_s
        out: dict[str, list[str]] = {}
        with self.sessions() as s:
            for e in erasables(primary_only=True):
                idc = e.column(e.id_column)
                query = (
                    select(idc)
                    .outerjoin(ErasureRow, ErasureRow.name == idc)
                    .where(and_(ErasureRow.name.is_(None), e.column(e.created_column) <= cutoff))
                    .limit(limit or self.batch)
                )
                out.setdefault(str(e.kind), []).extend(s.scalars(query))
        return out

    def run(self) -> PurgeReport:
        """Purge everything expired now (in batches); returns what was purged."""
        report = PurgeReport()
        while True:
            due = self.expired()
            names = {n: "retention" for lst in due.values() for n in lst}
            if not names:
                break
            self.eraser.erase(names, via="retention")
            for kind, lst in due.items():
                if lst:
                    report.purged[kind] = report.purged.get(kind, 0) + len(lst)
        report.dead_letters = self._purge_dead_letters()
        if report.purged or report.dead_letters:
            logger.info("retention purge: %s", asdict(report))
        return report

    def _purge_dead_letters(self) -> int:
        cutoff_ms = int((self.wall() - self.retention_s) * 1000)
        with self.sessions() as s:
            query = select(DeadLetterRow.id, DeadLetterRow.reason).where(
                and_(DeadLetterRow.raw != "", DeadLetterRow.at_ms <= cutoff_ms)
            )
            rows = list(s.execute(query).tuples())
            for ident, reason in rows:
                s.execute(
                    update(DeadLetterRow)
                    .where(DeadLetterRow.id == ident)
                    .values(raw="", reason=reason.split(":", 1)[0] + ": [expired]")
                )
            s.commit()
        return len(rows)
