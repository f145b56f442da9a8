"""The Reddit-side chaos scenarios: the live service (:mod:`tests.chaos.live_proc`: reader,
stages, back-fill through the API, modmail digests, seeker alerts, wiki pages, approvals and
approved actions) against the dev server process (``prosocial bot devserver``) serving real
threads of reddit-college, while the API fails.

* ``reddit_api_down_10min`` — for 10 simulated minutes every request fails: 503, 500, a timeout
  (not performed), or a late answer (performed, the answer lost after the client gave up); the
  first POSTs of the outage — the period's digests, sent as it starts — are all performed late.
* ``wiki_write_fails_after_modmail`` — the wiki is down for 20 minutes from the start of a
  digest period: the digest's modmail goes out, its page must follow once the wiki is back, and
  the modmail must not go out again.

The figures come from the dev server's own record (``GET /dev/state``), the world it serves and
the bot's and service's databases: ``duplicate_side_effects`` counts every delivery key found
in more than one modmail message or wiki revision, a second highlights comment on a post and a
moderator action repeated; ``lost`` counts posts/TLCs of the window not stored or not scored,
TLCs due for back-fill without outcome, deliveries begun and never finished, approved actions
not performed and the fault period's digest channels not delivered; ``recovered_s`` is the wall
time from the fault's end until all of that is delivered.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.paths import default_data_dir
from tests.bot.support import live_wiki_config

__all__ = ["RedditFaults", "run_reddit"]

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
SUBS = ("GradSchool", "College", "AskAcademia")
START = "2021-11-11T00:30:00"  # the digest period of 00:00 is empty: the bot starts then
FAULT_AT_H = 1.5  # 02:00 UTC, the start of a digest period (digests every hour)
HORIZON_S = 3600  # back-fills of TLCs posted 01:00-01:10 fall due in the fault
MARK = re.compile(r"\[\]\(#prosocial:([^)]+)\)")
WIKI_CONFIG = live_wiki_config(
    digest_every_hours=1, min_rank_distance=0.05, min_tlcs=2, unanswered_hours=0.5
)


@dataclass
class RedditFaults:
    """What fails, in minutes of simulated time from ``FAULT_AT_H``."""

    name: str
    api_down_min: float = 0.0  # every request fails (kinds below)
    api_kinds: str = "503,500,timeout,late"
    late_posts: int = 3  # the outage's first POSTs: performed, the answer lost
    wiki_down_min: float = 0.0  # every wiki request answers 503
    notes: dict[str, Any] = field(default_factory=dict)

    def args(self) -> list[str]:
        out: list[str] = []
        if self.api_down_min:
            out += ["--outage-at", str(FAULT_AT_H), "--outage-hours", str(self.api_down_min / 60)]
            out += ["--outage-kinds", self.api_kinds]
            out += ["--outage-late-posts", str(self.late_posts)]
        if self.wiki_down_min:
            out += ["--wiki-outage-at", str(FAULT_AT_H)]
            out += ["--wiki-outage-hours", str(self.wiki_down_min / 60)]
        return out

    @property
    def minutes(self) -> float:
        return max(self.api_down_min, self.wiki_down_min)


def _get(url: str, path: str) -> Any:
    with urllib.request.urlopen(url + path, timeout=30) as r:
        return json.loads(r.read())


def _post(url: str, path: str) -> Any:
    req = urllib.request.Request(url + path, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _wait_for(log: Path, text: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        if log.exists() and text in log.read_text(errors="replace"):
            return
        time.sleep(0.3)
    raise TimeoutError(f"{text!r} not seen in {log} after {timeout_s}s")


def _moderator(url: str) -> Any:
    from bot.reddit import ClientSettings, make_reddit

    return make_reddit(
        ClientSettings(
            oauth_url=url,
            reddit_url=url,
            extra={
                "client_id": "m",
                "client_secret": "m",
                "username": "mod_alice",
                "password": "m",
            },
        )
    )


def _approve(url: str, mod: Any) -> list[int]:
    """As u/mod_alice, approve the first two proposals of the latest digest that has any."""
    for conv in reversed(_get(url, "/dev/state")["modmail"]):
        ids = [int(i) for i in re.findall(r"proposal \*\*#(\d+)\*\*", conv["messages"][0]["body"])]
        if ids:
            text = "!approve " + " ".join(str(i) for i in ids[:2])
            mod.subreddit(conv["subreddit"]).modmail(conv["id"]).reply(body=text)
            return ids[:2]
    return []


class _Bot:
    """The bot's and the service's state (read-only views of their SQLite files)."""

    def __init__(self, state: Path) -> None:
        self.state = state

    def _q(self, file: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        path = self.state / file
        if not path.exists():
            return []
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.OperationalError:  # a table not created yet
            return []
        finally:
            db.close()

    def deliveries(self) -> dict[str, str]:
        return dict(self._q("approvals.sqlite", "SELECT key, status FROM deliveries"))

    def proposals(self, ids: list[int]) -> dict[int, tuple[str, str | None]]:
        rows = self._q("approvals.sqlite", "SELECT id, status, result FROM proposals")
        return {i: (s, r) for i, s, r in rows if i in ids}

    def backfilled_between(self, a: float, b: float) -> int:
        """TLCs whose back-fill fell due in ``[a, b)`` and that have their outcome."""
        rows = self._q(
            "service.db",
            "SELECT COUNT(*) FROM tlcs JOIN outcomes ON outcomes.tlc_name = tlcs.name "
            "WHERE tlcs.created_utc + ? >= ? AND tlcs.created_utc + ? < ?",
            HORIZON_S,
            a,
            HORIZON_S,
            b,
        )
        return int(rows[0][0]) if rows else 0

    def due_without_outcome(self, due_by: float) -> set[str]:
        due = self._q(
            "service.db", "SELECT name FROM tlcs WHERE created_utc + ? <= ?", HORIZON_S, due_by
        )
        done = {n for (n,) in self._q("service.db", "SELECT tlc_name FROM outcomes")}
        return {n for (n,) in due} - done


def _undelivered(
    bot: _Bot, slot_keys: list[str], approved: list[int], due_by: float
) -> dict[str, int]:
    d = bot.deliveries()
    props = bot.proposals(approved)
    return {
        "deliveries_unfinished": sum(1 for s in d.values() if s != "sent"),
        "fault_period_digest_channels": sum(1 for k in slot_keys if d.get(k) != "sent"),
        "approved_actions_not_done": sum(
            1
            for s, r in props.values()
            if s in ("approved", "executing") or (s == "failed" and str(r).startswith("error"))
        ),
        "backfills_missing": len(bot.due_without_outcome(due_by)),
    }


def _side_effects(state: dict[str, Any]) -> dict[str, int]:
    """Side effects performed more than once, from the dev server's record."""
    mail: Counter[str] = Counter()
    for conv in state["modmail"]:
        for m in conv["messages"]:
            mail.update(MARK.findall(m["body"]))
    wiki: Counter[str] = Counter()
    for revs in state["wiki_revisions"].values():
        for r in revs:
            if r["by"] == "prosocial_bot":
                wiki.update(set(MARK.findall(r["content"])))
    comments = Counter(c["link_id"] for c in state["bot_comments"])
    actions = Counter(
        (a["action"], a["id"], json.dumps(a["form"], sort_keys=True)) for a in state["mod_actions"]
    )
    return {
        "modmail": sum(n - 1 for n in mail.values() if n > 1),
        "wiki": sum(n - 1 for n in wiki.values() if n > 1),
        "comments": sum(n - 1 for n in comments.values() if n > 1),
        "actions": sum(n - 1 for n in actions.values() if n > 1),
        "modmail_keys": len(mail),
        "wiki_keys": len(wiki),
        "mod_actions": len(state["mod_actions"]),
    }


