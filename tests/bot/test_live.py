"""``prosocial live`` for real: the command as a subprocess (embedded bus + SQLite, the default)
against the dev server (subprocess too) serving three real subreddits of reddit-college for
three simulated days, with 10% of requests faulted (late answers to performed POSTs
included), a 2-hour API outage and one ``kill -9`` + restart of the live process. Everything
is checked against the dump itself and what the dev server recorded, not the service's own
counters. ``PROSOCIAL_LIVE_FIGURES=FILE`` writes the run's figures as JSON."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.devserver.world import read_window
from tests.bot.dashboard_env import free_port
from tests.bot.support import LiveHarness, dev_reddit, get_json, live_wiki_config

pytestmark = pytest.mark.slow

SUBS = ["GradSchool", "College", "AskAcademia"]
DAY = "2021-11-11"
DAYS = 3
SPEED = float(os.environ.get("PROSOCIAL_LIVE_SPEED", "800"))
HORIZON_S = 48 * 3600
OUTAGE_AT_H = 50  # back-fills of TLCs posted at hours 2-4 fall due during the outage
KILL_AT_H = 36
WIKI = live_wiki_config(
    digest_every_hours=12, min_rank_distance=0.1, min_tlcs=3, unanswered_hours=2
)
MARK = re.compile(r"\[\]\(#prosocial:([^)]+)\)")


def _peak_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _client(url: str, user: str) -> Any:
    return dev_reddit(url, timeout_cap=None, username=user)


def _retry(fn: Any, tries: int = 20) -> Any:
    for i in range(tries):
        try:
            return fn()
        except Exception:
            if i + 1 == tries:
                raise
            time.sleep(0.2)
    return None


def _dump(data_dir: Path, start: float, end: float) -> dict[str, Any]:
    """What the dev server serves, read from the dump files: posts by name, every comment."""
    posts, comments = read_window(data_dir / "reddit-college", SUBS, start, end)
    return {"posts": {p["name"]: p for p in posts}, "comments": comments}


def _subtree_times(comments: list[dict[str, Any]]) -> dict[str, list[int]]:
    """TLC fullname → creation times of every reply under it."""
    by_parent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in comments:
        by_parent[c["parent_id"]].append(c)
    out: dict[str, list[int]] = {}
    for c in comments:
        if c["parent_id"] != c["link_id"]:
            continue
        times, stack = [], [c["name"]]
        while stack:
            for k in by_parent.get(stack.pop(), []):
                times.append(int(k["created_utc"]))
                stack.append(k["name"])
        out[c["name"]] = times
    return out


def test_live_three_days_faults_outage_and_kill(
    live_registry: Path, data_dir: Path, tmp_path: Path
) -> None:
    wiki = tmp_path / "wiki.yaml"
    wiki.write_text(WIKI)
    config = tmp_path / "live.yaml"
    config.write_text("horizon_s: 172800\nquiet_period_s: 600\ntorch_threads: 1\n")
    metrics_port = free_port()
    rss: list[int] = []
    # keep every bus record, so the check below can count each TLC's publications
    # (compaction itself is covered by the reliability suites)
    with LiveHarness(
        tmp_path,
        data_dir=data_dir,
        registry=live_registry,
        database_url=f"sqlite:///{tmp_path}/service.db",
        env={"PROSOCIAL_EMBEDDED_COMPACT": "false"},
    ) as run:
        info = run.devserver(
            SUBS,
            *("--day", DAY, "--days", str(DAYS), "--speed", str(SPEED)),
            *("--fault-rate", "0.1", "--seed", "3"),
            *("--outage-at", str(OUTAGE_AT_H), "--outage-hours", "2", "--paused"),
            *[a for s in SUBS for a in ("--wiki", f"{s}={wiki}")],
        )
        url, start = info["url"], info["start"]
        end = start + DAYS * 86400

        def start_live(n: int) -> tuple[subprocess.Popen[bytes], Path]:
            return run.live(
                SUBS,
                *("--config", str(config), "--state-dir", str(tmp_path / "state")),
                *("--metrics-port", str(metrics_port)),
                log=f"live{n}.err",
            )

        live, log = start_live(1)
        run.start_clock()
        killed = approved = False
        approvals: dict[int, str] = {}
        mod = _client(url, "mod_alice")
        while True:
            now = run.dev("/dev/clock")["now"]
            rss.append(_peak_rss_kb(live.pid))
            if not killed and now >= start + KILL_AT_H * 3600:
                live.send_signal(signal.SIGKILL)
                live.wait()
                live, log = start_live(2)
                killed = True
            if not approved:
                approved = _approve_first_proposals(url, mod, approvals)
            if now >= end + 2 * 3600:
                break
            assert live.poll() is None, log.read_text()[-3000:]
            time.sleep(1.0)
        caught_up_s = _catch_up(metrics_port, live, url, end + 1.5 * 3600)
        rss.append(_peak_rss_kb(live.pid))
        _pages_private(url)
        live.send_signal(signal.SIGTERM)
        try:
            code: int | None = live.wait(timeout=120)
        except subprocess.TimeoutExpired:
            code = None
            live.send_signal(signal.SIGUSR1)  # the live command dumps its threads' stacks
            time.sleep(2)
        stop_log = log.read_text()
        state = run.dev("/dev/state")
        clock = run.dev("/dev/clock")
        (tmp_path / "devserver-state.json").write_text(json.dumps(state))
    fig: dict[str, Any] = {
        "peak_rss_mb": round(max(rss) / 1024, 1),
        "speed": SPEED,
        "wall_s_to_catch_up_after_the_end": caught_up_s,
    }
    out = os.environ.get("PROSOCIAL_LIVE_FIGURES")
    try:
        fig |= _check(data_dir, tmp_path, state, clock, start, end, approvals, approved, fig)
    finally:
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_text(json.dumps(fig, indent=1, default=str))
    print(json.dumps(fig, default=str))
    assert code == 0 and "stopped cleanly" in stop_log, "no clean stop:\n" + stop_log[-6000:]


def _catch_up(
    port: int, live: subprocess.Popen[bytes], url: str, until: float, limit_s: float = 420
) -> float:
    """Wait until the scorer has consumed everything ingested and the back-fill has done every
    job due by ``until`` (the simulated clock runs many times faster than a live deployment's,
    so the service may trail it). Returns the wall wait."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s and live.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
                h = json.loads(r.read())
        except urllib.error.HTTPError as e:
            h = json.loads(e.read())
        except OSError:
            h = {}
        behind = h.get("backfill_behind_s")
        now = get_json(url + "/dev/clock")["now"]
        if h.get("ingest_lag") == 0 and (behind is None or now - behind > until):
            break
        time.sleep(1)
    return round(time.monotonic() - t0, 1)


