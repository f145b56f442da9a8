"""Linear n-gram regressors (the paper's ridge baseline and the text score of the main model).

TF-IDF over TLC uni+bigrams (sublinear tf, L2-normalised rows) with a fixed vocabulary and
idf, plus optional standardised dense features; all weights are plain arrays (bundle:
safetensors + vocabulary JSON).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

__all__ = ["NGRAM_TOKEN_PATTERN", "NgramRidge"]

NGRAM_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


class NgramRidge:
    def __init__(
        self,
        vocab: Sequence[str],
        idf: np.ndarray,
        coef_text: np.ndarray,
        intercept: float,
        coef_dense: np.ndarray | None = None,
        dense_mean: np.ndarray | None = None,
        dense_std: np.ndarray | None = None,
    ) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.vocab = list(vocab)
        self.idf = np.asarray(idf, dtype=np.float64)
        self.coef_text = np.asarray(coef_text, dtype=np.float64)
        self.intercept = float(intercept)
        self.coef_dense = None if coef_dense is None else np.asarray(coef_dense, np.float64)
        self.dense_mean = dense_mean
        self.dense_std = dense_std
        self._vec = CountVectorizer(
            vocabulary={w: i for i, w in enumerate(self.vocab)},
            ngram_range=(1, 2),
            lowercase=True,
            token_pattern=NGRAM_TOKEN_PATTERN,
        )

    def tfidf(self, texts: Sequence[str]) -> sparse.csr_matrix:
        m = self._vec.transform(list(texts)).astype(np.float64).tocsr()
        m.data = 1.0 + np.log(m.data)
        m = m @ sparse.diags(self.idf)
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sparse.csr_matrix(sparse.diags(1.0 / norms) @ m)

    def standardize(self, dense: np.ndarray) -> np.ndarray:
        assert self.dense_mean is not None and self.dense_std is not None
        return (np.asarray(dense, np.float64) - self.dense_mean) / self.dense_std

    def counts(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Raw n-gram counts over the vocabulary (shareable by ridges of one vocabulary)."""
        m = self._vec.transform(list(texts)).tocsr()
        m.sort_indices()
        return m

    def text_terms(self, texts: Sequence[str] | sparse.csr_matrix) -> np.ndarray:
        """Σ tfidf·coef per text, straight on the CSR arrays (no sparse products); ``texts``
        may be :meth:`counts` of them."""
        m = sparse.csr_matrix(texts) if sparse.issparse(texts) else self.counts(texts)
        out = np.zeros(m.shape[0])
        if m.nnz == 0:
            return out
        idx = m.indices
        w = (1.0 + np.log(m.data.astype(np.float64))) * self.idf[idx]
        rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
        norms = np.sqrt(np.bincount(rows, weights=w * w, minlength=m.shape[0]))
        dots = np.bincount(rows, weights=w * self.coef_text[idx], minlength=m.shape[0])
        ok = norms > 0
        out[ok] = dots[ok] / norms[ok]
        return out

    def dense_terms(self, dense: np.ndarray) -> np.ndarray:
        """Per-feature linear contributions (n × d)."""
        assert self.coef_dense is not None
        return self.standardize(dense) * self.coef_dense

    def predict(self, texts: Sequence[str], dense: np.ndarray | None = None) -> np.ndarray:
        out = self.text_terms(texts) + self.intercept
        if self.coef_dense is not None:
            if dense is None:
                raise ValueError("this ridge needs dense features")
            out = out + self.dense_terms(dense).sum(axis=1)
        return out

    def tensors(self) -> dict[str, np.ndarray]:
        t = {
            "idf": self.idf,
            "coef_text": self.coef_text,
            "intercept": np.asarray([self.intercept]),
        }
        if self.coef_dense is not None:
            assert self.dense_mean is not None and self.dense_std is not None
            t |= {
                "coef_dense": self.coef_dense,
                "dense_mean": self.dense_mean,
                "dense_std": self.dense_std,
            }
        return t

    @classmethod
    def from_tensors(cls, vocab: Sequence[str], t: dict[str, np.ndarray]) -> NgramRidge:
        return cls(
            vocab,
            t["idf"],
            t["coef_text"],
            float(t["intercept"][0]),
            t.get("coef_dense"),
            t.get("dense_mean"),
            t.get("dense_std"),
        )
