"""``prosocial bot ...``: one-shot admin commands (check, digest, approvals) and the dev server.

The live service is ``prosocial live``; these commands use praw for a single run. Everything
that writes to Reddit is dry-run unless ``--send`` is given; subreddit settings (``dry_run`` for
actions) come from each subreddit's wiki page.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

__all__ = [
    "register",
    "run_approvals",
    "run_check",
    "run_devserver",
    "run_digest",
    "run_privacy",
]

logger = logging.getLogger(__name__)


def _subs(value: str | None) -> list[str]:
    raw = value or os.environ.get("PROSOCIAL_BOT_SUBREDDITS", "")
    subs = [s.strip().removeprefix("r/") for s in raw.split(",") if s.strip()]
    if not subs:
        raise SystemExit("no subreddits: pass --subreddits a,b or set PROSOCIAL_BOT_SUBREDDITS")
    return subs


def _out(args: argparse.Namespace, obj: dict[str, Any], lines: list[str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(obj, default=str))
    else:
        print("\n".join(lines))


def register(sub: Any) -> None:
    p = sub.add_parser("bot", help="one-shot bot commands (check, digest, approvals), dev server")
    bsub = p.add_subparsers(dest="bot_command", required=True)

    def common(q: argparse.ArgumentParser, send: bool = False) -> None:
        q.add_argument("--subreddits", help="comma-separated (env PROSOCIAL_BOT_SUBREDDITS)")
        q.add_argument("--site", help="praw.ini site with the bot's credentials")
        q.add_argument("--config", help="service settings YAML (bus, database)")
        q.add_argument("--state-dir", default="var/bot", help="bot state (SQLite) directory")
        q.add_argument("--json", action="store_true", help="print one JSON object")
        if send:
            q.add_argument(
                "--send",
                action="store_true",
                help="really write to Reddit (default: dry-run, log only)",
            )

    q = bsub.add_parser("check", help="credentials, moderator permissions, wiki configs")
    common(q)
    q.set_defaults(func=run_check)
    q = bsub.add_parser("digest", help="send due modmail digests (and the wiki page)")
    common(q, send=True)
    q.add_argument("--force", action="store_true", help="ignore the digest schedule")
    q.set_defaults(func=run_digest)
    q = bsub.add_parser("approvals", help="read !approve replies, run approved actions")
    common(q, send=True)
    q.set_defaults(func=run_approvals)
    q = bsub.add_parser(
        "privacy",
        help="deletion re-checks (/api/info) and the retention purge, on a loop (or --once)",
    )
    common(q)
    q.add_argument("--once", action="store_true", help="run both jobs once and exit")
    q.set_defaults(func=run_privacy)
    q = bsub.add_parser("devserver", help="serve real threads as a local Reddit API")
    q.add_argument("--data", help="reddit-college directory (default: data dir)")
    q.add_argument("--subreddits", default="GradSchool,College")
    q.add_argument("--day", default="2021-11-11", help="first simulated day (UTC)")
    q.add_argument("--days", type=float, default=1, help="simulated days to serve")
    q.add_argument("--port", type=int, default=8765, help="0 = any free port (printed)")
    q.add_argument("--speed", type=float, default=60, help="simulated seconds per second")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument(
        "--paused", action="store_true", help="hold the clock until POST /dev/clock/start"
    )
    q.add_argument(
        "--wiki",
        action="append",
        default=[],
        metavar="SUB=FILE",
        help="seed r/SUB/wiki/prosocial with this YAML file (repeatable)",
    )
    faults = q.add_argument_group("faults, deletions and outages")
    faults.add_argument("--fault-rate", type=float, default=0.0, help="share of requests failed")
    faults.add_argument(
        "--delete-rate",
        type=float,
        default=0.0,
        help="share of items deleted or removed after they became visible (GET /dev/deletions)",
    )
    faults.add_argument(
        "--outage-at", type=float, help="hours after the start when the API goes down"
    )
    faults.add_argument("--outage-hours", type=float, default=2.0)
    faults.add_argument(
        "--outage-kinds",
        default="503",
        help="how requests fail during the outage, drawn per request from: "
        "503,500,timeout,late (late: performed, the answer lost)",
    )
    faults.add_argument(
        "--outage-late-posts",
        type=int,
        default=0,
        help="the first N POSTs in the outage are performed, their answer lost",
    )
    faults.add_argument(
        "--timeout-delay", type=float, default=0.3, help="wall seconds a timed-out request waits"
    )
    faults.add_argument("--wiki-outage-at", type=float, help="hours after the start: wiki down")
    faults.add_argument("--wiki-outage-hours", type=float, default=1.0)
    q.set_defaults(func=run_devserver)


def _reddit(args: argparse.Namespace, budget: Any = None, retries: bool = True) -> Any:
    from bot.reddit import ClientSettings, make_reddit

    return make_reddit(ClientSettings.from_env(site=args.site), budget, retries=retries)


def _state(args: argparse.Namespace, name: str) -> str:
    d = Path(args.state_dir)
    d.mkdir(parents=True, exist_ok=True)
    return str(d / name)


def run_check(args: argparse.Namespace) -> int:
    from bot.config import ConfigLoader, ConfigStore
    from bot.errors import CredentialsError
    from bot.permissions import check_permissions

    subs = _subs(args.subreddits)
    try:
        reddit = _reddit(args)
        me = reddit.user.me()
    except CredentialsError as exc:
        _out(args, {"ok": False, "error": str(exc)}, [f"credentials: {exc}"])
        return 2
    perms = check_permissions(reddit, subs, username=me.name)
    loader = ConfigLoader(reddit, ConfigStore(_state(args, "config.sqlite")))
    configs = {s: loader.load(s) for s in subs}
    ok = all(p.ok for p in perms)
    _out(
        args,
        {
            "ok": ok,
            "user": me.name,
            "permissions": {
                p.subreddit: {"ok": p.ok, "missing": p.missing, "error": p.error} for p in perms
            },
            "config": {
                s: {"source": c.source, "error": c.error, "dry_run": c.config.dry_run}
                for s, c in configs.items()
            },
        },
        [f"logged in as u/{me.name}"]
        + [p.explain() for p in perms]
        + [
            f"r/{s}: config from {c.source}" + (f" ({c.error})" if c.error else "")
            for s, c in configs.items()
        ],
    )
    return 0 if ok else 1


def _usable(reddit: Any, me: str, subs: list[str], need: str) -> list[str]:
    """The subreddits where the bot moderates with ``need`` (says what is missing)."""
    from bot.permissions import check_permissions

    ok = []
    for r in check_permissions(reddit, subs, username=me):
        if r.moderator and need not in r.missing and r.error is None:
            ok.append(r.subreddit)
        else:
            print(f"skipping: {r.explain()}", file=sys.stderr)
    return ok


def _delivery_parts(args: argparse.Namespace) -> tuple[Any, Any, Any, Any]:
    from bot.approvals import ApprovalStore
    from bot.config import ConfigLoader, ConfigStore
    from bot.delivery import ModeratorDelivery

    reddit = _reddit(args, retries=False)  # writes: retried only after checking
    me = reddit.user.me().name
    store = ApprovalStore(_state(args, "approvals.sqlite"), on_decision=_feedback(args))
    delivery = ModeratorDelivery(reddit, store, me, send=args.send)
    loader = ConfigLoader(
        reddit, ConfigStore(_state(args, "config.sqlite")), notify=delivery.notify
    )
    return reddit, me, delivery, loader


def _feedback(args: argparse.Namespace) -> Any:
    from streaming.feedback import FeedbackRecorder
    from streaming.settings import load_settings
    from streaming.storage import open_database

    _, sessions = open_database(load_settings(args.config).database_url)
    return FeedbackRecorder(sessions).on_decision


def run_digest(args: argparse.Namespace) -> int:
    from bot.seen import SeenStore
    from bot.stored_suggestions import StoredSuggestionSource
    from streaming.settings import load_settings
    from streaming.storage import open_database

    _, sessions = open_database(load_settings(args.config).database_url)
    seen = SeenStore(_state(args, "seen.sqlite"))
    source = StoredSuggestionSource(sessions, has_supportive_reply=seen.has_reply)
    reddit, me, delivery, loader = _delivery_parts(args)
    out: dict[str, Any] = {}
    for s in _usable(reddit, me, _subs(args.subreddits), "mail"):
        cfg = loader.load(s)
        r = delivery.deliver_digest(s, cfg.config, source, force=args.force)
        out[s] = {
            "config": cfg.source,
            "posts": len(r.digest.posts) if r.digest else None,
            "sent": r.sent,
            "conversation": r.conversation,
        }
    _out(args, {"digests": out, "dry_run": not args.send}, [f"r/{s}: {v}" for s, v in out.items()])
    return 0


def run_approvals(args: argparse.Namespace) -> int:
    from bot.actions import ActionExecutor
    from bot.approval_service import ApproverCheck
    from bot.approvals import ApprovalService
    from bot.modmail_commands import ModmailCommandReader

    reddit, me, delivery, loader = _delivery_parts(args)
    subs = _usable(reddit, me, _subs(args.subreddits), "mail")
    can_act = set(_usable(reddit, me, subs, "posts")) if subs else set()

    may_approve = ApproverCheck(reddit, loader)  # the dashboard checks the same
    service = ApprovalService(delivery.store, may_approve, delivery.clock)
    reader = ModmailCommandReader(reddit, service, me, send=args.send)
    executor = ActionExecutor(reddit, delivery.store, bot_username=me)
    out = {}
    for s in subs:
        decided = reader.poll(s)
        dry = loader.load(s).config.dry_run or not args.send or s not in can_act
        done = executor.run_approved(s, dry_run=dry)
        out[s] = {"decisions": decided, "actions": [(p.action, p.target, o) for p, o in done]}
    _out(args, out, [f"r/{s}: {v}" for s, v in out.items()])
    return 0


def run_devserver(args: argparse.Namespace) -> int:
    import threading
    from datetime import datetime

    from bot.devserver import DevRedditServer, FaultPlan, load_world
    from models.paths import resolve_data_dir
    from streaming.runtime import StopFlag

    data = Path(args.data) if args.data else resolve_data_dir(None) / "reddit-college"
    start = datetime.fromisoformat(args.day).replace(tzinfo=UTC).timestamp()
    world = load_world(data, args.subreddits.split(","), start, start + args.days * 86400)
    if args.delete_rate:
        from bot.devserver.deletions import DeletionPlan

        DeletionPlan(args.delete_rate, seed=args.seed).attach(world)
    faults = FaultPlan(
        rate=args.fault_rate,
        seed=args.seed,
        outage_kinds=tuple(args.outage_kinds.split(",")),
        timeout_delay_s=args.timeout_delay,
        outage_late_posts=args.outage_late_posts,
    )
    if args.outage_at is not None:
        at = start + args.outage_at * 3600
        faults.outages.append((at, at + args.outage_hours * 3600))
    if args.wiki_outage_at is not None:  # every wiki request (pages, settings, edits) fails
        at = start + args.wiki_outage_at * 3600
        faults.path_outages.append((r"/wiki/", at, at + args.wiki_outage_hours * 3600))
    stop = StopFlag().install()
    with DevRedditServer(world, faults, port=args.port) as srv:
        for spec in args.wiki:
            sub, _, file = spec.partition("=")
            srv.api.set_wiki(sub, "prosocial", Path(file).read_text(), "mod_alice")
        srv.speed = args.speed
        if not args.paused:
            world.run_at(args.speed)
        print(json.dumps({"url": srv.url, **world.clock_info()}), flush=True)
        print(
            f"dev Reddit API at {srv.url} (set PROSOCIAL_REDDIT_OAUTH_URL and "
            f"PROSOCIAL_REDDIT_URL to it); Ctrl-C to stop",
            file=sys.stderr,
        )
        while not stop():
            threading.Event().wait(0.5)
    return 0


def run_privacy(args: argparse.Namespace) -> int:
    """Deletion re-checks and the retention purge (:class:`bot.privacy_jobs.PrivacyJobs`), for
    deployments that run them outside ``prosocial live``."""
    import threading
    import time

    from bot.privacy_jobs import PrivacyJobs
    from streaming.runtime import StopFlag
    from streaming.settings import load_settings
    from streaming.storage import open_database

    settings = load_settings(args.config)
    _, sessions = open_database(settings.database_url)
    jobs = PrivacyJobs.build(_reddit(args), sessions, settings).jobs()
    last = dict.fromkeys((j.name for j in jobs), -1e18)
    stop = StopFlag().install()
    results: dict[str, Any] = {}
    while not stop():
        for job in jobs:
            if time.monotonic() - last[job.name] >= job.every_s:
                last[job.name] = time.monotonic()
                r = job.run()
                results[job.name] = dataclasses.asdict(r) if r is not None else None
        if args.once:
            break
        threading.Event().wait(5.0)
    _out(args, results, [f"{k}: {v}" for k, v in results.items()])
    return 0
