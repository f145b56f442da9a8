"""One decision on a proposal, whatever the channel (modmail reply, dashboard button).

A moderator approves or rejects a proposal by its number. :class:`Decider` checks, in this
order, that the proposal exists in the subreddit, that the moderator may approve there (the
same :class:`ApproverCheck` for every channel), and records the decision atomically in the
approval store: the first decision wins, a second one in any channel is told who decided, how
and when. An approval made here can be executed at once through the injected ``execute``
callback (:meth:`bot.actions.ActionExecutor.execute` with ``claimed=True``): the decision
claims the proposal in the same transaction, so it runs here, once, even if another process
sweeps the approved proposals at the same time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import Any, Literal, Protocol

import prawcore

from bot.errors import RetriesExhausted

__all__ = ["CHANNELS", "ApproverCheck", "Decider", "Decision", "DecisionStore", "Verdict"]

logger = logging.getLogger(__name__)

Verdict = Literal["approve", "reject"]
CHANNELS = ("modmail", "dashboard")
_STATUS = {"approve": "approved", "reject": "rejected"}


class DecisionStore(Protocol):
    """What :class:`Decider` needs of :class:`bot.approvals.ApprovalStore`."""

    def get(self, pid: int) -> Any: ...

    def record_decision(
        self, pid: int, status: str, by: str, channel: str, now: float, *, claim: bool = False
    ) -> bool: ...

    def decision(self, pid: int) -> dict[str, Any] | None: ...

    def unclaim(self, pid: int) -> None: ...


@dataclass(frozen=True)
class Decision:
    proposal_id: int
    decided: bool  # this call made the decision
    status: str  # the proposal's status after the call
    message: str  # one line for a modmail reply or a flash message
    outcome: str | None = None  # the execution outcome when executed by this call


class ApproverCheck:
    """May ``user`` decide on proposals in ``subreddit``?

    The subreddit's wiki config names its approvers; when it names none, any moderator with the
    ``posts`` permission (or ``all``) may approve, as Reddit's moderator list says through the
    bot's own client.
    """

    def __init__(self, reddit: Any, loader: Any, *, backoff: Any = None) -> None:
        self.reddit = reddit
        self.loader = loader
        self.backoff = backoff

    def __call__(self, subreddit: str, user: str) -> bool:
        from bot.permissions import check_permissions

        cfg = self.loader.load(subreddit).config
        if cfg.approvers:
            return user.lower() in {a.lower() for a in cfg.approvers}
        try:
            reports = check_permissions(
                self.reddit, [subreddit], needed=("posts",), username=user, backoff=self.backoff
            )
        except (prawcore.PrawcoreException, RetriesExhausted) as exc:
            logger.warning("cannot check u/%s in r/%s: %s", user, subreddit, exc)
            return False
        return reports[0].ok


@dataclass(eq=False)
class Decider:
    """``decide(subreddit, pid, moderator, verdict, channel)`` — first decision wins."""

    store: DecisionStore
    may_approve: Callable[[str, str], bool]
    clock: Callable[[], float]
    _: KW_ONLY
    execute: Callable[[Any], str | None] | None = None

    def decide(
        self, subreddit: str, pid: int, moderator: str, verdict: Verdict, channel: str
    ) -> Decision:
        if verdict not in _STATUS:
            raise ValueError(f"unknown verdict {verdict!r}")
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        p = self.store.get(pid)
        if p is None or p.subreddit != subreddit.lower():
            return Decision(pid, False, "missing", f"#{pid}: no such proposal in r/{subreddit}")
        if not self.may_approve(subreddit, moderator):
            return Decision(
                pid, False, p.status, f"#{pid}: u/{moderator} may not approve actions here"
            )
        status = _STATUS[verdict]
        claim = status == "approved" and self.execute is not None
        if not self.store.record_decision(
            pid, status, moderator, channel, self.clock(), claim=claim
        ):
            return Decision(pid, False, *self._already(pid))
        logger.info("#%d %s by u/%s via %s", pid, status, moderator, channel)
        message = f"#{pid} {p.action} {p.target}: {status} by u/{moderator}"
        outcome = None
        if claim and self.execute is not None:
            try:
                outcome = self.execute(self.store.get(pid))  # claimed above: runs here, once
            except BaseException:
                self.store.unclaim(pid)  # back to approved: the next sweep tries it
                raise
            if outcome is not None:
                message += f"; executed ({outcome})"
        now = self.store.get(pid)
        return Decision(pid, True, now.status if now else status, message, outcome)

    def _already(self, pid: int) -> tuple[str, str]:
        p = self.store.get(pid)
        d = self.store.decision(pid)
        status = p.status if p else "missing"
        if d is None:
            return status, f"#{pid}: already {status}"
        return status, (
            f"#{pid}: already {status} (decided: {d['status']} by u/{d['moderator']} "
            f"via {d['channel']})"
        )
