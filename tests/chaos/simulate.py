"""24 hours of a simulated subreddit through the embedded all-in-one service, RSS sampled.

Texts are real (titles and comment bodies of the dump); ids, authors and times are synthetic:
``posts_per_hour`` posts, each with 6–18 comments (about a third replies) spread over the
following two hours. The service runs on the event clock with a 2 h back-fill horizon and a
10 min quiet period, so by hour 8 (four horizons) every kind of state (pending back-fills, dirty posts,
uncommitted log) has reached its steady size; after that RSS must stay flat.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from streaming.bus.embedded import EmbeddedBus
from streaming.clock import EventClock
from streaming.pipeline import build_pipeline
from streaming.replay import ReplayIndex
from streaming.runtime import RunStats, run_embedded
from streaming.settings import load_settings
from streaming.stages import ReplaySource
from streaming.storage import open_database
from tests.chaos.world import audit, load_world, rss_mb
from tests.streaming.tiny import tiny_models

__all__ = ["run_simulated_day", "write_day"]

T0 = 1_633_046_400  # 2021-10-01 00:00 UTC
WARM_H = 8


def _b36(n: int) -> str:
    s = ""
    while True:
        n, r = divmod(n, 36)
        s = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + s
        if n == 0:
            return s


def write_day(out: Path, texts: list[str], *, hours: int, posts_per_hour: int) -> None:
    rnd = random.Random(7)
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    with (out / "submissions.jsonl").open("w") as fs, (out / "comments.jsonl").open("w") as fc:
        for i in range(hours * posts_per_hour):
            t = T0 + int(i * 3600 / posts_per_hour)
            pid = "zs" + _b36(i)
            fs.write(
                json.dumps(
                    {
                        "id": pid,
                        "name": f"t3_{pid}",
                        "subreddit": "SimCollege",
                        "author": f"op{rnd.randrange(500)}",
                        "title": rnd.choice(texts)[:300],
                        "selftext": rnd.choice(texts),
                        "score": rnd.randrange(50),
                        "created_utc": t,
                    }
                )
                + "\n"
            )
            parents = [f"t3_{pid}"]
            for _ in range(rnd.randrange(6, 19)):
                n += 1
                cid = "zc" + _b36(n)
                parent = parents[0] if rnd.random() < 0.65 else rnd.choice(parents)
                fc.write(
                    json.dumps(
                        {
                            "id": cid,
                            "name": f"t1_{cid}",
                            "subreddit": "SimCollege",
                            "author": f"u{rnd.randrange(2000)}",
                            "body": rnd.choice(texts),
                            "score": rnd.randrange(-3, 30),
                            "created_utc": t + rnd.randrange(30, 7200),
                            "link_id": f"t3_{pid}",
                            "parent_id": parent,
                        }
                    )
                    + "\n"
                )
                parents.append(f"t1_{cid}")


def run_simulated_day(
    tmp: Path, *, hours: int = 24, posts_per_hour: int = 30, texts_from: Path | None = None
) -> dict[str, Any]:
    src = ReplayIndex(texts_from) if texts_from else None
    texts = (
        [c.body for cs in src.comments.values() for c in cs if 20 < len(c.body) < 2000]
        if src
        else []
    ) or ["how do I pick classes?", "thanks, that helps a lot", "good luck with finals!"]
    day = tmp / "day"
    write_day(day, texts, hours=hours, posts_per_hour=posts_per_hour)
    world = load_world(day)
    idx = ReplayIndex(day)
    _, sessions = open_database(f"sqlite:///{tmp / 'day.db'}")
    settings = load_settings(
        database_url="sqlite://",
        clock="event",
        horizon_s=2 * 3600,
        quiet_period_s=600,
        eval_every=500,
    )
    clock = EventClock()
    bus = EmbeddedBus(partitions=4, compact=True)
    p = build_pipeline(
        settings,
        bus=bus,
        sessions=sessions,
        clock=clock,
        models=tiny_models(),
        source=ReplaySource(idx.events),
        fetcher=idx,
    )
    rss: dict[int, float] = {}
    retained: dict[int, int] = {}

    def sample(_: RunStats) -> None:
        h = int((clock.now() - T0) // 3600)
        if 0 <= h < hours and h not in rss:
            rss[h] = round(rss_mb(), 1)
            retained[h] = bus.retained()

    run_embedded(p, chunk=256, progress=sample)
    fig = audit(sessions, world, bus=bus)
    after = [v for h, v in sorted(rss.items()) if h >= WARM_H]
    growth = round(max(after) - after[0], 1) if after else float("nan")
    return {
        "name": f"simulated_subreddit_{hours}h",
        "events": world.events,
        **fig,
        "recovered_s": 0.0,
        "rss_mb_by_hour": rss,
        "rss_growth_after_warmup_mb": growth,
        "log_records_retained_by_hour": retained,
    }
