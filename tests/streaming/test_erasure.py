"""Erasure and retention on real stored rows (SQLite and PostgreSQL): text and author gone
from every registered table and from dead letters; numbers stay; retention purges on time."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from redditdata.events import Comment, Submission
from streaming.erasure import MARKERS, Erasable, Eraser, erasables, register
from streaming.replay import ReplayIndex
from streaming.retention import RetentionPurge
from streaming.storage import DeadLetterRow, PostRow, ScoreRow, TlcRow, open_database, upsert
from streaming.storage.privacy_tables import ErasureRow

HORIZON = 3600


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _real_thread(index: ReplayIndex) -> tuple[Submission, list[Comment]]:
    posts: dict[str, Submission] = {}
    tlcs: dict[str, list[Comment]] = {}
    for ev in index.events():
        if isinstance(ev, Submission):
            posts[ev.name] = ev
        elif ev.is_tlc and ev.author not in (None, "[deleted]") and len(ev.body) > 40:
            tlcs.setdefault(ev.link_id, []).append(ev)
    name = next(n for n, lst in tlcs.items() if len(lst) >= 3 and n in posts)
    return posts[name], tlcs[name][:3]


def _store(sessions: Any, post: Submission, tlcs: list[Comment]) -> None:
    with sessions() as s:
        upsert(
            s,
            PostRow,
            [
                {
                    "name": post.name,
                    "subreddit": post.subreddit,
                    "title": post.title,
                    "selftext": post.selftext,
                    "author": post.author,
                    "score": post.score,
                    "created_utc": post.created_utc,
                    "retrieved_on": None,
                }
            ],
        )
        upsert(
            s,
            TlcRow,
            [
                {
                    "name": t.name,
                    "post_name": t.link_id,
                    "subreddit": t.subreddit,
                    "author": t.author,
                    "body": t.body,
                    "score": t.score,
                    "created_utc": t.created_utc,
                    "stored_ms": 0,
                    "status": "scored",
                }
                for t in tlcs
            ],
        )
        upsert(
            s,
            ScoreRow,
            [
                {
                    "tlc_name": t.name,
                    "post_name": t.link_id,
                    "subreddit": t.subreddit,
                    "created_utc": t.created_utc,
                    "due_utc": t.created_utc + HORIZON,
                    "forecast": 0.25,
                    "reasons": [["length", 0.1]],
                    "empathy": {
                        "text": t.body,
                        "label": "none",
                        "probs": {"none": 1.0},
                        "sentences": [{"text": t.body[:40], "label": "none"}],
                    },
                    "config_hash": "x",
                    "scored_ms": 0,
                }
                for t in tlcs
            ],
        )
        upsert(
            s,
            DeadLetterRow,
            [
                {
                    "id": f"scorer:reddit.comments:0:{i}",
                    "stage": "scorer",
                    "topic": "reddit.comments",
                    "partition": 0,
                    "offset": i,
                    "key": t.link_id,
                    "reason": f"bad_comment: input_value={t.body[:30]!r}",
                    "raw": json.dumps(t.model_dump()),
                    "at_ms": 1000 * t.created_utc,
                }
                for i, t in enumerate(tlcs)
            ],
        )
        s.commit()


def _texts(sessions: Any) -> str:
    """Everything the database holds as one string (every registered table, dead letters)."""
    parts: list[str] = []
    with sessions() as s:
        for table in (PostRow, TlcRow, ScoreRow, DeadLetterRow):
            for row in s.scalars(select(table)):
                parts.append(
                    json.dumps({c.name: getattr(row, c.name) for c in table.__table__.columns})
                )
    return "\n".join(parts)


@pytest.fixture()
def stored(db_url: str, small_index: ReplayIndex) -> tuple[Any, Submission, list[Comment]]:
    _, sessions = open_database(db_url)
    post, tlcs = _real_thread(small_index)
    _store(sessions, post, tlcs)
    return sessions, post, tlcs


def test_a_deleted_tlc_loses_text_and_author_everywhere_numbers_stay(stored) -> None:
    sessions, _post, tlcs = stored
    eraser = Eraser(sessions, Clock(tlcs[0].created_utc + 600))
    gone, kept = tlcs[0], tlcs[1]
    assert gone.body[:30] in _texts(sessions)
    assert eraser.erase({gone.name: "deleted"}, via="recheck") == 1
    assert eraser.erase({gone.name: "removed"}, via="recheck") == 0  # once
    texts = _texts(sessions)
    assert gone.body[:30] not in texts and gone.body[-30:] not in texts
    assert kept.body[:30] in texts
    with sessions() as s:
        row = s.get(TlcRow, gone.name)
        assert row.body == MARKERS["deleted"] and row.author is None
        assert row.score == gone.score and row.created_utc == gone.created_utc
        score = s.get(ScoreRow, gone.name)
        assert score.forecast == 0.25 and score.empathy["label"] == "none"
        assert "text" not in json.dumps(score.empathy)
        dead = s.get(DeadLetterRow, "scorer:reddit.comments:0:0")
        assert dead.raw == "" and dead.reason == "bad_comment: [erased]"
        rec = s.get(ErasureRow, gone.name)
        assert (rec.kind, rec.reason, rec.via) == ("tlc", "deleted", "recheck")


def test_account_deletion_erases_every_stored_item_of_that_author(stored) -> None:
    sessions, post, tlcs = stored
    author = tlcs[1].author
    with sessions() as s:  # the same author also wrote the post and another TLC
        s.get(PostRow, post.name).author = author
        s.get(TlcRow, tlcs[2].name).author = author
        s.commit()
    eraser = Eraser(sessions, Clock(tlcs[0].created_utc + 600))
    n = eraser.erase_accounts([tlcs[1].name], via="recheck")
    assert n == 3
    with sessions() as s:
        assert s.scalars(select(TlcRow).where(TlcRow.author == author)).first() is None
        assert s.scalars(select(PostRow).where(PostRow.author == author)).first() is None
        assert s.get(PostRow, post.name).title == "[deleted]"
        assert s.get(TlcRow, tlcs[0].name).author == tlcs[0].author  # another user: kept
    texts = _texts(sessions)
    assert f'"author": "{author}"' not in texts
    for t in tlcs[1:]:
        assert t.body[:30] not in texts


def test_retention_purges_text_after_the_window_and_keeps_figures(stored) -> None:
    sessions, post, tlcs = stored
    clock = Clock(0)
    eraser = Eraser(sessions, clock)
    retention = 7 * 86400
    purge = RetentionPurge(
        sessions, eraser, clock, horizon_s=HORIZON, retention_s=retention, wall=clock
    )
    newest = max(t.created_utc for t in tlcs)
    oldest = min([post.created_utc] + [t.created_utc for t in tlcs])
    clock.t = oldest + HORIZON + retention - 1
    assert purge.run().purged == {}
    clock.t = newest + HORIZON + retention
    report = purge.run()
    assert report.purged.get("tlc") == 3 and report.purged.get("post") == 1
    with sessions() as s:  # a bad record that matches no stored item expires by age
        assert all(d.raw == "" for d in s.scalars(select(DeadLetterRow)))
        s.add(
            DeadLetterRow(
                id="x",
                stage="scorer",
                topic="t",
                partition=0,
                offset=9,
                key=None,
                reason="bad_json: " + tlcs[0].body[:20],
                raw=tlcs[0].body,
                at_ms=1000 * newest,
            )
        )
        s.commit()
    assert purge.run().dead_letters == 1
    texts = _texts(sessions)
    for t in tlcs:
        assert t.body[:30] not in texts
    with sessions() as s:
        assert {r.reason for r in s.scalars(select(ErasureRow))} == {"retention"}
        assert all(r.forecast == 0.25 for r in s.scalars(select(ScoreRow)))
    assert purge.run().purged == {}


def test_a_new_table_is_one_registry_line() -> None:
    from streaming.storage import SuggestionRow

    entry = Erasable(SuggestionRow, "post_name", json_columns=("order",))
    before = len(erasables())
    register(entry)
    register(entry)
    try:
        assert len(erasables()) == before + 1
        assert entry not in erasables(primary_only=True)
    finally:
        from streaming import erasure

        erasure._REGISTRY.remove(entry)


def test_privacy_report_counts_stored_text_erasures_and_pending_rechecks(stored, db_url) -> None:
    from streaming.cli import main
    from streaming.privacy_report import privacy_report

    sessions, _post, tlcs = stored
    now = max(t.created_utc for t in tlcs) + 2 * 86400
    Eraser(sessions, Clock(now - 3600)).erase({tlcs[0].name: "removed"}, via="recheck")
    rep = privacy_report(
        sessions, now, horizon_s=HORIZON, retention_s=30 * 86400, recheck_every_s=3600
    )
    assert rep["stored_with_text"]["tlc"]["total"] == 2
    assert rep["stored_with_text"]["tlc"]["1-7d"] == 2
    assert rep["stored_with_text"]["post"]["total"] == 1
    assert rep["erased"]["tlc"] == {"removed": 1}
    assert rep["deletions_last_day"] == {"removed": {"recheck": 1}}
    assert rep["pending_rechecks"] == 3  # never checked since stored
    assert main(["privacy", "report", "--database-url", db_url, "--now", str(now)]) == 0


def test_a_plain_table_registered_by_name_is_erased_and_expires(stored) -> None:
    """Tables other features add (stored replies) are covered through a ``Table`` too."""
    import sqlalchemy as sa

    from streaming import erasure

    sessions, _post, tlcs = stored
    md = sa.MetaData()
    replies = sa.Table(
        "test_replies",
        md,
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("author", sa.String(64), nullable=True),
        sa.Column("body", sa.Text, nullable=True),
        sa.Column("created_utc", sa.BigInteger),
    )
    with sessions() as s:
        md.create_all(s.get_bind())
        s.execute(
            replies.insert(),
            [
                {"name": "t1_r1", "author": tlcs[1].author, "body": tlcs[2].body, "created_utc": 1},
                {"name": "t1_r2", "author": "other", "body": "kept " * 10, "created_utc": 2},
            ],
        )
        s.commit()
    entry = Erasable(replies, "name", ("body",), ("author",), kind="reply")
    register(entry)
    try:
        eraser = Eraser(sessions, Clock(tlcs[0].created_utc + 600))
        assert eraser.erase_accounts([tlcs[1].name], via="recheck") >= 2
        with sessions() as s:
            rows = {r.name: r for r in s.execute(sa.select(replies))}
            assert rows["t1_r1"].author is None and rows["t1_r1"].body == "[deleted]"
            assert rows["t1_r2"].author == "other"
            assert s.get(ErasureRow, "t1_r1").kind == "reply"
        clock = Clock(10**10)
        purge = RetentionPurge(
            sessions, Eraser(sessions, clock), clock, horizon_s=1, retention_s=1, wall=clock
        )
        assert purge.run().purged.get("reply") == 1
    finally:
        erasure._REGISTRY.remove(entry)
        with sessions() as s:
            md.drop_all(s.get_bind())
            s.commit()
