"""Reading and re-driving dead letters (``prosocial deadletters list|show|redrive``).

A dead letter whose original record was kept inline (``value``) can be re-published, with its
original key, on its original topic once the cause is fixed. Re-driving is idempotent: the
record is published and flushed first, then the row is stamped ``redriven_ms`` (a crash in
between re-publishes it next time, and every consumer's writes are idempotent); stamped rows
are skipped unless ``again``. Records kept by reference (too large to keep) and timer jobs
(``timer.<stage>``: the stage rebuilds them from storage when it restarts) are reported, not
re-published.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update

from streaming.bus.base import Bus
from streaming.storage import DeadLetterRow, SessionFactory

__all__ = ["RedriveReport", "dead_letter_dict", "find_dead_letters", "redrive"]


def find_dead_letters(
    sessions: SessionFactory,
    *,
    ids: Sequence[str] = (),
    stage: str | None = None,
    reason: str | None = None,
    redriven: bool | None = None,
    limit: int | None = 100,
) -> list[DeadLetterRow]:
    """Dead letters, newest first; ``reason`` matches the reason's prefix (its kind)."""
    query = select(DeadLetterRow).order_by(DeadLetterRow.at_ms.desc(), DeadLetterRow.id)
    if ids:
        query = query.where(DeadLetterRow.id.in_(list(ids)))
    if stage:
        query = query.where(DeadLetterRow.stage == stage)
    if reason:
        query = query.where(DeadLetterRow.reason.startswith(reason))
    if redriven is True:
        query = query.where(DeadLetterRow.redriven_ms.is_not(None))
    elif redriven is False:
        query = query.where(DeadLetterRow.redriven_ms.is_(None))
    if limit:
        query = query.limit(limit)
    with sessions() as s:
        return list(s.scalars(query))


def dead_letter_dict(r: DeadLetterRow, *, raw: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": r.id,
        "stage": r.stage,
        "topic": r.topic,
        "partition": r.partition,
        "offset": r.offset,
        "key": r.key,
        "reason": r.reason,
        "at_ms": r.at_ms,
        "size": r.size,
        "sha256": r.sha256,
        "kept": "inline" if r.value is not None else "by reference",
        "redriven_ms": r.redriven_ms,
    }
    if raw:
        d["raw"] = r.raw
    return d


@dataclass
class RedriveReport:
    redriven: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"redriven": self.redriven, "skipped": self.skipped}


def redrive(
    sessions: SessionFactory,
    bus: Bus,
    rows: Sequence[DeadLetterRow],
    *,
    again: bool = False,
    dry_run: bool = False,
) -> RedriveReport:
    """Re-publish ``rows`` on their original topics (see the module docstring)."""
    rep = RedriveReport()
    todo: list[DeadLetterRow] = []
    for r in rows:
        if r.redriven_ms is not None and not again:
            rep.skipped[r.id] = "already redriven"
        elif r.topic.startswith("timer."):
            rep.skipped[r.id] = "timer job: the stage rebuilds it from storage on restart"
        elif r.value is None:
            rep.skipped[r.id] = (
                f"kept by reference ({r.size} bytes, sha256 {r.sha256}): "
                f"original at {r.topic}/{r.partition}@{r.offset}"
            )
        else:
            todo.append(r)
    if dry_run or not todo:
        rep.redriven = [r.id for r in todo]
        return rep
    for r in todo:
        assert r.value is not None
        bus.publish(r.topic, r.key, bytes(r.value))
    bus.flush()
    now = int(time.time() * 1000)
    with sessions() as s:
        s.execute(
            update(DeadLetterRow)
            .where(DeadLetterRow.id.in_([r.id for r in todo]))
            .values(redriven_ms=now)
        )
        s.commit()
    rep.redriven = [r.id for r in todo]
    return rep
