"""``prosocial-train forecaster``: train the forecaster (at creation and at each re-forecast
checkpoint) + baselines, write the bundle and a report (var/reports/forecaster)."""

from __future__ import annotations

import argparse
import os

from rich.console import Console

from models.bundle import Registry
from models.errors import BundleMissingError
from models.forecaster.checkpoint import DEFAULT_CHECKPOINTS
from models.paths import resolve_data_dir, resolve_registry_dir, var_dir
from streaming.clikit import print_json
from streaming.progress import report_progress
from training.commands.options import add_command, add_thread_window
from training.fromdb import add_registering_args

__all__ = ["register", "train"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(subparsers, "forecaster", "train the trajectory forecaster", __doc__)
    add_thread_window(p)
    p.add_argument(
        "--target",
        choices=("safe", "trajectory", "structural"),
        default="safe",
        help=(
            "outcome to forecast: the moderator-safe outcome (default), the paper's trajectory "
            "(PC1), or a crude provisional structural target (tests)"
        ),
    )
    p.add_argument(
        "--checkpoints",
        default=",".join(str(d) for d in DEFAULT_CHECKPOINTS),
        help="re-forecast delays in seconds after a TLC is posted (default %(default)s; "
        "'' = at creation only)",
    )
    model = p.add_argument_group("the model")
    model.add_argument(
        "--history-scope",
        choices=("subreddit", "all"),
        default="subreddit",
        help="count an author's history in the TLC's subreddit only (default) or across every "
        "subreddit of the data (an explicit opt-in: profiles users across communities)",
    )
    model.add_argument(
        "--no-calibration",
        action="store_true",
        help="never keep per-subreddit offsets (default: kept where validation says they help)",
    )
    model.add_argument(
        "--text-relative",
        choices=("auto", "on", "off"),
        default="auto",
        help="the relative n-gram text score: decided on validation (auto), always, never",
    )
    model.add_argument("--no-empathy", action="store_true", help="do not use the empathy bundle")
    model.add_argument(
        "--weight-schemes",
        default="none,sqrt,cap25",
        help=(
            "the main model's candidate per-TLC training weightings, comma-separated "
            "(none, sqrt, capC); chosen on the balanced validation objective "
            "(default %(default)s)"
        ),
    )
    model.add_argument(
        "--lda-iterations", type=int, default=200, help="LDA topic-model iterations (default 200)"
    )
    model.add_argument(
        "--eta",
        type=float,
        default=None,
        help="learning rate of the main and checkpoint XGBoost models (default: the tuned "
        "recipe's; larger = fewer boosting rounds)",
    )
    model.add_argument(
        "--max-tlcs",
        type=int,
        default=None,
        metavar="N",
        help="stop reading the dump after the thread that brings the TLC count to N",
    )
    evaluation = p.add_argument_group("evaluation and comparison models")
    evaluation.add_argument("--no-ablations", action="store_true", help="skip the ablation models")
    evaluation.add_argument(
        "--no-time-split", action="store_true", help="skip the time-ordered variant"
    )
    evaluation.add_argument(
        "--minilm",
        type=int,
        default=0,
        metavar="N",
        help="also train the MiniLM comparison model on up to N training TLCs",
    )
    evaluation.add_argument(
        "--ridge-alpha",
        type=float,
        default=None,
        help="the paper's ridge baseline with this alpha (default: chosen on validation)",
    )
    evaluation.add_argument(
        "--n-boot", type=int, default=200, help="bootstrap resamples (default 200)"
    )
    resources = p.add_argument_group("resources")
    resources.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for XGBoost / torch (default: $PROSOCIAL_TRAIN_THREADS or 2)",
    )
    resources.add_argument(
        "--cache-dir",
        default=None,
        help="cache the featurized examples here (reused while dump, target and options match)",
    )
    add_registering_args(p, train, "forecaster")


