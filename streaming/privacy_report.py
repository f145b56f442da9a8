"""What the service stores about Reddit users, for ``prosocial privacy report`` and the
dashboard's health page: items with text by kind and age, erased items by reason, pending
re-checks, deletions applied in the last day and what expires next."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select

from streaming.erasure import erasables
from streaming.rechecks import RecheckSchedule
from streaming.storage import DeadLetterRow, SessionFactory
from streaming.storage.privacy_tables import ErasureRow

__all__ = ["AGE_BUCKETS", "format_report", "privacy_report"]

DAY = 86400
#: (label, lower bound in days, upper bound in days) of an item's age
AGE_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("<1d", 0, 1),
    ("1-7d", 1, 7),
    ("7-30d", 7, 30),
    (">=30d", 30, float("inf")),
)


def privacy_report(
    sessions: SessionFactory,
    now: float,
    *,
    horizon_s: int,
    retention_s: int,
    recheck_every_s: int,
) -> dict[str, Any]:
    """The report as a JSON-able mapping (``now``: the service clock, seconds)."""
    now_i = int(now)
    stored: dict[str, dict[str, int]] = {}
    erased: dict[str, dict[str, int]] = {}
    expiring = 0
    with sessions() as s:
        for e in erasables(primary_only=True):
            idc, created = e.column(e.id_column), e.column(e.created_column)
            kept = (
                select(created)
                .outerjoin(ErasureRow, ErasureRow.name == idc)
                .where(ErasureRow.name.is_(None))
                .subquery()
            )
            col = kept.c[e.created_column]
            ages: dict[str, int] = {}
            for label, lo, hi in AGE_BUCKETS:
                cond = col <= now_i - lo * DAY
                if hi != float("inf"):
                    cond = and_(cond, col > now_i - hi * DAY)
                ages[label] = int(s.scalar(select(func.count()).where(cond)) or 0)
            ages["total"] = int(s.scalar(select(func.count()).select_from(kept)) or 0)
            kind_ages = stored.setdefault(str(e.kind), dict.fromkeys(ages, 0))
            for k, v in ages.items():  # several tables can hold one kind (replies)
                kind_ages[k] += v
            cutoff = now_i + DAY - horizon_s - retention_s
            expiring += int(s.scalar(select(func.count()).where(col <= cutoff)) or 0)
            query = (
                select(ErasureRow.reason, func.count())
                .where(ErasureRow.kind == e.kind)
                .group_by(ErasureRow.reason)
            )
            erased.setdefault(str(e.kind), {r: int(n) for r, n in s.execute(query).tuples()})
        recent = select(ErasureRow.reason, ErasureRow.via, func.count()).where(
            and_(ErasureRow.reason != "retention", ErasureRow.erased_utc > now_i - DAY)
        )
        last_day: dict[str, dict[str, int]] = {}
        for reason, via, n in s.execute(recent.group_by(ErasureRow.reason, ErasureRow.via)):
            last_day.setdefault(str(reason), {})[str(via)] = int(n)
        dead_with_text = int(s.scalar(select(func.count()).where(DeadLetterRow.raw != "")) or 0)
    schedule = RecheckSchedule(
        sessions,
        lambda: now,
        horizon_s=horizon_s,
        retention_s=retention_s,
        every_s=recheck_every_s,
    )
    return {
        "as_of_utc": now_i,
        "retention_days": round(retention_s / DAY, 2),
        "horizon_hours": round(horizon_s / 3600, 2),
        "recheck_every_minutes": round(recheck_every_s / 60, 1),
        "stored_with_text": stored,
        "erased": erased,
        "pending_rechecks": len(schedule.due()),
        "deletions_last_day": last_day,
        "expiring_next_day": expiring,
        "dead_letters_with_raw_record": dead_with_text,
    }


def format_report(report: dict[str, Any]) -> list[str]:
    """Plain-text lines of :func:`privacy_report`."""
    lines = [
        (
            f"retention {report['retention_days']} days after the outcome time "
            f"(horizon {report['horizon_hours']} h); re-checks every "
            f"{report['recheck_every_minutes']} min until then and once before expiry"
        ),
        "stored with text (by age):",
    ]
    for kind, ages in report["stored_with_text"].items():
        buckets = ", ".join(f"{k} {v}" for k, v in ages.items() if k != "total")
        lines.append(f"  {kind}: {ages['total']} ({buckets})")
    lines.append("erased (all time, by reason):")
    for kind, reasons in report["erased"].items():
        lines.append(f"  {kind}: {reasons or 'none'}")
    lines.append(f"pending re-checks: {report['pending_rechecks']}")
    lines.append(f"deletions applied in the last day: {report['deletions_last_day'] or 'none'}")
    lines.append(f"text expiring in the next day: {report['expiring_next_day']}")
    lines.append(
        f"dead letters still holding a raw record: {report['dead_letters_with_raw_record']}"
    )
    return lines
