"""A simulated run of deletion sync and retention against the dev server (``--delete-rate``).

Dev server (real threads, a share deleted / removed / accounts deleted) → praw ingest → bus →
the stream service's scorer, suggester and back-fill (whose thread fetches feed deletion sync)
→ the scheduled re-check (``/api/info``, 100 per request) and retention purge jobs, all on the
simulated clock. Returns the figures, including the re-check request cost per 1,000 stored TLCs.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.backoff import Backoff
from bot.deletions import INFO_BATCH
from bot.devserver.deletions import DeletionPlan
from bot.devserver.faults import FaultPlan
from bot.devserver.server import DevRedditServer
from bot.devserver.simservice import settle, stream_service
from bot.devserver.simtools import sim_sleep
from bot.devserver.world import load_world
from bot.errors import RetriesExhausted
from bot.ingest import RedditIngest
from bot.privacy_jobs import PrivacyJobs
from bot.ratelimit import RateBudget
from bot.reddit import ClientSettings, make_reddit
from bot.seen import SeenStore
from streaming.bus.embedded import EmbeddedBus
from streaming.settings import load_settings
from streaming.storage import open_database

__all__ = ["PrivacyRun", "run_privacy_sim"]

logger = logging.getLogger(__name__)


@dataclass
class PrivacyRun:
    figures: dict[str, Any]
    plan: DeletionPlan
    world: Any
    sessions: Any
    end: float


def run_privacy_sim(
    data_dir: str | Path,
    subreddits: Sequence[str],
    day: str,
    models: Any,
    database_url: str,
    *,
    hours: float = 12,
    delete_rate: float = 0.1,
    account_rate: float | None = None,
    horizon_s: int = 3 * 3600,
    retention_s: int = 4 * 3600,
    recheck_every_s: int = 3600,
    poll_every_s: float = 120,
    fault_rate: float = 0.0,
    seed: int = 11,
    max_delay_s: float | None = None,
) -> PrivacyRun:
    start = datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
    end = start + hours * 3600
    world = load_world(data_dir, subreddits, start, end, seed=seed)
    subs = [world.subreddits[s.lower()] for s in subreddits]
    bot = world.bot_username
    world.moderators = {s.lower(): {bot: ["all"], "mod_alice": ["all"]} for s in subs}
    if len(subs) > 1:  # the bot sees removals there as everyone does: "[removed]"
        world.moderators[subs[-1].lower()] = {bot: ["mail", "wiki"], "mod_alice": ["all"]}
    plan = DeletionPlan(
        delete_rate,
        account_rate=account_rate,
        seed=seed,
        max_delay_s=horizon_s if max_delay_s is None else max_delay_s,
    ).attach(world)
    bus = EmbeddedBus()
    with (
        DevRedditServer(world, FaultPlan(rate=fault_rate, seed=seed, timeout_delay_s=0.4)) as srv,
        sim_sleep(world.advance),
    ):
        budget = RateBudget(world.clock)
        client = ClientSettings(
            oauth_url=srv.url,
            reddit_url=srv.url,
            timeout_cap=0.25,
            user_agent="python:prosocial-sim:v0.1 (by u/prosocial_bot)",
            extra={"client_id": "sim", "client_secret": "sim", "username": bot, "password": "sim"},
        )
        reddit = make_reddit(client, budget)
        backoff = Backoff(sleep=world.advance, base_s=2, cap_s=120, max_tries=8)
        _, sessions = open_database(database_url)
        settings = load_settings(
            database_url=database_url,
            horizon_s=horizon_s,
            retention_s=retention_s,
            recheck_every_s=recheck_every_s,
        )
        jobs = PrivacyJobs.build(
            reddit, sessions, settings, clock=world.clock, backoff=backoff, wall=world.clock
        )
        sync = jobs.sync
        pipe, _ = stream_service(
            models,
            bus,
            reddit,
            budget,
            backoff,
            world,
            horizon_s,
            database_url,
            lambda t: False,
            observer=jobs.observe_thread,
        )
        ingest = RedditIngest(
            reddit,
            bus,
            SeenStore(":memory:"),
            subs,
            clock=world.clock,
            sleep=world.advance,
            sweep_every_s=1800,
            sweep_lookback_s=3600,
            backoff=backoff,
            budget=budget,
        )
        recheck_requests = 0
        rounds: list[dict[str, Any]] = []
        last_job = world.now
        while world.now < end:
            try:
                ingest.poll_once()
            except RetriesExhausted as exc:
                logger.warning("poll gave up: %s", exc)
            settle(pipe)
            if world.now - last_job >= jobs.recheck_poll_s:
                last_job = world.now
                info_before = _info_requests(srv)
                r = jobs.recheck()
                recheck_requests += _info_requests(srv) - info_before
                p = jobs.purge_expired()
                if r is not None and p is not None:
                    live = _with_text(sessions)
                    rounds.append(
                        {"at": world.now, **r.as_dict(), "purged": p.purged, "with_text": live}
                    )
            world.advance(poll_every_s)
        ingest.sweep()
        settle(pipe)
        final = sync.run()
        recheck_requests += final.requests
        jobs.purge_expired()
        stored_tlcs = _stored(sessions, "tlc")
        checked = sum(r["checked"] for r in rounds) + final.checked
        figures = {
            "subreddits": subs,
            "hours": hours,
            "delete_rate": delete_rate,
            "horizon_s": horizon_s,
            "retention_s": retention_s,
            "recheck_every_s": recheck_every_s,
            "deletions_applied": dict(Counter(a["action"] for a in plan.applied)),
            "erased": dict(sync.totals.erased),
            "erased_by_retention": dict(sync.eraser.erased_total).get("retention", 0),
            "stored_tlcs": stored_tlcs,
            "stored_posts": _stored(sessions, "post"),
            "recheck_rounds": len(rounds) + 1,
            "recheck_job_every_s": jobs.recheck_poll_s,
            "recheck_items_checked": checked,
            "recheck_requests": recheck_requests,
            "recheck_requests_per_1000_checks": round(1000 * recheck_requests / max(1, checked), 2),
            "recheck_requests_per_hour_per_1000_items": _per_hour_per_1000(
                rounds, jobs.recheck_poll_s
            ),
            "server_requests": world.requests,
            "max_requests_per_10min": max(world.requests_by_window.values(), default=0),
            "info_batch": INFO_BATCH,
            "pipeline_skipped": dict(pipe.skipped),
        }
    return PrivacyRun(figures, plan, world, sessions, end)


def _info_requests(srv: DevRedditServer) -> int:
    return sum(1 for _, m, path, fault in list(srv.log) if path.startswith("/api/info"))


def _stored(sessions: Any, kind: str) -> int:
    from sqlalchemy import func, select

    from streaming.storage import PostRow, TlcRow

    table = TlcRow if kind == "tlc" else PostRow
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def _with_text(sessions: Any) -> int:
    """Stored posts and TLCs not erased (what the re-checks cover)."""
    from sqlalchemy import func, select

    from streaming.erasure import erasables
    from streaming.storage.privacy_tables import ErasureRow

    n = 0
    with sessions() as s:
        for e in erasables(primary_only=True):
            idc = e.column(e.id_column)
            q = (
                select(func.count())
                .select_from(e.table)
                .outerjoin(ErasureRow, ErasureRow.name == idc)
                .where(ErasureRow.name.is_(None))
            )
            n += int(s.scalar(q) or 0)
    return n


def _per_hour_per_1000(rounds: list[dict[str, Any]], every_s: float) -> float:
    """Re-check requests per hour per 1,000 stored items, over the second half of the run
    (after the store has filled up)."""
    half = rounds[len(rounds) // 2 :]
    item_hours = sum(r["with_text"] for r in half) * every_s / 3600
    return round(1000 * sum(r["requests"] for r in half) / max(1.0, item_hours), 2)
