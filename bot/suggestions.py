"""What delivery consumes from the stream service: per-post suggestions.

The stream service (its suggester) implements :class:`SuggestionSource`; the bot
only reads these frozen dataclasses, so it stays independent of the storage behind them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "EmpathySeeker",
    "PostSuggestion",
    "StaticSuggestionSource",
    "SuggestionSource",
    "rank_distance",
]


@dataclass(frozen=True)
class EmpathySeeker:
    """A TLC classified as seeking empathy that has no supportive reply yet."""

    tlc: str
    post: str
    author: str | None
    permalink: str
    excerpt: str
    created_utc: int


@dataclass(frozen=True)
class PostSuggestion:
    post: str  # t3_ fullname
    subreddit: str
    title: str
    permalink: str
    current_order: tuple[str, ...]  # TLC fullnames as Reddit shows them
    suggested_order: tuple[str, ...]  # by forecast trajectory
    reasons: Mapping[str, str] = field(default_factory=dict)  # TLC fullname -> why
    empathy_seekers: tuple[EmpathySeeker, ...] = ()

    @property
    def distance(self) -> float:
        return rank_distance(self.current_order, self.suggested_order)


class SuggestionSource(Protocol):
    def suggestions(self, subreddit: str, since_utc: int) -> Sequence[PostSuggestion]:
        """Current suggestions for posts of ``subreddit`` active since ``since_utc``."""
        ...


def rank_distance(current: Sequence[str], suggested: Sequence[str]) -> float:
    """Normalised Kendall tau distance (0 = same order, 1 = reversed) over common items."""
    pos = {x: i for i, x in enumerate(current)}
    items = [x for x in suggested if x in pos]
    n = len(items)
    if n < 2:
        return 0.0
    ranks = [pos[x] for x in items]
    discordant = sum(1 for i in range(n) for j in range(i + 1, n) if ranks[i] > ranks[j])
    return discordant / (n * (n - 1) / 2)


class StaticSuggestionSource:
    """A fixed list (tests, replays)."""

    def __init__(self, items: Sequence[PostSuggestion]) -> None:
        self.items = list(items)

    def suggestions(self, subreddit: str, since_utc: int) -> Sequence[PostSuggestion]:
        return [s for s in self.items if s.subreddit.lower() == subreddit.lower()]
