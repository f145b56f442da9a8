"""Errors of the dashboard (all under :class:`bot.errors.BotError`)."""

from __future__ import annotations

from bot.errors import BotError

__all__ = ["DashboardConfigError", "DashboardError", "LoginError"]


class DashboardError(BotError):
    """Root of the dashboard's errors."""


class DashboardConfigError(DashboardError):
    """The dashboard's settings are incomplete or contradictory."""


class LoginError(DashboardError):
    """Reddit refused or failed the login (bad state, denied consent, token exchange)."""
