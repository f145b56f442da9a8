"""The live service's scheduled work, run inside the process by APScheduler.

:class:`LiveJobs` holds the moderator-facing jobs (each subreddit's wiki config, digests,
seeker alerts, approvals and approved actions, Reddit's current order of active posts);
:class:`JobScheduler` runs named jobs at
intervals of the service's clock on a ``BackgroundScheduler`` (a few workers)
with ``max_instances=1`` and ``coalesce=True``, so a job never overlaps itself and a run missed while
the process was busy is run once, not repeatedly. Other features add their own jobs with
:meth:`JobScheduler.add` (e.g. a deletion re-check). A job that raises is logged and runs again
at its next time; it never stops the scheduler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.actions import ActionExecutor
from bot.alerts import SeekerAlerts
from bot.config import ConfigLoader, ConfigResult
from bot.delivery import ModeratorDelivery
from bot.modmail_commands import ModmailCommandReader
from bot.reddit_order import RedditOrderRefresh
from bot.suggestions import SuggestionSource

__all__ = ["JobScheduler", "LiveJobs"]

logger = logging.getLogger(__name__)


class JobScheduler:
    """Named interval jobs on the service clock (``clock.wall_s`` converts its seconds)."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.sched = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(4)},  # a slow job never holds up another
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        self.runs: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self.last_ok: dict[str, float] = {}

    def add(self, name: str, every_s: float, fn: Callable[[], Any]) -> None:
        """Run ``fn`` now and then every ``every_s`` seconds of the service clock."""

        def run() -> None:
            self.runs[name] = self.runs.get(name, 0) + 1
            try:
                fn()
                self.last_ok[name] = time.monotonic()
            except Exception:
                self.failures[name] = self.failures.get(name, 0) + 1
                logger.exception("job %s failed", name)

        wall = max(0.05, self.clock.wall_s(every_s))
        self.sched.add_job(
            run,
            IntervalTrigger(seconds=wall, timezone=UTC),
            id=name,
            name=name,
            next_run_time=datetime.now(UTC) + timedelta(seconds=min(wall, 1.0)),
        )

    def start(self) -> None:
        self.sched.start()

    def shutdown(self) -> None:
        """Stop scheduling; wait for a running job to finish."""
        if self.sched.running:
            self.sched.shutdown(wait=True)


def _never() -> bool:
    return False


@dataclass(eq=False)
class LiveJobs:
    """What the moderators see and decide, per subreddit."""

    subreddits: Sequence[str]
    loader: ConfigLoader
    delivery: ModeratorDelivery
    source: SuggestionSource
    alerts: SeekerAlerts
    reader: ModmailCommandReader
    executor: ActionExecutor
    _: KW_ONLY
    can_act: Callable[[str], bool]
    order_refresh: RedditOrderRefresh | None = None
    stop: Callable[[], bool] = _never
    configs: dict[str, ConfigResult] = field(default_factory=dict, init=False)

    def config(self, sub: str) -> ConfigResult:
        if sub not in self.configs:
            self.refresh_configs()
        return self.configs[sub]

    def refresh_configs(self) -> None:
        for sub in self.subreddits:
            self.configs[sub] = self.loader.load(sub)

    def _subs(self) -> list[str]:
        """The subreddits, until a stop is requested (a job ends between subreddits)."""
        return [s for s in self.subreddits if not self.stop()]

    def digests(self) -> None:
        for sub in self._subs():
            cfg = self.config(sub).config
            if cfg.enabled:
                self.delivery.deliver_digest(sub, cfg, self.source)

    def seeker_alerts(self) -> None:
        now = self.delivery.clock()
        for sub in self.subreddits:
            if self.stop():
                return
            self.alerts.run(sub, self.config(sub).config, now, stop=self.stop)

    def approvals(self) -> None:
        for sub in self._subs():
            cfg = self.config(sub).config
            self.reader.poll(sub)
            dry = cfg.dry_run or not self.delivery.send or not self.can_act(sub)
            self.executor.run_approved(sub, dry_run=dry, expire_hours=cfg.actions.expire_hours)

    def refresh_orders(self) -> None:
        if self.order_refresh is not None:
            for sub in self._subs():
                self.order_refresh.run(sub)

    def register(self, sched: JobScheduler, *, every_s: float = 600) -> None:
        sched.add("config", 3 * every_s, self.refresh_configs)
        sched.add("digests", every_s, self.digests)
        sched.add("alerts", every_s, self.seeker_alerts)
        sched.add("approvals", every_s / 2, self.approvals)
        sched.add("reddit-order", 3 * every_s, self.refresh_orders)
