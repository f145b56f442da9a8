"""``prosocial bot check`` against the dev server; the live source with the ingest stage."""

from __future__ import annotations

import json

from bot.aingest import AsyncRedditIngest
from bot.aio import EventLoopThread
from bot.devserver import DevRedditServer
from bot.reddit import ClientSettings, make_async_reddit
from bot.seen import SeenStore
from bot.source import live_events
from redditdata.events import TOPIC_COMMENTS, TOPIC_SUBMISSIONS
from streaming.bus.embedded import EmbeddedBus
from streaming.cli import main
from streaming.clock import WallClock
from streaming.ops import StageMetrics
from streaming.stages.ingest import IngestStage
from tests.bot.support import dev_login_env


def test_check_reports_permissions_and_config_without_echoing_secrets(
    dev_world, monkeypatch, tmp_path, capsys
):
    subs = list(dev_world.subreddits.values())
    dev_world.moderators = {subs[0].lower(): {"prosocial_bot": ["all"]}}
    with DevRedditServer(dev_world) as srv:
        env = dev_login_env(
            srv.url, client_id="cid-123", client_secret="s3cret-value", password="hunter2-pw"
        )
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        rc = main(
            [
                "bot",
                "check",
                "--subreddits",
                f"{subs[0]},NotModHere",
                "--json",
                "--state-dir",
                str(tmp_path),
            ]
        )
    out = capsys.readouterr()
    rep = json.loads(out.out)
    assert rc == 1 and rep["user"] == "prosocial_bot"
    assert rep["permissions"][subs[0]]["ok"] and not rep["permissions"]["NotModHere"]["ok"]
    assert rep["config"][subs[0]]["source"] == "default" and rep["config"][subs[0]]["dry_run"]
    for secret in ("s3cret-value", "hunter2-pw"):
        assert secret not in out.out + out.err
        assert all(
            secret not in p.read_bytes().decode("latin-1")
            for p in tmp_path.iterdir()
            if p.is_file()
        )


def test_missing_credentials_are_named_not_shown(monkeypatch, capsys, tmp_path):
    for k in ("praw_client_id", "praw_client_secret", "praw_username", "praw_password"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    rc = main(
        ["bot", "check", "--subreddits", "GradSchool", "--json", "--state-dir", str(tmp_path / "s")]
    )
    rep = json.loads(capsys.readouterr().out)
    assert rc == 2 and "client_id" in rep["error"]


def test_live_events_feed_the_stream_ingest_stage(dev_world, tmp_path):
    """The asyncpraw reader's rounds, yielded by the live source, published by the ingest
    stage (the one encoder, stamping the ingest time), marked seen only after the flush."""
    bus = EmbeddedBus()
    loop = EventLoopThread()
    flushed: list[int] = []
    with DevRedditServer(dev_world) as srv:
        settings = ClientSettings(
            oauth_url=srv.url,
            reddit_url=srv.url,
            extra={"client_id": "x", "client_secret": "x", "username": "b", "password": "x"},
        )

        async def client():
            return make_async_reddit(settings)

        reddit = loop.run(client())
        subs = list(dev_world.subreddits.values())
        store = tmp_path / "seen.sqlite"
        reader = AsyncRedditIngest(reddit, SeenStore(store), subs, sweep_every_s=None)
        rounds = iter(range(2))

        def flush() -> None:
            bus.flush()
            flushed.append(len(bus.messages(TOPIC_COMMENTS)))

        source = live_events(
            reader,
            run=loop.run,
            flush=flush,
            sleep=lambda s: None,
            stop=lambda: next(rounds, None) is None,
        )
        stage = IngestStage(source, bus, WallClock(), StageMetrics())
        stage.run()
        loop.run(reddit.close())
    loop.close()
    subs_msgs = bus.messages(TOPIC_SUBMISSIONS)
    com_msgs = bus.messages(TOPIC_COMMENTS)
    assert subs_msgs and com_msgs and flushed
    values = [json.loads(m.value) for m in subs_msgs + com_msgs]
    names = [v["name"] for v in values]
    assert len(names) == len(set(names))
    assert all(v["_ingest_ms"] > 0 for v in values)
    assert all(n in SeenStore(store) for n in names)  # marked only once flushed
    assert all(m.key == json.loads(m.value)["link_id"] for m in com_msgs)
