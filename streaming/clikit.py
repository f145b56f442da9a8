"""The shared shape of the two command lines (``prosocial`` and ``prosocial-train``): every
module of a commands package that has ``register(subparsers)`` adds one sub-command."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import pkgutil
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "CommandLine",
    "CommandParser",
    "build_command_parser",
    "fail",
    "plain_text",
    "print_json",
    "run_command",
]

_ROLE = re.compile(r":(?:mod|class|func|meth|attr|data|exc|obj):`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain_text(text: str | None) -> str | None:
    """``text`` without reStructuredText markup (roles and double back-quotes), for ``--help``."""
    if text is None:
        return None
    return _LITERAL.sub(r"\1", _ROLE.sub(r"\1", text))


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose description and option help are shown as plain text.

    Command modules pass their docstrings as descriptions; this parser (and every sub-parser
    it creates) strips the reStructuredText markup those docstrings carry.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        if isinstance(kwargs.get("description"), str):
            kwargs["description"] = plain_text(str(kwargs["description"]))
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def add_argument(self, *args: object, **kwargs: object) -> argparse.Action:  # type: ignore[override]
        if isinstance(kwargs.get("help"), str):
            kwargs["help"] = plain_text(str(kwargs["help"]))
        return super().add_argument(*args, **kwargs)  # type: ignore[arg-type]


def build_command_parser(
    pkg: ModuleType, prog: str, description: str | None
) -> argparse.ArgumentParser:
    """A parser with ``-v/--verbose`` and one sub-command per registering module of ``pkg``."""
    parser = CommandParser(prog=prog, description=description)
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


def fail(console: Console, error: object, code: int = 2) -> int:
    """Print ``error`` as the command's error line (a red ``error:`` on ``console``, the
    commands' stderr console) and give ``code``, the command's exit status."""
    console.print(f"[red]error:[/red] {error}")
    return code


def print_json(result: Any, **dumps: Any) -> None:
    """A command's ``--json`` output: ``result`` as JSON on stdout, then a line break
    (``dumps`` go to :func:`json.dumps`, e.g. ``default=str``)."""
    sys.stdout.write(json.dumps(result, **dumps) + "\n")


@dataclass(frozen=True)
class CommandLine:
    """One command line (as click's groups are, the object is its console script): ``prog``,
    described by ``description``, with one sub-command per registering module of the package
    named ``commands`` (imported when a parser is built)."""

    prog: str
    commands: str
    description: str | None = None

    def build_parser(self) -> argparse.ArgumentParser:
        pkg = importlib.import_module(self.commands)
        return build_command_parser(pkg, self.prog, self.description)

    def __call__(self, argv: Sequence[str] | None = None) -> int:
        """Parse ``argv`` (default ``sys.argv``) and run the command; its exit status."""
        return run_command(self.build_parser(), argv)
