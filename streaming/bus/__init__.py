"""The message bus: one interface, an embedded in-process backend and a Kafka backend."""

from streaming.bus.base import Bus, Message, RecordTooLarge

__all__ = ["Bus", "Message", "RecordTooLarge"]
