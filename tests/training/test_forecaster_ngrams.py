"""The forecaster's n-gram ridges over a corpus tokenised once, and the TLC cap, on a real slice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from training.forecaster.dataset import Examples, build_examples, structural_target
from training.forecaster.fit import (
    NgramCorpus,
    fit_ngram_ridge,
    oof_text_scores,
    predict_ridge,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def examples(data_dir: Path) -> Examples:
    return build_examples(data_dir / "reddit-college", structural_target, max_threads=40)


def test_ridges_on_corpus_rows_equal_ridges_on_the_texts(examples: Examples) -> None:
    bodies = [t.body for t in examples.tlcs]
    y, _, _, _, groups = examples.arrays()
    dense = np.stack([np.log1p([len(b) for b in bodies]), y * 0 + 1], axis=1)
    n = len(bodies)
    assert n > 300
    tr, va, te = np.arange(0, n // 2), np.arange(n // 2, 3 * n // 4), np.arange(3 * n // 4, n)
    corpus = NgramCorpus(bodies)

    def texts(idx: np.ndarray) -> list[str]:
        return [bodies[i] for i in idx]

    for max_features in (50_000, 200):  # 200: the frequency limit decides the vocabulary
        a, ia = fit_ngram_ridge(
            texts(tr),
            y[tr],
            dense[tr],
            val=(texts(va), y[va], dense[va]),
            max_features=max_features,
        )
        b, ib = fit_ngram_ridge(
            corpus.rows(tr),
            y[tr],
            dense[tr],
            val=(corpus.rows(va), y[va], dense[va]),
            max_features=max_features,
        )
        assert a.vocab == b.vocab and len(a.vocab) <= max_features
        assert np.array_equal(a.idf, b.idf) and np.array_equal(a.coef_text, b.coef_text)
        assert ia == ib
        # test rows hold n-grams the training rows never saw: counted as the texts would be
        assert np.array_equal(
            a.predict(texts(te), dense[te]), predict_ridge(b, corpus.rows(te), dense[te])
        )
    g = groups[tr]
    assert np.array_equal(
        oof_text_scores(texts(tr), y[tr], g, alpha=10.0),
        oof_text_scores(corpus.rows(tr), y[tr], g, alpha=10.0),
    )
    rows = corpus.rows(te)
    assert len(rows) == len(te) and rows[0] == bodies[te[0]] and rows[:2] == texts(te[:2])


def test_max_tlcs_stops_after_the_thread_that_reaches_it(
    examples: Examples, data_dir: Path
) -> None:
    cap = len(examples) // 2
    capped = build_examples(
        data_dir / "reddit-college", structural_target, max_threads=40, max_tlcs=cap
    )
    n = len(capped)
    assert n >= cap and [t.name for t in capped.tlcs] == [t.name for t in examples.tlcs[:n]]
    last = capped.post_of[-1]
    assert n - capped.post_of.count(last) < cap  # without its last thread it was short
    assert len(capped.posts) < len(examples.posts)
