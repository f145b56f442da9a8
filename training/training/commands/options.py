"""What every training command's parser has: its description, ``--data`` and ``--registry``
(resolved by :mod:`models.paths`) and ``--json``."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["DUMP", "IEMPATHIZE", "add_command", "add_thread_window"]

#: what ``--data`` names for the commands that read a Reddit dump / the iEmpathize corpus
DUMP = "dump directory (or the data dir holding reddit-college/)"
IEMPATHIZE = "data directory (holds iempathize/dataset.csv)"


def add_command(
    subparsers: Any, name: str, help: str, doc: str | None, *, data: str = DUMP
) -> argparse.ArgumentParser:
    """Sub-command ``name`` (``help`` in the command list, its module docstring ``doc`` as the
    description, line breaks kept) with the options every training command takes."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", default=None, help=data + " (default: PROSOCIAL_DATA_DIR)")
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
