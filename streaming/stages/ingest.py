"""The ingest stage: a :class:`Source` of Reddit events → the bus.

Its contract: docs/architecture.md, "Stages and their contracts".

Submissions go to ``reddit.submissions`` keyed by post fullname; comments to
``reddit.comments`` keyed by ``link_id`` (a post's comments share a partition). The ingest
stage does not judge records: the consumers validate and dead-letter, except a record larger
than the bus accepts, which is dead-lettered here by reference (key, size, sha256). ``speed``
paces a replay (``1000`` = a thousand event-seconds per wall second; ``0`` = as fast as
possible).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import KW_ONLY, dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Protocol

from redditdata.events import TOPIC_COMMENTS, TOPIC_SUBMISSIONS, Comment, Submission
from streaming.bus.base import Bus, Message, RecordTooLarge
from streaming.clock import MAX_AHEAD_S, Clock
from streaming.ops import StageMetrics
from streaming.transient import retry_transient

if TYPE_CHECKING:
    from streaming.stages.base import DeadLetters

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


@dataclass(eq=False)
class IngestStage:
    name = "ingest"

    source: Source
    bus: Bus
    clock: Clock
    metrics: StageMetrics
    _: KW_ONLY
    speed: float = 0.0
    sleep: Callable[[float], None] = time.sleep
    dead: DeadLetters | None = None
    published: int = field(default=0, init=False)
    exhausted: bool = field(default=False, init=False)
    _it: Iterator[Submission | Comment] | None = field(default=None, init=False)
    _t0_event: float | None = field(default=None, init=False)
    _t0_wall: float = field(default=0.0, init=False)
    #: a paced :meth:`run`'s stop request
    _stop: Callable[[], bool] | None = field(default=None, init=False)

    def pump(self, max_events: int = 500) -> int:
        """Publish up to ``max_events`` (pacing by ``speed``); 0 when the source is done."""
        if self._it is None:
            self._it = iter(self.source)
        n = 0
        for ev in self._it:
            # a far-future time (rejected downstream) must not stall a paced replay
            if self.speed > 0 and ev.created_utc <= time.time() + MAX_AHEAD_S:
                if self._t0_event is None:
                    self._t0_event, self._t0_wall = ev.created_utc, time.monotonic()
                due = self._t0_wall + (ev.created_utc - self._t0_event) / self.speed
                wait = due - time.monotonic()
                if wait > 0:
                    self.sleep(wait)
            self.clock.observe(ev.created_utc)
            topic, key, value = encode_event(ev, int(time.time() * 1000))
            try:
                retry_transient(partial(self.bus.publish, topic, key, value), "ingest publish")
            except RecordTooLarge as exc:
                self._too_large(Message(topic, -1, -1, key, value), exc)
            n += 1
            # a paced pump also ends on a stop request (the event taken is published first)
            if n >= max_events or (self.speed > 0 and self._stop is not None and self._stop()):
                break
        else:
            self.exhausted = True
        if self.dead is not None:
            retry_transient(self.dead.flush, "ingest dead letters")
        retry_transient(self.bus.flush, "ingest flush")
        self.published += n
        self.metrics.events_out.labels(stage=self.name).inc(n)
        return n

    def _too_large(self, msg: Message, exc: RecordTooLarge) -> None:
        if self.dead is None:
            logger.error("ingest: %s (key %s) dropped: no dead-letter sink", exc, msg.key)
            return
        digest = hashlib.sha256(msg.value).hexdigest()
        self.dead.send(self.name, msg, str(exc), ident=f"ingest:{msg.key}:{digest[:32]}")

    def run(self, stop: Callable[[], bool] = lambda: False) -> int:
        self._stop = stop
        while not stop() and not self.exhausted:
            self.pump()
        return self.published
