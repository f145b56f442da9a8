"""The root exception of the ``bot`` package."""

from __future__ import annotations

__all__ = ["BotError"]


class BotError(Exception):
    """Root of every error raised by :mod:`bot`."""
