"""Forecaster context columns: OP answering, rate of earlier TLCs, the author's history."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.forecaster.context import (
    CONTEXT_FEATURES,
    TlcContext,
    author_key,
    context_features,
)
from models.forecaster.features import FeatureExtractor
from models.forecaster.lda import TopicModel
from models.forecaster.text import TextFeaturizer
from redditdata.tree import Node, Post

T0 = 1_600_000_000


@pytest.fixture()
def fe_pair() -> tuple[FeatureExtractor, FeatureExtractor]:
    vocab = ["essay", "college", "pizza"]
    phi = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]) + 1e-4
    topics = TopicModel(phi / phi.sum(1, keepdims=True), vocab, alpha=0.1)
    return (
        FeatureExtractor(topics, TextFeaturizer(), ["College"]),
        FeatureExtractor(topics, TextFeaturizer(), ["College"], use_context=True),
    )


def _post() -> Post:
    return Post("t3_a", "College", "College essay help", "my essay", "Op_User", 1, T0)


def _tlcs() -> list[Node]:
    return [
        Node("t1_a", "t3_a", "op_user", "thanks all, essay updated", 1, T0 + 3600),
        Node("t1_b", "t3_a", "someone", "college essay tips", 1, T0 + 7200),
        Node("t1_c", "t3_a", "[deleted]", "pizza", 1, T0 + 7300),
    ]


def test_author_key_treats_deleted_and_empty_authors_as_unknown() -> None:
    assert author_key("[deleted]") is None and author_key("") is None and author_key(None) is None
    assert author_key("Ann") == "ann"


def test_context_row_values() -> None:
    post, (a, b, c) = _post(), _tlcs()
    ctx = TlcContext(
        prior_tlcs=4, prior_tlcs_sub=2, prior_tlcs_post=1, n_outcomes=2, sum_outcome=3.0
    )
    ra = dict(zip(CONTEXT_FEATURES, context_features(post, a, 3, ctx)))
    assert ra["is_op"] == 1.0  # case-insensitive match with the post author
    assert ra["tlc_rate_per_hour"] == pytest.approx(3 / 1.25)
    assert ra["author_log_prior_tlcs"] == pytest.approx(math.log1p(4))
    assert ra["author_prior_tlcs_post"] == 1.0 and ra["author_mean_outcome"] == 1.5
    rb = dict(zip(CONTEXT_FEATURES, context_features(post, b, 0, None)))
    assert rb["is_op"] == 0.0 and rb["author_mean_outcome"] == 0.0
    # a deleted author never counts as the OP, even under a deleted post author
    gone = Post("t3_b", "College", "t", "", "[deleted]", 1, T0)
    assert context_features(gone, c, 0, None)[0] == 0.0


def test_missing_context_equals_a_first_time_author(fe_pair) -> None:
    _, fe = fe_pair
    post, tlcs = _post(), _tlcs()
    none = fe.extract(post, tlcs)
    empty = fe.extract(post, tlcs, context=[TlcContext()] * 3)
    partial = fe.extract(post, tlcs, context=[None, TlcContext(), None])
    np.testing.assert_array_equal(none, empty)
    np.testing.assert_array_equal(none, partial)
    rich = fe.extract(post, tlcs, context=[None, TlcContext(9, 9, 1, 3, 6.0), None])
    j = fe.names.index("author_mean_outcome")
    assert rich[1, j] == pytest.approx(2.0) and none[1, j] == 0.0
    np.testing.assert_array_equal(rich[[0, 2]], none[[0, 2]])


def test_context_columns_are_appended_and_base_columns_unchanged(fe_pair) -> None:
    old, new = fe_pair
    assert new.names[: len(old.names)] == old.names
    assert new.names[len(old.names) :] == list(CONTEXT_FEATURES)
    assert old.n_base == len(old.names) and new.n_base == len(old.names)
    post, tlcs = _post(), _tlcs()
    x_old, x_new = old.extract(post, tlcs), new.extract(post, tlcs)
    np.testing.assert_array_equal(x_new[:, : len(old.names)], x_old)
    # 4-tuple and 3-tuple groups mix in one batch
    both = new.extract_many([(post, tlcs[:1], [0]), (post, tlcs[1:], [1, 2], None)])
    np.testing.assert_array_equal(both, new.extract(post, tlcs, n_prior=[0, 1, 2]))
