"""Alerts for empathy seekers left unanswered: one modmail per seeker, exactly once.

A scored TLC labelled *seeking* that has waited ``empathy_unanswered_hours`` is answered only by
a **supportive reply from another person**: not its author, not the bot, not AutoModerator or
another configured bot account, and judged supportive by the models (the empathy model says
*providing*, or the aux supportiveness score reaches ``supportive_min``). The replies are read
from Reddit at alert time (one request, and only when the reader has seen any reply at all).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import prawcore
from sqlalchemy import func, select

from bot.backoff import Backoff
from bot.config import SubredditConfig
from bot.delivery import ModeratorDelivery
from bot.errors import RetriesExhausted
from bot.markdown import quote
from streaming.storage import ScoreRow, SessionFactory, TlcRow

__all__ = ["Judge", "SeekerAlerts", "model_judge"]

logger = logging.getLogger(__name__)

#: ``judge(texts, supportive_min) -> [supportive?]``
Judge = Callable[[Sequence[str], float], list[bool]]


def model_judge(models: Any, lock: Any = None) -> Judge:
    """A judge over the service's loaded models (empathy and, when loaded, aux); ``lock``
    (a ``threading.Lock``) is held while they run."""
    aux = getattr(getattr(models, "outcomes", None), "aux", None)

    def judge(texts: Sequence[str], supportive_min: float) -> list[bool]:
        if not texts:
            return []
        if lock is not None:  # when the caller's models must not run in two threads at once
            with lock:
                return _judge(texts, supportive_min)
        return _judge(texts, supportive_min)

    def _judge(texts: Sequence[str], supportive_min: float) -> list[bool]:
        out = [False] * len(texts)
        if models.empathy is not None:
            for i, e in enumerate(models.empathy.predict_comments(list(texts))):
                out[i] = getattr(e, "label", None) == "providing"
        if aux is not None:
            sup = aux.score(list(texts))["supportiveness"]
            out = [o or float(s) >= supportive_min for o, s in zip(out, sup)]
        return out

    return judge


@dataclass(eq=False)
class SeekerAlerts:
    reddit: Any
    delivery: ModeratorDelivery
    sessions: SessionFactory
    judge: Judge
    _: KW_ONLY
    bots: Iterable[str]
    has_reply: Callable[[str], bool]
    backoff: Backoff = field(default_factory=Backoff)
    #: seekers whose replies are read per run and subreddit
    max_checks: int = 10
    answered: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.bots = {b.lower() for b in self.bots} | {"automoderator"}

    def seekers(self, subreddit: str, config: SubredditConfig, now: float) -> list[TlcRow]:
        wait = config.thresholds.empathy_unanswered_hours * 3600
        since = now - config.horizon_hours * 3600
        with self.sessions() as s:
            return list(
                s.execute(
                    select(TlcRow)
                    .join(ScoreRow, ScoreRow.tlc_name == TlcRow.name)
                    .where(
                        func.lower(TlcRow.subreddit) == subreddit.lower(),
                        ScoreRow.empathy_label == "seeking",
                        TlcRow.created_utc <= now - wait,
                        TlcRow.created_utc >= since,
                    )
                    .order_by(TlcRow.created_utc)
                ).scalars()
            )

    def supported(self, tlc: TlcRow, config: SubredditConfig) -> bool:
        """Whether another person replied supportively (reads the replies from Reddit)."""
        if not self.has_reply(tlc.name):
            return False
        comment = self.reddit.comment(tlc.name.removeprefix("t1_"))
        self.backoff.call(comment.refresh, f"replies of {tlc.name}")
        seeker = (tlc.author or "").lower()
        texts = []
        for r in comment.replies.list():
            author = (getattr(getattr(r, "author", None), "name", None) or "").lower()
            body = getattr(r, "body", "") or ""
            if not author or author == seeker or author in self.bots:
                continue
            if body in ("[deleted]", "[removed]"):
                continue
            texts.append(body)
        return any(self.judge(texts, config.thresholds.supportive_min))

    def run(
        self,
        subreddit: str,
        config: SubredditConfig,
        now: float,
        stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Alert every seeker due now (until ``stop()``); returns how many alerts were sent."""
        if not (config.enabled and config.channels.alerts):
            return 0
        sent = checked = 0
        for t in self.seekers(subreddit, config, now):
            if stop() or checked >= self.max_checks:
                break
            key = f"alert:{t.name}"
            done = self.delivery.store.delivery(key)
            if t.name in self.answered or (done is not None and done[0] == "sent"):
                continue
            try:
                checked += 1
                if done is None and self.supported(t, config):
                    self.answered.add(t.name)
                    continue
            except prawcore.NotFound:
                continue
            except RetriesExhausted as exc:
                logger.warning("alerts of r/%s postponed: %s", subreddit, exc)
                return sent
            hours = (now - t.created_utc) / 3600
            link = f"https://www.reddit.com/comments/{t.post_name[3:]}/_/{t.name[3:]}/"
            body = (
                f"A top-level comment seeking empathy has had no supportive reply from "
                f"another person for {hours:.1f} hours:\n\n"
                f"- [{t.name}]({link}): {quote(t.body, 200)}\n\n"
                "A moderator may want to answer it."
            )
            if self.delivery.send_once(
                key, subreddit, f"prosocial: a seeker waits in r/{subreddit}", body
            ):
                sent += 1
        return sent
