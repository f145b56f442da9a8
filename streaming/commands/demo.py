"""``prosocial demo`` (``make demo``): train-or-reuse the bundles, replay a real month of
reddit-college through ingest → score → suggest → back-fill → evaluate on the embedded bus
with SQLite, print and write a Markdown report (``var/reports/demo.md``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from streaming.demo_train import DEMO_TRAIN_ARGS, TRAIN_ORDER

__all__ = ["DEMO_TRAIN_ARGS", "TRAIN_ORDER", "register", "run"]

logger = logging.getLogger(__name__)

#: The default demo month covers these subreddits (all but the two largest) so that it runs in
#: minutes on a 2-core CPU; ``--subreddits all`` replays the whole month.
DEMO_SUBREDDITS = ("GradSchool", "AskAcademia", "CollegeRant", "Emory", "CollegeMajors")


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="train-or-reuse bundles, replay a real month, report")
    p.add_argument("--data", help="data directory (default: PROSOCIAL_DATA_DIR / ../shared/data)")
    p.add_argument("--since", default="2021-10-01")
    p.add_argument("--until", default="2021-11-01")
    p.add_argument(
        "--subreddits",
        default=",".join(DEMO_SUBREDDITS),
        help="comma-separated subreddits, or 'all' (default: the five smaller "
        "subreddits, ~6.8k TLCs in Oct 2021; 'all' = 37.6k TLCs)",
    )
    p.add_argument("--no-train", action="store_true", help="never train missing bundles")
    p.add_argument(
        "--train-jobs",
        type=int,
        default=2,
        help="training steps run side by side when their inputs are ready (default 2)",
    )
    p.add_argument("--report", default=None, help="default var/reports/demo.md")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--registry", dest="registry_dir")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from models.paths import resolve_data_dir, resolve_registry_dir, var_dir
    from streaming.demo_train import (
        TrainOutcome,
        demo_quality_bundles,
        profile_markdown,
        train_missing,
    )
    from streaming.replay_run import replay_and_report

    err = Console(stderr=True)
    t0 = time.monotonic()
    data = resolve_data_dir(args.data)
    if not (data / "reddit-college").exists() and not any(data.glob("submissions.jsonl*")):
        err.print(f"[red]data directory {data} has no reddit-college dump (set PROSOCIAL_DATA_DIR)")
        return 2
    registry = resolve_registry_dir(args.registry_dir)
    registry.mkdir(parents=True, exist_ok=True)
    work = var_dir() / "demo"
    work.mkdir(parents=True, exist_ok=True)
    trained = TrainOutcome()
    if not args.no_train:
        trained = train_missing(registry, data, err, work, parallel=args.train_jobs)
    train_failed = trained.failed
    t_train = time.monotonic()
    db = work / "demo.db"
    for f in work.glob("demo.db*"):
        f.unlink()
    report = Path(args.report) if args.report else var_dir() / "reports" / "demo.md"
    from models.cpu import configure_torch_threads

    configure_torch_threads(2)
    err.print(f"replaying reddit-college {args.since} → {args.until} (embedded bus, SQLite)")
    rep, md = replay_and_report(
        config=None,
        data=str(data),
        since=args.since,
        until=args.until,
        subreddits=None if args.subreddits == "all" else args.subreddits,
        overrides={
            "database_url": f"sqlite:///{db}",
            "bus": "embedded",
            "registry_dir": str(registry),
            "quiet_period_s": 600,
        },
        report_path=report,
        title=f"prosocial demo: reddit-college {args.since} → {args.until}",
    )
    rep["demo_wall_s"] = round(time.monotonic() - t0, 1)
    rep["training_failures"] = train_failed
    rep["demo_steps_s"] = {
        **{f"train {k}": v for k, v in trained.seconds.items()},
        "training (wall)": round(t_train - t0, 1),
        "replay + report": round(time.monotonic() - t_train, 1),
    }
    demo_models = demo_quality_bundles(registry, work)
    rep["demo_quality_models"] = demo_models
    md += profile_markdown(demo_models)
    md += f"\nTotal demo wall time (training/reuse + replay + report): {rep['demo_wall_s']} s\n"
    md += "".join(f"- {k}: {v} s\n" for k, v in rep["demo_steps_s"].items())
    if train_failed:
        md += "\nTraining failures:\n" + "".join(f"- {k}: {v}\n" for k, v in train_failed.items())
    report.write_text(md)
    if args.json:
        json.dump(rep, sys.stdout, default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(md + "\n")
        err.print(f"report written to {report}")
    exe = "prosocial" if shutil.which("prosocial") else sys.argv[0]
    sys.stderr.write(  # plain text, never wrapped: the one command to copy
        "\nServe the moderators' dashboard over this demo's database (local DEMO login, no "
        "Reddit, loopback only), then open http://127.0.0.1:8080/ :\n"
        f"  {exe} dashboard --database-url sqlite:///{db} --state-dir {work / 'bot'} "
        "--demo-login demo_mod\n"
    )
    return 0
