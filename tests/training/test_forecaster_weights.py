"""Per-TLC sample weights: a huge post cannot outweigh what its scheme allows."""

from __future__ import annotations

import numpy as np
import pytest
from training.forecaster.trainer import validation_summary
from training.forecaster.weights import post_sizes, post_weights, weighted_mse

from models.forecaster.evaluation import evaluate


@pytest.fixture()
def groups() -> np.ndarray:
    # one post with 1,000 TLCs and 50 posts with 5 TLCs each
    return np.concatenate([np.zeros(1000, dtype=int), np.repeat(np.arange(1, 51), 5)])


def _post_total_in_tlc_units(w: np.ndarray, groups: np.ndarray) -> float:
    """The big post's total weight, in units of one TLC of a small (uncapped) post."""
    return float(w[groups == 0].sum() / w[groups == 1][0])


def test_cap_bounds_a_big_posts_total_weight(groups):
    w = post_weights(groups, "cap25")
    assert w.mean() == pytest.approx(1.0)
    assert _post_total_in_tlc_units(w, groups) <= 25 + 1e-9
    # without weighting the big post weighs its 1,000 TLCs
    assert _post_total_in_tlc_units(post_weights(groups, "none"), groups) == pytest.approx(1000)


def test_sqrt_makes_a_posts_total_grow_as_the_root_of_its_size(groups):
    w = post_weights(groups, "sqrt")
    big, small = w[groups == 0].sum(), w[groups == 1].sum()
    assert big / small == pytest.approx(np.sqrt(1000 / 5))
    assert w.mean() == pytest.approx(1.0)


def test_sizes_and_unknown_schemes(groups):
    n = post_sizes(groups)
    assert n[0] == 1000 and n[-1] == 5
    with pytest.raises(ValueError):
        post_weights(groups, "log")
    with pytest.raises(ValueError):
        post_weights(groups, "cap0")


def test_balanced_validation_is_not_decided_by_one_post(groups):
    """A forecast perfect on the big post and useless on every small one looks good
    unweighted, bad on the balanced objective."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=len(groups))
    pred = np.where(groups == 0, y, -y)
    times = np.arange(len(groups), dtype=float) * 3600
    w = post_weights(groups, "sqrt")
    assert weighted_mse(y, pred, np.ones(len(y))) < weighted_mse(y, pred, w)
    v = validation_summary(y, pred, groups, times, w)
    assert v["r2"] > v["r2_balanced"]
    r = evaluate(y, pred, groups, times)
    assert r["pairwise_acc"] > 0.9  # all-pairs: dominated by the big post
    assert r["pairwise_acc_post_macro"] == pytest.approx(1 / 51)  # each post counts once