def _fault_period(
    state: dict[str, Any], subs: tuple[str, ...], slot: int, fault_at: float
) -> dict[str, Any]:
    """Per subreddit: the fault period's digest modmail(s) and page write(s), in simulated
    minutes after the fault's start."""
    out: dict[str, Any] = {}
    for sub in subs:
        dkey, wkey = f"digest:{sub.lower()}:{slot}", f"wiki:{sub.lower()}:{slot}"
        mails = [
            datetime.fromisoformat(m["date"]).timestamp()
            for conv in state["modmail"]
            for m in conv["messages"]
            if dkey in MARK.findall(m["body"])
        ]
        pages = [
            r["at"]
            for revs in state["wiki_revisions"].values()
            for r in revs
            if wkey in MARK.findall(r["content"])
        ]
        out[sub] = {
            "modmail_min": [round((t - fault_at) / 60, 1) for t in sorted(mails)],
            "page_min": [round((t - fault_at) / 60, 1) for t in sorted(pages)],
        }
    return out


def _expected(data: Path, subs: tuple[str, ...], start: float, end: float, until: float) -> Any:
    """Posts and human TLCs created in ``[start, until]`` that the dev server shows by then."""
    from bot.devserver import load_world
    from tests.chaos.world import World

    world = load_world(data, subs, start, end)
    posts = {n for n in world.present("t3", until=until) if world.items[n].created >= start}
    tlcs = {
        n: world.items[n].data["link_id"]
        for n in world.present("t1", tlc_only=True, until=until, since=start)
    }
    return World(data, posts, tlcs, events=len(posts) + len(tlcs))


