"""``make chaos``: every scenario on real components; writes ``bench/results/chaos.json``.

python -m tests.chaos [--only postgres_outage,kill9,reddit] [--outage-s 60] [--out PATH]

Groups: day, reddit, postgres_outage, broker_restart, kill9, sigterm, thread_fails, bad_input.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from devtools.servers import PostgresServer
from models.paths import default_data_dir
from tests.chaos.reddit import RedditFaults, run_reddit
from tests.chaos.scenarios import (
    STAGES,
    Env,
    broker_restart,
    kill9_stage,
    oversized_and_future,
    postgres_outage,
    sigterm_mid_batch,
    stage_thread_fails,
)
from tests.chaos.simulate import run_simulated_day
from tests.chaos.world import make_world

ROOT = Path(__file__).resolve().parents[2]
logger = logging.getLogger("tests.chaos")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.chaos")
    ap.add_argument("--only", default="", help="comma-separated scenario groups")
    ap.add_argument("--outage-s", type=float, default=60.0)
    ap.add_argument("--since", default="2021-10-01")
    ap.add_argument("--until", default="2021-10-03")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "chaos.json")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("apscheduler", "alembic", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    only = {s for s in a.only.split(",") if s}

    def want(name: str) -> bool:
        return not only or name in only

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="prosocial-chaos-") as d:
        tmp = Path(d)
        world = make_world(default_data_dir() / "reddit-college", tmp / "world", a.since, a.until)
        if want("day"):
            results.append(run_simulated_day(tmp, texts_from=world.dir))
        if want("reddit"):  # the live service against the dev server (no PostgreSQL)
            for faults in (
                RedditFaults("reddit_api_5xx_timeouts_10min", api_down_min=10),
                RedditFaults("wiki_write_fails_after_modmail", wiki_down_min=20),
            ):
                t0 = time.monotonic()
                r = run_reddit(tmp, faults)
                r["scenario_wall_s"] = round(time.monotonic() - t0, 1)
                logger.info("chaos %s", json.dumps(r))
                results.append(r)
        with PostgresServer() as pg:
            env = Env(world, tmp, pg, stream_s=20.0, timeout_s=300.0)
            runs: list[tuple[str, Any]] = [
                ("postgres_outage", lambda: postgres_outage(env, a.outage_s)),
                ("broker_restart", lambda: broker_restart(env)),
                *[("kill9", (lambda s=s: kill9_stage(env, s))) for s in STAGES],
                ("sigterm", lambda: sigterm_mid_batch(env)),
                ("thread_fails", lambda: stage_thread_fails(env)),
                ("bad_input", lambda: oversized_and_future(env)),
            ]
            for name, run in runs:
                if not want(name):
                    continue
                t0 = time.monotonic()
                r = run()
                r["scenario_wall_s"] = round(time.monotonic() - t0, 1)
                logger.info("chaos %s", json.dumps(r))
                results.append(r)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2) + "\n")
    bad = [
        r["name"]
        for r in results
        if any(r[k] for k in ("lost", "duplicated_rows", "duplicate_side_effects"))
        or r["dead_lettered_valid"]
    ]
    print(json.dumps(results, indent=2))
    if bad:
        print(f"FAILED: {bad}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
