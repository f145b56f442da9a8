"""``prosocial-train trajectory``: fit the prosocial trajectory (standardiser + PC1)."""

from __future__ import annotations

import argparse

from rich.console import Console

from models.bundle import Registry
from models.errors import BundleMissingError
from models.paths import resolve_data_dir, resolve_registry_dir, var_dir
from streaming.clikit import fail, print_json
from streaming.errors import StreamingError
from streaming.progress import counter, report_progress
from training.commands.options import add_command, add_thread_window
from training.errors import TrainingError
from training.fromdb import add_registering_args

__all__ = ["register", "train"]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_command(subparsers, "trajectory", "fit the prosocial trajectory (PCA) bundle", __doc__)
    add_thread_window(p)
    p.add_argument("--min-replies", type=int, default=1, help="replies a conversation needs")
    p.add_argument(
        "--heldout-frac", type=float, default=0.2, help="share of posts held out (default 0.2)"
    )
    add_registering_args(p, train, "trajectory")


def train(args: argparse.Namespace) -> int:
    from training.trajectory import PAPER_PC1_EVR, TrajectoryArgs, train_trajectory

    err = Console(stderr=True)
    registry = Registry(resolve_registry_dir(args.registry))
    data = resolve_data_dir(args.data)
    try:
        from models.aux import AuxModels

        aux = AuxModels.from_registry(registry)
    except BundleMissingError as exc:
        return fail(err, exc)
    with counter(err, "threads") as progress:
        task = progress.add_task("outcome metrics", total=args.max_threads)
        comments = [0]

        def on_batch(threads: int, n: int) -> None:
            comments[0] += n
            progress.update(
                task, advance=threads, description=f"outcome metrics ({comments[0]:,} comments)"
            )
            done = progress.tasks[0].completed
            report_progress(f"trajectory: {int(done):,} threads", done, args.max_threads)

        try:
            targs = TrajectoryArgs(
                min_age_hours=args.min_age_hours,
                max_threads=args.max_threads,
                min_replies=args.min_replies,
                heldout_frac=args.heldout_frac,
                make_current=not getattr(args, "candidate", False),
            )
            report = train_trajectory(
                data,
                registry,
                aux,
                targs,
                report_dir=var_dir() / "reports" / "trajectory",
                on_batch=on_batch,
            )
        except (TrainingError, StreamingError) as exc:
            return fail(err, exc, 1)
    if args.json:
        print_json(report)
        return 0
    out = Console()
    out.print(f"trajectory bundle [bold]{report['version']}[/bold] in {report['registry']}")
    held = report["heldout_explained_variance"]
    out.print(
        f"PC1 explains {report['explained_variance_ratio']:.1%} of the variance "
        f"(held-out posts: {'n/a' if held is None else f'{held:.1%}'}; "
        f"paper: {PAPER_PC1_EVR:.1%}) over {report['n_train_conversations']:,} "
        f"conversations"
    )
    for name, v in report["loadings"].items():
        out.print(f"  {name:26s} {v:+.3f}")
    if report["loadings_against_expected_sign"]:
        out.print(
            "against the expected sign: " + ", ".join(report["loadings_against_expected_sign"])
        )
    if "plot" in report:
        out.print(f"plot: {report['plot']}")
    return 0
