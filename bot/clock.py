"""The live service's clock: wall time against Reddit, the server's time against the dev server.

:class:`SystemClock` is wall time. :class:`SimulatedClock` follows a server whose time runs at
``speed`` simulated seconds per wall second (``now = base + (wall - wall0) * speed``), as the
dev server announces at ``GET /dev/clock``; :func:`follow_server` asks for it, only on a
loopback address. Both implement the stream's :class:`streaming.clock.Clock` plus
:meth:`sleep` (in the clock's seconds) and :meth:`wall_s` (how long that is on the wall).

Against a simulated server the Reddit client libraries must count time the same way: praw's and
asyncpraw's rate limiter, retry and stream sleeps read the ``time`` / ``asyncio`` modules they
imported; :func:`reddit_time` swaps those references for the clock's for the duration of a
block (no such library takes an injected clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

__all__ = ["SimulatedClock", "SystemClock", "follow_server", "reddit_time"]

logger = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class SystemClock:
    speed = 1.0

    def now(self) -> float:
        return time.time()

    def observe(self, event_utc: float) -> None:
        return None

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def wall_s(self, seconds: float) -> float:
        return seconds

    def wait_running(self, stop: Callable[[], bool] = lambda: False) -> None:
        return None


class SimulatedClock:
    """``now = base + (time.time() - wall0) * speed``.

    A dev server may hold its clock until a test starts it (speed 0): the clock then asks
    ``refresh()`` (at most every 0.2 s) until the server's time runs, and stands still.
    """

    def __init__(
        self,
        base: float,
        wall0: float,
        speed: float,
        refresh: Callable[[], dict[str, Any] | None] | None = None,
    ) -> None:
        self.base = base
        self.wall0 = wall0
        self.speed = speed
        self._refresh = refresh
        self._asked = 0.0
        if speed <= 0 and refresh is None:
            raise ValueError("a paused simulated clock needs a way to see it start")

    def _sync(self) -> None:
        if self.speed > 0 or self._refresh is None or time.monotonic() - self._asked < 0.2:
            return
        self._asked = time.monotonic()
        info = self._refresh()
        if info and info.get("speed"):
            self.base, self.wall0 = float(info["base"]), float(info["wall0"])
            self.speed = float(info["speed"])
            logger.info("the dev server's clock runs (speed %.0fx)", self.speed)

    def wait_running(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Block until the server's clock runs (or ``stop()``)."""
        while self.speed <= 0 and not stop():
            time.sleep(0.2)
            self._sync()

    @property
    def rate(self) -> float:
        """Simulated seconds per wall second (1 while paused: nothing to scale yet)."""
        self._sync()
        return self.speed or 1.0

    def now(self) -> float:
        self._sync()
        if self.speed <= 0:
            return self.base
        return self.base + (time.time() - self.wall0) * self.speed

    def observe(self, event_utc: float) -> None:
        return None

    def sleep(self, seconds: float) -> None:
        time.sleep(self.wall_s(seconds))

    def wall_s(self, seconds: float) -> float:
        if self.speed <= 0:
            self._sync()
            if self.speed <= 0:
                return 0.2
        return max(0.0, seconds) / self.speed


def _dev_clock(reddit_url: str, timeout_s: float) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(reddit_url.rstrip("/") + "/dev/clock", timeout=timeout_s) as r:
            info = json.loads(r.read())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and "base" in info else None


def follow_server(reddit_url: str | None, timeout_s: float = 5.0) -> SimulatedClock | None:
    """The dev server's clock when ``reddit_url`` is a loopback dev server, else ``None``."""
    if not reddit_url or urlsplit(reddit_url).hostname not in _LOOPBACK:
        return None
    info = _dev_clock(reddit_url, timeout_s)
    if info is None:
        return None
    logger.info("following the dev server's clock (speed %.0fx)", info["speed"])
    return SimulatedClock(
        float(info["base"]),
        float(info["wall0"]),
        float(info["speed"]),
        refresh=lambda: _dev_clock(reddit_url, timeout_s),
    )


class _TimeModule:
    """Stands in for ``time`` inside the Reddit libraries: seconds are the clock's."""

    def __init__(self, clock: SimulatedClock) -> None:
        self._clock = clock

    def sleep(self, seconds: float) -> None:
        self._clock.sleep(seconds)

    def monotonic(self) -> float:
        return time.monotonic() * self._clock.rate

    def monotonic_ns(self) -> int:
        return int(time.monotonic_ns() * self._clock.rate)

    def time(self) -> float:
        return self._clock.now()

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class _AsyncioModule:
    def __init__(self, clock: SimulatedClock) -> None:
        self._clock = clock
        self._sleep = asyncio.sleep

    async def sleep(self, seconds: float, *args: Any) -> Any:
        return await self._sleep(self._clock.wall_s(max(0.0, float(seconds))), *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)


@contextlib.contextmanager
def reddit_time(clock: Any) -> Iterator[None]:
    """Make praw / prawcore / asyncpraw / asyncprawcore count ``clock``'s seconds (a no-op
    for wall time)."""
    if not isinstance(clock, SimulatedClock):
        yield
        return
    import asyncpraw.models.util
    import asyncprawcore.rate_limit
    import asyncprawcore.sessions
    import praw.models.util
    import prawcore.rate_limit
    import prawcore.sessions

    swaps: list[tuple[Any, str, Any]] = []
    timed = (
        prawcore.rate_limit,
        prawcore.sessions,
        praw.models.util,
        asyncprawcore.rate_limit,
        asyncprawcore.sessions,
    )
    for mod in timed:
        if hasattr(mod, "time"):
            swaps.append((mod, "time", _TimeModule(clock)))
    for mod in (asyncprawcore.rate_limit, asyncprawcore.sessions, asyncpraw.models.util):
        if hasattr(mod, "asyncio"):
            swaps.append((mod, "asyncio", _AsyncioModule(clock)))
    saved = [(m, n, getattr(m, n)) for m, n, _ in swaps]
    for m, n, v in swaps:
        setattr(m, n, v)
    try:
        yield
    finally:
        for m, n, v in saved:
            setattr(m, n, v)
