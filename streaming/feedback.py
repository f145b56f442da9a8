"""Moderators' answers to proposals, kept as labels (:class:`ModeratorFeedbackRow`).

Every terminal answer to a proposal made from a suggestion — ``approved``, ``rejected``, or
``expired`` unanswered — is stored with the suggestion it answered (the post's newest
suggested order made before the proposal: its revision and forecaster version) and the TLC
it concerned (a sticky's target). ``prosocial export`` writes them beside the outcomes.
Whatever channel decides (modmail today, a dashboard later) goes through the approval store,
whose ``on_decision`` hook is :meth:`FeedbackRecorder.on_decision`.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from streaming.storage import ModeratorFeedbackRow, SessionFactory, SuggestionRow, upsert

__all__ = ["DECISIONS", "FeedbackRecorder"]

logger = logging.getLogger(__name__)

DECISIONS = ("approved", "rejected", "expired")


class FeedbackRecorder:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    def on_decision(self, p: Any, decision: str, moderator: str | None, now: float) -> None:
        """The approval store's hook: ``p`` is a proposal (``subreddit``, ``id``, ``action``,
        ``target``, ``params``, ``created_at``)."""
        self.record(
            subreddit=p.subreddit,
            proposal_id=p.id,
            action=p.action,
            target=p.target,
            params=p.params,
            decision=decision,
            moderator=moderator,
            proposed_utc=p.created_at,
            decided_utc=now,
        )

    def record(
        self,
        *,
        subreddit: str,
        proposal_id: int | str,
        action: str,
        target: str,
        params: dict[str, Any],
        decision: str,
        moderator: str | None,
        proposed_utc: float,
        decided_utc: float,
    ) -> dict[str, Any]:
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, not {decision!r}")
        post = str(params.get("post") or (target if target.startswith("t3_") else ""))
        tlc = target if target.startswith("t1_") else None
        with self.sessions() as s:
            query = (
                select(SuggestionRow)
                .where(SuggestionRow.post_name == post)
                .order_by(SuggestionRow.revision.desc())
            )
            made = list(s.scalars(query))
            before = [r for r in made if r.made_ms <= proposed_utc * 1000]
            sug: SuggestionRow | None = (before or made)[0] if made else None
            row = {
                "id": f"{subreddit.lower()}:{proposal_id}",
                "subreddit": subreddit,
                "post_name": post,
                "tlc_name": tlc,
                "action": action,
                "decision": decision,
                "moderator": moderator,
                "proposed_utc": int(proposed_utc),
                "decided_utc": int(decided_utc),
                "suggestion_revision": None if sug is None else sug.revision,
                "forecaster_version": None if sug is None else sug.forecaster_version,
                "params": dict(params),
            }
            upsert(s, ModeratorFeedbackRow, [row], update=["decision", "moderator", "decided_utc"])
            s.commit()
        logger.info("feedback: r/%s proposal %s %s %s", subreddit, proposal_id, action, decision)
        return row
