"""``prosocial bot ...`` — registered here so the one ``prosocial`` CLI finds it.

The command line is the composition root: here and in :mod:`streaming.commands.live` (lazily,
at run time) ``streaming`` reaches into ``bot``; ``bot`` itself only imports
``streaming``/``models``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    import importlib

    importlib.import_module("bot.cli").register(sub)
