"""``prosocial privacy``: what is stored about Reddit users (``report``) and the retention
purge run once (``purge``, for deployments that schedule it outside ``prosocial live``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import Any

__all__ = ["register", "run_purge", "run_report"]


def register(sub: Any) -> None:
    p = sub.add_parser("privacy", help="stored text by kind and age, re-checks, deletions")
    psub = p.add_subparsers(dest="privacy_command", required=True)
    for name, func, help_ in (
        ("report", run_report, "what is stored, pending re-checks, deletions in the last day"),
        ("purge", run_purge, "erase the text whose retention has ended (once)"),
    ):
        q = psub.add_parser(name, help=help_)
        q.add_argument("--config", help="YAML config file (settings; args > env > file)")
        q.add_argument("--database-url", dest="database_url", help="SQLAlchemy URL")
        q.add_argument("--now", type=float, help="the service clock (epoch seconds; default now)")
        q.add_argument("--json", action="store_true", help="print one JSON object")
        q.set_defaults(func=func)


def _open(args: argparse.Namespace) -> tuple[Any, Any]:
    from streaming.settings import load_settings
    from streaming.storage import open_database

    settings = load_settings(args.config, database_url=args.database_url)
    _, sessions = open_database(settings.database_url)
    return settings, sessions


def run_report(args: argparse.Namespace) -> int:
    from streaming.privacy_report import format_report, privacy_report

    settings, sessions = _open(args)
    report = privacy_report(
        sessions,
        args.now if args.now is not None else time.time(),
        horizon_s=settings.horizon_s,
        retention_s=settings.retention_s,
        recheck_every_s=settings.recheck_every_s,
    )
    sys.stdout.write((json.dumps(report) if args.json else "\n".join(format_report(report))) + "\n")
    return 0


def run_purge(args: argparse.Namespace) -> int:
    from streaming.erasure import Eraser
    from streaming.retention import RetentionPurge

    settings, sessions = _open(args)
    now = args.now if args.now is not None else time.time()

    def clock() -> float:
        return now

    purge = RetentionPurge(
        sessions,
        Eraser(sessions, clock),
        clock,
        horizon_s=settings.horizon_s,
        retention_s=settings.retention_s,
    )
    report = dataclasses.asdict(purge.run())
    sys.stdout.write((json.dumps(report) if args.json else f"purged: {report}") + "\n")
    return 0
