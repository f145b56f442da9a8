"""What every training command's parser has (its description, ``--data`` and ``--registry``,
resolved by :mod:`models.paths`, and ``--json``) and the option groups several commands share."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = [
    "DUMP",
    "IEMPATHIZE",
    "add_command",
    "add_report_dir",
    "add_student_training",
    "add_thread_window",
    "add_torch_options",
    "loss_weights",
    "report_dir",
    "use_bf16",
]

#: what ``--data`` names for the commands that read a Reddit dump / the iEmpathize corpus
DUMP = "dump directory (or the data dir holding reddit-college/)"
IEMPATHIZE = "data directory (holds iempathize/dataset.csv)"


def add_command(
    subparsers: Any,
    name: str,
    help: str,
    doc: str | None,
    *,
    data: str = DUMP,
    registry: bool = True,
) -> argparse.ArgumentParser:
    """Sub-command ``name`` (``help`` in the command list, its module docstring ``doc`` as the
    description, line breaks kept) with the options every training command takes (``--data``
    described by ``data``, ``--json`` and, unless ``registry`` is false, ``--registry``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", default=None, help=data + " (default: PROSOCIAL_DATA_DIR)")
    if registry:
        p.add_argument(
            "--registry",
            default=None,
            help="model registry directory (default: PROSOCIAL_REGISTRY_DIR or var/registry)",
        )
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    return p


def add_thread_window(p: argparse.ArgumentParser) -> None:
    """Which threads of the dump are read: matured ones (scraped long enough after posting
    for their outcome to be known), up to a number."""
    p.add_argument("--max-threads", type=int, default=None, help="stop after N threads")
    p.add_argument(
        "--min-age-hours",
        type=float,
        default=48.0,
        help="only threads scraped at least this long after posting (default 48)",
    )


def add_torch_options(p: argparse.ArgumentParser) -> None:
    """``--threads`` (torch threads) and the bfloat16 choice (``--bf16 auto|on|off``,
    ``--no-bf16``), read back by :func:`use_bf16`."""
    p.add_argument("--threads", type=int, default=2, help="torch threads (per training process)")
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


def add_student_training(p: argparse.ArgumentParser, report: str) -> None:
    """What the commands that train (and distil into) MiniLM empathy students take: the report
    directory (default ``var/reports/<report>``, see :func:`report_dir`), seeds and epochs, the
    distillation's weight and temperature, the heads' loss weights, torch threads and bf16, a cap
    on the train split, ``--no-bundle`` and ``--no-soup``."""
    add_report_dir(p, report)
    p.add_argument("--seeds", type=int, default=3, help="training seeds per model (0..N-1)")
    p.add_argument("--epochs", type=int, default=None, help="student epochs")
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
    p.add_argument(
        "--loss-weights",
        type=loss_weights,
        default=None,
        metavar="HEAD=W,...",
        help="weights of the heads' losses, e.g. seek=1.5 (heads: multi, seek, provide; "
        "default 1 each)",
    )
    add_torch_options(p)
    p.add_argument("--max-train", type=int, default=None, help="use only N train sentences")
    p.add_argument("--no-bundle", action="store_true", help="do not write bundles")
    p.add_argument(
        "--no-soup",
        action="store_true",
        help="bundle the best seed even when the seeds' greedy weight soup validates better",
    )


def loss_weights(text: str) -> dict[str, float]:
    """``--loss-weights``: ``head=weight`` pairs separated by commas (unnamed heads keep 1)."""
    from training.empathy.metrics import SETTINGS

    weights = dict.fromkeys(SETTINGS, 1.0)
    for part in (x.strip() for x in text.split(",")):
        if not part:
            continue
        head, sep, value = part.partition("=")
        head = head.strip()
        if not sep or head not in weights:
            raise argparse.ArgumentTypeError(
                f"{part!r}: expected head=weight with head one of {', '.join(weights)}"
            )
        try:
            weights[head] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: {value!r} is not a number") from None
        if not weights[head] >= 0:
            raise argparse.ArgumentTypeError(f"{part!r}: a weight must be >= 0")
    return weights


def add_report_dir(p: argparse.ArgumentParser, report: str) -> None:
    """``--report-dir``: where the command writes its report (default
    ``var/reports/<report>``, see :func:`report_dir`)."""
    p.add_argument("--report-dir", default=None, help=f"default var/reports/{report}")
    p.set_defaults(report_name=report)


def report_dir(args: argparse.Namespace) -> Path:
    """``--report-dir``, or ``var/reports/<the command's report name>``."""
    from models.paths import var_dir

    return Path(args.report_dir) if args.report_dir else var_dir() / "reports" / args.report_name
