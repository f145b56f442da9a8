"""Reddit's rate budget (600 requests / 10 minutes) as seen from the ``X-Ratelimit-*`` headers.

:class:`RateBudget` is shared by every Reddit client of one process. The counting requestors in
:mod:`bot.reddit` call :meth:`RateBudget.record` after each HTTP exchange, so the budget knows
the requests actually made (retries included) and what Reddit reported as remaining. Loops call
:meth:`RateBudget.pause_needed` before optional work (sweeps, back-fills) and sleep that long.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field

__all__ = ["REQUESTS_PER_WINDOW", "WINDOW_S", "RateBudget", "RateSnapshot"]

logger = logging.getLogger(__name__)

WINDOW_S = 600
REQUESTS_PER_WINDOW = 600


@dataclass(frozen=True, slots=True)
class RateSnapshot:
    requests: int
    max_in_window: int
    remaining: float | None
    reset_s: float | None
    throttled: int  # 429 responses seen


@dataclass(eq=False)
class RateBudget:
    """Counts requests per sliding window and tracks the server's ``X-Ratelimit-*`` view."""

    clock: Callable[[], float] = time.time
    _: KW_ONLY
    window_s: int = WINDOW_S
    limit: int = REQUESTS_PER_WINDOW
    reserve: int = 20
    requests: int = field(default=0, init=False)
    max_in_window: int = field(default=0, init=False)
    throttled: int = field(default=0, init=False)
    remaining: float | None = field(default=None, init=False)
    reset_at: float | None = field(default=None, init=False)
    _times: deque[float] = field(default_factory=deque, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __deepcopy__(self, memo: dict[int, object]) -> RateBudget:
        return self  # shared by design (praw deep-copies request data holding the client)

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()

    def record(self, status: int | None, headers: Mapping[str, str] | None) -> None:
        """Account one HTTP exchange (``status`` None for a transport error)."""
        now = self.clock()
        with self._lock:
            self.requests += 1
            self._times.append(now)
            self._trim(now)
            self.max_in_window = max(self.max_in_window, len(self._times))
            if status == 429:
                self.throttled += 1
            if headers is None:
                return
            rem = headers.get("x-ratelimit-remaining")
            reset = headers.get("x-ratelimit-reset")
            try:
                if rem is not None:
                    self.remaining = float(rem)
                if reset is not None:
                    self.reset_at = now + float(reset)
            except ValueError:
                logger.debug("unparsable rate-limit headers %r/%r", rem, reset)

    def in_window(self) -> int:
        with self._lock:
            self._trim(self.clock())
            return len(self._times)

    def pause_needed(self) -> float:
        """Seconds to wait before the next optional request (0 when there is room)."""
        now = self.clock()
        with self._lock:
            self._trim(now)
            if (
                self.remaining is not None
                and self.reset_at is not None
                and self.remaining <= self.reserve
                and self.reset_at > now
            ):
                return self.reset_at - now
            if len(self._times) >= self.limit - self.reserve and self._times:
                return max(0.0, self._times[0] + self.window_s - now)
        return 0.0

    def snapshot(self) -> RateSnapshot:
        now = self.clock()
        reset = None if self.reset_at is None else max(0.0, self.reset_at - now)
        return RateSnapshot(
            self.requests, self.max_in_window, self.remaining, reset, self.throttled
        )
