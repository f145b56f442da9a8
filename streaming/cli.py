"""The ``prosocial`` command line (serving side)."""

from __future__ import annotations

from streaming.clikit import CommandLine

__all__ = ["main"]

main = CommandLine("prosocial", "streaming.commands", __doc__)

if __name__ == "__main__":
    raise SystemExit(main())
