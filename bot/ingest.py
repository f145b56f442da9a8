"""Live ingest with praw: subreddit streams plus reconciliation sweeps of the listings.

One multireddit stream per kind (``r/a+b+c/new`` and ``r/a+b+c/comments``) follows new items
with ``pause_after=0`` so a round ends as soon as Reddit has nothing new. Streams drop and replay
items (praw #1043, #1804): every item goes through :class:`bot.ingest_core.IngestCore`
(dedupe by fullname, persisted), and every ``sweep_every_s`` a sweep pages each subreddit's
``/new`` and ``/comments`` back to its last watermark minus ``sweep_lookback_s``; whatever the
stream missed is published then and counted as a gap. Transient errors back off (a 429 waits
for the announced reset); optional work waits while the rate budget is low.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from bot.backoff import Backoff, retry_after_s
from bot.errors import RetriesExhausted
from bot.ingest_core import DEFAULT_BOTS, KINDS, IngestCore, IngestStats
from bot.ratelimit import RateBudget
from redditdata.events import Event
from streaming.bus.base import Bus

__all__ = ["RedditIngest"]

logger = logging.getLogger(__name__)


class RedditIngest:
    """Stream + sweep ingest of ``subreddits`` into ``bus`` (praw, blocking)."""

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
        sleep: Callable[[float], Any] = time.sleep,
        sweep_every_s: float | None = 600,
        sweep_lookback_s: float = 3600,
        max_sweep_pages: int = 10,
        max_consecutive_errors: int = 8,
        backoff: Backoff | None = None,
        budget: RateBudget | None = None,
        max_sweep_wait_s: float = 120,
    ) -> None:
        if not subreddits:
            raise ValueError("no subreddits to ingest")
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown kinds {sorted(unknown)}")
        self.reddit = reddit
        self.subreddits = list(subreddits)
        self.kinds = list(kinds)
        self.core = IngestCore(bus, seen, bots=bots, clock=clock)
        self.clock = clock
        self.sleep = sleep
        self.sweep_every_s = sweep_every_s
        self.sweep_lookback_s = sweep_lookback_s
        self.max_sweep_pages = max_sweep_pages
        self.max_consecutive_errors = max_consecutive_errors
        self.backoff = backoff or Backoff(sleep=sleep)
        self.budget = budget
        self.max_sweep_wait_s = max_sweep_wait_s
        self._streams: dict[str, Iterator[Any]] = {}
        self._consecutive_errors = 0
        self._last_sweep: float | None = None

    @property
    def stats(self) -> IngestStats:
        return self.core.stats

    # -- streams -------------------------------------------------------------------------
    def _on_error(self, exc: Exception) -> None:
        """praw's stream ``exception_handler``: back off on transient errors, else stop."""
        self._consecutive_errors = self.core.stream_error(
            exc, self._consecutive_errors, self.max_consecutive_errors
        )
        wait = (
            retry_after_s(exc)
            if getattr(getattr(exc, "response", None), "status_code", None) == 429
            else None
        )
        logger.warning("stream error %s, backing off", type(exc).__name__)
        if wait:
            self.sleep(wait)

    def _stream(self, kind: str) -> Iterator[Any]:
        if kind not in self._streams:
            multi = self.reddit.subreddit("+".join(self.subreddits))
            factory = getattr(multi.stream, kind)
            self._streams[kind] = factory(pause_after=0, exception_handler=self._on_error)
        return self._streams[kind]

    def poll_once(self) -> int:
        """Drain each stream until Reddit has nothing new; sweep when due. Returns #published."""
        before = self.core.stats.submissions + self.core.stats.comments
        for kind in self.kinds:
            stream = self._stream(kind)
            try:
                for item in stream:
                    if item is None:
                        break
                    self._consecutive_errors = 0
                    self.core.accept(item, kind, "stream")
            except RetriesExhausted:
                self._streams.pop(kind, None)  # a dead generator: start afresh next round
                self.core.commit()
                raise
            self.core.commit()
        if self.sweep_every_s is not None:
            now = self.clock()
            if self._last_sweep is None or now - self._last_sweep >= self.sweep_every_s:
                self.sweep()
        return self.core.stats.submissions + self.core.stats.comments - before

    def run(
        self,
        stop: Callable[[], bool] = lambda: False,
        idle_s: float = 10.0,
        max_rounds: int | None = None,
    ) -> IngestStats:
        """Poll until ``stop()``; transient failures restart the streams after a back-off."""
        rounds = 0
        while not stop() and (max_rounds is None or rounds < max_rounds):
            rounds += 1
            try:
                self.poll_once()
            except RetriesExhausted:
                if max_rounds is not None:
                    raise
                self.sleep(self.backoff.cap_s)
                self._consecutive_errors = 0
                continue
            if self.budget is not None:
                pause = self.budget.pause_needed()
                if pause > 0:
                    logger.info("rate budget low, pausing %.0fs", pause)
                    self.sleep(pause)
            self.sleep(idle_s)
        return self.core.stats

    def drain_events(self) -> list[Event]:
        """Events accepted since the last call when built with ``bus=None`` (Source mode)."""
        out, self.core.emitted = self.core.emitted, []
        return out

    # -- reconciliation ------------------------------------------------------------------
    def sweep(self) -> dict[str, int]:
        """Page each subreddit's listings back to its watermark; publish what was missed."""
        now = self.clock()
        self._last_sweep = now
        found = {k: 0 for k in self.kinds}
        for sub_name in self.subreddits:
            for kind in self.kinds:
                pause = self.budget.pause_needed() if self.budget is not None else 0.0
                if pause > self.max_sweep_wait_s:
                    logger.info("rate budget low: sweep of r/%s %s deferred", sub_name, kind)
                    continue
                if pause > 0:
                    self.sleep(pause)
                try:
                    found[kind] += self._sweep_one(sub_name, kind, now)
                except RetriesExhausted as exc:
                    logger.warning("sweep of r/%s %s gave up: %s", sub_name, kind, exc)
        self.core.stats.sweeps += 1
        if any(found.values()):
            logger.info("sweep filled gaps: %s", found)
        return found

    def _sweep_one(self, sub_name: str, kind: str, now: float) -> int:
        newest, floor, method = self.core.sweep_start(sub_name, kind, now, self.sweep_lookback_s)
        sub = self.reddit.subreddit(sub_name)
        filled = 0
        after: str | None = None
        for _page in range(self.max_sweep_pages):
            params = {"after": after} if after else {}

            def fetch(params: dict[str, str] = params) -> list[Any]:
                return list(getattr(sub, method)(limit=100, params=params))

            items = self.backoff.call(fetch, f"sweep r/{sub_name}/{method}")
            if not items:
                break
            newest, n, after = self.core.absorb_sweep_page(items, kind, newest, floor)
            filled += n
            if after is None:
                break
        self.core.sweep_end(sub_name, kind, newest)
        return filled
