"""``prosocial live``: the whole moderation assistant in one process.

One process, on the embedded bus + SQLite by default (Kafka + PostgreSQL by configuration):

* a thread runs the ingest stage over :func:`bot.source.live_events` (the asyncpraw reader on
  the process's event loop, :class:`bot.aio.EventLoopThread`);
* the main thread runs the consuming stages (scorer, suggester, evaluator) until idle, then
  waits briefly; the back-fill (threads fetched through the API at each TLC's horizon) has a
  thread of its own, so slow fetches never hold up scoring;
* :class:`bot.jobs.JobScheduler` runs the moderator jobs (wiki configs, digests, seeker alerts,
  approvals and approved actions) and the privacy jobs (deletion re-checks through
  ``/api/info``, the retention purge: :class:`bot.privacy_jobs.PrivacyJobs`) on the service
  clock; the back-fill's and the order refresh's fetches feed deletion sync too.

With ``stages`` narrowed (Kafka + PostgreSQL, one process per stage), a ``live`` process runs
only its stages: with ``ingest`` the reader and the moderator jobs, with ``backfill`` the API
back-fill; the other stages run as ``prosocial run --stage NAME``.

The clock is wall time against Reddit and the dev server's simulated time against it
(:func:`bot.clock.follow_server`). SIGTERM/SIGINT: the reader finishes its round (published,
flushed, marked seen), the stages finish their batch, a running job ends between subreddits, the
bus closes; what was published but not yet consumed is consumed after the restart (offsets are
committed only after each stage's idempotent write). State lives
under ``state_dir`` (seen items, approvals and deliveries, configs, the embedded log), so a
restart resumes without re-sending anything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.aingest import AsyncRedditIngest
from bot.aio import EventLoopThread
from bot.backoff import Backoff
from bot.clock import SimulatedClock, SystemClock, follow_server, reddit_time
from bot.ratelimit import RateBudget
from bot.reddit import ClientSettings, make_async_reddit, make_reddit
from streaming.runtime import StopFlag
from streaming.settings import Settings

__all__ = ["LiveOptions", "LiveService", "install_signals"]

logger = logging.getLogger(__name__)


@dataclass
class LiveOptions:
    subreddits: Sequence[str]
    state_dir: str = "var/live"
    send: bool = True
    idle_s: float = 60.0  # clock seconds between reader rounds that found nothing
    sweep_every_s: float = 600.0
    jobs_every_s: float = 600.0
    request_budget: int = 100  # API requests per back-fill thread fetch
    stuck_after_s: float = 900.0  # clock seconds without a successful poll: not ready
    extra_bots: Sequence[str] = field(default_factory=tuple)
    #: serve the moderators' dashboard in this process (:mod:`bot.dashboard`) when set
    dashboard: Any = None


class LiveService:
    def __init__(
        self,
        settings: Settings,
        options: LiveOptions,
        *,
        client: ClientSettings | None = None,
        clock: SystemClock | SimulatedClock | None = None,
        models: Any = None,
    ) -> None:
        self.models = models  # a streaming.modelset.ModelSet; None: the registry's bundles
        # a line per run, and one per run skipped because the previous one still runs
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        self.options = options
        self.client = client or ClientSettings.from_env()
        self.clock = clock or follow_server(self.client.reddit_url) or SystemClock()
        state = Path(options.state_dir)
        state.mkdir(parents=True, exist_ok=True)
        self.state = state
        if settings.bus == "embedded" and not settings.embedded_log:
            settings = settings.model_copy(update={"embedded_log": str(state / "bus.sqlite")})
        self.settings = settings
        self.budget = RateBudget(self.clock.now)
        self.backoff = Backoff(sleep=self.clock.sleep, base_s=2, cap_s=300, max_tries=6)
        self.last_poll: float | None = None
        self.rounds = 0
        self._stop = StopFlag()

    # -- stop ---------------------------------------------------------------------------
    def stop(self, *_: Any) -> None:
        self._stop.set()

    def stopped(self) -> bool:
        return self._stop()

    def nap(self, seconds: float) -> None:
        """Sleep ``seconds`` of the service clock, waking early on stop."""
        self._stop.wait(self.clock.wall_s(seconds))

    # -- health -------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        h = self.pipeline.health()
        now = self.clock.now()
        age = None if self.last_poll is None else now - self.last_poll
        problems = list(h.get("problems", []))  # stages backing off, database, lag
        reading = self.pipeline.ingest is not None
        if reading and (age is None or age > self.options.stuck_after_s):
            problems.append(f"no successful Reddit poll for {age if age is not None else '∞'}s")
        try:
            from sqlalchemy import text

            with self.pipeline.sessions() as s:
                s.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            problems.append(f"database unreachable: {type(exc).__name__}")
        try:
            lag = self.pipeline.bus.lag(
                "prosocial-scorer", ("reddit.submissions", "reddit.comments")
            )
        except Exception as exc:  # noqa: BLE001
            lag = None
            problems.append(f"bus unreachable: {type(exc).__name__}")
        backfill = self.pipeline.stages.get("backfill")
        nxt = backfill.scheduler.next_run_utc() if backfill is not None else None  # type: ignore[attr-defined]
        h.update(
            ok=not problems,
            backfill_behind_s=None if nxt is None else max(0.0, now - nxt),
            problems=problems,
            last_poll_age_s=age,
            ingest_lag=lag,
            reader_rounds=self.rounds,
            requests=self.budget.requests,
            jobs={
                "runs": {**self.jobs.runs, **self.privacy_sched.runs},
                "failures": {**self.jobs.failures, **self.privacy_sched.failures},
            },
        )
        return h

    # -- assembling ---------------------------------------------------------------------
    def _on_round(self, n: int) -> None:
        self.rounds += 1
        self.last_poll = self.clock.now()

    def _build(self) -> None:
        subs = list(self.options.subreddits)
        self.loop = EventLoopThread()
        reddit = make_reddit(self.client, self.budget, retries=False)  # jobs: they write
        self.me = self.backoff.call(lambda: reddit.user.me(), "who am I").name
        bots = [self.me, *self.options.extra_bots]
        self._build_pipeline(subs, bots)
        self._build_jobs(reddit, subs, bots)

    def _build_pipeline(self, subs: list[str], bots: list[str]) -> None:
        """Reading Reddit (async ingest rounds), the pipeline over them, the back-fill's thread
        fetches and the privacy jobs that see them."""
        from bot.privacy_jobs import PrivacyJobs
        from bot.seen import SeenStore
        from bot.source import ApiThreadFetcher, live_events
        from bot.threads import RedditThreadFetcher
        from streaming.heap import freeze_long_lived
        from streaming.runtime import assemble

        fetch_reddit = make_reddit(self.client, self.budget)  # back-fills (main thread)

        async def areddit() -> Any:
            return make_async_reddit(self.client, self.budget)

        self.areddit = self.loop.run(areddit())
        self.seen = SeenStore(self.state / "seen.sqlite")

        async def asleep(s: float) -> None:
            import asyncio

            await asyncio.sleep(self.clock.wall_s(s))

        self.reader = AsyncRedditIngest(
            self.areddit,
            self.seen,
            subs,
            bots=bots,
            clock=self.clock.now,
            asleep=asleep,
            sweep_every_s=self.options.sweep_every_s,
            backoff=self.backoff,
            budget=self.budget,
        )
        fetcher = ApiThreadFetcher(
            RedditThreadFetcher(
                fetch_reddit,
                request_budget=self.options.request_budget,
                budget=self.budget,
                backoff=self.backoff,
                clock=self.clock.now,
            )
        )
        holder: dict[str, Any] = {}
        source = live_events(
            self.reader,
            run=self.loop.run,
            flush=lambda: holder["bus"].flush(),
            sleep=self.nap,
            stop=self.stopped,
            idle_s=self.options.idle_s,
            on_round=self._on_round,
        )
        self.pipeline = assemble(
            self.settings, clock=self.clock, source=source, fetcher=fetcher, models=self.models
        )
        # deletion sync and retention: the back-fill's fetches, Reddit's order refreshes and
        # the scheduled /api/info re-checks erase what was deleted or removed on Reddit
        self.privacy = PrivacyJobs.build(
            make_reddit(self.client, self.budget),  # its own client: its own worker thread
            self.pipeline.sessions,
            self.settings,
            clock=self.clock.now,
            backoff=self.backoff,
            wall=self.clock.now,
            budget=self.budget,
        )
        fetcher.observer = self.privacy.observe_thread
        backfill = self.pipeline.stages.get("backfill")
        if backfill is not None:  # threads fetched per main-loop round: keep rounds short
            backfill.max_per_tick = 10  # type: ignore[attr-defined]
        holder["bus"] = self.pipeline.bus
        for k, v in self.pipeline.skipped.items():
            logger.warning("not running %s: %s", k, v)
        freeze_long_lived()  # the models are loaded: keep them out of the GC's passes

    def _build_jobs(self, reddit: Any, subs: list[str], bots: list[str]) -> None:
        """What the moderators see and decide: configs, permissions, delivery, seeker alerts,
        Reddit's orders, modmail commands and approved actions."""
        from bot.actions import ActionExecutor
        from bot.alerts import SeekerAlerts, model_judge
        from bot.approval_service import ApproverCheck
        from bot.approvals import ApprovalService, ApprovalStore
        from bot.config import ConfigLoader, ConfigStore
        from bot.delivery import ModeratorDelivery
        from bot.jobs import JobScheduler, LiveJobs
        from bot.modmail_commands import ModmailCommandReader
        from bot.permissions import check_permissions
        from bot.reddit_order import OrderStore, RedditOrderRefresh
        from bot.stored_suggestions import StoredSuggestionSource

        me = self.me
        from streaming.feedback import FeedbackRecorder

        store = ApprovalStore(
            str(self.state / "approvals.sqlite"),
            on_decision=FeedbackRecorder(self.pipeline.sessions).on_decision,
        )
        delivery = ModeratorDelivery(
            reddit, store, me, send=self.options.send, clock=self.clock.now, backoff=self.backoff
        )
        loader = ConfigLoader(
            reddit,
            ConfigStore(str(self.state / "config.sqlite")),
            notify=delivery.notify,
            backoff=self.backoff,
        )
        perms = {
            r.subreddit: r
            for r in check_permissions(reddit, subs, username=me, backoff=self.backoff)
        }

        may_approve = ApproverCheck(reddit, loader, backoff=self.backoff)  # as the dashboard
        service = ApprovalService(store, may_approve, self.clock.now)
        self.store, self.perms = store, perms
        self.delivery = delivery
        alerts = SeekerAlerts(
            reddit,
            delivery,
            self.pipeline.sessions,
            model_judge(self.pipeline.models),
            bots=bots,
            has_reply=self.seen.has_reply,
            backoff=self.backoff,
        )
        orders = OrderStore(str(self.state / "orders.sqlite"))
        self.orders = orders
        refresh = RedditOrderRefresh(
            reddit,
            orders,
            self.pipeline.sessions,
            clock=self.clock.now,
            budget=self.budget,
            backoff=self.backoff,
            max_posts=5,
            observe=self.privacy.observe_items,
        )
        self.live_jobs = LiveJobs(
            subs,
            loader,
            delivery,
            StoredSuggestionSource(
                self.pipeline.sessions,
                has_supportive_reply=lambda t: t in alerts.answered,
                orders=orders,
            ),
            alerts,
            ModmailCommandReader(reddit, service, me, send=self.options.send, backoff=self.backoff),
            ActionExecutor(
                reddit, store, bot_username=me, clock=self.clock.now, backoff=self.backoff
            ),
            can_act=lambda s: s in perms and "posts" not in perms[s].missing and perms[s].moderator,
            order_refresh=refresh,
            stop=self.stopped,
        )
        self.jobs = JobScheduler(self.clock)
        #: the privacy jobs on their own worker: a long digest round never delays a re-check
        self.privacy_sched = JobScheduler(self.clock)

    # -- running ------------------------------------------------------------------------
    def run(self, ops_port: int | None = None) -> int:
        from streaming.ops import OpsServer
        from streaming.pipeline import ORDER

        with reddit_time(self.clock):
            self._build()
            p = self.pipeline
            ops = None
            if ops_port is not None:
                ops = OpsServer(
                    p.metrics, self.health, host=p.settings.metrics_host, port=ops_port
                ).start()
            logger.info(
                "live: r/%s as u/%s (%s clock)",
                "+".join(self.options.subreddits),
                self.me,
                type(self.clock).__name__,
            )
            dashboard = self._dashboard() if self.options.dashboard is not None else None
            self.clock.wait_running(self.stopped)  # a dev server may hold its clock
            ingest = threading.Thread(target=self._ingest, name="ingest", daemon=True)
            backfill = threading.Thread(target=self._backfill, name="backfill", daemon=True)
            if "backfill" in p.runners:
                backfill.start()
            main = [n for n in ORDER if n in p.runners and n != "backfill"]
            if p.ingest is not None:  # the reader, and the jobs: in one process only
                ingest.start()
                self.live_jobs.register(self.jobs, every_s=self.options.jobs_every_s)
                self.jobs.start()
                for job in self.privacy.jobs():
                    self.privacy_sched.add(job.name, job.every_s, job.run)
                self.privacy_sched.start()
            for r in p.runners.values():  # a stop abandons a batch waiting out an outage
                r.stop = self.stopped
            try:
                while not self.stopped():
                    moved = sum(p.runners[n].step(timeout_s=0) for n in main)
                    if not moved:
                        self._stop.wait(0.05)
                    if p.ingest is not None and not ingest.is_alive() and not self.stopped():
                        logger.error("the ingest thread died; stopping")
                        self.stop()
            finally:
                self.stop()
                for t in (ingest, backfill):
                    if t.is_alive():
                        t.join(timeout=30)
                self.jobs.shutdown()
                self.privacy_sched.shutdown()
                p.dead.flush()
                p.bus.close()
                self.loop.run(self.areddit.close(), timeout_s=10)
                self.loop.close()
                self.seen.close()
                if ops is not None:
                    ops.stop()
                if dashboard is not None:
                    dashboard.stop()
        logger.info("stopped cleanly")
        return 0

    def _backfill(self) -> None:
        runner = self.pipeline.runners["backfill"]
        while not self.stopped():
            try:
                runner.step(timeout_s=0.2)
            except Exception:
                logger.exception("back-fill step failed")
                self.nap(60)

    def _dashboard(self) -> Any:
        """The dashboard in this process, with its own Reddit client (its request threads)."""
        from bot.actions import ActionExecutor
        from bot.approval_service import ApproverCheck
        from bot.config import ConfigLoader, ConfigStore
        from bot.dashboard.serve import serve_beside

        reddit = make_reddit(self.client, self.budget, retries=False)
        loader = ConfigLoader(reddit, ConfigStore(str(self.state / "config.sqlite")))
        perms = {k.lower(): v for k, v in self.perms.items()}  # proposals keep lower case

        def ops() -> dict[str, Any]:
            snap = self.budget.snapshot()
            age = None if self.last_poll is None else self.clock.now() - self.last_poll
            return {
                "last_poll": "never" if age is None else f"{age:.0f} s ago (service clock)",
                "reader_rounds": self.rounds,
                "requests_in_10_min_window": self.budget.in_window(),
                "reddit_remaining": snap.remaining,
                "max_requests_in_a_window": snap.max_in_window,
                "throttled_429": snap.throttled,
            }

        return serve_beside(
            self.options.dashboard,
            self.pipeline.sessions,
            store=self.store,
            may_approve=ApproverCheck(reddit, loader, backoff=self.backoff),
            executor=ActionExecutor(
                reddit, self.store, bot_username=self.me, clock=self.clock.now, backoff=self.backoff
            ),
            loader=loader,
            clock=self.clock.now,
            can_act=lambda s: (
                s.lower() in perms
                and "posts" not in perms[s.lower()].missing
                and perms[s.lower()].moderator
            ),
            ops=ops,
            has_supportive_reply=self.seen.has_reply,
            orders=self.orders,
        )

    def _ingest(self) -> None:
        try:
            assert self.pipeline.ingest is not None
            self.pipeline.ingest.run(self.stopped)
        except Exception:
            logger.exception("ingest failed")
            raise


def install_signals(stop: Callable[..., Any]) -> None:
    import signal

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
