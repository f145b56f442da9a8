"""Linguistic accommodation: function-word style coordination (Danescu-Niculescu-Mizil et
al., "Echoes of power", WWW 2012), the paper's "replies mirror function-word usage".

For a marker class *m* (articles, auxiliary verbs, conjunctions, adverbs, personal and
impersonal pronouns, prepositions, quantifiers) and the reply exchanges (*u₁*, *u₂*) of one
conversation — *u₂* a reply, *u₁* its parent (the TLC or another reply), by different users —
coordination is

    C_m = P(u₂ exhibits m | u₁ exhibits m) − P(u₂ exhibits m)

estimated over that conversation's exchanges. The conversation's accommodation is the mean of
C_m over the markers for which it is defined (some parent exhibits m); 0.0 when no exchange or
no marker is defined (no evidence of mirroring either way). This is the paper's group-level
reading (all repliers towards whom they answer), without ConvoKit's per-speaker smoothing.

Markers: the LIWC-style patterns of ConvoKit's coordination module, read from
``<data>/aux/lexicons/coord-liwc-patterns.txt`` when present (MIT; not redistributed here);
otherwise :data:`BUILTIN_MARKERS`, our own short lists of the commonest words per class.
The trajectory bundle stores the markers it was fitted with (``markers.json``), so serving
computes accommodation exactly as training did without needing the data directory.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.paths import default_data_dir, resolve_data_dir
from redditdata.tree import Node, walk

__all__ = [
    "BUILTIN_MARKERS",
    "LIWC_PATTERNS_RELPATH",
    "MARKER_CLASSES",
    "Markers",
    "coordination",
    "exchanges",
    "linguistic_accommodation",
    "load_markers",
]

logger = logging.getLogger(__name__)

LIWC_PATTERNS_RELPATH = Path("aux/lexicons/coord-liwc-patterns.txt")
MARKER_CLASSES = ("article", "auxverb", "conj", "adverb", "ppron", "ipron", "preps", "quant")

#: Our own fallback word lists (common members of each function-word class).
BUILTIN_MARKERS: dict[str, tuple[str, ...]] = {
    "article": ("a", "an", "the"),
    "auxverb": (
        "am",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "have",
        "has",
        "had",
        "do",
        "does",
        "did",
        "will",
        "would",
        "shall",
        "should",
        "can",
        "could",
        "may",
        "might",
        "must",
        "don't",
        "didn't",
        "can't",
        "won't",
        "isn't",
        "i'm",
        "it's",
    ),
    "conj": (
        "and",
        "but",
        "or",
        "so",
        "because",
        "if",
        "when",
        "while",
        "though",
        "although",
        "unless",
        "until",
        "whether",
        "also",
        "then",
        "however",
        "nor",
        "as",
    ),
    "adverb": (
        "very",
        "really",
        "just",
        "only",
        "also",
        "too",
        "even",
        "still",
        "maybe",
        "probably",
        "actually",
        "now",
        "here",
        "there",
        "again",
        "never",
        "always",
        "usually",
        "definitely",
        "basically",
    ),
    "ppron": (
        "i",
        "me",
        "my",
        "mine",
        "myself",
        "you",
        "your",
        "yours",
        "we",
        "us",
        "our",
        "he",
        "him",
        "his",
        "she",
        "her",
        "they",
        "them",
        "their",
    ),
    "ipron": (
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "who",
        "something",
        "anything",
        "everything",
        "someone",
        "anyone",
        "everyone",
        "stuff",
    ),
    "preps": (
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "from",
        "by",
        "about",
        "into",
        "over",
        "after",
        "before",
        "through",
        "between",
        "under",
        "without",
        "than",
    ),
    "quant": (
        "all",
        "some",
        "many",
        "much",
        "more",
        "most",
        "few",
        "less",
        "least",
        "each",
        "every",
        "any",
        "both",
        "several",
        "enough",
        "lot",
        "lots",
        "none",
        "another",
    ),
}


@dataclass(frozen=True)
class Markers:
    """Compiled function-word classes; :meth:`mask` gives a text's bitmask of classes."""

    source: str
    classes: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]

    def mask(self, text: str) -> int:
        low = text.lower().replace("\u2019", "'")
        m = 0
        for i, pat in enumerate(self.patterns):
            if pat.search(low) is not None:
                m |= 1 << i
        return m

    def masks(self, texts: Sequence[str]) -> np.ndarray:
        return np.fromiter((self.mask(t) for t in texts), dtype=np.int64, count=len(texts))

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "classes": list(self.classes),
            "patterns": [p.pattern for p in self.patterns],
        }

    @classmethod
    def from_json(cls, d: dict[str, object]) -> Markers:
        classes = tuple(str(c) for c in d["classes"])  # type: ignore[attr-defined]
        pats = tuple(re.compile(str(p)) for p in d["patterns"])  # type: ignore[attr-defined]
        if len(classes) != len(pats) or not classes:
            raise ValueError("markers: classes and patterns differ in length")
        return cls(str(d["source"]), classes, pats)

    @classmethod
    def builtin(cls) -> Markers:
        pats = tuple(
            re.compile(r"\b(?:" + "|".join(re.escape(w) for w in BUILTIN_MARKERS[c]) + r")\b")
            for c in MARKER_CLASSES
        )
        return cls("builtin", MARKER_CLASSES, pats)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Markers:
        names: list[str] = []
        pats: list[re.Pattern[str]] = []
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            name, _, pattern = line.partition("\t")
            names.append(name.strip())
            pats.append(re.compile(pattern.strip()))
        return cls("liwc-coord", tuple(names), tuple(pats))


