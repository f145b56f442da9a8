"""Fast shared text featurisation for the auxiliary metric models (numpy/scipy only).

Three blocks, laid out side by side in one sparse matrix:

1. **words**: lower-cased word unigrams + bigrams looked up in a fixed vocabulary (a JSON list
   chosen in training by document frequency); tf × idf, L2-normalised per text.
2. **chars**: byte n-grams (default 3–5) of the ASCII-lower-cased, whitespace-collapsed UTF-8
   text (padded with a space at both ends), hashed into ``2**char_bits`` buckets with a
   vectorised 32-bit rolling hash + murmur3 finaliser over the whole batch at once; tf × idf,
   L2-normalised per text.
3. **dense**: a few cheap shape features (length, ``?``/``!``/URL counts, upper-case share).

The L2 norm is taken over term *occurrences* (``sqrt(sum idf**2)`` over a text's occurrences
in the block), so inference never sums duplicates: it builds the occurrence pattern in text
order (no sorting) and does one sparse × dense product per block against precomputed
``[idf * W, idf**2]`` tables; training sums duplicates into a CSR matrix that gives exactly the
same linear scores.

The same code builds the training matrix (``training`` imports this module), so a bundle scores
exactly what training saw. Texts are cut to ``max_chars`` characters; anything that is not a
string (``None``, bytes, numbers) is coerced, so transform never raises on odd input.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "DENSE_FEATURES",
    "Featurizer",
    "FeaturizerSpec",
    "Parts",
    "clean_text",
    "tokenize",
]

#: A batch of texts' word and character n-gram occurrence patterns and dense columns
#: (:meth:`Featurizer.parts`).
Parts = tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]

_TOKEN_RE = re.compile(r"\w+(?:'\w+)?|[^\w\s]")

DENSE_FEATURES: tuple[str, ...] = (
    "log_chars",
    "log_tokens",
    "questions",
    "exclamations",
    "urls",
    "upper_share",
)

_M = np.uint32(0x01000193)  # FNV-1 32-bit prime, multiplier of the rolling hash
_C1 = np.uint32(0x85EBCA6B)
_C2 = np.uint32(0xC2B2AE35)


def clean_text(x: object, max_chars: int) -> str:
    """Coerce anything to a bounded ``str`` (no NULs, no lone surrogates)."""
    if x is None:
        return ""
    if isinstance(x, (bytes, bytearray, memoryview)):
        x = bytes(x[: 4 * max_chars]).decode("utf-8", errors="replace")
    elif not isinstance(x, str):
        try:
            x = str(x)
        except Exception:  # noqa: BLE001 - a broken __str__ must not stop scoring
            return ""
    if len(x) > max_chars:
        x = x[:max_chars]
    if "\x00" in x:
        x = x.replace("\x00", " ")
    return x


def tokenize(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens (the vocabulary's tokeniser)."""
    return _TOKEN_RE.findall(text.lower())


def _fmix(h: np.ndarray) -> np.ndarray:
    """murmur3's 32-bit finaliser (vectorised; wraps mod 2**32)."""
    h = h ^ (h >> np.uint32(16))
    h = h * _C1
    h = h ^ (h >> np.uint32(13))
    h = h * _C2
    return h ^ (h >> np.uint32(16))


