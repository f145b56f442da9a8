"""``prosocial dashboard``: the moderators' web dashboard over the service's database.

Like ``prosocial bot``, the command lives in ``bot`` and is imported lazily here, when the
command runs, so that ``streaming`` never imports ``bot`` at module level.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("dashboard", help="the moderators' web dashboard (Reddit login)")
    p.add_argument("--config", help="service settings YAML (database; a 'dashboard:' mapping)")
    p.add_argument("--database-url", default=None, help="the service database (else config/env)")
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 8080)")
    p.add_argument("--state-dir", default=None, help="the bot's state directory (approvals)")
    p.add_argument("--site", help="praw.ini site of the bot account (enables approving)")
    p.add_argument(
        "--with-bot",
        action="store_true",
        help="enable approving with the bot credentials from praw_* environment variables",
    )
    p.add_argument(
        "--send", action="store_true", help="approved actions really act on Reddit (else dry-run)"
    )
    p.add_argument(
        "--demo-login",
        metavar="USER",
        default=None,
        help="DEMO ONLY: local login as USER, no Reddit; refused with a Reddit client id",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import importlib

    return int(importlib.import_module("bot.dashboard.serve").run(args))
