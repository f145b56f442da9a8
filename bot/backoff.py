"""Retrying Reddit calls on 429, 5xx, timeouts and unreadable bodies.

prawcore already retries 5xx and connection errors twice; what still escapes (429
``TooManyRequests``, a third 5xx, ``BadJSON`` from a truncated body, a read timeout) is retried
here with capped exponential back-off and jitter. A 429 waits until the reset Reddit announced
in ``X-Ratelimit-Reset`` (or ``Retry-After``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import prawcore

from bot.errors import RetriesExhausted

__all__ = ["Backoff", "is_transient", "retry_after_s"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

_TRANSIENT = (
    prawcore.TooManyRequests,
    prawcore.ServerError,
    prawcore.RequestException,
    prawcore.BadJSON,
)


def _async_transient() -> tuple[type[BaseException], ...]:
    import asyncprawcore

    return (
        asyncprawcore.TooManyRequests,
        asyncprawcore.ServerError,
        asyncprawcore.RequestException,
        asyncprawcore.BadJSON,
    )


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is worth retrying (rate limit, server error, transport, bad body)."""
    if isinstance(exc, _TRANSIENT):
        return True
    try:
        return isinstance(exc, _async_transient())
    except ImportError:  # pragma: no cover
        return False


def retry_after_s(exc: BaseException) -> float | None:
    """The wait a 429 asks for, from ``Retry-After`` or ``X-Ratelimit-Reset``."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    for name in ("retry-after", "x-ratelimit-reset"):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None


@dataclass
class Backoff:
    """Capped exponential back-off; ``sleep`` is injected so tests and replays run fast."""

    sleep: Callable[[float], Any] = field(default=lambda s: time.sleep(s))
    base_s: float = 1.0
    cap_s: float = 120.0
    max_tries: int = 6
    rng: random.Random = field(default_factory=random.Random)
    retries: int = 0
    failures: int = 0

    def delay(self, attempt: int, exc: BaseException | None = None) -> float:
        wait = retry_after_s(exc) if exc is not None and _is_429(exc) else None
        if wait is None:
            wait = min(self.cap_s, self.base_s * (2**attempt))
            wait *= 0.5 + self.rng.random() / 2
        return min(wait, self.cap_s)

    def _after_failure(self, attempt: int, exc: Exception, what: str) -> float:
        """Count a failed try and return the wait before the next one; re-raise a permanent
        error, or :class:`RetriesExhausted` after the last try (call inside ``except``)."""
        if not is_transient(exc):
            raise exc
        self.failures += 1
        if attempt + 1 == self.max_tries:
            raise RetriesExhausted(
                f"{what} failed {self.max_tries} times: {type(exc).__name__}"
            ) from exc
        wait = self.delay(attempt, exc)
        self.retries += 1
        logger.warning("%s failed (%s), retrying in %.1fs", what, type(exc).__name__, wait)
        return wait

    def call(self, fn: Callable[[], T], what: str = "reddit call") -> T:
        for attempt in range(self.max_tries):
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 (_after_failure re-raises permanent errors)
                self.sleep(self._after_failure(attempt, exc, what))
        raise AssertionError("unreachable")  # pragma: no cover

    def call_once(
        self, fn: Callable[[], T], performed: Callable[[], bool], what: str = "reddit call"
    ) -> T | None:
        """A call with a side effect that must not happen twice: after a transient failure
        (Reddit may have performed it though the answer was lost) ``performed()`` is asked,
        itself retried, before trying again. ``None`` when it turned out performed."""
        for attempt in range(self.max_tries):
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 (_after_failure re-raises permanent errors)
                wait = self._after_failure(attempt, exc, what)
            if self.call(performed, f"{what} (was it performed?)"):
                logger.info("%s: performed although its answer was lost", what)
                return None
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def acall(
        self,
        fn: Callable[[], Awaitable[T]],
        what: str = "reddit call",
        asleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> T:
        import asyncio

        asleep = asleep or asyncio.sleep
        for attempt in range(self.max_tries):
            try:
                return await fn()
            except Exception as exc:  # noqa: BLE001 (_after_failure re-raises permanent errors)
                await asleep(self._after_failure(attempt, exc, what))
        raise AssertionError("unreachable")  # pragma: no cover


def _is_429(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", getattr(response, "status", None)) == 429
