"""Benchmark: dashboard page load times (p50 / p95) for one subreddit with 10k stored TLCs.

The database is filled with real reddit-college TLCs of one subreddit (default GradSchool,
newest posts first until ``--tlcs`` TLCs) and the rows the service stores for them: posts,
TLCs, scores (forecast, interval, reasons, per-sentence empathy), three suggestion revisions
per post (as the suggester writes them while a thread grows), outcomes for 80 % of the TLCs,
60 evaluation windows and 300 proposals with decisions. The schema comes from the migrations
(with the dashboard's indexes); ``EXPLAIN QUERY PLAN`` of the page queries is printed so that
a full scan shows. The app runs under uvicorn on loopback (demo login, no Reddit), and each
page is fetched ``--requests`` times after warm-up over HTTP with a keep-alive connection.

Writes ``bench/results/dashboard.json``. Run: ``python bench/dashboard.py [--tlcs 10000]
[--requests 40] [--subreddit GradSchool] [--db FILE | --postgres]`` (``--postgres``: a
temporary PostgreSQL server from the Debian binaries).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import math
import random
import re
import statistics
import sys
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "training")]

from sqlalchemy import text

from bench.common import bench_parser, machine, write_result
from models.paths import resolve_data_dir
from streaming.orders import Scored, build_suggestion
from streaming.storage import (
    EvaluationRow,
    OutcomeRow,
    PostRow,
    ScoreRow,
    SuggestionRow,
    TlcRow,
    open_database,
    upsert,
)

_SENT = re.compile(r"(?<=[.!?])\s+")


def read_subreddit(data: Path, sub: str, n_tlcs: int) -> tuple[list[dict], list[dict]]:
    """Real posts of ``sub`` (newest first) and their TLCs, until ``n_tlcs`` TLCs."""
    src = data / "reddit-college"
    posts: dict[str, dict] = {}
    with gzip.open(src / "submissions.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            if f'"subreddit": "{sub}"' not in line:
                continue
            r = json.loads(line)
            if r["subreddit"] == sub:
                posts[r["name"]] = r
    tlcs: dict[str, list[dict]] = defaultdict(list)
    with gzip.open(src / "comments.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r["link_id"] in posts and r["parent_id"] == r["link_id"]:
                tlcs[r["link_id"]].append(r)
    chosen_posts, chosen = [], []
    for p in sorted(posts.values(), key=lambda p: -int(p["created_utc"])):
        if not tlcs.get(p["name"]):
            continue
        chosen_posts.append(p)
        chosen += tlcs[p["name"]]
        if len(chosen) >= n_tlcs:
            break
    return chosen_posts, chosen[:n_tlcs]


def _label(text_: str) -> str:
    low = text_.lower()
    if "?" in text_:
        return "seeking"
    if any(w in low for w in ("thank", "sorry", "hope", "good luck", "you can")):
        return "providing"
    return "none"


def fill(db_url: str, posts: list[dict], tlcs: list[dict], sub: str) -> Any:
    _, sessions = open_database(db_url)
    rnd = random.Random(0)
    by_post: dict[str, list[dict]] = defaultdict(list)
    for t in tlcs:
        by_post[t["link_id"]].append(t)
    now_ms = int(time.time() * 1000)
    with sessions() as s:
        upsert(
            s,
            PostRow,
            [
                {
                    "name": p["name"],
                    "subreddit": sub,
                    "title": p.get("title") or "",
                    "selftext": p.get("selftext") or "",
                    "author": p.get("author"),
                    "score": int(p.get("score") or 0),
                    "created_utc": int(p["created_utc"]),
                    "retrieved_on": None,
                }
                for p in posts
            ],
        )
        tlc_rows, score_rows, out_rows, sug_rows = [], [], [], []
        for post, ts in by_post.items():
            created_post = min(int(t["created_utc"]) for t in ts)
            scored: list[Scored] = []
            for t in sorted(ts, key=lambda t: (int(t["created_utc"]), t["name"])):
                body = t.get("body") or ""
                words = len(body.split())
                fc = 0.3 * math.log1p(words) - 0.002 * (int(t["created_utc"]) - created_post) / 60
                sents = [x for x in _SENT.split(body.strip()) if x] or [body]
                labels = [_label(x) for x in sents]
                label = (
                    "seeking"
                    if "seeking" in labels
                    else "providing"
                    if "providing" in labels
                    else "none"
                )
                reasons = [f"length ({0.3 * math.log1p(words):+.3f})", "minutes since post (-0.1)"]
                tlc_rows.append(
                    {
                        "name": t["name"],
                        "post_name": post,
                        "subreddit": sub,
                        "author": t.get("author"),
                        "body": body,
                        "score": int(t.get("score") or 0),
                        "created_utc": int(t["created_utc"]),
                        "ingest_ms": now_ms,
                        "stored_ms": now_ms,
                        "status": "scored",
                    }
                )
                score_rows.append(
                    {
                        "tlc_name": t["name"],
                        "post_name": post,
                        "subreddit": sub,
                        "created_utc": int(t["created_utc"]),
                        "due_utc": int(t["created_utc"]) + 48 * 3600,
                        "forecast": fc,
                        "lower": fc - 0.5,
                        "upper": fc + 0.5,
                        "reasons": reasons,
                        "empathy": {
                            "label": label,
                            "sentences": [
                                {"text": x, "label": lab}
                                for x, lab in zip(sents, labels, strict=True)
                            ],
                        },
                        "empathy_label": label,
                        "empathy_version": "bench-empathy",
                        "forecaster_version": "bench-forecaster",
                        "config_hash": "bench",
                        "ingest_ms": now_ms,
                        "scored_ms": now_ms,
                    }
                )
                if rnd.random() < 0.8:
                    out_rows.append(
                        {
                            "tlc_name": t["name"],
                            "post_name": post,
                            "subreddit": sub,
                            "as_of_utc": int(t["created_utc"]) + 48 * 3600,
                            "trajectory": fc + rnd.gauss(0, 1),
                            "metrics": {"subsequent_comments": rnd.randint(0, 9)},
                            "n_replies": rnd.randint(0, 9),
                            "versions": {},
                            "computed_ms": now_ms,
                        }
                    )
                scored.append(
                    Scored(
                        t["name"],
                        int(t["created_utc"]),
                        int(t.get("score") or 0),
                        fc,
                        fc - 0.5,
                        fc + 0.5,
                        reasons,
                        label,
                    )
                )
            n = len(scored)
            for rev in sorted({max(1, n // 4), max(1, n // 2), n}):
                order, diff = build_suggestion(scored[:rev])
                sug_rows.append(
                    {
                        "post_name": post,
                        "revision": rev,
                        "subreddit": sub,
                        "as_of_utc": max(x.created_utc for x in scored[:rev]) + 600,
                        "order": order,
                        "diff": diff,
                        "forecaster_version": "bench-forecaster",
                        "latency_s": 1.0,
                        "made_ms": now_ms,
                    }
                )
        for model, rows in ((TlcRow, tlc_rows), (ScoreRow, score_rows), (OutcomeRow, out_rows)):
            for i in range(0, len(rows), 500):
                upsert(s, model, rows[i : i + 500])
        for i in range(0, len(sug_rows), 200):
            upsert(s, SuggestionRow, sug_rows[i : i + 200])
        t0 = min(int(t["created_utc"]) for t in tlcs)
        t1 = max(int(t["created_utc"]) for t in tlcs)
        evals = []
        for k in range(60):
            end = t0 + (t1 - t0) * (k + 1) // 60
            for model_name in ("forecaster:bench-forecaster", "reddit_order", "chronological"):
                figs = {
                    "pairwise_acc": 0.5 + rnd.random() * 0.2,
                    "ndcg5": 0.6 + rnd.random() * 0.2,
                    "spearman": rnd.random() * 0.4,
                }
                if model_name.startswith("forecaster"):
                    figs |= {"r2": rnd.random() * 0.2, "mse": 1 + rnd.random()}
                evals.append(
                    {
                        "subreddit": sub,
                        "model": model_name,
                        "window_end_utc": end,
                        "n_tlcs": 2000,
                        "n_posts": 200,
                        "figures": figs,
                        "computed_ms": now_ms,
                    }
                )
        upsert(s, EvaluationRow, evals)
        s.commit()
    return sessions


def fill_proposals(state: Path, sub: str, tlcs: list[dict]) -> None:
    from bot.approvals import ApprovalStore

    state.mkdir(parents=True, exist_ok=True)
    store = ApprovalStore(state / "approvals.sqlite")
    first = {t["link_id"]: t["name"] for t in reversed(tlcs)}  # one proposal per post
    for i, (post, tlc) in enumerate(list(first.items())[:300]):
        p = store.propose(sub, "highlights", post, {"tlcs": tlc}, 1e9 + i)
        if i % 3 == 0:
            store.record_decision(p.id, "approved", "mod_bench", "dashboard", 1e9 + i + 60)
        elif i % 3 == 1:
            store.record_decision(p.id, "rejected", "mod_bench", "modmail", 1e9 + i + 60)


def explain(sessions: Any, sub: str) -> dict[str, list[str]]:
    plans = {
        "queue: newest suggestion per post": (
            "SELECT post_name, max(revision) FROM suggestions WHERE subreddit = :s "
            "GROUP BY post_name"
        ),
        "queue: seekers per post": (
            "SELECT post_name, count(*) FROM scores WHERE subreddit = :s AND "
            "empathy_label = 'seeking' GROUP BY post_name"
        ),
        "seekers: oldest first": (
            "SELECT tlc_name FROM scores WHERE subreddit = :s AND empathy_label = 'seeking' "
            "ORDER BY created_utc LIMIT 200"
        ),
        "post: its scores": "SELECT * FROM scores WHERE post_name = :p",
        "post: its outcomes": "SELECT * FROM outcomes WHERE post_name = :p",
        "quality: windows": (
            "SELECT * FROM evaluations WHERE subreddit = :s ORDER BY window_end_utc"
        ),
    }
    out = {}
    with sessions() as s:
        sqlite = s.get_bind().dialect.name == "sqlite"
        post = s.scalar(text("SELECT post_name FROM scores LIMIT 1"))
        if not sqlite:
            s.execute(text("ANALYZE"))
        for name, q in plans.items():
            explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = s.execute(text(explain + q), {"s": sub, "p": post}).all()
            out[name] = [str(r[-1]).strip() for r in rows]
    return out


def query_baselines(sessions: Any, sub: str, n: int) -> dict[str, Any]:
    """In-process query times of the queue and seekers pages: as served (indexes of migration
    0050 + the summary cache), without the cache, and without the indexes either."""
    from bot.dashboard import queries

    def timed(fn: Any) -> dict[str, float]:
        fn()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t0) * 1000)
        ts.sort()
        return {"p50_ms": round(statistics.median(ts), 1), "p95_ms": round(ts[-1 - n // 20], 1)}

    out: dict[str, Any] = {}
    cache: dict[Any, Any] = {}
    with sessions() as s:
        out["queue_as_served"] = timed(lambda: queries.queue(s, sub, min_distance=0.3, cache=cache))
        out["queue_no_cache"] = timed(lambda: queries.queue(s, sub, min_distance=0.3))
        out["seekers_indexed"] = timed(lambda: queries.seekers(s, sub))
        idx = {
            "ix_suggestions_sub_post_rev": "suggestions (subreddit, post_name, revision)",
            "ix_scores_sub_label_created": "scores (subreddit, empathy_label, created_utc)",
        }
        for name in idx:
            s.execute(text(f"DROP INDEX {name}"))
        s.commit()
        try:
            out["queue_no_cache_no_0050_indexes"] = timed(
                lambda: queries.queue(s, sub, min_distance=0.3)
            )
            out["seekers_no_0050_indexes"] = timed(lambda: queries.seekers(s, sub))
        finally:
            for name, cols in idx.items():
                s.execute(text(f"CREATE INDEX {name} ON {cols}"))
            s.commit()
    for k, v in out.items():
        print(f"  query {k}: p50 {v['p50_ms']} ms, p95 {v['p95_ms']} ms")
    return out


def measure(
    base: str, cookie: str, paths: dict[str, str], n: int, warmup: int = 3
) -> dict[str, Any]:
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=60)
    out: dict[str, Any] = {}
    for name, path in paths.items():
        times = []
        for i in range(n + warmup):
            t0 = time.perf_counter()
            conn.request("GET", path, headers={"Cookie": cookie})
            r = conn.getresponse()
            body = r.read()
            dt = time.perf_counter() - t0
            if r.status != 200:
                raise RuntimeError(f"{path}: {r.status} {body[:200]!r}")
            if i >= warmup:
                times.append(dt * 1000)
        times.sort()
        out[name] = {
            "path": path,
            "n": n,
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)], 1),
            "max_ms": round(times[-1], 1),
            "bytes": len(body),
        }
        print(f"{name:>16}: p50 {out[name]['p50_ms']:7.1f} ms  p95 {out[name]['p95_ms']:7.1f} ms")
    return out


def main() -> int:
    ap = bench_parser(__doc__.splitlines()[0], "dashboard", registry=False)
    ap.add_argument("--tlcs", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--subreddit", default="GradSchool")
    ap.add_argument("--db", default=str(ROOT / "var" / "bench" / "dashboard.db"))
    ap.add_argument("--reuse", action="store_true", help="keep a database filled before")
    ap.add_argument(
        "--postgres", action="store_true", help="on a temporary PostgreSQL server instead"
    )
    args = ap.parse_args()
    if args.postgres:
        from devtools.servers import PostgresServer

        with PostgresServer() as pg:
            return run(args, pg.url)
    return run(args, f"sqlite:///{args.db}")


def run(args: argparse.Namespace, db_url: str) -> int:
    from bot.approvals import ApprovalStore
    from bot.dashboard import ApprovalDesk, create_app, load_dashboard_settings
    from bot.dashboard.serve import DashboardServer

    db = Path(args.db)
    db.parent.mkdir(parents=True, exist_ok=True)
    state = db.parent / "dashboard-bot"
    t0 = time.perf_counter()
    posts, tlcs = read_subreddit(resolve_data_dir(args.data), args.subreddit, args.tlcs)
    if args.reuse and db.exists() and db_url.startswith("sqlite"):
        _, sessions = open_database(db_url)
    else:
        for f in db.parent.glob(db.name + "*"):
            f.unlink()
        if (state / "approvals.sqlite").exists():
            (state / "approvals.sqlite").unlink()
        sessions = fill(db_url, posts, tlcs, args.subreddit)
        fill_proposals(state, args.subreddit, tlcs)
    print(f"{len(tlcs)} TLCs of {len(posts)} posts ready in {time.perf_counter() - t0:.0f} s")
    plans = explain(sessions, args.subreddit)
    for name, lines in plans.items():
        print(f"  {name}: {' | '.join(lines)}")
    import socket

    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    settings = load_dashboard_settings(demo_user="bench_mod", port=port)
    app = create_app(
        settings,
        sessions,
        oauth=None,
        secret="bench-" * 6,
        approvals=ApprovalDesk(ApprovalStore(state / "approvals.sqlite")),
    )
    server = DashboardServer(app, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    store = app.state.deps.sessions
    _, cookie_value = store.create("bench_mod", None, [], demo=True)
    cookie = f"prosocial_session={cookie_value}"
    by_post: dict[str, int] = defaultdict(int)
    for t in tlcs:
        by_post[t["link_id"]] += 1
    biggest = max(by_post, key=lambda p: by_post[p])
    median = sorted(by_post, key=lambda p: by_post[p])[len(by_post) // 2]
    sub = args.subreddit
    paths = {
        "queue": f"/r/{sub}",
        "queue_filtered": f"/r/{sub}?min_distance=0.3&seekers=1",
        "queue_page_5": f"/r/{sub}?page=5",
        "post_median": f"/r/{sub}/comments/{median[3:]}",
        "post_biggest": f"/r/{sub}/comments/{biggest[3:]}",
        "seekers": f"/r/{sub}/seekers",
        "quality": f"/r/{sub}/quality",
        "audit": f"/r/{sub}/audit",
        "health": "/health",
        "api_queue": f"/api/r/{sub}/queue",
    }
    try:
        # the first filtered queue load right after the start (the app's warm-up thread
        # computes every order's summary once, in parallel with this request)
        cold = f"/r/{args.subreddit}?min_distance=0.01"
        cold_ms = measure(base, cookie, {"queue_first_load": cold}, 1, warmup=0)
        cold_ms = cold_ms["queue_first_load"]["p95_ms"]
        pages = measure(base, cookie, paths, args.requests)
    finally:
        server.stop()
    baselines = query_baselines(sessions, sub, max(10, args.requests // 2))
    result = {
        "subreddit": sub,
        "tlcs": len(tlcs),
        "posts": len(posts),
        "biggest_post_tlcs": by_post[biggest],
        "median_post_tlcs": by_post[median],
        "requests_per_page": args.requests,
        "pages": pages,
        "p95_ms_worst_page": max(p["p95_ms"] for p in pages.values()),
        "first_filtered_queue_load_ms": cold_ms,
        "query_plans": plans,
        "query_baselines": baselines,
        "database": db_url.split(":", 1)[0],
        "machine": machine(),
        "note": "server and client in one process (uvicorn thread + http.client); loopback",
    }
    write_result(result, args.out, echo=False)
    print(f"worst page p95: {result['p95_ms_worst_page']} ms -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
