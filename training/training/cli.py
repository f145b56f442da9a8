"""The ``prosocial-train`` command line (offline training)."""

from __future__ import annotations

from streaming.clikit import CommandLine

__all__ = ["main"]

main = CommandLine("prosocial-train", "training.commands", __doc__)

if __name__ == "__main__":
    raise SystemExit(main())
