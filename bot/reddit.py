"""Building praw / asyncpraw clients from praw.ini or the environment.

Credentials come from a ``praw.ini`` site (``PROSOCIAL_REDDIT_SITE`` or ``site``) or from
praw's own ``praw_client_id`` / ``praw_client_secret`` / ``praw_username`` / ``praw_password``
environment variables. They are handed to praw and never logged, stored or echoed: errors name
the missing settings, not their values.

Every client gets a counting requestor that records each HTTP exchange in a shared
:class:`bot.ratelimit.RateBudget` and can cap the per-request timeout below praw's integer
``timeout`` setting. ``retries=False`` turns off prawcore's own retries of 5xx answers and
transport errors, which would repeat a POST that Reddit performed but answered too late: a
client that writes retries at a higher level, where it can first check what happened.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncprawcore
import prawcore

from bot.errors import CredentialsError
from bot.ratelimit import RateBudget
from streaming.logsafety import install_log_safety

__all__ = [
    "USER_AGENT",
    "AsyncCountingRequestor",
    "ClientSettings",
    "CountingRequestor",
    "Metering",
    "make_async_reddit",
    "make_reddit",
]

logger = logging.getLogger(__name__)

USER_AGENT = "python:prosocial:v0.1 (moderation assistant)"
_REQUIRED = ("client_id", "client_secret", "username", "password")


@dataclass
class Metering:
    """What both requestors add to a Reddit exchange: a timeout cap and a report of every
    response (or failure) to the :class:`RateBudget`."""

    budget: RateBudget | None = None
    timeout_cap: float | None = None

    def timeout(self, timeout: float | None) -> float | None:
        if self.timeout_cap is None:
            return timeout
        return min(timeout or self.timeout_cap, self.timeout_cap)

    def record(self, status: int | None, headers: Mapping[str, str] | None) -> None:
        if self.budget is not None:
            self.budget.record(status, headers)


class _Metered:
    """Requestor mixin: ``budget`` and ``timeout_cap`` become the requestor's metering."""

    def __init__(
        self,
        *args: Any,
        budget: RateBudget | None = None,
        timeout_cap: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.metering = Metering(budget, timeout_cap)


class CountingRequestor(_Metered, prawcore.Requestor):
    """A prawcore requestor that reports every exchange to a :class:`RateBudget`."""

    def request(self, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        try:
            response = super().request(*args, timeout=self.metering.timeout(timeout), **kwargs)
        except prawcore.RequestException:
            self.metering.record(None, None)
            raise
        self.metering.record(response.status_code, response.headers)
        return response


class AsyncCountingRequestor(_Metered, asyncprawcore.Requestor):
    """The asyncprawcore counterpart of :class:`CountingRequestor`."""

    @asynccontextmanager
    async def request(
        self, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        try:
            async with super().request(
                *args, timeout=self.metering.timeout(timeout), **kwargs
            ) as response:
                self.metering.record(response.status, response.headers)
                yield response
        except asyncprawcore.RequestException:
            self.metering.record(None, None)
            raise


@dataclass(frozen=True)
class ClientSettings:
    """Where and how to reach Reddit (no secrets here: those stay in praw.ini / env)."""

    site: str | None = None
    user_agent: str = USER_AGENT
    oauth_url: str | None = None  # e.g. http://127.0.0.1:8080 for the dev server
    reddit_url: str | None = None
    timeout_cap: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)  # never shown

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, site: str | None = None
    ) -> ClientSettings:
        """The ``PROSOCIAL_REDDIT_*`` environment; ``site`` (a praw.ini section) wins over it."""
        env = os.environ if env is None else env
        return cls(
            site=site or env.get("PROSOCIAL_REDDIT_SITE") or None,
            user_agent=env.get("PROSOCIAL_REDDIT_USER_AGENT", USER_AGENT),
            oauth_url=env.get("PROSOCIAL_REDDIT_OAUTH_URL") or None,
            reddit_url=env.get("PROSOCIAL_REDDIT_URL") or None,
        )

    def praw_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"user_agent": self.user_agent, "check_for_updates": False}
        if self.oauth_url:
            kw["oauth_url"] = self.oauth_url
        if self.reddit_url:
            kw["reddit_url"] = self.reddit_url
        kw.update(self.extra)
        return kw


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _missing_credentials(config: Any) -> list[str]:
    missing = []
    for name in _REQUIRED:
        value = getattr(config, name, None)
        if value is None or type(value).__name__ == "_NotSet":
            missing.append(name)
    return missing


def _no_retry() -> Any:
    return prawcore.sessions.FiniteRetryStrategy(retries=0)


def _client(
    package: Any,
    requestor_class: type,
    settings: ClientSettings | None,
    budget: RateBudget | None,
    require_user: bool,
) -> Any:
    """A ``package.Reddit`` (praw or asyncpraw) counting its requests against ``budget``."""
    settings = settings or ClientSettings.from_env()
    install_log_safety()
    try:
        reddit = package.Reddit(
            settings.site,
            requestor_class=requestor_class,
            requestor_kwargs={"budget": budget, "timeout_cap": settings.timeout_cap},
            **settings.praw_kwargs(),
        )
    except package.exceptions.MissingRequiredAttributeException as exc:
        raise CredentialsError(
            _first_line(exc) + " (set it in praw.ini or as a praw_<name> environment variable)"
        ) from None
    missing = _missing_credentials(reddit.config) if require_user else []
    if missing:
        raise CredentialsError(
            "missing Reddit settings: " + ", ".join(missing) + " (set them in praw.ini "
            "or as praw_<name> environment variables)"
        )
    return reddit


def make_reddit(
    settings: ClientSettings | None = None,
    budget: RateBudget | None = None,
    *,
    require_user: bool = True,
    retries: bool = True,
) -> Any:
    """A ``praw.Reddit`` for the bot account (script app, password grant)."""
    import praw

    settings = settings or ClientSettings.from_env()
    reddit = _client(praw, CountingRequestor, settings, budget, require_user)
    if not retries:  # prawcore offers no public switch; its session keeps the strategy class
        core: Any = reddit._core
        core._retry_strategy_class = _no_retry
    logger.info(
        "reddit client ready (site=%s, oauth_url=%s)",
        settings.site or "DEFAULT",
        reddit.config.oauth_url,
    )
    return reddit


def make_async_reddit(
    settings: ClientSettings | None = None, budget: RateBudget | None = None
) -> Any:
    """An ``asyncpraw.Reddit`` for one-process operation over many subreddits."""
    import asyncpraw

    return _client(asyncpraw, AsyncCountingRequestor, settings, budget, require_user=True)
