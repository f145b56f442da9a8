"""``prosocial dashboard``: build the app from the settings and serve it with uvicorn."""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bot.dashboard.app import ApprovalDesk, create_app
from bot.dashboard.oauth import RedditOAuth
from bot.dashboard.settings import DashboardSettings, load_dashboard_settings

__all__ = ["DashboardServer", "build_app", "run"]

logger = logging.getLogger(__name__)


def _approvals(settings: DashboardSettings, bot_reddit: Any | None) -> ApprovalDesk | None:
    """The bot's approval store and, with the bot's Reddit client, a decider that checks the
    moderator's permission as the modmail path does and executes an approval at once."""
    from bot.actions import ActionExecutor
    from bot.approval_service import ApproverCheck, Decider
    from bot.approvals import ApprovalStore
    from bot.config import ConfigLoader, ConfigStore

    state = Path(settings.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    store = ApprovalStore(state / "approvals.sqlite")
    if bot_reddit is None:
        return ApprovalDesk(store)
    loader = ConfigLoader(bot_reddit, ConfigStore(state / "config.sqlite"))
    executor = ActionExecutor(bot_reddit, store)

    def execute(p: Any) -> str | None:
        dry = loader.load(p.subreddit).config.dry_run or not settings.send
        return executor.execute(p, dry_run=dry)

    decider = Decider(store, ApproverCheck(bot_reddit, loader), time.time, execute=execute)
    return ApprovalDesk(store, decider)


def build_app(
    settings: DashboardSettings, database_url: str, *, bot_reddit: Any | None = None
) -> Any:
    from streaming.storage import open_database

    _, sessions = open_database(database_url)
    oauth = None
    if settings.client_id and settings.client_secret:
        oauth = RedditOAuth(
            settings.client_id,
            settings.client_secret.get_secret_value(),
            settings.callback_url,
            reddit_url=settings.reddit_url,
            oauth_url=settings.oauth_url,
            user_agent=settings.user_agent,
        )
    secret = settings.session_secret.get_secret_value() if settings.session_secret else None
    if not secret:
        logger.warning("no session_secret: a random one is used, logins end when this stops")
        secret = secrets.token_urlsafe(32)
    seen = Path(settings.state_dir) / "seen.sqlite"
    has_reply = None
    if seen.exists():
        from bot.seen import SeenStore

        has_reply = SeenStore(str(seen)).has_reply
    return create_app(
        settings,
        sessions,
        oauth=oauth,
        secret=secret,
        approvals=_approvals(settings, bot_reddit),
        has_supportive_reply=has_reply,
    )


class DashboardServer:
    """The dashboard under uvicorn in a daemon thread of another process (``prosocial live``):
    ``start()`` returns once it listens, ``stop()`` lets open requests finish."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        import uvicorn

        self.server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="dashboard")

    def start(self, timeout_s: float = 30.0) -> DashboardServer:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the dashboard did not start (port in use?)")
            time.sleep(0.05)
        logger.info("dashboard on http://%s:%d/", self.server.config.host, self.server.config.port)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=timeout_s)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from bot.dashboard.errors import DashboardConfigError
    from streaming.settings import load_settings, read_yaml

    section = (read_yaml(args.config).get("dashboard") or {}) if args.config else {}
    try:
        settings = load_dashboard_settings(
            section,
            host=args.host,
            port=args.port,
            state_dir=args.state_dir,
            demo_user=args.demo_login,
            send=True if args.send else None,
        )
    except DashboardConfigError as exc:
        print(f"prosocial dashboard: {exc}", file=sys.stderr)
        return 2
    service = load_settings(args.config, database_url=args.database_url)
    bot_reddit = None
    if args.site or args.with_bot:
        from bot.reddit import ClientSettings, make_reddit

        cs = ClientSettings.from_env()
        if args.site:
            cs = ClientSettings(
                site=args.site,
                user_agent=cs.user_agent,
                oauth_url=cs.oauth_url,
                reddit_url=cs.reddit_url,
            )
        bot_reddit = make_reddit(cs)
    app = build_app(settings, service.database_url, bot_reddit=bot_reddit)
    if settings.demo_user:
        logger.warning("DEMO LOGIN on: anyone reaching this server is u/%s", settings.demo_user)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0