def load_markers(data_dir: str | os.PathLike[str] | None = None) -> Markers:
    """The LIWC-style markers from the data directory (or its parent, when given a dump
    directory inside it, or the default data directory), or the built-in lists if absent."""
    root = resolve_data_dir(data_dir)
    for base in (root, root.parent, default_data_dir()):
        path = base / LIWC_PATTERNS_RELPATH
        if path.exists():
            return Markers.from_file(path)
    logger.warning("%s not found: using built-in function-word lists", root / LIWC_PATTERNS_RELPATH)
    return Markers.builtin()


def coordination(
    parent_masks: np.ndarray,
    child_masks: np.ndarray,
    segments: np.ndarray,
    n_segments: int,
    n_classes: int,
) -> np.ndarray:
    """Mean style coordination per segment (conversation) over its exchanges.

    ``parent_masks[i]``/``child_masks[i]`` are the marker bitmasks of exchange *i*, which
    belongs to conversation ``segments[i]``. Returns an array of ``n_segments`` floats.
    """
    out = np.zeros(n_segments, dtype=np.float64)
    if len(segments) == 0:
        return out
    bits = np.arange(n_classes, dtype=np.int64)
    p = ((parent_masks[:, None] >> bits) & 1).astype(np.float64)
    c = ((child_masks[:, None] >> bits) & 1).astype(np.float64)
    n = np.bincount(segments, minlength=n_segments).astype(np.float64)
    total = np.zeros(n_segments)
    defined = np.zeros(n_segments)
    for k in range(n_classes):
        child_k = np.bincount(segments, weights=c[:, k], minlength=n_segments)
        par_k = np.bincount(segments, weights=p[:, k], minlength=n_segments)
        both_k = np.bincount(segments, weights=p[:, k] * c[:, k], minlength=n_segments)
        ok = par_k > 0
        base = np.divide(child_k, n, out=np.zeros(n_segments), where=n > 0)
        cond = np.divide(both_k, par_k, out=np.zeros(n_segments), where=ok)
        total += np.where(ok, cond - base, 0.0)
        defined += ok
    np.divide(total, defined, out=out, where=defined > 0)
    return out


def _has_text(node: Node) -> bool:
    return node.body not in ("[deleted]", "[removed]") and bool(node.body.strip())


def _valid(author: str | None) -> bool:
    return bool(author) and author not in ("[deleted]", "[removed]")


def exchanges(tlc: Node) -> list[tuple[Node, Node]]:
    """(parent, reply) pairs of a conversation usable for coordination."""
    out = []
    for parent in walk(tlc):
        if not (_has_text(parent) and _valid(parent.author)):
            continue
        for child in parent.children:
            if _has_text(child) and _valid(child.author) and child.author != parent.author:
                out.append((parent, child))
    return out


def linguistic_accommodation(tlc: Node, markers: Markers) -> float:
    """Function-word coordination of the replies towards the comments they answer."""
    pairs = exchanges(tlc)
    if not pairs:
        return 0.0
    pm = markers.masks([p.body for p, _ in pairs])
    cm = markers.masks([c.body for _, c in pairs])
    seg = np.zeros(len(pairs), dtype=np.int64)
    return float(coordination(pm, cm, seg, 1, len(markers.classes))[0])
