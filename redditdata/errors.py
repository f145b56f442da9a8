"""The root exception of the ``redditdata`` package."""

from __future__ import annotations

__all__ = ["DataError", "DumpError"]


class DataError(Exception):
    """Root of every error raised by :mod:`redditdata`."""


class DumpError(DataError):
    """A dump file cannot be opened or read at all (bad records are reported, not raised)."""
