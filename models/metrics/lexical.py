"""Lexicon- and rule-based per-text counters (paper Appendix A.2, A.4, A.5, §2).

Each counter takes one comment's text and returns an ``int``. Texts are lower-cased and curly
apostrophes straightened first (:func:`normalize`).

* :func:`count_gratitude` — Appendix A.4's words (*thanks, contented, blessed*) and phrases
  (*thank you, thankful for, grateful for, greatful for, my gratitude, i appreciate, make me
  smile, i super appreciate, i deeply appreciate, i really appreciate, bless your soul*),
  whole-word, every occurrence counted.
* :func:`count_laughter` — Appendix A.2's regex, every match counted.
* :func:`has_disclosure` — §2 "count the number of comments including a first person
  pronoun": singular first person (*i, me, my, mine, myself* and the contractions *i'm, i've,
  i'd, i'll* plus the apostrophe-less *im, ive*), as self-disclosure is about oneself.
* :func:`count_compliments` — Appendix A.5: candidates "you is/are" (also *you're/youre*) and
  "your <word> is/are", dropping those where *you* is immediately preceded by *if* or *when*
  (generic *you*); the five words after the match are scored with VADER and the candidate is a
  compliment when the compound score is ≥ 0.7 (:data:`COMPLIMENT_MIN_COMPOUND`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

__all__ = [
    "COMPLIMENT_MIN_COMPOUND",
    "GRATITUDE_PHRASES",
    "GRATITUDE_WORDS",
    "LAUGHTER_PATTERN",
    "compliment_candidates",
    "count_compliments",
    "count_gratitude",
    "count_laughter",
    "has_disclosure",
    "normalize",
]

GRATITUDE_WORDS: tuple[str, ...] = ("thanks", "contented", "blessed")
GRATITUDE_PHRASES: tuple[str, ...] = (
    "thank you",
    "thankful for",
    "grateful for",
    "greatful for",
    "my gratitude",
    "i appreciate",
    "make me smile",
    "i super appreciate",
    "i deeply appreciate",
    "i really appreciate",
    "bless your soul",
)
#: Appendix A.2, verbatim (groups made non-capturing).
LAUGHTER_PATTERN = (
    r"\ba*h+a+h+a+(?:h+a+)*?h*\b|\bl+o+l+(?:o+l+)*?\b"
    r"|\bh+e+h+e+(?:h+e+)*?h*\b"
)
COMPLIMENT_MIN_COMPOUND = 0.7

_GRATITUDE = re.compile(
    r"\b(?:"
    + "|".join(
        re.escape(p) for p in sorted(GRATITUDE_PHRASES + GRATITUDE_WORDS, key=len, reverse=True)
    )
    + r")\b"
)
_LAUGHTER = re.compile(LAUGHTER_PATTERN)
_FIRST_PERSON = re.compile(r"\b(?:i|me|my|mine|myself|im|ive)\b")
_COMPLIMENT = re.compile(
    r"(?<!\bif )(?<!\bwhen )\b(?:you(?: are| is|'re|re)|your [a-z0-9'-]+ (?:is|are))\b"
)
_WORD = re.compile(r"[^\s]+")


def normalize(text: str) -> str:
    """Lower-case and straighten curly apostrophes."""
    return text.lower().replace("\u2019", "'").replace("\u2018", "'")


def count_gratitude(text: str) -> int:
    """Occurrences of Appendix A.4 gratitude words and phrases."""
    return len(_GRATITUDE.findall(normalize(text)))


def count_laughter(text: str) -> int:
    """Expressions of laughter (Appendix A.2 regex)."""
    return len(_LAUGHTER.findall(normalize(text)))


def has_disclosure(text: str) -> bool:
    """Whether the text contains a singular first-person pronoun (personal disclosure)."""
    return _FIRST_PERSON.search(normalize(text)) is not None


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def compliment_candidates(text: str) -> list[str]:
    """The five words following each Appendix A.5 candidate phrase."""
    low = normalize(text)
    out = []
    for m in _COMPLIMENT.finditer(low):
        words = _WORD.findall(low, m.end(), min(len(low), m.end() + 200))[:5]
        if words:
            out.append(" ".join(words))
    return out


def count_compliments(text: str, min_compound: float = COMPLIMENT_MIN_COMPOUND) -> int:
    """Compliments: candidates whose following five words have VADER compound ≥ 0.7."""
    cands = compliment_candidates(text)
    if not cands:
        return 0
    vader = _vader()
    return sum(1 for c in cands if vader.polarity_scores(c)["compound"] >= min_compound)
