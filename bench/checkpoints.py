"""Benchmark: the scorer's checkpoint due reads against the number of TLCs stored.

The real reddit-college TLCs, oldest first, are stored as a scorer leaves them (``scored``,
each with its score and its +``--delay`` re-forecast made) except the newest ``--backlog``,
which are due. At each stored count of ``--sizes`` one due read
(:meth:`streaming.stages.checkpoints.CheckpointScheduler.due`, ``max_per_tick`` rows) is timed
from the delay's floor, as the scheduler reads it, beside the same read over every stored TLC
(no floor: every read before the floors, and the read once a minute that looked for TLCs
scored after the floor had passed them, before late reads) and a late read (what looks for
those now, every 30 s, among the TLCs scored since the last one: here ``--recent`` of them, all
below the floor and re-forecast already, its worst case), in the same run and database (SQLite, the demo's and the bench's). Reported: the
median milliseconds of ``--repeats`` reads each and the ratios.

Run: ``python bench/checkpoints.py [--sizes 10000,40000,160000] [--backlog 200]`` (needs only
the data directory; no model).
"""

from __future__ import annotations

import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from bench.common import bench_parser, machine, write_result
from models.paths import resolve_data_dir
from redditdata.dumps import find_dump_files, iter_events
from redditdata.events import Comment, Submission
from streaming.stages.checkpoints import CheckpointScheduler
from streaming.storage import CheckpointScoreRow, PostRow, ScoreRow, TlcRow, open_database, upsert


def _tlcs(data: Path, limit: int) -> tuple[list[Comment], dict[str, Submission]]:
    files = find_dump_files(data / "reddit-college")
    assert files.comments is not None and files.submissions is not None
    tlcs = [
        c
        for c in iter_events(
            files.comments, "comment", keep=lambda o: str(o.get("parent_id", "")).startswith("t3_")
        )
        if isinstance(c, Comment)
    ]
    tlcs.sort(key=lambda c: (c.created_utc, c.name))
    tlcs = tlcs[:limit]
    wanted = {c.link_id for c in tlcs}
    posts = {
        p.name: p
        for p in iter_events(
            files.submissions, "submission", keep=lambda o: o.get("name") in wanted
        )
        if isinstance(p, Submission)
    }
    return [c for c in tlcs if c.link_id in posts], posts


def _store(
    sessions: Any,
    tlcs: list[Comment],
    posts: dict[str, Submission],
    done: list[Comment],
    delay: int,
) -> None:
    with sessions() as s:
        upsert(
            s,
            PostRow,
            [
                {
                    "name": p.name,
                    "subreddit": p.subreddit,
                    "title": p.title,
                    "selftext": "",
                    "author": None,
                    "score": p.score,
                    "created_utc": p.created_utc,
                    "retrieved_on": None,
                }
                for p in {posts[c.link_id].name: posts[c.link_id] for c in tlcs}.values()
            ],
        )
        upsert(
            s,
            TlcRow,
            [
                {
                    "name": c.name,
                    "post_name": c.link_id,
                    "subreddit": c.subreddit,
                    "author": None,
                    "body": "",
                    "score": c.score,
                    "created_utc": c.created_utc,
                    "stored_ms": 0,
                    "status": "scored",
                }
                for c in tlcs
            ],
        )
        common = {"forecast": 0.5, "reasons": [], "config_hash": "bench", "scored_ms": 0}
        upsert(
            s,
            ScoreRow,
            [
                {
                    "tlc_name": c.name,
                    "post_name": c.link_id,
                    "subreddit": c.subreddit,
                    "created_utc": c.created_utc,
                    "due_utc": c.created_utc + 48 * 3600,
                    **common,
                    # scored as they came (what a late read ranges over)
                    "scored_ms": c.created_utc * 1000,
                }
                for c in tlcs
            ],
        )
        upsert(
            s,
            CheckpointScoreRow,
            [
                {
                    "tlc_name": c.name,
                    "checkpoint_s": delay,
                    "forecaster_version": "none",
                    "post_name": c.link_id,
                    "subreddit": c.subreddit,
                    "created_utc": c.created_utc,
                    **common,
                }
                for c in done
            ],
        )
        s.commit()


def _median_ms(read: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        read()
        times.append(time.perf_counter() - t)
    return round(1000 * statistics.median(times), 3)


def main() -> None:
    ap = bench_parser(__doc__, "checkpoints", registry=False)
    ap.add_argument("--sizes", default="10000,40000,160000", help="stored TLC counts")
    ap.add_argument("--backlog", type=int, default=200, help="the newest TLCs left due")
    ap.add_argument("--delay", type=int, default=900, help="the checkpoint (seconds)")
    ap.add_argument("--repeats", type=int, default=15, help="reads timed per figure")
    ap.add_argument(
        "--recent",
        type=int,
        default=5000,
        help="TLCs scored since the last late read, all below the floor and re-forecast "
        "already (the worst case; in steady state the TLCs scored lately are newer than the "
        "floor). 5,000: 100 s at 50 TLCs/s",
    )
    args = ap.parse_args()
    sizes = sorted(int(x) for x in args.sizes.split(","))
    tlcs, posts = _tlcs(resolve_data_dir(args.data), sizes[-1])
    sched = CheckpointScheduler(None, (args.delay,), horizon_s=48 * 3600, config_hash="bench")
    out: dict[str, Any] = {"machine": machine(), "backlog": args.backlog, "sizes": []}
    with tempfile.TemporaryDirectory() as tmp:
        _, sessions = open_database(f"sqlite:///{Path(tmp) / 'bench.db'}")
        stored = done = 0
        for size in sizes:
            size = min(size, len(tlcs))
            first_due = max(0, size - args.backlog)
            _store(sessions, tlcs[stored:size], posts, tlcs[done:first_due], args.delay)
            stored, done = size, first_due
            now = tlcs[size - 1].created_utc + args.delay
            with sessions() as s:
                full_read = functools.partial(sched.due, s, now, args.delay)
                due = full_read()
                assert len(due) == min(sched.max_per_tick, size - first_due)
                # the floor the scheduler keeps after that read: the oldest due TLC
                floored_read = functools.partial(full_read, floor=due[0][0].created_utc)
                assert floored_read() == due
                # a late read over the newest ``--recent`` TLCs scored, below that floor
                since = tlcs[max(0, size - args.recent)].created_utc * 1000
                late_read = functools.partial(
                    sched.late,
                    s,
                    now,
                    args.delay,
                    sched.max_per_tick,
                    None,
                    floor=due[0][0].created_utc,
                    scored_from=since,
                )
                assert late_read() == ([], True)  # none below the floor is left to do
                full = _median_ms(full_read, args.repeats)
                floored = _median_ms(floored_read, args.repeats)
                late = _median_ms(late_read, args.repeats)
            out["sizes"].append(
                {
                    "stored_tlcs": size,
                    "due": size - first_due,
                    "full_scan_ms": full,
                    "from_floor_ms": floored,
                    "full_over_floor": round(full / floored, 2),
                    "late_read_ms": late,
                    "full_over_late": round(full / late, 2),
                }
            )
    write_result(out, args.out)


if __name__ == "__main__":
    main()
