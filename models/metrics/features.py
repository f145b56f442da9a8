"""Per-comment features, computed for many texts at once, and their per-text metric values.

:func:`lexical_features` runs the rule-based counters over a list of texts;
:func:`aux_scores` makes ONE call to the auxiliary models for all of them;
:func:`per_text_metrics` turns both into the per-comment value of every text-level metric
(:data:`~models.metrics.names.TEXT_METRIC_NAMES`). Outcome computation sums / averages these
over a conversation's replies; :func:`text_metrics` exposes them for a TLC's own text (the
forecaster's TLC-level features, paper §5.2).

Without aux models the classifier-based values are ``NaN`` (information sharing, politeness,
supportiveness, mentorship, the toxicity metrics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from models.metrics.aux import HEADS, AuxScorer, thresholds_of
from models.metrics.domains import count_links
from models.metrics.lexical import (
    count_compliments,
    count_gratitude,
    count_laughter,
    has_disclosure,
)
from models.metrics.names import TEXT_METRIC_NAMES

__all__ = [
    "LEXICAL_COLUMNS",
    "aux_scores",
    "has_text",
    "lexical_features",
    "per_text_metrics",
    "text_metrics",
]

LEXICAL_COLUMNS = (
    "links",
    "edu_links",
    "info_links",
    "donation_links",
    "gratitude",
    "laughter",
    "disclosure",
    "compliments",
)


def has_text(body: str) -> bool:
    """Whether a comment body carries text (not ``[deleted]``/``[removed]``/empty)."""
    return body not in ("[deleted]", "[removed]") and bool(body.strip())


def lexical_features(texts: Sequence[str]) -> dict[str, np.ndarray]:
    """Rule-based counts per text (int64 arrays keyed by :data:`LEXICAL_COLUMNS`)."""
    n = len(texts)
    cols = {c: np.zeros(n, dtype=np.int64) for c in LEXICAL_COLUMNS}
    links, edu, info, don = (
        cols["links"],
        cols["edu_links"],
        cols["info_links"],
        cols["donation_links"],
    )
    grat, laugh, disc, comp = (
        cols["gratitude"],
        cols["laughter"],
        cols["disclosure"],
        cols["compliments"],
    )
    for i, t in enumerate(texts):
        lc = count_links(t)
        if lc.links:
            links[i], edu[i], info[i], don[i] = lc
        grat[i] = count_gratitude(t)
        laugh[i] = count_laughter(t)
        disc[i] = has_disclosure(t)
        comp[i] = count_compliments(t)
    return cols


def aux_scores(aux: AuxScorer | None, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """One batched aux call; all-``NaN`` heads when ``aux`` is ``None`` or no texts."""
    n = len(texts)
    if aux is None or n == 0:
        return {h: np.full(n, np.nan) for h in HEADS}
    raw = aux.score(list(texts))
    out = {}
    for h in HEADS:
        arr = np.asarray(raw[h], dtype=np.float64).reshape(-1)
        if arr.shape[0] != n:
            raise ValueError(f"aux head {h!r} returned {arr.shape[0]} scores for {n} texts")
        out[h] = arr
    return out


def per_text_metrics(
    lex: Mapping[str, np.ndarray], scores: Mapping[str, np.ndarray], thresholds: Mapping[str, float]
) -> dict[str, np.ndarray]:
    """Each text-level metric's value per text (float64 arrays)."""
    tox = scores["toxicity"]
    have_aux = ~np.isnan(tox)

    def flag(x: np.ndarray) -> np.ndarray:
        return np.where(have_aux, x.astype(np.float64), np.nan)

    with np.errstate(invalid="ignore"):
        toxic = flag(tox >= thresholds["toxic"])
        extreme = flag(tox >= thresholds["extremely_toxic"])
        info = flag((scores["info"] >= thresholds["info"]) | (lex["info_links"] > 0))
        advice = flag(scores["advice"] >= thresholds["advice"])
    f = np.float64
    return {
        "information_sharing": info,
        "link_replies": lex["links"].astype(f),
        "educational_links": lex["edu_links"].astype(f),
        "gratitude": lex["gratitude"].astype(f),
        "politeness": scores["politeness"].astype(f),
        "supportiveness": scores["supportiveness"].astype(f),
        "compliments": lex["compliments"].astype(f),
        "laughter": lex["laughter"].astype(f),
        "personal_disclosure": lex["disclosure"].astype(f),
        "donations": lex["donation_links"].astype(f),
        "mentorship": advice,
        "pct_non_toxic": 1.0 - toxic,
        "pct_non_extremely_toxic": 1.0 - extreme,
        "toxic_count": toxic,
        "extremely_toxic_count": extreme,
        "toxicity": tox.astype(f),
    }


def text_metrics(texts: Sequence[str], aux: AuxScorer | None = None) -> dict[str, np.ndarray]:
    """Text-level prosocial metrics of each text (e.g. TLC bodies as forecaster features).

    Returns ``{name: float64 array}`` for every name in ``TEXT_METRIC_NAMES`` (counts, 0/1
    flags, the politeness/supportiveness scores and the raw toxicity probability). One aux call
    for all texts.
    """
    texts = list(texts)
    m = per_text_metrics(lexical_features(texts), aux_scores(aux, texts), thresholds_of(aux))
    return {k: m[k] for k in TEXT_METRIC_NAMES}
