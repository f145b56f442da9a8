"""At start: does the bot moderate each configured subreddit with the permissions it needs?

Needed moderator permissions: ``posts`` (sticky/distinguish a comment, set suggested sort),
``mail`` (modmail digests and approval replies), ``wiki`` (read the config page if it is
mod-only, write the suggestions page). ``all`` covers everything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import prawcore

from bot.backoff import Backoff
from bot.errors import RetriesExhausted

if TYPE_CHECKING:
    import praw
    import praw.models

__all__ = ["NEEDED", "PermissionReport", "check_permissions"]

logger = logging.getLogger(__name__)

NEEDED = ("posts", "mail", "wiki")


@dataclass
class PermissionReport:
    subreddit: str
    moderator: bool
    permissions: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.moderator and not self.missing and self.error is None

    def explain(self) -> str:
        if self.error:
            return f"r/{self.subreddit}: cannot check ({self.error})"
        if not self.moderator:
            return (
                f"r/{self.subreddit}: the bot is not a moderator; invite it with the "
                f"permissions {', '.join(NEEDED)}"
            )
        if self.missing:
            return (
                f"r/{self.subreddit}: missing moderator permissions "
                f"{', '.join(self.missing)} (has {', '.join(self.permissions) or 'none'})"
            )
        return f"r/{self.subreddit}: ok ({', '.join(self.permissions)})"


def check_permissions(
    reddit: praw.Reddit,
    subreddits: Iterable[str],
    needed: Sequence[str] = NEEDED,
    username: str | None = None,
    backoff: Backoff | None = None,
) -> list[PermissionReport]:
    backoff = backoff or Backoff()
    if username is None:
        me = backoff.call(lambda: reddit.user.me(), "who am I")
        username = me.name if me is not None else None
    if not username:
        return [PermissionReport(s, False, error="not logged in as a user") for s in subreddits]
    out = []
    for sub in subreddits:

        def moderators(sub: str = sub) -> list[praw.models.Redditor]:
            return list(reddit.subreddit(sub).moderator(redditor=username))

        try:
            mods = backoff.call(moderators, f"moderators of r/{sub}")
        except (prawcore.PrawcoreException, RetriesExhausted) as exc:
            out.append(PermissionReport(sub, False, error=type(exc).__name__))
            continue
        if not mods:
            out.append(PermissionReport(sub, False))
            continue
        perms = list(getattr(mods[0], "mod_permissions", []) or [])
        missing = [] if "all" in perms else [p for p in needed if p not in perms]
        out.append(PermissionReport(sub, True, perms, missing))
    for r in out:
        (logger.info if r.ok else logger.warning)("%s", r.explain())
    return out
