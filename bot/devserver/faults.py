"""Fault injection for the dev server: 429 with rate-limit headers, 500, timeouts, truncation,
late answers (the request was performed, the answer comes after the client gave up), API
outages (every request fails for a stretch of simulated time) and outages of one part of the
API (e.g. only the wiki).

An outage answers 503 by default; with ``outage_kinds`` it answers a mix, e.g.
``("503", "500", "timeout", "late")``: every request fails, and some POSTs are *performed*
though their answer is lost (``late``) — what a client sees from an overloaded Reddit."""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["FAULT_KINDS", "OUTAGE_KINDS", "FaultPlan"]

FAULT_KINDS = ("429", "500", "timeout", "truncated", "late")
OUTAGE_KINDS = ("503", "500", "timeout", "late")


@dataclass
class FaultPlan:
    """Fault a share ``rate`` of API requests, kinds drawn uniformly from ``kinds``."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    timeout_delay_s: float = 0.3  # longer than the client's timeout
    retry_after_s: int = 5
    injected: Counter[str] = field(default_factory=Counter)
    #: ``(start, end)`` windows of simulated time when every API request fails
    outages: list[tuple[float, float]] = field(default_factory=list)
    #: how a request fails during an outage (drawn uniformly): see :data:`OUTAGE_KINDS`
    outage_kinds: tuple[str, ...] = ("503",)
    #: the first this many POSTs during an outage are performed and answered late (then
    #: ``outage_kinds`` again): a POST Reddit did though the client saw it fail, for sure
    outage_late_posts: int = 0
    #: ``(path regex, start, end)``: requests to matching paths answer 503 in the window
    path_outages: list[tuple[str, float, float]] = field(default_factory=list)
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS)
        unknown |= set(self.outage_kinds) - set(OUTAGE_KINDS)
        if unknown or not self.outage_kinds:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        self._rng = random.Random(self.seed)

    def in_outage(self, now: float) -> bool:
        return any(a <= now < b for a, b in self.outages)

    def outage(self, now: float, path: str, method: str = "GET") -> str | None:
        """How a request to ``path`` at ``now`` fails because of an outage (None: it does not)."""
        if self.in_outage(now):
            with self._lock:
                if method == "POST" and self.outage_late_posts > 0:
                    self.outage_late_posts -= 1
                    kind = "late"
                else:
                    kind = self._rng.choice(self.outage_kinds)
                self.injected[f"outage_{kind}"] += 1
                return kind
        for pattern, a, b in self.path_outages:
            if a <= now < b and re.search(pattern, path):
                with self._lock:
                    self.injected["path_outage_503"] += 1
                return "503"
        return None

    def draw(self) -> str | None:
        with self._lock:
            if self.rate <= 0 or self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(self.kinds)
            self.injected[kind] += 1
            return kind
