"""``prosocial-train empathy``: fine-tune MiniLM on iEmpathize with the paper's protocol.

Writes an ``empathy`` bundle into the registry (made current) and a report with a confusion
matrix PNG under ``var/reports/empathy/``. ``--quick`` trains on a small slice for a smoke run.
"""

from __future__ import annotations

import argparse
from typing import Any

from streaming.clikit import fail, print_json
from training.commands.options import (
    IEMPATHIZE,
    add_command,
    add_student_training,
    report_dir,
    use_bf16,
)

__all__ = ["TEACHER_SEED0", "register", "run"]

#: Teacher seeds for ``--distill-teachers`` start here (disjoint from the student seeds 0..N-1).
TEACHER_SEED0 = 100


def register(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "empathy",
        "fine-tune the empathy-direction classifier",
        __doc__,
        data=IEMPATHIZE,
    )
    add_student_training(p, "empathy")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--max-len", type=int, default=None)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument("--label-smoothing", type=float, default=None)
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="train seeds in N processes (use --threads 1 on a busy machine)",
    )
    p.add_argument(
        "--base-model",
        default=None,
        help="encoder directory (default MiniLM; e.g. an empathy-dapt output)",
    )
    p.add_argument(
        "--distill-teachers",
        type=int,
        default=0,
        help="ensemble distillation: train N teacher seeds (100..) first and "
        "distil their averaged train-split probabilities into every seed",
    )
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 300 train / 200 eval sentences, 1 epoch, max_len 32, 1 seed",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from models.bundle import Registry
    from models.paths import resolve_data_dir, resolve_registry_dir
    from streaming.progress import report_progress
    from training.empathy.data import dataset_path, split_dataset
    from training.empathy.job import head, run_protocol
    from training.empathy.trainer import Args
    from training.errors import TrainingError

    console = Console(stderr=True)
    data_dir = resolve_data_dir(args.data)
    try:
        data = split_dataset(dataset_path(data_dir))
    except TrainingError as exc:
        return fail(console, exc)
    targs = Args(threads=args.threads, bf16=use_bf16(args), base_model=args.base_model)
    seeds = list(range(max(1, args.seeds)))
    if args.quick:
        data = head(data, 300, 200)
        targs.epochs, targs.max_len, targs.patience = 1, 32, 1
        seeds = seeds[:1]
    elif args.max_train:
        data = head(data, args.max_train, max(len(data.valid), 1))
    for name in (
        "epochs",
        "lr",
        "batch_size",
        "max_len",
        "patience",
        "label_smoothing",
        "distill_alpha",
        "loss_weights",
        "dropout",
        "weight_decay",
    ):
        val = getattr(args, name)
        if val is not None:
            setattr(targs, name, val)
    teachers = [TEACHER_SEED0 + i for i in range(max(0, args.distill_teachers))]
    if args.quick:
        teachers = teachers[:1]
    registry = None if args.no_bundle else Registry(resolve_registry_dir(args.registry))
    lex = data_dir / "aux" / "lexicons"
    with console.status("training empathy classifier ...") as status:

        def progress(msg: str) -> None:
            status.update(msg)
            console.log(msg)
            report_progress(f"empathy: {msg}")

        res = run_protocol(
            data,
            targs,
            seeds,
            registry=registry,
            report_dir=report_dir(args),
            lexicon_dir=lex if lex.exists() else None,
            baselines=not args.no_baselines,
            progress=progress,
            jobs=args.jobs,
            teachers=teachers,
            distill_temperature=args.distill_temperature,
            soup=not args.no_soup,
        )
    s = res.summary
    if args.json:
        keys = (
            "minilm",
            "ensemble",
            "baselines",
            "bundle",
            "bundle_seed",
            "bundle_soup",
            "bundle_test",
            "train_seconds",
            "train_wall_seconds",
            "seeds",
            "n",
            "teachers",
        )
        out: dict[str, Any] = {k: s[k] for k in keys if k in s}
        out["report"] = str(res.report_dir / "report.md")
        print_json(out)
    else:
        console.print(
            f"mean over seeds {seeds}: "
            + ", ".join(f"{k} F1 {v['f1']:.2f}±{v['f1_sd']:.2f}" for k, v in s["minilm"].items())
        )
        if res.bundle is not None:
            console.print(f"bundle empathy@{res.bundle.version} -> {res.bundle.path}")
        console.print(f"report: {res.report_dir / 'report.md'}")
    return 0