def _pages_private(url: str) -> None:
    """Every page the bot wrote: readable by a moderator, not by anyone else."""
    import prawcore

    state = get_json(url + "/dev/state")
    pages = [p for p, d in state["wiki"].items() if d["by"] == "prosocial_bot"]
    assert pages, "the bot wrote no wiki page"
    eve, alice = _client(url, "random_user"), _client(url, "mod_alice")
    for p in pages:
        sub, page = p.split("/", 1)
        for _ in range(30):
            try:
                _ = eve.subreddit(sub).wiki[page].content_md
            except prawcore.Forbidden:
                break
            except prawcore.PrawcoreException:  # an injected fault: ask again
                continue
            raise AssertionError(f"{p} is readable by a non-moderator")
        else:
            raise AssertionError(f"could not read {p}'s permissions")
        assert _retry(lambda s=sub, pg=page: alice.subreddit(s).wiki[pg].content_md)


def _approve_first_proposals(url: str, mod: Any, approvals: dict[int, str]) -> bool:
    """Approve the proposals of the first digest that has any (as moderator mod_alice)."""
    for conv in get_json(url + "/dev/state")["modmail"]:
        body = conv["messages"][0]["body"]
        post = None
        for line in body.splitlines():
            m = re.search(r"/comments/([0-9a-z]+)/\)", line)
            if m and re.match(r"^\d+\. ", line):
                post = "t3_" + m.group(1)
            p = re.search(r"proposal \*\*#(\d+)\*\*", line)
            if p and post:
                approvals[int(p.group(1))] = post
        if approvals:
            ids = " ".join(str(i) for i in sorted(approvals)[:2])
            approvals_kept = {i: approvals[i] for i in sorted(approvals)[:2]}
            approvals.clear()
            approvals.update(approvals_kept)
            sub, cid, text = conv["subreddit"], conv["id"], f"!approve {ids}"
            _retry(lambda s=sub, c=cid, t=text: mod.subreddit(s).modmail(c).reply(body=t))
            return True
    return False


