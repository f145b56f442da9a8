"""Delivery to moderators: modmail digests, the suggestions wiki page, notices.

``send=False`` (the default of the CLI) writes nothing to Reddit: messages are rendered and
logged only. The digest goes to the subreddit's modmail as a conversation with the bot account
(a moderator), i.e. an internal mod discussion; its id is kept so replies to it can carry
approval commands.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.approvals import ApprovalStore
from bot.backoff import Backoff
from bot.config import SubredditConfig
from bot.digest import Digest, build_digest
from bot.suggestions import SuggestionSource

__all__ = ["DeliveryResult", "ModeratorDelivery"]

logger = logging.getLogger(__name__)


@dataclass
class DeliveryResult:
    subreddit: str
    digest: Digest | None
    conversation: str | None = None
    wiki_written: bool = False
    sent: bool = False


class ModeratorDelivery:
    def __init__(
        self,
        reddit: Any,
        store: ApprovalStore,
        bot_username: str,
        *,
        send: bool = False,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
    ) -> None:
        self.reddit = reddit
        self.store = store
        self.bot_username = bot_username
        self.send = send
        self.clock = clock
        self.backoff = backoff or Backoff()

    # -- scheduling ---------------------------------------------------------------------
    def digest_due(self, subreddit: str, config: SubredditConfig) -> bool:
        if not config.enabled or not (config.channels.modmail or config.channels.wiki):
            return False
        now = self.clock()
        sent = self.store.digests(subreddit)
        if not sent:
            if config.digest.hour_utc is None:
                return True
            return time.gmtime(now).tm_hour >= config.digest.hour_utc
        return now - sent[-1][2] >= config.digest.every_hours * 3600 - 60

    # -- channels -----------------------------------------------------------------------
    def notify(self, subreddit: str, subject: str, body: str) -> str | None:
        """A modmail to the subreddit's moderators (returns the conversation id)."""
        if not self.send:
            logger.info("[dry-run] modmail to r/%s: %s", subreddit, subject)
            return None

        def create() -> Any:
            return self.reddit.subreddit(subreddit).modmail.create(
                subject=subject[:100], body=body, recipient=self.bot_username, author_hidden=False
            )

        conv = self.backoff.call(create, f"modmail r/{subreddit}")
        return str(conv.id)

    def write_wiki(self, subreddit: str, page: str, content: str) -> bool:
        if not self.send:
            logger.info("[dry-run] wiki r/%s/%s (%d chars)", subreddit, page, len(content))
            return False
        wiki = self.reddit.subreddit(subreddit).wiki[page]
        self.backoff.call(
            lambda: wiki.edit(content=content, reason="prosocial suggestions"),
            f"wiki r/{subreddit}/{page}",
        )
        return True

    def deliver_digest(
        self,
        subreddit: str,
        config: SubredditConfig,
        source: SuggestionSource,
        *,
        force: bool = False,
    ) -> DeliveryResult:
        if not force and not self.digest_due(subreddit, config):
            return DeliveryResult(subreddit, None)
        now = self.clock()
        since = int(now - config.horizon_hours * 3600)

        def propose(action: str, target: str, params: dict[str, str]) -> Any:
            return self.store.propose(subreddit, action, target, params, now)

        digest = build_digest(subreddit, source.suggestions(subreddit, since), config, now, propose)
        result = DeliveryResult(subreddit, digest)
        if digest.empty:
            self.store.record_digest(subreddit, None, now, 0, not self.send)
            return result
        if config.channels.modmail:
            result.conversation = self.notify(subreddit, digest.subject, digest.body)
            result.sent = self.send
        if config.channels.wiki:
            result.wiki_written = self.write_wiki(subreddit, config.channels.wiki_page, digest.body)
        self.store.record_digest(
            subreddit, result.conversation, now, len(digest.posts), not self.send
        )
        logger.info(
            "digest r/%s: %d posts, %d seekers, %d proposals",
            subreddit,
            len(digest.posts),
            len(digest.seekers),
            len(digest.proposals),
        )
        return result
