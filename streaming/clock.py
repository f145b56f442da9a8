"""Injected clocks (docs/architecture.md, "Time"): wall time live, event time in replay."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["MAX_AHEAD_S", "Clock", "EventClock", "WallClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch, as this deployment understands "now"."""
        ...

    def observe(self, event_utc: float) -> None:
        """Tell the clock an event with this ``created_utc`` was seen."""
        ...


class WallClock:
    def now(self) -> float:
        return time.time()

    def observe(self, event_utc: float) -> None:
        return None


#: how far past the wall clock an event time may move an event clock (a record dated 2090
#: must not end every quiet period and back-fill of a replay at once)
MAX_AHEAD_S = 24 * 3600.0


class EventClock:
    """Now = the newest ``created_utc`` seen (never goes backwards), clamped to at most
    ``max_ahead_s`` past the wall clock (``None``: unclamped)."""

    def __init__(
        self,
        start: float = 0.0,
        *,
        max_ahead_s: float | None = MAX_AHEAD_S,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._now = float(start)
        self._lock = threading.Lock()
        self.max_ahead_s = max_ahead_s
        self.wall = wall
        self.ignored = 0

    def now(self) -> float:
        return self._now

    def observe(self, event_utc: float) -> None:
        if self.max_ahead_s is not None and event_utc > self.wall() + self.max_ahead_s:
            self.ignored += 1
            return
        with self._lock:
            if event_utc > self._now:
                self._now = float(event_utc)

    def advance_to(self, t: float) -> None:
        """Move to ``t`` (the end of a replay: past the last horizon, never clamped)."""
        with self._lock:
            if t > self._now:
                self._now = float(t)
