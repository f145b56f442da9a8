"""The live reader (asyncpraw): one event loop follows many subreddits.

One multireddit stream per kind (``r/a+b+c/new`` and ``r/a+b+c/comments``) follows new items
with ``pause_after=0`` so a round ends as soon as Reddit has nothing new. Streams drop and replay
items (praw #1043, #1804): every item goes through :class:`bot.ingest_core.IngestCore` (dedupe
by fullname, persisted), and every ``sweep_every_s`` a sweep pages each subreddit's ``/new`` and
``/comments`` back to its last watermark minus ``sweep_lookback_s``; whatever the stream missed
is taken then and counted as a gap. Transient errors back off; a 429 inside a stream ends that
stream's generator so the reader can ``await`` the announced reset before starting it again;
sweeps wait while the shared rate budget is low. :func:`bot.source.live_events` turns rounds
of this reader into the live source of events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import Any

from bot.backoff import Backoff, retry_after_s
from bot.errors import RetriesExhausted
from bot.ingest_core import DEFAULT_BOTS, KINDS, IngestCore, IngestStats
from bot.ratelimit import RateBudget

__all__ = ["AsyncRedditIngest"]

logger = logging.getLogger(__name__)


class _Throttled(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"throttled for {wait}s")
        self.wait = wait


@dataclass(eq=False)
class AsyncRedditIngest:
    reddit: Any
    seen: InitVar[Any]
    subreddits: Sequence[str]
    _: KW_ONLY
    kinds: Sequence[str] = KINDS
    bots: InitVar[Iterable[str]] = DEFAULT_BOTS
    clock: Callable[[], float] = time.time
    asleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    sweep_every_s: float | None = 600
    sweep_lookback_s: float = 3600
    max_sweep_pages: int = 10
    max_consecutive_errors: int = 8
    backoff: Backoff = field(default_factory=Backoff)
    budget: RateBudget | None = None
    max_sweep_wait_s: float = 120
    _streams: dict[str, AsyncIterator[Any]] = field(default_factory=dict, init=False)
    _errors: int = field(default=0, init=False)
    _last_sweep: float | None = field(default=None, init=False)

    def __post_init__(self, seen: Any, bots: Iterable[str]) -> None:
        if not self.subreddits:
            raise ValueError("no subreddits to ingest")
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown kinds {sorted(unknown)}")
        self.core = IngestCore(seen, bots=bots, clock=self.clock)

    @property
    def stats(self) -> IngestStats:
        return self.core.stats

    def _on_error(self, exc: Exception) -> None:
        self._errors = self.core.stream_error(exc, self._errors, self.max_consecutive_errors)
        response = getattr(exc, "response", None)
        if getattr(response, "status", None) == 429:
            raise _Throttled(retry_after_s(exc) or 60.0) from exc

    async def _stream(self, kind: str) -> AsyncIterator[Any]:
        if kind not in self._streams:
            multi = await self.reddit.subreddit("+".join(self.subreddits))
            self._streams[kind] = getattr(multi.stream, kind)(
                pause_after=0, exception_handler=self._on_error
            )
        return self._streams[kind]

    async def poll_once(self) -> int:
        before = self.core.stats.submissions + self.core.stats.comments
        for kind in self.kinds:
            stream = await self._stream(kind)
            try:
                async for item in stream:
                    if item is None:
                        break
                    self._errors = 0
                    self.core.accept(item, kind, "stream")
            except _Throttled as exc:
                self._streams.pop(kind, None)
                logger.warning("429 on the %s stream: waiting %.0fs", kind, exc.wait)
                await self.asleep(exc.wait)
                continue
            except RetriesExhausted:
                self._streams.pop(kind, None)  # a dead generator: start afresh next round
                raise
        if self.sweep_every_s is not None:
            now = self.clock()
            if self._last_sweep is None or now - self._last_sweep >= self.sweep_every_s:
                await self.sweep()
        return self.core.stats.submissions + self.core.stats.comments - before

    async def sweep(self) -> dict[str, int]:
        now = self.clock()
        self._last_sweep = now
        found = {k: 0 for k in self.kinds}
        for name in self.subreddits:
            for kind in self.kinds:
                pause = self.budget.pause_needed() if self.budget is not None else 0.0
                if pause > self.max_sweep_wait_s:
                    logger.info("rate budget low: sweep of r/%s %s deferred", name, kind)
                    continue
                if pause > 0:
                    await self.asleep(pause)
                try:
                    found[kind] += await self._sweep_one(name, kind, now)
                except RetriesExhausted as exc:
                    logger.warning("sweep of r/%s %s gave up: %s", name, kind, exc)
        self.core.stats.sweeps += 1
        return found

    async def _sweep_one(self, name: str, kind: str, now: float) -> int:
        newest, floor, method = self.core.sweep_start(name, kind, now, self.sweep_lookback_s)
        sub = await self.reddit.subreddit(name)
        filled = 0
        after: str | None = None
        for _ in range(self.max_sweep_pages):
            params = {"after": after} if after else {}

            async def fetch(params: dict[str, str] = params) -> list[Any]:
                return [x async for x in getattr(sub, method)(limit=100, params=params)]

            items = await self.backoff.acall(fetch, f"sweep r/{name}/{method}", self.asleep)
            if not items:
                break
            newest, n, after = self.core.absorb_sweep_page(items, kind, newest, floor)
            filled += n
            if after is None:
                break
        self.core.sweep_end(name, kind, newest)
        return filled
