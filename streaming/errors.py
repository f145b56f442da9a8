"""The root exception of the ``streaming`` package."""

from __future__ import annotations

__all__ = ["BusError", "StreamingError"]


class StreamingError(Exception):
    """Root of every error raised by :mod:`streaming`."""


class BusError(StreamingError):
    """The broker cannot be reached or refused an operation."""
