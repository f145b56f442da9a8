"""How Reddit shows an item that is gone: deleted by its author, removed by a moderator or
Reddit, or written by an account that was deleted since.

A moderator's client sees a removed item with its text and ``removed`` / ``banned_by`` /
``removed_by_category`` set; everyone else sees ``[removed]``. A deleted item reads
``[deleted]`` with author ``[deleted]`` (praw: ``None``). An item of a deleted account keeps
its text but its author reads ``[deleted]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["classify"]

_GONE_TEXT = {"[deleted]": "deleted", "[removed]": "removed"}


def _author(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(getattr(value, "name", value))


def classify(data: Mapping[str, Any] | Any) -> str | None:
    """``deleted``, ``removed``, ``account_deleted`` or ``None`` (still there) for one item
    (a praw object or an API ``data`` mapping)."""
    d = data if isinstance(data, Mapping) else vars(data)
    text = d.get("body") if "body" in d else d.get("selftext")
    if text in _GONE_TEXT:
        return _GONE_TEXT[str(text)]
    category = d.get("removed_by_category")
    if category in ("deleted", "author"):
        return "deleted"
    if category or d.get("removed") or d.get("banned_by") or d.get("spam"):
        return "removed"
    if _author(d.get("author")) in (None, "[deleted]"):
        return "account_deleted"
    return None
