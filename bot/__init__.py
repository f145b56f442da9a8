"""Everything that talks to Reddit or to moderators."""

from bot.errors import BotError

__all__ = ["BotError"]
