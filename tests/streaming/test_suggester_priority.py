"""The suggester suggests posts with a newly scored TLC before posts dirty only from
checkpoint re-forecasts, and re-ranks a bounded number of those per tick."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from redditdata.events import TOPIC_SCORES
from streaming.bus.base import Message
from streaming.bus.embedded import EmbeddedBus
from streaming.clock import EventClock
from streaming.ops import StageMetrics
from streaming.stages.base import DeadLetters
from streaming.stages.suggester import SuggesterStage
from streaming.storage import SuggestionRow, open_database
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
    sugg, _ = _suggester(f"sqlite:///{tmp_path / 'db.sqlite'}", max_reranks_per_tick=4)
    made: list[str] = []

    def suggest_many(posts: list[str]) -> dict[str, dict[str, object]]:
        made.extend(posts)
        return {}

    sugg.suggest_many = suggest_many  # type: ignore[assignment,method-assign]
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


def _store_scores(sessions: Any, posts: list[str], per_post: int = 2) -> None:
    from streaming.storage import ScoreRow, TlcRow, upsert

    tlcs, scores = [], []
    for p in posts:
        for i in range(per_post):
            name = f"t1_{p[3:]}x{i}"
            tlcs.append(
                {
                    "name": name,
                    "post_name": p,
                    "subreddit": "college",
                    "created_utc": T0 + i,
                    "body": "hi",
                }
            )
            scores.append(
                {
                    "tlc_name": name,
                    "post_name": p,
                    "subreddit": "college",
                    "created_utc": T0 + i,
                    "due_utc": T0 + i + 3600,
                    "forecast": 0.1 * i,
                    "forecaster_version": "f-1",
                    "config_hash": "c",
                    "ingest_ms": 1_000 + i,
                    "scored_ms": 2_000 + i,
                }
            )
    with sessions() as s:
        upsert(s, TlcRow, tlcs)
        upsert(s, ScoreRow, scores)
        s.commit()


def _store_reforecasts(sessions: Any, posts: list[str]) -> None:
    from streaming.storage import CheckpointScoreRow, upsert

    rows = [
        {
            "tlc_name": f"t1_{p[3:]}x1",
            "checkpoint_s": 900,
            "forecaster_version": "f-1",
            "post_name": p,
            "subreddit": "college",
            "created_utc": T0 + 1,
            "forecast": 0.5,
            "config_hash": "c",
            "scored_ms": 3_000,
        }
        for p in posts
    ]
    with sessions() as s:
        upsert(s, CheckpointScoreRow, rows)
        s.commit()


def _suggester(db_url: str, **options: Any) -> tuple[SuggesterStage, Any]:
    _, sessions = open_database(db_url)
    metrics = StageMetrics()
    sugg = SuggesterStage(
        sessions,
        EventClock(),
        metrics,
        DeadLetters(EmbeddedBus(), sessions, metrics),
        quiet_period_s=0,
        **options,
    )
    return sugg, sessions


def _statements(sessions: Any) -> list[str]:
    from sqlalchemy import event

    seen: list[str] = []
    event.listen(sessions.kw["bind"], "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen  # (the engine is the test's own: the listener goes with it)


def test_a_tick_revises_its_posts_in_one_transaction(db_url: str) -> None:
    """Five new dirty posts cost the four statements one costs (their scores, their
    re-forecasts, their stored revisions, the new revisions), and each gets its own revision;
    a second tick (what their last revisions ranked is remembered) costs three."""
    counts = []
    sugg, sessions = _suggester(db_url)
    for n in (1, 5):
        posts = [f"t3_{n}p{i}" for i in range(n)]
        _store_scores(sessions, posts)
        sugg.handle([_score(p, f"t1_{p[3:]}x1") for p in posts])
        seen = _statements(sessions)
        sugg.tick()
        counts.append(len(seen))
        assert sugg.dirty == {}
        with sessions() as s:
            revs = dict(
                s.execute(
                    select(SuggestionRow.post_name, SuggestionRow.revision).where(
                        SuggestionRow.post_name.in_(posts)
                    )
                ).all()
            )
        assert revs == {p: 2 for p in posts}
        sugg.handle([_score(p, f"t1_{p[3:]}x1", checkpoint=900) for p in posts])
        _store_reforecasts(sessions, posts)
        del seen[:]
        sugg.tick()
        counts.append(len(seen))
        with sessions() as s:
            revs = dict(
                s.execute(
                    select(SuggestionRow.post_name, func.max(SuggestionRow.revision))
                    .where(SuggestionRow.post_name.in_(posts))
                    .group_by(SuggestionRow.post_name)
                ).all()
            )
        assert revs == {p: 3 for p in posts}
    assert counts == [4, 3, 4, 3]


def test_a_post_that_fails_does_not_hold_back_the_others(tmp_path: Path) -> None:
    """A post whose revision fails (not transiently) goes to the error policy alone; the
    other posts of the tick are revised."""
    sugg, sessions = _suggester(f"sqlite:///{tmp_path / 'db.sqlite'}")
    posts = ["t3_a", "t3_bad", "t3_c"]
    _store_scores(sessions, posts)
    failed: list[str] = []
    sugg.on_job_error = lambda stage, msg, exc: failed.append(str(exc))
    revision = sugg._revision

    def broken(post: str, *args: Any) -> dict[str, Any]:
        if post == "t3_bad":
            raise ValueError("cannot rank t3_bad")
        return revision(post, *args)

    sugg._revision = broken  # type: ignore[assignment,method-assign]
    sugg.handle([_score(p, f"t1_{p[3:]}x1") for p in posts])
    sugg.tick()
    assert failed == ["cannot rank t3_bad"]
    with sessions() as s:
        assert set(s.scalars(select(SuggestionRow.post_name))) == {"t3_a", "t3_c"}
    assert sugg.dirty == {}
