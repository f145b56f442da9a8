"""Performing approved actions on Reddit, and only those.

``sticky_comment`` distinguishes the comment as a moderator and stickies it
(``POST /api/distinguish`` with ``sticky=True``); ``suggested_sort`` sets a post's suggested
comment sort (``POST /api/set_suggested_sort``). Under dry-run (the default) the action is
logged with its approver but not performed. Every execution goes to the action log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import prawcore

from bot.approvals import ApprovalStore, Proposal
from bot.backoff import Backoff
from bot.errors import RetriesExhausted

__all__ = ["ActionExecutor"]

logger = logging.getLogger(__name__)


class ActionExecutor:
    def __init__(
        self,
        reddit: Any,
        store: ApprovalStore,
        *,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
    ) -> None:
        self.reddit = reddit
        self.store = store
        self.clock = clock
        self.backoff = backoff or Backoff()

    def _perform(self, p: Proposal) -> None:
        if p.action == "sticky_comment":
            comment = self.reddit.comment(p.target.removeprefix("t1_"))
            self.backoff.call(
                lambda: comment.mod.distinguish(how="yes", sticky=True), f"sticky {p.target}"
            )
        elif p.action == "suggested_sort":
            submission = self.reddit.submission(p.target.removeprefix("t3_"))
            sort = p.params.get("sort", "confidence")
            self.backoff.call(
                lambda: submission.mod.suggested_sort(sort=sort), f"suggested sort {p.target}"
            )
        else:  # pragma: no cover - the store refuses unknown actions
            raise ValueError(p.action)

    def execute(self, p: Proposal, dry_run: bool) -> str | None:
        """Claim and execute (or, under dry-run, log) one approved proposal; ``None`` when it
        is not approved (any more): someone else took it, or it was never approved."""
        if not self.store.claim(p.id):
            return None
        if dry_run:
            outcome = "ok"
            logger.info(
                "[dry-run] would %s %s (approved by u/%s)", p.action, p.target, p.decided_by
            )
        else:
            try:
                self._perform(p)
                outcome = "ok"
                logger.info("%s %s done (approved by u/%s)", p.action, p.target, p.decided_by)
            except (prawcore.PrawcoreException, RetriesExhausted) as exc:
                outcome = f"error: {type(exc).__name__}"
                logger.warning("%s %s failed: %s", p.action, p.target, exc)
        self.store.record_execution(p, self.clock(), dry_run, outcome)
        return outcome

    def run_approved(self, subreddit: str, dry_run: bool) -> list[tuple[Proposal, str]]:
        """Execute (or, under dry-run, log) every approved proposal of ``subreddit``."""
        done: list[tuple[Proposal, str]] = []
        for p in self.store.with_status(subreddit, "approved"):
            outcome = self.execute(p, dry_run)
            if outcome is not None:
                done.append((p, outcome))
        return done
