"""``prosocial-train empathy``: fine-tune MiniLM on iEmpathize with the paper's protocol.

Writes an ``empathy`` bundle into the registry (made current) and a report with a confusion
matrix PNG under ``var/reports/empathy/``. ``--quick`` trains on a small slice for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from training.commands.options import IEMPATHIZE, add_command

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
    p.add_argument("--report-dir", default=None, help="default var/reports/empathy")
    p.add_argument("--seeds", type=int, default=3, help="number of training seeds (0..N-1)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--max-len", type=int, default=None)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument("--label-smoothing", type=float, default=None)
    p.add_argument("--threads", type=int, default=2, help="torch threads per training process")
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
    p.add_argument(
        "--distill-alpha",
        type=float,
        default=None,
        help="weight of the hard labels in the student loss (default 0.5)",
    )
    p.add_argument(
        "--distill-temperature",
        type=float,
        default=1.0,
        help="soften the teachers' probabilities with this temperature",
    )
    p.add_argument("--dropout", type=float, default=None)
    p.add_argument("--weight-decay", type=float, default=None)
    add_bf16_options(p)
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--max-train", type=int, default=None, help="use only N train sentences")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 300 train / 200 eval sentences, 1 epoch, max_len 32, 1 seed",
    )
    p.add_argument("--no-bundle", action="store_true", help="do not write a bundle")
    p.set_defaults(func=run)


def add_bf16_options(p: argparse.ArgumentParser) -> None:
    """``--bf16 auto|on|off`` and ``--no-bf16``, read back by :func:`use_bf16`."""
    p.add_argument(
        "--bf16",
        choices=("auto", "on", "off"),
        default="auto",
        help="bfloat16 autocast: auto = only where the CPU runs it natively "
        "(emulated bf16 is ~5x slower than fp32)",
    )
    p.add_argument("--no-bf16", action="store_true", help="train in fp32 (= --bf16 off)")


def use_bf16(args: argparse.Namespace) -> bool:
    """``--bf16``: on / off, or auto = native bf16 only; ``--no-bf16`` wins."""
    if args.no_bf16 or args.bf16 == "off":
        return False
    if args.bf16 == "on":
        return True
    from models.cpu import native_bf16

    return native_bf16()


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from models.bundle import Registry
    from models.paths import resolve_data_dir, resolve_registry_dir, var_dir
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
        console.print(f"[red]error:[/red] {exc}")
        return 2
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
    report_dir = Path(args.report_dir) if args.report_dir else var_dir() / "reports" / "empathy"
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
            report_dir=report_dir,
            lexicon_dir=lex if lex.exists() else None,
            baselines=not args.no_baselines,
            progress=progress,
            jobs=args.jobs,
            teachers=teachers,
            distill_temperature=args.distill_temperature,
        )
    s = res.summary
    if args.json:
        keys = (
            "minilm",
            "ensemble",
            "baselines",
            "bundle",
            "bundle_seed",
            "bundle_test",
            "train_seconds",
            "train_wall_seconds",
            "seeds",
            "n",
            "teachers",
        )
        out: dict[str, Any] = {k: s[k] for k in keys if k in s}
        out["report"] = str(res.report_dir / "report.md")
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        console.print(
            f"mean over seeds {seeds}: "
            + ", ".join(f"{k} F1 {v['f1']:.2f}±{v['f1_sd']:.2f}" for k, v in s["minilm"].items())
        )
        if res.bundle is not None:
            console.print(f"bundle empathy@{res.bundle.version} -> {res.bundle.path}")
        console.print(f"report: {res.report_dir / 'report.md'}")
    return 0
