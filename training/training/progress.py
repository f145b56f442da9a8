"""How a training step reports what it is doing: a callback taking one line of text."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress"]

#: called with a short line ("fitting head toxic ...") as a step goes; the commands show it
Progress = Callable[[str], None]
