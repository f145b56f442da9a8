"""APScheduler on the injected clock (docs/architecture.md, "Time").

:class:`ClockScheduler` keeps jobs in an APScheduler ``MemoryJobStore`` with ``DateTrigger``s
but decides what is due from the injected :class:`~streaming.clock.Clock`, not the wall: in
replay the clock is event time, so a back-fill "48 hours later" fires when the replay reaches
that moment, through exactly the code path used live.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.date import DateTrigger

from streaming.clock import Clock

__all__ = ["ClockScheduler"]


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


class _PassiveScheduler(BaseScheduler):
    """A scheduler that never wakes itself: :class:`ClockScheduler` pulls due jobs."""

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)

    def wakeup(self) -> None:
        return None


class ClockScheduler:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._store = MemoryJobStore()
        self._sched = _PassiveScheduler(timezone=UTC)
        self._sched.add_jobstore(self._store, "default")
        self._sched.start(paused=True)

    def schedule(self, job_id: str, at_utc: float, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` once the clock reaches ``at_utc`` (same id → replaced)."""
        self._sched.add_job(
            func,
            DateTrigger(run_date=_dt(at_utc), timezone=UTC),
            args=args,
            id=job_id,
            replace_existing=True,
            misfire_grace_time=None,
        )

    def due(
        self, limit: int | None = None
    ) -> list[tuple[str, Callable[..., Any], tuple[Any, ...]]]:
        """Pop the jobs due at the clock's now (oldest first)."""
        jobs = self._store.get_due_jobs(_dt(self.clock.now()))
        if limit is not None:
            jobs = jobs[:limit]
        out = []
        for j in jobs:
            out.append((j.id, j.func, tuple(j.args)))
            self._store.remove_job(j.id)
        return out

    def __len__(self) -> int:
        return len(self._store.get_all_jobs())

    def next_run_utc(self) -> float | None:
        t = self._store.get_next_run_time()
        return None if t is None else t.timestamp()

    def shutdown(self) -> None:
        self._sched.shutdown(wait=False)
