"""A batch re-delivered after a crash (database committed, producer not flushed) republishes
every score the batch produced, including TLCs scored when their post arrived after them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redditdata.events import TOPIC_COMMENTS, TOPIC_SCORES, TOPIC_SUBMISSIONS
from streaming.bus.embedded import EmbeddedBus
from tests.streaming.support import message, scorer_stage, submission
from tests.streaming.tiny import TinyForecaster


def _tlc(i: int, t: int) -> dict[str, Any]:
    return {
        "id": f"c{i}",
        "name": f"t1_c{i}",
        "parent_id": "t3_p",
        "link_id": "t3_p",
        "subreddit": "College",
        "author": "ann",
        "body": "hello there",
        "score": 1,
        "created_utc": t,
    }


def _published(bus: EmbeddedBus) -> list[str]:
    return [m.key or "" for m in bus.poll("check", [TOPIC_SCORES], 1000, 0.1)]


def test_a_redelivered_post_republishes_the_scores_its_first_delivery_made(
    tmp_path: Path,
) -> None:
    t0 = 1_600_000_000
    first = EmbeddedBus()
    stage = scorer_stage(
        f"sqlite:///{tmp_path / 'db.sqlite'}", first, TinyForecaster(), horizon_s=48 * 3600
    )
    # the TLCs arrive before their post (another partition): stored, not yet scored
    stage.handle([message(TOPIC_COMMENTS, "t3_p", _tlc(i, t0 + 60 + i)) for i in range(3)])
    assert _published(first) == []
    post = message(TOPIC_SUBMISSIONS, "t3_p", submission(t0))
    stage.handle([post])
    assert sorted(_published(first)) == ["t1_c0", "t1_c1", "t1_c2"]
    # killed after the commit, before the flush: those records never reached the broker; the
    # restarted scorer is handed the same batch again (its offsets were not committed)
    restarted = EmbeddedBus()
    stage.bus = restarted
    stage.handle([post])
    assert sorted(_published(restarted)) == ["t1_c0", "t1_c1", "t1_c2"]


class _CountingForecaster(TinyForecaster):
    """Records how many TLCs each forecaster call got."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def predict_many(self, groups: Any, empathy: Any = None, **kw: Any) -> Any:
        self.calls.append(sum(len(g[1]) for g in groups))
        return super().predict_many(groups, empathy, **kw)


def test_a_post_arriving_after_many_tlcs_is_scored_in_bounded_chunks(tmp_path: Path) -> None:
    t0 = 1_600_000_000
    bus = EmbeddedBus()
    forecaster = _CountingForecaster()
    stage = scorer_stage(
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        bus,
        forecaster,
        horizon_s=48 * 3600,
        max_score_batch=2,
    )
    stage.handle([message(TOPIC_COMMENTS, "t3_p", _tlc(i, t0 + 60 + i)) for i in range(5)])
    assert forecaster.calls == []  # no post yet: stored, pending
    stage.handle([message(TOPIC_SUBMISSIONS, "t3_p", submission(t0))])
    assert forecaster.calls == [2, 2, 1]
    published = _published(bus)
    assert sorted(published) == [f"t1_c{i}" for i in range(5)]  # each once
    # a re-delivery of the post scores nothing again and republishes every stored score
    stage.handle([message(TOPIC_SUBMISSIONS, "t3_p", submission(t0))])
    assert forecaster.calls == [2, 2, 1]
    assert sorted(_published(bus)) == [f"t1_c{i}" for i in range(5)]
