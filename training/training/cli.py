"""The ``prosocial-train`` command line (offline training)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from streaming.clikit import build_command_parser, run_command

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    import training.commands as pkg

    return build_command_parser(pkg, "prosocial-train", __doc__)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
