"""``prosocial live --subreddits A,B``: the moderation assistant, live, in one process.

Live ingest, scoring, suggestions, delivery to moderators (modmail digests, the wiki page,
seeker alerts), approvals from modmail replies, approved actions, back-fill at each TLC's
horizon and evaluation, with the schedules inside the process; see :mod:`bot.live`.
Reddit credentials come from praw (``praw.ini`` site or ``praw_*`` environment variables);
``PROSOCIAL_REDDIT_URL`` / ``PROSOCIAL_REDDIT_OAUTH_URL`` point it at another server.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from streaming.commands.options import add_common, service_settings

__all__ = ["register", "run"]

logger = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser("live", help="run the moderation assistant live (one process)")
    p.add_argument(
        "--subreddits", help="comma-separated subreddits (env PROSOCIAL_SUBREDDITS, or config)"
    )
    p.add_argument("--state-dir", default=None, help="bot state directory (default var/live)")
    p.add_argument(
        "--metrics-port", dest="metrics_port", type=int, help="serve /healthz and /metrics"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="write nothing to Reddit (messages and actions are logged only)",
    )
    p.add_argument(
        "--dashboard-port",
        type=int,
        default=None,
        help="serve the moderators' dashboard on this port (also on when the config has a "
        "'dashboard:' mapping or PROSOCIAL_DASHBOARD_CLIENT_ID is set)",
    )
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bot.live import LiveOptions, LiveService, install_signals
    from streaming.ops import JsonLogFormatter

    settings = service_settings(args, metrics_port=args.metrics_port, subreddits=args.subreddits)
    if settings.log_json:
        for h in logging.getLogger().handlers:
            h.setFormatter(JsonLogFormatter())
    if not settings.subreddits:
        raise SystemExit("no subreddits: pass --subreddits A,B (or set them in the config)")
    state = args.state_dir or os.environ.get("PROSOCIAL_STATE_DIR") or "var/live"
    dashboard = None
    if (
        args.dashboard_port is not None
        or settings.dashboard is not None
        or os.environ.get("PROSOCIAL_DASHBOARD_CLIENT_ID")
    ):
        from bot.dashboard import DashboardConfigError, load_dashboard_settings

        try:
            dashboard = load_dashboard_settings(
                settings.dashboard or {},
                port=args.dashboard_port,
                state_dir=state,
                send=not args.dry_run,
            )
        except DashboardConfigError as exc:
            raise SystemExit(f"dashboard: {exc}") from None
    service = LiveService(
        settings,
        LiveOptions(
            settings.subreddits, state_dir=state, send=not args.dry_run, dashboard=dashboard
        ),
    )
    install_signals(service.stop)
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1`: where is it?
    return service.run(ops_port=settings.metrics_port)
