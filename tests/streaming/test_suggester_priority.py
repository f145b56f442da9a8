"""The suggester suggests posts with a newly scored TLC before posts dirty only from
checkpoint re-forecasts, and re-ranks a bounded number of those per tick."""

from __future__ import annotations

from pathlib import Path

from redditdata.events import TOPIC_SCORES
from streaming.bus.base import Message
from streaming.bus.embedded import EmbeddedBus
from streaming.clock import EventClock
from streaming.ops import StageMetrics
from streaming.stages.base import DeadLetters
from streaming.stages.suggester import SuggesterStage
from streaming.storage import open_database
from tests.streaming.support import message

T0 = 1_600_000_000


def _score(post: str, tlc: str, checkpoint: int = 0) -> Message:
    value = {
        "tlc": tlc,
        "post": post,
        "created_utc": T0,
        "checkpoint": checkpoint,
        "forecast": {"value": 0.1},
    }
    return message(TOPIC_SCORES, tlc, value)


def test_fresh_posts_first_and_reranks_bounded_per_tick(tmp_path: Path) -> None:
    _, sessions = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    metrics = StageMetrics()
    sugg = SuggesterStage(
        sessions,
        EventClock(),
        metrics,
        DeadLetters(EmbeddedBus(), sessions, metrics),
        quiet_period_s=0,
        max_reranks_per_tick=4,
    )
    made: list[str] = []
    sugg.suggest = made.append  # type: ignore[assignment,method-assign]
    # a burst of re-forecasts for ten posts, then a newly scored TLC
    sugg.handle([_score(f"t3_{i}", f"t1_{i}", checkpoint=900) for i in range(10)])
    sugg.handle([_score("t3_new", "t1_new")])
    sugg.tick()
    assert made == ["t3_new", "t3_0", "t3_1", "t3_2", "t3_3"]
    # a post with a re-forecast and a new TLC counts as fresh
    sugg.handle([_score("t3_9", "t1_9b")])
    sugg.tick()
    assert made[5:] == ["t3_9", "t3_4", "t3_5", "t3_6", "t3_7"]
    sugg.tick()
    assert made[10:] == ["t3_8"]
    assert sugg.dirty == {} and sugg.fresh == set()
