"""LDA topic inference in numpy from a fitted topic-word matrix (no pickle, no tomotopy).

The topic-word matrix ``phi`` (K × V, rows sum to 1) and the vocabulary are fitted by
``training`` (tomotopy) and stored in the bundle as safetensors + JSON. A document's topic
distribution is the fixed point of the standard collapsed-posterior update
``θ_k ∝ α_k + Σ_w n_w θ_k φ_kw / Σ_j θ_j φ_jw`` (a few dozen iterations, batched over docs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from models.forecaster.text import content_words

__all__ = ["TopicModel"]


class TopicModel:
    def __init__(self, phi: np.ndarray, vocab: Sequence[str], alpha: np.ndarray | float = 0.1,
                 n_iter: int = 30) -> None:
        self.phi = np.asarray(phi, dtype=np.float64)
        self.k = self.phi.shape[0]
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        a = np.asarray(alpha, dtype=np.float64)
        self.alpha = np.full(self.k, float(a)) if a.ndim == 0 else a
        self.n_iter = n_iter

    def counts(self, texts: Sequence[str]) -> sparse.csr_matrix:
        rows, cols = [], []
        for i, t in enumerate(texts):
            for w in content_words(t):
                j = self.index.get(w)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        data = np.ones(len(rows), dtype=np.float64)
        m = sparse.csr_matrix((data, (rows, cols)), shape=(len(texts), len(self.vocab)))
        m.sum_duplicates()
        return m

    def infer(self, texts: Sequence[str]) -> np.ndarray:
        """Topic distributions (n × K, rows sum to 1); an empty doc gets the prior."""
        x = self.counts(texts).tocoo()
        n = len(texts)
        theta = np.tile(self.alpha / self.alpha.sum(), (n, 1))
        if x.nnz == 0:
            return theta.astype(np.float32)
        r, c, d = x.row, x.col, x.data
        phi_c = self.phi[:, c]  # K × nnz
        for _ in range(self.n_iter):
            denom = np.einsum("nk,kn->n", theta[r], phi_c) + 1e-12
            s = sparse.csr_matrix((d / denom, (r, c)), shape=(n, len(self.vocab)))
            new = self.alpha + theta * (s @ self.phi.T)
            theta = new / new.sum(axis=1, keepdims=True)
        return theta.astype(np.float32)
