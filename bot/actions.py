"""Performing approved actions on Reddit, and only those, as Reddit allows a moderator to.

* ``highlights`` — the bot's *own* top-level "conversation highlights" comment on a post,
  linking the forecast-best top-level comments, distinguished and stickied
  (``comment.mod.distinguish(how="yes", sticky=True)``: a moderator can sticky only their own
  top-level comment). Later revisions edit it in place; there is never more than one per post
  (its id is kept, and a comment posted before a crash is found again by its marker).
* ``remove_highlights`` — the bot deletes its highlights comment.
* ``suggested_sort`` — the post's suggested comment sort (``submission.mod.suggested_sort``).

Before acting the target is re-checked: it exists, is not removed, deleted or locked, is in
the proposal's subreddit, and the bot still moderates it with the ``posts`` permission. An
undecided proposal expires (``actions.expire_hours``). Under dry-run the action is logged with
its approver but not performed. Every execution goes to the action log. A POST whose answer
was lost is not repeated before the bot has read back whether Reddit performed it
(:meth:`bot.backoff.Backoff.call_once`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import prawcore

from bot.approvals import ApprovalStore, Proposal
from bot.backoff import Backoff, is_transient
from bot.errors import RetriesExhausted
from bot.markdown import quote
from bot.permissions import check_permissions

__all__ = ["HIGHLIGHTS_MARK", "ActionExecutor", "highlights_text"]

logger = logging.getLogger(__name__)

HIGHLIGHTS_MARK = "[](#prosocial:highlights)"
_SITE = "https://www.reddit.com"


def highlights_text(post_permalink: str, tlcs: list[tuple[str, str]]) -> str:
    """The comment's text: links to the TLCs (``(fullname, excerpt)``), quoted safely."""
    base = post_permalink.rstrip("/")
    lines = ["**Conversation highlights** (chosen by the moderators)", ""]
    for name, excerpt in tlcs:
        lines.append(f"- [{quote(excerpt, 100) or name}]({_SITE}{base}/_/{name[3:]}/)")
    lines += ["", HIGHLIGHTS_MARK]
    return "\n".join(lines)


