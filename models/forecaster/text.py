"""Per-text features of the paper's §5.2 that need no trained model.

Length, sentiment (VADER), subjectivity (MPQA clue share), misspellings (pyspellchecker's
English word list), readability (Flesch-Kincaid grade, textstat) and content words (for the
LDA and the post/TLC Jaccard overlap). Heavy resources load lazily, once per process.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["TEXT_FEATURES", "TextFeaturizer", "content_words", "jaccard", "tokens"]

_TOKEN = re.compile(r"[a-z][a-z']*")
_CONTENT = re.compile(r"[a-z]{3,}")
_URL = re.compile(r"https?://\S+|www\.\S+")

#: Column names produced by :meth:`TextFeaturizer.features`, in order.
TEXT_FEATURES: tuple[str, ...] = (
    "n_words",
    "n_chars",
    "n_sentences",
    "n_urls",
    "n_questions",
    "sent_compound",
    "sent_pos",
    "sent_neg",
    "subj_strong",
    "subj_weak",
    "n_misspelled",
    "frac_misspelled",
    "fk_grade",
)


@functools.lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | {
        "just",
        "like",
        "don",
        "didn",
        "doesn",
        "im",
        "ive",
        "dont",
        "it's",
        "http",
        "https",
        "www",
        "com",
    }


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(_URL.sub(" ", text.lower()))


def content_words(text: str) -> list[str]:
    """Lower-cased alphabetic words of ≥3 letters that are not stop words (URLs removed)."""
    sw = _stopwords()
    return [w for w in _CONTENT.findall(_URL.sub(" ", text.lower())) if w not in sw]


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    sa, sb = set(a), set(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


@functools.lru_cache(maxsize=1)
def _vader():  # type: ignore[no-untyped-def]
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@functools.lru_cache(maxsize=1)
def _english() -> frozenset[str]:
    from spellchecker import SpellChecker

    return frozenset(SpellChecker().word_frequency.dictionary.keys())


class TextFeaturizer:
    """Computes :data:`TEXT_FEATURES` for texts.

    ``subj_strong`` / ``subj_weak`` are the MPQA strong / weak subjectivity clue words
    (shipped in the forecaster bundle, read from the data dir at training time).
    """

    def __init__(self, subj_strong: Iterable[str] = (), subj_weak: Iterable[str] = ()) -> None:
        self.strong = frozenset(subj_strong)
        self.weak = frozenset(subj_weak)

    def warm(self) -> None:
        """Load the lazily built resources now (VADER, the spell checker's word list and
        textstat's CMU pronouncing dictionary: several seconds on a first call), so that the
        first scoring call after a service starts does not pay for them."""
        self.one("Warm-up: does anyone know when the registrar's office opens? Thanks a lot.")

    def one(self, text: str) -> list[float]:
        import textstat

        toks = tokens(text)
        n = len(toks)
        vs = (
            _vader().polarity_scores(text[:2000])
            if text.strip()
            else {"compound": 0.0, "pos": 0.0, "neg": 0.0}
        )
        eng = _english()
        alpha = [t for t in toks if t.isalpha() and len(t) > 1]
        miss = sum(1 for t in alpha if t not in eng)
        strong = sum(1 for t in toks if t in self.strong)
        weak = sum(1 for t in toks if t in self.weak)
        try:
            fk = float(textstat.flesch_kincaid_grade(text[:3000])) if n >= 3 else 0.0
        except (ZeroDivisionError, ValueError):
            fk = 0.0
        n_sent = max(1, len(re.findall(r"[.!?]+(\s|$)", text)))
        return [
            float(n),
            float(len(text)),
            float(n_sent),
            float(len(_URL.findall(text))),
            float(text.count("?")),
            vs["compound"],
            vs["pos"],
            vs["neg"],
            strong / max(n, 1),
            weak / max(n, 1),
            float(miss),
            miss / max(len(alpha), 1),
            float(np.clip(fk, -5.0, 40.0)),
        ]

    def features(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray([self.one(t) for t in texts], dtype=np.float32).reshape(
            len(texts), len(TEXT_FEATURES)
        )


def load_mpqa(path: str) -> tuple[list[str], list[str]]:
    """Strong and weak subjectivity clue words from an MPQA ``.tff`` file."""
    strong: set[str] = set()
    weak: set[str] = set()
    with open(path, encoding="latin-1") as fh:
        for line in fh:
            kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
            w = kv.get("word1")
            if not w:
                continue
            (strong if kv.get("type") == "strongsubj" else weak).add(w.lower())
    return sorted(strong), sorted(weak)


__all__ += ["load_mpqa"]
