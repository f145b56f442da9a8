"""Reading approval commands from moderators' replies to digest conversations."""

from __future__ import annotations

import logging
from typing import Any

from bot.approvals import ApprovalService
from bot.backoff import Backoff

__all__ = ["ModmailCommandReader"]

logger = logging.getLogger(__name__)


class ModmailCommandReader:
    """Applies ``!approve`` / ``!reject`` replies found in the digest conversations."""

    def __init__(
        self,
        reddit: Any,
        service: ApprovalService,
        bot_username: str,
        *,
        send: bool = False,
        backoff: Backoff | None = None,
    ) -> None:
        self.reddit = reddit
        self.service = service
        self.bot_username = bot_username.lower()
        self.send = send
        self.backoff = backoff or Backoff()

    def poll(self, subreddit: str) -> list[str]:
        """Handle new commands in every digest conversation of ``subreddit``."""
        lines: list[str] = []
        for _sub, conv_id, _at in self.service.store.digests(subreddit):
            if conv_id:
                lines += self.poll_conversation(subreddit, conv_id)
        return lines

    def poll_conversation(self, subreddit: str, conversation_id: str) -> list[str]:
        conv = self.reddit.subreddit(subreddit).modmail(conversation_id)
        messages = self.backoff.call(lambda: list(conv.messages), f"modmail {conversation_id}")
        replies: list[str] = []
        for msg in messages:
            author = getattr(msg.author, "name", None) or ""
            if author.lower() == self.bot_username or not vars(msg.author).get(
                "is_subreddit_mod", False
            ):
                continue
            if not self.service.store.first_time(f"{conversation_id}:{msg.id}"):
                continue
            replies += self.service.handle_text(
                subreddit, author, getattr(msg, "body_markdown", "") or ""
            )
        if replies:
            self.reply(subreddit, conversation_id, "\n".join(f"- {r}" for r in replies))
        return replies

    def reply(self, subreddit: str, conversation_id: str, body: str) -> None:
        """An internal (moderators-only) reply in a modmail conversation."""
        if not self.send:
            logger.info("[dry-run] modmail reply in %s: %s", conversation_id, body)
            return
        conv = self.reddit.subreddit(subreddit).modmail(conversation_id)
        self.backoff.call(
            lambda: conv.reply(body=body, internal=True), f"modmail reply {conversation_id}"
        )
