"""Fitting the 20-topic LDA (tomotopy) on training text and exporting it for numpy inference.

One model is fitted on post and TLC text together (the paper fitted one per side with Mallet);
a shared topic space is what makes the post/TLC cosine similarity meaningful. The export is
the topic-word matrix (safetensors) + vocabulary and α (JSON): ``models.forecaster.lda``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from models.forecaster.lda import TopicModel
from models.forecaster.text import content_words

__all__ = ["fit_topics"]

logger = logging.getLogger(__name__)


def fit_topics(
    texts: Sequence[str],
    k: int = 20,
    iterations: int = 200,
    min_cf: int = 5,
    seed: int = 7,
    max_docs: int | None = 60_000,
) -> TopicModel:
    import tomotopy as tp

    rng = np.random.default_rng(seed)
    idx = np.arange(len(texts))
    if max_docs is not None and len(idx) > max_docs:
        idx = rng.choice(idx, max_docs, replace=False)
    mdl = tp.LDAModel(k=k, min_cf=min_cf, rm_top=20, seed=seed)
    n = 0
    for i in idx:
        words = content_words(texts[int(i)])
        if len(words) >= 3:
            mdl.add_doc(words)
            n += 1
    if n < k:
        raise ValueError(f"too few documents ({n}) to fit {k} topics")
    mdl.burn_in = 50
    mdl.train(0, workers=1)
    for _ in range(0, iterations, 50):
        mdl.train(50, workers=1)
    vocab = list(mdl.used_vocabs)
    phi = np.stack([np.asarray(mdl.get_topic_word_dist(t), dtype=np.float64) for t in range(k)])
    phi = phi / phi.sum(axis=1, keepdims=True)
    logger.info("LDA: %d docs, %d words, ll/word %.3f", n, len(vocab), mdl.ll_per_word)
    return TopicModel(phi, vocab, alpha=np.asarray(mdl.alpha, dtype=np.float64))
