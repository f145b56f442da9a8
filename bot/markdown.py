"""Quoting user text in what the bot writes (modmail, wiki pages, its own comments).

Titles, excerpts and usernames come from Reddit users; shown raw they could spoof links,
headings, tables or mentions in a message moderators trust. :func:`escape` backslash-escapes
every Markdown control character and breaks bare links and ``u/`` / ``r/`` mentions, on one
line; :func:`quote` additionally shortens the text to ``limit`` characters.
"""

from __future__ import annotations

import re

__all__ = ["escape", "quote"]

_CONTROL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~^&>:=\"])")
_SPACES = re.compile(r"\s+")


def escape(text: str | None) -> str:
    """One line of ``text`` that renders literally (no links, formatting or mentions)."""
    if not text:
        return ""
    one = _SPACES.sub(" ", text).strip()
    out = _CONTROL.sub(r"\\\1", one)
    # u/name and r/name mention or link even with escapes around them: break the slash
    return re.sub(r"\b([ur])/", r"\1&#47;", out, flags=re.IGNORECASE)


def quote(text: str | None, limit: int = 140) -> str:
    one = _SPACES.sub(" ", text or "").strip()
    if len(one) > limit:
        one = one[: limit - 1].rstrip() + "…"
    return escape(one)
