"""``prosocial replay``: stream a dump in event-time order through the pipeline."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streaming.clikit import print_json
from streaming.commands.options import add_common, service_overrides

__all__ = ["parse_speed", "register", "run"]


def parse_speed(s: str) -> float:
    """``1000x`` / ``1000`` → 1000.0; ``max`` / ``0`` → 0 (as fast as possible)."""
    s = s.strip().lower()
    if s in ("max", "0", "0x", "inf"):
        return 0.0
    try:
        v = float(s.removesuffix("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"speed like 1000x or max, not {s!r}") from exc
    if v <= 0:
        raise argparse.ArgumentTypeError("speed must be > 0 (or max)")
    return v


def register(sub: Any) -> None:
    p = sub.add_parser("replay", help="replay a dump in event-time order through the pipeline")
    p.add_argument("--data", required=True, help="dump directory (submissions/comments files)")
    p.add_argument(
        "--speed",
        type=parse_speed,
        default=0.0,
        help="event seconds per wall second, e.g. 1000x (default: max)",
    )
    p.add_argument("--since", help="first post time (UTC date/time or epoch)")
    p.add_argument("--until", help="end of post window (exclusive)")
    p.add_argument("--subreddits", help="comma-separated subreddits")
    p.add_argument(
        "--no-drain",
        action="store_true",
        help="do not advance the clock past the last horizon at the end",
    )
    p.add_argument("--report", help="write the Markdown report here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from streaming.replay_run import replay_and_report

    window = {
        "replay_speed": args.speed,
        "replay_since": args.since,
        "replay_until": args.until,
        "subreddits": args.subreddits,
    }
    rep, md = replay_and_report(
        config=args.config,
        data=args.data,
        overrides=service_overrides(args) | window,
        drain=not args.no_drain,
        report_path=args.report,
    )
    if args.json:
        print_json(rep, default=str)
    else:
        sys.stdout.write(md + "\n")
    return 0
