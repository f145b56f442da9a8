"""The root exception of the ``bot`` package and its subclasses."""

from __future__ import annotations

__all__ = [
    "BotError",
    "BudgetExceeded",
    "ConfigError",
    "CredentialsError",
    "FetchError",
    "PermissionsError",
    "RetriesExhausted",
]


class BotError(Exception):
    """Root of every error raised by :mod:`bot`."""


class ConfigError(BotError):
    """A subreddit's wiki configuration is missing, empty or invalid."""


class CredentialsError(BotError):
    """Reddit credentials are missing or incomplete (their values are never shown)."""


class PermissionsError(BotError):
    """The bot does not moderate a configured subreddit with the permissions it needs."""


class BudgetExceeded(BotError):
    """A fetch would need more API requests than its budget allows."""


class RetriesExhausted(BotError):
    """A Reddit call kept failing (429 / 5xx / timeouts / bad bodies) past the retry limit."""


class FetchError(BotError):
    """A thread could not be fetched (not found, forbidden, or Reddit unreachable)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient  # worth trying again later (outage, rate limit)
