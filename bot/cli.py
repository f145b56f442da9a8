"""``prosocial bot ...``: the moderator-facing bot (check, ingest, digest, approvals, dev tools).

Everything that writes to Reddit is dry-run unless ``--send`` is given; subreddit settings
(``dry_run`` for actions) come from each subreddit's wiki page.
"""

from __future__ import annotations

import argparse
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
    "run_ingest",
    "run_simulate",
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
    p = sub.add_parser("bot", help="the Reddit bot: check, ingest, digest, approvals, dev tools")
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
    q = bsub.add_parser("ingest", help="stream new posts/comments to the bus (with sweeps)")
    common(q)
    q.add_argument("--sweep-every", type=float, default=600, help="seconds between sweeps")
    q.add_argument(
        "--poll-every",
        type=float,
        default=10,
        help="seconds between stream rounds (2 kinds x >=1 request each)",
    )
    q.add_argument("--skip-authors", default="", help="extra bot accounts to skip")
    q.set_defaults(func=run_ingest)
    q = bsub.add_parser("digest", help="send due modmail digests (and the wiki page)")
    common(q, send=True)
    q.add_argument("--force", action="store_true", help="ignore the digest schedule")
    q.set_defaults(func=run_digest)
    q = bsub.add_parser("approvals", help="read !approve replies, run approved actions")
    common(q, send=True)
    q.add_argument(
        "--expire-hours",
        type=float,
        default=72.0,
        help="proposals unanswered this long expire (kept as feedback labels; default 72)",
    )
    q.set_defaults(func=run_approvals)
    q = bsub.add_parser(
        "backfill",
        help="run the back-fill stage with threads fetched "
        "from the Reddit API at each TLC's horizon",
    )
    common(q)
    q.add_argument(
        "--request-budget",
        type=int,
        default=400,
        help="API requests allowed per thread fetch (replace_more)",
    )
    q.set_defaults(func=run_backfill)
    q = bsub.add_parser("simulate", help="a simulated day against the dev server (figures)")
    q.add_argument("--data", help="reddit-college directory (default: data dir)")
    q.add_argument("--subreddits", default="GradSchool,CollegeRant,AskAcademia,College")
    q.add_argument("--day", default="2021-11-11")
    q.add_argument("--hours", type=float, default=24)
    q.add_argument("--fault-rate", type=float, default=0.1)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=run_simulate)
    q = bsub.add_parser("devserver", help="serve real threads as a local Reddit API")
    q.add_argument("--data", help="reddit-college directory (default: data dir)")
    q.add_argument("--subreddits", default="GradSchool,College")
    q.add_argument("--day", default="2021-11-11")
    q.add_argument("--port", type=int, default=8765)
    q.add_argument("--speed", type=float, default=60, help="simulated seconds per second")
    q.add_argument("--fault-rate", type=float, default=0.0)
    q.set_defaults(func=run_devserver)


def _reddit(args: argparse.Namespace, budget: Any = None) -> Any:
    from bot.reddit import ClientSettings, make_reddit

    settings = ClientSettings.from_env()
    if args.site:
        settings = ClientSettings(
            site=args.site,
            user_agent=settings.user_agent,
            oauth_url=settings.oauth_url,
            reddit_url=settings.reddit_url,
        )
    return make_reddit(settings, budget)


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


