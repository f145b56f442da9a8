"""``prosocial-train empathy-dapt``: domain-adaptive MLM pre-training of MiniLM on Reddit text.

Samples comments from ``reddit-college/comments.jsonl.gz``, splits them into sentences and
continues masked-LM training of all-MiniLM-L6-v2 (paper Table 6); ``--task-repeat N`` adds the
iEmpathize train-split texts (never validation or test) to the pool. Writes an encoder directory
(default ``var/dapt/minilm-reddit``) to pass to ``prosocial-train empathy --base-model DIR``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from streaming.clikit import fail, print_json
from training.commands.options import add_command, add_torch_options, use_bf16

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    p = add_command(
        subparsers,
        "empathy-dapt",
        "domain-adaptive MLM pre-training of MiniLM",
        __doc__,
        data="data directory (holds reddit-college/comments.jsonl.gz)",
        registry=False,
    )
    p.add_argument("--out", default=None, help="output encoder directory")
    corpus = p.add_argument_group("the sentences")
    corpus.add_argument("--comments", type=int, default=None, help="comments sampled")
    corpus.add_argument("--sentences", type=int, default=None, help="sentences kept")
    corpus.add_argument(
        "--task-repeat",
        type=int,
        default=0,
        help="also train on the iEmpathize *train* split texts (no labels; "
        "validation/test never seen), repeated N times (task-adaptive)",
    )
    mlm = p.add_argument_group("masked-LM training")
    mlm.add_argument("--base-model", default=None, help="encoder directory (default MiniLM)")
    mlm.add_argument("--steps", type=int, default=None, help="optimizer steps")
    mlm.add_argument("--batch-size", type=int, default=None)
    mlm.add_argument("--lr", type=float, default=None, help="encoder learning rate")
    mlm.add_argument(
        "--head-warmup", type=int, default=None, help="first N steps train the MLM head only"
    )
    mlm.add_argument("--max-len", type=int, default=None, help="tokens per sentence")
    mlm.add_argument(
        "--max-minutes", type=float, default=None, help="stop training after this many minutes"
    )
    mlm.add_argument("--seed", type=int, default=0)
    add_torch_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from models.paths import resolve_data_dir, var_dir
    from training.empathy.dapt import DaptArgs, comments_path, load_sentences, run_dapt
    from training.empathy.data import dataset_path, split_dataset
    from training.errors import TrainingError

    console = Console(stderr=True)
    dargs = DaptArgs(
        seed=args.seed,
        threads=args.threads,
        bf16=use_bf16(args),
        base_model=args.base_model,
        max_minutes=args.max_minutes,
    )
    for name, attr in (
        ("steps", "steps"),
        ("batch_size", "batch_size"),
        ("lr", "lr"),
        ("head_warmup", "head_warmup"),
        ("max_len", "max_len"),
        ("comments", "n_comments"),
        ("sentences", "n_sentences"),
    ):
        val = getattr(args, name)
        if val is not None:
            setattr(dargs, attr, val)
    out = Path(args.out) if args.out else var_dir() / "dapt" / "minilm-reddit"
    try:
        sents, digest = load_sentences(
            comments_path(resolve_data_dir(args.data)),
            n_comments=dargs.n_comments,
            n_sentences=dargs.n_sentences,
            min_words=dargs.min_words,
            seed=dargs.seed,
        )
        extra: list[str] = []
        if args.task_repeat > 0:
            split = split_dataset(dataset_path(resolve_data_dir(args.data)))
            extra = list(split.train.texts) * args.task_repeat
        with console.status("domain-adaptive pre-training ...") as status:

            def progress(msg: str) -> None:
                status.update(msg)
                console.log(msg)

            res = run_dapt(sents, dargs, out, corpus_hash=digest, extra=extra, progress=progress)
    except TrainingError as exc:
        return fail(console, exc)
    summary = {
        "out": str(res.out_dir),
        "steps": res.steps,
        "seconds": round(res.seconds, 1),
        "sentences": res.n_sentences,
        "heldout_loss_before": round(res.heldout_loss_before, 4),
        "heldout_loss_after": round(res.heldout_loss_after, 4),
    }
    if args.json:
        print_json(summary)
    else:
        console.print(
            f"encoder -> {res.out_dir} (held-out MLM loss "
            f"{res.heldout_loss_before:.3f} -> {res.heldout_loss_after:.3f}); "
            f"fine-tune with: prosocial-train empathy --base-model {res.out_dir}"
        )
    return 0
