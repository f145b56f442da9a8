from __future__ import annotations

from sqlalchemy import func, inspect, select

from streaming.storage import PostRow, ScoreRow, open_database, upsert


def _post(name: str, score: int = 1) -> dict:
    return {
        "name": name,
        "subreddit": "College",
        "title": "t",
        "selftext": "",
        "author": "a",
        "score": score,
        "created_utc": 1_633_000_000,
        "retrieved_on": None,
    }


def test_migrations_create_every_table_and_rerun_is_a_no_op(db_url: str) -> None:
    _engine, _ = open_database(db_url)
    engine2, _ = open_database(db_url)  # second start: already at head
    names = set(inspect(engine2).get_table_names())
    assert {
        "posts",
        "tlcs",
        "scores",
        "suggestions",
        "outcomes",
        "evaluations",
        "dead_letters",
        "alembic_version",
    } <= names


def test_upserts_are_idempotent_and_update_only_named_columns(db_url: str) -> None:
    _, sessions = open_database(db_url)
    with sessions() as s:
        upsert(s, PostRow, [_post("t3_a"), _post("t3_a", 5), _post("t3_b")])
        s.commit()
        upsert(s, PostRow, [_post("t3_a", 9)])  # do nothing on conflict
        s.commit()
        assert s.scalar(select(func.count()).select_from(PostRow)) == 2
        assert s.get_one(PostRow, "t3_a").score == 1
        upsert(s, PostRow, [_post("t3_a", 9)], update=["score"])
        s.commit()
        s.expire_all()
        assert s.get_one(PostRow, "t3_a").score == 9


def test_score_rows_keep_provenance_json(db_url: str) -> None:
    _, sessions = open_database(db_url)
    row = {
        "tlc_name": "t1_x",
        "post_name": "t3_a",
        "subreddit": "College",
        "created_utc": 1,
        "due_utc": 2,
        "forecast": 0.5,
        "lower": 0.1,
        "upper": 0.9,
        "reasons": ["length (+0.2)"],
        "empathy": {"label": "none", "probs": [0.8, 0.1, 0.1]},
        "empathy_label": "none",
        "empathy_version": "e1",
        "forecaster_version": "f1",
        "config_hash": "abc",
        "ingest_ms": 1,
        "scored_ms": 2,
    }
    with sessions() as s:
        upsert(s, ScoreRow, [row, row])
        s.commit()
        got = s.get_one(ScoreRow, "t1_x")
        assert got.empathy is not None
        assert got.empathy["probs"] == [0.8, 0.1, 0.1]
        assert (got.empathy_version, got.forecaster_version, got.config_hash) == ("e1", "f1", "abc")


def test_stage_processes_starting_together_migrate_a_fresh_database_once(db_url: str) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root))
    code = "import sys; from streaming.storage import open_database; open_database(sys.argv[1])"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, db_url], env=env, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, "\n".join(errors)
    engine, _ = open_database(db_url)
    assert "posts" in set(inspect(engine).get_table_names())


def _alembic(db_url: str, action: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from streaming.storage import make_engine
    from streaming.storage.db import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with make_engine(db_url).begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def test_migration_0070_moves_the_backfilled_trees_into_replies_and_back(db_url: str) -> None:
    """Ingested replies and the back-fill's trees become one table (one row per comment);
    the downgrade splits them again."""
    import sqlalchemy as sa

    from streaming.storage import ReplyRow, make_engine

    _alembic(db_url, "upgrade", "0030")
    ingested = {"post_name": "t3_p", "subreddit": "College", "stored_ms": 5}
    horizon = {"post_name": "t3_p", "subreddit": "College", "tlc_name": "t1_t", "as_of_utc": 99}
    with make_engine(db_url).begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO replies (name, post_name, parent_name, subreddit, author, body,"
                " created_utc, stored_ms) VALUES"
                " ('t1_a', :post_name, 't1_t', :subreddit, 'u', 'early text', 10, :stored_ms),"
                " ('t1_b', :post_name, 't1_a', :subreddit, 'v', 'only ingested', 11, :stored_ms)"
            ),
            ingested,
        )
        conn.execute(
            sa.text(
                "INSERT INTO outcome_replies (name, tlc_name, post_name, subreddit, parent, depth,"
                " author, body, score, created_utc, as_of_utc) VALUES"
                " ('t1_t', :tlc_name, :post_name, :subreddit, 't3_p', 0, 'w', 'tlc', 7, 9,"
                " :as_of_utc),"
                " ('t1_a', :tlc_name, :post_name, :subreddit, 't1_t', 1, 'u', 'edited', 3, 10,"
                " :as_of_utc)"
            ),
            horizon,
        )
    _alembic(db_url, "upgrade", "head")
    engine = make_engine(db_url)
    assert "outcome_replies" not in set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        rows = {r.name: r for r in conn.execute(select(ReplyRow.__table__))}
    assert set(rows) == {"t1_t", "t1_a", "t1_b"}
    assert (rows["t1_a"].stored_ms, rows["t1_a"].body, rows["t1_a"].depth) == (5, "edited", 1)
    assert (rows["t1_t"].stored_ms, rows["t1_t"].parent_name, rows["t1_t"].score) == (
        None,
        "t3_p",
        7,
    )
    assert (rows["t1_b"].as_of_utc, rows["t1_b"].body) == (None, "only ingested")

    _alembic(db_url, "downgrade", "0030")
    with make_engine(db_url).connect() as conn:
        replies = {r.name: r for r in conn.execute(sa.text("SELECT * FROM replies"))}
        trees = {r.name: r for r in conn.execute(sa.text("SELECT * FROM outcome_replies"))}
    assert set(replies) == {"t1_a", "t1_b"} and set(trees) == {"t1_t", "t1_a"}
    assert trees["t1_a"].parent == "t1_t" and trees["t1_t"].score == 7
    _alembic(db_url, "upgrade", "head")
