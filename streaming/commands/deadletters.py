"""``prosocial deadletters list|show|redrive``: inspect dead letters and re-inject them."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from streaming.commands.options import add_common, service_settings

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    p = sub.add_parser("deadletters", help="list, show or re-drive dead letters")
    dl = p.add_subparsers(dest="action", required=True)
    ls = dl.add_parser("list", help="dead letters, newest first (JSON lines)")
    sh = dl.add_parser("show", help="one dead letter with its raw record")
    sh.add_argument("id")
    rd = dl.add_parser("redrive", help="re-publish dead letters on their original topics")
    rd.add_argument("ids", nargs="*", help="dead-letter ids (default: every match)")
    rd.add_argument("--again", action="store_true", help="also those already re-driven")
    rd.add_argument("--dry-run", action="store_true", help="say what would be re-driven")
    for q in (ls, rd):
        q.add_argument("--stage", help="only this stage's")
        q.add_argument("--reason", help="only reasons starting with this (e.g. stage_error)")
        q.add_argument("--limit", type=int, default=100)
    ls.add_argument("--pending", action="store_true", help="only those not re-driven yet")
    for q in (ls, sh, rd):
        add_common(q)
        q.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from streaming.deadletters import dead_letter_dict, find_dead_letters, redrive
    from streaming.storage import open_database

    settings = service_settings(args)
    _, sessions = open_database(settings.database_url)
    out = sys.stdout
    if args.action == "list":
        for r in find_dead_letters(
            sessions,
            stage=args.stage,
            reason=args.reason,
            redriven=False if args.pending else None,
            limit=args.limit,
        ):
            out.write(json.dumps(dead_letter_dict(r)) + "\n")
        return 0
    if args.action == "show":
        rows = find_dead_letters(sessions, ids=[args.id], limit=1)
        if not rows:
            sys.stderr.write(f"no dead letter {args.id!r}\n")
            return 1
        out.write(json.dumps(dead_letter_dict(rows[0], raw=True), indent=2) + "\n")
        return 0
    from streaming.runtime import make_bus

    if settings.bus == "embedded" and not settings.embedded_log and not args.dry_run:
        sys.stderr.write(
            "redrive needs the service's bus: --bus kafka, or embedded_log set (the embedded "
            "service reads re-driven records when it next starts)\n"
        )
        return 2

    rows = find_dead_letters(
        sessions,
        ids=args.ids,
        stage=args.stage,
        reason=args.reason,
        redriven=None if args.again else False,
        limit=args.limit,
    )
    bus = make_bus(settings)
    try:
        rep = redrive(sessions, bus, rows, again=args.again, dry_run=args.dry_run)
    finally:
        bus.close()
    out.write(json.dumps(rep.to_dict(), indent=2) + "\n")
    return 0
