"""``prosocial demo`` (``make demo``): train-or-reuse the bundles, replay a real month of
reddit-college through ingest → score → suggest → back-fill → evaluate on the embedded bus
with SQLite, print and write a Markdown report (``var/reports/demo.md``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["DEMO_TRAIN_ARGS", "TRAIN_ORDER", "register", "run"]

logger = logging.getLogger(__name__)

#: Bundles in the order they are trained (outcomes before the forecaster that predicts them).
TRAIN_ORDER = ("aux", "trajectory", "empathy", "forecaster")
#: Lighter settings for the demo's first-run training (the full protocols are the
#: ``prosocial-train`` defaults; see README "Models").
DEMO_TRAIN_ARGS: dict[str, tuple[str, ...]] = {
    "empathy": ("--seeds", "1", "--epochs", "3", "--no-baselines"),
    "forecaster": (
        "--max-threads",
        "3000",
        "--no-time-split",
        "--n-boot",
        "50",
        "--no-empathy",
        "--no-ablations",  # the three checkpoint models cost what the ablations did
    ),
}

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
    p.add_argument("--report", default=None, help="default var/reports/demo.md")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--registry", dest="registry_dir")
    p.set_defaults(func=run)


def _trainer() -> list[str] | None:
    """How to invoke ``prosocial-train`` (never imported here: a subprocess)."""
    exe = shutil.which("prosocial-train")
    if exe:
        return [exe]
    import importlib.util

    if importlib.util.find_spec("training") is not None:
        return [sys.executable, "-m", "training.cli"]
    return None


def _train_missing(registry: Path, data: Path, err: Any) -> dict[str, str]:
    from models.bundle import TRAIN_HINTS, Registry
    from models.errors import ModelsError

    reg = Registry(registry)
    failed: dict[str, str] = {}
    trainer = _trainer()
    for name in TRAIN_ORDER:
        try:
            reg.current(name)
            err.print(f"[green]✓[/] bundle {name}: reusing {registry / name}")
            continue
        except ModelsError:
            pass
        if trainer is None:
            failed[name] = f"training package not installed (run: {TRAIN_HINTS.get(name)})"
            continue
        hint = TRAIN_HINTS.get(name, f"prosocial-train {name}").split()
        cmd = (
            trainer
            + [a.replace("DIR", str(data)) for a in hint[1:]]
            + list(DEMO_TRAIN_ARGS.get(name, ()))
        )
        err.print(f"[yellow]…[/] training bundle {name}: {' '.join(cmd)} (first run: slow)")
        env = dict(os.environ, PROSOCIAL_REGISTRY_DIR=str(registry), PROSOCIAL_DATA_DIR=str(data))
        t0 = time.monotonic()
        proc = subprocess.run(cmd, env=env, stdout=sys.stderr, stderr=sys.stderr, check=False)
        if proc.returncode != 0:
            failed[name] = f"`{' '.join(cmd)}` failed with exit code {proc.returncode}"
            err.print(f"[red]✗[/] {failed[name]}")
        else:
            err.print(f"[green]✓[/] bundle {name} trained in {time.monotonic() - t0:.0f}s")
    return failed


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from models.paths import resolve_data_dir, resolve_registry_dir, var_dir
    from streaming.replay_run import replay_and_report

    err = Console(stderr=True)
    t0 = time.monotonic()
    data = resolve_data_dir(args.data)
    if not (data / "reddit-college").exists() and not any(data.glob("submissions.jsonl*")):
        err.print(f"[red]data directory {data} has no reddit-college dump (set PROSOCIAL_DATA_DIR)")
        return 2
    registry = resolve_registry_dir(args.registry_dir)
    registry.mkdir(parents=True, exist_ok=True)
    train_failed = {} if args.no_train else _train_missing(registry, data, err)
    work = var_dir() / "demo"
    work.mkdir(parents=True, exist_ok=True)
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
    md += f"\nTotal demo wall time (training/reuse + replay + report): {rep['demo_wall_s']} s\n"
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
