"""``prosocial bot ...`` — registered here so the one ``prosocial`` CLI finds it.

The command line is the composition root: this is the only place ``streaming`` reaches into
``bot``, lazily, at parser construction (``bot`` itself only imports ``streaming``/``models``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    import importlib

    importlib.import_module("bot.cli").register(sub)