@dataclass(eq=False)
class ActionExecutor:
    reddit: Any
    store: ApprovalStore
    _: KW_ONLY
    bot_username: str
    clock: Callable[[], float] = time.time
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        self.store.ensure_highlights_table()

    # -- checks -------------------------------------------------------------------------
    def recheck(self, p: Proposal) -> str | None:
        """Why ``p`` must not be performed now (None: go ahead)."""
        sub = self.reddit.submission(p.target.removeprefix("t3_"))
        try:
            self.backoff.call(lambda: sub.title, f"re-check {p.target}")
        except prawcore.NotFound:
            return "the post no longer exists"
        data = vars(sub)
        name = getattr(data.get("subreddit"), "display_name", str(data.get("subreddit")))
        if name.lower() != p.subreddit.lower():
            return f"the post is in r/{name}, not r/{p.subreddit}"
        if data.get("removed_by_category") or data.get("selftext") in ("[removed]", "[deleted]"):
            return "the post was removed or deleted"
        if data.get("locked") and p.action == "highlights":
            return "the post is locked"
        perms = check_permissions(
            self.reddit, [p.subreddit], ("posts",), self.bot_username, self.backoff
        )[0]
        if not perms.ok:
            return perms.explain()
        return None

    # -- actions ------------------------------------------------------------------------
    def _find_own(self, post: Any) -> Any | None:
        """The bot's highlights comment on ``post`` (after a crash between post and record)."""
        post = self.reddit.submission(post.id)  # a fresh one: comments sorted by new
        post.comment_sort = "new"
        for c in self.backoff.call(lambda: list(post.comments), f"comments {post.id}"):
            author = getattr(getattr(c, "author", None), "name", None)
            if author == self.bot_username and HIGHLIGHTS_MARK in (c.body or ""):
                return c
        return None

    def _highlights(self, p: Proposal) -> None:
        post = self.reddit.submission(p.target.removeprefix("t3_"))
        names = [t for t in str(p.params.get("tlcs", "")).split(",") if t]
        infos = {
            t.fullname: t
            for t in self.backoff.call(lambda: list(self.reddit.info(fullnames=names)), "info")
        }
        alive = [
            (n, infos[n].body)
            for n in names
            if n in infos and infos[n].body not in ("[removed]", "[deleted]")
        ]
        if not alive:
            raise ValueError("none of the highlighted comments is still there")
        text = highlights_text(post.permalink, alive)
        known = self.store.highlights_comment(p.target)
        comment = self.reddit.comment(known) if known else self._find_own(post)
        if comment is None:
            self.store.set_highlights(p.target, "posting")
            try:
                comment = post.reply(body=text)  # not blindly retried: it may have been posted
            except Exception as exc:
                if not is_transient(exc):
                    raise
                comment = self._find_own(post)
                if comment is None:
                    raise RetriesExhausted(f"reply to {p.target}: {type(exc).__name__}") from exc
        else:
            cid = comment.id
            self.backoff.call_once(
                lambda: comment.edit(body=text),
                lambda: self._fresh_comment(cid).body == text,
                f"edit {cid}",
            )
        self.store.set_highlights(p.target, comment.id)
        cid = comment.id

        def stickied() -> bool:
            c = self._fresh_comment(cid)
            return bool(c.distinguished and getattr(c, "stickied", False))

        self.backoff.call_once(
            lambda: comment.mod.distinguish(how="yes", sticky=True), stickied, f"sticky {cid}"
        )

    def _fresh_comment(self, cid: str) -> Any:
        """A comment as Reddit has it now (a new lazy object: its attributes are fetched)."""
        return self.reddit.comment(cid)

    def _remove_highlights(self, p: Proposal) -> None:
        known = self.store.highlights_comment(p.target)
        post = self.reddit.submission(p.target.removeprefix("t3_"))
        comment = self.reddit.comment(known) if known else self._find_own(post)
        if comment is not None:
            self.backoff.call(lambda: comment.delete(), f"delete {comment.id}")
        self.store.set_highlights(p.target, None)

    def _perform(self, p: Proposal) -> None:
        if p.action == "highlights":
            self._highlights(p)
        elif p.action == "remove_highlights":
            self._remove_highlights(p)
        elif p.action == "suggested_sort":
            submission = self.reddit.submission(p.target.removeprefix("t3_"))
            sort = p.params.get("sort", "confidence")
            pid = submission.id

            def performed() -> bool:  # a new lazy object: its attributes are fetched
                return getattr(self.reddit.submission(pid), "suggested_sort", None) == sort

            self.backoff.call_once(
                lambda: submission.mod.suggested_sort(sort=sort),
                performed,
                f"suggested sort {p.target}",
            )
        else:  # pragma: no cover - the store refuses unknown actions
            raise ValueError(p.action)

    def execute(self, p: Proposal, dry_run: bool, *, claimed: bool = False) -> str | None:
        """Claim and execute (or, under dry-run, log) one approved proposal. ``None`` when it
        is not approved (any more: someone else took it), or when Reddit could not be reached:
        then it goes back to approved and is tried again on the next run. ``claimed``: the
        caller claimed it already (:meth:`bot.approvals.ApprovalStore.record_decision`)."""
        if not claimed and not self.store.claim(p.id):
            return None
        if dry_run:
            outcome = "ok"
            logger.info(
                "[dry-run] would %s %s (approved by u/%s)", p.action, p.target, p.decided_by
            )
        else:
            try:
                why = self.recheck(p)
                if why is not None:
                    outcome = f"refused: {why}"
                    logger.warning("%s %s not performed: %s", p.action, p.target, why)
                else:
                    self._perform(p)
                    outcome = "ok"
                    logger.info("%s %s done (approved by u/%s)", p.action, p.target, p.decided_by)
            except RetriesExhausted as exc:
                logger.warning("%s %s postponed: %s", p.action, p.target, exc)
                self.store.unclaim(p.id)
                return None
            except (prawcore.PrawcoreException, ValueError) as exc:
                outcome = f"error: {type(exc).__name__}: {exc}"[:200]
                logger.warning("%s %s failed: %s", p.action, p.target, exc)
        self.store.record_execution(p, self.clock(), dry_run, outcome)
        return outcome

    def run_approved(
        self, subreddit: str, dry_run: bool, expire_hours: float = 24.0
    ) -> list[tuple[Proposal, str]]:
        """Expire stale proposals, then execute (or, under dry-run, log) every approved one."""
        now = self.clock()
        expired = self.store.expire(subreddit, now - expire_hours * 3600, now)
        if expired:
            logger.info("r/%s: %d proposals expired", subreddit, expired)
        done: list[tuple[Proposal, str]] = []
        for p in self.store.with_status(subreddit, "approved"):
            outcome = self.execute(p, dry_run)
            if outcome is not None:
                done.append((p, outcome))
        return done
