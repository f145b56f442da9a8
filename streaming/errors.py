"""The root exception of the ``streaming`` package."""

from __future__ import annotations

__all__ = ["DumpError", "StreamingError"]


class StreamingError(Exception):
    """Root of every error raised by :mod:`streaming`."""


class DumpError(StreamingError):
    """A dump file cannot be opened or read at all (bad records are reported, not raised)."""
