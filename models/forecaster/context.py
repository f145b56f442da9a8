"""What is known about a TLC's author and post at the moment the TLC is posted.

:class:`TlcContext` carries the author's history strictly before the TLC: how many TLCs the
author wrote earlier (anywhere in the data, in this subreddit, on this post) and the mean
outcome (trajectory) of the author's earlier TLCs whose outcome had *matured* — created at
least ``horizon`` before this TLC, i.e. already back-filled when this one is scored. Training
computes it in time order over a whole dump (``training.forecaster.context``); the stream
scorer computes it from storage (``tlcs`` + ``outcomes`` tables).

:func:`context_features` turns (post, TLC, earlier-TLC count, context) into the forecaster's
context columns (:data:`CONTEXT_FEATURES`). A missing context (``None``) is scored as a
first-time author with no matured outcome — the documented serving default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from redditdata.tree import Node, Post

__all__ = [
    "AUTHOR_FEATURES",
    "CONTEXT_FEATURES",
    "EMPTY_CONTEXT",
    "POST_CONTEXT_FEATURES",
    "TlcContext",
    "author_key",
    "context_features",
]

#: Author-history columns (need a :class:`TlcContext`).
AUTHOR_FEATURES = (
    "author_log_prior_tlcs",
    "author_log_prior_tlcs_sub",
    "author_prior_tlcs_post",
    "author_log_n_outcomes",
    "author_mean_outcome",
)
#: Columns computed from the post, the TLC and its earlier-TLC count alone.
POST_CONTEXT_FEATURES = ("is_op", "tlc_rate_per_hour")
CONTEXT_FEATURES = POST_CONTEXT_FEATURES + AUTHOR_FEATURES

_UNKNOWN = ("", "[deleted]", "[removed]")


def author_key(author: str | None) -> str | None:
    """The author as a history key; ``None`` for deleted / unknown authors (no history)."""
    if author is None or author.strip() in _UNKNOWN:
        return None
    return author.lower()


@dataclass(frozen=True, slots=True)
class TlcContext:
    """The author's history strictly before a TLC (counts of earlier TLCs, matured outcomes).

    ``sum_outcome`` is the sum of the trajectories of ``n_outcomes`` earlier TLCs of the
    author whose outcome was known (created ≥ horizon before this TLC)."""

    prior_tlcs: int = 0
    prior_tlcs_sub: int = 0
    prior_tlcs_post: int = 0
    n_outcomes: int = 0
    sum_outcome: float = 0.0

    @property
    def mean_outcome(self) -> float:
        return self.sum_outcome / self.n_outcomes if self.n_outcomes else 0.0


EMPTY_CONTEXT = TlcContext()


def context_features(
    post: Post, tlc: Node, n_prior: int, ctx: TlcContext | None
) -> tuple[float, ...]:
    """The :data:`CONTEXT_FEATURES` row of one TLC (``ctx=None``: a first-time author)."""
    c = ctx if ctx is not None else EMPTY_CONTEXT
    me, op = author_key(tlc.author), author_key(post.author)
    hours = max(0.0, (tlc.created_utc - post.created_utc) / 3600.0)
    return (
        float(me is not None and me == op),
        n_prior / (hours + 0.25),  # earlier TLCs per hour (quarter-hour floor)
        math.log1p(c.prior_tlcs),
        math.log1p(c.prior_tlcs_sub),
        float(c.prior_tlcs_post),
        math.log1p(c.n_outcomes),
        c.mean_outcome,
    )
