"""The root exception of the ``streaming`` package."""

from __future__ import annotations

__all__ = ["StreamingError"]


class StreamingError(Exception):
    """Root of every error raised by :mod:`streaming`."""
