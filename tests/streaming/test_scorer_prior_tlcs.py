"""The scorer tells the forecaster how many TLCs each post already had, from storage."""

from __future__ import annotations

from sqlalchemy import select

from streaming.stages.history import prior_tlc_counts
from streaming.storage import PostRow, TlcRow, open_database
from streaming.storage.upsert import upsert


def _tlc(name: str, created: int) -> dict[str, object]:
    return {
        "name": name,
        "post_name": "t3_p",
        "subreddit": "College",
        "author": "a",
        "body": "x",
        "score": 1,
        "created_utc": created,
        "ingest_ms": 0,
        "stored_ms": 0,
        "status": "pending",
    }


def test_prior_counts_cover_tlcs_stored_in_earlier_batches(db_url: str) -> None:
    _, sessions = open_database(db_url)
    with sessions() as s:
        upsert(
            s,
            PostRow,
            [
                {
                    "name": "t3_p",
                    "subreddit": "College",
                    "title": "t",
                    "selftext": "",
                    "author": "op",
                    "score": 1,
                    "created_utc": 1_600_000_000,
                    "retrieved_on": None,
                }
            ],
        )
        upsert(
            s,
            TlcRow,
            [
                _tlc("t1_a", 1_600_000_100),
                _tlc("t1_b", 1_600_000_200),
                _tlc("t1_c", 1_600_000_300),
                _tlc("t1_d", 1_600_000_300),
            ],
        )
        s.commit()
        q = (
            select(TlcRow, PostRow)
            .join(PostRow, PostRow.name == TlcRow.post_name)
            .where(TlcRow.name.in_(["t1_c", "t1_d"]))
        )
        rows = s.execute(q).tuples().all()
        counts = prior_tlc_counts(s, list(rows))
    # two earlier TLCs for c; d ties with c on time and sorts after it by name
    assert counts == {"t1_c": 2, "t1_d": 3}
