"""Forecaster features: numpy LDA inference, text features, the feature layout."""

from __future__ import annotations

import numpy as np
import pytest

from models.forecaster.features import FeatureExtractor
from models.forecaster.lda import TopicModel
from models.forecaster.text import TEXT_FEATURES, TextFeaturizer, content_words, jaccard
from redditdata.tree import Node, Post


@pytest.fixture()
def two_topics() -> TopicModel:
    vocab = ["essay", "college", "admission", "pizza", "cheese", "oven"]
    phi = np.array([[0.3, 0.4, 0.3, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.4, 0.3, 0.3]]) + 1e-4
    return TopicModel(phi / phi.sum(1, keepdims=True), vocab, alpha=0.1)


def test_lda_inference_finds_the_topic_of_a_document(two_topics):
    th = two_topics.infer(
        ["My college essay for admission", "pizza with cheese from the oven", "nothing known here"]
    )
    assert th.shape == (3, 2)
    np.testing.assert_allclose(th.sum(1), 1.0, rtol=1e-5)
    assert th[0, 0] > 0.9 and th[1, 1] > 0.9
    np.testing.assert_allclose(th[2], [0.5, 0.5], atol=1e-6)  # unknown words: the prior


def test_text_features_detect_sentiment_misspellings_and_subjectivity():
    tf = TextFeaturizer(subj_strong=["love"], subj_weak=["think"])
    f = dict(zip(TEXT_FEATURES, tf.one("I love this, thank you so much! I think it helps.")))
    g = dict(zip(TEXT_FEATURES, tf.one("thsi is a tset of wrng spelingg")))
    assert f["sent_compound"] > 0.5
    assert f["subj_strong"] > 0 and f["subj_weak"] > 0
    assert f["n_misspelled"] == 0
    assert g["n_misspelled"] >= 3
    assert f["n_words"] == 11


def test_content_words_and_jaccard():
    a = content_words("The essay about my college admission https://x.com/y")
    assert a == ["essay", "college", "admission"]
    assert jaccard(a, ["college", "pizza"]) == pytest.approx(1 / 4)
    assert jaccard([], a) == 0.0


def test_feature_rows_follow_the_named_layout(two_topics):
    fe = FeatureExtractor(two_topics, TextFeaturizer(), ["College", "GradSchool"])
    post = Post(
        "t3_a", "college", "College essay help", "my admission essay", None, 1, 1_600_000_000
    )
    tlcs = [
        Node("t1_a", "t3_a", "u", "Your essay is great for admission", 1, 1_600_000_000 + 600),
        Node("t1_b", "t3_a", "v", "pizza oven", 1, 1_600_000_000 + 7200),
    ]
    x = fe.extract(post, tlcs)
    row = dict(zip(fe.names, x[0]))
    assert x.shape == (2, len(fe.names))
    assert row["minutes_since_post"] == pytest.approx(10.0)
    assert dict(zip(fe.names, x[1]))["minutes_since_post"] == pytest.approx(120.0)
    assert row["sub_college"] == 1.0 and row["sub_gradschool"] == 0.0
    assert row["topic_cosine"] > dict(zip(fe.names, x[1]))["topic_cosine"]
    assert row["content_jaccard"] > 0
    assert "gender" not in " ".join(fe.names)


def test_warm_loads_the_lazy_text_resources_before_the_first_call() -> None:
    from textstat.backend.utils._get_cmudict import get_cmudict

    from models.forecaster import text as text_mod
    from models.forecaster.text import TextFeaturizer

    for cached in (get_cmudict, text_mod._vader, text_mod._english):
        cached.cache_clear()
    TextFeaturizer().warm()
    assert get_cmudict.cache_info().currsize == 1  # textstat's CMU dictionary
    assert text_mod._vader.cache_info().currsize == 1
    assert text_mod._english.cache_info().currsize == 1
