"""Live ingest with asyncpraw: one process, one event loop, many subreddits.

The same design as :mod:`bot.ingest` (multireddit streams with ``pause_after=0``, dedupe by
fullname through :class:`bot.ingest_core.IngestCore`, reconciliation sweeps of ``/new`` and
``/comments``), written for ``asyncpraw``. A 429 inside a stream ends that stream's generator
so the reader can ``await`` the announced reset before starting it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

from bot.backoff import Backoff, retry_after_s
from bot.errors import RetriesExhausted
from bot.ingest_core import DEFAULT_BOTS, KINDS, IngestCore, IngestStats
from streaming.bus.base import Bus

__all__ = ["AsyncRedditIngest"]

logger = logging.getLogger(__name__)


class _Throttled(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"throttled for {wait}s")
        self.wait = wait


class AsyncRedditIngest:
    def __init__(
        self,
        reddit: Any,
        bus: Bus | None,
        seen: Any,
        subreddits: Sequence[str],
        *,
        kinds: Sequence[str] = KINDS,
        bots: Iterable[str] = DEFAULT_BOTS,
        clock: Callable[[], float] = time.time,
        asleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        sweep_every_s: float | None = 600,
        sweep_lookback_s: float = 3600,
        max_sweep_pages: int = 10,
        max_consecutive_errors: int = 8,
        backoff: Backoff | None = None,
    ) -> None:
        if not subreddits:
            raise ValueError("no subreddits to ingest")
        self.reddit = reddit
        self.subreddits = list(subreddits)
        self.kinds = list(kinds)
        self.core = IngestCore(bus, seen, bots=bots, clock=clock)
        self.clock = clock
        self.asleep = asleep
        self.sweep_every_s = sweep_every_s
        self.sweep_lookback_s = sweep_lookback_s
        self.max_sweep_pages = max_sweep_pages
        self.max_consecutive_errors = max_consecutive_errors
        self.backoff = backoff or Backoff()
        self._streams: dict[str, AsyncIterator[Any]] = {}
        self._errors = 0
        self._last_sweep: float | None = None

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
                self.core.commit()
                logger.warning("429 on the %s stream: waiting %.0fs", kind, exc.wait)
                await self.asleep(exc.wait)
                continue
            except RetriesExhausted:
                self._streams.pop(kind, None)
                self.core.commit()
                raise
            self.core.commit()
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
