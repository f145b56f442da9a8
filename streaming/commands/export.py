"""``prosocial export``: write a window of the database as a Pushshift-style dump (posts, the
reply trees the back-fill measured, their outcomes and moderators' feedback) that every
training and evaluation command reads."""

from __future__ import annotations

import argparse
from typing import Any

from streaming.clikit import print_json

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    p = sub.add_parser("export", help="write a window of the database as a dump directory")
    p.add_argument("--config", help="YAML config file (settings; args > env > file)")
    p.add_argument("--database-url", dest="database_url", help="SQLAlchemy URL")
    p.add_argument("--since", help="posts created at or after (2021-10-01, or epoch seconds)")
    p.add_argument("--until", help="posts created before")
    p.add_argument("--subreddits", default="", help="comma-separated (default: all)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--shuffle-outcomes",
        type=int,
        default=None,
        metavar="SEED",
        help="hand every TLC another TLC's reply tree (a deliberately worse training set)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from streaming.export import export_dump
    from streaming.replay import parse_time
    from streaming.settings import load_settings
    from streaming.storage import open_database

    settings = load_settings(args.config, database_url=args.database_url)
    _, sessions = open_database(settings.database_url)
    summary = export_dump(
        sessions,
        args.out,
        since=parse_time(args.since),
        until=parse_time(args.until),
        subreddits=[s.strip() for s in args.subreddits.split(",") if s.strip()],
        shuffle_seed=args.shuffle_outcomes,
    )
    print_json(summary.as_dict())
    return 0
