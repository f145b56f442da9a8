"""The asyncpraw variant of the simulated run: one event loop ingesting many subreddits."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.aingest import AsyncRedditIngest
from bot.backoff import Backoff
from bot.devserver.faults import FaultPlan
from bot.devserver.server import DevRedditServer
from bot.devserver.world import load_world
from bot.errors import RetriesExhausted
from bot.ratelimit import RateBudget
from bot.reddit import ClientSettings, make_async_reddit
from bot.seen import SeenStore
from redditdata.events import TOPIC_COMMENTS, TOPIC_SUBMISSIONS
from streaming.bus.base import Bus

__all__ = ["run_simulated_async"]

_real_sleep = asyncio.sleep


class _SimAsyncio:
    def __init__(self, advance: Any, cap_s: float = 120.0) -> None:
        self._advance = advance
        self._cap = cap_s

    async def sleep(self, seconds: float, *args: Any) -> None:
        self._advance(min(max(0.0, float(seconds)), self._cap))
        await _real_sleep(0)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


@contextlib.contextmanager
def _sim_asyncio(advance: Any) -> Iterator[_SimAsyncio]:
    import asyncpraw.models.util
    import asyncprawcore.rate_limit
    import asyncprawcore.sessions

    shim = _SimAsyncio(advance)
    mods = [
        m
        for m in (asyncpraw.models.util, asyncprawcore.rate_limit, asyncprawcore.sessions)
        if hasattr(m, "asyncio")
    ]
    saved = [m.asyncio for m in mods]  # type: ignore[attr-defined]
    for m in mods:
        m.asyncio = shim  # type: ignore[attr-defined]
    try:
        yield shim
    finally:
        for m, a in zip(mods, saved):
            m.asyncio = a  # type: ignore[attr-defined]


def run_simulated_async(
    data_dir: str | Path,
    subreddits: Sequence[str],
    day: str,
    bus: Bus,
    *,
    hours: float = 3,
    fault_rate: float = 0.1,
    seed: int = 11,
    poll_every_s: float = 120,
) -> dict[str, Any]:
    start = datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
    end = start + hours * 3600
    world = load_world(data_dir, subreddits, start, end, seed=seed)
    subs = [world.subreddits[s.lower()] for s in subreddits]
    faults = FaultPlan(rate=fault_rate, seed=seed, timeout_delay_s=0.4)

    async def main(srv: DevRedditServer) -> dict[str, Any]:
        budget = RateBudget(world.clock)
        settings = ClientSettings(
            oauth_url=srv.url,
            reddit_url=srv.url,
            timeout_cap=0.25,
            user_agent="python:prosocial-sim-async:v0.1",
            extra={
                "client_id": "sim",
                "client_secret": "sim",
                "username": world.bot_username,
                "password": "sim",
            },
        )
        reddit = make_async_reddit(settings, budget)

        async def asleep(s: float) -> None:
            world.advance(s)
            await _real_sleep(0)

        ingest = AsyncRedditIngest(
            reddit,
            bus,
            SeenStore(),
            subs,
            clock=world.clock,
            asleep=asleep,
            sweep_every_s=1800,
            backoff=Backoff(sleep=world.advance, base_s=2),
        )
        try:
            while world.now < end:
                try:
                    await ingest.poll_once()
                except RetriesExhausted:
                    pass
                world.advance(poll_every_s)
            await ingest.sweep()
        finally:
            await reddit.close()
        return {"stats": ingest.stats.as_dict(), "requests": budget.requests}

    with DevRedditServer(world, faults) as srv, _sim_asyncio(world.advance):
        out = asyncio.run(main(srv))
    names: Counter[str] = Counter()
    tlcs: Counter[str] = Counter()
    for m in bus.poll("audit", [TOPIC_SUBMISSIONS, TOPIC_COMMENTS], 10**7, 0):
        v = json.loads(m.value)
        names[v["name"]] += 1
        if m.topic == TOPIC_COMMENTS and v["parent_id"] == v["link_id"]:
            tlcs[v["name"]] += 1
    present_tlcs = world.present("t1", tlc_only=True, since=start)
    present = world.present("t1", since=start) | world.present("t3", since=start)
    return {
        "tlcs_present": len(present_tlcs),
        "tlcs_ingested": len(set(tlcs) & present_tlcs),
        "duplicates_published": sum(n - 1 for n in names.values() if n > 1),
        "missing": len(present - set(names)),
        "requests": out["requests"],
        "max_requests_per_10min": max(world.requests_by_window.values(), default=0),
        "faults_injected": dict(faults.injected),
        "stats": out["stats"],
    }
