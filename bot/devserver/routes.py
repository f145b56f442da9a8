"""How the dev server's API finds a request's handler: each handler method declares the HTTP
method and path pattern it answers with :func:`route`; :func:`routes` lists them for an API
object, bound to it."""

from __future__ import annotations

import re
from collections.abc import Callable
from types import FunctionType
from typing import Any, TypeVar

__all__ = ["Handler", "Response", "route", "routes"]

#: (HTTP status, JSON-able payload)
Response = tuple[int, Any]
#: a bound handler: the pattern's groups positionally, ``query=`` and ``form=`` by keyword
Handler = Callable[..., Response]
F = TypeVar("F", bound=Callable[..., Any])

_DECLARED: dict[Callable[..., Any], tuple[str, re.Pattern[str]]] = {}


def route(method: str, pattern: str) -> Callable[[F], F]:
    """Declare that the decorated handler answers ``method`` requests whose path matches
    ``pattern``; the pattern's groups become its positional arguments."""

    def declare(fn: F) -> F:
        _DECLARED[fn] = (method, re.compile(pattern))
        return fn

    return declare


def routes(api: object) -> list[tuple[str, re.Pattern[str], Handler]]:
    """``api``'s declared handlers, bound to it, base classes' first and each class's in the
    order it defines them (the first route that matches answers)."""
    out = []
    for cls in reversed(type(api).__mro__):
        for name, fn in vars(cls).items():
            if isinstance(fn, FunctionType) and fn in _DECLARED:
                method, pattern = _DECLARED[fn]
                out.append((method, pattern, getattr(api, name)))
    return out
