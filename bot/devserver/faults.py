"""Fault injection for the dev server: 429 with rate-limit headers, 500, timeouts, truncation,
late answers (the request was performed, the answer comes after the client gave up), and API
outages (every request fails for a stretch of simulated time)."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["FAULT_KINDS", "FaultPlan"]

FAULT_KINDS = ("429", "500", "timeout", "truncated", "late")


@dataclass
class FaultPlan:
    """Fault a share ``rate`` of API requests, kinds drawn uniformly from ``kinds``."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    timeout_delay_s: float = 0.3  # longer than the client's timeout
    retry_after_s: int = 5
    injected: Counter[str] = field(default_factory=Counter)
    #: ``(start, end)`` windows of simulated time when every API request answers 503
    outages: list[tuple[float, float]] = field(default_factory=list)
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        self._rng = random.Random(self.seed)

    def in_outage(self, now: float) -> bool:
        return any(a <= now < b for a, b in self.outages)

    def draw(self) -> str | None:
        with self._lock:
            if self.rate <= 0 or self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(self.kinds)
            self.injected[kind] += 1
            return kind
