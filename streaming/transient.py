"""Transient failures: what is retried with back-off instead of being dead-lettered.

A *transient* error says nothing about the record being handled: the database or the broker
is unreachable, Reddit answered 5xx or timed out. Retrying the same work later succeeds, so a
stage backs off, reports itself unhealthy and does not commit. Anything else raised while
handling a record is the record's fault (a *bad record*): it is dead-lettered with the reason
and committed. Code that knows a failure is transient raises :class:`TransientError`.
"""

from __future__ import annotations

import logging
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from streaming.errors import StreamingError

logger = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["Backoff", "TransientError", "is_transient", "retry_transient"]

#: exception class names (anywhere in the MRO) from clients this package does not import
_TRANSIENT_NAMES = {
    # prawcore / asyncprawcore: 5xx, transport failures, 429, truncated bodies
    ("prawcore", "ServerError"),
    ("prawcore", "RequestException"),
    ("prawcore", "TooManyRequests"),
    ("prawcore", "BadJSON"),
    ("asyncprawcore", "ServerError"),
    ("asyncprawcore", "RequestException"),
    ("asyncprawcore", "TooManyRequests"),
    ("asyncprawcore", "BadJSON"),
    # httpx / requests transport errors
    ("httpx", "TransportError"),
    ("requests", "ConnectionError"),
    ("requests", "Timeout"),
    # kafka-python: the broker is unreachable or not ready
    ("kafka", "KafkaConnectionError"),
    ("kafka", "KafkaTimeoutError"),
    ("kafka", "NoBrokersAvailable"),
    ("kafka", "NodeNotReadyError"),
    ("kafka", "RequestTimedOutError"),
    ("kafka", "NotLeaderForPartitionError"),
    ("kafka", "LeaderNotAvailableError"),
    # the bus's own "broker unreachable / records not delivered"
    ("streaming", "BusError"),
}


class TransientError(StreamingError):
    """A dependency failed in a way worth retrying (raise it to say so explicitly)."""


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or the error it wraps) is a dependency failure worth retrying."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if _one(e):
            return True
        e = e.__cause__ or e.__context__
    return False


def _one(exc: BaseException) -> bool:
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)):
        return True
    # database: lost connection, server down, pool exhausted, SQLite busy/locked
    try:
        from sqlalchemy import exc as sa
    except ImportError:  # pragma: no cover
        sa = None  # type: ignore[assignment]
    if sa is not None:
        if isinstance(exc, (sa.OperationalError, sa.InterfaceError, sa.DisconnectionError)):
            return True
        if isinstance(exc, sa.TimeoutError):
            return True
        if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
            return True
    for cls in type(exc).__mro__:
        root = cls.__module__.split(".", 1)[0]
        if (root, cls.__name__) in _TRANSIENT_NAMES:
            return True
    return False


@dataclass
class Backoff:
    """Bounded exponential back-off with jitter: ``base * 2**n`` capped at ``cap`` seconds."""

    base_s: float = 0.5
    cap_s: float = 30.0
    jitter: float = 0.2
    rand: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1 = first retry)."""
        d = min(self.cap_s, self.base_s * (2 ** max(0, attempt - 1)))
        return d * (1 - self.jitter + 2 * self.jitter * self.rand())


def retry_transient(
    fn: Callable[[], T],
    what: str,
    *,
    backoff: Backoff | None = None,
    stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``fn()``, retried with back-off while it fails transiently (until ``stop()``, then the
    last error is raised). Any other error propagates at once."""
    b = backoff or Backoff()
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc) or stop():
                raise
            attempt += 1
            delay = b.delay(attempt)
            logger.warning("%s failed (attempt %d; retry in %.1fs): %s", what, attempt, delay, exc)
            sleep(delay)
