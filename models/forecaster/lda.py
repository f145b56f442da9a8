"""LDA topic inference in numpy from a fitted topic-word matrix (no pickle, no tomotopy).

The topic-word matrix ``phi`` (K × V, rows sum to 1) and the vocabulary are fitted by
``training`` (tomotopy) and stored in the bundle as safetensors + JSON. A document's topic
distribution is the fixed point of the standard collapsed-posterior update
``θ_k ∝ α_k + Σ_w n_w θ_k φ_kw / Σ_j θ_j φ_jw`` (a few dozen iterations, batched over docs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.forecaster.text import content_words

__all__ = ["TopicModel"]


class TopicModel:
    def __init__(
        self,
        phi: np.ndarray,
        vocab: Sequence[str],
        alpha: np.ndarray | float = 0.1,
        n_iter: int = 30,
    ) -> None:
        self.phi = np.asarray(phi, dtype=np.float64)
        self.k = self.phi.shape[0]
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        a = np.asarray(alpha, dtype=np.float64)
        self.alpha = np.full(self.k, float(a)) if a.ndim == 0 else a
        self.n_iter = n_iter

    def infer(self, texts: Sequence[str]) -> np.ndarray:
        """Topic distributions (n × K, rows sum to 1); an empty doc gets the prior.

        Per document on its own words only (a K × m slice of ``phi``): cheap for the short
        texts of Reddit, with no sparse-matrix overhead for one-TLC calls.
        """
        prior = self.alpha / self.alpha.sum()
        out = np.tile(prior, (len(texts), 1))
        for i, t in enumerate(texts):
            ids = [j for j in (self.index.get(w) for w in content_words(t)) if j is not None]
            if not ids:
                continue
            w, c = np.unique(np.asarray(ids), return_counts=True)
            phi_w = self.phi[:, w]  # K × m
            theta = prior.copy()
            for _ in range(self.n_iter):
                denom = theta @ phi_w + 1e-12
                new = self.alpha + theta * (phi_w @ (c / denom))
                theta = new / new.sum()
            out[i] = theta
        return out.astype(np.float32)