def _check(
    data_dir: Path,
    tmp: Path,
    state: dict[str, Any],
    clock: dict[str, Any],
    start: float,
    end: float,
    approvals: dict[int, str],
    approved: bool,
    fig: dict[str, Any],
) -> dict[str, Any]:
    """Assert against the dump; ``fig`` gets the figures as they are known."""
    dump = _dump(data_dir, start, end)
    humans = [c for c in dump["comments"] if c.get("author") != "AutoModerator"]
    tlcs = {
        c["name"]: c
        for c in humans
        if c["parent_id"] == c["link_id"] and start <= c["created_utc"] < end
    }
    db = sqlite3.connect(tmp / "service.db")
    stored = Counter(n for (n,) in db.execute("SELECT name FROM tlcs"))
    scored = dict(db.execute("SELECT tlc_name, scored_ms FROM scores"))
    in_window = {n for n in stored if n in tlcs}
    # every TLC posted in the window stored and scored exactly once (primary keys), none lost
    missing = set(tlcs) - set(stored)
    fig.update(
        tlcs_in_dump=len(tlcs),
        tlcs_stored=len(in_window),
        tlcs_scored=len(set(tlcs) & set(scored)),
        lost=len(missing),
        requests_per_10min_peak=max(state["requests_by_window"].values()),
        faults=state["faults"],
    )
    assert not missing, (
        f"{len(missing)} of {len(tlcs)} TLCs never stored, e.g. {sorted(missing)[:5]}"
    )
    assert set(tlcs) <= set(scored), "stored TLCs left unscored"
    bus = sqlite3.connect(tmp / "state" / "bus.sqlite")
    published: Counter[str] = Counter()
    for (value,) in bus.execute("SELECT value FROM log WHERE topic='reddit.comments'"):
        v = json.loads(value)
        if v["parent_id"] == v["link_id"]:
            published[v["name"]] += 1
    assert all(n in published for n in tlcs)
    # every post's suggestion revised to cover all its scored TLCs
    scored_per_post = dict(
        db.execute(
            "SELECT post_name, COUNT(*) FROM scores WHERE forecast IS NOT NULL GROUP BY post_name"
        )
    )
    latest = dict(db.execute("SELECT post_name, MAX(revision) FROM suggestions GROUP BY post_name"))
    stale = {p for p, n in scored_per_post.items() if latest.get(p) != n}
    assert not stale, f"{len(stale)} posts' suggestions not revised, e.g. {sorted(stale)[:3]}"
    revised = sum(1 for n in latest.values() if n > 1)
    assert revised > 20
    # back-fill: every TLC older than the horizon, replies cut at the horizon
    outcomes = {
        n: (as_of, k)
        for n, as_of, k in db.execute("SELECT tlc_name, as_of_utc, n_replies FROM outcomes")
    }
    due = {n for n, c in tlcs.items() if c["created_utc"] + HORIZON_S <= end + 1.5 * 3600}
    not_backfilled = due - set(outcomes)
    fig.update(tlcs_due_for_backfill=len(due), tlcs_backfilled=len(due & set(outcomes)))
    assert not not_backfilled, f"{len(not_backfilled)} of {len(due)} due TLCs not back-filled"
    replies = _subtree_times(humans + [c for c in dump["comments"] if c not in humans])
    for n in due:
        as_of, k = outcomes[n]
        created = int(tlcs[n]["created_utc"])
        assert as_of == created + HORIZON_S
        times = replies.get(n, [])
        upper = sum(1 for t in times if t <= as_of)
        lower = sum(1 for t in times if t <= as_of - 600)  # surely visible at the fetch
        assert lower <= k <= upper, (n, k, lower, upper)
    later = sum(1 for n in due if any(t > outcomes[n][0] for t in replies.get(n, [])))
    fig["backfills_with_later_replies_cut"] = later
    assert later >= 3  # there were later replies to cut (rare after 48 h in this data)
    # modmail: each delivery key in exactly one conversation, though POSTs were answered late
    keys: Counter[str] = Counter()
    sent_at: dict[str, float] = {}
    for conv in state["modmail"]:
        m = MARK.search(conv["messages"][0]["body"])
        if m:
            keys[m.group(1)] += 1
            sent_at[m.group(1)] = datetime.fromisoformat(conv["messages"][0]["date"]).timestamp()
    dupes = {k: n for k, n in keys.items() if n > 1}
    fig.update(modmail_keys=len(keys), duplicate_modmail=len(dupes))
    assert not dupes, f"modmail sent twice: {dupes}"
    digests = [k for k in keys if k.startswith("digest:")]
    alerts = [k for k in keys if k.startswith("alert:")]
    assert len(digests) >= len(SUBS) * (DAYS * 2 - 2)  # every 12 h once there are suggestions
    assert state["late_posts"] > 0  # some POSTs were performed but answered too late
    assert alerts, "no seeker alert"
    for k in alerts:
        tlc = k.split(":", 1)[1]
        assert sent_at[k] - int(tlcs.get(tlc, {"created_utc": 0})["created_utc"]) >= 2 * 3600
    # no action without approval: every moderator action targets an approved proposal's post
    assert approved, "no digest with proposals to approve"
    bot_comments = {c["name"]: c for c in state["bot_comments"]}
    acted = set()
    for a in state["mod_actions"]:
        assert a["by"] == "prosocial_bot"
        target = a["id"]
        post = bot_comments[target]["link_id"] if target in bot_comments else target
        acted.add(post)
    assert acted and acted <= set(approvals.values()), (acted, approvals)
    per_post = Counter(c["link_id"] for c in bot_comments.values())
    assert all(n == 1 for n in per_post.values()), per_post
    assert all(c["stickied"] and c["distinguished"] for c in bot_comments.values())
    # no page the bot wrote is readable by non-moderators
    pages = [p for p, d in state["wiki"].items() if d["by"] == "prosocial_bot"]
    assert pages
    for p in pages:
        assert state["wiki_settings"][p] == {"permlevel": 2, "listed": False, "editors": []}
    # figures
    to_sim = lambda ms: clock["base"] + (ms / 1000 - clock["wall0"]) * clock["speed"]
    score_delay = [to_sim(scored[n]) - tlcs[n]["created_utc"] for n in tlcs if n in scored]
    alert_delay = [
        sent_at[k] - tlcs[k.split(":", 1)[1]]["created_utc"]
        for k in alerts
        if k.split(":", 1)[1] in tlcs
    ]
    windows = state["requests_by_window"]
    return {
        "window_utc": [start, end],
        "tlcs_in_dump": len(tlcs),
        "tlcs_stored": len(in_window),
        "tlcs_scored": len(set(tlcs) & set(scored)),
        "tlcs_due_for_backfill": len(due),
        "tlcs_backfilled": len(due & set(outcomes)),
        "backfills_with_later_replies_cut": later,
        "tlcs_published_more_than_once": sum(1 for n in tlcs if published[n] > 1),
        "duplicate_rows": sum(n - 1 for n in stored.values() if n > 1),
        "lost": len(missing),
        "posts_with_revised_suggestions": revised,
        "digests": len(digests),
        "alerts": len(alerts),
        "duplicate_modmail": len(dupes),
        "late_answered_posts": state["late_posts"],
        "faults": state["faults"],
        "requests": state["requests"],
        "requests_per_10min_peak": max(windows.values()),
        "rate_budget_per_10min": 600,
        "p95_tlc_to_score_s": round(float(np.percentile(score_delay, 95)), 1),
        "p50_tlc_to_score_s": round(float(np.percentile(score_delay, 50)), 1),
        "p95_seeker_to_alert_s": round(float(np.percentile(alert_delay, 95)), 1)
        if alert_delay
        else None,
        "mod_actions": len(state["mod_actions"]),
        "private_pages": len(pages),
    }
