"""``prosocial demo`` (``make demo``): train-or-reuse the bundles, replay a real week of
reddit-college through ingest → score → suggest → back-fill → evaluate on the embedded bus
with SQLite, print and write a Markdown report (``var/reports/demo.md``)."""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from streaming.clikit import print_json
from streaming.demo_train import (
    LOOP_FORECASTER_ARGS,
    TrainOutcome,
    demo_quality_bundles,
    profile_markdown,
    train_missing,
    trainer_command,
    use_bytecode_cache,
)

__all__ = ["register", "run"]

logger = logging.getLogger(__name__)

#: The default demo month covers these subreddits (all but the two largest) so that it runs in
#: minutes on a 2-core CPU; ``--subreddits all`` replays the whole month.
DEMO_SUBREDDITS = ("GradSchool", "AskAcademia", "CollegeRant", "Emory", "CollegeMajors")
#: The default window: the first week of October 2021 (~1.5k TLCs in the five subreddits), so
#: that a first run is done in minutes; every TLC in it matures (48 h horizon) by the end of
#: the replay, which back-fills the rest. ``--loop`` replays whole months (month 1 ends
#: :data:`LOOP_UNTIL1`).
DEMO_SINCE, DEMO_UNTIL, LOOP_UNTIL1 = "2021-10-01", "2021-10-08", "2021-11-01"
#: ``--loop`` replays two months (and month 2 twice), so it defaults to two subreddits
#: (~3.1k TLCs in Oct 2021, ~4.0k in Nov).
LOOP_SUBREDDITS = ("AskAcademia", "CollegeRant")


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="train-or-reuse bundles, replay a real week, report")
    p.add_argument("--data", help="data directory (default: PROSOCIAL_DATA_DIR / ../shared/data)")
    p.add_argument("--since", default=DEMO_SINCE)
    p.add_argument(
        "--until",
        default=None,
        help=f"end of the replay (default {DEMO_UNTIL}: one week; with --loop, end of month 1: "
        f"{LOOP_UNTIL1})",
    )
    p.add_argument(
        "--subreddits",
        default=None,
        help="comma-separated subreddits, or 'all' (default: the five smaller "
        "subreddits, ~6.8k TLCs in the whole of Oct 2021; 'all' = 37.6k TLCs; with --loop: "
        + ",".join(LOOP_SUBREDDITS)
        + ")",
    )
    p.add_argument("--report", default=None, help="default var/reports/demo.md")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--registry", dest="registry_dir", help="model registry directory")
    loop = p.add_argument_group("the retraining loop")
    loop.add_argument(
        "--loop",
        action="store_true",
        help="the retraining loop: month 1 = --since..--until with the champion, train a "
        "challenger from the database, shadow it on month 2 = --until..--loop-until, compare, "
        "promote or refuse (on a copy of the registry); JSON report var/reports/demo-loop.json",
    )
    loop.add_argument("--loop-until", default="2021-12-01", help="end of month 2 (--loop)")
    loop.add_argument(
        "--loop-n-boot", type=int, default=200, help="bootstrap resamples in compare (--loop)"
    )
    loop.add_argument(
        "--no-worse", action="store_true", help="--loop without the shuffled-outcomes challenger"
    )
    train = p.add_argument_group("training missing bundles")
    train.add_argument("--no-train", action="store_true", help="never train missing bundles")
    train.add_argument(
        "--train-jobs",
        type=int,
        default=2,
        help="training steps run side by side when their inputs are ready (default 2)",
    )
    train.add_argument(
        "--setup-record",
        default=None,
        help="file where `make setup` wrote its seconds and end time (make demo passes it): "
        "when setup ran just before this run, its time joins the report's step breakdown",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from models.paths import resolve_data_dir, resolve_registry_dir, var_dir
    from streaming.replay_run import replay_and_report

    err = Console(stderr=True)
    t0 = time.monotonic()
    use_bytecode_cache()
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
    if args.until is None:
        args.until = LOOP_UNTIL1 if args.loop else DEMO_UNTIL
    if args.loop:
        return _run_loop(args, data, registry, err, t0)
    if args.subreddits is None:
        args.subreddits = ",".join(DEMO_SUBREDDITS)
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
        overrides={
            "replay_since": args.since,
            "replay_until": args.until,
            "subreddits": None if args.subreddits == "all" else args.subreddits,
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
    setup_s = _setup_seconds(args.setup_record, time.time() - (time.monotonic() - t0))
    rep["demo_steps_s"] = {
        **({"setup (make)": setup_s} if setup_s is not None else {}),
        **{f"train {k}": v for k, v in trained.seconds.items()},
        "training (wall)": round(t_train - t0, 1),
        "replay + report": round(time.monotonic() - t_train, 1),
    }
    # CPU seconds of each training child: comparable across runs on a busy machine
    rep["demo_steps_cpu_s"] = {f"train {k}": v for k, v in trained.cpu_seconds.items()}
    demo_models = demo_quality_bundles(registry, work)
    rep["demo_quality_models"] = demo_models
    md += profile_markdown(demo_models)
    md += f"\nTotal demo wall time (training/reuse + replay + report): {rep['demo_wall_s']} s\n"
    if setup_s is not None:
        rep["demo_wall_with_setup_s"] = round(rep["demo_wall_s"] + setup_s, 1)
        md += f"With `make setup` before it: {round(rep['demo_wall_s'] + setup_s, 1)} s\n"
    cpu = rep["demo_steps_cpu_s"]
    md += "".join(
        f"- {k}: {v} s" + (f" (CPU {cpu[k]} s)" if k in cpu else "") + "\n"
        for k, v in rep["demo_steps_s"].items()
    )
    if train_failed:
        md += "\nTraining failures:\n" + "".join(f"- {k}: {v}\n" for k, v in train_failed.items())
    report.write_text(md)
    if args.json:
        print_json(rep, default=str)
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


def _setup_seconds(record: str | None, started: float, slack_s: float = 120.0) -> float | None:
    """The seconds of a ``make setup`` that ended at most ``slack_s`` before ``started`` (the
    epoch second this run began), from its record ``"<seconds> <end epoch>"``; else None."""
    if not record:
        return None
    try:
        secs, end = (float(x) for x in Path(record).read_text().split()[:2])
    except (OSError, ValueError):
        return None
    return round(secs, 1) if started - slack_s <= end <= started + slack_s else None


def _run_loop(args: argparse.Namespace, data: Path, registry: Path, err: Any, t0: float) -> int:
    from models.cpu import configure_torch_threads
    from models.paths import var_dir
    from streaming.loop import LoopConfig, LoopError, run_loop, write_report

    trainer = trainer_command()
    if trainer is None:
        err.print("[red]--loop needs the training package (prosocial-train)")
        return 2
    work = var_dir() / "demo-loop"
    copy = work / "registry"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(registry, copy)
    subs = args.subreddits or ",".join(LOOP_SUBREDDITS)
    configure_torch_threads(2)
    cfg = LoopConfig(
        data=data,
        registry=copy,
        work=work,
        month1=(args.since, args.until),
        month2=(args.until, args.loop_until),
        subreddits=[x.strip() for x in subs.split(",") if x.strip()],
        trainer=trainer,
        train_args=LOOP_FORECASTER_ARGS,
        n_boot=args.loop_n_boot,
        worse_seed=None if args.no_worse else 1,
    )
    err.print(
        f"retraining loop on a copy of the registry ({copy}): month 1 {args.since} → "
        f"{args.until}, month 2 {args.until} → {args.loop_until}, r/{', r/'.join(cfg.subreddits)}"
    )
    try:
        rep = run_loop(cfg)
    except LoopError as exc:
        err.print(f"[red]loop failed: {exc}")
        return 1
    rep["demo_wall_s"] = round(time.monotonic() - t0, 1)
    path = Path(args.report) if args.report else var_dir() / "reports" / "demo-loop.json"
    write_report(rep, path)
    if args.json:
        sys.stdout.write(path.read_text() + "\n")
    else:
        sys.stdout.write(_loop_summary(rep) + "\n")
        err.print(f"report written to {path}")
    return 0


def _loop_summary(rep: dict[str, Any]) -> str:
    def line(who: str, compare: dict[str, Any], decision: dict[str, Any]) -> list[str]:
        out = [f"{who}: {compare['challenger']} vs champion {compare['champion']}"]
        for sub, r in compare["by_subreddit"].items():
            d, ci = r["paired"]["diff"], r["paired"].get("ci", {})
            pa = ci.get("pairwise_acc", [float("nan")] * 2)
            out.append(
                f"  {sub:12s} n={r['n_tlcs']:5d}  pairwise {r['champion']['pairwise_acc']:.3f} → "
                f"{r['challenger']['pairwise_acc']:.3f} ({d['pairwise_acc']:+.3f}, CI "
                f"{pa[0]:+.3f}..{pa[1]:+.3f})  R² {r['champion']['r2']:+.3f} → "
                f"{r['challenger']['r2']:+.3f}"
            )
        verdict = "PROMOTED" if decision.get("promoted") else "refused"
        out.append(f"  decision: {verdict} — " + "; ".join(decision["reasons"]))
        return out

    lines = line("challenger", rep["compare"], rep["decision"])
    if "worse_challenger" in rep:
        w = rep["worse_challenger"]
        lines += line("worse (shuffled outcomes)", w["compare"], w["decision"])
    sc = rep["challenger"]["shadow_cost"]
    lines.append(
        f"shadow: {sc['tlcs']} TLCs at {sc['tlcs_per_s']} TLCs/s "
        f"({sc['share_of_scorer_time']} of the scorer's time); loop {rep['loop_wall_s']} s"
    )
    return "\n".join(lines)
