"""The root exception of the ``models`` package and its subclasses."""

from __future__ import annotations

__all__ = ["BundleError", "BundleMissingError", "ModelsError"]


class ModelsError(Exception):
    """Root of every error raised by :mod:`models`."""


class BundleError(ModelsError):
    """A bundle is malformed, fails verification, or cannot be loaded."""


class BundleMissingError(BundleError):
    """The registry has no current bundle for a model name.

    ``hint`` names the command that trains it.
    """

    def __init__(self, name: str, registry: str, hint: str = "") -> None:
        self.name = name
        self.registry = registry
        self.hint = hint
        msg = f"no current bundle {name!r} in registry {registry}"
        if hint:
            msg += f" (train it with: {hint})"
        super().__init__(msg)
