"""Orders of a post's TLCs: suggested, Reddit's current order, chronological.

* suggested: forecast trajectory, highest first; ties broken by the higher lower bound, then
  the older TLC. Each entry says whether its interval is *separated* from the next one
  (``lower > next.upper``); unseparated neighbours are a statistical tie.
* Reddit's current order: score (as last seen), then older first — Reddit's "top" order.
* chronological: oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Scored", "build_suggestion", "chronological_order", "reddit_order", "suggested_order"]


@dataclass(frozen=True)
class Scored:
    name: str
    created_utc: int
    score: int
    forecast: float
    lower: float | None = None
    upper: float | None = None
    reasons: Sequence[Any] = field(default_factory=tuple)
    empathy_label: str | None = None


def suggested_order(items: Sequence[Scored]) -> list[Scored]:
    return sorted(
        items,
        key=lambda s: (
            -s.forecast,
            -(s.lower if s.lower is not None else s.forecast),
            s.created_utc,
            s.name,
        ),
    )


def reddit_order(items: Sequence[Scored]) -> list[Scored]:
    return sorted(items, key=lambda s: (-s.score, s.created_utc, s.name))


def chronological_order(items: Sequence[Scored]) -> list[Scored]:
    return sorted(items, key=lambda s: (s.created_utc, s.name))


def build_suggestion(items: Sequence[Scored]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(order, diff)``: the suggested order with reasons, and the moves vs Reddit's order."""
    sug = suggested_order(items)
    red = {s.name: i + 1 for i, s in enumerate(reddit_order(items))}
    order: list[dict[str, Any]] = []
    for i, s in enumerate(sug):
        nxt = sug[i + 1] if i + 1 < len(sug) else None
        separated = (
            nxt is not None
            and s.lower is not None
            and nxt.upper is not None
            and s.lower > nxt.upper
        )
        why = list(s.reasons)[:3]
        if s.empathy_label:
            why = [f"empathy: {s.empathy_label}", *why]
        order.append(
            {
                "tlc": s.name,
                "rank": i + 1,
                "reddit_rank": red[s.name],
                "forecast": round(s.forecast, 4),
                "lower": None if s.lower is None else round(s.lower, 4),
                "upper": None if s.upper is None else round(s.upper, 4),
                "separated_from_next": separated,
                "reasons": why,
            }
        )
    diff = [
        {
            "tlc": o["tlc"],
            "from": o["reddit_rank"],
            "to": o["rank"],
            "move": o["reddit_rank"] - o["rank"],
        }
        for o in order
        if o["reddit_rank"] != o["rank"]
    ]
    return order, diff