@dataclass(frozen=True)
class FeaturizerSpec:
    """Serializable featuriser settings (stored in the bundle as JSON)."""

    vocab: tuple[str, ...] = ()
    char_bits: int = 18
    char_ngrams: tuple[int, int] = (3, 5)
    max_chars: int = 4000
    word_weight: float = 1.0
    char_weight: float = 1.0
    #: (bytes, tokens): an n-gram / word occurrence equal to one at most this far back in the
    #: same text is dropped, so runs ("😂😂😂…", "lol lol lol…", "aaaa…") count once instead of
    #: swamping the occurrence-normalised vector. (0, 0) = off (bundles written before it).
    repeat_window: tuple[int, int] = (0, 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "vocab": list(self.vocab),
            "char_bits": self.char_bits,
            "char_ngrams": list(self.char_ngrams),
            "max_chars": self.max_chars,
            "word_weight": self.word_weight,
            "char_weight": self.char_weight,
            "repeat_window": list(self.repeat_window),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> FeaturizerSpec:
        lo, hi = d.get("char_ngrams", (3, 5))
        rw = d.get("repeat_window", (0, 0))
        return cls(
            vocab=tuple(d.get("vocab", ())),
            char_bits=int(d.get("char_bits", 18)),
            char_ngrams=(int(lo), int(hi)),
            max_chars=int(d.get("max_chars", 4000)),
            word_weight=float(d.get("word_weight", 1.0)),
            char_weight=float(d.get("char_weight", 1.0)),
            repeat_window=(int(rw[0]), int(rw[1])),
        )


@dataclass
class Featurizer:
    """Turns texts into the shared sparse feature matrix (see module docstring)."""

    spec: FeaturizerSpec
    idf: np.ndarray | None = None  # len n_sparse; None = raw sublinear tf (used to fit idf)
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = {t: i for i, t in enumerate(self.spec.vocab)}
        if self.idf is not None:
            self.idf = np.asarray(self.idf, dtype=np.float32)
            if self.idf.shape != (self.n_sparse,):
                raise ValueError(f"idf has shape {self.idf.shape}, expected ({self.n_sparse},)")

    @property
    def n_words(self) -> int:
        return len(self.spec.vocab)

    @property
    def n_sparse(self) -> int:
        return self.n_words + (1 << self.spec.char_bits)

    @property
    def n_features(self) -> int:
        return self.n_sparse + len(DENSE_FEATURES)

    # -- blocks ---------------------------------------------------------------------------
    def _words(self, low: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray]:
        """Occurrence pattern of vocabulary words/bigrams (data 1, in text order)."""
        get = self._index.get
        miss = itertools.repeat(-1)
        cols: list[int] = []
        counts = np.zeros(len(low), dtype=np.int64)
        ntok = np.zeros(len(low), dtype=np.float32)
        for r, t in enumerate(low):
            toks = _TOKEN_RE.findall(t)
            ntok[r] = len(toks)
            before = len(cols)
            cols.extend(map(get, toks, miss))
            cols.extend(map(get, map(" ".join, itertools.pairwise(toks)), miss))
            counts[r] = len(cols) - before
        arr = np.asarray(cols, dtype=np.int32)
        hit = arr >= 0
        window = self.spec.repeat_window[1]
        if window and arr.shape[0]:
            hit &= ~_recent_repeat(arr, counts, window)
        if not hit.all():
            rows = np.repeat(np.arange(len(low), dtype=np.int64), counts)
            counts = np.bincount(rows[hit], minlength=len(low))
            arr = arr[hit]
        return _pattern(arr, counts, self.n_words), ntok

    def _chars(self, raw: Sequence[str], dense: np.ndarray) -> sp.csr_matrix:
        """Occurrence pattern of hashed byte n-grams of every text at once (rows in text
        order, no sorting); fills the byte-count dense columns."""
        lo, hi = self.spec.char_ngrams
        sizes = np.arange(lo, hi + 1)
        enc = [(" " + " ".join(t.split()) + " ").encode("utf-8", "replace") for t in raw]
        lens = np.fromiter(map(len, enc), dtype=np.int64, count=len(enc))
        ndoc = len(enc)
        buf = np.frombuffer(b"".join(enc) + b"\0" * hi, dtype=np.uint8)
        n = int(lens.sum())
        doc = np.repeat(np.arange(ndoc, dtype=np.int64), lens)
        upper = (buf[:n] >= 65) & (buf[:n] <= 90)
        dense[:, 2] = np.minimum(np.bincount(doc, weights=buf[:n] == 63, minlength=ndoc), 3) / 3
        dense[:, 3] = np.minimum(np.bincount(doc, weights=buf[:n] == 33, minlength=ndoc), 3) / 3
        dense[:, 5] = np.bincount(doc, weights=upper, minlength=ndoc) / np.maximum(lens - 2, 1)
        b32 = buf.astype(np.uint32)
        b32[:n] += upper.astype(np.uint32) * np.uint32(32)  # ASCII lower-casing
        left = np.repeat(np.cumsum(lens), lens) - np.arange(n, dtype=np.int64)  # bytes to end
        keys = np.empty((n, sizes.size), dtype=np.uint32)
        h = np.zeros(n, dtype=np.uint32)
        for k in range(hi):
            h *= _M
            h += b32[k : k + n]
            g = k + 1
            if g >= lo:
                keys[:, g - lo] = h ^ np.uint32((g * 0x9E3779B9) & 0xFFFFFFFF)
        valid = left[:, None] >= sizes[None, :]
        window = self.spec.repeat_window[0]
        if window and n:
            valid &= ~_recent_repeat(keys, lens, window)
            counts = np.bincount(doc, weights=valid.sum(axis=1), minlength=ndoc).astype(np.int64)
        else:
            counts = np.maximum(lens[:, None] - sizes[None, :] + 1, 0).sum(axis=1)
        keys = _fmix(keys[valid])  # row-major: text order kept
        keys >>= np.uint32(32 - self.spec.char_bits)
        return _pattern(keys.astype(np.int32), counts, 1 << self.spec.char_bits)

    def _parts(self, texts: Sequence[object]) -> Parts:
        raw = [clean_text(t, self.spec.max_chars) for t in texts]
        n = len(raw)
        dense = np.zeros((n, len(DENSE_FEATURES)), dtype=np.float32)
        words, ntok = self._words([t.lower() for t in raw])
        chars = self._chars(raw, dense)
        nchar = np.fromiter(map(len, raw), dtype=np.float32, count=n)
        dense[:, 0] = np.log1p(nchar) / 8.0
        dense[:, 1] = np.log1p(ntok) / 6.0
        dense[:, 4] = (
            np.fromiter(
                (min(t.count("http") + t.count("www."), 3) for t in raw), dtype=np.float32, count=n
            )
            / 3.0
        )
        return words, chars, dense

    def _blocks(self) -> tuple[tuple[slice, float], tuple[slice, float]]:
        return (
            (slice(0, self.n_words), self.spec.word_weight),
            (slice(self.n_words, self.n_sparse), self.spec.char_weight),
        )

    def _idf(self) -> np.ndarray:
        return self.idf if self.idf is not None else np.ones(self.n_sparse, dtype=np.float32)

    # -- public ---------------------------------------------------------------------------
    def transform(self, texts: Sequence[object]) -> sp.csr_matrix:
        """The full feature matrix (sparse + dense columns, duplicates summed), as fitted on.

        An occurrence of a term carries ``weight * idf[col] / norm`` with ``norm`` the row's
        L2 norm over its block's occurrences; summing duplicates keeps the linear scores equal
        to :meth:`linear`'s.
        """
        return self.assemble(self.parts(texts))

    def parts(self, texts: Sequence[object]) -> Parts:
        """The texts' word and character n-gram occurrences and dense columns (what
        :meth:`transform` and :meth:`presence` are built from; independent of the idf)."""
        return self._parts(texts)

    def assemble(self, parts: Parts) -> sp.csr_matrix:
        """:meth:`transform` of the texts whose :meth:`parts` these are."""
        words, chars, dense = parts
        idf = self._idf()
        blocks = []
        for pat, (sl, weight) in zip((words, chars), self._blocks(), strict=True):
            idf_b = idf[sl]
            norm = np.sqrt(pat @ (idf_b.astype(np.float64) ** 2))
            rows = np.repeat(np.arange(pat.shape[0]), np.diff(pat.indptr))
            x = pat.copy()
            x.data = (weight * idf_b[pat.indices] / np.maximum(norm[rows], 1e-12)).astype(
                np.float32
            )
            x.sum_duplicates()
            blocks.append(x)
        return sp.hstack([*blocks, sp.csr_matrix(dense)], format="csr", dtype=np.float32)

    def presence(self, texts: Sequence[object]) -> sp.csr_matrix:
        """Binary term-presence matrix of the sparse block (for document frequencies)."""
        return self.presence_of(self._parts(texts))

    def presence_of(self, parts: Parts) -> sp.csr_matrix:
        """:meth:`presence` of the texts whose :meth:`parts` these are."""
        words, chars, _ = parts
        x = sp.hstack([words, chars], format="csr", dtype=np.float32)
        x.sum_duplicates()
        x.data[:] = 1.0
        return x

    def tables(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Precomputed scoring tables for :meth:`linear` from ``weights`` (n_features × k):
        per block ``[idf * W, idf**2]`` (float32), and the dense-block weights."""
        idf = self._idf()
        out = []
        for sl, _ in self._blocks():
            idf_b = idf[sl].astype(np.float64)[:, None]
            out.append(
                np.ascontiguousarray(np.hstack([idf_b * weights[sl], idf_b**2]), dtype=np.float32)
            )
        return out[0], out[1], np.ascontiguousarray(weights[self.n_sparse :], dtype=np.float32)

    def linear(
        self,
        texts: Sequence[object],
        tables: tuple[np.ndarray, np.ndarray, np.ndarray],
        bias: np.ndarray,
    ) -> np.ndarray:
        """``transform(texts) @ W + bias`` without building the summed feature matrix: one
        sparse × dense product per block over the occurrence pattern (inference path)."""
        words, chars, dense = self._parts(texts)
        out = dense.astype(np.float64) @ tables[2] + bias
        for pat, table, (_, weight) in zip((words, chars), tables[:2], self._blocks(), strict=True):
            z = pat @ table
            norm = np.sqrt(np.maximum(z[:, -1:], 0.0, dtype=np.float64))
            out += weight * z[:, :-1] / np.maximum(norm, 1e-12)
        return out


def _recent_repeat(keys: np.ndarray, lens: np.ndarray, window: int) -> np.ndarray:
    """Mask of entries equal to the entry 1..``window`` positions earlier in the same text
    (``keys`` is (positions,) or (positions, k), texts laid end to end with ``lens``)."""
    n = keys.shape[0]
    offset = np.arange(n, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    out = np.zeros(keys.shape, dtype=bool)
    for p in range(1, min(window, n - 1) + 1):
        same = keys[p:] == keys[:-p]
        ok = offset[p:] >= p
        out[p:] |= same & (ok[:, None] if keys.ndim == 2 else ok)
    return out


def _pattern(cols: np.ndarray, counts: np.ndarray, width: int) -> sp.csr_matrix:
    indptr = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    data = np.ones(cols.shape[0], dtype=np.float32)
    return sp.csr_matrix((data, cols, indptr), shape=(counts.shape[0], width), copy=False)
