"""Fast shared text featurisation for the auxiliary metric models (numpy/scipy only).

Three blocks, laid out side by side in one sparse matrix:

1. **words**: lower-cased word unigrams + bigrams looked up in a fixed vocabulary (a JSON list
   chosen in training by document frequency); tf × idf, L2-normalised per text.
2. **chars**: byte n-grams (default 3–5) of the ASCII-lower-cased, whitespace-collapsed UTF-8
   text (padded with a space at both ends), hashed into ``2**char_bits`` buckets with a
   vectorised 32-bit rolling hash + murmur3 finaliser over the whole batch at once; tf × idf,
   L2-normalised per text.
3. **dense**: a few cheap shape features (length, ``?``/``!``/URL counts, upper-case share).

The L2 norm is taken over term *occurrences* (``sqrt(sum idf**2)`` per occurrence), which lets
inference score a batch straight from ``(row, col, value)`` triplets with ``numpy.bincount`` —
no sparse-matrix construction or sorting — while training sums duplicates into a CSR matrix
that gives exactly the same linear scores.

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

__all__ = ["DENSE_FEATURES", "Featurizer", "FeaturizerSpec", "clean_text", "tokenize"]

_TOKEN_RE = re.compile(r"\w+(?:'\w+)?|[^\w\s]")

DENSE_FEATURES: tuple[str, ...] = (
    "log_chars", "log_tokens", "questions", "exclamations", "urls", "upper_share",
)

_M = np.uint32(0x01000193)  # FNV-1 32-bit prime, multiplier of the rolling hash
_C1 = np.uint32(0x85EBCA6B)
_C2 = np.uint32(0xC2B2AE35)


def clean_text(x: Any, max_chars: int) -> str:
    """Coerce anything to a bounded ``str`` (no NULs, no lone surrogates)."""
    if x is None:
        return ""
    if isinstance(x, (bytes, bytearray, memoryview)):
        x = bytes(x).decode("utf-8", errors="replace")
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

    def to_json(self) -> dict[str, Any]:
        return {"vocab": list(self.vocab), "char_bits": self.char_bits,
                "char_ngrams": list(self.char_ngrams), "max_chars": self.max_chars,
                "word_weight": self.word_weight, "char_weight": self.char_weight}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> FeaturizerSpec:
        lo, hi = d.get("char_ngrams", (3, 5))
        return cls(vocab=tuple(d.get("vocab", ())), char_bits=int(d.get("char_bits", 18)),
                   char_ngrams=(int(lo), int(hi)), max_chars=int(d.get("max_chars", 4000)),
                   word_weight=float(d.get("word_weight", 1.0)),
                   char_weight=float(d.get("char_weight", 1.0)))


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
    def _words(self, low: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        get = self._index.get
        rows: list[int] = []
        cols: list[int] = []
        ntok = np.zeros(len(low), dtype=np.float32)
        for r, t in enumerate(low):
            toks = _TOKEN_RE.findall(t)
            ntok[r] = len(toks)
            ids = [i for i in map(get, toks) if i is not None]
            if len(toks) > 1:
                ids.extend(i for i in map(get, map(" ".join, itertools.pairwise(toks)))
                           if i is not None)
            rows.extend([r] * len(ids))
            cols.extend(ids)
        return np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64), ntok

    def _chars(self, raw: Sequence[str], dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hashed byte n-grams of every text at once; fills the byte-count dense columns."""
        lo, hi = self.spec.char_ngrams
        enc = [(" " + " ".join(t.split()) + " ").encode("utf-8", "replace") for t in raw]
        lens = np.fromiter(map(len, enc), dtype=np.int64, count=len(enc))
        ndoc = len(enc)
        buf = np.frombuffer(b"".join(enc), dtype=np.uint8)
        n = buf.shape[0]
        doc = np.repeat(np.arange(ndoc, dtype=np.int64), lens)
        upper = (buf >= 65) & (buf <= 90)
        dense[:, 2] = np.minimum(np.bincount(doc, weights=buf == 63, minlength=ndoc), 3) / 3.0
        dense[:, 3] = np.minimum(np.bincount(doc, weights=buf == 33, minlength=ndoc), 3) / 3.0
        dense[:, 5] = np.bincount(doc, weights=upper, minlength=ndoc) / np.maximum(lens - 2, 1)
        b32 = buf.astype(np.uint32)
        b32 += upper.astype(np.uint32) * np.uint32(32)  # ASCII lower-casing
        end = np.repeat(np.cumsum(lens), lens)
        pos = np.arange(n, dtype=np.int64)
        shift = np.uint32(32 - self.spec.char_bits)
        rows_l: list[np.ndarray] = []
        cols_l: list[np.ndarray] = []
        h = np.zeros(n, dtype=np.uint32)
        for k in range(hi):
            m = n - k
            if m <= 0:
                break
            h = h[:m] * _M + b32[k:]
            g = k + 1
            if g < lo:
                continue
            ok = pos[:m] + g <= end[:m]
            key = _fmix(h[ok] ^ np.uint32((g * 0x9E3779B9) & 0xFFFFFFFF))
            rows_l.append(doc[:m][ok])
            cols_l.append((key >> shift).astype(np.int64))
        if not rows_l:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(rows_l), np.concatenate(cols_l)

    # -- public ---------------------------------------------------------------------------
    def triplets(self, texts: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                       np.ndarray]:
        """``(rows, cols, values, dense)`` of the sparse block, duplicates NOT summed.

        Each occurrence of a term carries ``idf[col] / norm`` where ``norm`` is the row's
        per-block L2 norm of the occurrence weights, so the linear score of a text is
        ``sum(values * W[cols]) + dense @ W_dense``, whether or not duplicates are merged.
        """
        raw = [clean_text(t, self.spec.max_chars) for t in texts]
        n = len(raw)
        dense = np.zeros((n, len(DENSE_FEATURES)), dtype=np.float32)
        wr, wc, ntok = self._words([t.lower() for t in raw])
        cr, cc = self._chars(raw, dense)
        nchar = np.fromiter(map(len, raw), dtype=np.float32, count=n)
        dense[:, 0] = np.log1p(nchar) / 8.0
        dense[:, 1] = np.log1p(ntok) / 6.0
        dense[:, 4] = np.fromiter((min(t.count("http") + t.count("www."), 3) for t in raw),
                                  dtype=np.float32, count=n) / 3.0
        rows = np.concatenate([wr, cr])
        cols = np.concatenate([wc, cc + self.n_words])
        vals = (self.idf[cols] if self.idf is not None
                else np.ones(cols.shape[0], dtype=np.float32))
        block = np.concatenate([np.zeros(wr.shape[0], np.int64), np.ones(cr.shape[0], np.int64)])
        key = rows * 2 + block
        norms = np.sqrt(np.bincount(key, weights=vals * vals, minlength=2 * n))
        scale = np.where(block == 0, self.spec.word_weight, self.spec.char_weight)
        vals = (vals * (scale / np.maximum(norms[key], 1e-12))).astype(np.float32)
        return rows, cols, vals, dense

    def transform(self, texts: Sequence[Any]) -> sp.csr_matrix:
        """The full feature matrix (sparse + dense columns, duplicates summed) for training."""
        rows, cols, vals, dense = self.triplets(texts)
        x = sp.csr_matrix((vals, (rows, cols)), shape=(len(dense), self.n_sparse),
                          dtype=np.float32)
        x.sum_duplicates()
        return sp.hstack([x, sp.csr_matrix(dense)], format="csr", dtype=np.float32)

    def presence(self, texts: Sequence[Any]) -> sp.csr_matrix:
        """Binary term-presence matrix of the sparse block (for document frequencies)."""
        rows, cols, _, dense = self.triplets(texts)
        x = sp.csr_matrix((np.ones(rows.shape[0], np.float32), (rows, cols)),
                          shape=(len(dense), self.n_sparse))
        x.sum_duplicates()
        x.data[:] = 1.0
        return x

    def linear(self, texts: Sequence[Any], w_sparse: np.ndarray, w_dense: np.ndarray,
               bias: np.ndarray) -> np.ndarray:
        """``X @ W + b`` for a batch without building a sparse matrix (inference path)."""
        rows, cols, vals, dense = self.triplets(texts)
        n, k = len(dense), w_sparse.shape[1]
        out = dense @ w_dense + bias
        if rows.shape[0]:
            contrib = w_sparse[cols] * vals[:, None]
            for j in range(k):
                out[:, j] += np.bincount(rows, weights=contrib[:, j], minlength=n)
        return out
