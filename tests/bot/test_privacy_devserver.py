"""The dev server's deletions (``--delete-rate``) and ``prosocial bot privacy`` against it (real
reddit-college threads, real praw over loopback). The whole service under deletions is
``tests/bot/test_privacy_live.py``."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime

from sqlalchemy import select

from bot.devserver.deletions import DeletionPlan
from bot.devserver.server import DevRedditServer
from bot.devserver.world import load_world
from streaming.erasure import MARKERS
from streaming.storage import TlcRow
from tests.bot.support import dev_login_env

SUBS = ["GradSchool", "College"]
DAY = "2021-11-11"
ERASED = set(MARKERS.values())


def test_devserver_exposes_the_deletions_it_applied(data_dir) -> None:
    start = datetime.fromisoformat(DAY).replace(tzinfo=UTC).timestamp()
    world = load_world(data_dir / "reddit-college", ["GradSchool"], start, start + 6 * 3600)
    plan = DeletionPlan(0.2, seed=3, max_delay_s=3600).attach(world)
    with DevRedditServer(world) as srv:
        world.advance(4 * 3600)
        with urllib.request.urlopen(f"{srv.url}/dev/deletions") as r:
            served = json.load(r)["deletions"]
    assert served == plan.applied and len(served) > 5
    for d in served:
        item = world.items[d["name"]]
        if d["action"] == "deleted":
            key = "body" if item.kind == "t1" else "selftext"
            assert item.data[key] == "[deleted]" and item.data["author"] == "[deleted]"
        elif d["action"] == "removed":  # the bot moderates GradSchool: it sees the text
            assert item.data["removed"] is True and item.data["banned_by"]


def test_bot_privacy_command_erases_what_the_devserver_deleted(
    dev_world, monkeypatch, tmp_path, capsys
) -> None:
    """``prosocial bot privacy --once`` over real praw: re-checks through /api/info, erases
    deleted / removed items with their reason, then purges what is past retention."""
    from bot.gone import classify
    from streaming.cli import main
    from streaming.storage import open_database, upsert
    from streaming.storage.privacy_tables import ErasureRow

    url = f"sqlite:///{tmp_path}/service.db"
    _, sessions = open_database(url)
    tlcs = [
        i
        for i in dev_world.items.values()
        if i.kind == "t1" and i.data["parent_id"] == i.data["link_id"]
    ]
    with sessions() as s:
        upsert(
            s,
            TlcRow,
            [
                {
                    "name": i.name,
                    "post_name": i.data["link_id"],
                    "subreddit": i.data["subreddit"],
                    "author": i.data["author"],
                    "body": i.data["body"],
                    "score": 1,
                    "created_utc": int(i.created),
                    "stored_ms": 0,
                    "status": "scored",
                }
                for i in tlcs
            ],
        )
        s.commit()
    data_then = {i.name: dict(i.data) for i in tlcs}
    plan = DeletionPlan(0.3, account_rate=0.0, seed=5, min_delay_s=1, max_delay_s=2)
    plan.attach(dev_world)  # after ingestion, as on Reddit
    dev_world.advance(10)
    gone = {n: a for n, a in plan.names().items() if n in {i.name for i in tlcs}}
    assert len(gone) > 3
    cfg = tmp_path / "service.yaml"
    cfg.write_text(f"database_url: {url}\nrecheck_every_s: 3600\n")
    with DevRedditServer(dev_world) as srv:
        for k, v in dev_login_env(srv.url).items():
            monkeypatch.setenv(k, v)
        before = sum(1 for _, _, path, _ in srv.log if path.startswith("/api/info"))
        rc = main(
            [
                "bot",
                "privacy",
                "--once",
                "--json",
                "--config",
                str(cfg),
                "--state-dir",
                str(tmp_path),
            ]
        )
        info = sum(1 for _, _, path, _ in srv.log if path.startswith("/api/info")) - before
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert info == -(-len(tlcs) // 100)  # one /api/info request per 100 stored items
    assert out["privacy-recheck"]["checked"] == len(tlcs)
    with sessions() as s:
        reasons = {r.name: r.reason for r in s.scalars(select(ErasureRow))}
    for name, action in gone.items():  # (an author's other item may have gone first)
        assert reasons[name] in (action, "account_deleted"), (name, action)
    assert sum(reasons[n] == a for n, a in gone.items()) > 3
    # already gone in the data when stored: erased for that reason; the rest is from 2021,
    # past retention by the wall clock, so purged after the re-check
    for n, r in reasons.items():
        if n not in gone:
            assert r == (classify(data_then[n]) or "retention"), n
    assert len(reasons) == len(tlcs)
