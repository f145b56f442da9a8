"""``prosocial-train forecaster``: train the trajectory forecaster + baselines, write the
bundle and a report (var/reports/forecaster)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from rich.console import Console

from models.bundle import Registry
from models.errors import BundleMissingError
from models.paths import resolve_data_dir, resolve_registry_dir, var_dir
from training.fromdb import add_from_db_args, run_from_db

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "forecaster", help="train the trajectory forecaster", description=__doc__
    )
    p.add_argument("--data", help="dump directory (or the data dir holding reddit-college/)")
    p.add_argument("--registry", help="model registry directory")
    p.add_argument("--max-threads", type=int, default=None, help="stop after N threads")
    p.add_argument(
        "--min-age-hours",
        type=float,
        default=48.0,
        help="only threads scraped at least this long after posting (default 48)",
    )
    p.add_argument(
        "--target",
        choices=("trajectory", "structural"),
        default="trajectory",
        help="trajectory bundle (default) or a crude provisional structural target",
    )
    p.add_argument("--no-empathy", action="store_true", help="do not use the empathy bundle")
    p.add_argument("--no-time-split", action="store_true", help="skip the time-ordered variant")
    p.add_argument(
        "--minilm",
        type=int,
        default=0,
        metavar="N",
        help="also train the MiniLM comparison model on up to N training TLCs",
    )
    p.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples (default 200)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for XGBoost / torch (default: $PROSOCIAL_TRAIN_THREADS or 2)",
    )
    p.add_argument(
        "--weight-schemes",
        default="none,sqrt,cap25",
        help=(
            "the main model's candidate per-TLC training weightings, comma-separated "
            "(none, sqrt, capC); chosen on the balanced validation objective "
            "(default %(default)s)"
        ),
    )
    p.add_argument("--lda-iterations", type=int, default=200)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument(
        "--candidate", action="store_true", help="register the bundle without making it current"
    )
    add_from_db_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "from_db", None):
        return run_from_db(args, _train, "forecaster")
    return _train(args)


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from redditdata.dumps import find_dump_files
    from training.forecaster.dataset import structural_target
    from training.forecaster.job import ForecasterJob, run_job
    from training.forecaster.targets import trajectory_target
    from training.forecaster.weights import DEFAULT_SCHEMES, post_weights

    err = Console(stderr=True)
    if args.threads is not None:
        os.environ["PROSOCIAL_TRAIN_THREADS"] = str(max(1, args.threads))
    schemes = tuple(x.strip() for x in args.weight_schemes.split(",") if x.strip())
    try:
        for sc in schemes:
            post_weights([0], sc)
    except ValueError as exc:
        err.print(f"[red]--weight-schemes: {exc}[/red]")
        return 2
    registry = Registry(resolve_registry_dir(args.registry))
    data = resolve_data_dir(args.data)
    files = find_dump_files(data)
    dump_dir = Path((files.comments or files.submissions).parent)  # type: ignore[union-attr]
    data_root = data if (data / "aux").is_dir() else dump_dir.parent
    aux = None
    try:
        from training.forecaster.targets import load_aux_for_trajectory

        aux = load_aux_for_trajectory(registry)
    except BundleMissingError as exc:
        if args.target == "trajectory":
            err.print(f"[red]{exc}[/red]")
            return 2
    try:
        if args.target == "trajectory":
            target_fn, versions = trajectory_target(registry, aux)
            target_name = (
                "prosocial trajectory ("
                + ", ".join(f"{k}@{v}" for k, v in sorted(versions.items()))
                + ")"
            )
        else:
            target_fn, target_name = structural_target, "structural (provisional, not final)"
    except BundleMissingError as exc:
        err.print(f"[red]{exc}[/red]")
        return 2
    empathy = None
    if not args.no_empathy and registry.has_current("empathy"):
        from models.empathy import EmpathyClassifier  # type: ignore[attr-defined]

        empathy = EmpathyClassifier.from_registry(registry, fast=True)
    job = ForecasterJob(
        dump_dir=dump_dir,
        data_root=data_root,
        registry=registry,
        target_fn=target_fn,
        target_name=target_name,
        report_dir=var_dir() / "reports" / "forecaster",
        aux=aux,
        empathy_model=empathy,
        max_threads=args.max_threads,
        min_age_s=int(args.min_age_hours * 3600),
        n_boot=args.n_boot,
        time_split=not args.no_time_split,
        lda_iterations=args.lda_iterations,
        minilm=args.minilm,
        weight_schemes=schemes or DEFAULT_SCHEMES,
        make_current=not getattr(args, "candidate", False),
    )
    with err.status("training forecaster") as status:
        summary = run_job(job, lambda s: status.update(f"forecaster: {s}"))
    if args.json:
        sys.stdout.write(json.dumps(summary, default=float) + "\n")
        return 0
    out = Console()
    out.print(f"forecaster bundle [bold]{summary['version']}[/bold] in {summary['registry']}")
    out.print(f"report: {summary['report']}")
    for k in ("mean", "ridge", "gbm", "main", "chronological", "reddit_order"):
        r = summary["by_post"].get(k)
        if r:
            out.print(
                f"  {k:14s} R² {r['r2']:+.3f}  pairwise {r['pairwise_acc']:.3f}  "
                f"time-matched {r['pairwise_acc_time_matched']:.3f}  ndcg5 {r['ndcg5']:.3f}"
            )
    return 0
