"""What every consuming stage shares: the batch loop, dead letters and the error policy.

A stage's :meth:`Stage.handle` gets a batch of messages and makes idempotent writes; the
:class:`StageRunner` commits the batch's offsets only after ``handle`` returns
(at-least-once). Failures are split in two (``docs/reliability.md``):

* **transient** (:func:`streaming.transient.is_transient`: database, broker, Reddit 5xx or
  timeouts): nothing is dead-lettered or committed; the batch is retried with bounded
  exponential back-off while the runner reports itself unhealthy. A stop request during the
  back-off abandons the batch uncommitted (it is re-delivered after the restart).
* **bad records**: the batch is retried one record at a time and the injected error policy
  ``(stage, message, exc) -> None`` decides for each failing record. :func:`dead_letter_policy`
  (default) sends it to ``prosocial.deadletter`` (and the ``dead_letters`` table) with the
  reason, then the batch is committed; :func:`crash_policy` re-raises (the process exits
  without committing; a supervisor restarts it and the batch is re-delivered).

Timer work (:meth:`Stage.tick`) gets the same split: a stage runs each job through
:meth:`Stage.run_job`, so one bad job is handed to the error policy and the others go on; a
transient failure skips the tick and retries it after a back-off, never a crash loop.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from redditdata.events import TOPIC_DEADLETTER
from streaming.bus.base import Bus, Message
from streaming.clock import Clock
from streaming.errors import StreamingError
from streaming.ops import StageMetrics
from streaming.storage import DeadLetterRow, SessionFactory, upsert
from streaming.transient import Backoff, is_transient

__all__ = [
    "Abandoned",
    "DatabaseStage",
    "DeadLetters",
    "ErrorPolicy",
    "Stage",
    "StageRunner",
    "crash_policy",
    "dead_letter_policy",
    "job_message",
    "now_ms",
]

logger = logging.getLogger(__name__)

ErrorPolicy = Callable[["Stage", Message, BaseException], None]

_RAW_LIMIT = 4000
#: originals up to this size travel inline in the dead-letter envelope (base64 grows them by
#: 4/3, so the envelope stays under a 1 MB broker limit); bigger ones go by reference
INLINE_LIMIT = 512 * 1024


def now_ms() -> int:
    return int(time.time() * 1000)


class Abandoned(StreamingError):
    """A stop was requested while a batch waited to be retried: it is not committed."""


def job_message(stage: str, ident: str, detail: dict[str, Any] | None = None) -> Message:
    """The stand-in message of a timer job (topic ``timer.<stage>``, key = the job id)."""
    body = json.dumps({"job": ident, **(detail or {})}, default=str).encode()
    return Message(f"timer.{stage}", -1, -1, ident, body)


@dataclass(eq=False)
class DeadLetters:
    """Publishes a rejected record to the dead-letter topic and stores it (idempotently).

    Dead letters are buffered and published/stored by :meth:`flush`, which the runner calls
    before committing the batch's offsets (so a crash re-delivers, never loses, them);
    :meth:`discard` drops them when the batch is retried after a transient failure. A record
    bigger than ``inline_limit`` is kept by reference (topic, partition, offset, key, size,
    sha256), never inline.
    """

    bus: Bus
    sessions: SessionFactory
    metrics: StageMetrics
    _: KW_ONLY
    inline_limit: int = INLINE_LIMIT
    _rows: list[dict[str, Any]] = field(default_factory=list, init=False)
    _envelopes: list[tuple[str | None, bytes]] = field(default_factory=list, init=False)

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
        size = len(msg.value)
        digest = hashlib.sha256(msg.value).hexdigest()
        inline = size <= self.inline_limit
        key = msg.key if msg.key is None else msg.key[:256]
        payload: dict[str, Any] = {
            "stage": stage,
            "topic": msg.topic,
            "partition": msg.partition,
            "offset": msg.offset,
            "key": key,
            "error": reason[:2000],
            "size": size,
            "sha256": digest,
        }
        if inline:
            payload["original_b64"] = base64.b64encode(msg.value).decode()
            try:
                raw_text = msg.value.decode("utf-8")
            except UnicodeDecodeError:
                raw_text = "base64:" + base64.b64encode(msg.value[:_RAW_LIMIT]).decode()
        else:
            raw_text = f"by reference: {size} bytes, sha256 {digest}"
        self._envelopes.append((key, json.dumps(payload).encode()))
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
                "value": msg.value if inline else None,
                "size": size,
                "sha256": digest,
                "at_ms": now_ms(),
            }
        )

    @property
    def pending(self) -> int:
        return len(self._rows)

    def discard(self) -> None:
        """Forget buffered dead letters (their batch will be handled again)."""
        self._rows.clear()
        self._envelopes.clear()

    def flush(self) -> None:
        """Publish and store the buffered dead letters (one transaction, idempotent)."""
        if not self._rows:
            return
        for key, env in self._envelopes:
            self.bus.publish(TOPIC_DEADLETTER, key, env)
        with self.sessions() as s:
            for i in range(0, len(self._rows), 500):
                upsert(s, DeadLetterRow, self._rows[i : i + 500])
            s.commit()
        self.discard()


class Stage(ABC):
    """A consuming stage: a consumer group on some topics, and idempotent writes."""

    name: str = "stage"
    topics: tuple[str, ...] = ()
    #: set by the :class:`StageRunner`: what happens to a timer job that fails for good
    on_job_error: Callable[[Stage, Message, BaseException], None] | None = None

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

    def run_job(
        self,
        ident: str,
        fn: Callable[..., Any],
        *args: Any,
        detail: dict[str, Any] | None = None,
    ) -> bool:
        """Run one timer job. A transient failure propagates (the runner backs off and the
        caller keeps the job); any other failure goes to the error policy and returns False
        (the caller drops the job: no crash loop on it)."""
        try:
            fn(*args)
        except Exception as exc:
            if is_transient(exc):
                raise
            handler = self.on_job_error
            if handler is None:
                raise
            handler(self, job_message(self.name, ident, detail), exc)
            return False
        return True


@dataclass(eq=False)
class DatabaseStage(Stage):
    """A stage that reads and writes the database: the collaborators every such stage has
    (its own come after them)."""

    sessions: SessionFactory
    clock: Clock
    metrics: StageMetrics
    dead: DeadLetters


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
        ident = f"{stage.name}:job:{msg.key}" if msg.offset < 0 and msg.key else None
        dead.send(stage.name, msg, f"stage_error: {type(exc).__name__}: {exc}", ident=ident)

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


def _never() -> bool:
    return False


@dataclass(eq=False)
class StageRunner:
    """Poll → handle → commit, with the transient/bad-record split, back-off and metrics."""

    stage: Stage
    bus: Bus
    metrics: StageMetrics
    on_error: ErrorPolicy
    dead: DeadLetters
    _: KW_ONLY
    batch_size: int = 256
    poll_timeout_s: float = 0.5
    backoff: Backoff = field(default_factory=Backoff)
    transient: Callable[[BaseException], bool] = is_transient
    sleep: Callable[[float], None] = time.sleep
    #: a stop request (the process's :class:`~streaming.runtime.StopFlag`)
    stop: Callable[[], bool] = field(default_factory=lambda: _never, init=False)
    last_batch_at: float | None = field(default=None, init=False)
    lag: int | None = field(default=None, init=False)
    lag_every_s: float = field(default=5.0, init=False)
    transient_errors: int = field(default=0, init=False)
    timer_error: str | None = field(default=None, init=False)
    #: transient failures the runner is backing off from, by activity (poll/batch/timers)
    _failing: dict[str, str] = field(default_factory=dict, init=False)
    _lag_at: float = field(default=0.0, init=False)
    _timer_attempt: int = field(default=0, init=False)
    _timer_next: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.stage.on_job_error = self.on_error
        self.bus.register_group(self.stage.group_id, self.stage.topics)

    # -- health ----------------------------------------------------------------------------
    @property
    def failing(self) -> str | None:
        """Why the runner is backing off (None = healthy)."""
        return "; ".join(f"{k}: {v}" for k, v in self._failing.items()) or None

    def health(self) -> dict[str, Any]:
        return {
            "ok": self.failing is None,
            "failing": self.failing,
            "transient_errors": self.transient_errors,
            "timer_error": self.timer_error,
            "lag": self.lag,
            "last_batch_at": self.last_batch_at,
        }

    def _note_transient(self, what: str, exc: BaseException, attempt: int) -> float:
        self.transient_errors += 1
        self._failing[what] = f"{type(exc).__name__}: {str(exc)[:300]}"
        self.metrics.transient_errors.labels(stage=self.stage.name).inc()
        self.metrics.healthy.labels(stage=self.stage.name).set(0)
        delay = self.backoff.delay(attempt)
        logger.warning(
            "%s: transient failure in %s (attempt %d; retrying in %.1fs): %s",
            self.stage.name,
            what,
            attempt,
            delay,
            exc,
            extra={"stage": self.stage.name, "reason": "transient"},
        )
        return delay

    def _healthy(self, *what: str) -> None:
        for w in what:
            if w in self._failing:
                logger.info("%s: %s recovered (%s)", self.stage.name, w, self._failing.pop(w))
        if not self._failing:
            self.metrics.healthy.labels(stage=self.stage.name).set(1)

    def _wait(self, delay: float) -> None:
        end = time.monotonic() + delay
        while not self.stop():
            left = end - time.monotonic()
            if left <= 0:
                return
            self.sleep(min(0.25, left))
        raise Abandoned(f"{self.stage.name}: stop requested during back-off")

    # -- the loop --------------------------------------------------------------------------
    def step(self, timeout_s: float | None = None) -> int:
        """One poll; returns the number of records handled (0 after an abandoned batch)."""
        st = self.stage
        try:
            msgs = self.bus.poll(
                st.group_id,
                st.topics,
                self.batch_size,
                self.poll_timeout_s if timeout_s is None else timeout_s,
            )
        except Exception as exc:
            if not self.transient(exc):
                raise
            try:
                self._wait(self._note_transient("poll", exc, 1))
            except Abandoned:
                pass
            return 0
        if "poll" in self._failing:
            self._healthy("poll")
        try:
            if msgs:
                self._batch(msgs)
            self._timers()
        except Abandoned as exc:
            self.dead.discard()
            logger.warning("%s; the batch is left uncommitted", exc)
            return 0
        self._measure_lag(bool(msgs))
        return len(msgs)

    def _batch(self, msgs: list[Message]) -> None:
        st = self.stage
        t0 = time.perf_counter()
        self.metrics.events_in.labels(stage=st.name).inc(len(msgs))
        attempt = 0
        while True:
            try:
                self._handle(msgs)
                self.dead.flush()
                self.bus.flush()
                break
            except Exception as exc:
                self.dead.discard()
                if not self.transient(exc):
                    raise
                attempt += 1
                self._wait(self._note_transient("batch", exc, attempt))
        self._healthy("poll", "batch")
        self.bus.commit(st.group_id, msgs)
        self.metrics.batch_seconds.labels(stage=st.name).observe(time.perf_counter() - t0)
        self.last_batch_at = time.time()
        self.metrics.last_batch.labels(stage=st.name).set(self.last_batch_at)

    def _handle(self, msgs: list[Message]) -> None:
        st = self.stage
        try:
            st.handle(msgs)
            return
        except Exception as batch_exc:
            if self.transient(batch_exc):
                raise
            logger.warning(
                "%s: batch of %d failed (%s); retrying one by one", st.name, len(msgs), batch_exc
            )
        self.dead.discard()
        for m in msgs:
            try:
                st.handle([m])
            except Exception as exc:
                if self.transient(exc):
                    raise
                self.on_error(st, m, exc)

    def _timers(self) -> None:
        """The stage's timer work; failures back off instead of crash-looping."""
        if time.monotonic() < self._timer_next:
            return
        try:
            self.stage.tick()
            self.dead.flush()
            self.bus.flush()
        except Abandoned:
            raise
        except Exception as exc:
            self.dead.discard()
            self._timer_attempt += 1
            if self.transient(exc):
                delay = self._note_transient("timers", exc, self._timer_attempt)
            else:
                delay = self.backoff.delay(self._timer_attempt)
                self.timer_error = f"{type(exc).__name__}: {str(exc)[:300]}"
                logger.error(
                    "%s: timer work failed (retrying in %.1fs)",
                    self.stage.name,
                    delay,
                    exc_info=exc,
                    extra={"stage": self.stage.name, "reason": "timer_error"},
                )
            self._timer_next = time.monotonic() + delay
            return
        if self._timer_attempt:
            self._timer_attempt = 0
            self.timer_error = None
            self._healthy("timers")

    def _measure_lag(self, busy: bool) -> None:
        since = time.monotonic() - self._lag_at
        # idle: measure now (cheap, local figures) so health never reports a stale backlog
        if busy and since <= self.lag_every_s:
            return
        self._lag_at = time.monotonic()
        try:
            self.lag = int(self.bus.lag(self.stage.group_id, self.stage.topics))
            self.metrics.lag.labels(stage=self.stage.name).set(self.lag)
        except Exception:
            logger.debug("lag unavailable for %s", self.stage.name, exc_info=True)