def train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from models.forecaster.checkpoint import CheckpointFeaturizer, parse_checkpoints
    from redditdata.dumps import find_dump_files
    from training.errors import TrainingError
    from training.forecaster.dataset import structural_target
    from training.forecaster.job import ForecasterJob
    from training.forecaster.report import checkpoint_lines
    from training.forecaster.targets import load_aux_for_trajectory, outcome_target
    from training.forecaster.trainer import ForecasterArgs
    from training.forecaster.weights import DEFAULT_SCHEMES, post_weights

    err = Console(stderr=True)
    if args.threads is not None:
        os.environ["PROSOCIAL_TRAIN_THREADS"] = str(max(1, args.threads))
    schemes = tuple(x.strip() for x in args.weight_schemes.split(",") if x.strip())
    try:
        for sc in schemes:
            post_weights([0], sc)
        checkpoints = parse_checkpoints(args.checkpoints)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        return 2
    registry = Registry(resolve_registry_dir(args.registry))
    data = resolve_data_dir(args.data)
    files = find_dump_files(data)
    dump_dir = Path((files.comments or files.submissions).parent)  # type: ignore[union-attr]
    data_root = data if (data / "aux").is_dir() else dump_dir.parent
    aux = featurizer = trajectory = None
    try:
        aux = load_aux_for_trajectory(registry)
    except BundleMissingError as exc:
        if args.target != "structural":
            err.print(f"[red]{exc}[/red]")
            return 2
    try:
        if args.target != "structural":
            target_fn, versions, computer = outcome_target(registry, aux, args.target)
            trajectory = computer.trajectory
            featurizer = CheckpointFeaturizer(computer)
            what = "moderator-safe outcome" if args.target == "safe" else "prosocial trajectory"
            target_name = (
                f"{what} (" + ", ".join(f"{k}@{v}" for k, v in sorted(versions.items())) + ")"
            )
        else:
            target_fn, target_name = structural_target, "structural (provisional, not final)"
            checkpoints = ()
    except (BundleMissingError, TrainingError) as exc:
        err.print(f"[red]{exc}[/red]")
        return 2
    empathy = None
    if not args.no_empathy and registry.has_current("empathy"):
        from models.empathy import EmpathyClassifier  # type: ignore[attr-defined]

        empathy = EmpathyClassifier.from_registry(registry, fast=True)
    fargs = ForecasterArgs(
        target=args.target,
        checkpoints=checkpoints,
        n_boot=args.n_boot,
        lda_iterations=args.lda_iterations,
        weight_schemes=schemes or DEFAULT_SCHEMES,
        history_scope=args.history_scope,
        calibrate=not args.no_calibration,
        min_age_s=int(args.min_age_hours * 3600),
        max_threads=args.max_threads,
        max_tlcs=args.max_tlcs,
        eta=args.eta,
        ridge_alpha=args.ridge_alpha,
        time_split=not args.no_time_split,
        minilm=args.minilm,
        ablations=not args.no_ablations,
        text_relative={"auto": None, "on": True, "off": False}[args.text_relative],
        make_current=not getattr(args, "candidate", False),
    )
    with err.status("training forecaster") as status:

        def progress(msg: str) -> None:
            status.update(f"forecaster: {msg}")
            report_progress(f"forecaster: {msg}")

        job = ForecasterJob(
            fargs,
            dump_dir=dump_dir,
            data_root=data_root,
            registry=registry,
            target_fn=target_fn,
            target_name=target_name,
            report_dir=var_dir() / "reports" / "forecaster",
            aux=aux,
            empathy_model=empathy,
            featurizer=featurizer,
            trajectory=trajectory,
            cache_dir=Path(args.cache_dir) if args.cache_dir else None,
            say=progress,
        )
        summary = job.run()
    if args.json:
        print_json(summary, default=float)
        return 0
    out = Console()
    out.print(f"forecaster bundle [bold]{summary['version']}[/bold] in {summary['registry']}")
    out.print(f"report: {summary['report']}")
    for line in checkpoint_lines(summary["by_checkpoint"]):
        out.print(line)
    return 0
