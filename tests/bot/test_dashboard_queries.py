"""The dashboard's page queries on SQLite and PostgreSQL, over a database filled by the real
pipeline on a small real slice (tiny stand-in models), checked against the stored rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.dashboard import queries
from bot.suggestions import rank_distance
from devtools.servers import PostgresServer, postgres_bin_dir
from streaming.storage import ScoreRow, SuggestionRow
from tests.bot.dashboard_env import A, fill_database

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL binaries not installed: make system-deps")
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'service.db'}"
    return request.getfixturevalue("pg").url


def test_page_queries_agree_with_the_stored_rows(data_dir: Path, db_url: str) -> None:
    _, sessions = fill_database(data_dir, db_url, until="2021-10-02")
    with sessions() as s:
        assert A in queries.watched_subreddits(s)
        items, total = queries.queue(s, A, limit=1000)
        n_posts = s.scalar(
            select(func.count(func.distinct(SuggestionRow.post_name))).where(
                SuggestionRow.subreddit == A
            )
        )
        assert total == n_posts == len(items) > 3
        assert [i.created_utc for i in items] == sorted(
            (i.created_utc for i in items), reverse=True
        )
        cache: queries.SummaryCache = {}
        far, far_total = queries.queue(s, A, min_distance=0.3, cache=cache)
        assert far_total == sum(i.distance >= 0.3 for i in items) and all(
            i.distance >= 0.3 for i in far
        )
        assert queries.queue(s, A, min_distance=0.3, cache=cache) == (far, far_total)  # cached
        with_seekers, _ = queries.queue(s, A, has_seekers=True, limit=1000)
        assert {i.post for i in with_seekers} == {i.post for i in items if i.seekers}
        big = max(items, key=lambda i: i.n_tlcs)
        view = queries.post_view(s, big.post)
        assert view is not None and view.subreddit == A
        assert [t.rank for t in view.suggested] == list(range(1, big.n_tlcs + 1))
        ranks = [t.reddit_rank for t in view.suggested]
        assert None not in ranks
        assert sorted(r for r in ranks if r is not None) == list(range(1, big.n_tlcs + 1))
        forecasts = [t.forecast for t in view.suggested]
        assert None not in forecasts
        assert forecasts == sorted((f for f in forecasts if f is not None), reverse=True)
        assert view.distance == pytest.approx(big.distance)
        assert view.distance == pytest.approx(
            rank_distance([t.name for t in view.reddit], [t.name for t in view.suggested])
        )
        assert any(t.sentences for t in view.suggested)
        assert any(t.outcome is not None for t in view.suggested)
        seekers = queries.seekers(s, A)
        n_seek = s.scalar(
            select(func.count())
            .select_from(ScoreRow)
            .where(ScoreRow.subreddit == A, ScoreRow.empathy_label == "seeking")
        )
        assert len(seekers) == min(200, n_seek) > 0
        assert [x.created_utc for x in seekers] == sorted(x.created_utc for x in seekers)
        q = queries.quality(s, A)
        assert any(m.startswith("forecaster:") for m in q["series"])
        assert {"reddit_order", "chronological"} <= set(q["series"])
        assert q["versions"][0]["forecaster"] == "tiny-forecaster-1"
        h = queries.health(s, now=2e9)
        assert h["pending_tlcs"] == 0 and h["dead_letters"]
        # Reddit's order as last read from Reddit (live service), one TLC gone there
        from bot.reddit_order import OrderStore

        orders = OrderStore()
        read = [t.name for t in view.reddit][::-1]
        orders.save(big.post, read[1:], [read[0]], 123.0)
        fresh_view = queries.post_view(s, big.post, orders.get)
        assert fresh_view is not None
        assert [t.name for t in fresh_view.reddit] == read[1:]
        assert read[0] not in {t.name for t in fresh_view.suggested}
        fresh_items, _ = queries.queue(s, A, limit=1000, cache=cache, orders=orders.get)
        fresh_big = next(i for i in fresh_items if i.post == big.post)
        assert fresh_big.n_tlcs == big.n_tlcs - 1
        assert fresh_big.distance == pytest.approx(fresh_view.distance)
