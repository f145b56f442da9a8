"""The stream service's stages inside a simulated run (scorer, suggester, back-fill)."""

from __future__ import annotations

from typing import Any

from bot.backoff import Backoff
from bot.ratelimit import RateBudget
from streaming.bus.base import Bus

__all__ = ["service_figures", "settle", "stream_service"]


class _SimClock:
    def __init__(self, world: Any) -> None:
        self.world = world

    def now(self) -> float:
        return float(self.world.now)

    def observe(self, event_utc: float) -> None:
        return None


def stream_service(
    models: Any,
    bus: Bus,
    reddit: Any,
    budget: RateBudget,
    backoff: Backoff,
    world: Any,
    horizon_s: int,
    database_url: str,
    has_reply: Any,
    observer: Any = None,
) -> tuple[Any, Any]:
    from bot.source import ApiThreadFetcher
    from bot.stored_suggestions import StoredSuggestionSource
    from bot.threads import RedditThreadFetcher
    from streaming.pipeline import build_pipeline
    from streaming.settings import load_settings
    from streaming.storage import open_database

    settings = load_settings(
        database_url=database_url,
        horizon_s=horizon_s,
        quiet_period_s=600,
        stages=("scorer", "suggester", "backfill"),
    )
    _, sessions = open_database(database_url)
    fetcher = ApiThreadFetcher(
        RedditThreadFetcher(
            reddit, request_budget=60, budget=budget, backoff=backoff, clock=world.clock
        ),
        observer,
    )
    pipe = build_pipeline(
        settings, bus=bus, sessions=sessions, clock=_SimClock(world), models=models, fetcher=fetcher
    )
    for st in pipe.stages.values():
        st.recover()
    return pipe, StoredSuggestionSource(sessions, has_supportive_reply=has_reply)


def settle(pipe: Any, max_rounds: int = 1000) -> None:
    from streaming.pipeline import ORDER

    for _ in range(max_rounds):
        moved = sum(pipe.runners[n].step(timeout_s=0) for n in ORDER if n in pipe.runners)
        if not moved:
            return


def service_figures(pipe: Any) -> dict[str, Any]:
    from sqlalchemy import func, select

    from streaming.storage import OutcomeRow, ScoreRow, SuggestionRow

    with pipe.sessions() as s:
        return {
            "scored_tlcs": s.scalar(select(func.count()).select_from(ScoreRow)),
            "posts_with_suggestions": s.scalar(
                select(func.count(func.distinct(SuggestionRow.post_name)))
            ),
            "outcomes_backfilled": s.scalar(select(func.count()).select_from(OutcomeRow)),
            "skipped": dict(pipe.skipped),
        }
