"""The privacy jobs of a running service: deletion re-checks and the retention purge, as
periodic jobs with a clean interface for whatever schedules them (``prosocial live``'s
APScheduler, a cron-like loop, a simulated clock), plus the back-fill fetch observer.

>>> jobs = PrivacyJobs.build(reddit, sessions, settings, clock=time.time)
>>> for job in jobs.jobs(): scheduler.add_job(job.run, "interval", seconds=job.every_s, id=job.name)
>>> fetcher = ApiThreadFetcher(RedditThreadFetcher(reddit), observer=jobs.observe_thread)
>>> refresh = RedditOrderRefresh(reddit, store, sessions, clock=…, observe=jobs.observe_items)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.backoff import Backoff
from bot.deletions import DeletionSync, SyncReport
from bot.ratelimit import RateBudget
from bot.threads import FetchReport
from redditdata.tree import Thread
from streaming.erasure import Eraser
from streaming.rechecks import RecheckSchedule
from streaming.retention import PurgeReport, RetentionPurge
from streaming.settings import Settings
from streaming.storage import SessionFactory

__all__ = ["PeriodicJob", "PrivacyJobs"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class PeriodicJob:
    """``run()`` every ``every_s`` seconds; ``run`` never raises (failures are logged)."""

    name: str
    every_s: float
    run: Callable[[], Any]


def _logged(job: Callable[[], T], failed: str) -> T | None:
    """``job()``, or None after logging ``failed`` (a privacy job never stops the service)."""
    try:
        return job()
    except Exception:
        logger.exception(failed)
        return None


@dataclass
class PrivacyJobs:
    sync: DeletionSync
    purge: RetentionPurge
    #: how often the re-check job looks for due items (each item is due every
    #: ``recheck_every_s``; half of it bounds the delay of a due check and batches fuller)
    recheck_poll_s: float = 1800.0
    purge_every_s: float = 3600.0

    @classmethod
    def build(
        cls,
        reddit: Any,
        sessions: SessionFactory,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
        wall: Callable[[], float] = time.time,
        budget: RateBudget | None = None,
    ) -> PrivacyJobs:
        eraser = Eraser(sessions, clock)
        schedule = RecheckSchedule(
            sessions,
            clock,
            horizon_s=settings.horizon_s,
            retention_s=settings.retention_s,
            every_s=settings.recheck_every_s,
        )
        sync = DeletionSync(reddit, eraser, schedule, backoff=backoff or Backoff(), budget=budget)
        purge = RetentionPurge(
            sessions,
            eraser,
            clock,
            horizon_s=settings.horizon_s,
            retention_s=settings.retention_s,
            wall=wall,
        )
        return cls(sync, purge, recheck_poll_s=settings.recheck_every_s / 2)

    def recheck(self) -> SyncReport | None:
        return _logged(self.sync.run, "deletion re-check failed; retried at the next run")

    def purge_expired(self) -> PurgeReport | None:
        return _logged(self.purge.run, "retention purge failed; retried at the next run")

    def observe_thread(self, thread: Thread, report: FetchReport | None = None) -> None:
        """The back-fill fetcher's observer: erase what the fetched thread shows gone."""
        _logged(
            lambda: self.sync.observe_thread(thread, report),
            "deletion sync of a fetched thread failed",
        )

    def observe_items(self, things: list[Any]) -> None:
        """Any other fetch's items (Reddit's order refresh): erase what they show gone."""
        _logged(
            lambda: self.sync.observe(things, via="order"), "deletion sync of fetched items failed"
        )

    def jobs(self) -> list[PeriodicJob]:
        return [
            PeriodicJob("privacy-recheck", self.recheck_poll_s, self.recheck),
            PeriodicJob("privacy-retention", self.purge_every_s, self.purge_expired),
        ]
