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
    "SAFE_METRIC_NAMES",
    "SAFE_METRIC_SIGNS",
    "SAFE_METRIC_TRANSFORMS",
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

#: Metrics of a conversation as a whole (its shape, its score, accommodation between repliers).
_CONVERSATION_METRICS = {
    "linguistic_accommodation",
    "community_score",
    "subsequent_comments",
    "direct_replies",
    "conversation_depth",
    "sustained_partners",
    "sustained_conversation",
}

#: Per-comment metrics (paper §5.2: every prosocial metric except accommodation that makes
#: sense for one text) used as TLC-level forecaster features, plus the raw toxicity score.
TEXT_METRIC_NAMES: tuple[str, ...] = (
    *(n for n in METRIC_NAMES if n not in _CONVERSATION_METRICS),
    "toxicity",
)

#: Columns of the moderator-safe outcome (:mod:`models.outcomes`): every metric is measured on
#: the *civil tree* (the TLC's replies with each toxic reply and its subtree cut off), except
#: the four toxicity metrics, measured on the whole tree. Politeness and supportiveness are
#: summed, not averaged, and the community score counts only positive reply scores, so that
#: removing a polite or supportive reply can never raise a column that loads positively.
#: Linguistic accommodation is left out: it is a ratio over exchanges that adding or
#: removing any reply can move either way, so no sign can be guaranteed for it.
SAFE_METRIC_NAMES: tuple[str, ...] = (
    "civil_information_sharing",
    "civil_link_replies",
    "civil_educational_links",
    "civil_gratitude",
    "civil_politeness_sum",
    "civil_positive_score",
    "civil_supportiveness_sum",
    "civil_comments",
    "civil_direct_replies",
    "civil_depth",
    "civil_sustained_partners",
    "civil_sustained_conversation",
    "civil_compliments",
    "civil_laughter",
    "civil_personal_disclosure",
    "civil_donations",
    "civil_mentorship",
    "pct_non_toxic",
    "pct_non_extremely_toxic",
    "toxic_count",
    "extremely_toxic_count",
)

#: Sign every safe-outcome weight must have (checked when a bundle loads): ``-1`` for the
#: toxic counts, ``+1`` for everything else (a weight may also be 0).
SAFE_METRIC_SIGNS: dict[str, int] = {
    name: (-1 if name in ("toxic_count", "extremely_toxic_count") else 1)
    for name in SAFE_METRIC_NAMES
}

SAFE_METRIC_TRANSFORMS: dict[str, Transform] = {
    name: (
        "identity"
        if name in ("pct_non_toxic", "pct_non_extremely_toxic")
        else "signed_log1p"
        if name in ("civil_politeness_sum", "civil_supportiveness_sum")
        else "log1p"
    )
    for name in SAFE_METRIC_NAMES
}
