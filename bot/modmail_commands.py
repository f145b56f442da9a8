"""Reading approval commands from moderators' replies to digest conversations.

One listing request per poll (``GET /api/mod/conversations``, most recently updated first)
tells which digest conversations have messages the bot has not read; only those are read.
The bot's answer to a message carries a delivery key (recorded before the POST, written into
the reply as an invisible marker) and a reply whose answer was lost is looked for before it is
sent again; a message counts as handled only once its answer is out.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from bot.approvals import ApprovalService
from bot.backoff import Backoff
from bot.delivery import marker

__all__ = ["ModmailCommandReader"]

logger = logging.getLogger(__name__)


def _field(conv: Any, *names: str) -> Any:
    """A conversation's field, whether praw made an object (snake_case) or left a dict."""
    for n in names:
        v = conv.get(n) if isinstance(conv, dict) else getattr(conv, n, None)
        if v is not None:
            return v
    return None


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
        listing_limit: int = 100,
    ) -> None:
        self.reddit = reddit
        self.service = service
        self.bot_username = bot_username.lower()
        self.send = send
        self.backoff = backoff or Backoff()
        self.listing_limit = listing_limit
        self.conversations_read = 0  # conversations whose messages were fetched

    def updated(self, subreddit: str) -> list[tuple[str, int]]:
        """``(conversation id, number of messages)`` of the digest conversations with
        messages not read yet (one listing request)."""
        from praw.const import API_PATH

        store = self.service.store
        known = {c for _s, c, _at in store.digests(subreddit) if c}
        if not known:
            return []
        listing = self.backoff.call(
            lambda: self.reddit.get(
                API_PATH["modmail_conversations"],
                params={
                    "entity": subreddit,
                    "state": "mod",
                    "sort": "recent",
                    "limit": self.listing_limit,
                },
            ),
            f"modmail of r/{subreddit}",
        )
        out = []
        for conv in getattr(listing, "conversations", None) or []:
            cid = str(_field(conv, "id"))
            n = int(_field(conv, "num_messages", "numMessages") or 0)
            if cid in known and n > 1 and not store.handled(f"{cid}#{n}"):  # 1: the digest
                out.append((cid, n))
        return out

    def poll(self, subreddit: str) -> list[str]:
        """Handle new commands in the digest conversations of ``subreddit`` that changed."""
        lines: list[str] = []
        for conv_id, n in self.updated(subreddit):
            lines += self.poll_conversation(subreddit, conv_id)
            self.service.store.first_time(f"{conv_id}#{n}")
        return lines

    def poll_conversation(self, subreddit: str, conversation_id: str) -> list[str]:
        conv = self.reddit.subreddit(subreddit).modmail(conversation_id)
        messages = self.backoff.call(lambda: list(conv.messages), f"modmail {conversation_id}")
        self.conversations_read += 1
        store = self.service.store
        fresh = []
        for msg in messages:
            author = getattr(msg.author, "name", None) or ""
            if author.lower() == self.bot_username or not vars(msg.author).get(
                "is_subreddit_mod", False
            ):
                continue
            if not store.handled(f"{conversation_id}:{msg.id}"):
                fresh.append((author, msg))
        replies: list[str] = []
        for author, msg in fresh:
            replies += self.service.handle_text(
                subreddit, author, getattr(msg, "body_markdown", "") or ""
            )
        if replies:
            key = f"reply:{conversation_id}:{fresh[-1][1].id}"
            self.reply(subreddit, conversation_id, "\n".join(f"- {r}" for r in replies), key)
        for _author, msg in fresh:
            store.first_time(f"{conversation_id}:{msg.id}")
        return replies

    def reply(
        self, subreddit: str, conversation_id: str, body: str, key: str | None = None
    ) -> None:
        """An internal (moderators-only) reply in a modmail conversation, once per ``key``."""
        if not self.send:
            logger.info("[dry-run] modmail reply in %s: %s", conversation_id, body)
            return
        store = self.service.store
        key = key or f"reply:{conversation_id}:{hashlib.sha256(body.encode()).hexdigest()[:16]}"
        if (done := store.delivery(key)) is not None and done[0] == "sent":
            return
        mark = marker(key)

        def performed() -> bool:
            msgs = self.reddit.subreddit(subreddit).modmail(conversation_id).messages
            return any(mark in (getattr(m, "body_markdown", "") or "") for m in msgs)

        what = f"modmail reply {conversation_id}"
        if done is None:
            store.begin_delivery(key, subreddit, self.service.clock())
        elif self.backoff.call(performed, what):
            store.finish_delivery(key, conversation_id, self.service.clock())
            return
        conv = self.reddit.subreddit(subreddit).modmail(conversation_id)
        self.backoff.call_once(
            lambda: conv.reply(body=f"{body}\n\n{mark}", internal=True), performed, what
        )
        store.finish_delivery(key, conversation_id, self.service.clock())
