"""The prosocial stream service core: event schema, bus, stages, storage, replay."""

from streaming.errors import StreamingError

__all__ = ["StreamingError"]
