"""The shared shape of the two command lines (``prosocial`` and ``prosocial-train``): every
module of a commands package that has ``register(subparsers)`` adds one sub-command."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["build_command_parser", "run_command"]


def build_command_parser(
    pkg: ModuleType, prog: str, description: str | None
) -> argparse.ArgumentParser:
    """A parser with ``-v/--verbose`` and one sub-command per registering module of ``pkg``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{pkg.__name__}.{mod.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse, set up logging on stderr (``-v`` info, ``-vv`` debug) and run the command."""
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    from streaming.logsafety import install_log_safety

    install_log_safety()
    return int(args.func(args) or 0)
