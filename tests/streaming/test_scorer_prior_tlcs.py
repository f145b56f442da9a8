"""The scorer tells the forecaster how many TLCs each post already had, from storage."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.sql.elements import ClauseElement

from streaming.stages.history import author_contexts, prior_tlc_counts
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


def _store(sessions: Any) -> None:
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


def _rows(s: Any, names: list[str]) -> list[Any]:
    q = (
        select(TlcRow, PostRow)
        .join(PostRow, PostRow.name == TlcRow.post_name)
        .where(TlcRow.name.in_(names))
        .order_by(TlcRow.name)
    )
    return [tuple(r) for r in s.execute(q)]


def test_prior_counts_cover_tlcs_stored_in_earlier_batches(db_url: str) -> None:
    _, sessions = open_database(db_url)
    _store(sessions)
    with sessions() as s:
        counts = prior_tlc_counts(s, _rows(s, ["t1_c", "t1_d"]))
    # two earlier TLCs for c; d ties with c on time and sorts after it by name
    assert counts == {"t1_c": 2, "t1_d": 3}


def test_a_batch_of_a_size_seen_before_reuses_the_statements(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built anew for every batch, the two history statements cost a scorer's small call
    ~10 ms of Python, and compiled anew (SQLAlchemy cannot cache a ``VALUES`` table) ~6 ms: a
    batch of a size seen before binds new values to the SQL compiled for the first one, and
    gets its own answers."""
    engine, sessions = open_database(db_url)
    _store(sessions)
    ran: list[str] = []
    compiled: list[Any] = []

    @event.listens_for(engine, "before_cursor_execute")
    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        ran.append(statement)

    compile_ = ClauseElement._compiler

    def counted(self: ClauseElement, dialect: Any, **kw: Any) -> Any:
        compiled.append(self)
        return compile_(self, dialect, **kw)

    monkeypatch.setattr(ClauseElement, "_compiler", counted)
    with sessions() as s:
        ac, bd = _rows(s, ["t1_a", "t1_c"]), _rows(s, ["t1_b", "t1_d"])
        first = prior_tlc_counts(s, ac)
        ctx_first = author_contexts(s, ac, 3600)
        n_first = len(compiled)
        second = prior_tlc_counts(s, bd)
        ctx_second = author_contexts(s, bd, 3600)
    assert first == {"t1_a": 0, "t1_c": 2} and second == {"t1_b": 1, "t1_d": 3}
    assert {k: c.prior_tlcs for k, c in ctx_first.items()} == {"t1_a": 0, "t1_c": 2}
    assert {k: c.prior_tlcs for k, c in ctx_second.items()} == {"t1_b": 1, "t1_d": 3}
    history = [c for c in ran if "batch" in c]
    assert len(history) == 4
    assert history[2] is history[0] and history[3] is history[1]
    # nothing was compiled for the second batch
    assert len(compiled) == n_first
