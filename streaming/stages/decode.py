"""Decoding bus records into events, with the reason when a record is unusable.

Rules (documented, tested): invalid UTF-8 or JSON, a non-object, wrong types, missing ids,
bodies over ``MAX_BODY_CHARS`` → dead letter with the reason. Unknown fields are ignored. NUL
characters are removed from text (PostgreSQL cannot store them).
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from redditdata.dumps import rejection_reason
from redditdata.events import Comment, Submission, parse_event
from streaming.bus.base import Message
from streaming.errors import StreamingError

__all__ = ["Rejected", "clean_text", "decode"]


class Rejected(StreamingError):
    """A record that cannot be used; ``str(exc)`` is ``"<reason>: <detail>"``."""


def clean_text(s: str | None) -> str:
    return "" if s is None else s.replace("\x00", "")


def decode(msg: Message, kind: str) -> tuple[Submission | Comment, int | None]:
    """``(event, ingest_ms)`` or raise :class:`Rejected`."""
    try:
        text = msg.value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(f"bad_encoding: {exc}") from None
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise Rejected(f"bad_json: {str(exc)[:200]}") from None
    if not isinstance(obj, dict):
        raise Rejected(f"not_object: {type(obj).__name__}")
    ingest = obj.pop("_ingest_ms", None)
    ingest_ms = (
        int(ingest) if isinstance(ingest, (int, float)) and not isinstance(ingest, bool) else None
    )
    try:
        ev = parse_event(obj, kind)
    except (ValidationError, ValueError, TypeError, RecursionError) as exc:
        raise Rejected(rejection_reason(exc)) from None
    return ev, ingest_ms
