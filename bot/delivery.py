"""Delivery to moderators: modmail digests, alerts and notices, the suggestions wiki page.

``send=False`` (the default of the CLI) writes nothing to Reddit: messages are rendered and
logged only. A message goes to the subreddit's modmail as a conversation with the bot account
(a moderator), i.e. an internal mod discussion; a digest's id is kept so replies to it can carry
approval commands.

**Exactly once.** Every message has a delivery key (``digest:<sub>:<slot>``,
``alert:<tlc>``, …) recorded as *sending* before the POST and as *sent* after it; the key is
also written into the message as an invisible marker. A POST that failed or timed out (Reddit
may have performed it anyway) is never blindly retried: the bot first looks for the marker in
the subreddit's recent mod conversations, and sends again only when it is not there. A restart
finds unfinished keys the same way. Each channel of a digest has its own key, so a wiki
write that fails after the modmail went out is retried alone.

**Private pages.** Every wiki page the bot writes is made moderator-only and unlisted (page
settings ``permlevel=2``, ``listed=False``) and verified *before* the content is written; when
that cannot be done the bot refuses to write and tells the moderators why. A digest's page
write carries its key as a marker too, and a write whose answer was lost is read back before
it is tried again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import prawcore

from bot.approvals import ApprovalStore
from bot.backoff import Backoff, is_transient
from bot.config import SubredditConfig
from bot.digest import Digest, build_digest
from bot.errors import RetriesExhausted
from bot.suggestions import SuggestionSource

__all__ = ["DeliveryResult", "ModeratorDelivery", "marker"]

logger = logging.getLogger(__name__)

_PRIVATE = {"permlevel": 2, "listed": False}


def _digest(*parts: str) -> str:
    """A short digest of ``parts`` that is the same in every process (unlike ``hash``)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def marker(key: str) -> str:
    """The invisible Markdown marker carrying a delivery key."""
    return f"[](#prosocial:{key})"


@dataclass
class DeliveryResult:
    subreddit: str
    digest: Digest | None
    conversation: str | None = None
    wiki_written: bool = False
    sent: bool = False


