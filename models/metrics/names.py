"""The outcome metrics' names, order, signs and trajectory transforms.

``METRIC_NAMES`` fixes the column order of every metric matrix (outcome rows, the trajectory
bundle's ``features``). ``METRIC_SIGNS`` says how each metric *should* load on the prosocial
trajectory: ``+1`` for prosocial metrics, ``-1`` for the two toxic counts (the paper's
Appendix B: PC1 "loads on all of the prosocial behaviors and negatively on the antisocial").
``METRIC_TRANSFORMS`` is the variance-stabilising transform applied before standardising:
counts are heavy-tailed (a handful of TLCs collect hundreds of replies), so raw z-scores would
let those few rows dominate the covariance that PCA decomposes; ``log1p`` keeps 0 at 0 and the
order of values while compressing the tail. Community score can be negative, so it gets the
sign-preserving ``signed_log1p``. Means and shares are already bounded and stay as they are.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "COUNT_METRICS",
    "METRIC_NAMES",
    "METRIC_SIGNS",
    "METRIC_TRANSFORMS",
    "TEXT_METRIC_NAMES",
    "Transform",
]

Transform = Literal["identity", "log1p", "signed_log1p"]

#: Every outcome metric, in the order of the paper's Table 1.
METRIC_NAMES: tuple[str, ...] = (
    "information_sharing",
    "link_replies",
    "educational_links",
    "gratitude",
    "politeness",
    "linguistic_accommodation",
    "community_score",
    "supportiveness",
    "subsequent_comments",
    "direct_replies",
    "conversation_depth",
    "sustained_partners",
    "sustained_conversation",
    "compliments",
    "laughter",
    "personal_disclosure",
    "donations",
    "mentorship",
    "pct_non_toxic",
    "pct_non_extremely_toxic",
    "toxic_count",
    "extremely_toxic_count",
)

#: Expected sign of each metric's loading on the prosocial trajectory.
METRIC_SIGNS: dict[str, int] = {
    name: (-1 if name in ("toxic_count", "extremely_toxic_count") else 1) for name in METRIC_NAMES
}

_BOUNDED = {
    "politeness",
    "supportiveness",
    "linguistic_accommodation",
    "pct_non_toxic",
    "pct_non_extremely_toxic",
}

#: Metrics that count things (non-negative integers).
COUNT_METRICS: tuple[str, ...] = tuple(
    n for n in METRIC_NAMES if n not in _BOUNDED and n != "community_score"
)

METRIC_TRANSFORMS: dict[str, Transform] = {
    name: (
        "identity" if name in _BOUNDED else "signed_log1p" if name == "community_score" else "log1p"
    )
    for name in METRIC_NAMES
}

#: Per-comment metrics (paper §5.2: every prosocial metric except accommodation that makes
#: sense for one text) used as TLC-level forecaster features, plus the raw toxicity score.
TEXT_METRIC_NAMES: tuple[str, ...] = (
    "information_sharing",
    "link_replies",
    "educational_links",
    "gratitude",
    "politeness",
    "supportiveness",
    "compliments",
    "laughter",
    "personal_disclosure",
    "donations",
    "mentorship",
    "pct_non_toxic",
    "pct_non_extremely_toxic",
    "toxic_count",
    "extremely_toxic_count",
    "toxicity",
)
