"""The ingest stage: a :class:`Source` of Reddit events → the bus.

Its contract: docs/architecture.md, "Stages and their contracts".

Submissions go to ``reddit.submissions`` keyed by post fullname; comments to
``reddit.comments`` keyed by ``link_id`` (a post's comments share a partition). The ingest
stage does not judge records: the consumers validate and dead-letter. ``speed`` paces a replay
(``1000`` = a thousand event-seconds per wall second; ``0`` = as fast as possible).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from redditdata.events import TOPIC_COMMENTS, TOPIC_SUBMISSIONS, Comment, Submission
from streaming.bus.base import Bus
from streaming.clock import Clock
from streaming.ops import StageMetrics

__all__ = ["IngestStage", "ReplaySource", "Source", "encode_event"]

logger = logging.getLogger(__name__)


class Source(Protocol):
    """Anything that yields Reddit events in (roughly) the order they happen.

    The replay source reads a dump; the bot adds live Reddit streams.
    """

    def __iter__(self) -> Iterator[Submission | Comment]: ...


class ReplaySource:
    """Events of a :class:`streaming.replay.ReplayIndex` in event-time order."""

    def __init__(self, events: Callable[[], Iterable[Submission | Comment]]) -> None:
        self._events = events

    def __iter__(self) -> Iterator[Submission | Comment]:
        return iter(self._events())


def encode_event(ev: Submission | Comment, ingest_ms: int | None = None) -> tuple[str, str, bytes]:
    """``(topic, key, value)`` for an event; ``ingest_ms`` stamps when it entered the bus."""
    d = ev.model_dump(mode="json")
    if ingest_ms is not None:
        d["_ingest_ms"] = ingest_ms
    value = json.dumps(d, separators=(",", ":")).encode()
    if isinstance(ev, Submission):
        return TOPIC_SUBMISSIONS, ev.name, value
    return TOPIC_COMMENTS, ev.link_id, value


class IngestStage:
    name = "ingest"

    def __init__(
        self,
        source: Source,
        bus: Bus,
        clock: Clock,
        metrics: StageMetrics,
        *,
        speed: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = source
        self.bus = bus
        self.clock = clock
        self.metrics = metrics
        self.speed = speed
        self.sleep = sleep
        self._it: Iterator[Submission | Comment] | None = None
        self.published = 0
        self.exhausted = False
        self._t0_event: float | None = None
        self._t0_wall = 0.0

    def pump(self, max_events: int = 500) -> int:
        """Publish up to ``max_events`` (pacing by ``speed``); 0 when the source is done."""
        if self._it is None:
            self._it = iter(self.source)
        n = 0
        for ev in self._it:
            if self.speed > 0:
                if self._t0_event is None:
                    self._t0_event, self._t0_wall = ev.created_utc, time.monotonic()
                due = self._t0_wall + (ev.created_utc - self._t0_event) / self.speed
                wait = due - time.monotonic()
                if wait > 0:
                    self.sleep(wait)
            self.clock.observe(ev.created_utc)
            topic, key, value = encode_event(ev, int(time.time() * 1000))
            self.bus.publish(topic, key, value)
            n += 1
            if n >= max_events:
                break
        else:
            self.exhausted = True
        self.bus.flush()
        self.published += n
        self.metrics.events_out.labels(stage=self.name).inc(n)
        return n

    def run(self, stop: Callable[[], bool] = lambda: False) -> int:
        while not stop() and not self.exhausted:
            self.pump()
        return self.published