@dataclass(eq=False)
class ModeratorDelivery:
    reddit: Any
    store: ApprovalStore
    bot_username: str
    _: KW_ONLY
    send: bool = False
    clock: Callable[[], float] = time.time
    backoff: Backoff = field(default_factory=Backoff)
    max_attempts: int = 4

    # -- scheduling ---------------------------------------------------------------------
    @staticmethod
    def digest_slot(config: SubredditConfig, now: float) -> int:
        """The digest period ``now`` falls in (periods start at ``hour_utc``, if set)."""
        period = config.digest.every_hours * 3600
        offset = (config.digest.hour_utc or 0) * 3600
        return int((now - offset) // period)

    def digest_key(self, subreddit: str, config: SubredditConfig, now: float) -> str:
        return f"digest:{subreddit.lower()}:{self.digest_slot(config, now)}"

    def wiki_key(self, subreddit: str, config: SubredditConfig, now: float) -> str:
        return f"wiki:{subreddit.lower()}:{self.digest_slot(config, now)}"

    def _sent(self, key: str) -> bool:
        done = self.store.delivery(key)
        return done is not None and done[0] == "sent"

    def digest_due(self, subreddit: str, config: SubredditConfig) -> bool:
        """Whether a channel of this period's digest is still to be delivered."""
        if not config.enabled or not (config.channels.modmail or config.channels.wiki):
            return False
        now = self.clock()
        keys = [self.digest_key(subreddit, config, now)] if config.channels.modmail else []
        if config.channels.wiki:
            keys.append(self.wiki_key(subreddit, config, now))
        return not all(self._sent(k) for k in keys)

    # -- modmail, exactly once ----------------------------------------------------------
    def find_sent(self, subreddit: str, key: str) -> str | None:
        """The id of a recent mod conversation of ``subreddit`` carrying ``key``'s marker."""
        from praw.const import API_PATH

        mark = marker(key)

        def recent() -> Any:
            return self.reddit.get(
                API_PATH["modmail_conversations"],
                params={"entity": subreddit, "state": "mod", "limit": 100, "sort": "recent"},
            )

        listing = self.backoff.call(recent, f"modmail of r/{subreddit}")
        for conv in getattr(listing, "conversations", None) or []:
            get = conv.get if isinstance(conv, dict) else lambda k, c=conv: getattr(c, k, None)
            for msg in get("messages") or []:
                body = getattr(msg, "body_markdown", None) or ""
                if mark in body:
                    return str(get("id"))
        return None

    def send_once(self, key: str, subreddit: str, subject: str, body: str) -> str | None:
        """Send a modmail for ``key`` unless it was sent; returns its conversation id (None
        under dry-run, or when Reddit cannot be reached now: a later call finishes it)."""
        if not self.send:
            logger.info("[dry-run] modmail to r/%s: %s", subreddit, subject)
            return None
        done = self.store.delivery(key)
        if done is not None and done[0] == "sent":
            return done[1]
        try:
            if done is not None:  # begun before: a crash, or an answer that never came
                found = self.find_sent(subreddit, key)
                if found is not None:
                    self.store.finish_delivery(key, found, self.clock())
                    return found
            else:
                self.store.begin_delivery(key, subreddit, self.clock())
            text = f"{body}\n\n{marker(key)}"
            for attempt in range(self.max_attempts):
                try:
                    conv = self.reddit.subreddit(subreddit).modmail.create(
                        subject=subject[:100],
                        body=text,
                        recipient=self.bot_username,
                        author_hidden=False,
                    )
                    self.store.finish_delivery(key, str(conv.id), self.clock())
                    return str(conv.id)
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    logger.warning("modmail %s: %s; checking whether it arrived", key, exc)
                    found = self.find_sent(subreddit, key)
                    if found is not None:
                        self.store.finish_delivery(key, found, self.clock())
                        return found
                    self.backoff.sleep(self.backoff.delay(attempt, exc))
        except RetriesExhausted as exc:
            logger.warning("modmail %s postponed: %s", key, exc)
        return None

    def notify(self, subreddit: str, subject: str, body: str, key: str | None = None) -> str | None:
        """A modmail to the subreddit's moderators (returns the conversation id)."""
        key = key or f"notice:{subreddit.lower()}:{_digest(subject, body)}"
        return self.send_once(key, subreddit, subject, body)

    # -- wiki pages: private or not at all, each keyed write once ------------------------
    def make_private(self, subreddit: str, page: str) -> str | None:
        """Make ``page`` moderator-only and unlisted; ``None`` when verified, else why not.
        Raises :class:`RetriesExhausted` when Reddit cannot be reached now."""
        wiki = self.reddit.subreddit(subreddit).wiki[page]
        try:
            settings = self.backoff.call(lambda: wiki.mod.settings(), f"wiki settings {page}")
            if settings.get("permlevel") != 2 or settings.get("listed"):
                self.backoff.call(lambda: wiki.mod.update(**_PRIVATE), f"wiki settings {page}")
                settings = self.backoff.call(lambda: wiki.mod.settings(), f"wiki settings {page}")
        except prawcore.Forbidden:
            return "the bot may not change the page's settings (it needs the wiki permission)"
        except prawcore.PrawcoreException as exc:
            return f"the page's settings could not be set ({type(exc).__name__})"
        if settings.get("permlevel") != 2 or settings.get("listed"):
            return f"Reddit kept the page readable by others (settings now {settings})"
        return None

    def _page_has(self, subreddit: str, page: str, mark: str) -> bool:
        """Whether the page's current text carries ``mark`` (a fresh read)."""
        try:
            return mark in (self.reddit.subreddit(subreddit).wiki[page].content_md or "")
        except prawcore.NotFound:
            return False

    def write_wiki(self, subreddit: str, page: str, content: str, key: str | None = None) -> bool:
        """Write ``page`` (private first). With a delivery ``key`` the write happens once: the
        key is recorded before, carried in the page as a marker, and a write whose answer was
        lost is read back before it is tried again. ``False``: not written now."""
        if not self.send:
            logger.info("[dry-run] wiki r/%s/%s (%d chars)", subreddit, page, len(content))
            return False
        if key is not None and self._sent(key):
            return True
        try:
            why = self.make_private(subreddit, page)
        except RetriesExhausted as exc:
            logger.warning("wiki r/%s/%s not written now: %s", subreddit, page, exc)
            return False
        if why is not None:
            logger.warning("not writing r/%s/wiki/%s: %s", subreddit, page, why)
            self.notify(
                subreddit,
                "prosocial: suggestions page not written",
                f"The bot did not write /r/{subreddit}/wiki/{page}: {why}. The page lists users "
                "who seek empathy, so it is written only when it is moderator-only and "
                "unlisted. Give the bot the wiki permission, or turn `channels.wiki` off.",
                key=f"wiki-refused:{subreddit.lower()}:{page}",
            )
            return False
        wiki = self.reddit.subreddit(subreddit).wiki[page]
        what = f"wiki r/{subreddit}/{page}"
        try:
            if key is None:
                self.backoff.call(
                    lambda: wiki.edit(content=content, reason="prosocial suggestions"), what
                )
                return True
            mark = marker(key)
            text = f"{content}\n\n{mark}"
            begun = self.store.delivery(key)
            if begun is None:
                self.store.begin_delivery(key, subreddit, self.clock())
            elif self.backoff.call(lambda: self._page_has(subreddit, page, mark), what):
                self.store.finish_delivery(key, None, self.clock())
                return True
            self.backoff.call_once(
                lambda: wiki.edit(content=text, reason=f"prosocial {key}"),
                lambda: self._page_has(subreddit, page, mark),
                what,
            )
        except RetriesExhausted as exc:
            logger.warning("%s not written now: %s", what, exc)
            return False
        self.store.finish_delivery(key, None, self.clock())
        return True

    # -- the digest: delivered per channel -------------------------------------------
    def deliver_digest(
        self,
        subreddit: str,
        config: SubredditConfig,
        source: SuggestionSource,
        *,
        force: bool = False,
    ) -> DeliveryResult:
        """This period's digest, to each channel not yet delivered: the wiki page (key
        ``wiki:<sub>:<slot>``) and the modmail (``digest:<sub>:<slot>``) are recorded apart,
        so a failed wiki write is retried on later runs without re-sending the modmail."""
        if not force and not self.digest_due(subreddit, config):
            return DeliveryResult(subreddit, None)
        now = self.clock()
        key = self.digest_key(subreddit, config, now)
        wkey = self.wiki_key(subreddit, config, now)
        begun = self.store.delivery(key) or self.store.delivery(wkey)
        since = int(now - config.horizon_hours * 3600)

        def propose(action: str, target: str, params: dict[str, str]) -> Any:
            return self.store.propose(subreddit, action, target, params, now)

        digest = build_digest(subreddit, source.suggestions(subreddit, since), config, now, propose)
        result = DeliveryResult(subreddit, digest)
        if not self.send:
            logger.info("[dry-run] digest r/%s: %s", subreddit, digest.subject)
            self._mark_sent(subreddit, now, key, wkey)
            self.store.record_digest(subreddit, None, now, len(digest.posts), True)
            return result
        if digest.empty and begun is None:
            self._mark_sent(subreddit, now, key, wkey)
            self.store.record_digest(subreddit, None, now, 0, not self.send)
            return result
        if not config.channels.modmail:
            mailed = not self._sent(key)
            if mailed:
                self._mark_sent(subreddit, now, key)
        elif self._sent(key):  # sent on an earlier run: only another channel was left
            mailed = False
            done = self.store.delivery(key)
            result.conversation = done[1] if done is not None else None
        else:
            result.conversation = self.send_once(key, subreddit, digest.subject, digest.body)
            result.sent = mailed = result.conversation is not None
        if config.channels.wiki:  # after the modmail, and whether or not that went out
            result.wiki_written = self.write_wiki(
                subreddit, config.channels.wiki_page, digest.body, key=wkey
            )
        if not mailed:
            return result  # not sent now (Reddit unreachable: the next run finishes it) or before
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

    def _mark_sent(self, subreddit: str, now: float, *keys: str) -> None:
        for k in keys:
            self.store.begin_delivery(k, subreddit, now)
            self.store.finish_delivery(k, None, now)