def run_ingest(args: argparse.Namespace) -> int:
    from bot.ingest import RedditIngest
    from bot.permissions import check_permissions
    from bot.ratelimit import RateBudget
    from bot.seen import SeenStore
    from streaming.runtime import StopFlag, make_bus
    from streaming.settings import load_settings

    budget = RateBudget()
    reddit = _reddit(args, budget)
    for r in check_permissions(reddit, _subs(args.subreddits)):
        if not r.ok:
            print(f"warning: {r.explain()}", file=sys.stderr)
    bus = make_bus(load_settings(args.config))
    stop = StopFlag().install()
    ingest = RedditIngest(
        reddit,
        bus,
        SeenStore(_state(args, "seen.sqlite")),
        _subs(args.subreddits),
        sweep_every_s=args.sweep_every,
        bots=[b for b in args.skip_authors.split(",") if b],
        budget=budget,
    )
    stats = ingest.run(stop=stop, idle_s=args.poll_every)
    bus.close()
    _out(args, stats.as_dict(), [f"{k}: {v}" for k, v in stats.as_dict().items()])
    return 0


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

    reddit = _reddit(args)
    me = reddit.user.me().name
    store = ApprovalStore(_state(args, "approvals.sqlite"))
    delivery = ModeratorDelivery(reddit, store, me, send=args.send)
    loader = ConfigLoader(
        reddit, ConfigStore(_state(args, "config.sqlite")), notify=delivery.notify
    )
    return reddit, me, delivery, loader


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
    from bot.approvals import ApprovalService
    from bot.modmail_commands import ModmailCommandReader
    from bot.permissions import check_permissions

    reddit, me, delivery, loader = _delivery_parts(args)
    subs = _usable(reddit, me, _subs(args.subreddits), "mail")
    can_act = set(_usable(reddit, me, subs, "posts")) if subs else set()

    def may_approve(sub: str, user: str) -> bool:
        cfg = loader.load(sub).config
        if cfg.approvers:
            return user.lower() in {a.lower() for a in cfg.approvers}
        return check_permissions(reddit, [sub], needed=("posts",), username=user)[0].ok

    from streaming.settings import load_settings
    from streaming.storage import open_database

    _, sessions = open_database(load_settings(args.config).database_url)
    service = ApprovalService(
        delivery.store, may_approve, delivery.clock, on_decision=feedback_hook(sessions)
    )
    service.expire(args.expire_hours * 3600)
    reader = ModmailCommandReader(reddit, service, me, send=args.send)
    executor = ActionExecutor(reddit, delivery.store)
    out = {}
    for s in subs:
        decided = reader.poll(s)
        dry = loader.load(s).config.dry_run or not args.send or s not in can_act
        done = executor.run_approved(s, dry_run=dry)
        out[s] = {"decisions": decided, "actions": [(p.action, p.target, o) for p, o in done]}
    _out(args, out, [f"r/{s}: {v}" for s, v in out.items()])
    return 0


def feedback_hook(sessions: Any) -> Any:
    """``on_decision`` for :class:`bot.approvals.ApprovalService`: store the answer as a label."""
    from streaming.feedback import FeedbackRecorder

    recorder = FeedbackRecorder(sessions)

    def hook(p: Any, decision: str, moderator: str | None, now: float) -> None:
        recorder.record(
            subreddit=p.subreddit,
            proposal_id=p.id,
            action=p.action,
            target=p.target,
            params=p.params,
            decision=decision,
            moderator=moderator,
            proposed_utc=p.created_at,
            decided_utc=now,
        )

    return hook


def run_simulate(args: argparse.Namespace) -> int:
    import tempfile

    from bot.devserver.simday import run_simulated_day
    from models.paths import resolve_data_dir
    from streaming.bus.embedded import EmbeddedBus

    data = Path(args.data) if args.data else resolve_data_dir(None) / "reddit-college"
    with tempfile.TemporaryDirectory() as d:
        fig = run_simulated_day(
            data,
            [s.strip() for s in args.subreddits.split(",")],
            args.day,
            EmbeddedBus(),
            hours=args.hours,
            fault_rate=args.fault_rate,
            workdir=d,
        )
    fig.pop("mod_actions", None)
    _out(args, fig, [f"{k}: {v}" for k, v in fig.items()])
    return 0


def run_devserver(args: argparse.Namespace) -> int:
    import threading
    from datetime import datetime

    from bot.devserver import DevRedditServer, FaultPlan, load_world
    from models.paths import resolve_data_dir
    from streaming.runtime import StopFlag

    data = Path(args.data) if args.data else resolve_data_dir(None) / "reddit-college"
    start = datetime.fromisoformat(args.day).replace(tzinfo=UTC).timestamp()
    world = load_world(data, args.subreddits.split(","), start, start + 86400)
    stop = StopFlag().install()
    with DevRedditServer(world, FaultPlan(rate=args.fault_rate), port=args.port) as srv:
        print(
            f"dev Reddit API at {srv.url} (set PROSOCIAL_REDDIT_OAUTH_URL and "
            f"PROSOCIAL_REDDIT_URL to it); Ctrl-C to stop",
            file=sys.stderr,
        )
        while not stop():
            threading.Event().wait(1.0)
            world.advance(args.speed)
    return 0


def run_backfill(args: argparse.Namespace) -> int:
    """The live back-fill: the stream's back-fill stage over :class:`ApiThreadFetcher`."""
    from bot.source import ApiThreadFetcher
    from bot.threads import RedditThreadFetcher
    from streaming.runtime import StopFlag, assemble, run_stage, start_ops
    from streaming.settings import load_settings

    settings = load_settings(args.config, stages=("backfill",))
    fetcher = ApiThreadFetcher(
        RedditThreadFetcher(_reddit(args), request_budget=args.request_budget)
    )
    p = assemble(settings, fetcher=fetcher)
    ops = start_ops(p)
    stop = StopFlag().install()
    try:
        run_stage(p, "backfill", stop)
    finally:
        p.bus.close()
        if ops is not None:
            ops.stop()
    return 0