def run_reddit(
    tmp: Path,
    faults: RedditFaults,
    *,
    speed: float = 60.0,
    after_min: float = 20.0,
    subs: tuple[str, ...] = SUBS,
    timeout_s: float = 420.0,
) -> dict[str, Any]:
    """Run one scenario; the figures as :mod:`tests.chaos.scenarios` returns them."""
    from streaming.storage import open_database
    from tests.chaos.world import audit

    work = tmp / f"reddit-{faults.name}"
    work.mkdir(parents=True, exist_ok=True)
    data = default_data_dir() / "reddit-college"
    py = os.pathsep.join([str(ROOT), str(ROOT / "training"), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=py)
    config = work / "wiki.yaml"
    config.write_text(WIKI_CONFIG)
    days = (FAULT_AT_H * 60 + faults.minutes + after_min + 60) / 1440
    ds_err = work / "devserver.err"
    ds = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streaming.cli",
            "bot",
            "devserver",
            "--data",
            str(data),
            "--subreddits",
            ",".join(subs),
            "--day",
            START,
            "--days",
            f"{days:.4f}",
            "--port",
            "0",
            "--speed",
            str(speed),
            "--seed",
            "3",
            "--timeout-delay",
            "1.5",  # the client gives up after 1 s: a timeout is a real one
            "--paused",
            *faults.args(),
            *[a for s in subs for a in ("--wiki", f"{s}={config}")],
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=ds_err.open("wb"),
    )
    procs: list[subprocess.Popen[bytes]] = [ds]
    state_dir = work / "state"
    live_err = work / "live.err"
    try:
        assert ds.stdout is not None
        info = json.loads(ds.stdout.readline())
        url, start = info["url"], float(info["start"])
        end = start + days * 86400
        live = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.chaos.live_proc",
                url,
                str(state_dir),
                ",".join(subs),
                "--horizon-s",
                str(HORIZON_S),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=live_err.open("wb"),
        )
        procs.append(live)
        _wait_for(live_err, "live: r/", live, 300)
        fault_at = start + FAULT_AT_H * 3600
        fault_end = fault_at + faults.minutes * 60
        slot = int(fault_at // 3600)
        slot_keys = [f"{k}:{s.lower()}:{slot}" for s in subs for k in ("digest", "wiki")]
        bot = _Bot(state_dir)
        mod = _moderator(url)
        approved: list[int] = []
        _post(url, "/dev/clock/start")
        t_end: float | None = None
        recovered: float | None = None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            now = _get(url, "/dev/clock")["now"]
            if live.poll() is not None:
                raise RuntimeError(f"the live service exited:\n{live_err.read_text()[-3000:]}")
            if not approved and fault_at - 600 <= now < fault_at - 60:
                approved = _approve(url, mod)
            if now >= fault_end and t_end is None:
                t_end = time.monotonic()
            if t_end is not None and recovered is None:
                left = _undelivered(bot, slot_keys, approved, fault_end)
                if not any(left.values()):
                    recovered = time.monotonic() - t_end
                    logger.info(
                        "%s: everything due delivered %.1fs after the fault", faults.name, recovered
                    )
            if recovered is not None and now >= fault_end + after_min * 60:
                break
            time.sleep(0.5)
        until = _get(url, "/dev/clock")["now"]
        live.send_signal(signal.SIGTERM)
        code = live.wait(120)
        state = _get(url, "/dev/state")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    (work / "devserver-state.json").write_text(json.dumps(state))
    left = _undelivered(bot, slot_keys, approved, until - 600)
    world = _expected(data, subs, start, end, until - 1200)
    _, sessions = open_database(f"sqlite:///{state_dir / 'service.db'}")
    fig = audit(sessions, world, outcomes=False)
    side = _side_effects(state)
    dup = side["modmail"] + side["wiki"] + side["comments"] + side["actions"]
    return {
        "name": faults.name,
        "events": world.events,
        "lost": fig["lost"] + sum(left.values()),
        "duplicated_rows": fig["duplicated_rows"],
        "duplicate_side_effects": dup,
        "dead_lettered_valid": fig["dead_lettered_valid"],
        "recovered_s": float("nan") if recovered is None else round(recovered, 2),
        "fault": {
            "api_down_min": faults.api_down_min,
            "api_kinds": faults.api_kinds if faults.api_down_min else None,
            "wiki_down_min": faults.wiki_down_min,
            "at_utc": datetime.fromtimestamp(fault_at, UTC).isoformat(),
            "speed": speed,
        },
        "faults_injected": state["faults"],
        "late_answered_posts": state["late_posts"],
        "post_faults": state["post_faults"],
        "undelivered_at_end": left,
        "side_effects": side,
        "fault_period_digests": _fault_period(state, subs, slot, fault_at),
        "approved_actions": len(approved),
        "backfills_due_in_fault": bot.backfilled_between(fault_at, fault_end),
        "requests": state["requests"],
        "exit_code": code,
        **faults.notes,
    }
