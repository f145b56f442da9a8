"""Bounded memory (embedded log compaction), no busy loop after a replay, health that reflects
errors and dependencies, ops bound to loopback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from redditdata.events import TOPIC_DEADLETTER
from streaming.bus.embedded import EmbeddedBus
from streaming.clock import EventClock
from streaming.ops import OpsServer, StageMetrics
from streaming.pipeline import build_pipeline
from streaming.runtime import StopFlag, serve_embedded
from streaming.settings import SettingsError, load_settings
from streaming.storage import open_database


def test_compaction_keeps_only_what_some_group_has_not_committed(tmp_path: Path) -> None:
    bus = EmbeddedBus(partitions=2, path=tmp_path / "log.db", compact=True, retain_unread=10)
    bus.register_group("a", ["t"])
    bus.register_group("b", ["t"])
    for i in range(1000):
        bus.publish("t", f"k{i % 7}", b"x")
        bus.publish(TOPIC_DEADLETTER, None, b"d")
    while a := bus.poll("a", ["t"], 300, 0):
        bus.commit("a", a)
    assert bus.retained() >= 1000  # b has committed nothing yet
    for _ in range(2):
        bus.commit("b", bus.poll("b", ["t"], 300, 0))
    left = bus.lag("b", ["t"])
    assert left == 400
    kept_t = len(bus.messages("t"))
    assert kept_t == 400 and len(bus.messages(TOPIC_DEADLETTER)) <= 20
    bus.close()
    again = EmbeddedBus(partitions=2, path=tmp_path / "log.db", compact=True)
    rest = again.poll("b", ["t"], 1000, 0)
    assert len(rest) == 400 and again.poll("a", ["t"], 10, 0) == []
    again.publish("t", "k1", b"y")  # offsets continue after compaction
    assert max(m.offset for m in again.messages("t") if m.partition == rest[-1].partition) > 0


def test_serve_embedded_waits_when_idle(tmp_path: Path, models: Any) -> None:
    _, sessions = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    settings = load_settings(database_url="sqlite://", stages=["scorer"], poll_timeout_s=0.01)
    p = build_pipeline(
        settings, bus=EmbeddedBus(), sessions=sessions, clock=EventClock(), models=models
    )
    polls = [0]
    step = p.runners["scorer"].step

    def counted(timeout_s: float | None = None) -> int:
        polls[0] += 1
        return step(timeout_s)

    p.runners["scorer"].step = counted  # type: ignore[method-assign]

    class Stop(StopFlag):
        waits = 0

        def wait(self, timeout_s: float) -> bool:
            self.waits += 1
            if self.waits >= 5:
                self.set()
            return self()

    stop = Stop()
    serve_embedded(p, stop)
    assert stop.waits == 5
    assert polls[0] <= 2 * stop.waits + 10  # one idle step per wait, not a spin


def test_health_reports_database_and_binds_loopback(tmp_path: Path, models: Any) -> None:
    _, sessions = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    settings = load_settings(database_url="sqlite://", stages=["scorer"], health_max_lag=5)
    bus = EmbeddedBus()
    p = build_pipeline(settings, bus=bus, sessions=sessions, clock=EventClock(), models=models)
    ops = OpsServer(StageMetrics(), p.health).start()
    try:
        assert ops._server.server_address[0] == "127.0.0.1"
        url = f"http://127.0.0.1:{ops.port}/healthz"
        h = json.loads(urllib.request.urlopen(url).read())
        assert h["ok"] and h["database"] == "ok"
        for i in range(10):
            bus.publish("reddit.comments", f"t3_x{i}", b"{}")
        p.runners["scorer"]._measure_lag(False)
        try:
            urllib.request.urlopen(url)
            raise AssertionError("expected 503")
        except urllib.error.HTTPError as err:
            assert err.code == 503
            body = json.loads(err.read())
            assert any("lag" in x for x in body["problems"])
    finally:
        ops.stop()


def test_health_reports_an_unreachable_broker(tmp_path: Path, models: Any) -> None:
    import socket

    from streaming.bus.kafka import KafkaBus

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert KafkaBus(f"127.0.0.1:{port}").reachable() is None
    down = KafkaBus(f"127.0.0.1:{port}").reachable()  # nothing listens there any more
    assert down is not None and "unreachable" in down
    _, sessions = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    settings = load_settings(database_url="sqlite://", stages=["scorer"])
    p = build_pipeline(
        settings, bus=EmbeddedBus(), sessions=sessions, clock=EventClock(), models=models
    )
    assert p.health()["ok"] and p.health()["bus"] == "ok"
    p.bus.reachable = lambda: down  # type: ignore[method-assign]
    h = p.health()
    assert not h["ok"] and h["bus"] == down and any(x.startswith("bus:") for x in h["problems"])


def test_the_stages_bounds_are_settings(
    tmp_path: Path, models: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, sessions = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("PROSOCIAL_MAX_RERANKS_PER_TICK", "3")
    settings = load_settings(
        database_url="sqlite://",
        stages=["scorer", "suggester"],
        max_score_batch=7,
        max_reforecasts_per_tick=9,
    )
    p = build_pipeline(
        settings, bus=EmbeddedBus(), sessions=sessions, clock=EventClock(), models=models
    )
    scorer, suggester = p.stages["scorer"], p.stages["suggester"]
    assert scorer.max_score_batch == 7  # type: ignore[attr-defined]
    assert scorer.reforecast.max_per_tick == 9  # type: ignore[attr-defined]
    assert suggester.max_reranks_per_tick == 3  # type: ignore[attr-defined]
    with pytest.raises(SettingsError, match="max_score_batch"):
        load_settings(max_score_batch=0)
