"""What every consuming stage shares: the batch loop, dead letters and the error policy.

A stage's :meth:`Stage.handle` gets a batch of messages and makes idempotent writes; the
:class:`StageRunner` commits the batch's offsets only after ``handle`` returns
(at-least-once). Records a stage cannot use go to ``prosocial.deadletter`` (and the
``dead_letters`` table) with the reason, through :class:`DeadLetters`.

The error policy is an injected callback ``(stage, message, exc) -> None`` called for a
message whose handling raised. :func:`dead_letter_policy` (default) logs topic/partition/offset
and dead-letters it, so one poisoned record never stops the service; :func:`crash_policy`
re-raises (the process exits without committing; a supervisor restarts it and the batch is
re-delivered).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from redditdata.events import TOPIC_DEADLETTER
from streaming.bus.base import Bus, Message
from streaming.ops import StageMetrics
from streaming.storage import DeadLetterRow, SessionFactory, upsert

__all__ = [
    "DeadLetters",
    "ErrorPolicy",
    "Stage",
    "StageRunner",
    "crash_policy",
    "dead_letter_policy",
    "now_ms",
]

logger = logging.getLogger(__name__)

ErrorPolicy = Callable[["Stage", Message, BaseException], None]

_RAW_LIMIT = 4000


def now_ms() -> int:
    return int(time.time() * 1000)


class DeadLetters:
    """Publishes a rejected record to the dead-letter topic and stores it (idempotently).

    Rows are buffered and written in one transaction by :meth:`flush`, which the runner calls
    before committing the batch's offsets (so a crash re-delivers, never loses, them).
    """

    def __init__(self, bus: Bus, sessions: SessionFactory, metrics: StageMetrics) -> None:
        self.bus = bus
        self.sessions = sessions
        self.metrics = metrics
        self._rows: list[dict[str, Any]] = []

    def send(self, stage: str, msg: Message, reason: str, ident: str | None = None) -> None:
        """Dead-letter ``msg``; ``ident`` (default stage:topic:partition:offset) dedups."""
        kind = reason.split(":", 1)[0]
        logger.warning(
            "dead letter from %s: %s",
            stage,
            reason[:300],
            extra={
                "stage": stage,
                "topic": msg.topic,
                "partition": msg.partition,
                "offset": msg.offset,
                "reason": kind,
            },
        )
        self.metrics.dead_letters.labels(stage=stage, reason=kind).inc()
        try:
            raw_text = msg.value.decode("utf-8")
        except UnicodeDecodeError:
            raw_text = "base64:" + base64.b64encode(msg.value[:_RAW_LIMIT]).decode()
        payload = {
            "stage": stage,
            "topic": msg.topic,
            "partition": msg.partition,
            "offset": msg.offset,
            "key": msg.key,
            "error": reason[:2000],
            "original_b64": base64.b64encode(msg.value[:1_000_000]).decode(),
        }
        self.bus.publish(TOPIC_DEADLETTER, msg.key, json.dumps(payload).encode())
        key = msg.key if msg.key is None else msg.key[:256]
        self._rows.append(
            {
                "id": (ident or f"{stage}:{msg.topic}:{msg.partition}:{msg.offset}")[:80],
                "stage": stage,
                "topic": msg.topic,
                "partition": msg.partition,
                "offset": msg.offset,
                "key": key,
                "reason": reason[:2000],
                "raw": raw_text[:_RAW_LIMIT].replace("\x00", "\\0"),
                "at_ms": now_ms(),
            }
        )
        if len(self._rows) >= 1000:
            self.flush()

    def flush(self) -> None:
        """Store the buffered dead letters (one transaction, idempotent)."""
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        with self.sessions() as s:
            for i in range(0, len(rows), 500):
                upsert(s, DeadLetterRow, rows[i : i + 500])
            s.commit()


class Stage(ABC):
    """A consuming stage: a consumer group on some topics, and idempotent writes."""

    name: str = "stage"
    topics: tuple[str, ...] = ()

    @property
    def group_id(self) -> str:
        return f"prosocial-{self.name}"

    @abstractmethod
    def handle(self, messages: Sequence[Message]) -> None:
        """Process a batch; raise only if the whole batch should be retried per message."""

    def tick(self) -> None:
        """Timer work (quiet periods, due back-fills); called after every poll."""

    def recover(self) -> None:
        """Rebuild in-memory timers from storage after a (re)start."""

    def drain(self) -> None:
        """Finish timer work at the end of a replay (the clock has been advanced)."""
        self.tick()

    def health(self) -> dict[str, Any]:
        return {}


def dead_letter_policy(dead: DeadLetters) -> ErrorPolicy:
    def policy(stage: Stage, msg: Message, exc: BaseException) -> None:
        logger.error(
            "%s failed on %s/%d@%d: %s",
            stage.name,
            msg.topic,
            msg.partition,
            msg.offset,
            exc,
            exc_info=exc,
            extra={
                "stage": stage.name,
                "topic": msg.topic,
                "partition": msg.partition,
                "offset": msg.offset,
            },
        )
        dead.send(stage.name, msg, f"stage_error: {type(exc).__name__}: {exc}")

    return policy


def crash_policy(stage: Stage, msg: Message, exc: BaseException) -> None:
    logger.critical(
        "%s failed on %s/%d@%d; exiting without commit",
        stage.name,
        msg.topic,
        msg.partition,
        msg.offset,
        extra={
            "stage": stage.name,
            "topic": msg.topic,
            "partition": msg.partition,
            "offset": msg.offset,
        },
    )
    raise exc


class StageRunner:
    """Poll → handle → commit, with the error policy and metrics."""

    def __init__(
        self,
        stage: Stage,
        bus: Bus,
        metrics: StageMetrics,
        on_error: ErrorPolicy,
        dead: DeadLetters,
        *,
        batch_size: int = 256,
        poll_timeout_s: float = 0.5,
    ) -> None:
        self.stage = stage
        self.dead = dead
        self.bus = bus
        self.metrics = metrics
        self.on_error = on_error
        self.batch_size = batch_size
        self.poll_timeout_s = poll_timeout_s
        self.last_batch_at: float | None = None
        self.lag: int | None = None
        self._lag_at = 0.0
        self.lag_every_s = 5.0

    def step(self, timeout_s: float | None = None) -> int:
        """One poll; returns the number of records handled."""
        st = self.stage
        msgs = self.bus.poll(
            st.group_id,
            st.topics,
            self.batch_size,
            self.poll_timeout_s if timeout_s is None else timeout_s,
        )
        if msgs:
            t0 = time.perf_counter()
            self.metrics.events_in.labels(stage=st.name).inc(len(msgs))
            try:
                st.handle(msgs)
            except Exception as batch_exc:  # noqa: BLE001 - isolate the bad record
                logger.warning(
                    "%s: batch of %d failed (%s); retrying one by one",
                    st.name,
                    len(msgs),
                    batch_exc,
                )
                for m in msgs:
                    try:
                        st.handle([m])
                    except Exception as exc:  # noqa: BLE001 - the error policy decides
                        self.on_error(st, m, exc)
            self.dead.flush()
            self.bus.flush()
            self.bus.commit(st.group_id, msgs)
            self.metrics.batch_seconds.labels(stage=st.name).observe(time.perf_counter() - t0)
            self.last_batch_at = time.time()
            self.metrics.last_batch.labels(stage=st.name).set(self.last_batch_at)
        st.tick()
        self.dead.flush()
        self.bus.flush()
        since = time.monotonic() - self._lag_at
        # idle: measure now (cheap, local figures) so health never reports a stale backlog
        if not msgs or since > self.lag_every_s:
            self._lag_at = time.monotonic()
            lag_fn = getattr(self.bus, "lag", None)
            if lag_fn is not None:
                try:
                    self.lag = int(lag_fn(st.group_id, st.topics))
                    self.metrics.lag.labels(stage=st.name).set(self.lag)
                except Exception:
                    logger.debug("lag unavailable for %s", st.name, exc_info=True)
        return len(msgs)
