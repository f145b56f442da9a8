"""Fixtures for the stream service tests: tiny injected models, a small real replay slice,
database URLs for SQLite and (when its binaries exist) a loopback PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.servers import PostgresServer, postgres_bin_dir
from streaming.replay import ReplayIndex, parse_time
from tests.e2e_fixtures import eval_slice, tiny_aux_registry, train_slice  # noqa: F401
from tests.streaming.tiny import tiny_models

SLICE = ("2021-10-01", "2021-10-03")


@pytest.fixture()
def models():  # type: ignore[no-untyped-def]
    return tiny_models()


@pytest.fixture(scope="session")
def small_index(data_dir: Path) -> ReplayIndex:
    """Posts created 1–2 Oct 2021 (all subreddits) with every comment they got."""
    return ReplayIndex(
        data_dir / "reddit-college", since=parse_time(SLICE[0]), until=parse_time(SLICE[1])
    )


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    if postgres_bin_dir() is None:
        pytest.skip(
            "PostgreSQL binaries (initdb, pg_ctl) not installed: "
            "apt-get install postgresql (make system-deps)"
        )
    with PostgresServer() as pg:
        yield pg


_DB_N = [0]


def _fresh_pg_db(pg: PostgresServer) -> str:
    _DB_N[0] += 1
    return pg.fresh_database(f"t{_DB_N[0]}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'prosocial.db'}"
    return _fresh_pg_db(request.getfixturevalue("pg_server"))
