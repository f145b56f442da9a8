"""The root exception of the ``training`` package."""

from __future__ import annotations

__all__ = ["TrainingError"]


class TrainingError(Exception):
    """Root of every error raised by :mod:`training`."""
