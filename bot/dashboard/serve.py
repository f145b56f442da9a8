"""``prosocial dashboard``: build the app from the settings and serve it with uvicorn."""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.dashboard.app import ApprovalDesk, create_app
from bot.dashboard.oauth import RedditOAuth
from bot.dashboard.settings import DashboardSettings, load_dashboard_settings

__all__ = [
    "DashboardServer",
    "approval_desk",
    "build_app",
    "oauth_client",
    "run",
    "serve_beside",
    "session_secret",
]

logger = logging.getLogger(__name__)


def approval_desk(
    store: Any,
    *,
    may_approve: Callable[[str, str], bool] | None = None,
    executor: Any = None,
    loader: Any = None,
    clock: Callable[[], float] = time.time,
    send: bool = False,
    can_act: Callable[[str], bool] = lambda _sub: True,
) -> ApprovalDesk:
    """The approval store and, given the bot's permission check, executor and config loader,
    the :class:`bot.approval_service.Decider` that decides and executes an approval at once
    (performed on Reddit only with ``send``, ``dry_run: false`` in the subreddit's wiki config,
    and the bot able to act there)."""
    from bot.approval_service import Decider

    if may_approve is None or executor is None or loader is None:
        return ApprovalDesk(store)

    def execute(p: Any) -> str | None:
        dry = loader.load(p.subreddit).config.dry_run or not send or not can_act(p.subreddit)
        return executor.execute(p, dry_run=dry, claimed=True)  # claimed by the decision

    return ApprovalDesk(store, Decider(store, may_approve, clock, execute=execute))


def _approvals(settings: DashboardSettings, bot_reddit: Any | None) -> ApprovalDesk:
    """The bot's approval store (``state_dir``); deciding needs the bot's Reddit client."""
    from bot.actions import ActionExecutor
    from bot.approval_service import ApproverCheck
    from bot.approvals import ApprovalStore
    from bot.config import ConfigLoader, ConfigStore

    state = Path(settings.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    store = ApprovalStore(state / "approvals.sqlite")
    if bot_reddit is None:
        return ApprovalDesk(store)
    loader = ConfigLoader(bot_reddit, ConfigStore(state / "config.sqlite"))
    me = bot_reddit.user.me().name
    return approval_desk(
        store,
        may_approve=ApproverCheck(bot_reddit, loader),
        executor=ActionExecutor(bot_reddit, store, bot_username=me),
        loader=loader,
        send=settings.send,
    )


def oauth_client(settings: DashboardSettings) -> RedditOAuth | None:
    if not (settings.client_id and settings.client_secret):
        return None
    return RedditOAuth(
        settings.client_id,
        settings.client_secret.get_secret_value(),
        settings.callback_url,
        reddit_url=settings.reddit_url,
        oauth_url=settings.oauth_url,
        user_agent=settings.user_agent,
    )


def session_secret(settings: DashboardSettings) -> str:
    secret = settings.session_secret.get_secret_value() if settings.session_secret else None
    if not secret:
        logger.warning("no session_secret: a random one is used, logins end when this stops")
        secret = secrets.token_urlsafe(32)
    return secret


def serve_beside(
    settings: DashboardSettings,
    sessions: Any,
    *,
    store: Any,
    may_approve: Callable[[str, str], bool] | None = None,
    executor: Any = None,
    loader: Any = None,
    clock: Callable[[], float] = time.time,
    can_act: Callable[[str], bool] = lambda _sub: True,
    ops: Callable[[], dict[str, Any]] | None = None,
    has_supportive_reply: Callable[[str], bool] | None = None,
    orders: Any = None,
) -> DashboardServer:
    """Start the dashboard in a thread of a process that already runs the service and the bot
    (``prosocial live``), over its database sessions, approval store and Reddit collaborators;
    ``settings.send`` decides whether approvals act on Reddit."""
    app = create_app(
        settings,
        sessions,
        oauth=oauth_client(settings),
        clock=clock,
        secret=session_secret(settings),
        approvals=approval_desk(
            store,
            may_approve=may_approve,
            executor=executor,
            loader=loader,
            clock=clock,
            send=settings.send,
            can_act=can_act,
        ),
        ops=ops,
        has_supportive_reply=has_supportive_reply,
        orders=orders.get if orders is not None else None,
    )
    if settings.demo_user:
        logger.warning("DEMO LOGIN on: anyone reaching this server is u/%s", settings.demo_user)
    return DashboardServer(app, settings.host, settings.port).start()


def build_app(
    settings: DashboardSettings, database_url: str, *, bot_reddit: Any | None = None
) -> Any:
    from streaming.storage import open_database

    _, sessions = open_database(database_url)
    state = Path(settings.state_dir)
    has_reply = orders = None
    if (state / "seen.sqlite").exists():
        from bot.seen import SeenStore

        has_reply = SeenStore(str(state / "seen.sqlite")).has_reply
    if (state / "orders.sqlite").exists():
        from bot.reddit_order import OrderStore

        orders = OrderStore(str(state / "orders.sqlite")).get
    return create_app(
        settings,
        sessions,
        oauth=oauth_client(settings),
        secret=session_secret(settings),
        approvals=_approvals(settings, bot_reddit),
        has_supportive_reply=has_reply,
        orders=orders,
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
        sys.stderr.write(f"prosocial dashboard: {exc}\n")
        return 2
    service = load_settings(args.config, database_url=args.database_url)
    bot_reddit = None
    if args.site or args.with_bot:
        from bot.reddit import ClientSettings, make_reddit

        bot_reddit = make_reddit(ClientSettings.from_env(site=args.site))
    app = build_app(settings, service.database_url, bot_reddit=bot_reddit)
    if settings.demo_user:
        logger.warning("DEMO LOGIN on: anyone reaching this server is u/%s", settings.demo_user)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0
