"""Each outcome metric as a function of one TLC's reply tree (TLC excluded).

These are the reference definitions (one conversation at a time, one aux call per classifier
metric); :class:`models.outcomes.OutcomeComputer` computes the same values for many
conversations with one aux call, and the tests check the two agree.

Text metrics read only replies that carry text (:func:`text_replies`: ``[deleted]`` /
``[removed]`` bodies are skipped); structural ones read every reply. With no (text) replies:
counts are 0, the mean politeness / supportiveness are 0.0 (neutral) and the non-toxic shares
are 1.0 (no reply was toxic).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.metrics.accommodation import Markers, linguistic_accommodation
from models.metrics.aux import AuxScorer, thresholds_of
from models.metrics.domains import count_links
from models.metrics.features import has_text
from models.metrics.lexical import (
    count_compliments,
    count_gratitude,
    count_laughter,
    has_disclosure,
)
from models.metrics.names import METRIC_NAMES
from models.metrics.structure import (
    community_score,
    conversation_depth,
    direct_replies,
    subsequent_comments,
    sustained_conversation,
    sustained_partners,
)
from redditdata.tree import Node, iter_replies

__all__ = [
    "compliments",
    "conversation_metrics",
    "donations",
    "educational_links",
    "extremely_toxic_count",
    "gratitude",
    "information_sharing",
    "laughter",
    "link_replies",
    "mentorship",
    "pct_non_extremely_toxic",
    "pct_non_toxic",
    "personal_disclosure",
    "politeness",
    "supportiveness",
    "text_replies",
    "toxic_count",
]


def text_replies(tlc: Node) -> list[str]:
    """Bodies of the replies that carry text, in pre-order."""
    return [n.body for n in iter_replies(tlc) if has_text(n.body)]


def link_replies(tlc: Node) -> int:
    """Number of URLs in all replies."""
    return sum(count_links(t).links for t in text_replies(tlc))


def educational_links(tlc: Node) -> int:
    """Number of URLs to educational sites in all replies."""
    return sum(count_links(t).edu for t in text_replies(tlc))


def donations(tlc: Node) -> int:
    """Number of URLs to charity / donation / crowdfunding sites in all replies."""
    return sum(count_links(t).donation for t in text_replies(tlc))


def gratitude(tlc: Node) -> int:
    """Gratitude expressions (A.4 lexicon) in all replies."""
    return sum(count_gratitude(t) for t in text_replies(tlc))


def laughter(tlc: Node) -> int:
    """Laughter expressions (A.2 regex) in all replies."""
    return sum(count_laughter(t) for t in text_replies(tlc))


def personal_disclosure(tlc: Node) -> int:
    """Replies containing a first-person pronoun."""
    return sum(1 for t in text_replies(tlc) if has_disclosure(t))


def compliments(tlc: Node) -> int:
    """Compliments (A.5 rule, VADER compound ≥ 0.7) in all replies."""
    return sum(count_compliments(t) for t in text_replies(tlc))


def _head(tlc: Node, aux: AuxScorer, head: str) -> np.ndarray:
    texts = text_replies(tlc)
    if not texts:
        return np.zeros(0)
    return np.asarray(aux.score(texts)[head], dtype=np.float64)


def information_sharing(tlc: Node, aux: AuxScorer) -> int:
    """Replies the info classifier scores ≥ 0.7, or that link an A.1 reference site."""
    t = thresholds_of(aux)["info"]
    texts = text_replies(tlc)
    if not texts:
        return 0
    p = np.asarray(aux.score(texts)["info"], dtype=np.float64)
    return int(sum(1 for pi, txt in zip(p, texts) if pi >= t or count_links(txt).info > 0))


def mentorship(tlc: Node, aux: AuxScorer) -> int:
    """Replies the advice classifier scores ≥ 0.7."""
    return int((_head(tlc, aux, "advice") >= thresholds_of(aux)["advice"]).sum())


def politeness(tlc: Node, aux: AuxScorer) -> float:
    """Mean politeness of the replies (0.0 with none)."""
    s = _head(tlc, aux, "politeness")
    return float(s.mean()) if len(s) else 0.0


def supportiveness(tlc: Node, aux: AuxScorer) -> float:
    """Mean supportiveness of the replies (0.0 with none)."""
    s = _head(tlc, aux, "supportiveness")
    return float(s.mean()) if len(s) else 0.0


def toxic_count(tlc: Node, aux: AuxScorer) -> int:
    """Replies with toxicity ≥ 0.5."""
    return int((_head(tlc, aux, "toxicity") >= thresholds_of(aux)["toxic"]).sum())


def extremely_toxic_count(tlc: Node, aux: AuxScorer) -> int:
    """Replies with toxicity ≥ 0.8."""
    return int((_head(tlc, aux, "toxicity") >= thresholds_of(aux)["extremely_toxic"]).sum())


def pct_non_toxic(tlc: Node, aux: AuxScorer) -> float:
    """Share of replies with toxicity < 0.5 (1.0 with none)."""
    s = _head(tlc, aux, "toxicity")
    return float((s < thresholds_of(aux)["toxic"]).mean()) if len(s) else 1.0


def pct_non_extremely_toxic(tlc: Node, aux: AuxScorer) -> float:
    """Share of replies with toxicity < 0.8 (1.0 with none)."""
    s = _head(tlc, aux, "toxicity")
    return float((s < thresholds_of(aux)["extremely_toxic"]).mean()) if len(s) else 1.0


def conversation_metrics(tlc: Node, aux: AuxScorer, markers: Markers) -> dict[str, float]:
    """Every metric of one conversation, each computed by its own function (reference path)."""
    fns: dict[str, Callable[[], float]] = {
        "information_sharing": lambda: information_sharing(tlc, aux),
        "link_replies": lambda: link_replies(tlc),
        "educational_links": lambda: educational_links(tlc),
        "gratitude": lambda: gratitude(tlc),
        "politeness": lambda: politeness(tlc, aux),
        "linguistic_accommodation": lambda: linguistic_accommodation(tlc, markers),
        "community_score": lambda: community_score(tlc),
        "supportiveness": lambda: supportiveness(tlc, aux),
        "subsequent_comments": lambda: subsequent_comments(tlc),
        "direct_replies": lambda: direct_replies(tlc),
        "conversation_depth": lambda: conversation_depth(tlc),
        "sustained_partners": lambda: sustained_partners(tlc),
        "sustained_conversation": lambda: sustained_conversation(tlc),
        "compliments": lambda: compliments(tlc),
        "laughter": lambda: laughter(tlc),
        "personal_disclosure": lambda: personal_disclosure(tlc),
        "donations": lambda: donations(tlc),
        "mentorship": lambda: mentorship(tlc, aux),
        "pct_non_toxic": lambda: pct_non_toxic(tlc, aux),
        "pct_non_extremely_toxic": lambda: pct_non_extremely_toxic(tlc, aux),
        "toxic_count": lambda: toxic_count(tlc, aux),
        "extremely_toxic_count": lambda: extremely_toxic_count(tlc, aux),
    }
    return {name: float(fns[name]()) for name in METRIC_NAMES}
