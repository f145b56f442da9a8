"""One HTTP request to the dev server, as its handlers (OAuth pages, the API) read it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Request"]


@dataclass(frozen=True)
class Request:
    """``method`` and ``path``; ``query`` and (for a POST) ``form`` parameters; ``headers``
    (the server's ``http.client.HTTPMessage``: ``get`` is case-insensitive)."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: Any
