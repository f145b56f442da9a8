"""Injected clocks (docs/architecture.md, "Time"): wall time live, event time in replay."""

from __future__ import annotations

import threading
import time
from typing import Protocol

__all__ = ["Clock", "EventClock", "WallClock"]


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


class EventClock:
    """Now = the newest ``created_utc`` seen (never goes backwards)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def observe(self, event_utc: float) -> None:
        with self._lock:
            if event_utc > self._now:
                self._now = float(event_utc)

    def advance_to(self, t: float) -> None:
        self.observe(t)
